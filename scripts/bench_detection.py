#!/usr/bin/env python
"""Detection throughput of MAP and QMAP (n_t = 12, n_u = 4, BPSK, 8-level uniform ADC over [-2, 2]).

Measures, in one run on the same data:
- MAP from unquantized samples (numpy matmul + argmax);
- QMAP from ADC codes: the numba table lookup-and-sum (detection only), and encode + detect;
- the plain-numpy QMAP baseline that evaluates the Gaussian CDFs for every sample.
Prints samples per second and the ratio QMAP / baseline. Targets (2-core machine):
QMAP >= 8e6 samples/s and >= 50x the baseline.

    python scripts/bench_detection.py [--samples N] [--repeats R]
"""

import argparse
import os
import time

import numpy as np

from hwsim.converters.adc import UniformADC
from hwsim.channels import SymbolChannel, exponential_channel
from hwsim.receivers import MAPDetector, QMAPDetector, qmap_direct


def best_rate(fn, n_samples, repeats):
    """Samples per second of the fastest of ``repeats`` calls (after one warm-up call)."""
    fn()
    best = min(_timed(fn) for _ in range(repeats))
    return n_samples / best


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=2_000_000)
    ap.add_argument("--baseline-samples", type=int, default=50_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)

    H = exponential_channel(12, 4)
    rng = np.random.default_rng(1)
    frames = SymbolChannel(H).sample(1, args.samples, 10.0, rng)
    x = frames.x.reshape(-1, 12)
    adc = UniformADC(8, 2.0)
    codes = adc.encode(x)
    map_det = MAPDetector(H, frames.noise_std)
    qmap_det = QMAPDetector(H, frames.noise_std, adc)
    nb = min(args.baseline_samples, len(x))

    # Correctness first: the fast and the plain QMAP agree on the baseline's samples.
    agree = np.mean(qmap_det.detect_index(codes[:nb]) == qmap_direct(codes[:nb], H, frames.noise_std, adc))

    r_map = best_rate(lambda: map_det.detect_index(x), len(x), args.repeats)
    r_qmap = best_rate(lambda: qmap_det.detect_index(codes), len(x), args.repeats)
    r_qmap_enc = best_rate(lambda: qmap_det.detect_index(adc.encode(x)), len(x), args.repeats)
    r_base = best_rate(lambda: qmap_direct(codes[:nb], H, frames.noise_std, adc), nb, max(1, args.repeats // 2))

    print(f"cores: {os.cpu_count()}, samples: {len(x):,} (baseline {nb:,}), best of {args.repeats}")
    print(f"MAP  (unquantized)          {r_map / 1e6:8.2f} M samples/s")
    print(f"QMAP (codes -> decision)    {r_qmap / 1e6:8.2f} M samples/s   target >= 8")
    print(f"QMAP (encode + detect)      {r_qmap_enc / 1e6:8.2f} M samples/s")
    print(f"QMAP plain numpy baseline   {r_base / 1e6:8.3f} M samples/s")
    print(f"ratio QMAP / baseline       {r_qmap / r_base:8.1f} x            target >= 50")
    print(f"decisions equal to baseline {agree:.6f}")


if __name__ == "__main__":
    main()
