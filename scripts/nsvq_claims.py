r"""Vali's claims for NSVQ tested with an encoder in the loop: NSVQ against the straight-through estimator and EMA.

Vali's thesis (Sec. 5.2, Publication II; Ch. 1 and 6) says that NSVQ "provides more accurate gradients,
faster convergence, and higher perplexity than straight-through estimator (STE) and exponential
moving average (EMA)" and needs no extra loss terms. Without an encoder the NSVQ loss is the k-means
loss and its codebook matches LBG (the ``vq_gaussian`` study), which says nothing about these
claims; here the codebook sits between a trained encoder and decoder
(:func:`hwsim.quantizers.learned_vq.train_autoencoder_vq`):

- source (default ``mixture``): vectors of n = 8 from a mixture of 8 Gaussians (means N(0, 1.5^2 I)
  drawn once from seed 99, each component N(mean, 0.3^2 I), equal weights); ``--source gauss-markov``:
  a unit-variance Gauss-Markov process with rho = 0.9;
- encoder 8 -> 32 -> 32 -> 2 and decoder 2 -> 32 -> 32 -> 8 (ReLU), K = 16 codewords in the
  2-dimensional latent space;
- the three codebook rules: NSVQ (the reconstruction loss alone), STE with the VQ-VAE codebook term
  and commitment beta = 0.25 (Vali eq. (3.5)), EMA (gamma = 0.99) with the commitment term; the same
  networks, codebook start and batches per seed (``np.random.default_rng(seed)`` for every method), Adam
  at 1e-3, batch 256, the same number of steps, dead-code replacement every 50 steps for all three
  (Vali's NSVQ recipe; ``--no-replace``: none for any);
- measured: the hard-VQ reconstruction MSE per dimension on 2000 validation vectors every 50 steps;
  at the end, on 20 000 test vectors, the MSE and the perplexity of the codeword indices
  (:func:`hwsim.quantizers.vq.perplexity`: K for a uniform usage, 1 for one codeword); the steps to reach
  within 10% of the method's own final validation MSE (the mean of its last three measurements), and
  the steps to reach a common level, 1.1 times the best of the three methods' final MSEs on that seed
  (a level a method that ends worse may never reach: then it counts as not reached, and the table gives
  how many seeds reached it and the median of the steps, not reached counted as infinite).

Mean with a 95% Student-t half-width over the seeds, and the paired differences NSVQ - STE and
NSVQ - EMA with the number of seeds on which NSVQ is better::

    python scripts/nsvq_claims.py             # 5 seeds, 2000 steps, about 2.5 minutes on one core
    python scripts/nsvq_claims.py --quick     # 3 seeds, 500 steps, 5000 training vectors, about 20 s
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

from hwsim.quantizers.learned_vq import AUTOENCODER_METHODS, train_autoencoder_vq
from hwsim.quantizers.vq import perplexity

SOURCES = ("mixture", "gauss-markov")
#: The share above a final distortion that counts as converged.
WITHIN = 0.10


def draw_source(source: str, rng: np.random.Generator, n: int, dim: int = 8) -> np.ndarray:
    """``n`` vectors [n, dim] of the ``source``: ``"mixture"`` (8 Gaussians, means from seed 99 with
    standard deviation 1.5, each of standard deviation 0.3, equal weights) or ``"gauss-markov"`` (unit
    variance, rho = 0.9)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if source == "mixture":
        means = np.random.default_rng(99).normal(0.0, 1.5, (8, dim))
        return means[rng.integers(0, 8, n)] + 0.3 * rng.normal(size=(n, dim))
    x = np.empty((n, dim))
    x[:, 0] = rng.normal(size=n)
    for i in range(1, dim):
        x[:, i] = 0.9 * x[:, i - 1] + math.sqrt(1 - 0.81) * rng.normal(size=n)
    return x


def steps_to_reach(steps: np.ndarray, distortion: np.ndarray, level: float) -> float:
    """The first measured step at which ``distortion`` is at or below ``level`` and stays there at every
    later measurement (inf when it never does)."""
    d = np.asarray(distortion, float)
    above = np.nonzero(d > level)[0]
    if len(above) == 0:
        return float(steps[0])
    if above[-1] == len(d) - 1:
        return math.inf
    return float(steps[above[-1] + 1])


def final_distortion(distortion: np.ndarray, last: int = 3) -> float:
    """The mean of the last ``last`` validation measurements."""
    return float(np.mean(np.asarray(distortion, float)[-last:]))


def run_seed(seed: int, source: str = "mixture", *, n_train: int = 20_000, n_val: int = 2000, n_test: int = 20_000,
             codewords: int = 16, steps: int = 2000, replace: bool = True, eval_every: int = 50) -> dict:
    """Train the three methods on one seed's data: per method the test MSE, the test perplexity, the final
    validation MSE, the steps to within :data:`WITHIN` of it and to the common level, and the curve."""
    data_rng = np.random.default_rng([seed, 1])
    train = draw_source(source, data_rng, n_train)
    val = draw_source(source, data_rng, n_val)
    test = draw_source(source, data_rng, n_test)
    out = {}
    for m in AUTOENCODER_METHODS:
        r = train_autoencoder_vq(train, codewords, m, np.random.default_rng(seed), steps=steps, replace=replace,
                                 validation=val, eval_every=eval_every)
        idx, rec = r.reconstruct(test)
        fin = final_distortion(r.distortion)
        out[m] = {"mse": float(np.mean((test - rec) ** 2)), "perplexity": perplexity(idx, codewords),
                  "final": fin, "own": steps_to_reach(r.steps, r.distortion, (1 + WITHIN) * fin),
                  "steps": r.steps, "curve": r.distortion}
    level = (1 + WITHIN) * min(out[m]["final"] for m in AUTOENCODER_METHODS)
    for m in AUTOENCODER_METHODS:
        out[m]["common"] = steps_to_reach(out[m]["steps"], out[m]["curve"], level)
    out["level"] = level
    return out


def mean_interval(values) -> tuple[float, float]:
    """Mean and 95% Student-t half-width (nan for one value, inf values kept: the mean is then inf)."""
    from scipy.special import stdtrit

    v = np.asarray(values, float)
    if len(v) < 2 or not np.all(np.isfinite(v)):
        return float(v.mean()), math.nan
    return float(v.mean()), float(stdtrit(len(v) - 1, 0.975) * v.std(ddof=1) / math.sqrt(len(v)))


def fmt(values, digits: int = 4) -> str:
    m, h = mean_interval(values)
    return f"{m:.{digits}f} +- {h:.{digits}f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default=None, help="comma-separated seeds (default 0..4, quick 0..2)")
    ap.add_argument("--source", default="mixture", choices=SOURCES)
    ap.add_argument("--steps", type=int, default=None, help="training steps (default 2000, quick 500)")
    ap.add_argument("--train", type=int, default=None, help="training vectors (default 20000, quick 5000)")
    ap.add_argument("--codewords", type=int, default=16)
    ap.add_argument("--no-replace", action="store_true", help="no dead-code replacement for any method")
    ap.add_argument("--quick", action="store_true", help="3 seeds, 500 steps, 5000 training and test vectors")
    a = ap.parse_args(argv)
    q = a.quick
    seeds = [int(s) for s in (a.seeds or ("0,1,2" if q else "0,1,2,3,4")).split(",")]
    kw = dict(n_train=a.train or (5000 if q else 20_000), n_test=5000 if q else 20_000, codewords=a.codewords,
              steps=a.steps or (500 if q else 2000), replace=not a.no_replace, eval_every=25 if q else 50)
    t0 = time.time()
    res = [run_seed(s, a.source, **kw) for s in seeds]
    print(f"NSVQ vs STE vs EMA with an encoder: source {a.source} (n = 8), latent 2, K = {kw['codewords']}, "
          f"{kw['steps']} Adam steps of 256, {kw['n_train']} training vectors, dead-code replacement "
          f"{'on' if kw['replace'] else 'off'} for all; {len(seeds)} seeds ({','.join(map(str, seeds))}); "
          "mean +- 95% t half-width")
    print("| quantity | NSVQ | STE | EMA |")
    print("| --- | --- | --- | --- |")
    rows = (("test MSE per dimension", "mse", 4), ("test perplexity (K = uniform use)", "perplexity", 2),
            (f"steps to within {WITHIN:.0%} of its own final MSE", "own", 0))
    for label, key, dg in rows:
        print(f"| {label} | " + " | ".join(fmt([r[m][key] for r in res], dg) for m in AUTOENCODER_METHODS) + " |")
    cells = []
    for m in AUTOENCODER_METHODS:
        v = np.array([r[m]["common"] for r in res])
        cells.append(f"median {np.median(v):g}, reached on {int(np.sum(np.isfinite(v)))}/{len(v)}")
    print(f"| steps to the common level ({1 + WITHIN:g} x the best final MSE of the seed) | " + " | ".join(cells) + " |")
    print("\n| paired difference (per seed) | NSVQ - STE | NSVQ - EMA |")
    print("| --- | --- | --- |")
    for label, key, dg, better in (("test MSE", "mse", 4, -1), ("test perplexity", "perplexity", 2, 1)):
        cells = []
        for other in ("ste", "ema"):
            d = [r["nsvq"][key] - r[other][key] for r in res]
            wins = sum(better * x > 0 for x in d)
            cells.append(f"{fmt(d, dg)} (NSVQ better on {wins}/{len(d)})")
        print(f"| {label} | " + " | ".join(cells) + " |")
    cells = [f"NSVQ sooner on {sum(r['nsvq']['common'] < r[o]['common'] for r in res)}/{len(res)}, later on "
             f"{sum(r['nsvq']['common'] > r[o]['common'] for r in res)}/{len(res)}" for o in ("ste", "ema")]
    print("| steps to the common level | " + " | ".join(cells) + " |")
    print("\nper seed (test MSE / perplexity / steps to the common level):")
    for s, r in zip(seeds, res):
        print(f"  seed {s}: " + "; ".join(f"{m} {r[m]['mse']:.4f} / {r[m]['perplexity']:.2f} / {r[m]['common']:g}"
                                          for m in AUTOENCODER_METHODS))
    print(f"\n{time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
