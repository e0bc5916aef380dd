r"""Real-valued symbol alphabets.

Complex constellations are handled through the usual real decomposition: a vector of
``n_u`` complex symbols :math:`s` becomes the real vector :math:`[\mathrm{Re}\, s; \mathrm{Im}\, s]`
of ``k = 2 n_u`` entries, each drawn from a real PAM alphabet (QPSK: :math:`\pm 1/\sqrt2`).
Each real entry carries ``bits_per_dim`` Gray-mapped bits.
"""

from __future__ import annotations

import itertools

import numpy as np

from hwsim import _checks

#: Exhaustive MAP/QMAP enumerate every symbol vector; this bounds their number.
MAX_HYPOTHESES = 4096


class Constellation:
    """A real PAM alphabet used per real dimension.

    Parameters
    ----------
    name : str
        Label, e.g. ``"bpsk"``.
    points : array_like, shape [A]
        The real alphabet, sorted; ``A`` a power of two (Gray labels).
    complex_symbols : bool
        True when two real dimensions form one complex symbol (QPSK, QAM).
    """

    def __init__(self, name: str, points, *, complex_symbols: bool):
        pts = _checks.finite_array("points", points, ndim=1)
        a = pts.size
        if a < 2 or a & (a - 1):
            raise ValueError(f"points must hold a power of two >= 2 of values, got {a}")
        if np.any(np.diff(pts) <= 0):
            raise ValueError("points must be strictly increasing")
        self.name = name
        self.points = pts
        self.complex_symbols = complex_symbols
        self.bits_per_dim = a.bit_length() - 1
        idx = np.arange(a)
        self.gray = idx ^ (idx >> 1)

    @property
    def size(self) -> int:
        """Alphabet size A per real dimension."""
        return self.points.size

    def real_dims(self, n_users: int) -> int:
        """Real dimensions ``k`` for ``n_users`` users (2 per user for complex symbols)."""
        n_users = _checks.integer("n_users", n_users, minimum=1)
        return 2 * n_users if self.complex_symbols else n_users

    def n_hypotheses(self, k: int) -> int:
        return self.size ** k

    def hypotheses(self, k: int) -> np.ndarray:
        """Every symbol vector, shape [A**k, k]; row ``q`` has digits of ``q`` in base A (first dim most significant).

        Raises ``ValueError`` when A**k exceeds :data:`MAX_HYPOTHESES` (exhaustive search limit).
        """
        return self.points[self.hypothesis_indices(k)]

    def hypothesis_indices(self, k: int) -> np.ndarray:
        """Per-dimension alphabet indices of every hypothesis, shape [A**k, k]."""
        k = _checks.integer("k", k, minimum=1)
        if self.size ** k > MAX_HYPOTHESES:
            raise ValueError(f"exhaustive detection over {self.size}**{k} = {self.size ** k} symbol vectors "
                             f"exceeds the limit of {MAX_HYPOTHESES} (e.g. at most 12 BPSK users or 6 QPSK users)")
        return np.array(list(itertools.product(range(self.size), repeat=k)), dtype=np.int64).reshape(-1, k)

    def draw(self, shape, rng: np.random.Generator) -> np.ndarray:
        """Uniform per-dimension alphabet indices of the given shape (int64)."""
        _checks.generator("rng", rng)
        return rng.integers(0, self.size, size=shape)

    def labels(self, indices) -> np.ndarray:
        """Hypothesis index of per-dimension indices [..., k] (base A, first dimension most significant)."""
        indices = np.asarray(indices)
        return indices @ (self.size ** np.arange(indices.shape[-1] - 1, -1, -1))

    def bit_error_table(self, k: int) -> np.ndarray:
        """``table[q, r]`` = bits that differ between hypotheses q and r, int32 [A**k, A**k]."""
        idx = self.hypothesis_indices(k)
        words = (self.gray[idx] << (self.bits_per_dim * np.arange(k - 1, -1, -1))).sum(axis=1)
        return np.bitwise_count(words[:, None] ^ words[None, :]).astype(np.int32)

    def bit_errors(self, idx_true, idx_hat) -> int:
        """Number of differing Gray-mapped bits between two index arrays of equal shape."""
        return int(self.sample_bit_errors(idx_true, idx_hat).sum())

    def sample_bit_errors(self, idx_true, idx_hat) -> np.ndarray:
        """Differing Gray-mapped bits per symbol vector: index arrays [..., k] in, counts [...] out.

        The bits of one symbol vector are decided together, so they are the unit of a
        Monte Carlo interval (:class:`hwsim.tally.Tally`), not the single bit.
        """
        a, b = np.asarray(idx_true), np.asarray(idx_hat)
        if a.shape != b.shape:
            raise ValueError(f"idx_hat must have the shape of idx_true {a.shape}, got {b.shape}")
        return np.bitwise_count(self.gray[a] ^ self.gray[b]).sum(axis=-1, dtype=np.int64)

    def __repr__(self) -> str:
        return f"Constellation({self.name!r}, points={self.points}, complex_symbols={self.complex_symbols})"


def _pam(order: int, energy: float) -> np.ndarray:
    pts = np.arange(-order + 1, order, 2, dtype=np.float64)
    return pts * np.sqrt(energy / np.mean(pts**2))


#: Names accepted by :func:`get_constellation`.
CONSTELLATIONS = ("bpsk", "pam4", "pam8", "qpsk", "qam16", "qam64")


def get_constellation(name) -> Constellation:
    """Constellation by name (one of :data:`CONSTELLATIONS`) or pass one through.

    Real PAM alphabets have unit average energy per dimension; complex QPSK/QAM have unit
    average energy per complex symbol (1/2 per real dimension).
    """
    if isinstance(name, Constellation):
        return name
    key = str(name).lower()
    if key == "bpsk":
        return Constellation("bpsk", [-1.0, 1.0], complex_symbols=False)
    if key in ("pam4", "pam8"):
        return Constellation(key, _pam(int(key[3:]), 1.0), complex_symbols=False)
    if key == "qpsk":
        return Constellation("qpsk", _pam(2, 0.5), complex_symbols=True)
    if key in ("qam16", "qam64"):
        return Constellation(key, _pam(int(np.sqrt(int(key[3:]))), 0.5), complex_symbols=True)
    raise ValueError(f"constellation must be one of {', '.join(CONSTELLATIONS)}, got {name!r}")
