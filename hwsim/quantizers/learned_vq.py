r"""Gradient estimators for a VQ layer inside a network (Vali Ch. 3 and 5), FSQ, SFVQ, and a trainer.

This module imports torch; nothing else in :mod:`hwsim.quantizers` imports it at module level.

Notation: input ``x`` [B, n], codebook ``C`` [K, n], nearest index
:math:`i^*(x) = \arg\min_k\lVert x - C_k\rVert^2`, hard reconstruction :math:`q = C_{i^*}`,
``sg`` = stop-gradient (``.detach()``).

- :func:`ste_vq`: straight-through estimator with the VQ-VAE loss (van den Oord et al., 2017; Vali
  eq. (3.5)): forward :math:`x + \mathrm{sg}(q - x) = q`, backward :math:`\partial q/\partial x = I`;
  loss :math:`\lVert \mathrm{sg}(x) - q\rVert^2 + \beta\lVert x - \mathrm{sg}(q)\rVert^2`.
- :class:`EMACodebook`: EMA codebook (Vali eqs. (3.6)-(3.8)):
  :math:`M_k \leftarrow \gamma M_k + (1-\gamma) N_k`,
  :math:`Y_k \leftarrow \gamma Y_k + (1-\gamma)\sum_{j: i^*_j = k} x_j`,
  :math:`C_k = Y_k / M_k` (with Laplace smoothing of :math:`M` so an unused codeword never divides by 0).
- :func:`nsvq`: noise substitution (Vali Publication II):
  :math:`\hat x' = x + \lVert x - q\rVert\, v/\lVert v\rVert`, :math:`v\sim N(0, I)`; gradients reach
  ``x`` (identity) and the selected codeword (through :math:`\lVert x - q\rVert`).
- :func:`gumbel_vq`: Gumbel-softmax (Vali eq. (3.10)) over logits :math:`-\lVert x - C_k\rVert^2`,
  straight-through hard one-hot in the forward pass.
- :func:`rotation_vq`: the rotation trick (Fifty et al., 2024): forward value ``q``, but
  :math:`\tilde q = \mathrm{sg}(\lambda R)\,x` with :math:`\lambda = \lVert q\rVert/\lVert x\rVert` and
  ``R`` the rotation taking :math:`\hat x = x/\lVert x\rVert` to :math:`\hat q = q/\lVert q\rVert`,
  :math:`R = I - 2 r r^T + 2 \hat q \hat x^T`, :math:`r = (\hat x + \hat q)/\lVert\hat x + \hat q\rVert`;
  the gradient to ``x`` is :math:`\lambda R^T g`. The codebook is trained with the VQ-VAE codebook term.
- :class:`FSQ` / :func:`fsq_round`: finite scalar quantization (Mentzer et al., 2023).
- :func:`sfvq_points` / :func:`sfvq`: space-filling VQ (Vali Publication IV).
- :func:`replace_dead_codes`: codebook replacement of codewords unused for a number of batches.
- :func:`train_vq`: learns a codebook for the MSE of a source with one of the estimators.
- :func:`train_autoencoder_vq`: an MLP encoder, a codebook and an MLP decoder trained together for the
  reconstruction MSE, the codebook by NSVQ, STE or EMA from the same start (``scripts/nsvq_claims.py``).
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch

from .. import _checks
from .base import MAX_DIM, Codebook, VectorQuantizer, check_batch
from .vq import _count, _distinct, _samples, kmeans_pp

#: Codebook training rules of :func:`train_vq` (the module text describes each).
METHODS = ("ste", "ema", "nsvq", "gumbel", "rotation", "sfvq")
#: Most batch-row x codeword distances one training step of :func:`train_vq` may hold.
MAX_BATCH_DISTANCES = 2**24


def nearest(x: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index [B] of the nearest codeword of each row of ``x`` (no gradient)."""
    with torch.no_grad():
        d = (codebook * codebook).sum(1)[None, :] - 2.0 * x @ codebook.T
        return d.argmin(1)


# ---------------------------------------------------------------------------------- estimators

def ste_vq(x: torch.Tensor, codebook: torch.Tensor, beta: float = 0.25):
    r"""Straight-through VQ with the VQ-VAE loss.

    Returns
    -------
    (x_q, loss, idx)
        ``x_q = x + sg(q - x)`` (value ``q``, gradient identity to ``x``);
        ``loss = mean ||sg(x) - q||^2 + beta * mean ||x - sg(q)||^2`` (codebook and commitment terms,
        per dimension); ``idx`` [B].
    """
    idx = nearest(x, codebook)
    q = codebook[idx]
    loss = ((x.detach() - q) ** 2).mean() + beta * ((x - q.detach()) ** 2).mean()
    return x + (q - x).detach(), loss, idx


def nsvq(x: torch.Tensor, codebook: torch.Tensor, generator: torch.Generator | None = None):
    r"""Noise-substitution VQ: :math:`\hat x' = x + \lVert x - q\rVert\, v / \lVert v\rVert`, :math:`v \sim N(0, I)`.

    The error vector is replaced by a random direction of the same length, so
    :math:`\lVert x - \hat x'\rVert = \lVert x - q\rVert` and the selected codeword receives the gradient of
    that length. Returns ``(x_hat_prime, idx)``.
    """
    idx = nearest(x, codebook)
    q = codebook[idx]
    v = torch.randn(x.shape, generator=generator, dtype=x.dtype)
    err = torch.linalg.vector_norm(x - q, dim=1, keepdim=True)
    return x + err * v / torch.linalg.vector_norm(v, dim=1, keepdim=True).clamp_min(1e-12), idx


def gumbel_vq(x: torch.Tensor, codebook: torch.Tensor, tau: float = 1.0,
              generator: torch.Generator | None = None):
    r"""Gumbel-softmax VQ (Vali eqs. (3.9)-(3.10)) with logits :math:`\log\pi_k = -\lVert x - C_k\rVert^2`:
    :math:`y = \mathrm{softmax}((\log\pi + g)/\tau)`, :math:`g = -\log(-\log u)`; the forward pass uses the
    one-hot of :math:`\arg\max y` (straight-through), so the output is a codeword (the sampled one, which
    is the nearest as :math:`\tau` and the noise matter less). Returns ``(x_q, idx)``.
    """
    logits = 2.0 * x @ codebook.T - (x * x).sum(1, keepdim=True) - (codebook * codebook).sum(1)[None, :]
    u = torch.rand(logits.shape, generator=generator, dtype=x.dtype).clamp(1e-12, 1 - 1e-12)
    y = torch.softmax((logits - torch.log(-torch.log(u))) / tau, dim=1)
    idx = y.argmax(1)
    hard = torch.nn.functional.one_hot(idx, codebook.shape[0]).to(x.dtype)
    w = hard + y - y.detach()
    return w @ codebook, idx


def rotation_vq(x: torch.Tensor, codebook: torch.Tensor, beta: float = 0.25):
    r"""Rotation trick (Fifty et al., 2024): output value ``q``, gradient to ``x`` through
    :math:`\mathrm{sg}(\lambda R)`, :math:`\lambda = \lVert q\rVert/\lVert x\rVert`,
    :math:`R = I - 2rr^T + 2\hat q\hat x^T` (applied without forming ``R``:
    :math:`Rx = x - 2r(r^Tx) + 2\hat q(\hat x^Tx)`).

    Returns ``(x_q, loss, idx)`` with the VQ-VAE codebook + commitment ``loss`` as in :func:`ste_vq`
    (the codebook is not reached through ``x_q``).
    """
    idx = nearest(x, codebook)
    q = codebook[idx]
    eps = 1e-12
    with torch.no_grad():
        xn = torch.linalg.vector_norm(x, dim=1, keepdim=True).clamp_min(eps)
        qn = torch.linalg.vector_norm(q, dim=1, keepdim=True).clamp_min(eps)
        xh, qh = x / xn, q / qn
        r = xh + qh
        r = r / torch.linalg.vector_norm(r, dim=1, keepdim=True).clamp_min(eps)
        lam = qn / xn
    rx = x - 2 * r * (r * x).sum(1, keepdim=True) + 2 * qh * (xh * x).sum(1, keepdim=True)
    out = lam * rx
    out = out + (q - out).detach()      # exact forward value q even where x = 0 or x = -q (rounding)
    loss = ((x.detach() - q) ** 2).mean() + beta * ((x - q.detach()) ** 2).mean()
    return out, loss, idx


class EMACodebook:
    r"""EMA codebook, Vali eqs. (3.6)-(3.8).

    With :math:`N_k` the count and :math:`\sum_j z_j` the sum of the batch vectors nearest codeword ``k``:
    :math:`M_k \leftarrow \gamma M_k + (1-\gamma)N_k`, :math:`Y_k \leftarrow \gamma Y_k + (1-\gamma)\sum_j z_j`,
    :math:`C_k = Y_k / \tilde M_k` with Laplace-smoothed
    :math:`\tilde M_k = (M_k + \epsilon)\,\sum_l M_l / (\sum_l M_l + K\epsilon)`.

    Parameters
    ----------
    codebook : tensor [K, n]
        Initial codewords (also the initial :math:`Y`, with :math:`M = 1`).
    gamma : float
        Smoothing factor in (0, 1).
    """

    def __init__(self, codebook: torch.Tensor, gamma: float = 0.99, eps: float = 1e-5):
        gamma = _checks.real("gamma", gamma)
        if not 0 < gamma < 1:
            raise ValueError(f"gamma must be in (0, 1), got {gamma}")
        self.gamma, self.eps = gamma, _checks.real("eps", eps, positive=True)
        self.codebook = codebook.detach().clone()
        self.m = torch.ones(codebook.shape[0], dtype=codebook.dtype)
        self.y = self.codebook.clone()

    @torch.no_grad()
    def update(self, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """One EMA step from batch ``x`` [B, n] with assignments ``idx`` [B]; returns the new codebook."""
        k = self.codebook.shape[0]
        counts = torch.bincount(idx, minlength=k).to(x.dtype)
        sums = torch.zeros_like(self.y).index_add_(0, idx, x.detach())
        self.m.mul_(self.gamma).add_((1 - self.gamma) * counts)
        self.y.mul_(self.gamma).add_((1 - self.gamma) * sums)
        total = self.m.sum()
        m = (self.m + self.eps) / (total + k * self.eps) * total
        self.codebook = self.y / m[:, None]
        return self.codebook

    @torch.no_grad()
    def reset(self, k: int, value: torch.Tensor) -> None:
        """Put codeword ``k`` at ``value`` (dead-code replacement) with unit weight."""
        self.y[k] = value
        self.m[k] = 1.0
        self.codebook[k] = value

    def state_dict(self) -> dict:
        """The running sums and the codebook (for a resumable training, :mod:`hwsim.checkpoint`)."""
        return {"m": self.m, "y": self.y, "codebook": self.codebook}

    def load_state_dict(self, state: dict) -> None:
        self.m, self.y, self.codebook = (state[k].clone() for k in ("m", "y", "codebook"))


@torch.no_grad()
def replace_dead_codes(codebook: torch.Tensor, unused_for: torch.Tensor, x: torch.Tensor, patience: int,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Codebook replacement (Vali Publication II): every codeword unused for ``patience`` batches
    or more (``unused_for`` [K], batches since last use) is moved onto a random vector of the current
    batch ``x``; its counter is reset. Returns the indices replaced (modifies ``codebook`` and
    ``unused_for`` in place)."""
    dead = torch.nonzero(unused_for >= patience).flatten()
    if dead.numel():
        pick = torch.randint(0, x.shape[0], (dead.numel(),), generator=generator)
        codebook[dead] = x[pick].detach().to(codebook.dtype)
        unused_for[dead] = 0
    return dead


# ---------------------------------------------------------------------------------- SFVQ

def sfvq_points(codebook: torch.Tensor, interp: int) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Points of the space-filling VQ curve: the corner points (codewords, in order) and ``interp``
    evenly spaced interior points on each segment,
    :math:`C_i + \frac{j}{\text{interp}+1}(C_{i+1} - C_i)`, :math:`j = 1..\text{interp}`.

    Returns ``(points [(K-1)(interp+1)+1, n], position [..])`` where ``position`` is the curve
    parameter :math:`t = i + j/(\text{interp}+1)` (so integer ``t`` is codeword ``t``). Differentiable in
    ``codebook``.
    """
    interp = _checks.integer("interp", interp, minimum=0, maximum=1024)
    k = codebook.shape[0]
    if k < 2:
        return codebook, torch.zeros(1, dtype=codebook.dtype)
    lam = torch.arange(interp + 1, dtype=codebook.dtype) / (interp + 1)          # [J]
    seg = codebook[:-1, None, :] + lam[None, :, None] * (codebook[1:] - codebook[:-1])[:, None, :]
    pts = torch.cat([seg.reshape(-1, codebook.shape[1]), codebook[-1:]])
    pos = torch.cat([(torch.arange(k - 1, dtype=codebook.dtype)[:, None] + lam[None, :]).reshape(-1),
                     torch.tensor([k - 1.0], dtype=codebook.dtype)])
    return pts, pos


def sfvq(x: torch.Tensor, codebook: torch.Tensor, interp: int = 3, generator: torch.Generator | None = None):
    """Space-filling VQ (Vali Publication IV): quantize ``x`` to the nearest point of the
    piecewise-linear curve through the codewords among its corner points and the ``interp``
    interpolated points per segment (:func:`sfvq_points`), with the NSVQ substitution for gradients.

    Returns ``(x_hat_prime, position)``: the NSVQ output and the curve position ``t`` [B] of the chosen
    point."""
    pts, pos = sfvq_points(codebook, interp)
    out, idx = nsvq(x, pts, generator)
    return out, pos[idx]


# ---------------------------------------------------------------------------------- FSQ

def _fsq_bound(z, levels, eps=1e-3):
    r"""Mentzer et al.'s bounding: :math:`f(z) = h\tanh(z + s) - o` with :math:`h = (L-1)(1-\epsilon)/2`,
    :math:`o = 1/2` for even ``L`` (0 for odd), :math:`s = \operatorname{atanh}(o/h)`; rounding ``f(z)``
    gives an integer in a set of ``L`` values."""
    lv = np.asarray(levels, dtype=np.float64)
    half = (lv - 1) * (1 - eps) / 2
    offset = np.where(lv % 2 == 0, 0.5, 0.0)
    shift = np.arctanh(offset / half)
    if isinstance(z, torch.Tensor):
        half, offset, shift = (torch.as_tensor(a, dtype=z.dtype) for a in (half, offset, shift))
        return half * torch.tanh(z + shift) - offset
    return half * np.tanh(z + shift) - offset


def fsq_round(z: torch.Tensor, levels) -> torch.Tensor:
    r"""Finite scalar quantization in a network (Mentzer et al., 2023): bound each dimension
    (:func:`_fsq_bound`), round with a straight-through gradient, and normalise by :math:`\lfloor L/2\rfloor`,
    so dimension ``d`` takes ``levels[d]`` values in [-1, 1]."""
    b = _fsq_bound(z, levels)
    r = b + (torch.round(b) - b).detach()
    half_width = torch.as_tensor([lv // 2 for lv in levels], dtype=z.dtype)
    return r / half_width


class FSQ(VectorQuantizer):
    r"""Finite scalar quantization as a converter bank: per dimension ``d``, ``levels[d]`` (>= 3) values.

    The code of ``x`` is :math:`k_d = \mathrm{round}(f_d(x_d/s)) + \lfloor L_d/2 \rfloor` (``f`` the tanh
    bounding of :func:`_fsq_bound`, ``s = scale``), and the reconstruction is Mentzer et al.'s normalised
    grid :math:`\hat x_d = s\,(k_d - \lfloor L_d/2\rfloor)/\lfloor L_d/2\rfloor` (for even :math:`L` it is
    one-sided, e.g. :math:`L = 4`: :math:`s\{-1, -1/2, 0, 1/2\}`, matching the shifted thresholds):
    uniform levels with thresholds at :math:`s\,(\operatorname{atanh}((j + 1/2 + o)/h) - \text{shift})`,
    a scalar ADC bank with tanh-warped thresholds. Indices [B] combine the per-dimension codes in mixed
    radix (first dimension most significant).
    Rate :math:`\sum_d \log_2 L_d / n`.
    """

    def __init__(self, levels, scale: float = 1.0):
        lv = list(levels) if isinstance(levels, (list, tuple, np.ndarray)) else None
        if not lv or not 1 <= len(lv) <= MAX_DIM:
            raise ValueError(f"levels must be a list of 1..{MAX_DIM} per-dimension level counts")
        # L = 2 is refused: the even-L shift atanh(o / h) needs o = 1/2 < h = (L - 1)(1 - eps)/2
        self.levels = [_checks.integer(f"levels[{i}]", v, minimum=3, maximum=2**16) for i, v in enumerate(lv)]
        if sum(math.log2(v) for v in self.levels) > 62:
            raise ValueError("levels give more than 2^62 codes; indices would not fit in int64")
        self.scale = _checks.real("scale", scale, positive=True)
        self.dim = len(self.levels)

    @property
    def rate(self) -> float:
        return sum(math.log2(v) for v in self.levels) / self.dim

    def quantize(self, x):
        x = check_batch(x, self.dim)
        lv = np.asarray(self.levels, float)
        half_width = np.floor(lv / 2)
        k = np.clip(np.round(_fsq_bound(x / self.scale, lv)) + half_width, 0, lv - 1).astype(np.int64)
        radix = np.cumprod([1] + self.levels[:0:-1])[::-1].astype(np.int64)
        return k @ radix, self.scale * (k - half_width) / half_width

    def export(self) -> dict:
        return {"kind": "fsq", "dim": self.dim, "levels": list(self.levels), "scale": self.scale}


# ---------------------------------------------------------------------------------- trainer

@contextlib.contextmanager
def _one_thread():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def train_vq(samples, codewords: int, method: str, rng: np.random.Generator, *, steps: int = 2000,
             batch: int = 256, lr: float = 0.05, beta: float = 0.25, gamma: float = 0.99, tau: float = 0.5,
             interp: int = 3, patience: int = 50, init: str = "kmeans++") -> tuple[Codebook, np.ndarray]:
    r"""Learn a codebook for the MSE of a source with a VQ gradient estimator.

    Each step draws a batch of ``samples`` and updates the codebook ``C``:

    - ``"ste"``: Adam on the VQ-VAE loss of :func:`ste_vq` plus the reconstruction
      :math:`\lVert x - x_q\rVert^2` (the reconstruction does not reach ``C`` through the STE; here the
      source has no encoder, so ``C`` learns from the codebook term :math:`\lVert\mathrm{sg}(x) - q\rVert^2`);
    - ``"rotation"``: the same with :func:`rotation_vq` (rotation trick for the path to ``x``);
    - ``"ema"``: :class:`EMACodebook` updates (eq. (3.8)), no optimizer;
    - ``"nsvq"``: Adam on :math:`\lVert x - \hat x'\rVert^2` of :func:`nsvq`;
    - ``"gumbel"``: Adam on :math:`\lVert x - x_q\rVert^2` of :func:`gumbel_vq` (temperature ``tau``);
    - ``"sfvq"``: Adam on :math:`\lVert x - \hat x'\rVert^2` of :func:`sfvq` (curve codebook).

    The learning rate decays linearly to 5% of ``lr`` over the steps; every ``patience`` steps a
    codeword unused for ``patience`` consecutive batches is replaced (:func:`replace_dead_codes`).
    Torch runs single-threaded in float64, seeded from ``rng``. The loop is :func:`hwsim.training.fit`, the
    steps in at most 20 epochs (:func:`hwsim.training.chunked`): inside :func:`hwsim.checkpoint.checkpointing`
    the state is saved after each and an interrupted training resumes to the same codebook.

    Parameters
    ----------
    samples : array [N, n]
    codewords : int
        Codebook size K (1..min(N, MAX_CODEWORDS)).
    method : str
        One of :data:`METHODS`.
    rng : numpy.random.Generator
    init : {"kmeans++", "samples"}
        Start from a k-means++ seeding or from K distinct random samples.

    Returns
    -------
    (Codebook, history)
        ``history`` float64 [steps]: hard-VQ MSE per dimension of each training batch.
    """
    x_np = _samples(samples)
    k = _count("codewords", codewords, x_np.shape[0])
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    _checks.generator("rng", rng)
    steps = _checks.integer("steps", steps, minimum=1, maximum=1_000_000)
    batch = _checks.integer("batch", batch, minimum=1, maximum=1_000_000)
    lr = _checks.real("lr", lr, positive=True)
    patience = _checks.integer("patience", patience, minimum=1)
    if batch * k > MAX_BATCH_DISTANCES:
        raise ValueError(f"batch * codewords = {batch * k} distances per step is more than the limit of "
                         f"{MAX_BATCH_DISTANCES}; use a smaller batch")
    if init == "kmeans++":
        c0 = kmeans_pp(x_np, k, rng)
    elif init == "samples":
        c0 = x_np[rng.choice(x_np.shape[0], size=k, replace=False)]
    else:
        raise ValueError(f"init must be 'kmeans++' or 'samples', got {init!r}")
    with _one_thread():
        return _train_vq(x_np, k, c0, method, rng, steps, batch, lr, beta, gamma, tau, interp, patience)


def _train_vq(x_np, k, c0, method, rng, steps, batch, lr, beta, gamma, tau, interp, patience):
    """train_vq's loop, its steps in :func:`hwsim.training.chunked` epochs (where its state is saved)."""
    import hashlib

    from ..training import Carried, Task, chunked, fit

    seed = int(rng.integers(2**62))
    gen = torch.Generator().manual_seed(seed)
    x_all = torch.as_tensor(x_np)
    book = torch.nn.Module()
    book.codebook = cb = torch.nn.Parameter(torch.as_tensor(c0.copy()))
    ema = EMACodebook(cb.data, gamma) if method == "ema" else None
    opt = torch.optim.Adam([cb], lr=lr) if method != "ema" else None
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1 - 0.95 * t / steps) if opt else None
    carried = Carried(unused=torch.zeros(k, dtype=torch.int64))
    epochs = chunked(steps)
    starts = np.cumsum([0] + epochs)

    def step(epoch, i):
        t = int(starts[epoch]) + i
        xb = x_all[torch.randint(0, x_all.shape[0], (batch,), generator=gen)]
        if method == "ema":
            idx = nearest(xb, ema.codebook)
            cb.data.copy_(ema.update(xb, idx))
            err = ((xb - cb.data[idx]) ** 2).mean()
        else:
            opt.zero_grad()
            if method == "ste":
                xq, vq_loss, idx = ste_vq(xb, cb, beta)
                loss = ((xb - xq) ** 2).mean() + vq_loss
            elif method == "rotation":
                xq, vq_loss, idx = rotation_vq(xb, cb, beta)
                loss = ((xb - xq) ** 2).mean() + vq_loss
            elif method == "nsvq":
                xq, idx = nsvq(xb, cb, gen)
                loss = ((xb - xq) ** 2).mean()
            elif method == "gumbel":
                xq, idx = gumbel_vq(xb, cb, tau, gen)
                loss = ((xb - xq) ** 2).mean()
            else:  # sfvq
                xq, _ = sfvq(xb, cb, interp, gen)
                loss = ((xb - xq) ** 2).mean()
                idx = nearest(xb, cb)
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                err = ((xb - cb[nearest(xb, cb)]) ** 2).mean()
        used = torch.bincount(idx, minlength=k) > 0
        carried.unused = torch.where(used, torch.zeros_like(carried.unused), carried.unused + 1)
        if method != "sfvq" and (t + 1) % patience == 0 and t + 1 < steps:
            dead = replace_dead_codes(cb.data, carried.unused, xb, patience, gen)
            if ema is not None:
                for d in dead.tolist():
                    ema.reset(d, cb.data[d])
        return float(err)

    tracked = {"batches": gen, "unused": carried, **({"ema": ema} if ema else {"opt": opt, "sched": sched})}
    key = {"data": hashlib.sha256(np.ascontiguousarray(x_np).tobytes()).hexdigest(),
           "start": hashlib.sha256(np.ascontiguousarray(c0).tobytes()).hexdigest(), "method": method,
           "steps": steps, "batch": batch, "lr": lr, "beta": beta, "gamma": gamma, "tau": tau, "interp": interp,
           "patience": patience, "seed": seed}
    fitted = fit(Task(book, step, tracked=tracked), what=f"learned VQ codebook ({method})", key=key,
                 epochs=len(epochs), steps=epochs)
    c = cb.detach().numpy().copy()
    return Codebook(_distinct(c, x_np)), np.array(fitted.losses)


# ---------------------------------------------------------------------------------- with an encoder

#: Codebook training rules :func:`train_autoencoder_vq` compares.
AUTOENCODER_METHODS = ("nsvq", "ste", "ema")


class AutoencoderVQ:
    """A trained encoder, codebook and decoder (what :func:`train_autoencoder_vq` returns).

    Attributes
    ----------
    encoder, decoder : torch.nn.Module
        The networks (float64).
    codebook : numpy.ndarray [K, latent]
        The codewords.
    method : str
        The codebook rule it was trained with.
    steps : numpy.ndarray [E]
        The training steps after which the validation distortion was measured (0: before the first).
    distortion : numpy.ndarray [E]
        Hard-VQ reconstruction MSE per dimension on the validation set at those steps.
    losses : numpy.ndarray [steps]
        The training loss of each step.
    """

    def __init__(self, encoder, decoder, codebook, method, steps, distortion, losses):
        self.encoder, self.decoder = encoder, decoder
        self.codebook = np.asarray(codebook, dtype=np.float64)
        self.method = method
        self.steps, self.distortion = np.asarray(steps), np.asarray(distortion, dtype=np.float64)
        self.losses = np.asarray(losses, dtype=np.float64)

    def encode(self, x) -> np.ndarray:
        """Codeword indices [B] of the rows of ``x`` [B, n]: the nearest codeword to each encoder output."""
        with torch.no_grad():
            z = self.encoder(torch.as_tensor(check_batch(x, None), dtype=torch.float64))
            return nearest(z, torch.as_tensor(self.codebook)).numpy()

    def reconstruct(self, x) -> tuple[np.ndarray, np.ndarray]:
        """``(indices [B], reconstructions [B, n])`` of the rows of ``x``: encoder, nearest codeword, decoder."""
        idx = self.encode(x)
        with torch.no_grad():
            out = self.decoder(torch.as_tensor(self.codebook[idx]))
        return idx, out.numpy()

    def mse(self, x) -> float:
        """Reconstruction MSE per dimension of ``x`` through the hard quantizer."""
        x = check_batch(x, None)
        return float(np.mean((x - self.reconstruct(x)[1]) ** 2))


def _mlp(n_in: int, hidden: int, n_out: int) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(n_in, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, hidden),
                               torch.nn.ReLU(), torch.nn.Linear(hidden, n_out)).double()


def _whole(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= int(value) <= high:
        raise ValueError(f"{name} must be a whole number in [{low}, {high}], got {value!r}")
    return int(value)


def _positive(name: str, value, below_one: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not math.isfinite(value) \
            or not value > 0 or (below_one and not value < 1):
        raise ValueError(f"{name} must be a finite number {'in (0, 1)' if below_one else '> 0'}, got {value!r}")
    return float(value)


def train_autoencoder_vq(samples, codewords: int, method: str, rng: np.random.Generator, *, latent: int = 2,
                         hidden: int = 32, steps: int = 2000, batch: int = 256, lr: float = 1e-3,
                         beta: float = 0.25, gamma: float = 0.99, patience: int = 50, replace: bool = True,
                         validation=None, eval_every: int = 50) -> AutoencoderVQ:
    r"""Train an MLP encoder, a VQ codebook and an MLP decoder for the reconstruction MSE of ``samples``,
    the codebook by one of three rules (Vali Sec. 3.2 and Publication II):

    - ``"nsvq"``: the decoder sees :func:`nsvq`'s :math:`z + \lVert z - q\rVert v/\lVert v\rVert`; the loss
      is the reconstruction alone, which reaches the encoder, the decoder and the selected codeword;
    - ``"ste"``: the decoder sees :math:`z + \mathrm{sg}(q - z)`; loss = reconstruction +
      :math:`\lVert\mathrm{sg}(z) - q\rVert^2 + \beta\lVert z - \mathrm{sg}(q)\rVert^2` (Vali eq. (3.5)
      with :math:`\beta_1 = 1`, :math:`\beta_2 = \beta`; :func:`ste_vq`);
    - ``"ema"``: as ``"ste"`` without the codebook term, the codebook by :class:`EMACodebook` (eq. (3.8),
      smoothing ``gamma``) from the batch's encoder outputs.

    Everything else is shared: encoder ``n -> hidden -> hidden -> latent`` and decoder
    ``latent -> hidden -> hidden -> n`` (ReLU), both initialised from ``rng``; the codebook starts at
    ``codewords`` distinct encoder outputs of the initial encoder on random samples; Adam (rate ``lr``,
    constant) on every trained parameter; the batches (drawn with replacement) and the starts come from
    ``rng`` in the same order for every method, so that ``np.random.default_rng(s)`` gives the three
    methods the same networks, codebook and batches (NSVQ's noise has its own generator). With
    ``replace``, every ``patience`` steps the codewords unused for ``patience`` batches are moved onto
    encoder outputs of the batch (:func:`replace_dead_codes`, Vali Publication II), for every method.
    Torch runs single-threaded in float64 (the global torch random state is restored afterwards). The
    loop is a plain loop (no checkpointing).

    Parameters
    ----------
    samples : array [N, n]
        Training vectors.
    codewords : int
        Codebook size K (2 .. min(N, 4096)).
    method : {"nsvq", "ste", "ema"}
        The codebook rule.
    rng : numpy.random.Generator
        Seeds the networks, the codebook start, the batches and the replacements.
    latent, hidden : int
        Latent (quantized) dimension and hidden width.
    steps, batch : int
        Adam steps and batch size.
    lr, beta, gamma : float
        Adam's rate, the commitment weight (STE, EMA) and the EMA smoothing factor.
    patience : int
        Dead-code patience in batches.
    replace : bool
        Replace dead codewords (all methods alike).
    validation : array [V, n] or None
        Vectors on which the hard-VQ distortion is measured every ``eval_every`` steps (None: the first
        2000 training vectors).
    eval_every : int
        Steps between two validation measurements.

    Returns
    -------
    AutoencoderVQ
        The networks, the codebook, the validation curve and the training losses.
    """
    x_np = _samples(samples)
    n_vec, dim = x_np.shape
    if method not in AUTOENCODER_METHODS:
        raise ValueError(f"method must be one of {AUTOENCODER_METHODS}, got {method!r}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {rng!r}")
    k = _whole("codewords", codewords, 2, min(n_vec, 4096))
    latent = _whole("latent", latent, 1, MAX_DIM)
    hidden = _whole("hidden", hidden, 1, 4096)
    steps = _whole("steps", steps, 1, 1_000_000)
    batch = _whole("batch", batch, 1, 65536)
    patience = _whole("patience", patience, 1, 1_000_000)
    eval_every = _whole("eval_every", eval_every, 1, 1_000_000)
    lr, beta = _positive("lr", lr), _positive("beta", beta)
    gamma = _positive("gamma", gamma, below_one=True)
    if not isinstance(replace, bool):
        raise ValueError(f"replace must be True or False, got {replace!r}")
    if batch * k > MAX_BATCH_DISTANCES:
        raise ValueError(f"batch * codewords = {batch * k} is more than {MAX_BATCH_DISTANCES}; use a smaller batch")
    x_val = x_np[:2000] if validation is None else check_batch(validation, dim, "validation")
    with _one_thread(), torch.random.fork_rng(devices=[]):      # the global torch state is left as it was
        torch_seed, noise_seed = (int(s) for s in rng.integers(2**62, size=2))
        torch.manual_seed(torch_seed)
        enc, dec = _mlp(dim, hidden, latent), _mlp(latent, hidden, dim)
        gen = torch.Generator().manual_seed(torch_seed)
        noise = torch.Generator().manual_seed(noise_seed)
        x_all, xv = torch.as_tensor(x_np), torch.as_tensor(x_val)
        with torch.no_grad():
            z0 = enc(x_all[torch.randperm(n_vec, generator=gen)[:min(n_vec, 20 * k)]]).numpy()
        c0 = _distinct(z0[rng.choice(len(z0), size=k, replace=False)], z0)
        cb = torch.nn.Parameter(torch.as_tensor(c0.copy()))
        params = list(enc.parameters()) + list(dec.parameters()) + ([cb] if method != "ema" else [])
        opt = torch.optim.Adam(params, lr=lr)
        ema = EMACodebook(cb.data, gamma) if method == "ema" else None
        unused = torch.zeros(k, dtype=torch.int64)

        def hard_distortion():
            with torch.no_grad():
                return float(((xv - dec(cb[nearest(enc(xv), cb)])) ** 2).mean())

        at, dist, losses = [0], [hard_distortion()], []
        for t in range(steps):
            xb = x_all[torch.randint(0, n_vec, (batch,), generator=gen)]
            z = enc(xb)
            if method == "nsvq":
                zq, idx = nsvq(z, cb, noise)
                loss = ((xb - dec(zq)) ** 2).mean()
            else:
                idx = nearest(z, cb)
                q = cb[idx]
                loss = ((xb - dec(z + (q - z).detach())) ** 2).mean() + beta * ((z - q.detach()) ** 2).mean()
                if method == "ste":
                    loss = loss + ((z.detach() - q) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if ema is not None:
                cb.data.copy_(ema.update(z.detach(), idx))
            losses.append(float(loss.detach()))
            used = torch.bincount(idx, minlength=k) > 0
            unused = torch.where(used, torch.zeros_like(unused), unused + 1)
            if replace and (t + 1) % patience == 0 and t + 1 < steps:
                dead = replace_dead_codes(cb.data, unused, z.detach(), patience, gen)
                if ema is not None:
                    for d in dead.tolist():
                        ema.reset(d, cb.data[d])
            if (t + 1) % eval_every == 0 or t + 1 == steps:
                at.append(t + 1)
                dist.append(hard_distortion())
    return AutoencoderVQ(enc, dec, cb.detach().numpy().copy(), method, at, dist, losses)
