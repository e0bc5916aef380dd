r"""Trained vector quantizers in numpy (Vali, Ch. 2): k-means++, LBG, product, residual and additive VQ.

Everything here is plain numpy; the gradient-trained quantizers (torch) are in
:mod:`hwsim.quantizers.learned_vq`.

Notation: samples ``X`` [B, n], a codebook ``C`` [K, n], distortion = mean squared error per
dimension, :math:`D = \frac{1}{Bn}\sum_b \min_k \lVert x_b - c_k\rVert^2`.

- :func:`kmeans_pp`: k-means++ seeding (Vali Table 2.1): the first codeword uniform over the
  samples, each next one a sample drawn with probability :math:`L(x)^2 / \sum_x L(x)^2`, with
  :math:`L(x)` the distance of ``x`` to its nearest codeword so far.
- :func:`lbg`: the generalised Lloyd algorithm (Linde, Buzo and Gray, 1980): alternate the
  nearest-neighbour partition :math:`S_k = \{x : k = \arg\min_j \lVert x - c_j\rVert\}` and the
  centroid condition :math:`c_k = \frac{1}{|S_k|}\sum_{x\in S_k} x` (Vali eq. (3.7)). Both steps
  can only lower :math:`D`, so the history is non-increasing.
- :class:`ProductVQ` (Vali Sec. 2.7.2): split ``x`` into sub-vectors, one codebook each,
  :math:`\hat x = [C^1_{i_1}; \dots; C^M_{i_M}]`.
- :class:`ResidualVQ` (Sec. 2.7.1): stage ``m`` quantizes the residual of stages ``1..m-1``,
  :math:`\hat x = \sum_m C^m_{i_m}`, :math:`i_m = \arg\min_i \lVert r_{m-1} - C^m_i\rVert`, :math:`r_0 = x`.
- :class:`AdditiveVQ` (Sec. 2.7.3): :math:`\hat x = \sum_m C^m_{i_m}` with the index tuple found by
  beam search of width ``W`` over the union of the codebooks not yet used; trained by alternating
  the encoding with the least-squares codebook update
  :math:`\min_C \lVert X - A C\rVert_F^2`, ``A`` the [B, MK] 0/1 selection matrix.
- :func:`perplexity`, :func:`dead_codes`: codebook usage.

All multi-stage quantizers return indices [B, M] (column ``m`` indexes codebook ``m``).
"""

from __future__ import annotations

import math

import numpy as np

from .. import _checks
from .base import (CHUNK_VALUES, MAX_CODEWORDS, MAX_DIM, Codebook, VectorQuantizer, check_batch,
                   nearest_codeword)

#: Most samples a training call takes (bounds the memory of the partition and of the beam search).
MAX_SAMPLES = 2**22
#: Most codewords in all the codebooks of an additive VQ together (its least-squares update solves
#: a dense [MK, MK] system).
MAX_AVQ_CODEWORDS = 4096
#: Most stages (codebooks) of a product, residual or additive VQ.
MAX_STAGES = 16
#: Widest beam of the additive-VQ search.
MAX_BEAM = 64


# --------------------------------------------------------------------------------------------- checks

def _samples(samples, name: str = "samples") -> np.ndarray:
    x = check_batch(samples, None, name)
    if x.shape[0] > MAX_SAMPLES:
        raise ValueError(f"{name} has {x.shape[0]} vectors, at most {MAX_SAMPLES} are allowed")
    if not 1 <= x.shape[1] <= MAX_DIM:
        raise ValueError(f"{name} has vectors of dimension {x.shape[1]}, allowed 1..{MAX_DIM}")
    return x


def _count(name: str, codewords, n_samples: int | None = None) -> int:
    """A number of codewords in [1, MAX_CODEWORDS] (checked before anything is allocated) and, when
    ``n_samples`` is given, not more than the samples that train it."""
    k = _checks.integer(name, codewords, minimum=1)
    if k > MAX_CODEWORDS:
        raise ValueError(f"{name} = {k} is more than the limit of {MAX_CODEWORDS} codewords "
                         "(hwsim.quantizers.base.MAX_CODEWORDS)")
    if n_samples is not None and k > n_samples:
        raise ValueError(f"{name} = {k} codewords cannot be trained from {n_samples} samples "
                         "(need at least as many distinct samples as codewords)")
    return k


def _stage_counts(name: str, codewords, stages: int, n_samples: int) -> list[int]:
    if isinstance(codewords, (list, tuple)):
        if len(codewords) != stages:
            raise ValueError(f"{name} must give one size per stage ({stages}), got {len(codewords)}")
        return [_count(f"{name}[{i}]", k, n_samples) for i, k in enumerate(codewords)]
    k = _count(name, codewords, n_samples)
    return [k] * stages


def _stages(name: str, value) -> int:
    return _checks.integer(name, value, minimum=1, maximum=MAX_STAGES)


# ------------------------------------------------------------------------------------ usage metrics

def _indices(indices, size) -> tuple[np.ndarray, int]:
    size = _count("size", size)
    idx = np.asarray(indices)
    if idx.ndim not in (1, 2) or idx.shape[0] < 1:
        raise ValueError(f"indices must be [B] or [B, stages] with B >= 1, got shape {idx.shape}")
    if not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"indices must be integers, got dtype {idx.dtype}")
    if idx.min() < 0 or idx.max() >= size:
        raise ValueError(f"indices must lie in [0, {size}), got values in [{idx.min()}, {idx.max()}]")
    return idx.astype(np.int64), size


def perplexity(indices, size: int):
    r"""Perplexity of codebook usage, :math:`\exp(-\sum_k p_k \ln p_k)` with :math:`p_k` the share of
    ``indices`` equal to ``k``: ``size`` when every codeword is used equally often, 1 when one is used.

    Parameters
    ----------
    indices : int array [B] or [B, stages]
        Codeword indices in ``[0, size)``.
    size : int
        Codewords in the codebook (of each stage).

    Returns
    -------
    float for [B] indices, float64 array [stages] (one per column) for [B, stages].
    """
    idx, size = _indices(indices, size)
    cols = idx[:, None] if idx.ndim == 1 else idx
    out = np.empty(cols.shape[1])
    for j in range(cols.shape[1]):
        p = np.bincount(cols[:, j], minlength=size) / cols.shape[0]
        p = p[p > 0]
        out[j] = math.exp(-float(np.sum(p * np.log(p))))
    return float(out[0]) if idx.ndim == 1 else out


def dead_codes(indices, size: int):
    """Codewords that ``indices`` never uses.

    Returns
    -------
    int64 array of the unused codeword indices (sorted) for [B] indices; a list of such arrays (one
    per column) for [B, stages]. ``len(...)`` is the count.
    """
    idx, size = _indices(indices, size)
    cols = idx[:, None] if idx.ndim == 1 else idx
    out = [np.flatnonzero(np.bincount(cols[:, j], minlength=size) == 0).astype(np.int64)
           for j in range(cols.shape[1])]
    return out[0] if idx.ndim == 1 else out


# ------------------------------------------------------------------------------------- k-means++, LBG

def kmeans_pp(samples, codewords: int, rng: np.random.Generator) -> np.ndarray:
    r"""k-means++ seeding (Arthur and Vassilvitskii, 2007; Vali Table 2.1).

    The first codeword is a sample drawn uniformly; each next one is a sample drawn with probability
    :math:`L(x)^2 / \sum_{x} L(x)^2`, :math:`L(x)` the distance from ``x`` to its nearest codeword so
    far. Samples already chosen have :math:`L = 0`, so the seeds are distinct samples.

    Parameters
    ----------
    samples : array [B, n]
    codewords : int
        Seeds to pick, 1..min(B, MAX_CODEWORDS).
    rng : numpy.random.Generator

    Returns
    -------
    float64 array [codewords, n] of distinct samples.

    Raises
    ------
    ValueError
        NaN/inf samples, too many codewords, or fewer distinct samples than codewords.
    """
    x = _samples(samples)
    k = _count("codewords", codewords, x.shape[0])
    _checks.generator("rng", rng)
    chosen = np.empty(k, dtype=np.int64)
    chosen[0] = rng.integers(x.shape[0])
    d2 = np.sum((x - x[chosen[0]]) ** 2, axis=1)
    for j in range(1, k):
        total = d2.sum()
        if not total > 0:
            raise ValueError(f"samples hold only {j} distinct vectors, fewer than the {k} codewords asked for")
        # inverse-CDF draw; searchsorted on the running sum avoids renormalising a probability vector
        u = rng.random() * total
        c = int(np.searchsorted(np.cumsum(d2), u, side="right"))
        c = min(c, x.shape[0] - 1)
        while d2[c] == 0:        # u landed on the boundary of a zero-weight sample (rounding): step on
            c = (c + 1) % x.shape[0]
        chosen[j] = c
        np.minimum(d2, np.sum((x - x[c]) ** 2, axis=1), out=d2)
    return x[chosen].copy()


def _assign(x: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    idx = nearest_codeword(x, c)
    err = np.sum((x - c[idx]) ** 2, axis=1)
    return idx, err


def _lloyd(x: np.ndarray, c: np.ndarray, iters: int, tol: float) -> tuple[np.ndarray, list[float]]:
    """Lloyd iterations from codebook ``c`` (modified in place and returned) with the distortion history."""
    k, n = c.shape
    history: list[float] = []
    idx, err = _assign(x, c)
    history.append(float(err.mean() / n))
    for _ in range(iters):
        counts = np.bincount(idx, minlength=k)
        sums = np.zeros_like(c)
        np.add.at(sums, idx, x)
        used = counts > 0
        c[used] = sums[used] / counts[used, None]
        # Empty cells: split the cell with the largest total squared error by moving the empty
        # codeword onto that cell's worst-served sample (one per empty codeword). With the old
        # partition nothing is assigned to the moved codeword, so D cannot rise.
        empty = np.flatnonzero(~used)
        if empty.size:
            cell_err = np.bincount(idx, weights=err, minlength=k)
            taken = np.zeros(x.shape[0], dtype=bool)
            for e in empty:
                worst_cell = int(np.argmax(cell_err))
                members = np.flatnonzero((idx == worst_cell) & ~taken)
                if members.size == 0:
                    break
                far = members[np.argmax(np.sum((x[members] - c[worst_cell]) ** 2, axis=1))]
                c[e] = x[far]
                taken[far] = True
                cell_err[worst_cell] = 0.0       # split each cell at most once per iteration
        idx, err = _assign(x, c)
        d = float(err.mean() / n)
        prev = history[-1]
        history.append(d)
        if d == 0 or (prev - d) <= tol * prev:
            break
    return c, history


def lbg(samples, codewords: int, rng: np.random.Generator, *, iters: int = 100, tol: float = 1e-6,
        init=None) -> tuple[Codebook, np.ndarray]:
    r"""Train a codebook by the generalised Lloyd (LBG) algorithm from a k-means++ seeding.

    Each iteration applies the centroid condition :math:`c_k = \mathrm{mean}(S_k)` (Vali eq. (3.7))
    and re-partitions by nearest codeword; the distortion
    :math:`D_t = \frac{1}{Bn}\sum_b \min_k\lVert x_b - c_k\rVert^2` is non-increasing in ``t``.
    An empty cell is handled by splitting: its codeword is moved onto the sample farthest from its
    centroid in the cell of largest total squared error (which cannot raise :math:`D`).

    Parameters
    ----------
    samples : array [B, n]
        Training vectors (finite).
    codewords : int
        Codebook size K, 1..min(B, MAX_CODEWORDS) (checked before allocating).
    rng : numpy.random.Generator
        Drives the k-means++ seeding.
    iters : int
        Most Lloyd iterations.
    tol : float
        Stop when the relative drop :math:`(D_{t-1} - D_t)/D_{t-1}` is at most ``tol``.
    init : array [K, n], optional
        A starting codebook instead of k-means++.

    Returns
    -------
    (Codebook, history)
        ``history`` float64 [t + 1]: the distortion of the seeding, then after each iteration.
    """
    x = _samples(samples)
    k = _count("codewords", codewords, x.shape[0])
    iters = _checks.integer("iters", iters, minimum=0, maximum=100_000)
    tol = _checks.real("tol", tol, nonnegative=True)
    _checks.generator("rng", rng)
    if init is None:
        c = kmeans_pp(x, k, rng)
    else:
        c = check_batch(init, x.shape[1], "init").copy()
        if c.shape[0] != k:
            raise ValueError(f"init has {c.shape[0]} codewords, codewords = {k}")
    c, history = _lloyd(x, c, iters, tol)
    return Codebook(_distinct(c, x)), np.asarray(history)


def _distinct(c: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Break exact ties between codewords (possible only in degenerate data) by a tiny offset."""
    if len(np.unique(c, axis=0)) == len(c):
        return c
    scale = max(float(np.std(x)), 1e-300) * 1e-9
    _, first = np.unique(c, axis=0, return_index=True)
    dup = np.setdiff1d(np.arange(len(c)), first)
    c = c.copy()
    c[dup] += scale * (1 + np.arange(len(dup)))[:, None]
    return c


# ------------------------------------------------------------------------------------- product VQ

def _splits(dim: int, parts: int) -> list[int]:
    """Sub-vector sizes: ``dim`` split into ``parts`` contiguous blocks as equal as possible."""
    base, extra = divmod(dim, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


class ProductVQ(VectorQuantizer):
    r"""Product VQ: :math:`\hat x = [C^1_{i_1}; \dots; C^M_{i_M}]`, each sub-vector quantized by its own
    codebook (Vali Sec. 2.7.2). Rate :math:`\sum_m \log_2 K_m / n` bits per dimension.

    Parameters
    ----------
    codebooks : list of arrays [K_m, n_m] (or :class:`Codebook`)
        One per contiguous sub-vector; the sub-vector sizes add up to ``dim``.
    """

    def __init__(self, codebooks):
        if not isinstance(codebooks, (list, tuple)) or not 1 <= len(codebooks) <= MAX_STAGES:
            raise ValueError(f"codebooks must be a list of 1..{MAX_STAGES} codebooks")
        self.codebooks = [cb if isinstance(cb, Codebook) else Codebook(cb) for cb in codebooks]
        self.splits = [cb.dim for cb in self.codebooks]
        self.dim = int(sum(self.splits))
        if self.dim > MAX_DIM:
            raise ValueError(f"the sub-vectors add up to dimension {self.dim}, more than {MAX_DIM}")

    @property
    def rate(self) -> float:
        return sum(math.log2(cb.size) for cb in self.codebooks) / self.dim

    def quantize(self, x):
        x = check_batch(x, self.dim)
        idx = np.empty((x.shape[0], len(self.codebooks)), dtype=np.int64)
        out = np.empty_like(x)
        start = 0
        for m, cb in enumerate(self.codebooks):
            sl = slice(start, start + cb.dim)
            idx[:, m], out[:, sl] = cb.quantize(x[:, sl])
            start += cb.dim
        return idx, out

    def reconstruct(self, indices) -> np.ndarray:
        """Reconstructions [B, n] from indices [B, M]."""
        idx = _stage_indices(indices, [cb.size for cb in self.codebooks])
        return np.concatenate([cb.codewords[idx[:, m]] for m, cb in enumerate(self.codebooks)], axis=1)

    def export(self) -> dict:
        return {"kind": "product_vq", "dim": self.dim, "splits": list(self.splits),
                "codebooks": [cb.codewords.tolist() for cb in self.codebooks]}

    def __repr__(self) -> str:
        return f"ProductVQ(dim={self.dim}, splits={self.splits}, rate={self.rate:g})"


def train_pvq(samples, parts: int, codewords, rng: np.random.Generator, *, iters: int = 100,
              tol: float = 1e-6) -> ProductVQ:
    """Train a :class:`ProductVQ`: split the dimensions into ``parts`` contiguous blocks (as equal as
    possible) and train each block's codebook by :func:`lbg` on that block of the samples.

    ``codewords`` is one size for every block or a list with one size per block.
    """
    x = _samples(samples)
    parts = _stages("parts", parts)
    if parts > x.shape[1]:
        raise ValueError(f"parts = {parts} is more than the dimension {x.shape[1]} of the samples")
    ks = _stage_counts("codewords", codewords, parts, x.shape[0])
    books, start = [], 0
    for size, k in zip(_splits(x.shape[1], parts), ks):
        cb, _ = lbg(x[:, start:start + size], k, rng, iters=iters, tol=tol)
        books.append(cb)
        start += size
    return ProductVQ(books)


# ------------------------------------------------------------------------------------ residual VQ

def _stage_indices(indices, sizes: list[int]) -> np.ndarray:
    idx = np.asarray(indices)
    if idx.ndim != 2 or idx.shape[1] != len(sizes):
        raise ValueError(f"indices must be [B, {len(sizes)}], got shape {idx.shape}")
    if not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"indices must be integers, got dtype {idx.dtype}")
    if np.any(idx < 0) or np.any(idx >= np.asarray(sizes)[None, :]):
        raise ValueError(f"indices out of range for codebook sizes {sizes}")
    return idx.astype(np.int64)


class _SumVQ(VectorQuantizer):
    """Shared part of residual and additive VQ: :math:`\\hat x = \\sum_m C^m_{i_m}`."""

    kind = ""

    def __init__(self, codebooks):
        if not isinstance(codebooks, (list, tuple)) or not 1 <= len(codebooks) <= MAX_STAGES:
            raise ValueError(f"codebooks must be a list of 1..{MAX_STAGES} codebooks")
        self.codebooks = [cb if isinstance(cb, Codebook) else Codebook(cb) for cb in codebooks]
        dims = {cb.dim for cb in self.codebooks}
        if len(dims) != 1:
            raise ValueError(f"all codebooks must have the same dimension, got {sorted(dims)}")
        self.dim = dims.pop()

    @property
    def rate(self) -> float:
        return sum(math.log2(cb.size) for cb in self.codebooks) / self.dim

    def reconstruct(self, indices) -> np.ndarray:
        """:math:`\\sum_m C^m_{i_m}` [B, n] from indices [B, M]."""
        idx = _stage_indices(indices, [cb.size for cb in self.codebooks])
        out = np.zeros((idx.shape[0], self.dim))
        for m, cb in enumerate(self.codebooks):
            out += cb.codewords[idx[:, m]]
        return out

    def export(self) -> dict:
        return {"kind": self.kind, "dim": self.dim, "codebooks": [cb.codewords.tolist() for cb in self.codebooks]}

    def __repr__(self) -> str:
        extra = f", beam={self.beam}" if hasattr(self, "beam") else ""
        return f"{type(self).__name__}(dim={self.dim}, stages={len(self.codebooks)}, rate={self.rate:g}{extra})"


class ResidualVQ(_SumVQ):
    r"""Residual (multi-stage) VQ, Vali Sec. 2.7.1: :math:`r_0 = x`,
    :math:`i_m = \arg\min_i\lVert r_{m-1} - C^m_i\rVert`, :math:`r_m = r_{m-1} - C^m_{i_m}`,
    :math:`\hat x = \sum_m C^m_{i_m}`. Indices [B, M]."""

    kind = "residual_vq"

    def quantize(self, x):
        x = check_batch(x, self.dim)
        idx = np.empty((x.shape[0], len(self.codebooks)), dtype=np.int64)
        r = x.copy()
        for m, cb in enumerate(self.codebooks):
            idx[:, m] = nearest_codeword(r, cb.codewords)
            r -= cb.codewords[idx[:, m]]
        return idx, x - r


def train_rvq(samples, stages: int, codewords, rng: np.random.Generator, *, iters: int = 100,
              tol: float = 1e-6) -> ResidualVQ:
    """Train a :class:`ResidualVQ` stage by stage: stage ``m`` is an :func:`lbg` codebook of the
    residuals left by stages ``1..m-1`` (sequential design; no joint re-optimisation)."""
    x = _samples(samples)
    stages = _stages("stages", stages)
    ks = _stage_counts("codewords", codewords, stages, x.shape[0])
    r = x.copy()
    books = []
    for k in ks:
        cb, _ = lbg(r, k, rng, iters=iters, tol=tol)
        r -= cb.quantize(r)[1]
        books.append(cb)
    return ResidualVQ(books)


# ------------------------------------------------------------------------------------ additive VQ

class AdditiveVQ(_SumVQ):
    r"""Additive VQ, Vali Sec. 2.7.3: :math:`\hat x = \sum_m C^m_{i_m}` with
    :math:`(i_1..i_M) \approx \arg\min \lVert x - \sum_m C^m_{i_m}\rVert^2` found by beam search.

    Beam search (as the seed describes it): start from the empty tuple; at each of the ``M`` steps,
    extend every kept partial tuple by each codeword of each codebook it has not used yet, and keep
    the ``beam`` distinct partial tuples (distinct as sets of (codebook, index)) of smallest error
    :math:`\lVert x - \hat x_{\text{partial}}\rVert^2`. ``beam = 1`` is the greedy search.

    Parameters
    ----------
    codebooks : list of arrays [K_m, n]
    beam : int
        Beam width W, 1..MAX_BEAM.
    """

    kind = "additive_vq"

    def __init__(self, codebooks, beam: int = 4):
        super().__init__(codebooks)
        self.beam = _checks.integer("beam", beam, minimum=1, maximum=MAX_BEAM)
        total = sum(cb.size for cb in self.codebooks)
        if total > MAX_AVQ_CODEWORDS:
            raise ValueError(f"an additive VQ may hold at most {MAX_AVQ_CODEWORDS} codewords in all its "
                             f"codebooks, got {total}")

    def export(self) -> dict:
        doc = super().export()
        doc["beam"] = self.beam
        return doc

    def quantize(self, x, beam: int | None = None):
        """Beam-search encoding (width ``beam``, default ``self.beam``): (indices [B, M], x_hat [B, n])."""
        x = check_batch(x, self.dim)
        w = self.beam if beam is None else _checks.integer("beam", beam, minimum=1, maximum=MAX_BEAM)
        idx = np.empty((x.shape[0], len(self.codebooks)), dtype=np.int64)
        allc = np.concatenate([cb.codewords for cb in self.codebooks])          # [Kt, n]
        book = np.concatenate([np.full(cb.size, m) for m, cb in enumerate(self.codebooks)])
        local = np.concatenate([np.arange(cb.size) for cb in self.codebooks])
        kt = allc.shape[0]
        step = max(1, CHUNK_VALUES // (w * kt))
        for i in range(0, x.shape[0], step):
            idx[i:i + step] = self._beam_search(x[i:i + step], allc, book, local, w)
        return idx, self.reconstruct(idx)

    def _beam_search(self, x, allc, book, local, w):
        b, n = x.shape
        m_books = len(self.codebooks)
        kt = allc.shape[0]
        cn = np.einsum("ij,ij->i", allc, allc)
        # random 64-bit weights per global codeword: a set's key is the (wrapping) sum of its weights
        keyw = np.random.default_rng(12345).integers(1, 2**62, size=kt, dtype=np.int64).astype(np.uint64)
        sel = np.full((b, 1, m_books), -1, dtype=np.int64)     # chosen local index per codebook
        s = np.zeros((b, 1, n))                                # partial sums
        keys = np.zeros((b, 1), dtype=np.uint64)
        rows = np.arange(b)[:, None]
        for _ in range(m_books):
            nb = s.shape[1]
            r = x[:, None, :] - s                                              # [b, nb, n]
            # ||r - c||^2 = ||r||^2 - 2 r.c + ||c||^2
            err = np.einsum("ijk,ijk->ij", r, r)[:, :, None] - 2 * r @ allc.T + cn[None, None, :]
            used = sel[:, :, book] >= 0                                       # [b, nb, kt]
            err[used] = np.inf
            flat = err.reshape(b, nb * kt)
            cand = min(flat.shape[1], w * m_books)       # a set appears at most M times (once per order)
            part = np.argpartition(flat, cand - 1, axis=1)[:, :cand] if cand < flat.shape[1] else \
                np.broadcast_to(np.arange(flat.shape[1]), (b, flat.shape[1]))
            order = np.take_along_axis(flat, part, 1).argsort(axis=1, kind="stable")
            part = np.take_along_axis(part, order, 1)                         # sorted candidates
            cerr = np.take_along_axis(flat, part, 1)
            parent, code = np.divmod(part, kt)
            ckey = keys[rows, parent] + keyw[code]
            # keep the first occurrence of each key, then the best w of those
            dup = np.zeros_like(cerr, dtype=bool)
            for j in range(1, cand):
                dup[:, j] = np.any(ckey[:, :j] == ckey[:, j:j + 1], axis=1)
            dup |= ~np.isfinite(cerr)
            rank = np.where(dup, np.inf, np.arange(cand)[None, :])
            keep = np.argsort(rank, axis=1, kind="stable")[:, :min(w, cand)]
            valid = np.isfinite(np.take_along_axis(rank, keep, 1))
            keep = np.where(valid, keep, keep[:, :1])                        # pad with the best one
            p = np.take_along_axis(parent, keep, 1)
            c = np.take_along_axis(code, keep, 1)
            sel = sel[rows, p].copy()
            sel[rows, np.arange(keep.shape[1])[None, :], book[c]] = local[c]
            s = s[rows, p] + allc[c]
            keys = np.take_along_axis(ckey, keep, 1)
        final = np.einsum("ijk,ijk->ij", x[:, None, :] - s, x[:, None, :] - s)
        best = np.argmin(final, axis=1)
        return sel[np.arange(b), best]


def train_avq(samples, stages: int, codewords, rng: np.random.Generator, *, beam: int = 4,
              iters: int = 10, ridge: float = 1e-9) -> tuple[AdditiveVQ, np.ndarray]:
    r"""Train an :class:`AdditiveVQ`: start from the residual VQ of :func:`train_rvq`, then alternate

    1. encoding every sample by beam search, and
    2. the least-squares codebook update :math:`C = \arg\min_C \lVert X - A C\rVert_F^2 +
       \lambda\lVert C - C_{\text{old}}\rVert_F^2` with ``A`` [B, MK] the 0/1 matrix selecting one
       codeword per codebook, i.e. :math:`(A^T A + \lambda I) C = A^T X + \lambda C_{\text{old}}`
       (``ridge`` :math:`\lambda` keeps unused codewords where they were and makes the system solvable),

    keeping the best codebooks seen (beam search is not exact, so the distortion need not fall every
    round). The mean of the data is carried by the first codebook.

    Returns
    -------
    (AdditiveVQ, history)
        ``history``: distortion per dimension after the RVQ start and after each round.
    """
    x = _samples(samples)
    stages = _stages("stages", stages)
    ks = _stage_counts("codewords", codewords, stages, MAX_CODEWORDS)
    if sum(ks) > MAX_AVQ_CODEWORDS:
        raise ValueError(f"an additive VQ may hold at most {MAX_AVQ_CODEWORDS} codewords in all, got {sum(ks)}")
    ks = _stage_counts("codewords", codewords, stages, x.shape[0])
    iters = _checks.integer("iters", iters, minimum=0, maximum=1000)
    ridge = _checks.real("ridge", ridge, positive=True)
    rvq = train_rvq(x, stages, ks, rng)
    avq = AdditiveVQ([cb.codewords for cb in rvq.codebooks], beam=beam)
    idx, xh = avq.quantize(x)
    best = (float(np.mean((x - xh) ** 2)), avq)
    history = [best[0]]
    offsets = np.concatenate([[0], np.cumsum(ks)[:-1]])
    kt = sum(ks)
    for _ in range(iters):
        g = idx + offsets[None, :]                                   # global codeword index [B, M]
        ata = np.zeros((kt, kt))
        for a in range(stages):
            for c in range(stages):
                np.add.at(ata, (g[:, a], g[:, c]), 1.0)
        atx = np.zeros((kt, x.shape[1]))
        for a in range(stages):
            np.add.at(atx, g[:, a], x)
        old = np.concatenate([cb.codewords for cb in avq.codebooks])
        lam = ridge * max(1.0, float(np.trace(ata)) / kt)
        new = np.linalg.solve(ata + lam * np.eye(kt), atx + lam * old)
        books = [_distinct(new[o:o + k], x) for o, k in zip(offsets, ks)]
        avq = AdditiveVQ(books, beam=beam)
        idx, xh = avq.quantize(x)
        d = float(np.mean((x - xh) ** 2))
        history.append(d)
        if d < best[0]:
            best = (d, avq)
    return best[1], np.asarray(history)


# ------------------------------------------------------------------------------------ import

def vq_from_dict(doc: dict) -> VectorQuantizer:
    """Rebuild a quantizer from the ``export()`` of :class:`Codebook`, :class:`ProductVQ`,
    :class:`ResidualVQ`, :class:`AdditiveVQ` or :class:`~hwsim.quantizers.learned_vq.FSQ` (the last
    imports torch)."""
    if not isinstance(doc, dict) or "kind" not in doc:
        raise ValueError("doc must be a dict with a 'kind' (an export() result)")
    kind = doc["kind"]
    if kind == "codebook":
        q = Codebook(doc["codewords"])
    elif kind == "product_vq":
        q = ProductVQ(doc["codebooks"])
    elif kind == "residual_vq":
        q = ResidualVQ(doc["codebooks"])
    elif kind == "additive_vq":
        q = AdditiveVQ(doc["codebooks"], beam=doc.get("beam", 4))
    elif kind == "fsq":
        from .learned_vq import FSQ          # torch only when asked for
        q = FSQ(doc["levels"], scale=doc.get("scale", 1.0))
    else:
        raise ValueError(f"unknown quantizer kind {kind!r}; allowed: codebook, product_vq, residual_vq, "
                         "additive_vq, fsq")
    if "dim" in doc and doc["dim"] != q.dim:
        raise ValueError(f"doc says dim {doc['dim']} but its codebooks have dimension {q.dim}")
    return q
