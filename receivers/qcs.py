r"""Quantized compressed sensing: DeepQCS and the compress-then-estimate baselines.

Leinonen and Codreanu, "Low-complexity vector quantized compressed sensing via deep neural
networks" (DeepQCS). The link's source is ``sparse`` (:mod:`hwsim.channels.sparse`:
:math:`y = \Phi x + n`, :math:`x` S-sparse); every receiver here compresses the measurements
:math:`y \in \mathbb R^M` into :math:`R N` bits and estimates :math:`x \in \mathbb R^N` from them;
the metric is ``nmse``, :math:`E\|x - \hat x\|^2 / E\|x\|^2`.

Rate bookkeeping (the paper's Sec. V-A): :math:`R = K \lceil \log_2 I \rceil / N` bits per source
entry for :math:`K` scalar quantizers of :math:`I = 2^b` levels; a rate is realisable when
:math:`b = R N / K` is a whole number. DeepQCS quantizes its encoder's :math:`K` outputs
(``k``, default :math:`K = M`); the compress-then-estimate (CE) methods quantize the :math:`M`
measurements themselves, so :math:`b = R N / M` (with :math:`N = 20, M = K = 10`: :math:`R = b/2`).

- ``deepqcs``: EncNet (:math:`M \to 5K \to K`, tanh after both layers), the soft-to-hard
  quantizer (SHQ) eq. (19) :math:`\sum_{i=1}^{I-1} v_i \tanh(h a - s_i)` -- the tanh layer of
  :class:`hwsim.converters.learned_adc.LearnedADC`, with :math:`h = c` -- and DecNet
  (:math:`K \to 4N \to 4N \to 4N \to N`, tanh on the hidden layers), trained end to end on the
  squared error (eq. (20)) with the steepness schedule eq. (31)
  :math:`h^{(t)} = \min(h^{\rm init} + \alpha t, h^{\max})`, the blended gradient eq. (32)
  :math:`\xi = (1-\beta^{(t)})\,\delta \odot 1\{|a| \le \sum_i v_i\} + \beta^{(t)}\,\delta \odot \gamma'(a)`,
  :math:`\beta^{(t)} = \min(\beta t, 1)`, and Adam with the step :math:`\max(\eta^{\min}, \eta/\sqrt t)`.
  The thresholds :math:`s_i / h` stay at the paper's uniform grid over :math:`[-0.8, 0.8]`
  (its footnote 17; ``learn_thresholds = true`` lets them move), the levels :math:`v` start
  at :math:`0.8/(I-1)`. At test the SHQ is replaced by the hard table of Sec. IV-E
  (:meth:`LearnedADC.to_table`: thresholds :math:`s_i/h`, levels the SHQ's saturation values,
  eq. (33), evaluated at the cell centres), which every reported number uses and which exports
  like any learned converter (:attr:`DeepQCS.table`, a :class:`~hwsim.converters.adc.ThresholdADC`).
- ``ce_decnet``: the same training without EncNet: the SHQ quantizes each measurement and DecNet
  (:math:`M \to 4N \to 4N \to 4N \to N`) estimates :math:`x`. With the paper's fixed grid over
  :math:`[-0.8, 0.8]` (``grid = "paper"``, the default) the measurements, of standard deviation
  :math:`\sqrt{S/M + \sigma^2} \approx 0.447`, overrun it: about 7.8% of them lie beyond :math:`\pm 0.8` and
  saturate at every rate, which floors CE-DecNet at high rates. ``grid = "matched"`` scales the grid to the
  thresholds of the MSE-optimal uniform quantizer of the measurements (:func:`matched_grid_scale`; at 8 bits a
  factor of about 2.6, outer thresholds :math:`\pm 2.1`, 4.7 standard deviations, 0.01% saturated), which lowers
  the floor from -15.9 dB (R = 3.5) to -20.6 dB at R = 4 in the shipped study (``docs/studies/qcs.md``).
- ``ce_usq_omp``: each measurement quantized by a uniform quantizer (its support chosen for the
  least quantization MSE on training measurements), orthogonal matching pursuit with the known
  sparsity :math:`S` (scikit-learn's ``orthogonal_mp``).
- ``ce_usq_l1``, ``ce_sq_l1``: uniform, resp. Lloyd (:func:`lloyd_quantizer`, designed on the pooled
  training measurements) quantizers, then the quadratically constrained basis pursuit :math:`\min \|x\|_1` s.t. :math:`\|\tilde y - \Phi x\|_2 \le \mu_{qc}`,
  :math:`\mu_{qc} = \sqrt{\sigma_n}\,(1 + 1/I)` (the paper's choice). hwsim reads it literally by default
  (``mu_rule = "paper"``): :math:`\sigma_n` the noise standard deviation, :math:`\mu_{qc} = 0.1\,(1 + 1/I)` at
  :math:`\sigma^2 = 10^{-4}`. The other reading, :math:`\sqrt{\sigma_n}` the noise vector's norm
  :math:`\sigma\sqrt M` (``"noise_norm"``, :math:`0.0316\,(1 + 1/I)`), is 0.12-0.37 dB worse at
  :math:`R \le 2` and 0.37, 0.52, 0.66 dB better at :math:`R = 3, 3.5, 4` (``scripts/qcs_baselines.py``: the
  same 10 000 test vectors per rate, 95% intervals of :math:`\pm 0.06`-:math:`0.11` dB); ``"genie"``,
  :math:`\mu` tuned per point on validation vectors over the paper's 56 candidates (its own check on the choice,
  :func:`genie_mu`), matches or beats the better closed form at every rate (by up to 0.22 dB, at :math:`R = 1`);
  the paper's per-vector oracle CE-USQ-L1* (the best of the 56 for each vector, knowing :math:`x`) is a further
  0.5-0.65 dB below. The problem is solved exactly from the lasso path (scikit-learn's ``lars_path_gram``,
  the solutions of basis pursuit denoising for every penalty): the residual norm grows along the
  path, and the constrained solution is the path's point where it equals :math:`\mu_{qc}`, found
  on the path's piecewise-linear segment in closed form (:func:`bp_constrained`).

Training is per point, from the point's set-up stream, on fresh source draws every step (an
unlimited training set). The paper trains for up to :math:`10^7` steps of batch 100 with
:math:`\alpha = 10^{-5}`, :math:`\beta = 10^{-7}`; a sweep here affords ``steps`` (default
:data:`DEFAULT_STEPS`) of batch ``batch``, so :math:`h` rises linearly from ``h_init`` to
``h_max`` and :math:`\beta` from 0 to 1 over the first ``anneal`` fraction of the steps
(:math:`\alpha = (h^{\max} - h^{\rm init}) / (\text{anneal}\cdot\text{steps})`,
:math:`\beta = 1 / (\text{anneal}\cdot\text{steps})`), after which training continues at
:math:`h^{\max}`, :math:`\beta = 1`: this ramp (``steepness = "ramp"``) is the default. The schedule as
printed cannot do what the paper says: :math:`\alpha = 10^{-5}` per step takes :math:`h` from 5 to at most
105 in :math:`10^7` steps, never to :math:`h^{\max} = 300`; ``steepness = "paper"`` runs it literally
(:math:`h \le h^{\rm init} + 10^{-5} t`: 5.15 after 15 000 steps) and ``"paper_scaled"`` runs its
:math:`10^7`-step trajectory compressed into ``steps`` (ending at :math:`h = 105`), see
:func:`steepness_schedule`. Two changes for the short schedule: the step floor
:math:`\eta^{\min}` is :math:`3 \cdot 10^{-3}` (the paper's :math:`10^{-4}` suits :math:`10^7` steps;
it stalls in :math:`10^4`), the levels' step is :math:`\max(10^{-5}, 10^{-3}/\sqrt t)` (paper:
:math:`\max(5 \cdot 10^{-7}, 5 \cdot 10^{-5}/\sqrt t)`), and after the ramp the steps decay (cosine) to 1%
of their value. The hard-path NMSE on a validation set is measured every ``steps/20`` steps and the
best model is kept (the paper's validation of Algorithm 1).
The loop is :func:`hwsim.training.fit`, one epoch per validation: inside
:func:`hwsim.checkpoint.checkpointing` the state is saved at every validation and an interrupted
training resumes to the same network.
"""

from __future__ import annotations

import math
import time
from typing import Literal

import numpy as np

from hwsim import _checks
from hwsim.components import register

from .estimation import Estimator

#: Training steps of ``deepqcs`` and ``ce_decnet`` unless a config says otherwise.
DEFAULT_STEPS = 30_000
#: Most bits per scalar quantizer (the SHQ has 2^bits - 1 tanh terms per input).
MAX_SHQ_BITS = 10
#: Most bits per measurement of the CE quantizers.
MAX_CE_BITS = 16
#: Validation samples of the trained receivers.
VAL_SAMPLES = 20_000
#: Training measurements (vectors) the CE quantizers are designed on.
CE_TRAIN_VECTORS = 20_000
#: Most weights of a ``deepqcs`` or ``ce_decnet`` network (EncNet and DecNet together, :func:`network_weights`;
#: DecNet's 4N x 4N layers grow with the square of ``source.n``): training holds them four times over in
#: float32 (weights, gradients, Adam's two moments), 128 MiB at the limit, reached near N = 480. A guard
#: against configs that exhaust memory: raise it in code if you really mean it.
MAX_NETWORK_WEIGHTS = 2**23
#: Most values of one training step's widest layer, ``receiver.batch`` x max(4N, 5K) (16 MiB of float32 for
#: each activation autograd keeps). A guard against configs that exhaust memory: raise it in code if you
#: really mean it.
MAX_BATCH_VALUES = 2**22
#: Values (vectors x width) held at once when data are drawn or a network is evaluated: larger sets go in
#: consecutive pieces (every shipped study fits in one, so its numbers do not depend on this).
_PIECE_VALUES = 2**22


def _check_source(link, name: str) -> None:
    if not link.source.sparse:
        raise ValueError(f"receiver.type = {name!r} decodes compressed measurements of a sparse source "
                         f"(source.type = \"sparse\"), got {link.source.name!r}")


def bits_per_quantizer(rate: float, n: int, quantizers: int, *, name: str = "receiver.rate",
                       maximum: int = MAX_CE_BITS) -> int:
    r"""Bits :math:`b = R N / K` of each of ``quantizers`` scalar quantizers at ``rate`` bits per source entry.

    A clear error when :math:`b` is not a whole number in ``[1, maximum]`` (a rate the quantizers cannot
    realise), listing the rates that are.
    """
    rate = _checks.real(name, rate, positive=True)
    bits = rate * n / quantizers
    step = quantizers / n
    if abs(bits - round(bits)) > 1e-9 or round(bits) < 1:
        raise ValueError(f"{name} = {rate:g} needs {bits:g} bits per quantizer ({quantizers} quantizers for {n} source "
                         f"entries); the rates {quantizers} quantizers realise are whole multiples of "
                         f"{quantizers}/{n} = {step:g} bits (e.g. {step:g}, {2 * step:g}, {3 * step:g})")
    if round(bits) > maximum:
        raise ValueError(f"{name} = {rate:g} needs {round(bits)} bits per quantizer, more than the {maximum} allowed "
                         f"here (at most {maximum * step:g} bits per source entry)")
    return int(round(bits))


def _sample(source, count: int, rng: np.random.Generator):
    """(x [count, N], y [count, M]) from ``source``, drawn in pieces of at most :data:`_PIECE_VALUES` source
    values (one piece, the source's own ``sample``, whenever that suffices)."""
    per = max(1, _PIECE_VALUES // source.N)
    if count <= per:
        return source.sample(count, rng)
    parts = [source.sample(min(per, count - i), rng) for i in range(0, count, per)]
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])


def network_weights(n: int, m: int, k: int, encoder: bool) -> int:
    r"""Weights and biases of DeepQCS (``encoder``: EncNet :math:`M \to 5K \to K`, then DecNet
    :math:`K \to 4N \to 4N \to 4N \to N`) or of CE-DecNet (DecNet from :math:`K = M`)."""
    k = k if encoder else m
    enc = (m * 5 * k + 5 * k) + (5 * k * k + k) if encoder else 0
    return enc + (k * 4 * n + 4 * n) + 2 * (16 * n * n + 4 * n) + (4 * n * n + n)


def check_network_size(n: int, m: int, k: int, encoder: bool, batch: int) -> None:
    """Refuse, before anything is allocated, a network of more than :data:`MAX_NETWORK_WEIGHTS` weights or a
    training step of more than :data:`MAX_BATCH_VALUES` values in its widest layer (the config keys in
    the message)."""
    weights = network_weights(n, m, k, encoder)
    sizes = f"source.n = {n}, source.m = {m}" + (f", K = {k} encoder outputs (receiver.k)" if encoder else "")
    guard = "a guard against configs that exhaust memory; raise it in code if you really mean it"
    if weights > MAX_NETWORK_WEIGHTS:
        raise ValueError(f"{sizes} make a network of {weights} weights (its 4N x 4N and 5K x K layers grow with N^2 "
                         f"and K^2), more than the limit of {MAX_NETWORK_WEIGHTS} "
                         f"(hwsim.receivers.qcs.MAX_NETWORK_WEIGHTS, {guard})")
    widest = max(4 * n, 5 * k if encoder else 0, m)
    if batch * widest > MAX_BATCH_VALUES:
        raise ValueError(f"receiver.batch = {batch} x {widest} (the widest layer, for {sizes}) = {batch * widest} "
                         f"values per training step, more than the limit of {MAX_BATCH_VALUES} "
                         f"(hwsim.receivers.qcs.MAX_BATCH_VALUES, {guard})")


# ----------------------------------------------------------------------------------------------- CE baselines
def uniform_quantizer(samples: np.ndarray, levels: int):
    r"""The uniform mid-rise quantizer of ``levels`` levels over :math:`[-\gamma, \gamma]` whose support
    :math:`\gamma` gives the least empirical MSE on ``samples`` (any shape; pooled), a
    :class:`~hwsim.converters.adc.UniformADC`."""
    from scipy.optimize import minimize_scalar

    from hwsim.converters.adc import UniformADC

    v = np.asarray(samples, dtype=np.float64).reshape(-1)
    top = float(np.max(np.abs(v))) or 1.0

    def mse(g):
        return float(np.mean((UniformADC(levels, g).quantize(v) - v) ** 2))

    best = minimize_scalar(mse, bounds=(top * 1e-3, top), method="bounded", options={"xatol": top * 1e-5})
    return UniformADC(levels, float(best.x))


def lloyd_quantizer(samples: np.ndarray, levels: int, *, iters: int = 500, tol: float = 1e-10):
    r"""The Lloyd quantizer of ``levels`` levels for the pooled ``samples`` (any shape), a
    :class:`~hwsim.converters.adc.ThresholdADC`.

    Lloyd's algorithm on the empirical distribution, exact in one dimension: thresholds at the midpoints
    of neighbouring levels, levels at the means of their cells (cell sums from the sorted samples' cumulative
    sum), started from the cell means of the equal-probability partition and stopped when the levels
    move less than ``tol`` (relative) or after ``iters`` rounds. Each round lowers the empirical MSE.
    """
    from hwsim.converters.adc import ThresholdADC

    v = np.sort(np.asarray(samples, dtype=np.float64).reshape(-1))
    levels = _checks.integer("levels", levels, minimum=2)
    if np.unique(v).size < levels:
        raise ValueError(f"samples hold {np.unique(v).size} distinct values, fewer than the {levels} levels asked for")
    csum = np.concatenate(([0.0], np.cumsum(v)))

    def means(edges):  # edges: sample indices of the cell boundaries, [levels + 1]
        counts = np.diff(edges)
        return np.where(counts > 0, (csum[edges[1:]] - csum[edges[:-1]]) / np.maximum(counts, 1), np.nan)

    edges = np.round(np.linspace(0, v.size, levels + 1)).astype(np.int64)
    g = means(edges)
    scale = float(np.abs(v).max()) or 1.0
    for _ in range(iters):
        g = np.sort(g[np.isfinite(g)])
        t = (g[:-1] + g[1:]) / 2
        edges = np.concatenate(([0], np.searchsorted(v, t, side="left"), [v.size]))
        new = means(edges)
        empty = ~np.isfinite(new)
        if empty.any():  # an empty cell keeps its level (it may fill again as its neighbours move)
            new[empty] = g[empty]
        done = np.max(np.abs(new - g)) <= tol * scale
        g = new
        if done:
            break
    g = np.unique(g)
    if g.size < levels:
        raise ValueError(f"the Lloyd design kept {g.size} distinct levels of the {levels} asked for (too few samples)")
    return ThresholdADC((g[:-1] + g[1:]) / 2, g)


def bp_constrained(phi: np.ndarray, y_tilde: np.ndarray, mu: float) -> np.ndarray:
    r"""Quadratically constrained basis pursuit, :math:`\min_x \|x\|_1` s.t. :math:`\|\tilde y - \Phi x\|_2 \le \mu`,
    for every row of ``y_tilde``.

    Exact, from the lasso path of scikit-learn's ``lars_path_gram`` (the minimisers of
    :math:`\tfrac12\|\tilde y - \Phi x\|^2 + \lambda \|x\|_1` for all :math:`\lambda`, piecewise linear in
    :math:`\lambda` with a residual norm that grows with :math:`\lambda`): :math:`x = 0` when
    :math:`\|\tilde y\| \le \mu`; else the point of the first segment whose end has residual
    :math:`\le \mu`, where :math:`\|r_0 - \tau \Phi d\|^2 = \mu^2` is solved for :math:`\tau \in [0, 1]`;
    the path's last point when no point reaches :math:`\mu`.

    Parameters
    ----------
    phi : array [M, N]
    y_tilde : array [B, M]
    mu : float
        :math:`\mu \ge 0`.

    Returns
    -------
    x_hat : array [B, N]
    """
    mu = _checks.real("mu", mu, nonnegative=True)
    return bp_constrained_grid(phi, y_tilde, [mu])[0]


def bp_constrained_grid(phi: np.ndarray, y_tilde: np.ndarray, mus) -> np.ndarray:
    r""":func:`bp_constrained` for several constraints :math:`\mu` at once, from one lasso path per row.

    The path does not depend on :math:`\mu`, so a whole grid of constraints costs one path per row plus a
    closed-form crossing per :math:`\mu`; the result for each :math:`\mu` equals :func:`bp_constrained`'s.

    Parameters
    ----------
    phi : array [M, N]
    y_tilde : array [B, M]
    mus : sequence of float
        Constraints :math:`\mu \ge 0` (at least one).

    Returns
    -------
    x_hat : array [len(mus), B, N]
    """
    from sklearn.linear_model import lars_path_gram

    phi = np.asarray(phi, dtype=np.float64)
    y_tilde = np.atleast_2d(np.asarray(y_tilde, dtype=np.float64))
    mus = [_checks.real("mu", v, nonnegative=True) for v in np.atleast_1d(np.asarray(mus, dtype=np.float64))]
    if not mus:
        raise ValueError("mus must hold at least one constraint mu >= 0, got none")
    m, n = phi.shape
    gram = phi.T @ phi
    out = np.zeros((len(mus), y_tilde.shape[0], n))
    for b, y in enumerate(y_tilde):
        yy = float(y @ y)
        if yy <= max(mus) ** 2:
            todo = [j for j, mu in enumerate(mus) if yy > mu * mu]
            if not todo:
                continue
        else:
            todo = range(len(mus))
        xy = phi.T @ y
        _, _, coefs = lars_path_gram(Xy=xy, Gram=gram, n_samples=m, method="lasso")
        # residual norms^2 at the knots: ||y||^2 - 2 c.Xy + c^T G c
        res = yy - 2 * (coefs.T @ xy) + np.einsum("ik,ij,jk->k", coefs, gram, coefs)
        for j in todo:
            mu = mus[j]
            below = np.nonzero(res <= mu * mu)[0]
            if below.size == 0:
                out[j, b] = coefs[:, -1]
                continue
            k = int(below[0])  # k >= 1: the path starts at x = 0, residual ||y|| > mu
            c0, d = coefs[:, k - 1], coefs[:, k] - coefs[:, k - 1]
            r0 = y - phi @ c0
            pd = phi @ d
            a2, a1, a0 = float(pd @ pd), -2.0 * float(r0 @ pd), float(r0 @ r0) - mu * mu
            if a2 <= 0:
                tau = 1.0
            else:
                disc = max(a1 * a1 - 4 * a2 * a0, 0.0)
                tau = min(max((-a1 - math.sqrt(disc)) / (2 * a2), 0.0), 1.0)  # the first crossing
            out[j, b] = c0 + tau * d
    return out


class _CE(Estimator):
    """Shared part of the compress-then-estimate baselines: every measurement through one scalar quantizer.

    Parameters
    ----------
    rate : float
        Bits per source entry, :math:`R`; each measurement's quantizer has :math:`b = R N / M` bits.
    """

    quantizer_kind = "uniform"

    def __init__(self, *, rate: float = 1.0):
        _checks.real("receiver.rate", self.params["rate"], positive=True)
        self.table = None

    def check_link(self, link) -> None:
        super().check_link(link)
        _check_source(link, self.name)
        bits_per_quantizer(self.params["rate"], link.source.N, link.source.M)

    def prepare(self, link, snr_db, rng) -> None:
        src = link.source
        levels = 2 ** bits_per_quantizer(self.params["rate"], src.N, src.M)
        _, y = _sample(src, CE_TRAIN_VECTORS, rng)
        if self.quantizer_kind == "uniform":
            self.table = uniform_quantizer(y, levels)
        else:
            self.table = lloyd_quantizer(y, levels)
        self._source = src
        self.levels = levels

    def estimate(self, x, rng) -> np.ndarray:
        return self.decode(self.table.quantize(x))

    def decode(self, y_tilde: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


@register("receiver", "ce_usq_omp")
class CEUSQOMP(_CE):
    """CE-USQ-OMP: uniform quantizers, orthogonal matching pursuit with the known sparsity S."""

    def decode(self, y_tilde):
        from sklearn.linear_model import orthogonal_mp

        src = self._source
        return np.asarray(orthogonal_mp(src.phi, np.asarray(y_tilde).T, n_nonzero_coefs=src.S,
                                        precompute=True)).reshape(src.N, -1).T


#: The constraints the ``mu_rule = "genie"`` search tries: the paper's 56 values
#: :math:`10^{-5}, 10^{-4.9}, \dots, 10^{0.5}` (Sec. V-B1, its CE-USQ-L1* check).
MU_GRID = tuple(10.0 ** (-5 + 0.1 * k) for k in range(56))
#: Validation vectors of the ``mu_rule = "genie"`` search, drawn per point after the quantizer's training set.
GENIE_VECTORS = 2_000
#: The readings of :math:`\mu_{qc}` a ``ce_usq_l1`` or ``ce_sq_l1`` receiver offers (``receiver.mu_rule``).
MU_RULES = ("paper", "noise_norm", "genie")


def mu_qc(noise_var: float, m: int, levels: int, rule: str = "paper") -> float:
    r"""The constraint :math:`\mu_{qc}` of the CE-L1 decoders under the closed-form readings of the paper's
    :math:`\mu_{qc} = \sqrt{\sigma_n}\,(1 + 1/I)`.

    Parameters
    ----------
    noise_var : float
        The noise variance :math:`\sigma^2` of each measurement (``source.noise_var``).
    m : int
        Measurements :math:`M`.
    levels : int
        Quantizer levels :math:`I`.
    rule : str
        ``"paper"``: the formula as printed, :math:`\sigma_n` read as the noise standard deviation,
        :math:`\mu = \sqrt{\sigma}\,(1 + 1/I)` (0.1 (1 + 1/I) at :math:`\sigma^2 = 10^{-4}`);
        ``"noise_norm"``: :math:`\sigma_n` read as the noise vector's power :math:`E\|n\|^2 = M\sigma^2`, so
        that :math:`\sqrt{\sigma_n}` is its norm, :math:`\mu = \sigma\sqrt M\,(1 + 1/I)` (0.0316 (1 + 1/I)
        at :math:`M = 10`).

    Returns
    -------
    float
    """
    noise_var = _checks.real("noise_var", noise_var, nonnegative=True)
    m = _checks.integer("m", m, minimum=1)
    levels = _checks.integer("levels", levels, minimum=2)
    if rule == "paper":
        return math.sqrt(math.sqrt(noise_var)) * (1 + 1 / levels)
    if rule == "noise_norm":
        return math.sqrt(m * noise_var) * (1 + 1 / levels)
    raise ValueError(f"rule must be one of paper, noise_norm (the closed forms; \"genie\" is searched by the "
                     f"receiver), got {rule!r}")


def genie_mu(phi: np.ndarray, x: np.ndarray, y_tilde: np.ndarray, mus=MU_GRID):
    r"""The constraint of ``mus`` whose basis pursuit estimates of ``y_tilde`` have the least squared error
    against the known ``x`` (one :math:`\mu` for the whole set: a per-point tuning on validation draws).

    Parameters
    ----------
    phi : array [M, N]
    x : array [B, N]
        The sources behind ``y_tilde``.
    y_tilde : array [B, M]
        Their quantized measurements.
    mus : sequence of float
        Candidates (default :data:`MU_GRID`, the paper's 56).

    Returns
    -------
    mu : float
        The first candidate of least error.
    errors : array [len(mus)]
        :math:`\sum_b \|x_b - \hat x_b\|^2 / \sum_b \|x_b\|^2` of every candidate.
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    y_tilde = np.atleast_2d(np.asarray(y_tilde, dtype=np.float64))
    if x.shape[0] != y_tilde.shape[0]:
        raise ValueError(f"x and y_tilde must hold the same number of vectors, got {x.shape[0]} and {y_tilde.shape[0]}")
    mus = np.asarray(mus, dtype=np.float64).reshape(-1)
    rows = max(1, _PIECE_VALUES // max(1, mus.size * x.shape[1]))  # estimates held at once: one piece of rows
    sq = np.zeros(mus.size)
    for i in range(0, x.shape[0], rows):
        est = bp_constrained_grid(phi, y_tilde[i:i + rows], mus)
        sq += ((est - x[None, i:i + rows]) ** 2).sum(axis=(1, 2))
    errors = sq / max(float((x**2).sum()), np.finfo(float).tiny)
    return float(mus[int(np.argmin(errors))]), errors


class _CEL1(_CE):
    r"""Shared part of ``ce_usq_l1`` and ``ce_sq_l1``: the quadratically constrained basis pursuit decoder.

    Parameters
    ----------
    rate : float
        Bits per source entry, :math:`R`; each measurement's quantizer has :math:`b = R N / M` bits.
    mu_rule : str
        The constraint :math:`\mu_{qc}`: ``"paper"`` (default) the printed
        :math:`\sqrt{\sigma_n}\,(1 + 1/I)` with :math:`\sigma_n` the noise standard deviation
        (:func:`mu_qc`); ``"noise_norm"`` the same formula with :math:`\sqrt{\sigma_n}` the noise vector's
        norm :math:`\sigma\sqrt M`; ``"genie"`` the paper's own check, tuned: the value of :data:`MU_GRID`
        of least squared error on ``genie_vectors`` validation vectors drawn at the point's set-up
        (:func:`genie_mu`; one :math:`\mu` per point, not the paper's per-vector oracle).
    genie_vectors : int
        Validation vectors of the ``"genie"`` search (default :data:`GENIE_VECTORS`).
    """

    def __init__(self, *, rate: float = 1.0, mu_rule: Literal["paper", "noise_norm", "genie"] = "paper",
                 genie_vectors: int = GENIE_VECTORS):
        super().__init__(rate=rate)
        _checks.integer("receiver.genie_vectors", self.params["genie_vectors"], minimum=1, maximum=1_000_000)
        self.mu_value = None
        self.genie_errors = None

    def prepare(self, link, snr_db, rng) -> None:
        super().prepare(link, snr_db, rng)
        src, rule = self._source, self.params["mu_rule"]
        if rule == "genie":
            x, y = _sample(src, self.params["genie_vectors"], rng)
            self.mu_value, self.genie_errors = genie_mu(src.phi, x, self.table.quantize(y))
        else:
            self.mu_value = mu_qc(src.noise_var, src.M, self.levels, rule)

    def mu(self) -> float:
        r"""The point's :math:`\mu_{qc}` (``receiver.mu_rule``; the class text)."""
        return self.mu_value

    def decode(self, y_tilde):
        return bp_constrained(self._source.phi, y_tilde, self.mu())


@register("receiver", "ce_usq_l1")
class CEUSQL1(_CEL1):
    """CE-USQ-L1: uniform quantizers, quadratically constrained basis pursuit."""


@register("receiver", "ce_sq_l1")
class CESQL1(_CEL1):
    """CE-SQ-L1: Lloyd quantizers designed on training measurements, quadratically constrained basis pursuit."""

    quantizer_kind = "lloyd"


# ----------------------------------------------------------------------------------------------- learned
TRAIN_LIMITS = {"steps": 10_000_000, "batch": 100_000, "trainings": 100}


def _check_train_params(p: dict) -> None:
    for key, hi in TRAIN_LIMITS.items():
        _checks.integer(f"receiver.{key}", p[key], minimum=1, maximum=hi)
    for key in ("lr", "lr_min", "lr_levels", "lr_levels_min", "h_init", "h_max"):
        _checks.real(f"receiver.{key}", p[key], positive=True)
    if p["h_max"] < p["h_init"]:
        raise ValueError(f"receiver.h_max must be >= receiver.h_init = {p['h_init']:g}, got {p['h_max']:g}")
    anneal = _checks.real("receiver.anneal", p["anneal"], positive=True)
    if anneal > 1:
        raise ValueError(f"receiver.anneal (fraction of the steps over which h and beta rise) must lie in (0, 1], "
                         f"got {anneal:g}")


def shq_layer(levels: int, *, learn_thresholds: bool = False):
    r"""The SHQ of eq. (19) as a :class:`~hwsim.converters.learned_adc.LearnedADC` (``h`` is its ``c``).

    Thresholds :math:`s_i/h` at the paper's initial grid: 0 for :math:`I = 2`, else
    :math:`-0.8, -0.8 + 1.6/(I-2), \dots, 0.8` (the uniform ADC of support
    :math:`\gamma = 0.8\, I/(I-2)`); levels :math:`v_i = 0.8/(I-1)`.
    """
    import torch

    from hwsim.converters.learned_adc import LearnedADC

    levels = _checks.integer("levels", levels, minimum=2, maximum=2**MAX_SHQ_BITS)
    gamma = 0.8 if levels == 2 else 0.8 * levels / (levels - 2)
    adc = LearnedADC(levels, "soft_to_hard", gamma=gamma)
    with torch.no_grad():
        adc.a.fill_(0.8 / (levels - 1))
    adc.b.requires_grad_(bool(learn_thresholds))
    return adc


#: The schedules of the SHQ's steepness :math:`h` (``receiver.steepness``, :func:`steepness_schedule`).
STEEPNESS = ("ramp", "paper", "paper_scaled")
#: The paper's step of :math:`h` per iteration, :math:`\alpha = 10^{-5}` (Sec. V-A, "slow" schedule).
PAPER_ALPHA = 1e-5
#: The paper's largest number of iterations, :math:`10^7`.
PAPER_STEPS = 10_000_000


def steepness_schedule(kind: str, h_init: float, h_max: float, steps: int, anneal: float):
    r"""The steepness :math:`h^{(t)} = \min(h^{\rm init} + \alpha t, h^{\max})` of eq. (31) as a function of the
    step :math:`t`, for one of :data:`STEEPNESS`.

    - ``"ramp"`` (hwsim's default): :math:`\alpha = (h^{\max} - h^{\rm init}) / (\text{anneal} \cdot
      \text{steps})`, so that :math:`h` reaches :math:`h^{\max}` after the ``anneal`` fraction of the steps;
    - ``"paper"``: :math:`\alpha = 10^{-5}` (:data:`PAPER_ALPHA`) as printed: :math:`h \le h^{\rm init} +
      10^{-5} t`, so even the paper's :math:`10^7` steps end at :math:`h = 105`, never at its
      :math:`h^{\max} = 300`, and a run of ``steps`` ends at :math:`h^{\rm init} + 10^{-5}\,\text{steps}`;
    - ``"paper_scaled"``: the paper's trajectory over its :math:`10^7` steps (:data:`PAPER_STEPS`) compressed
      into ``steps``, :math:`\alpha = 10^{-5} \cdot 10^7 / \text{steps}`: :math:`h` ends where the paper's
      training could end, :math:`\min(h^{\rm init} + 100, h^{\max})`.

    Parameters
    ----------
    kind : str
        One of :data:`STEEPNESS`.
    h_init, h_max : float
        :math:`h^{\rm init} \le h^{\max}`.
    steps : int
        Training steps of the run.
    anneal : float
        The ``"ramp"``'s fraction of the steps, in (0, 1].

    Returns
    -------
    callable
        ``h(t)`` for a step ``t >= 0``.
    """
    if kind not in STEEPNESS:
        raise ValueError(f"steepness must be one of {', '.join(STEEPNESS)}, got {kind!r}")
    steps = _checks.integer("steps", steps, minimum=1)
    if kind == "ramp":
        alpha = (h_max - h_init) / max(anneal * steps, 1.0)
    elif kind == "paper":
        alpha = PAPER_ALPHA
    else:
        alpha = PAPER_ALPHA * PAPER_STEPS / steps

    def h(t):
        return min(h_init + alpha * t, h_max)

    return h


def set_steepness(adc, h: float) -> None:
    """Set the SHQ's steepness :math:`h` (its tanh slope ``c``), keeping the thresholds :math:`s_i / h`."""
    adc.set_sharpness(float(h) * adc.uniform.step)


def shq_blended(adc, a, beta: float):
    r"""The SHQ output for input ``a`` with the blended input gradient of eq. (32): the forward value is
    eq. (19); the gradient to ``a`` is :math:`(1-\beta)\,1\{|a| \le \sum v_i\} + \beta\,\gamma'(a)` times the
    incoming one, the gradients to the levels (and thresholds) are eq. (19)'s own."""
    import torch

    beta = float(beta)
    soft = adc.soft(beta * a + (1 - beta) * a.detach()) if beta < 1 else adc.soft(a)
    if beta >= 1:
        return soft
    with torch.no_grad():
        mask = (a.abs() <= adc.a.sum()).to(a.dtype)
    ste = a * mask
    return soft + (1 - beta) * (ste - ste.detach())


def _mlp(sizes, final_tanh: bool):
    import torch
    from torch import nn

    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(a, b)
        with torch.no_grad():  # Xavier as in the paper: N(0, 1/fan_in), zero biases
            lin.weight.normal_(0.0, 1.0 / math.sqrt(a))
            lin.bias.zero_()
        layers.append(lin)
        if i < len(sizes) - 2 or final_tanh:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class QCSNet:
    """A trained DeepQCS (``encoder`` not None) or CE-DecNet system, evaluated on its hard path.

    ``encoder``, ``decoder``: lists of (W [out, in], b [out]) float64 layers, tanh after every layer
    except the decoder's last; ``table``: the hard quantizer (:class:`~hwsim.converters.adc.ThresholdADC`).
    """

    def __init__(self, encoder, table, decoder, history=None):
        self.encoder, self.table, self.decoder = encoder, table, decoder
        self.history = history or []
        # (W^T, b) contiguous, so that each layer is one matmul, one add and one tanh in place
        self._enc = None if encoder is None else [(np.ascontiguousarray(w.T), b) for w, b in encoder]
        self._dec = [(np.ascontiguousarray(w.T), b) for w, b in decoder]

    @staticmethod
    def _run(layers, v, last_tanh: bool):
        for i, (wt, b) in enumerate(layers):
            v = v @ wt
            v += b
            if i < len(layers) - 1 or last_tanh:
                np.tanh(v, out=v)
        return v

    def _pieces(self, fn, v: np.ndarray) -> np.ndarray:
        """``fn`` of the rows of ``v`` in pieces whose widest layer holds at most :data:`_PIECE_VALUES` values
        (one piece when that suffices)."""
        widest = max([v.shape[-1]] + [w.shape[1] for w, _ in (self._enc or []) + self._dec])
        rows = max(1, _PIECE_VALUES // widest)
        if len(v) <= rows:
            return fn(v)
        return np.concatenate([fn(v[i:i + rows]) for i in range(0, len(v), rows)])

    def encode(self, y: np.ndarray) -> np.ndarray:
        """Quantizer codes, int [B, K], of measurements ``y`` [B, M] (EncNet, then the table's encoder)."""
        if self._enc is None:
            return self.table.encode(y)
        return self._pieces(lambda v: self.table.encode(self._run(self._enc, v, True)),
                            np.asarray(y, dtype=np.float64))

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Source estimates [B, N] from codes [B, K] (the table's levels, then DecNet)."""
        return self._pieces(lambda c: self._run(self._dec, self.table.decode(c), False), np.asarray(codes))

    def estimate(self, y: np.ndarray) -> np.ndarray:
        return self.decode(self.encode(y))


def train_qcs(source, bits: int, rng: np.random.Generator, *, encoder: bool = True, k: int | None = None,
              steps: int = DEFAULT_STEPS, batch: int = 100, lr: float = 1e-2, lr_min: float = 3e-3,
              lr_levels: float = 1e-3, lr_levels_min: float = 1e-5, h_init: float = 5.0, h_max: float = 300.0,
              anneal: float = 0.8, learn_thresholds: bool = False, val_samples: int = VAL_SAMPLES,
              checks: int = 20, steepness: str = "ramp", input_scale: float = 1.0) -> QCSNet:
    r"""Train DeepQCS (``encoder``) or CE-DecNet on ``source`` (a :class:`~hwsim.channels.sparse.SparseSource`).

    Parameters
    ----------
    source : SparseSource
    bits : int
        Bits per scalar quantizer, :math:`I = 2^{\rm bits}` levels.
    rng : numpy.random.Generator
        Draws every training and validation sample and seeds torch (the caller's global torch RNG is
        left as it was): a fixed ``rng`` gives a fixed model.
    encoder : bool
        True: EncNet :math:`M \to 5K \to K` before the SHQ (DeepQCS); False: the SHQ on :math:`y` (CE-DecNet).
    k : int or None
        EncNet outputs :math:`K` (None: :math:`M`).
    steps, batch : int
        Adam steps and mini-batch size (fresh source draws each step).
    lr, lr_min, lr_levels, lr_levels_min : float
        Step sizes :math:`\max(\eta^{\min}, \eta/\sqrt t)` of the network weights and of the SHQ levels,
        times a cosine decay from 1 to 0.01 over the steps after the ramp.
    h_init, h_max, anneal : float
        Eq. (31): :math:`h` rises linearly from ``h_init`` to ``h_max`` over ``anneal * steps`` steps (the
        ``"ramp"`` schedule), and :math:`\beta` of eq. (32) from 0 to 1 over the same steps (every schedule).
    steepness : str
        The schedule of :math:`h` (:func:`steepness_schedule`): ``"ramp"`` (default), ``"paper"``
        (:math:`\alpha = 10^{-5}` per step as printed) or ``"paper_scaled"`` (the paper's :math:`10^7`-step
        trajectory compressed into ``steps``).
    input_scale : float
        CE-DecNet only: the SHQ quantizes :math:`y / \text{input\_scale}`, i.e. its thresholds lie at
        ``input_scale`` times the paper's grid in the measurements' units (the returned table is in those
        units). 1: the paper's fixed grid over :math:`[-0.8, 0.8]`.
    learn_thresholds : bool
        Let the SHQ thresholds move (default: fixed, the paper's footnote 17).
    val_samples, checks : int
        The hard-path squared error on ``val_samples`` validation vectors is measured ``checks`` times
        (and at the end); the best model is returned.

    Returns
    -------
    QCSNet
        The kept model (the first of equal checks), with ``history``: (step, h, beta, validation NMSE)
        of each check.

    The loop is :func:`hwsim.training.fit`, one epoch per check: inside
    :func:`hwsim.checkpoint.checkpointing` an interrupted training resumes from its last check to the
    same model (``rng`` ends in the same state too).
    """
    import torch

    _checks.generator("rng", rng)
    bits = _checks.integer("bits", bits, minimum=1, maximum=MAX_SHQ_BITS)
    if steepness not in STEEPNESS:
        raise ValueError(f"steepness must be one of {', '.join(STEEPNESS)}, got {steepness!r}")
    input_scale = _checks.real("input_scale", input_scale, positive=True)
    if encoder and input_scale != 1.0:
        raise ValueError(f"input_scale rescales CE-DecNet's measurements (encoder = False); DeepQCS's EncNet "
                         f"learns its own scale, got input_scale = {input_scale:g} with encoder = True")
    batch = _checks.integer("batch", batch, minimum=1)
    check_network_size(source.N, source.M, source.M if (k is None or not encoder) else int(k), encoder, batch)
    from hwsim._threads import single_threaded

    with torch.random.fork_rng(devices=[]), single_threaded():
        torch.manual_seed(int(rng.integers(2**62)))
        return _train_qcs(torch, source, bits, rng, encoder, k, steps, batch, lr, lr_min, lr_levels, lr_levels_min,
                          h_init, h_max, anneal, learn_thresholds, val_samples, checks, steepness, input_scale)


def _train_qcs(torch, source, bits, rng, encoder, k, steps, batch, lr, lr_min, lr_levels, lr_levels_min,
               h_init, h_max, anneal, learn_thresholds, val_samples, checks, steepness, input_scale):
    import hashlib

    from hwsim.checkpoint import TORCH_GLOBAL_RNG
    from hwsim.training import Carried, Task, fit

    M, N = source.M, source.N
    K = M if (k is None or not encoder) else int(k)
    enc = _mlp([M, 5 * K, K], final_tanh=True) if encoder else None
    dec = _mlp([K, 4 * N, 4 * N, 4 * N, N], final_tanh=False)
    shq = shq_layer(2**bits, learn_thresholds=learn_thresholds)
    nets = [m for m in (enc, dec) if m is not None]
    weights = [p for m in nets for p in m.parameters()]
    shq_params = [shq.a] + ([shq.b] if learn_thresholds else [])
    opt = torch.optim.Adam([{"params": weights, "lr": lr}, {"params": shq_params, "lr": lr_levels}], foreach=True)
    ramp = max(anneal * steps, 1.0)
    beta_rate = 1.0 / ramp
    h_of = steepness_schedule(steepness, h_init, h_max, steps, anneal)
    x_val, y_val = _sample(source, val_samples, rng)
    energy = float((x_val**2).sum(1).mean())

    def snapshot():
        def layers(m):
            return [(lin.weight.detach().double().numpy().copy(), lin.bias.detach().double().numpy().copy())
                    for lin in m if isinstance(lin, torch.nn.Linear)]
        table = shq.to_table()
        if input_scale != 1.0:  # the grid in the measurements' units
            from hwsim.converters.adc import ThresholdADC

            table = ThresholdADC(table.thresholds * input_scale, table.levels)
        return QCSNet(layers(enc) if enc is not None else None, table, layers(dec))

    def h_beta(t):
        return h_of(t), min(beta_rate * t, 1.0)

    # one epoch per validation: checks every `every` steps and after the last one
    every = max(steps // max(checks, 1), 1)
    per_epoch = [every] * (steps // every) + ([steps % every] if steps % every else [])
    chunk = max(1, min(64, _PIECE_VALUES // (batch * N)))  # batches drawn at once (64 for every shipped study)
    drawn = Carried(xs=None, ys=None)

    def step(epoch, i):
        t = epoch * every + i + 1
        j = (t - 1) % chunk
        if j == 0:
            xb, yb = source.sample(chunk * batch, rng)
            drawn.xs = torch.as_tensor(xb, dtype=torch.float32).view(chunk, batch, N)
            drawn.ys = torch.as_tensor(yb, dtype=torch.float32).view(chunk, batch, M)
        h, beta = h_beta(t)
        set_steepness(shq, h)
        # the paper's max(eta_min, eta / sqrt(t)); after the ramp (h at h_max, beta = 1) a cosine decay to
        # 1% of it fine-tunes the nearly hard system in the few steps this schedule has
        fine = 0.0 if t <= ramp or steps <= ramp else (t - ramp) / (steps - ramp)
        decay = 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * fine))
        for g, (eta, eta_min) in zip(opt.param_groups, ((lr, lr_min), (lr_levels, lr_levels_min))):
            g["lr"] = decay * max(eta_min, eta / math.sqrt(t))
        if enc is not None:
            a = enc(drawn.ys[j])
        else:
            a = drawn.ys[j] if input_scale == 1.0 else drawn.ys[j] / input_scale
        out = dec(shq_blended(shq, a, beta))
        loss = ((out - drawn.xs[j]) ** 2).sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    def validate(epoch):
        """The hard path's NMSE on the validation set, after step t."""
        t = epoch * every + per_epoch[epoch]
        h, beta = h_beta(t)
        val = float(((snapshot().estimate(y_val) - x_val) ** 2).sum(1).mean()) / energy
        return val, {"step": t, "h": h, "beta": beta, "val_nmse": val}

    model = torch.nn.ModuleDict({"dec": dec, "shq": shq, **({"enc": enc} if enc is not None else {})})
    data = hashlib.sha256(np.ascontiguousarray(x_val).tobytes() + np.ascontiguousarray(y_val).tobytes()).hexdigest()
    key = {"data": data, "seed": torch.initial_seed(), "n": N, "m": M, "k": K, "encoder": enc is not None,
           "bits": bits, "steps": steps, "batch": batch, "lr": lr, "lr_min": lr_min, "lr_levels": lr_levels,
           "lr_levels_min": lr_levels_min, "h_init": h_init, "h_max": h_max, "anneal": anneal,
           "learn_thresholds": learn_thresholds, "checks": checks, "chunk": chunk}
    if steepness != "ramp":  # keys of the defaults as before, so that earlier checkpoints still match
        key["steepness"] = steepness
    if input_scale != 1.0:
        key["input_scale"] = input_scale
    task = Task(model, step, validate, tracked={"opt": opt, "drawn": drawn, "data": rng, "torch": TORCH_GLOBAL_RNG},
                show=lambda entry: {"loss": f"{entry['loss']:.4g}", "validation NMSE": f"{entry['val_nmse']:.4g}"})
    fitted = fit(task, what="DeepQCS network" if enc is not None else "CE-DecNet network", key=key,
                 epochs=len(per_epoch), steps=per_epoch, ties="earlier")
    best = snapshot()  # the kept check's network (fit loaded its state)
    best.history = [(e["step"], e["h"], e["beta"], e["val_nmse"]) for e in fitted.history]
    return best


class _Learned(Estimator):
    r"""Shared part of ``deepqcs`` and ``ce_decnet``: an SHQ and DecNet trained per point (module text).

    Parameters
    ----------
    rate : float
        Bits per source entry, :math:`R`, over the network's scalar quantizers.
    steps, batch : int
        Training steps and the batch of each (fresh source draws every step).
    lr, lr_min : float
        Adam's step :math:`\max(\eta^{\min}, \eta/\sqrt t)` of the networks' weights.
    lr_levels, lr_levels_min : float
        The same for the SHQ's levels.
    h_init, h_max : float
        The SHQ's steepness :math:`h`, raised from ``h_init`` to ``h_max``.
    anneal : float
        Fraction of the steps over which :math:`h` and :math:`\beta` rise, in (0, 1].
    learn_thresholds : bool
        Let the SHQ's thresholds move (the paper keeps them on a uniform grid).
    trainings : int
        Networks trained per point.
    steepness : str
        The schedule of :math:`h` (:func:`steepness_schedule`): ``"ramp"`` (default, hwsim's: :math:`h`
        reaches ``h_max`` after the ``anneal`` fraction of the steps), ``"paper"`` (:math:`\alpha = 10^{-5}`
        per step as printed, which reaches at most :math:`h^{\rm init} + 10^{-5}\,\text{steps}`) or
        ``"paper_scaled"`` (the paper's :math:`10^7`-step trajectory compressed into ``steps``: :math:`h`
        ends at 105). :math:`\beta` follows the ``anneal`` ramp in every case.
    """

    uses_encoder = True

    def __init__(
        self,
        *,
        rate: float = 1.0,
        steps: int = DEFAULT_STEPS,
        batch: int = 100,
        lr: float = 1e-2,
        lr_min: float = 3e-3,
        lr_levels: float = 1e-3,
        lr_levels_min: float = 1e-5,
        h_init: float = 5.0,
        h_max: float = 300.0,
        anneal: float = 0.8,
        learn_thresholds: bool = False,
        trainings: int = 1,
        steepness: Literal["ramp", "paper", "paper_scaled"] = "ramp",
    ):
        _checks.real("receiver.rate", self.params["rate"], positive=True)
        _check_train_params(self.params)
        self.model = None

    @property
    def replicas(self) -> int:
        return self.params["trainings"]

    def quantizers(self, source) -> int:
        return source.M

    def check_link(self, link) -> None:
        super().check_link(link)
        _check_source(link, self.name)
        src = link.source
        bits_per_quantizer(self.params["rate"], src.N, self.quantizers(src), maximum=MAX_SHQ_BITS)
        check_network_size(src.N, src.M, self.quantizers(src), self.uses_encoder, self.params["batch"])

    def prepare(self, link, snr_db, rng) -> None:
        src, p = link.source, self.params
        bits = bits_per_quantizer(p["rate"], src.N, self.quantizers(src), maximum=MAX_SHQ_BITS)
        train = {key: p[key] for key in TRAIN_PARAMS if key != "trainings"}
        t0 = time.perf_counter()
        scale = self.input_scale(src, bits, rng)
        if scale != 1.0:
            train["input_scale"] = scale
        self.model = train_qcs(src, bits, rng, encoder=self.uses_encoder, k=self.quantizers(src), **train)
        self.train_seconds = time.perf_counter() - t0

    def input_scale(self, source, bits: int, rng) -> float:
        """The factor of the SHQ's grid (1: the paper's; :class:`CEDecNet` may match it to the measurements)."""
        return 1.0

    @property
    def table(self):
        """The trained hard quantizer (:class:`~hwsim.converters.adc.ThresholdADC`), what hardware implements."""
        return None if self.model is None else self.model.table

    def estimate(self, x, rng) -> np.ndarray:
        return self.model.estimate(x)


#: Training parameters of ``deepqcs`` and ``ce_decnet`` (seed's values where it gives them): every parameter
#: of :class:`_Learned` but ``rate``.
TRAIN_PARAMS = {key: value for key, value in _Learned.PARAMS.items() if key != "rate"}


@register("receiver", "deepqcs")
class DeepQCS(_Learned):
    """DeepQCS: EncNet, K scalar quantizers learned as an SHQ, DecNet (module text); ``k`` = K (0: M).

    Parameters
    ----------
    rate, steps, batch, lr, lr_min, lr_levels, lr_levels_min, h_init, h_max, anneal, learn_thresholds, trainings
        As for ``ce_decnet`` (:class:`_Learned`).
    steepness : str
        As for ``ce_decnet``.
    k : int
        :math:`K`, EncNet's outputs and scalar quantizers (0: :math:`M`).
    """

    def __init__(
        self,
        *,
        rate: float = 1.0,
        steps: int = DEFAULT_STEPS,
        batch: int = 100,
        lr: float = 1e-2,
        lr_min: float = 3e-3,
        lr_levels: float = 1e-3,
        lr_levels_min: float = 1e-5,
        h_init: float = 5.0,
        h_max: float = 300.0,
        anneal: float = 0.8,
        learn_thresholds: bool = False,
        trainings: int = 1,
        steepness: Literal["ramp", "paper", "paper_scaled"] = "ramp",
        k: int = 0,
    ):
        super().__init__(rate=rate, steps=steps, batch=batch, lr=lr, lr_min=lr_min, lr_levels=lr_levels,
                         lr_levels_min=lr_levels_min, h_init=h_init, h_max=h_max, anneal=anneal,
                         learn_thresholds=learn_thresholds, trainings=trainings, steepness=steepness)
        _checks.integer("receiver.k", self.params["k"], minimum=0, maximum=100_000)

    def quantizers(self, source) -> int:
        return self.params["k"] or source.M


#: The grids of CE-DecNet's quantizer (``receiver.grid``).
GRIDS = ("paper", "matched")


def paper_grid_support(levels: int) -> float:
    r"""Support :math:`\gamma` of the uniform quantizer whose thresholds are the paper's grid
    :math:`[-0.8 : 1.6/(I-2) : 0.8]` (0.8 for :math:`I = 2`, whose one threshold is 0)."""
    levels = _checks.integer("levels", levels, minimum=2)
    return 0.8 if levels == 2 else 0.8 * levels / (levels - 2)


def matched_grid_scale(y: np.ndarray, levels: int) -> float:
    r"""The factor that moves the paper's SHQ grid onto the measurements ``y`` (pooled): the MSE-optimal
    uniform quantizer of ``levels`` levels for ``y`` (:func:`uniform_quantizer`, the CE-USQ quantizer) has
    support :math:`\gamma^\star`; the factor is :math:`\gamma^\star / \gamma_{\rm paper}`
    (:func:`paper_grid_support`), so the scaled grid's thresholds are that quantizer's."""
    return uniform_quantizer(y, levels).gamma / paper_grid_support(levels)


def grid_saturation(y: np.ndarray, thresholds) -> float:
    """Share of the entries of ``y`` in a grid's two outer cells (beyond its outermost ``thresholds``), whose
    outputs saturate at the outer levels."""
    t = np.asarray(thresholds, dtype=np.float64)
    v = np.asarray(y, dtype=np.float64)
    return float(np.mean((v < t.min()) | (v > t.max())))


@register("receiver", "ce_decnet")
class CEDecNet(_Learned):
    r"""CE-DecNet: an SHQ-trained scalar quantizer on every measurement, DecNet as the decoder.

    Parameters
    ----------
    rate, steps, batch, lr, lr_min, lr_levels, lr_levels_min, h_init, h_max, anneal, learn_thresholds, trainings
        As for :class:`DeepQCS`.
    steepness : str
        As for :class:`DeepQCS`: the schedule of :math:`h` (:func:`steepness_schedule`).
    grid : str
        The quantizer's fixed thresholds: ``"paper"`` (default) the paper's grid over :math:`[-0.8, 0.8]`,
        which the measurements (standard deviation about 0.45 for the paper's source) overrun at high rates
        (about 8% beyond :math:`\pm 0.8`); ``"matched"`` the same grid scaled by :func:`matched_grid_scale`
        to the thresholds of the MSE-optimal uniform quantizer of :data:`CE_TRAIN_VECTORS` measurements drawn
        at the point's set-up. The factor is the attribute ``grid_scale``.
    """

    uses_encoder = False

    def __init__(
        self,
        *,
        rate: float = 1.0,
        steps: int = DEFAULT_STEPS,
        batch: int = 100,
        lr: float = 1e-2,
        lr_min: float = 3e-3,
        lr_levels: float = 1e-3,
        lr_levels_min: float = 1e-5,
        h_init: float = 5.0,
        h_max: float = 300.0,
        anneal: float = 0.8,
        learn_thresholds: bool = False,
        trainings: int = 1,
        steepness: Literal["ramp", "paper", "paper_scaled"] = "ramp",
        grid: Literal["paper", "matched"] = "paper",
    ):
        super().__init__(rate=rate, steps=steps, batch=batch, lr=lr, lr_min=lr_min, lr_levels=lr_levels,
                         lr_levels_min=lr_levels_min, h_init=h_init, h_max=h_max, anneal=anneal,
                         learn_thresholds=learn_thresholds, trainings=trainings, steepness=steepness)
        self.grid_scale = 1.0

    def input_scale(self, source, bits: int, rng) -> float:
        if self.params["grid"] == "paper":
            self.grid_scale = 1.0
        else:
            _, y = _sample(source, CE_TRAIN_VECTORS, rng)
            self.grid_scale = matched_grid_scale(y, 2**bits)
        return self.grid_scale
