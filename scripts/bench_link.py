#!/usr/bin/env python
"""Throughput of the full symbol-detection link on the sweep engine, against Sionna's ML detector.

The link (seed 001 eq. (8), n_t = 12, n_u = 4, BPSK, 10 dB) is the pipeline of the ``link`` study
(:mod:`hwsim.pipeline`): ``exponential`` channel (real, H_ij = exp(-|i-j|)), ``uniform_range``
converters of 8 levels over [-2, 2] at a fixed full scale, ``qmap`` receiver, ``ber`` metric. It runs
the fused QMAP kernel: draw symbols and noise, quantize, QMAP-detect, count bit errors.
Measured in one run:
- samples/s of the link with 1 and with 2 worker processes (one thread each, each worker
  doing the same work; workers warmed up first, so process start and numba compilation
  are not timed);
- Sionna 2.x MaximumLikelihoodDetector (hard symbol decisions) on the same, unquantized
  channel: detection only, on pre-drawn samples, with all torch threads -- the nearest
  existing tool for this job.
Targets (2-core machine): >= 3e6 samples/s with 2 workers, >= 100x Sionna, parallel
efficiency 1 -> 2 workers >= 80%.

    python scripts/bench_link.py [--calls N] [--batch B]    # --quick for a smoke run
"""

import argparse
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

#: The benchmarked link's component tables (a ``study = "link"`` sweep file's tables) and its point.
TABLES = {"source": {"type": "users", "users": 4, "constellation": "bpsk"},
          "channel": {"type": "exponential", "antennas": 12, "frame_len": 100},
          "adc": {"type": "uniform_range", "levels": 8, "gamma": 2.0, "agc": "fixed"},
          "receiver": {"type": "qmap"},
          "metric": {"type": "ber"}}
POINT = {"snr_db": 10.0}


def _link():
    """The sweep engine's link of the point (``hwsim.studies.link.make_link``), checked to be the fused kernel."""
    from hwsim.studies import link

    link.validate(TABLES, POINT)
    p = link.pipeline(TABLES, POINT)
    if p.receiver.fused_link(p, POINT["snr_db"]) is None:
        raise RuntimeError("the benchmarked link does not take the fused QMAP kernel")
    return link.make_link(TABLES, POINT, np.random.default_rng(0))


def run_link(seed: int, calls: int, batch: int) -> tuple[int, int, float]:
    """Run ``calls`` link calls of ``batch`` samples; returns (samples, bit errors, seconds)."""
    from hwsim.engine.sweep import single_threaded

    with single_threaded():
        link = _link()
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
    ap.add_argument("--calls", type=int, default=40, help="link calls per worker (default 40)")
    ap.add_argument("--batch", type=int, default=100_000, help="samples per link call (default 100000)")
    ap.add_argument("--sionna-samples", type=int, default=200_000)
    ap.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    args = ap.parse_args(argv)
    if args.quick:
        args.calls, args.batch, args.sionna_samples = 2, 5000, 5000

    def pool_rate(workers):
        """Samples/s of ``workers`` processes each running the same work, timed after a warm-up."""
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(run_link, range(100, 100 + workers), [1] * workers, [1000] * workers))  # start them
            t0 = time.perf_counter()
            res = list(pool.map(run_link, range(workers), [args.calls] * workers, [args.batch] * workers))
            wall = time.perf_counter() - t0
        return sum(r[0] for r in res) / wall, sum(r[1] for r in res), sum(r[0] for r in res)

    rate1, e1, n1 = pool_rate(1)
    rate2, e2, n2 = pool_rate(2)
    rate_sionna, ser_sionna = sionna_rate(args.sionna_samples, 5)
    ber_link = (e1 + e2) / ((n1 + n2) * 4)

    print(f"cores: {os.cpu_count()}; link = draw + 8-level ADC + QMAP + count, n_t=12, n_u=4, BPSK, 10 dB")
    print(f"link, 1 worker           {rate1 / 1e6:8.2f} M samples/s   (BER {ber_link:.2e})")
    print(f"link, 2 workers          {rate2 / 1e6:8.2f} M samples/s   target >= 3")
    print(f"parallel efficiency      {rate2 / (2 * rate1) * 100:8.1f} %              target >= 80")
    print(f"Sionna ML detector       {rate_sionna / 1e6:8.3f} M samples/s   (detection only, unquantized, "
          f"SER {ser_sionna:.2e})")
    print(f"ratio link(2) / Sionna   {rate2 / rate_sionna:8.1f} x              target >= 100")


if __name__ == "__main__":
    main()
