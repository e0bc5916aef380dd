r"""Sparse sources observed through noisy compressive measurements (quantized compressed sensing).

The model of Leinonen and Codreanu, "Low-complexity vector quantized compressed sensing via deep
neural networks" (DeepQCS), Sec. II-A and Sec. V-A:

.. math::

    y = \Phi x + n, \qquad x \in \mathbb R^N,\ y \in \mathbb R^M,\ n \sim \mathcal N(0, \sigma_n^2 I_M),

where :math:`x` has exactly :math:`S` non-zero entries, its support drawn uniformly among the
:math:`\binom NS` patterns and its non-zero entries i.i.d. :math:`\mathcal N(0, 1)` (so
:math:`E\|x\|^2 = S` exactly), and :math:`\Phi` is the first :math:`M` rows of the
:math:`N \times N` orthonormal DCT-II matrix :math:`C`,
:math:`C_{kj} = c_k \cos\big(\pi (j + \tfrac12) k / N\big)`, :math:`c_0 = \sqrt{1/N}`,
:math:`c_{k>0} = \sqrt{2/N}`. The paper then normalises the columns of :math:`\Phi` to unit
norm (``normalize = "columns"``, the default); ``normalize = "none"`` keeps the DCT rows as they
are (orthonormal rows, :math:`\Phi \Phi^T = I_M`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from hwsim import _checks
from hwsim.components import register
from hwsim.hooks import SourceHooks

#: Longest sparse source vector ``source.n``: the measurement matrix is cut from the n x n DCT (8 MiB of
#: float64 at the limit; 4096 took 0.5 GB to load a config) and every draw holds batch x n values several
#: times over. A guard against configs that exhaust memory: raise it in code if you really mean it.
MAX_LENGTH = 1024
#: Column normalisations of the measurement matrix.
NORMALIZATIONS = ("columns", "none")


def dct_matrix(n: int) -> np.ndarray:
    r"""The orthonormal :math:`n \times n` DCT-II matrix :math:`C` (``C @ v`` is ``scipy.fft.dct(v, norm="ortho")``).

    Its rows are the DCT basis vectors: :math:`C C^T = C^T C = I_n`.
    """
    from scipy.fft import dct

    n = _length("n", n)
    return dct(np.eye(n), type=2, norm="ortho", axis=0)


def _length(key: str, n) -> int:
    """``n`` as a source length in [1, :data:`MAX_LENGTH`], checked before anything of that size exists."""
    n = _checks.integer(key, n, minimum=1)
    if n > MAX_LENGTH:
        raise ValueError(f"{key} = {n} is more than the limit of {MAX_LENGTH} (hwsim.channels.sparse.MAX_LENGTH: "
                         "the measurement matrix is cut from the n x n DCT; a guard against configs that exhaust "
                         "memory, raise it in code if you really mean it)")
    return n


def measurement_matrix(n: int, m: int, normalize: str = "columns") -> np.ndarray:
    r""":math:`\Phi`, float64 [m, n]: the first ``m`` rows of :func:`dct_matrix` (``n``), with unit-norm
    columns when ``normalize = "columns"`` (the DeepQCS paper, Sec. V-A) or as they are (``"none"``)."""
    n = _length("source.n", n)
    m = _checks.integer("source.m", m, minimum=1)
    if m > n:
        raise ValueError(f"source.m (measurements M) must be <= source.n (source length N) = {n}, got {m}")
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"source.normalize must be one of {', '.join(NORMALIZATIONS)}, got {normalize!r}")
    phi = dct_matrix(n)[:m]
    if normalize == "columns":
        phi = phi / np.linalg.norm(phi, axis=0, keepdims=True)  # DCT-II columns never vanish (row 0 is constant)
    return phi


@register("source", "sparse")
class SparseSource(SourceHooks):
    r"""S-sparse vectors :math:`x` of length ``n`` and their measurements :math:`y = \Phi x + n` (module text).

    An estimation link: the unknown is :math:`x`, the observation :math:`y`; :attr:`mean_energy`
    :math:`= E\|x\|^2 = S` is exact (it normalises the ``nmse`` metric).

    Parameters
    ----------
    n : int
        N, the source length (1 to :data:`MAX_LENGTH`).
    m : int
        M <= N, the measurements.
    s : int
        S, the non-zero entries, 1 <= S <= N.
    noise_var : float
        :math:`\sigma_n^2` (>= 0), default :math:`10^{-4}` as in the paper.
    normalize : {"columns", "none"}
        Unit-norm columns of :math:`\Phi` or the DCT rows as they are (:func:`measurement_matrix`).
    """

    task = "estimation"
    sparse = True

    @classmethod
    def describe(cls, params: dict) -> str:
        return f"N={params['n']}, M={params['m']}, S={params['s']}"

    def __init__(self, *, n: int = 20, m: int = 10, s: int = 2, noise_var: float = 1e-4,
                 normalize: Literal["columns", "none"] = "columns"):
        self.N = _length("source.n", n)
        self.M = _checks.integer("source.m", m, minimum=1)
        self.S = _checks.integer("source.s", s, minimum=1)
        if self.M > self.N:
            raise ValueError(f"source.m (measurements M) must be <= source.n (source length N) = {self.N}, "
                             f"got {self.M}")
        if self.S > self.N:
            raise ValueError(f"source.s (non-zero entries S) must be <= source.n (source length N) = {self.N}, "
                             f"got {self.S}")
        self.noise_var = _checks.real("source.noise_var", noise_var, nonnegative=True)
        self.phi = measurement_matrix(self.N, self.M, normalize)
        self.phi.setflags(write=False)

    @property
    def mean_energy(self) -> float:
        r""":math:`E\|x\|^2 = S` (unit-variance non-zero entries)."""
        return float(self.S)

    def draw(self, batch: int, rng: np.random.Generator) -> np.ndarray:
        """``batch`` S-sparse vectors, float64 [batch, N]: uniform supports, then N(0, 1) amplitudes."""
        batch = _checks.integer("batch", batch, minimum=0)
        support = np.argsort(rng.random((batch, self.N)), axis=1)[:, :self.S]  # uniform S-subset
        x = np.zeros((batch, self.N))
        np.put_along_axis(x, support, rng.standard_normal((batch, self.S)), axis=1)
        return x

    def measure(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        r""":math:`y = \Phi x + n`, float64 [batch, M], for ``x`` [batch, N]."""
        y = x @ self.phi.T
        if self.noise_var > 0:
            y += np.sqrt(self.noise_var) * rng.standard_normal(y.shape)
        return y

    def sample(self, batch: int, rng: np.random.Generator):
        """(unknowns x [batch, N], observations y [batch, M]); draw order: supports, amplitudes, noise."""
        x = self.draw(batch, rng)
        return x, self.measure(x, rng)
