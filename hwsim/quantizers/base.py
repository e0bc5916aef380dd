r"""What every vector quantizer is: :class:`VectorQuantizer`, and the plain codebook quantizer :class:`Codebook`.

A vector quantizer maps a batch of :math:`n`-dimensional vectors ``x`` [B, n] to indices and
reconstructions, ``quantize(x) -> (indices, x_hat)``. Its rate is in bits per dimension,
:math:`\log_2(\text{codewords}) / n` for a codebook of that many codewords. ``export()`` gives a
JSON-ready description (a codebook, or a lattice generator with its shaping) for the decision-table
file family (:mod:`hwsim.quantizers.files`).

Sizes are bounded before anything is allocated: at most :data:`MAX_CODEWORDS` codewords, at most
:data:`MAX_DIM` dimensions, and a nearest-codeword search works in chunks of at most
:data:`CHUNK_VALUES` distances.
"""

from __future__ import annotations

import math

import numpy as np

#: Most codewords a codebook (or an enumerated bounded lattice codebook) may hold.
MAX_CODEWORDS = 2**20
#: Most dimensions of a vector quantizer.
MAX_DIM = 64
#: Most distances (batch rows x codewords) one step of a nearest-codeword search holds.
CHUNK_VALUES = 2**23


def check_batch(x, dim: int | None = None, name: str = "x") -> np.ndarray:
    """``x`` as float64 [B, n] (a single vector [n] becomes [1, n]); a clear error for a wrong shape,
    a wrong dimension (when ``dim`` is given) or a value that is not finite."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise ValueError(f"{name} must be a batch of vectors [B, n], got shape {a.shape}")
    if dim is not None and a.shape[1] != dim:
        raise ValueError(f"{name} has vectors of dimension {a.shape[1]}, this quantizer takes dimension {dim}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} holds values that are not finite (NaN or inf)")
    return a


def codewords_for(rate: float, dim: int) -> int:
    """Codewords of a quantizer of ``rate`` bits per dimension in ``dim`` dimensions, :math:`2^{nR}`
    (rounded to the nearest integer), refused beyond :data:`MAX_CODEWORDS` before anything is allocated."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"rate must be a positive number of bits per dimension, got {rate!r}")
    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= MAX_DIM:
        raise ValueError(f"dim must be a whole number in [1, {MAX_DIM}], got {dim!r}")
    bits = rate * dim
    if bits > math.log2(MAX_CODEWORDS):
        raise ValueError(f"rate {rate} bits per dimension in {dim} dimensions means 2^{bits:g} codewords, more than "
                         f"the limit of {MAX_CODEWORDS} (hwsim.quantizers.base.MAX_CODEWORDS)")
    return max(1, int(round(2.0 ** bits)))


def nearest_codeword(x: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """Index (int64 [B]) of the nearest codeword (squared Euclidean distance; the lowest index on a tie)
    of each row of ``x`` [B, n] in ``codebook`` [M, n], in chunks of bounded memory."""
    m = codebook.shape[0]
    norms = np.einsum("ij,ij->i", codebook, codebook)
    step = max(1, CHUNK_VALUES // max(m, 1))
    out = np.empty(x.shape[0], dtype=np.int64)
    for i in range(0, x.shape[0], step):
        block = x[i:i + step]
        d = norms[None, :] - 2.0 * block @ codebook.T     # |x|^2 does not change the argmin
        out[i:i + step] = np.argmin(d, axis=1)
    return out


class VectorQuantizer:
    """Base of the vector quantizers: ``dim``, ``rate`` (bits per dimension), ``quantize`` and ``export``.

    Subclasses implement :meth:`quantize`; :meth:`mse` and :meth:`snr_db` follow from it.
    """

    dim: int = 0

    @property
    def rate(self) -> float:
        """Bits per dimension."""
        raise NotImplementedError

    def quantize(self, x) -> tuple[np.ndarray, np.ndarray]:
        """(indices int64 [B] (or [B, stages] for multi-stage quantizers), reconstructions float64 [B, n])."""
        raise NotImplementedError

    def export(self) -> dict:
        """A JSON-ready description (see :mod:`hwsim.quantizers.files`)."""
        raise NotImplementedError

    def mse(self, x) -> float:
        """Mean squared error per dimension of quantizing ``x`` [B, n]."""
        x = check_batch(x, self.dim)
        _, x_hat = self.quantize(x)
        return float(np.mean((x - x_hat) ** 2))

    def snr_db(self, x) -> float:
        """:math:`10\\log_{10}(\\sigma^2 / \\mathrm{MSE})` with :math:`\\sigma^2` the mean power per dimension of ``x``."""
        x = check_batch(x, self.dim)
        return float(10 * np.log10(np.mean(x**2) / self.mse(x)))


class FiniteQuantizer(VectorQuantizer):
    r"""A quantizer with an explicit list of codewords ``codewords`` [M, dim]: its ``size`` is M and its rate
    :math:`\log_2(M) / n` bits per dimension (:class:`Codebook`, the bounded lattices)."""

    codewords: np.ndarray

    @property
    def size(self) -> int:
        return self.codewords.shape[0]

    @property
    def rate(self) -> float:
        r""":math:`\log_2(M) / n` bits per dimension."""
        return math.log2(self.size) / self.dim


class Codebook(FiniteQuantizer):
    """A fixed codebook [M, n]: the nearest codeword (squared error) of each vector.

    Raises ValueError for a codebook that is not [M, n], holds a value that is not finite, repeats
    a codeword, or has more than :data:`MAX_CODEWORDS` codewords.
    """

    def __init__(self, codewords):
        c = np.asarray(codewords, dtype=np.float64)
        if c.ndim != 2 or c.shape[0] < 1 or not 1 <= c.shape[1] <= MAX_DIM:
            raise ValueError(f"a codebook must be [M, n] with M >= 1 codewords and 1 <= n <= {MAX_DIM}, "
                             f"got shape {c.shape}")
        if c.shape[0] > MAX_CODEWORDS:
            raise ValueError(f"a codebook may hold at most {MAX_CODEWORDS} codewords, got {c.shape[0]}")
        if not np.all(np.isfinite(c)):
            raise ValueError("the codebook holds values that are not finite (NaN or inf)")
        if len(np.unique(c, axis=0)) != len(c):
            raise ValueError("the codebook repeats a codeword (every codeword must be distinct)")
        self.codewords = c
        self.dim = c.shape[1]

    def quantize(self, x) -> tuple[np.ndarray, np.ndarray]:
        x = check_batch(x, self.dim)
        idx = nearest_codeword(x, self.codewords)
        return idx, self.codewords[idx]

    def export(self) -> dict:
        return {"kind": "codebook", "dim": self.dim, "codewords": self.codewords.tolist()}

    def __repr__(self) -> str:
        return f"Codebook({self.size} codewords, dim={self.dim}, rate={self.rate:.3g} bits/dim)"
