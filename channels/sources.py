"""Sources of a link: what the users transmit."""

from __future__ import annotations

import numpy as np

from hwsim import _checks
from hwsim.components import Component, register

from .qam import QAM_NAMES, get_qam

#: Most users a link may have (a guard against configs that exhaust memory).
MAX_USERS = 1024


@register("source", "users")
class Users(Component):
    """``users`` single-antenna users sending i.i.d. uniform Gray-labelled symbols, :math:`E|s|^2 = 1`.

    Parameters: ``users`` (K), ``constellation`` (one of :data:`hwsim.channels.qam.QAM_NAMES`).
    """

    PARAMS = {"users": 8, "constellation": "qpsk"}

    def __init__(self, **params):
        super().__init__(**params)
        self.users = _checks.integer("source.users", self.params["users"], minimum=1, maximum=MAX_USERS)
        if self.params["constellation"] not in QAM_NAMES:
            raise ValueError(f"source.constellation must be one of {', '.join(QAM_NAMES)}, "
                             f"got {self.params['constellation']!r}")
        self.constellation = get_qam(self.params["constellation"])

    @property
    def bits_per_sample(self) -> int:
        """Information bits per channel use (all users)."""
        return self.users * self.constellation.bits_per_symbol

    def draw(self, n_frames: int, frame_len: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Symbol indices int64 [F, L, K] and the symbols, complex [F, L, K]."""
        idx = self.constellation.draw((n_frames, frame_len, self.users), rng)
        return idx, self.constellation.symbols(idx)
