"""Monte Carlo helpers: confidence intervals for error rates and reproducible per-point streams."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from .. import _checks


def _check_counts(errors, trials):
    trials = _checks.integer("trials", trials, minimum=0)
    errors = _checks.integer("errors", errors, minimum=0, maximum=trials)
    return errors, trials


def _z(confidence: float) -> float:
    confidence = _checks.real("confidence", confidence)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    from scipy.special import ndtri  # scipy.stats.norm.ppf is ndtri; scipy.stats costs most of a second to load

    return float(ndtri(0.5 + confidence / 2))


def wilson_interval(errors: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``errors / trials``.

    Returns ``(low, high)``; with no trials, ``(0, 1)``.
    """
    errors, trials = _check_counts(errors, trials)
    return _wilson(errors, trials, _z(confidence))


def clopper_pearson_interval(errors: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (conservative) Clopper-Pearson interval for ``errors / trials``."""
    errors, trials = _check_counts(errors, trials)
    _z(confidence)
    return _clopper_pearson(errors, trials, confidence)


def effective_interval(errors: float, trials: float, confidence: float = 0.95,
                       kind: str = "wilson") -> tuple[float, float]:
    """Wilson or Clopper-Pearson interval for ``errors`` seen in ``trials`` effective trials.

    The counts need not be integers: for correlated trials they are the observed rate times
    the effective sample size (trials over the design effect; see :mod:`hwsim.engine.montecarlo`).
    With whole counts this is :func:`wilson_interval` / :func:`clopper_pearson_interval`.
    """
    trials = _checks.real("trials", trials, nonnegative=True)
    errors = _checks.real("errors", errors, nonnegative=True)
    if errors > trials:
        raise ValueError(f"errors must be <= trials = {trials}, got {errors}")
    if kind == "wilson":
        return _wilson(errors, trials, _z(confidence))
    if kind == "clopper-pearson":
        _z(confidence)
        return _clopper_pearson(errors, trials, confidence)
    raise ValueError(f"kind must be wilson or clopper-pearson, got {kind!r}")


def _wilson(errors: float, trials: float, z: float) -> tuple[float, float]:
    r"""The two roots of :math:`(\hat p - P)^2 = z^2 P (1 - P) / n`. The lower one is taken from the roots'
    product, :math:`\hat p^2 / (1 + z^2/n)`, over the upper one, not as ``centre - half``: for
    :math:`\hat p \ll z^2/n` (importance-sampled rates far below 1/n) that difference cancels to rounding
    noise of order :math:`10^{-16} z^2/n`, far above :math:`\hat p` itself."""
    if trials == 0:
        return 0.0, 1.0
    p = errors / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    upper = max(float(centre + half), p)
    low = 0.0 if errors == 0 else min(p, p * (p / (denom * upper)))
    high = 1.0 if errors == trials else min(1.0, upper)
    return low, high


def _clopper_pearson(errors: float, trials: float, confidence: float) -> tuple[float, float]:
    if trials == 0:
        return 0.0, 1.0
    from scipy import stats  # here, not at import: scipy.stats costs most of a second to load

    alpha = 1 - confidence
    p = errors / trials
    low = 0.0 if errors == 0 else min(p, float(stats.beta.ppf(alpha / 2, errors, trials - errors + 1)))
    high = 1.0 if errors == trials else max(p, float(stats.beta.ppf(1 - alpha / 2, errors + 1, trials - errors)))
    return low, high


def point_seed(root_seed: int, **params) -> np.random.SeedSequence:
    """SeedSequence for one grid point, keyed by its parameters (order-free, stable across runs).

    The same ``root_seed`` and parameters always give the same stream, whatever order the
    points run in or how many workers run them. The key includes each value's JSON form,
    so ``5`` and ``5.0`` are different keys (numpy scalars count as the Python value).
    """
    root_seed = _checks.integer("root_seed", root_seed, minimum=0)
    params = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()}
    key = json.dumps(params, sort_keys=True, default=str).encode()
    words = np.frombuffer(hashlib.sha256(key).digest(), dtype=np.uint32)
    return np.random.SeedSequence(root_seed, spawn_key=tuple(int(w) for w in words))
