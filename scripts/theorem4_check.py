"""Monte Carlo check of the Theorem 4 design (quadratic tasks through the lifted vector, hwsim.designs.theorem4).

Setup (the one tests/test_theorem4.py uses and the quantizers guide quotes): s ~ N(0, Sigma_s) with
Sigma_s = [[1, 0.6], [0.6, 1.5]], observed as x = s + w (H = I), w ~ N(0, 0.3 I); three tasks
f_i(s) = s^T C_i s with C_1 = I (energy), C_2 = [[0, 0.5], [0.5, 0]] (s1 s2), C_3 = diag(1, -1)
(difference of energies); p = 3, 2, 1 uniform converters of ``--levels`` levels each with non-subtractive
dither, Theorem 3's support eta = ``--eta`` standard deviations. Prints, for each p, the Monte Carlo MSE
per task with its 95% half-width and the design's prediction (sum of the MMSEs plus (4c), over 3).

    python scripts/theorem4_check.py                       # 10^6 samples, 64 levels, eta = 10 (about 5 s)
    python scripts/theorem4_check.py --levels 16 --eta 8
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import stats

from hwsim.designs import theorem4

SIGMA_S = np.array([[1.0, 0.6], [0.6, 1.5]])
TASKS = [np.eye(2), np.array([[0.0, 0.5], [0.5, 0.0]]), np.diag([1.0, -1.0])]
NOISE = 0.3


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1_000_000)
    ap.add_argument("--levels", type=int, default=64)
    ap.add_argument("--eta", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)
    print(f"Sigma_s = {SIGMA_S.tolist()}, H = I, noise 0.3 I, tasks I, [[0, .5], [.5, 0]], diag(1, -1); "
          f"{args.levels} levels, eta = {args.eta}, {args.samples} samples")
    print("p | Monte Carlo MSE per task (95%) | prediction | linear_mmse")
    for p in (3, 2, 1):
        rng = np.random.default_rng([args.seed, p])
        d = theorem4(TASKS, SIGMA_S, p=p, levels=args.levels, eta=args.eta, noise_cov=NOISE * np.eye(2))
        s = rng.multivariate_normal(np.zeros(2), SIGMA_S, size=args.samples)
        x = s + np.sqrt(NOISE) * rng.standard_normal(s.shape)
        err = ((d.estimate(x, rng) - d.tasks(s)) ** 2).mean(axis=1)
        half = stats.t.ppf(0.975, err.size - 1) * err.std(ddof=1) / np.sqrt(err.size)
        print(f"{p} | {err.mean():.4f} +- {half:.4f} | {d.average_mse():.4f} | {d.linear_mmse}")


if __name__ == "__main__":
    main()
