#!/usr/bin/env python
"""Throughput of the full symbol-detection link on the sweep engine: random numbers drawn in the kernel
against the earlier vectorised-NumPy draws, and against Sionna's ML detector.

The link (Shlezinger and Eldar eq. (8), n_t = 12, n_u = 4, BPSK, 10 dB) is the pipeline of the ``link`` study
(:mod:`hwsim.pipeline`): ``exponential`` channel (real, H_ij = exp(-|i-j|)), ``uniform_range``
converters of 8 levels over [-2, 2] at a fixed full scale, ``qmap`` receiver, ``ber`` metric. It runs
the fused QMAP link (``QMAP.fused_link``): draw symbols and noise, quantize, QMAP-detect, count bit errors.
Link variants (:data:`VARIANTS`, each a ``fused_link`` ``draws`` mode), measured in the same run:
- ``kernel`` (what sweeps run): one numba kernel draws each sample's symbols and noise from the
  point's NumPy Generator (numba draws NumPy's own numbers) and detects and counts it;
- ``numpy`` (the earlier path, the baseline): vectorised NumPy draws a batch of symbols and noise,
  then a numba kernel quantizes, detects and counts.
Each is timed with 1 and 2 worker processes (one thread each, each worker doing the same work;
workers warmed up first, so process start and numba compilation are not timed; best of --rounds
rounds, the variants alternating, as the machine may be shared).
Also: Sionna 2.x MaximumLikelihoodDetector (hard symbol decisions) on the same, unquantized channel:
detection only, on pre-drawn samples, with all torch threads -- the nearest existing tool for this job.
Targets (2-core machine): kernel link >= 15e6 samples/s with 2 workers and >= 2.2x the numpy-RNG path,
parallel efficiency 1 -> 2 workers >= 80%, >= 100x Sionna.
Then the importance sampler's wall time to BER 1e-9 at a 10% relative half-width against the plain
Monte Carlo time that precision would need, computed from the variance (:mod:`bench_importance`).
The last line is ``speed-up: N.NNx over the numpy-RNG path`` (2 workers each).

    python scripts/bench_link.py [--calls N] [--batch B] [--rounds R]    # --quick for a smoke run
"""

import argparse
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

import bench_importance  # scripts/bench_importance.py, next to this script

#: The benchmarked link's component tables (a ``study = "link"`` sweep file's tables) and its point.
TABLES = {"source": {"type": "users", "users": 4, "constellation": "bpsk"},
          "channel": {"type": "exponential", "antennas": 12, "frame_len": 100},
          "adc": {"type": "uniform_range", "levels": 8, "gamma": 2.0, "agc": "fixed"},
          "receiver": {"type": "qmap"},
          "metric": {"type": "ber"}}
POINT = {"snr_db": 10.0}


#: Link variants timed side by side: name -> (``QMAP.fused_link`` draws mode, what it is).
VARIANTS = {"kernel": ("kernel", "draws in the kernel"),
            "numpy": ("numpy", "numpy-RNG path")}


def _link(draws: str):
    """The sweep engine's link of the point with the given draws mode, checked to be the fused kernel; the
    ``kernel`` variant is checked to count what the engine's own link (``hwsim.study.make_link``) counts."""
    from hwsim.engine.montecarlo import Tally
    from hwsim import study as link

    link.validate(TABLES, POINT)
    p = link.pipeline(TABLES, POINT)
    run = p.receiver.fused_link(p, POINT["snr_db"], draws=draws)
    if run is None:
        raise RuntimeError("the benchmarked link does not take the fused QMAP kernel")
    if draws == "kernel":
        engine = link.make_link(TABLES, POINT, np.random.default_rng(0))
        if tuple(engine(np.random.default_rng(1), 2000)) != tuple(Tally(*run(np.random.default_rng(1), 2000))):
            raise RuntimeError("the engine's link is not the kernel variant")
    return lambda rng, batch: Tally(*run(rng, batch))


def run_link(seed: int, calls: int, batch: int, variant: str = "kernel") -> tuple[int, int, float]:
    """Run ``calls`` link calls of ``batch`` samples; returns (samples, bit errors, seconds)."""
    from hwsim.engine.sweep import single_threaded

    with single_threaded():
        link = _link(VARIANTS[variant][0])
        rng = np.random.default_rng(seed)
        link(rng, batch)  # compile, warm caches and allocate at full size before timing
        t0 = time.perf_counter()
        errors = 0
        for _ in range(calls):
            errors += link(rng, batch).total  # a Tally of bit errors
        return calls * batch, errors, time.perf_counter() - t0


def sionna_rate(n_samples: int, repeats: int) -> tuple[float, float]:
    """Samples/s of Sionna's MaximumLikelihoodDetector and its symbol error rate, same channel at 10 dB."""
    import torch
    from sionna.phy.mapping import Constellation
    from sionna.phy.mimo import MaximumLikelihoodDetector

    from hwsim.channels import SymbolChannel, exponential_channel

    H = exponential_channel(12, 4)
    fr = SymbolChannel(H).sample(1, n_samples, 10.0, np.random.default_rng(3))
    y = torch.tensor(fr.x[0], dtype=torch.complex128)
    h = torch.tensor(H, dtype=torch.complex128).expand(n_samples, 12, 4)
    s = (fr.noise_std**2 * torch.eye(12, dtype=torch.complex128)).expand(n_samples, 12, 12)
    det = MaximumLikelihoodDetector("symbol", "maxlog", 4, constellation_type="pam", num_bits_per_symbol=1,
                                    hard_out=True, precision="double")
    points = Constellation("pam", 1, precision="double").points.real.numpy()
    with torch.no_grad():
        det(y[:1000], h[:1000], s[:1000])
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            idx = det(y, h, s)
            best = min(best, time.perf_counter() - t0)
    ser = float(np.mean(np.sign(points[idx.numpy()]) != fr.s[0]))
    return n_samples / best, ser


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=20, help="link calls per worker and round (default 20)")
    ap.add_argument("--batch", type=int, default=100_000, help="samples per link call (default 100000)")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds, best kept (default 3)")
    ap.add_argument("--sionna-samples", type=int, default=200_000)
    ap.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    args = ap.parse_args(argv)
    if args.quick:
        args.calls, args.batch, args.rounds, args.sionna_samples = 2, 5000, 1, 5000

    pools = {w: ProcessPoolExecutor(w, mp_context=multiprocessing.get_context("spawn")) for w in (1, 2)}
    rates: dict = {}
    errors, samples = 0, 0
    try:
        for w, pool in pools.items():  # start the workers and compile every variant before timing
            for name in VARIANTS:
                list(pool.map(run_link, range(100, 100 + w), [1] * w, [1000] * w, [name] * w))
        for _ in range(args.rounds):
            for w, pool in pools.items():
                for name in VARIANTS:
                    t0 = time.perf_counter()
                    res = list(pool.map(run_link, range(w), [args.calls] * w, [args.batch] * w, [name] * w))
                    wall = time.perf_counter() - t0
                    n = sum(r[0] for r in res)
                    rates[name, w] = max(rates.get((name, w), 0.0), n / wall)
                    if name == "kernel":
                        errors, samples = errors + sum(r[1] for r in res), samples + n
    finally:
        for pool in pools.values():
            pool.shutdown()
    rate_sionna, ser_sionna = sionna_rate(args.sionna_samples, 5)
    ber_link = errors / (samples * 4)
    k1, k2, n2 = rates["kernel", 1], rates["kernel", 2], rates["numpy", 2]

    print(f"cores: {os.cpu_count()}; link = draw + 8-level ADC + QMAP + count, n_t=12, n_u=4, BPSK, 10 dB; "
          f"best of {args.rounds} round(s)")
    for name, (_, what) in VARIANTS.items():
        for w in (1, 2):
            label = f"{name} ({what}), {w} worker{'s' if w > 1 else ''}"
            extra = f"   (BER {ber_link:.2e})" if (name, w) == ("kernel", 1) else (
                "   target >= 15" if (name, w) == ("kernel", 2) else "")
            print(f"{label:44s} {rates[name, w] / 1e6:8.2f} M samples/s{extra}")
    print(f"parallel efficiency (kernel)                 {k2 / (2 * k1) * 100:8.1f} %              target >= 80")
    print(f"Sionna ML detector                           {rate_sionna / 1e6:8.3f} M samples/s   (detection only, "
          f"unquantized, SER {ser_sionna:.2e})")
    print(f"ratio link(2) / Sionna                       {k2 / rate_sionna:8.1f} x              target >= 100")
    # rare events: importance sampling to BER 1e-9 against plain Monte Carlo's time (scripts/bench_importance.py)
    for line in bench_importance.report(quick=args.quick):
        print(line)
    print(f"speed-up: {k2 / n2:.2f}x over the numpy-RNG path")


if __name__ == "__main__":
    main()
