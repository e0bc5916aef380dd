"""Sources of a link: what the users transmit."""

from __future__ import annotations

from typing import Literal

import numpy as np

from hwsim import _checks
from hwsim.components import register
from hwsim.hooks import SourceHooks

from .constellations import get_qam

#: Most users a link may have (a guard against configs that exhaust memory).
MAX_USERS = 1024
#: How a figure's title names each constellation, with its bits per symbol.
CONSTELLATION_LABELS = {"bpsk": ("BPSK", 1), "qpsk": ("QPSK", 2), "qam16": ("16-QAM", 4), "qam64": ("64-QAM", 6),
                        "qam256": ("256-QAM", 8)}


def constellation_label(name) -> str:
    """``"qam16"`` -> ``"16-QAM"`` (a name this table does not know is shown as it is)."""
    return CONSTELLATION_LABELS.get(name, (str(name), None))[0]


@register("source", "users")
class Users(SourceHooks):
    """``users`` single-antenna users sending i.i.d. uniform Gray-labelled symbols, :math:`E|s|^2 = 1`.

    Parameters
    ----------
    users : int
        K, the number of users (1 to :data:`MAX_USERS`).
    constellation : {"bpsk", "qpsk", "qam16", "qam64", "qam256"}
        Gray-labelled BPSK or square QAM (:data:`hwsim.channels.constellations.QAM_NAMES`).
    """

    def __init__(self, *, users: int = 8,
                 constellation: Literal["bpsk", "qpsk", "qam16", "qam64", "qam256"] = "qpsk"):
        self.users = _checks.integer("source.users", users, minimum=1, maximum=MAX_USERS)
        self.constellation = get_qam(constellation)

    @classmethod
    def describe(cls, params: dict) -> str:
        return f"K={params['users']}, {constellation_label(params['constellation'])}"

    @classmethod
    def information_bits(cls, params: dict) -> float | None:
        return CONSTELLATION_LABELS.get(params["constellation"], (None, None))[1]

    @property
    def bits_per_sample(self) -> int:
        """Information bits per channel use (all users)."""
        return self.users * self.constellation.bits_per_symbol

    def draw(self, n_frames: int, frame_len: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Symbol indices int64 [F, L, K] and the symbols, complex [F, L, K]."""
        idx = self.constellation.draw((n_frames, frame_len, self.users), rng)
        return idx, self.constellation.symbols(idx)


#: Most dimensions of a ``gaussian`` source vector.
MAX_GAUSSIAN_DIM = 64


@register("source", "gaussian")
class GaussianVectors(SourceHooks):
    r"""Vectors of ``dim`` samples of a unit-variance Gauss-Markov process (``rho = 0``: i.i.d.
    :math:`\mathcal N(0, 1)`): :math:`x_1 \sim \mathcal N(0, 1)`, :math:`x_{i+1} = \rho x_i +
    \sqrt{1 - \rho^2}\, w_i`, i.e. covariance :math:`\rho^{|i-j|}`, each vector drawn independently.

    The source of a quantization study (``vq_gaussian.toml``): an estimation link whose unknown is
    the vector itself (``sample`` returns it twice), whose receiver is a vector quantizer
    (:mod:`hwsim.receivers.vq`) and whose metric is the MSE per dimension (SNR = -10 log10 MSE).

    Parameters
    ----------
    dim : int
        Samples per vector (1 to :data:`MAX_GAUSSIAN_DIM`).
    rho : float
        Correlation of neighbouring samples, :math:`-1 < \rho < 1` (0: i.i.d.).
    """

    task = "estimation"
    gaussian = True

    @classmethod
    def describe(cls, params: dict) -> str:
        return f"{params['dim']}-D Gaussian source" + (f", rho={params['rho']:g}" if params["rho"] else ", i.i.d.")

    def __init__(self, *, dim: int = 2, rho: float = 0.0):
        _checks.integer("source.dim", dim, minimum=1, maximum=MAX_GAUSSIAN_DIM)
        rho = _checks.real("source.rho", rho)
        if not -1.0 < rho < 1.0:
            raise ValueError(f"source.rho must lie in (-1, 1), got {rho}")

    @property
    def n(self) -> int:
        return self.params["dim"]

    k = n

    def covariance(self) -> np.ndarray:
        """:math:`\\rho^{|i-j|}`, [dim, dim]."""
        i = np.arange(self.n)
        return self.params["rho"] ** np.abs(i[:, None] - i[None, :])

    def draw(self, batch: int, rng: np.random.Generator) -> np.ndarray:
        """``batch`` vectors, float64 [batch, dim]."""
        rho, n = self.params["rho"], self.n
        w = rng.standard_normal((int(batch), n))
        if rho == 0.0:
            return w
        x = np.empty_like(w)
        x[:, 0] = w[:, 0]
        scale = np.sqrt(1.0 - rho**2)
        for i in range(1, n):
            x[:, i] = rho * x[:, i - 1] + scale * w[:, i]
        return x

    def sample(self, batch: int, rng: np.random.Generator):
        """(unknowns, observations): the same vectors, [batch, dim]."""
        x = self.draw(batch, rng)
        return x, x
