r"""Monte Carlo estimation with adaptive stopping and confidence intervals.

A *link* is a callable ``link(rng, batch)`` that simulates ``batch`` uses of a system
with the given ``numpy.random.Generator`` and returns its counts, as a :class:`Tally` or
as one of the short tuples below:

- error rates (BER, SER): ``(errors, trials)`` when every trial is independent (the
  interval is then Wilson or Clopper-Pearson, exact for Bernoulli trials); a
  :class:`Tally` with clusters when trials share randomness (the bits of one symbol
  vector, the samples of one frame that share a channel or its estimate);
- mean squared error: ``(sum_sq_err, count)`` (each call is one independent batch: batch
  means), ``(sum_sq_err, sum_sq_err_sq, count)`` (independent trials; ``sum_sq_err_sq``
  sums the squares of the per-trial squared errors), or a :class:`Tally` with clusters.

Which interval each case gets, and why: the unit of an interval must be what is actually
independent. Clustered counts get a cluster-robust (ratio, linearisation) variance,

.. math:: \widehat{\mathrm{Var}}(\hat p) = \frac{C}{C-1}\,
          \frac{\sum_i (e_i - \hat p\, n_i)^2}{(\sum_i n_i)^2},

over the ``C`` independent clusters with totals ``e_i`` of ``n_i`` trials. For rates this
becomes a design effect :math:`d = \max(1, \widehat{\mathrm{Var}} / (\hat p (1 - \hat p) / n))`
and the chosen Wilson or Clopper-Pearson interval is evaluated at the effective sample
size ``n / d`` (Korn and Graubard's effective-sample-size interval), so it keeps their good
behaviour at small counts and equals them when errors are independent. A point with no
error at all has no spread to measure; it gets the independent-trial bound (``d = 1``).
MSE gets a Student-t interval with ``C - 1`` degrees of freedom.

:func:`estimate` calls the link until a :class:`StoppingRule` is met and returns an
:class:`Estimate`; the stopping rule's half-width uses the same interval as the report.
The link is called sequentially with one Generator, so a point's result depends only on
its seed.

An importance-sampled link (:mod:`hwsim.engine.importance`) returns
:class:`~hwsim.engine.importance.Weighted` counts: the same cluster-robust variance of the weighted
totals, with Wilson's interval at the effective sample size :math:`\hat p(1-\hat p)/\widehat{\mathrm{Var}}`;
it stops on the relative half-width (``rule.rel_halfwidth``, else
:data:`~hwsim.engine.importance.DEFAULT_REL_HALFWIDTH`) once :data:`~hwsim.engine.importance.MIN_HITS`
clusters held errors and the weights' effective size is :data:`~hwsim.engine.importance.MIN_ESS`
(``target_errors`` counts nothing there). A point that ends without that effective size
(it ran to ``max_samples`` first, its weights degenerated, or its weighted errors are too small
to square in floating point) has no honest interval from its weights: it falls back to the plain
link (its ``plain`` attribute) with a warning, and its ``stop`` says why.

A link whose receiver solves an iterative problem per detection carries a ``solver_counts()``
attribute (the receiver's :meth:`~hwsim.hooks.ReceiverHooks.solver_counts`): the estimate records how
many problems the point solved and how many of them reached the solver's iteration limit
(:attr:`Estimate.solves`, :attr:`Estimate.unconverged`).
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from .. import _checks
from ..tally import Tally  # the counts of a link call (components return them too)
from . import importance
from .stats import effective_interval

METRICS = ("rate", "mse")
INTERVALS = ("wilson", "clopper-pearson")
#: Most link uses one call may simulate (``stopping.batch``): a guard against configs that exhaust memory,
#: checked before anything is allocated. A call holds every use's antenna samples several times over (the
#: signal, its noise, the converters' outputs, the detector's work): measured peaks of 7.6 kB per channel
#: use (LMMSE) to 27 kB (Sionna's MMSE-PIC) on the 64-antenna massive MIMO links, about 0.4 kB on the
#: 12-antenna seed-001 link, so a batch at the limit stays under about 3 GiB on the biggest link; every
#: shipped config uses at most this. A module constant, to be raised in code by whoever needs more.
MAX_BATCH = 100_000


@dataclass(frozen=True)
class StoppingRule:
    """When to stop: whichever of these comes first, never before ``min_samples``.

    Attributes
    ----------
    max_samples : int
        Cap on trials (bits for BER, realizations for MSE), checked after every link call,
        so the last call may go past it by at most one batch.
    target_errors : int or None
        Stop once this many errors were counted (rates only).
    rel_halfwidth : float or None
        Stop once the interval's half-width is at most this fraction of the estimate.
    min_samples : int
        Trials always simulated, whatever the other rules say.
    batch : int
        Link uses per call (samples of the system, not trials), at most :data:`MAX_BATCH`.
    confidence : float
        Level of the reported interval.
    interval : str
        ``"wilson"`` or ``"clopper-pearson"`` for rates (MSE always uses the CLT).
    min_batches : int
        For MSE from batch means: at least this many batches before a CI rule may stop.
    """

    max_samples: int = 10_000_000
    target_errors: int | None = 200
    rel_halfwidth: float | None = None
    min_samples: int = 10_000
    batch: int = 100_000
    confidence: float = 0.95
    interval: str = "wilson"
    min_batches: int = 10

    def __post_init__(self):
        _checks.integer("max_samples", self.max_samples, minimum=1)
        _checks.integer("min_samples", self.min_samples, minimum=0, maximum=self.max_samples)
        _checks.integer("batch", self.batch, minimum=1)
        if self.batch > MAX_BATCH:
            raise ValueError(f"stopping.batch = {self.batch} is more than the limit of {MAX_BATCH} link uses per call "
                             "(hwsim.engine.montecarlo.MAX_BATCH, a guard against configs that exhaust memory: "
                             "every use holds its antennas' samples several times over); a larger max_samples "
                             "runs more calls instead")
        _checks.integer("min_batches", self.min_batches, minimum=2)
        if self.target_errors is not None:
            _checks.integer("target_errors", self.target_errors, minimum=1)
        if self.rel_halfwidth is not None:
            _checks.real("rel_halfwidth", self.rel_halfwidth, positive=True)
        conf = _checks.real("confidence", self.confidence)
        if not 0 < conf < 1:
            raise ValueError(f"confidence must lie in (0, 1), got {conf}")
        if self.interval not in INTERVALS:
            raise ValueError(f"interval must be one of {', '.join(INTERVALS)}, got {self.interval!r}")


@dataclass(frozen=True)
class Estimate:
    """Result of one Monte Carlo point.

    ``errors`` is the error count (rates) or the sum of squared errors (MSE); ``samples``
    the trials used; ``clusters`` the independent units behind the interval (equal to
    ``samples`` for independent trials); ``interval`` names the interval (see the module
    doc); ``stop`` which rule ended the run. An estimate that averages ``replicas``
    independently set-up systems (see :func:`combine`) gives their smallest and largest
    estimates as ``spread_low`` / ``spread_high``. ``solves`` / ``unconverged``: the problems an
    iterative receiver solved for the point and those that reached its iteration limit (None for a
    receiver without a solver).
    """

    metric: str
    estimate: float
    ci_low: float
    ci_high: float
    errors: float
    samples: int
    calls: int
    seconds: float
    stop: str
    clusters: int = 0
    interval: str = ""
    replicas: int = 1
    spread_low: float | None = None
    spread_high: float | None = None
    ess: float | None = None
    solves: int | None = None
    unconverged: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


class _Accumulator:
    """Running sums of a point's tallies, and the interval they support (see the module doc).

    For clusters ``i`` with totals ``e_i`` of ``n_i`` trials it keeps sum e_i, sum n_i,
    their count, sum e_i^2, sum e_i n_i and sum n_i^2: enough for the cluster-robust
    variance whatever the cluster sizes of different calls.
    """

    def __init__(self, metric: str):
        self.metric = metric
        self.kind = None
        self.total = self.sq = self.cross = 0.0
        self.trials = self.clusters = self.size_sq = 0
        self.calls = 0
        self.hits = self.samples = self.plain_clusters = 0
        self.weight_sum = self.weight_sq = 0.0

    def add(self, counts) -> None:
        kind, tally = self._tally(counts)
        if self.kind is None:
            self.kind = kind
        elif self.kind != kind:
            raise ValueError(f"a link must return the same kind of counts on every call (first {self.kind}, "
                             f"then {kind})")
        total, n, c, sq = tally
        self.calls += 1
        self.total += total
        self.trials += n
        self.clusters += c
        self.sq += sq
        size = n // c
        self.cross += size * total
        self.size_sq += c * size * size

    def _tally(self, counts, weighted: bool = False) -> tuple[str, Tally]:
        if isinstance(counts, importance.Weighted):
            if self.metric != "rate":
                raise ValueError("importance-sampled counts are error rates; this point estimates an MSE")
            self.hits += int(counts.hits)
            self.samples += int(counts.samples)
            self.plain_clusters += int(counts.plain_clusters)
            self.weight_sum += float(counts.weight_sum)
            self.weight_sq += float(counts.weight_sq)
            return "importance", self._tally(Tally(*counts[:4]), weighted=True)[1]
        if isinstance(counts, Tally):
            total, n, c, sq = float(counts.total), int(counts.trials), int(counts.clusters), float(counts.cluster_sq)
            if c <= 0 or n <= 0 or n % c:
                raise ValueError(f"a Tally needs trials > 0 split into clusters > 0 of equal size, got "
                                 f"{n} trials in {c} clusters")
            if not (math.isfinite(total) and math.isfinite(sq)) or total < 0 or sq < 0:
                raise ValueError(f"a Tally needs finite, non-negative totals, got total={total}, cluster_sq={sq}")
            if self.metric == "rate" and total > n and not weighted:
                raise ValueError(f"a rate link must return 0 <= errors <= trials, got ({total}, {n})")
            return "clusters", Tally(total, n, c, sq)
        if self.metric == "rate":
            e, n = counts
            e, n = int(e), int(n)
            if not 0 <= e <= n or n == 0:
                raise ValueError(f"a rate link must return 0 <= errors <= trials with trials > 0, got ({e}, {n})")
            return "independent", Tally(e, n, n, e)  # Bernoulli trials: e_i^2 = e_i
        if len(counts) == 3:
            s, s2, n = counts
            kind, c = "per-trial", int(n)
        elif len(counts) == 2:
            (s, n), s2, kind, c = counts, float(counts[0]) ** 2, "batch", 1
        else:
            raise ValueError(f"an MSE link must return (sum, count), (sum, sum_sq, count) or a Tally, got "
                             f"{len(counts)} values")
        if int(n) <= 0:
            raise ValueError(f"an MSE link must report a positive count, got {int(n)}")
        return kind, Tally(float(s), int(n), c, float(s2))

    @property
    def estimate(self) -> float:
        return self.total / self.trials

    def variance(self) -> float:
        """Cluster-robust variance of the ratio estimate (inf with fewer than two clusters)."""
        if self.clusters < 2:
            return math.inf
        p = self.estimate
        spread = max(self.sq - 2 * p * self.cross + p * p * self.size_sq, 0.0)
        return self.clusters / (self.clusters - 1) * spread / self.trials**2

    @property
    def squares_representable(self) -> bool:
        """Whether the clusters' squared totals are normal floats (or there is no error at all). Weighted
        errors below about 1e-154 square to subnormals or 0, which leaves the spread of the totals (the
        ESS, the variance) unknown, not small."""
        return self.total <= 0 or self.sq >= sys.float_info.min

    @property
    def ess(self) -> float:
        """Kish's effective sample size of the clusters' error totals (see :mod:`hwsim.engine.importance`);
        0 when it cannot be measured (:attr:`squares_representable`)."""
        return self.total**2 / self.sq if self.sq > 0 and self.squares_representable else 0.0

    def name(self, rule: StoppingRule) -> str:
        if self.kind == "importance":
            return f"{rule.interval} (importance, effective size)"
        if self.metric == "rate":
            return rule.interval if self.kind == "independent" else f"{rule.interval} (clustered)"
        return "t (batch means)" if self.kind == "batch" else ("t (clustered)" if self.kind == "clusters" else "t")

    def interval(self, rule: StoppingRule) -> tuple[float, float]:
        p = self.estimate
        if self.kind == "importance":
            if self.total <= 0:
                return 0.0, importance.zero_error_upper(self.plain_clusters, rule.confidence)
            p = min(p, 1.0)
            var = self.variance()
            # no measured spread (squares that underflow): worth one error, never a narrower interval
            n_eff = p * (1 - p) / var if self.squares_representable and var > 0 else min((1 - p) / p, 1e300)
            return effective_interval(p * n_eff, n_eff, rule.confidence, rule.interval)
        if self.metric == "rate":
            if self.kind == "independent" or not 0 < p < 1:
                return effective_interval(self.total, self.trials, rule.confidence, rule.interval)
            n_eff = self.trials / max(1.0, self.variance() / (p * (1 - p) / self.trials))
            return effective_interval(p * n_eff, n_eff, rule.confidence, rule.interval)
        if self.clusters < 2:
            return -math.inf, math.inf
        from scipy.special import stdtrit  # scipy.stats.t.ppf(q, df) is stdtrit(df, q); scipy.stats costs
        # most of a second to load, in the sweep and in each worker

        half = float(stdtrit(self.clusters - 1, 0.5 + rule.confidence / 2)) * math.sqrt(self.variance())
        return p - half, p + half


def estimate(link, rng: np.random.Generator, rule: StoppingRule, metric: str = "rate") -> Estimate:
    """Run ``link`` until ``rule`` stops it; see the module doc for the link protocol."""
    _checks.generator("rng", rng)
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if not isinstance(rule, StoppingRule):
        raise TypeError(f"rule must be a StoppingRule, got {type(rule).__name__}")
    start = time.perf_counter()
    solver = getattr(link, "solver_counts", None)
    solved = solver() if solver is not None else None
    acc = _Accumulator(metric)
    stop = "max_samples"
    while acc.trials < rule.max_samples:
        acc.add(link(rng, rule.batch))
        if acc.trials < rule.min_samples:
            continue
        if acc.kind == "importance":
            enough = acc.hits >= importance.MIN_HITS and acc.ess >= importance.MIN_ESS
            if enough and _narrow(acc, rule, rule.rel_halfwidth or importance.DEFAULT_REL_HALFWIDTH):
                stop = "rel_halfwidth"
                break
            continue
        if metric == "rate" and rule.target_errors is not None and acc.total >= rule.target_errors:
            stop = "target_errors"
            break
        if rule.rel_halfwidth is not None:
            if acc.kind == "batch" and acc.calls < rule.min_batches:
                continue
            if _narrow(acc, rule, rule.rel_halfwidth):
                stop = "rel_halfwidth"
                break
    if acc.kind == "importance":
        trouble, why = importance.mean_weight_check(acc.weight_sum, acc.weight_sq, acc.samples), "degenerate"
        if not trouble and acc.total > 0 and acc.ess < importance.MIN_ESS:
            # only a point whose weights never supported its interval gets here: it ran to max_samples
            if not acc.squares_representable:
                trouble, why = (f"the importance-weighted errors (total {acc.total:.3g}) are too small to square in "
                                "floating point, so their effective number cannot be measured"), "underflow"
            elif acc.hits >= importance.DEGENERATE_HITS:
                trouble = (f"the importance weights degenerated: {acc.ess:.1f} effective error events from "
                           f"{acc.hits} error-carrying clusters (fewer than {importance.MIN_ESS:g})")
            else:
                trouble, why = (f"importance sampling reached max_samples = {rule.max_samples} with {acc.ess:.1f} "
                                f"effective error events from {acc.hits} error-carrying clusters, fewer than the "
                                f"{importance.MIN_ESS:g} its interval needs (a larger stopping.max_samples gives it "
                                "more)"), "too few"
        if trouble:
            warnings.warn(f"{trouble}; re-running the point with plain Monte Carlo", RuntimeWarning, stacklevel=2)
            plain = estimate(link.plain, rng, rule, metric)
            return dataclasses.replace(plain, seconds=time.perf_counter() - start, **_solver_delta(solver, solved),
                                       stop=f"{plain.stop} (plain: importance weights {why})")
    low, high = acc.interval(rule)
    value = acc.estimate
    if acc.kind == "importance":  # a weighted total may pass the trials (weights up to 1/alpha); a rate may not
        value = min(value, 1.0)
    errors = int(acc.total) if metric == "rate" and acc.kind != "importance" else acc.total
    return Estimate(metric, value, low, high, errors, acc.trials, acc.calls, time.perf_counter() - start,
                    stop, acc.clusters, acc.name(rule), ess=acc.ess if acc.kind == "importance" else None,
                    **_solver_delta(solver, solved))


def _solver_delta(solver, before) -> dict:
    """``solves`` / ``unconverged`` of a point: the link's solver counts now less ``before`` (none without)."""
    if solver is None or before is None:
        return {}
    after = solver()
    return {"solves": int(after[0] - before[0]), "unconverged": int(after[1] - before[1])}


def run_replicas(make_link, seed: np.random.SeedSequence, rule: StoppingRule, metric: str = "rate",
                 replicas: int = 1) -> Estimate:
    """One point, as a sweep runs it: ``replicas`` independently set-up links, each run to ``rule`` and
    averaged (:func:`combine`; one replica: its own estimate).

    ``make_link(rng)`` sets a link up (a training, for learned stages) and returns ``link(rng, batch)``.
    Replica ``r``'s set-up draws from the ``r``-th child of ``seed``; the first replica tests on ``seed``
    itself, the others on a child of their set-up's stream. ``seed`` is not changed (its children are
    spawned from a copy), so the same seed gives the same numbers however often it is used. A replica's
    ``seconds`` count its set-up too."""
    seed = np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key, pool_size=seed.pool_size)
    estimates = []
    for r, setup_seed in enumerate(seed.spawn(replicas)):
        start = time.perf_counter()
        link = make_link(np.random.default_rng(setup_seed))
        setup = time.perf_counter() - start
        test_seed = seed if r == 0 else setup_seed.spawn(1)[0]
        est = estimate(link, np.random.default_rng(test_seed), rule, metric)
        estimates.append(dataclasses.replace(est, seconds=est.seconds + setup))
    return combine(estimates, rule.confidence)


def _narrow(acc: _Accumulator, rule: StoppingRule, rel: float) -> bool:
    """The interval's half-width is at most ``rel`` times the estimate."""
    low, high = acc.interval(rule)
    return acc.estimate > 0 and (high - low) / 2 <= rel * acc.estimate


def combine(estimates, confidence: float = 0.95) -> Estimate:
    """Average of independently set-up replicas of one point, e.g. receivers trained with different seeds.

    The estimate is the plain mean of the replicas' estimates (each replica is one draw of
    the set-up, such as a training run, so each counts once). Its interval is the Student-t
    interval over the replicas, which holds both the set-up's randomness and each replica's
    Monte Carlo noise; it is never narrower than the replicas' own intervals combined as
    independent errors of the mean (the test samples alone never justify less), and it is
    clipped at 0 (and at 1 for rates).
    ``spread_low`` / ``spread_high`` are the smallest and largest replica estimates; the
    counts, calls, seconds and solver counts are totals over the replicas.
    """
    estimates = list(estimates)
    if not estimates or not all(isinstance(e, Estimate) for e in estimates):
        raise TypeError("estimates must be a non-empty sequence of Estimate")
    if len(estimates) == 1:
        return estimates[0]
    metrics = {e.metric for e in estimates}
    if len(metrics) != 1:
        raise ValueError(f"estimates must share one metric, got {sorted(metrics)}")
    metric = metrics.pop()
    values = np.array([e.estimate for e in estimates])
    r = len(values)
    mean = float(values.mean())
    from scipy.special import stdtrit  # = scipy.stats.t.ppf (see _Accumulator.interval)

    half = float(stdtrit(r - 1, 0.5 + confidence / 2)) * float(values.std(ddof=1)) / math.sqrt(r)
    # the Monte Carlo noise of the mean alone (replicas' intervals combined as independent errors)
    mc_low = math.sqrt(sum((e.estimate - e.ci_low) ** 2 for e in estimates)) / r
    mc_high = math.sqrt(sum((e.ci_high - e.estimate) ** 2 for e in estimates)) / r
    low = max(0.0, mean - max(half, mc_low))
    high = mean + max(half, mc_high)
    if metric == "rate":
        high = min(1.0, high)
    stops = {e.stop for e in estimates}
    errors = sum(e.errors for e in estimates)
    solver = {}
    if any(e.solves is not None for e in estimates):
        solver = {key: sum(getattr(e, key) or 0 for e in estimates) for key in ("solves", "unconverged")}
    return Estimate(metric, mean, low, high, errors, sum(e.samples for e in estimates),
                    sum(e.calls for e in estimates), sum(e.seconds for e in estimates),
                    stops.pop() if len(stops) == 1 else "mixed", sum(e.clusters for e in estimates),
                    f"t over {r} replicas", r, float(values.min()), float(values.max()), **solver)
