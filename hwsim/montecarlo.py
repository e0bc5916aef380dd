r"""Monte Carlo estimation with adaptive stopping and confidence intervals.

A *link* is a callable ``link(rng, batch)`` that simulates ``batch`` uses of a system
with the given ``numpy.random.Generator`` and returns counts:

- error rates (BER, SER): ``(errors, trials)``;
- mean squared error: ``(sum_sq_err, count)``, or ``(sum_sq_err, sum_sq_err_sq, count)``
  where ``sum_sq_err_sq`` sums the squares of the per-trial squared errors (then the
  interval uses the per-trial variance; otherwise the variance of batch means).

:func:`estimate` calls the link until a :class:`StoppingRule` is met and returns an
:class:`Estimate`. The link is called sequentially with one Generator, so a point's
result depends only on its seed.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np

from . import _checks
from .stats import _z, clopper_pearson_interval, wilson_interval

METRICS = ("rate", "mse")
INTERVALS = ("wilson", "clopper-pearson")


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
        Link uses per call (samples of the system, not trials).
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
    the trials used; ``stop`` which rule ended the run.
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

    def as_dict(self) -> dict:
        return asdict(self)


def _rate_interval(errors, samples, rule):
    fn = wilson_interval if rule.interval == "wilson" else clopper_pearson_interval
    return fn(int(errors), int(samples), rule.confidence)


class _MeanAccumulator:
    def __init__(self):
        self.total = 0.0
        self.total_sq = 0.0
        self.count = 0
        self.per_trial = None
        self.batch_means: list[tuple[float, int]] = []

    def add(self, counts):
        if len(counts) == 3:
            s, s2, n = counts
            per_trial = True
        elif len(counts) == 2:
            (s, n), s2, per_trial = counts, 0.0, False
        else:
            raise ValueError(f"an MSE link must return (sum, count) or (sum, sum_sq, count), got {len(counts)} values")
        if self.per_trial is None:
            self.per_trial = per_trial
        elif self.per_trial != per_trial:
            raise ValueError("an MSE link must return the same kind of counts on every call")
        n = int(n)
        if n <= 0:
            raise ValueError(f"an MSE link must report a positive count, got {n}")
        self.total += float(s)
        self.total_sq += float(s2)
        self.count += n
        self.batch_means.append((float(s) / n, n))

    def interval(self, rule):
        mean = self.total / self.count
        z = _z(rule.confidence)
        if self.per_trial:
            var = max(self.total_sq / self.count - mean * mean, 0.0)
            half = z * math.sqrt(var / self.count)
        elif len(self.batch_means) >= 2:
            m = np.array([b[0] for b in self.batch_means])
            w = np.array([b[1] for b in self.batch_means], dtype=float)
            # variance of the weighted mean from the spread of batch means
            var_b = np.sum(w * (m - mean) ** 2) / (np.sum(w) - np.sum(w**2) / np.sum(w))
            half = z * math.sqrt(var_b * np.sum(w**2) / np.sum(w) ** 2)
        else:
            half = math.inf
        return mean, mean - half, mean + half


def estimate(link, rng: np.random.Generator, rule: StoppingRule, metric: str = "rate") -> Estimate:
    """Run ``link`` until ``rule`` stops it; see the module doc for the link protocol."""
    _checks.generator("rng", rng)
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if not isinstance(rule, StoppingRule):
        raise TypeError(f"rule must be a StoppingRule, got {type(rule).__name__}")
    start = time.perf_counter()
    errors = samples = calls = 0
    acc = _MeanAccumulator() if metric == "mse" else None
    stop = "max_samples"
    while samples < rule.max_samples:
        counts = link(rng, rule.batch)
        calls += 1
        if metric == "rate":
            e, n = counts
            e, n = int(e), int(n)
            if not 0 <= e <= n or n == 0:
                raise ValueError(f"a rate link must return 0 <= errors <= trials with trials > 0, got ({e}, {n})")
            errors += e
            samples += n
        else:
            acc.add(counts)
            errors, samples = acc.total, acc.count
        if samples < rule.min_samples:
            continue
        if metric == "rate" and rule.target_errors is not None and errors >= rule.target_errors:
            stop = "target_errors"
            break
        if rule.rel_halfwidth is not None:
            if metric == "rate":
                est = errors / samples
                low, high = _rate_interval(errors, samples, rule)
            else:
                if not acc.per_trial and calls < rule.min_batches:
                    continue
                est, low, high = acc.interval(rule)
            if est > 0 and (high - low) / 2 <= rule.rel_halfwidth * est:
                stop = "rel_halfwidth"
                break
    if metric == "rate":
        est = errors / samples
        low, high = _rate_interval(errors, samples, rule)
    else:
        est, low, high = acc.interval(rule)
    return Estimate(metric, est, low, high, errors, samples, calls, time.perf_counter() - start, stop)
