r"""Flat block-fading channels for complex-baseband links: one matrix per frame.

A channel component draws ``H`` complex [F, N, K] for ``F`` frames (``N`` receive antennas,
``K`` users); the link adds noise :math:`\mathcal{CN}(0, N_0 I)`. ``frame_len`` is the number
of channel uses that share one draw (the coherence block).
"""

from __future__ import annotations

import numpy as np

from hwsim import _checks
from hwsim.components import register
from hwsim.hooks import ChannelHooks

#: Most receive antennas a link may have (a guard against configs that exhaust memory).
MAX_ANTENNAS = 4096
#: Most channel uses per frame.
MAX_FRAME_LEN = 1_000_000


class BlockChannel(ChannelHooks):
    """Base of the flat block-fading channels: ``antennas`` (N) and ``frame_len`` (L).

    ``real``: the link carries real signals (Shlezinger and Eldar's model); ``random``: frames draw their
    own channel (or channel estimate), so a frame's samples are not independent trials.

    Parameters
    ----------
    antennas : int
        N, the receive antennas (1 to :data:`MAX_ANTENNAS`).
    frame_len : int
        L, the channel uses that share one draw of the channel (1 to :data:`MAX_FRAME_LEN`).
    """

    def __init__(self, *, antennas: int = 64, frame_len: int = 100):
        self.antennas = _checks.integer("channel.antennas", antennas, minimum=1, maximum=MAX_ANTENNAS)
        self.frame_len = _checks.integer("channel.frame_len", frame_len, minimum=1, maximum=MAX_FRAME_LEN)


@register("channel", "rayleigh")
class IIDRayleigh(BlockChannel):
    r"""I.i.d. :math:`\mathcal{CN}(0, 1)` entries, redrawn every frame."""

    @classmethod
    def describe(cls, params: dict) -> str:
        return f"N_r={params['antennas']}, i.i.d. Rayleigh"

    def draw(self, n_frames: int, users: int, rng: np.random.Generator) -> np.ndarray:
        shape = (n_frames, self.antennas, users)
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * np.sqrt(0.5)


@register("channel", "awgn")
class AWGN(BlockChannel):
    """No fading: ``H`` is the first ``users`` columns of the identity (needs antennas >= users).

    Parameters: those of :class:`BlockChannel`, with one antenna by default.
    """

    random = False

    @classmethod
    def describe(cls, params: dict) -> str:
        return f"N_r={params['antennas']}, AWGN"

    def __init__(self, *, antennas: int = 1, frame_len: int = 100):
        super().__init__(antennas=antennas, frame_len=frame_len)

    def check_users(self, *, users: int) -> None:
        """Refuse, before a sweep runs, more users than antennas (each user has its own antenna)."""
        if users > self.antennas:
            raise ValueError(f"the awgn channel needs channel.antennas >= source.users, got {self.antennas} < {users}")

    def draw(self, n_frames: int, users: int, rng: np.random.Generator) -> np.ndarray:
        self.check_users(users=users)
        H = np.eye(self.antennas, users, dtype=np.complex128)
        return np.broadcast_to(H, (n_frames, self.antennas, users)).copy()


@register("channel", "exponential")
class Exponential(BlockChannel):
    r"""Shlezinger and Eldar's fixed real channel :math:`H_{ij} = e^{-|i-j|}` (``antennas`` x users), BPSK only.

    The link is real: :math:`y = H s + w`, :math:`w \sim \mathcal N(0, N_0 I)`, SNR :math:`= 1/N_0`
    (the paper's eq. (8)). ``csi_error`` > 0: the receiver knows a copy of ``H`` whose entries
    carry independent Gaussian errors of variance ``csi_error`` :math:`|H_{ij}|` (the paper's
    CSI uncertainty uses 0.2), redrawn every frame after the noise.

    Parameters
    ----------
    antennas : int
        Receive antennas (rows of ``H``).
    frame_len : int
        Channel uses per frame (the receiver's CSI error is redrawn per frame).
    csi_error : float
        Variance of the receiver's CSI error relative to :math:`|H_{ij}|` (>= 0; 0: perfect CSI).
    """

    real = True

    @classmethod
    def describe(cls, params: dict) -> str:
        csi = f", CSI error {params['csi_error']:g}" if params["csi_error"] else ""
        return f"n_t={params['antennas']}, H_ij=exp(-|i-j|){csi}"

    def __init__(self, *, antennas: int = 12, frame_len: int = 100, csi_error: float = 0.0):
        super().__init__(antennas=antennas, frame_len=frame_len)
        _checks.real("channel.csi_error", csi_error, nonnegative=True)

    @property
    def random(self) -> bool:
        return self.params["csi_error"] > 0

    def check_link(self, link) -> None:
        """Refuse a complex constellation: this channel's link is real."""
        if link.source.constellation.bits_per_symbol != 1:
            raise ValueError("channel.type = 'exponential' is the Shlezinger-Eldar real link and carries BPSK only "
                             f"(source.constellation = \"bpsk\"), got {link.source.constellation.name!r}")

    def matrix(self, users: int) -> np.ndarray:
        """:math:`H_{ij} = e^{-|i-j|}`, float [antennas, users]."""
        from .mimo import exponential_channel

        return exponential_channel(self.antennas, users)

    def draw(self, n_frames: int, users: int, rng: np.random.Generator) -> np.ndarray:
        return np.broadcast_to(self.matrix(users), (n_frames, self.antennas, users))

    def receiver_csi(self, H: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if not self.random:
            return H
        from .mimo import perturb_channel

        return perturb_channel(H, rng, H.shape[0], self.params["csi_error"])
