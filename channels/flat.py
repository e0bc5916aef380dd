r"""Flat block-fading channels for complex-baseband links: one matrix per frame.

A channel component draws ``H`` complex [F, N, K] for ``F`` frames (``N`` receive antennas,
``K`` users); the link adds noise :math:`\mathcal{CN}(0, N_0 I)`. ``frame_len`` is the number
of channel uses that share one draw (the coherence block).
"""

from __future__ import annotations

import numpy as np

from hwsim import _checks
from hwsim.components import Component, register

#: Most receive antennas a link may have (a guard against configs that exhaust memory).
MAX_ANTENNAS = 4096
#: Most channel uses per frame.
MAX_FRAME_LEN = 1_000_000


class BlockChannel(Component):
    """Base of the flat block-fading channels: ``antennas`` (N) and ``frame_len`` (L)."""

    PARAMS = {"antennas": 64, "frame_len": 100}

    def __init__(self, **params):
        super().__init__(**params)
        self.antennas = _checks.integer("channel.antennas", self.params["antennas"], minimum=1, maximum=MAX_ANTENNAS)
        self.frame_len = _checks.integer("channel.frame_len", self.params["frame_len"], minimum=1,
                                         maximum=MAX_FRAME_LEN)

    def draw(self, n_frames: int, users: int, rng: np.random.Generator) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


@register("channel", "rayleigh")
class IIDRayleigh(BlockChannel):
    r"""I.i.d. :math:`\mathcal{CN}(0, 1)` entries, redrawn every frame."""

    def draw(self, n_frames: int, users: int, rng: np.random.Generator) -> np.ndarray:
        shape = (n_frames, self.antennas, users)
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * np.sqrt(0.5)


@register("channel", "awgn")
class AWGN(BlockChannel):
    """No fading: ``H`` is the first ``users`` columns of the identity (needs antennas >= users)."""

    PARAMS = {"antennas": 1, "frame_len": 100}

    def check(self, *, users: int) -> None:
        """Refuse, before a sweep runs, more users than antennas (each user has its own antenna)."""
        if users > self.antennas:
            raise ValueError(f"the awgn channel needs channel.antennas >= source.users, got {self.antennas} < {users}")

    def draw(self, n_frames: int, users: int, rng: np.random.Generator) -> np.ndarray:
        self.check(users=users)
        H = np.eye(self.antennas, users, dtype=np.complex128)
        return np.broadcast_to(H, (n_frames, self.antennas, users)).copy()
