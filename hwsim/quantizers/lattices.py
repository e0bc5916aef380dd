r"""Lattice quantizers: named lattices with their exact fast nearest-point algorithms, any generator through an
exact closest-point search, bounded (shaped) lattice codebooks, dither, and the normalised second moment.

A lattice is the set of points :math:`u G` for integer row vectors :math:`u`, with :math:`G` the square
generator matrix whose *rows* are the basis vectors. Named lattices use Conway & Sloane's standard
coordinates (SPLAG, ch. 4) unless a scale is given:

- ``Zn`` (``Z1`` .. ``Z64``): the integer vectors, volume 1;
- ``Dn`` (``D2`` .. ``D64``): the integer vectors with an even coordinate sum, volume 2;
- ``E8``: :math:`D_8 \cup (D_8 + (\tfrac12, \dots, \tfrac12))`, volume 1;
- ``A2``: spanned by :math:`(1, 0)` and :math:`(\tfrac12, \tfrac{\sqrt3}2)`, volume :math:`\sqrt3/2`.

Nearest points (:meth:`Lattice.nearest`):

- :math:`\mathbb Z^n`: rounding; :math:`D_n`: round, and if the coordinate sum is odd re-round the coordinate
  farthest from an integer the other way; :math:`E_8`: the nearer of the :math:`D_8` answers for ``x`` and for
  ``x - 1/2`` (shifted back) -- all three from SPLAG ch. 20, vectorised over the batch;
- :math:`A_2`: the union of two cosets of the rectangular lattice :math:`\mathbb Z \times \sqrt3\,\mathbb Z`
  (offsets 0 and :math:`(\tfrac12, \tfrac{\sqrt3}2)`): rounding in each coset and keeping the nearer one is
  exact (the coset decomposition SPLAG ch. 20 uses for lattices that are unions of cosets);
- any other generator: LLL reduction (:math:`\delta = 0.99`) and then Schnorr-Euchner enumeration (Agrell,
  Eriksson, Vardy and Zeger, "Closest point search in lattices", IEEE Trans. IT 2002, algorithm DECODE),
  compiled with numba when it is installed. The search is exact up to floating-point rounding.

An unbounded :class:`Lattice` has infinitely many points, so its ``rate`` is infinite;
:meth:`Lattice.bounded` gives a :class:`BoundedLattice`, the lattice points inside a ball centred at the
origin, with a finite rate :math:`\log_2(M)/n` and an overload count.

Dither (:func:`voronoi_uniform`, :meth:`Lattice.quantize_dithered`): a dither uniform over the Voronoi cell is
drawn exactly as a uniform point of the fundamental parallelepiped :math:`\{vG : v \in [0,1)^n\}` reduced
modulo the lattice (:math:`d = p - Q(p)`). With subtractive dither, :math:`\hat x = Q(x + d) - d`, the error
:math:`\hat x - x` is uniform over the Voronoi cell and independent of ``x`` (for the unbounded lattice).

:func:`nsm` estimates the normalised second moment :math:`G = E\|e\|^2 / (n V^{2/n})` by Monte Carlo with a
Student-t interval. Reference values (SPLAG table 2.3): :math:`\mathbb Z` 1/12 = 0.083333, :math:`A_2`
0.080188, :math:`D_4` 0.076603, :math:`E_8` 0.071682.
"""

from __future__ import annotations

import math
import re

import numpy as np

from .base import (MAX_CODEWORDS, MAX_DIM, Codebook, FiniteQuantizer, VectorQuantizer, check_batch,
                   nearest_codeword)

try:  # numba is optional: without it the same functions run as (slow) plain Python
    from numba import njit as _njit

    def _jit(fn):
        return _njit(cache=True, nogil=True)(fn)
except ImportError:  # pragma: no cover - exercised only where numba is missing
    def _jit(fn):
        return fn

__all__ = ["Lattice", "BoundedLattice", "lattice", "from_export", "nsm", "voronoi_uniform", "MAX_SAMPLES", "LATTICE_NAMES"]

#: Most rows one call of :func:`voronoi_uniform` may return, and most samples :func:`nsm` may draw.
MAX_SAMPLES = 2**26
#: The names :func:`lattice` understands (``n`` a whole number).
LATTICE_NAMES = ("Zn (1 <= n <= %d)" % MAX_DIM, "Dn (2 <= n <= %d)" % MAX_DIM, "A2", "E8")
#: Rows processed at once by the chunked loops (dither draws, NSM).
_CHUNK_ROWS = 2**16
#: Smallest ratio of the smallest to the largest singular value of a generator (1 / largest condition number).
_MAX_CONDITION_INV = 1e-12


# ----------------------------------------------------------------------------------------------------------
# generators
# ----------------------------------------------------------------------------------------------------------

def _generator_z(n):
    return np.eye(n)


def _generator_d(n):
    """Rows (-1, -1, 0, ...), (1, -1, 0, ...), (0, 1, -1, 0, ...), ..., (0, ..., 1, -1): volume 2."""
    g = np.zeros((n, n))
    g[0, 0] = g[0, 1] = -1.0
    for i in range(1, n):
        g[i, i - 1] = 1.0
        g[i, i] = -1.0
    return g


def _generator_e8():
    """SPLAG eq. (4.98): (2, 0, ..., 0), the six (..., -1, 1, ...) rows, and (1/2, ..., 1/2): volume 1."""
    g = np.zeros((8, 8))
    g[0, 0] = 2.0
    for i in range(1, 7):
        g[i, i - 1] = -1.0
        g[i, i] = 1.0
    g[7, :] = 0.5
    return g


def _generator_a2():
    return np.array([[1.0, 0.0], [0.5, math.sqrt(3.0) / 2.0]])


def _parse_name(name: str):
    """(kind, n) for a lattice name, or a ValueError naming the allowed names."""
    s = name.strip().upper()
    allowed = ", ".join(LATTICE_NAMES)
    if s == "A2":
        return "A2", 2
    if s == "E8":
        return "E8", 8
    m = re.fullmatch(r"([ZD])(\d{1,3})", s)
    if m:
        kind, n = m.group(1), int(m.group(2))
        lo = 1 if kind == "Z" else 2
        if not lo <= n <= MAX_DIM:
            raise ValueError(f"lattice name {name!r}: {kind}n needs {lo} <= n <= {MAX_DIM} "
                             f"(hwsim.quantizers.base.MAX_DIM), got n = {n}")
        return kind, n
    raise ValueError(f"unknown lattice name {name!r}; the names are {allowed}, or pass a square generator matrix")


def _check_generator(g) -> np.ndarray:
    """A generator as float64 [n, n], refused (ValueError) when not square, too large, not finite or singular."""
    try:
        a = np.asarray(g, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the generator must be a square matrix of real numbers: {exc}") from None
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 1:
        raise ValueError(f"the generator must be a square matrix [n, n] (rows are the basis vectors), "
                         f"got shape {a.shape}")
    if a.shape[0] > MAX_DIM:
        raise ValueError(f"the generator has dimension {a.shape[0]}, more than the limit of {MAX_DIM} "
                         f"(hwsim.quantizers.base.MAX_DIM)")
    if not np.all(np.isfinite(a)):
        raise ValueError("the generator holds values that are not finite (NaN or inf)")
    if np.any(np.all(a == 0, axis=1)):
        raise ValueError("the generator is singular: it has a zero row")
    sv = np.linalg.svd(a, compute_uv=False)
    if sv[-1] <= _MAX_CONDITION_INV * sv[0]:
        raise ValueError(f"the generator is numerically singular: condition number {sv[0] / max(sv[-1], 1e-300):.3g} "
                         f"exceeds {1 / _MAX_CONDITION_INV:.0e}; its rows must be linearly independent")
    return a


def _check_scale(scale) -> float:
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)):
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")
    s = float(scale)
    if not math.isfinite(s) or s <= 0:
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")
    return s


def _check_rng(rng):
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(rng)
    raise ValueError(f"rng must be a numpy Generator, a seed (int) or None, got {type(rng).__name__}")


def _check_count(n, name, lo=1, hi=MAX_SAMPLES) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not lo <= int(n) <= hi:
        raise ValueError(f"{name} must be a whole number in [{lo}, {hi}], got {n!r}")
    return int(n)


# ----------------------------------------------------------------------------------------------------------
# fast nearest-point algorithms of the named lattices (SPLAG ch. 20), vectorised over the batch
# ----------------------------------------------------------------------------------------------------------

def _nearest_z(x):
    return np.rint(x)


def _nearest_d(x):
    """Nearest point of D_n: f(x) = round(x); if sum f(x) is odd, re-round the worst coordinate the other way."""
    f = np.rint(x)
    odd = (np.sum(f, axis=1) % 2) != 0
    if np.any(odd):
        rows = np.nonzero(odd)[0]
        xo, fo = x[rows], f[rows]
        delta = xo - fo
        k = np.argmax(np.abs(delta), axis=1)
        dk = delta[np.arange(len(rows)), k]
        # the other way: up when x_k >= f_k (delta >= 0), down otherwise
        fo[np.arange(len(rows)), k] += np.where(dk >= 0, 1.0, -1.0)
        f[rows] = fo
    return f


def _nearest_e8(x):
    """Nearest point of E8 = D8 u (D8 + 1/2): the nearer of the two coset answers."""
    y0 = _nearest_d(x)
    y1 = _nearest_d(x - 0.5) + 0.5
    d0 = np.einsum("ij,ij->i", x - y0, x - y0)
    d1 = np.einsum("ij,ij->i", x - y1, x - y1)
    return np.where((d1 < d0)[:, None], y1, y0)


_SQRT3 = math.sqrt(3.0)


def _nearest_a2(x):
    """Nearest point of A2: the nearer of the nearest points of the two cosets of Z x sqrt(3) Z."""
    y0 = np.empty_like(x)
    y0[:, 0] = np.rint(x[:, 0])
    y0[:, 1] = np.rint(x[:, 1] / _SQRT3) * _SQRT3
    y1 = np.empty_like(x)
    y1[:, 0] = np.rint(x[:, 0] - 0.5) + 0.5
    y1[:, 1] = (np.rint((x[:, 1] - _SQRT3 / 2) / _SQRT3) + 0.5) * _SQRT3
    d0 = np.einsum("ij,ij->i", x - y0, x - y0)
    d1 = np.einsum("ij,ij->i", x - y1, x - y1)
    return np.where((d1 < d0)[:, None], y1, y0)


_FAST = {"Z": _nearest_z, "D": _nearest_d, "E8": _nearest_e8, "A2": _nearest_a2}


# ----------------------------------------------------------------------------------------------------------
# general lattices: LLL reduction and Schnorr-Euchner enumeration
# ----------------------------------------------------------------------------------------------------------

def _lll(g: np.ndarray, delta: float = 0.99):
    """LLL reduction of the rows of ``g``: (reduced generator, unimodular integer U) with reduced = U @ g.

    Textbook LLL (Lenstra, Lenstra, Lovasz 1982) with size reduction; the Gram-Schmidt data are recomputed
    by a QR factorisation after each swap (n <= MAX_DIM keeps that cheap).
    """
    n = g.shape[0]
    b = g.copy()
    u = np.eye(n, dtype=np.int64)

    def gso(b):
        r = np.linalg.qr(b.T, mode="r")
        diag = np.diag(r)
        mu = (r / diag[:, None]).T           # mu[k, j] = <b_k, b*_j> / |b*_j|^2
        return mu, diag**2

    mu, bstar2 = gso(b)
    k = 1
    swaps = 0
    max_swaps = 10_000 * n * n
    while k < n:
        for j in range(k - 1, -1, -1):
            q = round(mu[k, j])
            if q != 0:
                b[k] -= q * b[j]
                u[k] -= q * u[j]
                mu[k, :j] -= q * mu[j, :j]
                mu[k, j] -= q
        if bstar2[k] >= (delta - mu[k, k - 1] ** 2) * bstar2[k - 1]:
            k += 1
        else:
            b[[k - 1, k]] = b[[k, k - 1]]
            u[[k - 1, k]] = u[[k, k - 1]]
            mu, bstar2 = gso(b)
            k = max(k - 1, 1)
            swaps += 1
            if swaps > max_swaps:  # pragma: no cover - LLL terminates; this only guards floating-point trouble
                raise ValueError("LLL reduction of the generator did not converge (is it badly conditioned?)")
    return u @ g, u


@_jit
def _se_decode(r, y_all, z_out):
    """Schnorr-Euchner closest point (Agrell et al. 2002, DECODE) for each row of ``y_all``: minimise
    ||y - R z|| over integer z with R upper triangular; answers written to ``z_out``."""
    n = r.shape[0]
    z = np.zeros(n, dtype=np.int64)
    step = np.zeros(n, dtype=np.int64)
    c = np.zeros(n)
    d = np.zeros(n + 1)
    for b in range(y_all.shape[0]):
        y = y_all[b]
        best = np.inf
        k = n - 1
        d[n] = 0.0
        c[k] = y[k] / r[k, k]
        z[k] = np.int64(np.rint(c[k]))
        step[k] = 1 if c[k] - z[k] >= 0 else -1
        while True:
            e = r[k, k] * (c[k] - z[k])
            nd = d[k + 1] + e * e
            if nd < best:
                if k > 0:
                    d[k] = nd
                    k -= 1
                    s = y[k]
                    for j in range(k + 1, n):
                        s -= r[k, j] * z[j]
                    c[k] = s / r[k, k]
                    z[k] = np.int64(np.rint(c[k]))
                    step[k] = 1 if c[k] - z[k] >= 0 else -1
                else:
                    best = nd
                    for j in range(n):
                        z_out[b, j] = z[j]
                    z[0] += step[0]
                    step[0] = -step[0] - (1 if step[0] > 0 else -1)
            else:
                if k == n - 1:
                    break
                k += 1
                z[k] += step[k]
                step[k] = -step[k] - (1 if step[k] > 0 else -1)
    return z_out


@_jit
def _enumerate_ball(r, r2, limit, out, fill):
    """Integer z with ||R z||^2 <= r2 (Fincke-Pohst enumeration, R upper triangular); counts them, stops once
    the count passes ``limit``, and writes them to ``out`` when ``fill``. Returns the count."""
    n = r.shape[0]
    z = np.zeros(n, dtype=np.int64)
    hi = np.zeros(n, dtype=np.int64)
    d = np.zeros(n + 1)
    tol = 1e-9 * r2 + 1e-300
    count = 0
    k = n - 1
    # range of z[k] given z[k+1:] and the partial distance d[k+1]
    w = math.sqrt(max(r2 - d[k + 1], 0.0) + tol) / abs(r[k, k])
    z[k] = np.int64(math.ceil(-w))
    hi[k] = np.int64(math.floor(w))
    while True:
        if z[k] > hi[k]:
            if k == n - 1:
                break
            k += 1
            z[k] += 1
            continue
        t = 0.0
        for j in range(k, n):
            t += r[k, j] * z[j]
        nd = d[k + 1] + t * t
        if nd > r2 + tol:
            z[k] += 1
            continue
        if k == 0:
            if fill and count < out.shape[0]:
                for j in range(n):
                    out[count, j] = z[j]
            count += 1
            if count > limit:
                return count
            z[0] += 1
        else:
            d[k] = nd
            k -= 1
            s = 0.0
            for j in range(k + 1, n):
                s -= r[k, j] * z[j]
            ck = s / r[k, k]
            w = math.sqrt(max(r2 - d[k + 1], 0.0) + tol) / abs(r[k, k])
            z[k] = np.int64(math.ceil(ck - w))
            hi[k] = np.int64(math.floor(ck + w))
    return count


# ----------------------------------------------------------------------------------------------------------
# dither (shared by the unbounded and the bounded lattice)
# ----------------------------------------------------------------------------------------------------------

class _Dithered:
    """``quantize_dithered`` for quantizers with a ``lattice`` (whose Voronoi cell the dither fills)."""

    def quantize_dithered(self, x, rng=None, subtractive: bool = True, dither=None):
        """Dithered quantization with a dither uniform over the Voronoi cell of the (unbounded) lattice.

        Parameters
        ----------
        x : array_like [B, n]
        rng : numpy.random.Generator, int or None
            Source of the dither (ignored when ``dither`` is given).
        subtractive : bool
            True: :math:`\\hat x = Q(x + d) - d` (error uniform over the cell, independent of ``x``);
            False: :math:`\\hat x = Q(x + d)` (a codeword; the error's mean is zero but its power depends on x).
        dither : array_like [B, n], optional
            A dither to reuse (e.g. the decoder's copy of a shared pseudo-random dither).

        Returns
        -------
        indices : ndarray
            What :meth:`quantize` returns for ``x + d`` (integer coordinates [B, n] for an unbounded lattice,
            codeword indices [B] for a bounded one).
        x_hat : ndarray float64 [B, n]
        dither : ndarray float64 [B, n]
            The dither used; with ``indices`` it is all a decoder needs to reproduce ``x_hat``.
        """
        x = check_batch(x, self.dim)
        if dither is None:
            d = voronoi_uniform(self.lattice, x.shape[0], rng)
        else:
            d = check_batch(dither, self.dim, name="dither")
            if d.shape[0] != x.shape[0]:
                raise ValueError(f"dither has {d.shape[0]} rows, x has {x.shape[0]}; they must match")
        idx, q = self.quantize(x + d)
        x_hat = q - d if subtractive else q
        return idx, x_hat, d


# ----------------------------------------------------------------------------------------------------------
# the lattice
# ----------------------------------------------------------------------------------------------------------

class Lattice(_Dithered, VectorQuantizer):
    """The unbounded lattice :math:`\\{uG : u \\in \\mathbb Z^n\\}` as a vector quantizer (rows of ``generator``
    are the basis vectors). Build one with :func:`lattice`.

    Attributes
    ----------
    generator : ndarray [n, n]
    dim : int
    name : str or None
        ``"Z3"``, ``"D4"``, ``"E8"``, ``"A2"`` for a named lattice (whose fast algorithm is used), else None.
    scale : float
        Factor applied to the named lattice's standard coordinates (1 for a general generator).
    volume : float
        :math:`|\\det G|`, the volume of the Voronoi cell.

    Notes
    -----
    ``rate`` is infinite: an unbounded lattice has infinitely many points. Use :meth:`bounded` for a finite
    codebook with a finite rate.
    """

    def __init__(self, generator, *, name: str | None = None, kind: str | None = None, scale: float = 1.0):
        g = _check_generator(generator)
        self.generator = g
        self.dim = g.shape[0]
        self.name = name
        self._kind = kind                      # "Z", "D", "E8", "A2" or None (general)
        self.scale = float(scale)
        self.volume = float(abs(np.linalg.det(g)))
        self._ginv = np.linalg.inv(g)
        self._reduced = None                   # (reduced generator, U, R) built on first general search

    # --- construction helpers -------------------------------------------------------------------------
    def scaled(self, s) -> "Lattice":
        """The lattice scaled by ``s`` > 0 (generator ``s G``; a named lattice keeps its fast algorithm)."""
        s = _check_scale(s)
        return Lattice(self.generator * s, name=self.name, kind=self._kind, scale=self.scale * s)

    def bounded(self, radius=None, codewords=None) -> "BoundedLattice":
        """The lattice points inside a ball centred at the origin, as a finite codebook (see
        :class:`BoundedLattice`). Give exactly one of ``radius`` or ``codewords``."""
        return BoundedLattice(self, radius=radius, codewords=codewords)

    # --- the quantizer --------------------------------------------------------------------------------
    @property
    def rate(self) -> float:
        """Infinite: an unbounded lattice has infinitely many points (see :meth:`bounded`)."""
        return math.inf

    def nearest(self, x) -> np.ndarray:
        """Nearest lattice point (float64 [B, n]) of each row of ``x`` [B, n] (ties: whichever the algorithm
        meets first; they have probability zero for continuous inputs)."""
        x = check_batch(x, self.dim)
        return self._nearest(x)

    def _nearest(self, x):
        if self._kind is not None:
            s = self.scale
            return _FAST[self._kind](x / s) * s if s != 1.0 else _FAST[self._kind](x)
        return self._search(x) @ self.generator

    def _search(self, x):
        """Integer coordinates (in this generator's basis) of the nearest points, by Schnorr-Euchner search."""
        if self._reduced is None:
            g_red, u = _lll(self.generator)
            g_red = u.astype(np.float64) @ self.generator
            q, r = np.linalg.qr(g_red.T)       # columns of g_red.T are the reduced basis vectors
            self._reduced = (g_red, u, q, r)
        g_red, u, q, r = self._reduced
        y = x @ q                                # = (Q^T x^T)^T
        z = np.zeros(x.shape, dtype=np.int64)
        _se_decode(np.ascontiguousarray(r), np.ascontiguousarray(y), z)
        return z @ u

    def coordinates(self, x) -> np.ndarray:
        """Integer coordinates u (int64 [B, n]) of the nearest lattice points, ``nearest(x) == u @ generator``."""
        x = check_batch(x, self.dim)
        return self._coords_of(self._nearest(x))

    def _coords_of(self, points):
        return np.rint(points @ self._ginv).astype(np.int64)

    def quantize(self, x) -> tuple[np.ndarray, np.ndarray]:
        """(integer coordinates int64 [B, n], nearest points float64 [B, n]); the rate is infinite."""
        x = check_batch(x, self.dim)
        p = self._nearest(x)
        return self._coords_of(p), p

    @property
    def lattice(self) -> "Lattice":
        """Itself (so dither and :func:`nsm` treat a lattice and a bounded lattice alike)."""
        return self

    def second_moment_scale(self) -> float:
        """:math:`V^{2/n}`, the factor that turns a normalised second moment into mean squared error per dimension."""
        return self.volume ** (2.0 / self.dim)

    def export(self) -> dict:
        """``{"kind": "lattice", "name", "dim", "scale", "generator", "volume", "rate": None, "shaping": None}``
        (JSON-ready; :func:`from_export` rebuilds the lattice)."""
        return {"kind": "lattice", "name": self.name, "dim": self.dim, "scale": self.scale,
                "generator": self.generator.tolist(), "volume": self.volume, "rate": None, "shaping": None}

    def __repr__(self) -> str:
        label = self.name if self.name else "general"
        return f"Lattice({label}, dim={self.dim}, scale={self.scale:g}, volume={self.volume:.6g})"


def lattice(name_or_generator, scale=None) -> Lattice:
    """A lattice quantizer from a name or a generator matrix.

    Parameters
    ----------
    name_or_generator : str or array_like [n, n]
        ``"Z1"`` .. ``"Z64"``, ``"A2"``, ``"D2"`` .. ``"D64"`` (``"D4"``), ``"E8"`` in Conway & Sloane's standard
        coordinates, or a square nonsingular generator whose rows are the basis vectors (points ``u @ G``).
    scale : float, optional
        Multiplies the generator (default 1: the standard coordinates).

    Raises
    ------
    ValueError
        For an unknown name, a dimension outside the limits, or a generator that is not square, not finite
        or singular, or a scale that is not a positive finite number.
    """
    s = 1.0 if scale is None else _check_scale(scale)
    if isinstance(name_or_generator, str):
        kind, n = _parse_name(name_or_generator)
        gen = {"Z": lambda: _generator_z(n), "D": lambda: _generator_d(n),
               "E8": _generator_e8, "A2": _generator_a2}[kind]()
        label = kind + str(n) if kind in ("Z", "D") else kind
        return Lattice(gen * s, name=label, kind=kind, scale=s)
    if isinstance(name_or_generator, Lattice):
        return name_or_generator.scaled(s) if scale is not None else name_or_generator
    return Lattice(np.asarray(_check_generator(name_or_generator)) * s, scale=s)


# ----------------------------------------------------------------------------------------------------------
# bounded lattice codebook
# ----------------------------------------------------------------------------------------------------------

def _unit_ball_volume(n):
    return math.pi ** (n / 2) / math.gamma(n / 2 + 1)


class BoundedLattice(_Dithered, FiniteQuantizer):
    """The points of a lattice inside a ball centred at the origin, as a finite codebook.

    The shaping region is the closed ball :math:`\\|p\\| \\le r` (a relative tolerance of 1e-9 keeps points on
    the sphere). With ``codewords=M`` the codebook is the M lattice points of smallest norm; when the last
    shell does not fit whole, its points are taken in lexicographic order of their integer coordinates, and
    ``radius`` records the norm of the largest codeword. The points are enumerated (Fincke-Pohst) and counted
    against :data:`~hwsim.quantizers.base.MAX_CODEWORDS` before anything is allocated.

    ``quantize(x)`` returns the index (int64 [B]) of the nearest codeword and the codeword. An input whose
    unbounded nearest lattice point is not a codeword is *overloaded*; it goes to the nearest codeword (brute
    force over the codebook). Each call records ``last_overload`` (count) and ``last_overload_mask`` (bool
    [B]); ``overload_count`` and ``quantized_count`` accumulate over calls; :meth:`overloaded` gives the mask
    without quantizing.

    Attributes
    ----------
    lattice : Lattice
    codewords : ndarray [M, n]
        Sorted by norm, then by integer coordinates.
    coords : ndarray int64 [M, n]
        Integer coordinates of the codewords in ``lattice.generator``'s basis.
    radius : float
    """

    def __init__(self, lat: Lattice, radius=None, codewords=None):
        if not isinstance(lat, Lattice):
            raise ValueError(f"BoundedLattice needs a Lattice, got {type(lat).__name__}")
        if (radius is None) == (codewords is None):
            raise ValueError("give exactly one of radius (the ball's radius) or codewords (how many points)")
        self.lattice = lat
        self.dim = lat.dim
        n = lat.dim
        g_red, u_red, r = self._reduced_basis(lat)
        if radius is not None:
            if isinstance(radius, bool) or not isinstance(radius, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(float(radius)) or float(radius) < 0:
                raise ValueError(f"radius must be a finite number >= 0, got {radius!r}")
            rad = float(radius)
            self._guard_estimate(rad)
            count = _enumerate_ball(r, rad * rad, MAX_CODEWORDS, np.zeros((1, n), np.int64), False)
            if count > MAX_CODEWORDS:
                raise ValueError(f"a ball of radius {rad:g} holds more than {MAX_CODEWORDS} points of this lattice "
                                 f"(hwsim.quantizers.base.MAX_CODEWORDS); use a smaller radius or scale the lattice up")
            m_keep = count
        else:
            m_keep = _check_count(codewords, "codewords", 1, MAX_CODEWORDS)
            # smallest ball (grown by 5 % steps from the volume estimate) holding at least M points
            rad = (m_keep * lat.volume / _unit_ball_volume(n)) ** (1.0 / n)
            for _ in range(400):
                count = _enumerate_ball(r, rad * rad, MAX_CODEWORDS, np.zeros((1, n), np.int64), False)
                if count >= m_keep:
                    break
                rad *= 1.05
            else:  # pragma: no cover - the volume estimate grows past M long before 400 steps
                raise ValueError(f"could not find a ball holding {m_keep} lattice points")
            if count > MAX_CODEWORDS:
                raise ValueError(f"{m_keep} codewords need a ball holding more than {MAX_CODEWORDS} points "
                                 f"(hwsim.quantizers.base.MAX_CODEWORDS) to choose from; ask for fewer")
        z = np.zeros((count, n), dtype=np.int64)
        _enumerate_ball(r, rad * rad, MAX_CODEWORDS, z, True)
        coords = z @ u_red
        pts = coords.astype(np.float64) @ lat.generator
        norm2 = np.einsum("ij,ij->i", pts, pts)
        top = max(float(norm2.max()), 1e-300)
        shell = np.rint(norm2 / top * 1e9).astype(np.int64)          # equal norms up to rounding noise
        order = np.lexsort(tuple(coords[:, j] for j in range(n - 1, -1, -1)) + (shell,))
        order = order[:m_keep]
        self.coords = coords[order]
        self.codewords = pts[order]
        self.radius = float(np.sqrt(norm2[order].max())) if codewords is not None else rad
        self._requested = {"radius": None if radius is None else float(radius),
                           "codewords": None if codewords is None else int(codewords)}
        self._build_lookup()
        self.last_overload = 0
        self.last_overload_mask = np.zeros(0, dtype=bool)
        self.overload_count = 0
        self.quantized_count = 0

    @staticmethod
    def _reduced_basis(lat):
        g_red, u = _lll(lat.generator)
        g_red = u.astype(np.float64) @ lat.generator
        r = np.linalg.qr(g_red.T, mode="r")
        return g_red, u, np.ascontiguousarray(r)

    def _guard_estimate(self, rad):
        """Refuse at once a ball whose expected point count (volume ratio) is far beyond MAX_CODEWORDS."""
        est = _unit_ball_volume(self.dim) * rad ** self.dim / self.lattice.volume
        if est > 16 * MAX_CODEWORDS:
            raise ValueError(f"a ball of radius {rad:g} holds about {est:.3g} points of this lattice, more than the "
                             f"limit of {MAX_CODEWORDS} (hwsim.quantizers.base.MAX_CODEWORDS)")

    def _build_lookup(self):
        """Index from integer coordinates to codeword: a mixed-radix int64 key when it fits, else a dict."""
        c = self.coords
        self._cmin = c.min(axis=0)
        span = c.max(axis=0) - self._cmin + 1
        if float(np.sum(np.log2(span.astype(np.float64)))) < 62:
            self._stride = np.concatenate([np.cumprod(span[::-1])[::-1][1:], [1]]).astype(np.int64)
            self._span = span
            keys = (c - self._cmin) @ self._stride
            self._key_order = np.argsort(keys, kind="stable")
            self._keys_sorted = keys[self._key_order]
            self._dict = None
        else:
            self._stride = None
            self._dict = {row.tobytes(): i for i, row in enumerate(c)}

    def _lookup(self, coords):
        """Codeword index of each row of integer coordinates, -1 where it is not a codeword."""
        out = np.full(coords.shape[0], -1, dtype=np.int64)
        if self._dict is not None:
            for i, row in enumerate(np.ascontiguousarray(coords)):
                out[i] = self._dict.get(row.tobytes(), -1)
            return out
        rel = coords - self._cmin
        inside = np.all((rel >= 0) & (rel < self._span), axis=1)
        keys = rel[inside] @ self._stride
        pos = np.searchsorted(self._keys_sorted, keys)
        pos_c = np.minimum(pos, len(self._keys_sorted) - 1)
        hit = self._keys_sorted[pos_c] == keys
        found = np.full(keys.shape[0], -1, dtype=np.int64)
        found[hit] = self._key_order[pos_c[hit]]
        out[inside] = found
        return out

    def overloaded(self, x) -> np.ndarray:
        """Bool [B]: True where the unbounded nearest lattice point of a row of ``x`` is not a codeword."""
        x = check_batch(x, self.dim)
        return self._lookup(self.lattice._coords_of(self.lattice._nearest(x))) < 0

    def quantize(self, x) -> tuple[np.ndarray, np.ndarray]:
        """(codeword index int64 [B], codeword float64 [B, n]); records the overload (see the class notes)."""
        x = check_batch(x, self.dim)
        idx = self._lookup(self.lattice._coords_of(self.lattice._nearest(x)))
        over = idx < 0
        if np.any(over):
            idx[over] = nearest_codeword(x[over], self.codewords)
        self.last_overload_mask = over
        self.last_overload = int(np.count_nonzero(over))
        self.overload_count += self.last_overload
        self.quantized_count += x.shape[0]
        return idx, self.codewords[idx]

    def export(self) -> dict:
        """The lattice's export with ``rate`` and ``shaping`` = ``{"region": "ball", "center", "radius",
        "codewords", "requested": {"radius", "codewords"}, "tie_break"}`` (:func:`from_export` rebuilds it)."""
        d = self.lattice.export()
        d["rate"] = self.rate
        d["shaping"] = {"region": "ball", "center": [0.0] * self.dim, "radius": self.radius,
                        "codewords": self.size, "requested": dict(self._requested),
                        "tie_break": "norm, then integer coordinates in lexicographic order"}
        return d

    def __repr__(self) -> str:
        return (f"BoundedLattice({self.lattice!r}, ball radius {self.radius:.6g}, {self.size} codewords, "
                f"rate={self.rate:.4g} bits/dim)")


# ----------------------------------------------------------------------------------------------------------
# dither and the normalised second moment
# ----------------------------------------------------------------------------------------------------------

def _as_lattice(q) -> Lattice:
    if isinstance(q, (Lattice, BoundedLattice)):
        return q.lattice
    if isinstance(q, str) or isinstance(q, (list, tuple, np.ndarray)):
        return lattice(q)
    raise ValueError(f"expected a Lattice, a BoundedLattice, a lattice name or a generator, got {type(q).__name__}")


def voronoi_uniform(lat, n_samples, rng=None) -> np.ndarray:
    """``n_samples`` points drawn exactly uniformly over the Voronoi cell of ``lat`` around the origin.

    A uniform point :math:`p = vG`, :math:`v \\sim U[0,1)^n`, of the fundamental parallelepiped is reduced
    modulo the lattice, :math:`d = p - Q(p)`: the parallelepiped tiles space under lattice translations, so
    ``d`` is uniform over the cell.

    Parameters
    ----------
    lat : Lattice, BoundedLattice (its lattice is used), a lattice name or a generator
    n_samples : int, 1 .. MAX_SAMPLES (and n_samples * dim <= MAX_SAMPLES)
    rng : numpy.random.Generator, int or None
    """
    lat = _as_lattice(lat)
    n = _check_count(n_samples, "n_samples", 1, MAX_SAMPLES)
    if n * lat.dim > MAX_SAMPLES:
        raise ValueError(f"n_samples * dim = {n * lat.dim} values exceeds the limit of {MAX_SAMPLES} "
                         f"(hwsim.quantizers.lattices.MAX_SAMPLES); draw in pieces")
    rng = _check_rng(rng)
    p = rng.random((n, lat.dim)) @ lat.generator
    return p - lat._nearest(p)


def nsm(q, n_samples: int = 200_000, rng=None, level: float = 0.95) -> tuple[float, float, float]:
    """Normalised second moment :math:`G = E\\|e\\|^2 / (n V^{2/n})` of a lattice, by Monte Carlo.

    ``e`` is drawn exactly uniformly over the Voronoi cell (:func:`voronoi_uniform`, in chunks of bounded
    memory), and each sample contributes :math:`\\|e\\|^2 / (n V^{2/n})`.

    Parameters
    ----------
    q : Lattice, BoundedLattice (the NSM of its lattice), a lattice name or a generator
    n_samples : int, 2 .. MAX_SAMPLES
    rng : numpy.random.Generator, int or None
    level : float
        Confidence level of the interval (default 0.95).

    Returns
    -------
    (estimate, ci_low, ci_high)
        The sample mean and its two-sided Student-t interval (``n_samples - 1`` degrees of freedom) at
        ``level``.
    """
    lat = _as_lattice(q)
    n = _check_count(n_samples, "n_samples", 2, MAX_SAMPLES)
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"level must be a number strictly between 0 and 1, got {level!r}")
    rng = _check_rng(rng)
    norm = lat.dim * lat.second_moment_scale()
    total = 0.0
    total2 = 0.0
    done = 0
    while done < n:
        k = min(_CHUNK_ROWS, n - done)
        e = voronoi_uniform(lat, k, rng)
        v = np.einsum("ij,ij->i", e, e) / norm
        total += float(v.sum())
        total2 += float(np.dot(v, v))
        done += k
    mean = total / n
    var = max(total2 / n - mean * mean, 0.0) * n / (n - 1)
    from scipy.stats import t as student_t
    half = float(student_t.ppf(0.5 + level / 2, n - 1)) * math.sqrt(var / n)
    return mean, mean - half, mean + half


def from_export(doc) -> Lattice | BoundedLattice:
    """The lattice (or bounded lattice) an :meth:`Lattice.export` / :meth:`BoundedLattice.export` dict describes.

    The generator is what counts: a ``name`` (``"D4"``, ...) selects the fast algorithm only when the
    generator equals that named lattice's at the recorded ``scale`` (to 1e-12 relative); otherwise the
    general closest-point search is used. A bounded codebook is rebuilt from ``shaping["requested"]``
    (the same radius or codeword count gives the same, deterministic, codebook).

    Raises
    ------
    ValueError
        For a document that is not a lattice export: wrong kind, a bad generator, a dimension that does not
        match, or a shaping that is not a ball with one of radius / codewords.
    """
    if not isinstance(doc, dict):
        raise ValueError(f"a lattice export must be a dict, got {type(doc).__name__}")
    if doc.get("kind") != "lattice":
        raise ValueError(f"kind must be 'lattice', got {doc.get('kind')!r}")
    g = _check_generator(doc.get("generator"))
    dim = doc.get("dim", g.shape[0])
    if dim != g.shape[0]:
        raise ValueError(f"dim {dim!r} does not match the generator's dimension {g.shape[0]}")
    lat = Lattice(g)
    name = doc.get("name")
    scale = doc.get("scale", 1.0)
    if isinstance(name, str):
        try:
            named = lattice(name, scale=scale)
        except ValueError:
            named = None
        if named is not None and named.dim == g.shape[0] and \
                np.allclose(named.generator, g, rtol=1e-12, atol=1e-12 * float(np.abs(g).max())):
            lat = named
    shaping = doc.get("shaping")
    if shaping is None:
        return lat
    if not isinstance(shaping, dict) or shaping.get("region") != "ball":
        raise ValueError(f"shaping must be null or a dict with region 'ball', got {shaping!r:.200}")
    req = shaping.get("requested")
    if not isinstance(req, dict):
        req = {"radius": shaping.get("radius"), "codewords": None}
    radius, codewords = req.get("radius"), req.get("codewords")
    if (radius is None) == (codewords is None):
        raise ValueError("shaping must request exactly one of radius or codewords")
    return lat.bounded(radius=radius, codewords=codewords)


#: Largest codebook :func:`gaussian_codebook` also tries as a coset through a deep hole (searched by brute force).
MAX_COSET_CODEWORDS = 4096


def gaussian_codebook(name_or_generator, codewords: int, samples):
    """A codebook of ``codewords`` points of a lattice for the source of ``samples`` [B, n], scaled for the
    least MSE on them (overload included; a golden-section search on the log of the scale from cells that
    cover about four standard deviations).

    Two shapings are tried and the better kept: the ``codewords`` smallest-norm lattice points (a
    :class:`BoundedLattice`, fast nearest point), and, up to :data:`MAX_COSET_CODEWORDS` codewords, the
    smallest-norm points of the coset through a deep hole (a :class:`Codebook`): a ball of an even
    number of lattice points cannot be symmetric about the origin (2 points of Z are {0, 1}), a ball of
    coset points can (the coset of Z through 1/2 gives {-1/2, 1/2}, the 1-bit Lloyd-Max shape)."""
    from scipy.optimize import minimize_scalar

    base = lattice(name_or_generator)
    x = check_batch(samples, base.dim, "samples")[:20_000]
    unit = base.volume ** (1 / base.dim)
    spread = float(np.sqrt(np.mean(x**2)))
    guess = np.log(4.0 * spread / codewords ** (1 / base.dim))

    def best(make):
        res = minimize_scalar(lambda log_s: make(float(np.exp(log_s)) / unit).mse(x),
                              bracket=(guess - 0.7, guess + 0.7), tol=1e-3)
        q = make(float(np.exp(res.x)) / unit)
        return q, q.mse(x)

    centred, centred_mse = best(lambda s: base.scaled(s).bounded(codewords=codewords))
    if codewords > MAX_COSET_CODEWORDS:
        return centred
    # a deep hole: the farthest of many exact draws over the Voronoi cell (a vertex of the cell, near enough)
    cell = voronoi_uniform(base, 20_000, np.random.default_rng(0))
    hole = cell[np.argmax(np.einsum("ij,ij->i", cell, cell))]
    pool = base.bounded(codewords=min(MAX_CODEWORDS, 4 * codewords + 64)).codewords + hole

    def coset(s):
        points = pool[np.argsort(np.einsum("ij,ij->i", pool, pool), kind="stable")[:codewords]] * s
        return Codebook(points)

    shifted, shifted_mse = best(coset)
    return shifted if shifted_mse < centred_mse else centred
