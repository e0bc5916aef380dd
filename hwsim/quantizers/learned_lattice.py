r"""Lang et al.'s learned lattice quantizer: a generator matrix trained through a differentiable surrogate.

Convention (the seed's, eq. (1)): the generator ``G`` is square [n, n] and its **columns** are the
basis vectors, the lattice is :math:`\{G l : l \in \mathbb{Z}^n\}`. The decision-table file family
(:mod:`hwsim.quantizers.files`) stores basis vectors as rows, so :meth:`LearnedLattice.export` writes
``G.T`` there (and says so in the document).

The pieces, in the seed's order:

- :func:`phi`, eq. (7): :math:`\phi(x) = x + 0.2\cos(2\pi(x + 0.25)) = x - 0.2\sin(2\pi x)`, the
  differentiable stand-in for rounding (the first Fourier term of ``round``, with amplitude 0.2
  instead of the Fourier series' :math:`1/\pi`). It is odd, ``phi(x + 1) = phi(x) + 1``, fixes the
  integers and the half-integers, and moves every other point toward the nearest integer by at
  most 0.2. It is *not* monotone: ``phi'(k) = 1 - 0.4 pi < 0`` at the integers. (The same function as
  in DESIGN.md; the seed prints it as eq. (7) with no further detail.)
- :func:`overload_projection`, eq. (6): :math:`\Pi_\gamma` clips every element to ``[-gamma, gamma]``.
- :func:`surrogate_quantize`, eq. (5): :math:`\tilde Q(x) = G\,\phi(G^{-1}\Pi_\gamma(x + d)) - d` with
  the dither ``d`` uniform over the Voronoi cell (:func:`voronoi_dither`, drawn exactly); with
  ``rounding="round"`` it is the hard quantizer the surrogate approximates (rounding in the
  inverse-lattice domain, i.e. Babai's rounding point), with ``rounding="nearest"`` the exact
  closest lattice point (its integer coordinates held constant in the backward pass), with
  ``rounding="codebook"`` the exact bounded quantizer of eq. (4) (nearest point of the ball codebook).
- :class:`GeneratorPrior`: the seed's "deep prior": ``G`` is the reshaped output of an MLP with a
  fixed all-ones input, two hidden layers and LeakyReLU activations (the default, as in the seed),
  written as ``I + MLP(u)`` so that the random start is well conditioned; ``prior="direct"`` learns
  ``G`` itself. Both reach the same lattices here (the MLP adds nothing measurable in n <= 8).
- :func:`train_lattice`: eq. (8) (mean squared error) minimised with Adam (default) or plain SGD, the
  cell volume held fixed (``G`` is rescaled to ``|det G| = volume`` inside the forward pass: with a
  fixed support ``gamma`` this is what holds the rate :math:`\frac1n\log_2|\mathcal L_\gamma|` fixed).
  The seed's SGD with learning rate 1e-5 for 100 iterations leaves ``G`` practically where it
  started; the defaults (Adam, 3e-3 decaying tenfold) converge in a few hundred steps in 2-D.
  Returns a :class:`LatticeTraining` (generator, loss history, quantizer).
- :class:`LearnedLattice`: the trained, fixed lattice as a
  :class:`~hwsim.quantizers.base.VectorQuantizer`: the nearest point of the bounded codebook
  :math:`\mathcal L_\gamma = \{z \in \mathcal L : \|z\| \le \gamma\}` (eq. (2)), with or without
  subtractive dither (eq. (3)), ``export()`` and a Monte Carlo normalised second moment
  (:meth:`LearnedLattice.nsm`).

What the seed leaves open, and what this module does:

- eq. (2) bounds the codebook by a *ball* of radius gamma while eq. (6) clips *per element* (a
  cube). Training uses eq. (6) as printed; the fixed quantizer uses the ball of eq. (2).
- Rounding in the inverse-lattice domain quantizes to the fundamental *parallelepiped*, whose second
  moment is :math:`\|G\|_F^2/12`; with ``phi`` the surrogate error is
  :math:`0.2\,G\sin(2\pi G^{-1}(x+d))`, of mean square :math:`0.02\|G\|_F^2` for a wide source. At a
  fixed volume both are smallest for a scaled orthogonal ``G``: trained on a wide source the seed's
  surrogate drifts toward a rotated :math:`\mathbb Z^n`, not toward A2/D4/E8. The exact-closest-point
  objective (``rounding="nearest"``, the stochastic gradient of Agrell and Eriksson, 1998) is the
  one that finds the hexagonal lattice in two dimensions. Both are offered and compared in the tests.
- For a wide source the gradient of the loss with respect to ``G`` at a fixed input has a large
  variance (a lattice point far from the origin moves by ``dG l``, ``l`` large). ``data=None``
  trains on the limit of a uniform source, drawn as ``x = G u`` with ``u`` uniform in the unit cube
  (the input moves with the lattice; the quantization error of the unbounded lattice depends only on
  ``x`` modulo the lattice, so this is the same error law at a bounded gradient). Subtractive dither
  adds nothing there (``x + d`` is already uniform modulo the lattice) and is left out.

The exact closest point (:func:`closest_point`) is a private, vectorised Fincke-Pohst enumeration on an
LLL-reduced basis, its radius the distance to Babai's nearest-plane point (so the search is exact
and never empty); the number of search nodes is bounded (:data:`MAX_SEARCH_NODES`) and a batch that
would exceed it is split. It is meant for the small dimensions of this module (``n <= 16``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from .base import MAX_CODEWORDS, FiniteQuantizer, VectorQuantizer, check_batch, nearest_codeword

#: Largest dimension the learned lattice accepts (the closest-point search is exponential in n).
MAX_LATTICE_DIM = 16
#: Most partial candidates the closest-point enumeration holds at one time.
MAX_SEARCH_NODES = 2**19
#: Most training steps / Monte Carlo samples accepted in one call.
MAX_STEPS = 10**6
MAX_SAMPLES = 10**7

ROUNDINGS = ("phi", "round", "nearest", "codebook")
PRIORS = ("mlp", "direct")
OPTIMIZERS = ("adam", "sgd")
PHI_AMPLITUDE = 0.2


# ----------------------------------------------------------------------------------------------- checks

def _check_generator(generator, name: str = "generator", max_dim: int = MAX_LATTICE_DIM) -> np.ndarray:
    g = np.asarray(generator, dtype=np.float64)
    if g.ndim != 2 or g.shape[0] != g.shape[1]:
        raise ValueError(f"{name} must be a square matrix [n, n] (columns are the basis vectors), got shape {g.shape}")
    if not 1 <= g.shape[0] <= max_dim:
        raise ValueError(f"{name} must have dimension 1 <= n <= {max_dim}, got n = {g.shape[0]}")
    if not np.all(np.isfinite(g)):
        raise ValueError(f"{name} holds values that are not finite (NaN or inf)")
    s = np.linalg.svd(g, compute_uv=False)
    if s[-1] <= 1e-12 * max(s[0], 1e-300):
        raise ValueError(f"{name} is singular (smallest/largest singular value {s[-1] / max(s[0], 1e-300):.3g}): "
                         "a lattice generator must have full rank")
    return g


def _check_positive(value, name: str, allow_inf: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    v = float(value)
    if not (v > 0) or (math.isinf(v) and not allow_inf) or math.isnan(v):
        raise ValueError(f"{name} must be a positive{' (possibly infinite)' if allow_inf else ' finite'} number, "
                         f"got {value!r}")
    return v


def _check_count(value, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= int(value) <= high:
        raise ValueError(f"{name} must be a whole number in [{low}, {high}], got {value!r}")
    return int(value)


def _rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(rng)
    raise ValueError(f"rng must be a numpy Generator, an integer seed or None, got {rng!r}")


# ------------------------------------------------------------------------------- eqs. (6), (7): phi, Pi

def phi(x):
    r"""Lang et al. eq. (7): :math:`\phi(x) = x + 0.2\cos(2\pi(x + 0.25))`, element-wise (torch or numpy).

    The differentiable stand-in for rounding used in training. Equal to ``x - 0.2 sin(2 pi x)``.
    """
    if isinstance(x, torch.Tensor):
        return x + PHI_AMPLITUDE * torch.cos(2 * math.pi * (x + 0.25))
    x = np.asarray(x, dtype=np.float64)
    return x + PHI_AMPLITUDE * np.cos(2 * np.pi * (x + 0.25))


def overload_projection(x, gamma: float):
    r"""Lang et al. eq. (6): :math:`\Pi_\gamma` clips every element to ``[-gamma, gamma]`` (torch or numpy).

    ``gamma = inf`` leaves ``x`` unchanged.
    """
    gamma = _check_positive(gamma, "gamma", allow_inf=True)
    if math.isinf(gamma):
        return x
    if isinstance(x, torch.Tensor):
        return torch.clamp(x, -gamma, gamma)
    return np.clip(np.asarray(x, dtype=np.float64), -gamma, gamma)


# ------------------------------------------------------------------------- exact closest lattice point

def lll_reduce(generator, delta: float = 0.99) -> tuple[np.ndarray, np.ndarray]:
    """LLL reduction of the columns of ``generator``: ``(reduced, T)`` with ``reduced = generator @ T``,
    ``T`` unimodular (integer, det +-1). ``delta`` in (0.25, 1); with n = 2 and ``delta`` near 1 this is
    the Lagrange-Gauss reduction (the two shortest independent vectors)."""
    g = _check_generator(generator)
    if not 0.25 < delta < 1:
        raise ValueError(f"delta must be in (0.25, 1), got {delta!r}")
    b = g.T.copy()                      # rows are the basis vectors while reducing
    u = np.eye(len(b), dtype=np.int64)
    n = len(b)

    def gram_schmidt():
        bs = np.zeros_like(b)
        mu = np.zeros((n, n))
        for i in range(n):
            bs[i] = b[i]
            for j in range(i):
                mu[i, j] = b[i] @ bs[j] / (bs[j] @ bs[j])
                bs[i] = bs[i] - mu[i, j] * bs[j]
        return bs, mu

    bs, mu = gram_schmidt()
    k, guard = 1, 0
    while k < n:
        guard += 1
        if guard > 100000:
            raise RuntimeError("LLL reduction did not converge (ill-conditioned generator)")
        for j in range(k - 1, -1, -1):
            q = round(mu[k, j])
            if q:
                b[k] -= q * b[j]
                u[k] -= q * u[j]
                bs, mu = gram_schmidt()
        if bs[k] @ bs[k] >= (delta - mu[k, k - 1] ** 2) * (bs[k - 1] @ bs[k - 1]):
            k += 1
        else:
            b[[k, k - 1]] = b[[k - 1, k]]
            u[[k, k - 1]] = u[[k - 1, k]]
            bs, mu = gram_schmidt()
            k = max(k - 1, 1)
    return b.T.copy(), u.T.copy()


class _Search:
    """Precomputed pieces of the closest-point search for one generator (columns = basis)."""

    def __init__(self, generator):
        self.g = _check_generator(generator)
        self.n = self.g.shape[0]
        self.g_red, self.t = lll_reduce(self.g)
        q, r = np.linalg.qr(self.g_red)
        signs = np.sign(np.diag(r))
        signs[signs == 0] = 1
        self.q = q * signs[None, :]
        self.r = r * signs[:, None]          # upper triangular, positive diagonal; g_red = q @ r

    def _nearest_plane(self, yt):
        n, r = self.n, self.r
        z = np.zeros(yt.shape, dtype=np.float64)
        for i in range(n - 1, -1, -1):
            c = (yt[:, i] - z[:, i + 1:] @ r[i, i + 1:]) / r[i, i]
            z[:, i] = np.round(c)
        d2 = np.sum((yt - z @ r.T) ** 2, axis=1)
        return z, d2

    def _enumerate(self, yt, r2):
        """Fincke-Pohst enumeration of every integer z (reduced basis) with ||yt - R z||^2 <= r2, all rows
        at once; returns the best z per row, or None when more than MAX_SEARCH_NODES candidates would be
        held (the caller then splits the batch)."""
        n, r = self.n, self.r
        m = yt.shape[0]
        idx = np.arange(m)
        z = np.zeros((m, n))
        part = np.zeros(m)
        for i in range(n - 1, -1, -1):
            c = (yt[idx, i] - z[:, i + 1:] @ r[i, i + 1:]) / r[i, i]
            rem = np.maximum(r2[idx] - part, 0.0)
            half = np.sqrt(rem) / r[i, i]
            lo = np.ceil(c - half)
            hi = np.floor(c + half)
            cnt = np.maximum(hi - lo + 1, 0).astype(np.int64)
            total = int(cnt.sum())
            if total > MAX_SEARCH_NODES:
                return None
            rep = np.repeat(np.arange(len(cnt)), cnt)
            off = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
            zi = lo[rep] + off
            part = part[rep] + (r[i, i] * (c[rep] - zi)) ** 2
            z = z[rep]
            z[:, i] = zi
            idx = idx[rep]
        order = np.lexsort((part, idx))
        first = np.ones(len(order), dtype=bool)
        first[1:] = idx[order][1:] != idx[order][:-1]
        best = order[first]
        if len(best) != m:                        # cannot happen: the nearest-plane point is inside r2
            raise RuntimeError("closest-point search lost a point (numerical trouble with the generator)")
        return z[best]

    def coords(self, x: np.ndarray) -> np.ndarray:
        """Integer coordinates l (w.r.t. the original generator) of the closest lattice point G l to each row."""
        yt = x @ self.q                           # q^T x per row
        z0, d2 = self._nearest_plane(yt)
        r2 = d2 * (1 + 1e-9) + 1e-12 * (1 + np.sum(yt**2, axis=1))
        out = np.empty_like(z0)
        step = 256
        stack = [(i, min(i + step, len(x))) for i in range(0, len(x), step)][::-1]
        while stack:
            a, b = stack.pop()
            got = self._enumerate(yt[a:b], r2[a:b])
            if got is None:
                if b - a == 1:
                    raise ValueError("closest-point search needs more than MAX_SEARCH_NODES candidates for one "
                                     "vector: the generator is too skewed or the dimension too high")
                mid = (a + b) // 2
                stack += [(mid, b), (a, mid)]
                continue
            out[a:b] = got
        return np.rint(out @ self.t.T).astype(np.int64)   # g_red z = g (t z)


def closest_point(x, generator) -> tuple[np.ndarray, np.ndarray]:
    """Exact nearest point of the lattice ``{G l}`` (``G`` = ``generator``, columns = basis) to each row of
    ``x`` [B, n]: ``(l int64 [B, n], points float64 [B, n])``. Ties are broken arbitrarily."""
    g = _check_generator(generator)
    x = check_batch(x, g.shape[0])
    coords = _Search(g).coords(x)
    return coords, coords @ g.T


def voronoi_dither(generator, size: int, rng=None) -> np.ndarray:
    """``size`` vectors [size, n] drawn exactly uniformly over the Voronoi cell of the lattice ``{G l}``:
    a point uniform over the fundamental parallelepiped minus its closest lattice point."""
    g = _check_generator(generator)
    size = _check_count(size, "size", 0, MAX_SAMPLES)
    u = _rng(rng).random((size, g.shape[0])) @ g.T
    if size == 0:
        return u
    return u - _Search(g).coords(u) @ g.T


def _nsm_from_errors(sq: np.ndarray, n: int, volume: float) -> tuple[float, float, float]:
    vals = sq / (n * volume ** (2.0 / n))
    mean = float(vals.mean())
    half = 1.96 * float(vals.std(ddof=1)) / math.sqrt(len(vals))
    return mean, mean - half, mean + half


def generator_nsm(generator, n_samples: int = 20000, rng=None) -> tuple[float, float, float]:
    """Monte Carlo normalised second moment ``(estimate, ci_low, ci_high)`` (95 %) of the lattice
    ``{G l}``: :math:`\\frac{1}{n}E\\|e\\|^2 / V^{2/n}` with ``e`` uniform over the Voronoi cell (exact
    closest point) and ``V = |det G|``."""
    g = _check_generator(generator)
    n_samples = _check_count(n_samples, "n_samples", 2, MAX_SAMPLES)
    e = voronoi_dither(g, n_samples, rng)
    return _nsm_from_errors(np.sum(e**2, axis=1), g.shape[0], abs(float(np.linalg.det(g))))


def basis_angle_deg(generator) -> float:
    """Angle (degrees, in [60, 90]) between the two basis vectors of a 2-D lattice after Lagrange-Gauss
    reduction: 60 for the hexagonal lattice A2, 90 for a rectangular one."""
    g = _check_generator(generator, max_dim=2)
    if g.shape[0] != 2:
        raise ValueError(f"basis_angle_deg takes a 2 x 2 generator, got {g.shape}")
    red, _ = lll_reduce(g, delta=0.999999)
    a, b = red[:, 0], red[:, 1]
    c = abs(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(min(c, 1.0))))


# ------------------------------------------------------------------------------------ eq. (5) in torch

class _CoordsConst(torch.autograd.Function):
    """Integer coordinates of the exact closest point; no gradient flows through them."""

    @staticmethod
    def forward(ctx, v, g):
        l, _ = closest_point(v.detach().double().cpu().numpy(), g.detach().double().cpu().numpy())
        return torch.as_tensor(l, dtype=v.dtype)

    @staticmethod
    def backward(ctx, grad):
        return None, None


def surrogate_quantize(x: torch.Tensor, generator: torch.Tensor, dither: torch.Tensor | None = None,
                       gamma: float = math.inf, rounding: str = "phi") -> torch.Tensor:
    r"""Lang et al. eq. (5): :math:`G\,r(G^{-1}\Pi_\gamma(x + d)) - d` for a batch ``x`` [B, n] (torch).

    ``rounding``: ``"phi"`` (eq. (7), the seed's surrogate), ``"round"`` (hard rounding in the
    inverse-lattice domain, the quantizer eq. (5) approximates; no gradient through the rounding) or
    ``"nearest"`` (the exact closest lattice point, integer coordinates held constant for the gradient)
    or ``"codebook"`` (the exact quantizer of eqs. (2)-(4): the nearest point of the ball codebook
    :math:`\mathcal L_\gamma` to ``x + d``, no projection; integer coordinates held constant).
    ``dither`` [B, n] or None (no dither). Differentiable in ``generator`` (and in ``x`` for ``"phi"``).
    """
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {', '.join(ROUNDINGS)}, got {rounding!r}")
    if not isinstance(x, torch.Tensor) or not isinstance(generator, torch.Tensor):
        raise ValueError("x and generator must be torch tensors")
    if generator.ndim != 2 or generator.shape[0] != generator.shape[1]:
        raise ValueError(f"generator must be square [n, n], got shape {tuple(generator.shape)}")
    n = generator.shape[0]
    if x.ndim != 2 or x.shape[1] != n:
        raise ValueError(f"x must be [B, {n}], got shape {tuple(x.shape)}")
    if dither is not None and dither.shape != x.shape:
        raise ValueError(f"dither must have the shape of x {tuple(x.shape)}, got {tuple(dither.shape)}")
    d = torch.zeros_like(x) if dither is None else dither
    v = overload_projection(x + d, gamma)
    if rounding == "codebook":
        if math.isinf(gamma):
            raise ValueError("rounding='codebook' needs a finite gamma (the ball radius of the codebook)")
        coords, pts = _ball_points(_check_generator(generator.detach().double().numpy()), gamma)
        idx = nearest_codeword((x + d).detach().double().numpy(), pts)
        return torch.as_tensor(coords[idx], dtype=x.dtype) @ generator.T - d
    if rounding == "nearest":
        q = _CoordsConst.apply(v, generator)
    else:
        y = torch.linalg.solve(generator, v.T).T          # G^{-1} v, row by row
        q = phi(y) if rounding == "phi" else torch.round(y)
    return q @ generator.T - d


# ----------------------------------------------------------------------------------- generator models

class GeneratorPrior(nn.Module):
    """The seed's deep prior: ``G`` = reshaped output of an MLP (fixed all-ones input, two hidden layers,
    LeakyReLU) -- or, with ``prior="direct"``, ``G`` itself as the parameter.

    Both start at ``I + init_scale * N(0, 1)`` (seeded; the MLP adds its output to the identity, with its last
    layer initialised to give that perturbation) so that the start is well conditioned and random.
    """

    def __init__(self, dim: int, prior: str = "mlp", hidden: int = 32, init_scale: float = 0.3, seed: int = 0):
        super().__init__()
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {', '.join(PRIORS)}, got {prior!r}")
        self.dim = _check_count(dim, "dim", 1, MAX_LATTICE_DIM)
        hidden = _check_count(hidden, "hidden", 1, 4096)
        self.prior = prior
        gen = torch.Generator().manual_seed(int(seed))
        start = torch.randn(dim, dim, generator=gen, dtype=torch.float64) * init_scale
        if prior == "direct":
            self.g = nn.Parameter(torch.eye(dim, dtype=torch.float64) + start)
        else:
            self.register_buffer("u", torch.ones(1, hidden, dtype=torch.float64))
            self.net = nn.Sequential(nn.Linear(hidden, hidden), nn.LeakyReLU(0.1),
                                     nn.Linear(hidden, hidden), nn.LeakyReLU(0.1),
                                     nn.Linear(hidden, dim * dim)).double()
            with torch.no_grad():
                for layer in self.net:
                    if isinstance(layer, nn.Linear):
                        w = torch.randn(layer.weight.shape, generator=gen, dtype=torch.float64)
                        layer.weight.copy_(w / math.sqrt(layer.in_features))
                        layer.bias.zero_()
                # last layer: output = start exactly at initialisation (least-squares fit of the bias)
                h = self.net[:-1](self.u)
                self.net[-1].bias.copy_(start.reshape(-1) - (h @ self.net[-1].weight.T).reshape(-1))

    def forward(self) -> torch.Tensor:
        """The generator matrix ``G`` the prior gives now (``[dim, dim]``, float64)."""
        if self.prior == "direct":
            return self.g
        return torch.eye(self.dim, dtype=torch.float64) + self.net(self.u).reshape(self.dim, self.dim)


def _fix_volume(m: torch.Tensor, volume: float) -> torch.Tensor:
    n = m.shape[0]
    det = torch.linalg.det(m)
    return m * (volume / det.abs().clamp_min(1e-300)) ** (1.0 / n)


def _ball_points(generator: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Every lattice point ``G l`` with ``||G l|| <= gamma``: ``(l int64 [M, n], points [M, n])``, sorted
    lexicographically by point (exact Fincke-Pohst enumeration around the origin, bounded)."""
    s = _Search(generator)
    r, n = s.r, s.n
    z = np.zeros((1, n))
    part = np.zeros(1)
    r2 = gamma**2 * (1 + 1e-12)
    for i in range(n - 1, -1, -1):
        c = -(z[:, i + 1:] @ r[i, i + 1:]) / r[i, i]
        half = np.sqrt(np.maximum(r2 - part, 0.0)) / r[i, i]
        lo, hi = np.ceil(c - half), np.floor(c + half)
        cnt = np.maximum(hi - lo + 1, 0).astype(np.int64)
        total = int(cnt.sum())
        if total > max(MAX_SEARCH_NODES, 4 * MAX_CODEWORDS):
            raise ValueError("enumerating the codebook needs too many candidates: lower gamma")
        rep = np.repeat(np.arange(len(cnt)), cnt)
        zi = lo[rep] + np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        part = part[rep] + (r[i, i] * (c[rep] - zi)) ** 2
        z = z[rep]
        z[:, i] = zi
    pts = z @ s.g_red.T
    keep = np.sum(pts**2, axis=1) <= r2
    pts, z = pts[keep], z[keep]
    if len(pts) > MAX_CODEWORDS:
        raise ValueError(f"the codebook would hold {len(pts)} points, more than MAX_CODEWORDS = {MAX_CODEWORDS}")
    order = np.lexsort(pts.T[::-1])
    coords = np.rint(z[order] @ s.t.T).astype(np.int64)
    return coords, coords @ s.g.T


# ---------------------------------------------------------------------------------- the fixed quantizer

def _nearest_point(q, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The nearest of ``q.codewords`` to each row of ``x`` and its reconstruction, with subtractive dither
    (``Q(x + d) - d``, ``d`` uniform over the Voronoi cell of ``q.generator``, drawn from ``q._rng``) when
    ``q.dither`` says so: the quantizer of both lattice codebooks here."""
    if q.dither == "subtractive":
        d = voronoi_dither(q.generator, len(x), q._rng)
        idx = nearest_codeword(x + d, q.codewords)
        return idx, q.codewords[idx] - d
    idx = nearest_codeword(x, q.codewords)
    return idx, q.codewords[idx].copy()


class LearnedLattice(VectorQuantizer):
    """A (learned) lattice quantizer, fixed: nearest point of :math:`\\mathcal L_\\gamma` (eq. (2)).

    Parameters
    ----------
    generator : array [n, n]
        ``G``, columns are the basis vectors (seed's eq. (1)); square and nonsingular.
    gamma : float
        Radius of the ball bounding the codebook :math:`\\{G l : \\|G l\\| \\le \\gamma\\}`. The
        codebook is enumerated exactly; its expected size ``vol(ball) / |det G|`` is checked against
        :data:`~hwsim.quantizers.base.MAX_CODEWORDS` before anything is allocated.
    dither : {"subtractive", "none"}
        Subtractive dither (eq. (3)): ``Q(x + d) - d`` with ``d`` uniform over the Voronoi cell, drawn
        from ``rng`` (the decoder shares the generator's state). ``"none"``: plain nearest point.
    rng : numpy Generator, int or None
        Source of the dither.
    history : list of float, optional
        Training losses (kept for reports).
    """

    def __init__(self, generator, gamma: float, dither: str = "subtractive", rng=None, history=None):
        self.generator = _check_generator(generator)
        self.dim = self.generator.shape[0]
        self.gamma = _check_positive(gamma, "gamma")
        if dither not in ("subtractive", "none"):
            raise ValueError(f"dither must be 'subtractive' or 'none', got {dither!r}")
        self.dither = dither
        self._rng = _rng(rng)
        self.history = list(history) if history is not None else []
        n = self.dim
        volume = abs(float(np.linalg.det(self.generator)))
        log_ball = n / 2 * math.log(math.pi) + n * math.log(self.gamma) - math.lgamma(n / 2 + 1)
        expected = math.exp(min(log_ball - math.log(volume), 700.0))
        if expected > MAX_CODEWORDS:
            raise ValueError(f"gamma {self.gamma} with this generator holds about {expected:.3g} lattice points, more "
                             f"than MAX_CODEWORDS = {MAX_CODEWORDS}: lower gamma or enlarge the cell")
        self.codewords = _ball_points(self.generator, self.gamma)[1]     # holds the origin at least

    @property
    def size(self) -> int:
        return len(self.codewords)

    @property
    def rate(self) -> float:
        return math.log2(self.size) / self.dim

    def quantize(self, x) -> tuple[np.ndarray, np.ndarray]:
        return _nearest_point(self, check_batch(x, self.dim))

    def overload_rate(self, x) -> float:
        """Fraction of ``x`` (no dither) whose nearest point of the unbounded lattice lies outside the ball."""
        x = check_batch(x, self.dim)
        _, pts = closest_point(x, self.generator)
        return float(np.mean(np.sum(pts**2, axis=1) > self.gamma**2 * (1 + 1e-12)))

    def nsm(self, n_samples: int = 20000, rng=None) -> tuple[float, float, float]:
        """Monte Carlo NSM (estimate, ci_low, ci_high) of the unbounded lattice, see :func:`generator_nsm`."""
        return generator_nsm(self.generator, n_samples, rng)

    def export(self) -> dict:
        return {"kind": "lattice", "dim": self.dim, "name": "learned (Lang et al.)",
                "generator": self.generator.T.tolist(),
                "generator_convention": "rows are basis vectors (points u @ generator); the seed's G is its transpose",
                "shaping": {"region": "ball", "radius": self.gamma, "codewords": self.size},
                "rate": self.rate, "dither": self.dither}

    def __repr__(self) -> str:
        return (f"LearnedLattice(dim={self.dim}, {self.size} codewords, rate={self.rate:.3g} bits/dim, "
                f"gamma={self.gamma:g})")


# ------------------------------------------------------------------------------------------- training

class LatticeTraining(NamedTuple):
    """What :func:`train_lattice` returns."""

    generator: np.ndarray
    history: list
    quantizer: "LearnedLattice | None"


def _training_data(data, dim: int | None) -> np.ndarray:
    """The training vectors [N, n] of a learned lattice, checked (``dim``: the dimension they must have)."""
    x_all = check_batch(data, dim, "data")
    if x_all.shape[1] > MAX_LATTICE_DIM:
        raise ValueError(f"data has dimension {x_all.shape[1]}, the learned lattice takes at most {MAX_LATTICE_DIM}")
    if len(x_all) < 1:
        raise ValueError("data must hold at least one vector")
    return x_all


def _descend(err, dim: int, opt, sched) -> float:
    """One step of both trainings: the loss of eq. (8) (mean squared error per dimension of the errors
    ``err`` [B, n]) minimised by ``opt``, the schedule stepped; returns the loss."""
    import torch

    loss = torch.mean(torch.sum(err**2, dim=1)) / dim
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
    return float(loss.detach())


def _optimizer(model, optimizer: str, lr: float, lr_decay: float, steps: int):
    """Adam or SGD on the generator's parameters, its rate decaying geometrically to ``lr * lr_decay``
    over ``steps`` steps: (optimizer, scheduler)."""
    import torch

    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=lr) if optimizer == "adam" else torch.optim.SGD(params, lr=lr)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda k: lr_decay ** (k / max(steps - 1, 1)))


def train_lattice(data=None, *, dim: int | None = None, volume: float = 1.0, gamma: float = math.inf,
                  rounding: str = "phi", prior: str = "mlp", optimizer: str = "adam", lr: float = 3e-3,
                  steps: int = 2000, batch: int = 256, dither: bool = True, seed: int = 0,
                  lr_decay: float = 0.1, init_scale: float = 0.3,
                  codebook_gamma: float | None = None) -> "LatticeTraining":
    r"""Learn a lattice generator by Algorithm 1 of Lang et al. (eqs. (5), (8)).

    The loop is :func:`hwsim.training.fit`, the steps in at most 20 epochs (:func:`hwsim.training.chunked`):
    inside :func:`hwsim.checkpoint.checkpointing` the state is saved after each and an interrupted training
    resumes to the same generator.

    Parameters
    ----------
    data : array [N, n] or None
        Training set. ``None``: the uniform-source limit (``x = G u``, ``u`` uniform in the unit cube,
        fresh every step; ``dim`` must be given, ``gamma`` must be infinite).
    dim : int
        Dimension when ``data`` is None (otherwise taken from ``data``).
    volume : float
        Fixed cell volume :math:`|\det G|`.
    gamma : float
        Overload support of eq. (6) used in training (``inf``: none).
    rounding : {"phi", "round", "nearest"}
        See :func:`surrogate_quantize`. ``"phi"`` is the seed's surrogate; ``"nearest"`` the exact
        closest point with the integer coordinates held constant (Agrell-Eriksson's gradient);
        ``"codebook"`` the exact bounded quantizer of eq. (4) (nearest point of the ball of radius gamma).
        ``"round"`` passes no gradient through the quantizer and is refused here.
    prior : {"mlp", "direct"}
        The seed's deep prior (:class:`GeneratorPrior`) or ``G`` learned directly.
    optimizer : {"adam", "sgd"}, lr : float
        Optimiser and its initial learning rate; the rate decays geometrically to ``lr * lr_decay``.
    steps, batch : int
        Mini-batch steps and batch size.
    dither : bool
        Subtractive dither uniform over the current Voronoi cell (exact) in every training batch
        (ignored for ``data=None``).
    seed : int
        Seeds the initial generator, the batches and the dither.
    codebook_gamma : float or None
        Ball radius of the returned quantizer's codebook (default: ``gamma`` when finite).

    Returns
    -------
    LatticeTraining
        ``generator`` (numpy [n, n], columns = basis, ``|det| = volume``), ``history`` (loss per step)
        and ``quantizer`` (a :class:`LearnedLattice` with the codebook of radius ``codebook_gamma``, or
        None when no finite radius is known).
    """
    import hashlib

    from ..checkpoint import TORCH_GLOBAL_RNG
    from ..training import Carried, Task, chunked, fit

    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {', '.join(ROUNDINGS)}, got {rounding!r}")
    if rounding == "round":
        raise ValueError("rounding='round' passes no gradient to the generator; train with 'phi' or 'nearest'")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    volume = _check_positive(volume, "volume")
    gamma = _check_positive(gamma, "gamma", allow_inf=True)
    lr = _check_positive(lr, "lr")
    lr_decay = _check_positive(lr_decay, "lr_decay")
    steps = _check_count(steps, "steps", 1, MAX_STEPS)
    batch = _check_count(batch, "batch", 1, 2**16)
    if data is None:
        if dim is None:
            raise ValueError("give dim when data is None (the uniform-source limit)")
        dim = _check_count(dim, "dim", 1, MAX_LATTICE_DIM)
        if not math.isinf(gamma) or rounding == "codebook":
            raise ValueError("the uniform-source limit (data=None) has no overload: gamma must be inf and "
                             "rounding 'phi' or 'nearest'")
        x_all = None
    else:
        x_all = _training_data(data, dim)
        dim = x_all.shape[1]
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = GeneratorPrior(dim, prior, init_scale=init_scale, seed=seed)
    opt, sched = _optimizer(model, optimizer, lr, lr_decay, steps)
    carried = Carried(order=None, pos=0)   # the shuffled training set and the next batch's place in it

    def step(epoch, i):
        g = _fix_volume(model(), volume)
        if x_all is None:
            u = torch.as_tensor(rng.random((batch, dim)))
            if rounding == "phi":
                q = phi(u)
            else:
                q = _CoordsConst.apply(u.detach() @ g.detach().T, g)
            err = (u - q) @ g.T                          # x - Q(x) with x = G u
        else:
            if carried.order is None or carried.pos + batch > len(x_all):
                carried.order, carried.pos = rng.permutation(len(x_all)), 0
            xb = torch.as_tensor(x_all[carried.order[carried.pos:carried.pos + batch]])
            carried.pos += batch
            d = torch.as_tensor(voronoi_dither(g.detach().numpy(), len(xb), rng)) if dither else None
            err = xb - surrogate_quantize(xb, g, d, gamma, rounding)
        return _descend(err, dim, opt, sched)

    key = {"data": None if x_all is None else hashlib.sha256(np.ascontiguousarray(x_all).tobytes()).hexdigest(),
           "dim": dim, "volume": volume, "gamma": gamma, "rounding": rounding, "prior": prior, "optimizer": optimizer,
           "lr": lr, "steps": steps, "batch": batch, "dither": dither, "seed": seed, "lr_decay": lr_decay,
           "init_scale": init_scale}
    tracked = {"opt": opt, "sched": sched, "data": rng, "batches": carried, "torch": TORCH_GLOBAL_RNG}
    epochs = chunked(steps)
    history = fit(Task(model, step, tracked=tracked), what=f"learned lattice ({rounding})", key=key,
                  epochs=len(epochs), steps=epochs).losses
    with torch.no_grad():
        g_final = _fix_volume(model(), volume).numpy().copy()
    radius = codebook_gamma if codebook_gamma is not None else (None if math.isinf(gamma) else gamma)
    quantizer = None if radius is None else LearnedLattice(g_final, radius, rng=rng, history=history)
    return LatticeTraining(g_final, history, quantizer)


# ------------------------------------------------------------------ fixed-rate training on the source

def fixed_rate_coordinates(dim: int, codewords: int) -> np.ndarray:
    """The ``codewords`` smallest-norm points of the coset :math:`(\\mathbb Z + \\tfrac12)^n` [M, n] (ties in
    norm broken first by a slightly unequal weight per axis, which leaves whole sign orbits tied, then by
    lexicographic order): the integer set of a fixed-rate lattice
    codebook :math:`\\{G l : l \\in I_M\\}` (:func:`train_source_lattice`). The coset, not
    :math:`\\mathbb Z^n`: an even number of points can be symmetric about the origin there."""
    dim = _check_count(dim, "dim", 1, MAX_LATTICE_DIM)
    codewords = _check_count(codewords, "codewords", 1, MAX_CODEWORDS)
    radius = (codewords * math.gamma(dim / 2 + 1) / math.pi ** (dim / 2)) ** (1 / dim)
    half = int(math.ceil(radius + 1.5))
    if (2 * half) ** dim > 2**20:
        raise ValueError(f"{codewords} codewords in {dim} dimensions: the enumeration box would hold "
                         f"{(2 * half) ** dim} points, more than 2**20")
    while True:
        axis = np.arange(-half, half) + 0.5
        pts = np.stack(np.meshgrid(*([axis] * dim), indexing="ij"), axis=-1).reshape(-1, dim)
        # the norm, ties between coordinate permutations broken by a slightly unequal weight per axis (every
        # difference of two norms of the coset is an even integer): what ties remains is whole sign orbits,
        # so the codebook is symmetric about the origin unless M cuts one; then lexicographic order
        norms = pts**2 @ (1 + 1e-6 * np.arange(1, dim + 1))
        order = np.lexsort(tuple(pts.T[::-1]) + (norms,))
        chosen = pts[order[:codewords]]
        if np.max(np.abs(chosen)) < half - 0.5 or len(pts) == codewords:   # the box held every candidate
            return chosen
        half += 1


class SourceLattice(FiniteQuantizer):
    """A fixed-rate lattice codebook :math:`\\{G l : l \\in I_M\\}` (``coordinates`` = :math:`I_M` [M, n],
    ``generator`` = ``G``, columns the basis): the nearest codeword, with or without subtractive dither
    (uniform over the Voronoi cell of ``G``, drawn from ``rng``). What :func:`train_source_lattice` returns."""

    def __init__(self, generator, coordinates, dither: str = "none", rng=None, history=None):
        self.generator = _check_generator(generator)
        self.dim = self.generator.shape[0]
        c = np.asarray(coordinates, dtype=np.float64)
        if c.ndim != 2 or c.shape[1] != self.dim or not 1 <= len(c) <= MAX_CODEWORDS:
            raise ValueError(f"coordinates must be [M, {self.dim}] with 1 <= M <= {MAX_CODEWORDS}, got {c.shape}")
        if dither not in ("subtractive", "none"):
            raise ValueError(f"dither must be 'subtractive' or 'none', got {dither!r}")
        self.coordinates, self.dither = c, dither
        self.codewords = c @ self.generator.T
        self._rng = _rng(rng)
        self.history = list(history) if history is not None else []

    def quantize(self, x) -> tuple[np.ndarray, np.ndarray]:
        return _nearest_point(self, check_batch(x, self.dim))

    def export(self) -> dict:
        return {"kind": "codebook", "dim": self.dim, "codewords": self.codewords.tolist(),
                "generator": self.generator.T.tolist(),
                "generator_convention": "rows are basis vectors (points u @ generator); the seed's G is its transpose",
                "coordinates": self.coordinates.tolist(), "dither": self.dither}

    def __repr__(self) -> str:
        return f"SourceLattice(dim={self.dim}, {self.size} codewords, rate={self.rate:.3g} bits/dim)"


def train_source_lattice(data, codewords: int, *, prior: str = "mlp", optimizer: str = "adam", lr: float = 1e-2,
                         steps: int = 600, batch: int = 256, dither: bool = True, seed: int = 0,
                         lr_decay: float = 0.1, init_scale: float = 0.3) -> LatticeTraining:
    r"""Learn a lattice generator from the source's samples ``data`` [N, n] at a fixed rate: Lang et al.'s
    objective, eqs. (4) and (8), the mean squared error of the subtractively dithered bounded quantizer,
    minimised over ``G`` by Algorithm 1 (mini-batches of ``data``, Adam or SGD, the deep prior).

    The codebook is :math:`\{G l : l \in I_M\}` with :math:`I_M` the ``codewords`` smallest points of
    :math:`(\mathbb Z + \frac12)^n` (:func:`fixed_rate_coordinates`): its size, hence the rate, is
    fixed whatever ``G`` becomes, so the cell volume (the scale) is learnt with the shape and the
    codebook's support follows ``G`` -- on a correlated source it stretches along the source's
    principal axes, which a ball :math:`\mathcal L_\gamma` of eq. (2) at a fixed volume cannot do.
    Overload is the bounded quantizer's own: an input beyond the support goes to its nearest
    codeword (the exact map that the projection :math:`\Pi_\gamma` of eq. (6) stands in for), and the
    loss counts it. The dither ``d`` is drawn exactly over the current Voronoi cell each batch
    (``dither=False``: none); the codeword index is held constant in the backward pass (the gradient of
    ``||x - (G l - d)||^2`` in ``G``), as with ``rounding="nearest"`` of :func:`train_lattice`.
    The start is ``G = s (I + init_scale N)`` with ``s`` spreading the codebook over about 2.5 times the
    data's RMS. The loop is :func:`hwsim.training.fit` (checkpointed like :func:`train_lattice`).

    Returns a :class:`LatticeTraining` whose ``quantizer`` is a :class:`SourceLattice` without dither
    (the fixed codebook, tested like every other quantizer of a study).
    """
    import hashlib

    from ..checkpoint import TORCH_GLOBAL_RNG
    from ..training import Carried, Task, chunked, fit

    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    lr = _check_positive(lr, "lr")
    lr_decay = _check_positive(lr_decay, "lr_decay")
    steps = _check_count(steps, "steps", 1, MAX_STEPS)
    batch = _check_count(batch, "batch", 1, 2**16)
    x_all = _training_data(data, None)
    dim = x_all.shape[1]
    coords = fixed_rate_coordinates(dim, codewords)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = GeneratorPrior(dim, prior, init_scale=init_scale, seed=seed)
    spread = float(np.sqrt(np.mean(x_all**2)))
    scale = 2.5 * max(spread, 1e-300) / float(np.sqrt(np.mean(np.sum(coords**2, axis=1)) / dim))
    opt, sched = _optimizer(model, optimizer, lr, lr_decay, steps)
    carried = Carried(order=None, pos=0)
    lt = torch.as_tensor(coords)

    def step(epoch, i):
        g = model() * scale
        if carried.order is None or carried.pos + batch > len(x_all):
            carried.order, carried.pos = rng.permutation(len(x_all)), 0
        xb = torch.as_tensor(x_all[carried.order[carried.pos:carried.pos + min(batch, len(x_all))]])
        carried.pos += batch
        gd = g.detach().numpy()
        d = torch.as_tensor(voronoi_dither(gd, len(xb), rng)) if dither else torch.zeros_like(xb)
        points = lt @ g.T
        idx = nearest_codeword((xb + d).numpy(), points.detach().numpy())
        err = xb - (points[idx] - d)
        return _descend(err, dim, opt, sched)

    key = {"data": hashlib.sha256(np.ascontiguousarray(x_all).tobytes()).hexdigest(), "codewords": int(codewords),
           "prior": prior, "optimizer": optimizer, "lr": lr, "steps": steps, "batch": batch, "dither": dither,
           "seed": seed, "lr_decay": lr_decay, "init_scale": init_scale, "objective": "fixed-rate source"}
    tracked = {"opt": opt, "sched": sched, "data": rng, "batches": carried, "torch": TORCH_GLOBAL_RNG}
    epochs = chunked(steps)
    history = fit(Task(model, step, tracked=tracked), what="learned lattice (source, fixed rate)", key=key,
                  epochs=len(epochs), steps=epochs).losses
    with torch.no_grad():
        g_final = (model() * scale).numpy().copy()
    return LatticeTraining(g_final, history, SourceLattice(g_final, coords, history=history))
