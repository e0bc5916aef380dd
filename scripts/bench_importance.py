#!/usr/bin/env python
"""Wall time of importance sampling to reach BER 1e-9 at a 10% relative half-width, against the
plain Monte Carlo time the same precision would need (computed from the variance, not run).

Two links at BER about 1e-9 (:mod:`hwsim.engine.importance`):
- single-antenna BPSK over AWGN at 12.55 dB (closed form Q(sqrt(2 Es/N0)) = 1.0e-9);
- Shlezinger and Eldar's 12 x 4 BPSK system, MAP detection, at 16 dB.

Plain Monte Carlo needs n = z^2 (1 - p) / (h^2 p) trials for a relative half-width h (the normal
approximation of the binomial; at least this many for the clustered bits of one symbol vector,
whose design effect is above 1). Its time is n times the plain link's time per trial, measured
here on the same link with the same batch size. Both run in this process on one thread.

    python scripts/bench_importance.py [--quick]
"""

import argparse
import math
import time

import numpy as np
from scipy.stats import norm

LINKS = {
    "BPSK over AWGN, 12.55 dB": ({"source": {"type": "users", "users": 1, "constellation": "bpsk"},
                                  "channel": {"type": "awgn", "antennas": 1, "frame_len": 100},
                                  "receiver": {"type": "zf"}}, 10 * math.log10(norm.isf(1e-9) ** 2 / 2)),
    "Shlezinger and Eldar 12 x 4 MAP, 16 dB": ({"source": {"type": "users", "users": 4, "constellation": "bpsk"},
                                    "channel": {"type": "exponential", "antennas": 12, "frame_len": 100},
                                    "receiver": {"type": "map"}}, 16.0),
}


def measure(tables: dict, snr_db: float, plain_trials: int, rel: float = 0.1, confidence: float = 0.95):
    """(importance-sampled Estimate, its wall time, plain seconds per trial)."""
    from hwsim.engine.montecarlo import StoppingRule, estimate
    from hwsim.engine.sweep import single_threaded
    from hwsim.pipeline import Pipeline

    with single_threaded():
        link = Pipeline.from_tables(tables)
        rule = StoppingRule(max_samples=10**9, min_samples=0, batch=20_000, rel_halfwidth=rel, confidence=confidence)
        weighted = link.link(snr_db, "importance")
        weighted(np.random.default_rng(0), 1_000)  # warm up (imports, caches)
        t0 = time.perf_counter()
        est = estimate(weighted, np.random.default_rng(1), rule)
        seconds = time.perf_counter() - t0
        plain = link.link(snr_db)
        plain(np.random.default_rng(0), 1_000)
        t0 = time.perf_counter()
        trials = 0
        rng = np.random.default_rng(2)
        while trials < plain_trials:
            trials += plain(rng, 20_000).trials
        per_trial = (time.perf_counter() - t0) / trials
    return est, seconds, per_trial


def report(quick: bool = False) -> list[str]:
    """The benchmark's lines (the last one: the MAP link's ratio)."""
    lines = []
    z = float(norm.ppf(0.975))
    for name, (tables, snr_db) in LINKS.items():
        est, seconds, per_trial = measure(tables, snr_db, 200_000 if quick else 2_000_000)
        p = est.estimate
        plain_trials = z * z * (1 - p) / (0.1**2 * p)
        plain_seconds = plain_trials * per_trial
        lines.append(f"{name}: importance sampling BER {p:.3e} [{est.ci_low:.3e}, {est.ci_high:.3e}] "
                     f"(ESS {est.ess:.0f}) in {seconds:.2f} s from {est.samples:,} trials; plain Monte Carlo "
                     f"would need {plain_trials:.2e} trials = {plain_seconds:.2e} s ({plain_seconds / 86400:.0f} days "
                     f"at {1 / per_trial / 1e6:.1f} M trials/s)")
        lines.append(f"importance sampling: {plain_seconds / seconds:.2e}x faster than plain Monte Carlo "
                     f"to BER 1e-9 at 10% half-width ({name})")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shorter plain timing (smoke run)")
    args = parser.parse_args()
    for line in report(args.quick):
        print(line, flush=True)


if __name__ == "__main__":
    main()
