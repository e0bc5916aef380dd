#!/usr/bin/env python
"""How the massive-MIMO link's cost grows with the array: throughput and memory against N_r and K.

System: the pipeline of hwsim/configs/massive_mimo.toml -- K users of Gray 16-QAM, N_r receive
antennas, i.i.d. CN(0, 1) Rayleigh channel redrawn every frame of L = 100 channel uses, 3-bit
uniform I/Q converters behind ideal AGC, Bussgang LMMSE ("blmmse", hard decisions, no LLRs), BER
metric, 10 dB -- for every N_r in --antennas (16, 64, 256) and K in --users (4, 8, 16).

Each (N_r, K) runs in a fresh worker process (spawn, one thread: the engine's ``single_threaded``,
as a sweep point runs), which times whole link calls of the config's batch (--batch 2000 channel
uses = 20 frames, as massive_mimo.toml) for at least --seconds after a warm-up call, and reports:
- samples/s (channel uses) and user symbols/s;
- the flops per sample of the link as implemented (real flops, a complex multiply-add = 8), per
  frame: channel product 8 L N K; BLMMSE in its K x K form (the 3-bit table's distortion covariance
  is diagonal: ``hwsim.receivers.linear.diagonal_model``) H_e^H D^-1 H_e 8 N K^2, K x K solve with N
  right-hand sides 8/3 K^3 + 8 N K^2, per-stream statistics 8 N K^2; filter application 8 L N K;
  and the achieved GFLOP/s. Per sample the link also draws 2 N + K normals/integers and quantizes
  2 N values (not flops; they dominate at small N K);
- memory a worker needs: the peak of NumPy's allocations during one link call (tracemalloc)
  and the worker's peak resident set (``ru_maxrss``, which includes the interpreter, NumPy, numba
  and torch as imported by the engine).
The cost growth is then stated against the flop count: the slope of log(time per sample) against
log(flops per sample) over the table (1 when the cost follows the flops).
Last, the float32 option (``receiver.precision = "float32"``) against float64 at one point
(--check-antennas, --check-users, --check-snr), both with the engine's Monte Carlo and its 95%
intervals on the same seed, and their speeds at the largest size.

Workers and BLAS threads: every worker process runs one BLAS/numba/torch thread
(``single_threaded``), so W workers use W cores; run at most as many workers as cores.

    python scripts/bench_scale.py [--antennas 16 64 256] [--users 4 8 16] [--seconds 2] [--quick]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

SNR_DB, FRAME_LEN = 10.0, 100


def tables(antennas: int, users: int, precision: str = "float64", bits: int = 3) -> dict:
    """The link's component tables (massive_mimo.toml's system at N_r = ``antennas``, K = ``users``)."""
    return {"source": {"type": "users", "users": users, "constellation": "qam16"},
            "channel": {"type": "rayleigh", "antennas": antennas, "frame_len": FRAME_LEN},
            "adc": {"type": "uniform", "bits": bits, "agc": "ideal"},
            "receiver": {"type": "blmmse", "llr": False, "precision": precision},
            "metric": {"type": "ber"}}


def flops_per_frame(n: int, k: int, frame_len: int = FRAME_LEN) -> float:
    """Real flops of one frame of the link as implemented (see the module doc)."""
    return 8 / 3 * k**3 + 24 * n * k**2 + 16 * frame_len * n * k


def measure(antennas: int, users: int, batch: int, seconds: float, precision: str = "float64") -> dict:
    """In a worker process: samples/s, the traced peak of one call and the process's peak RSS."""
    import resource
    import tracemalloc

    from hwsim.engine.sweep import single_threaded
    from hwsim.pipeline import Pipeline

    with single_threaded():
        link = Pipeline.from_tables(tables(antennas, users, precision)).link(SNR_DB)
        rng = np.random.default_rng(antennas * 100 + users)
        link(rng, batch)  # warm up: imports, numba, allocations at full size
        tracemalloc.start()
        link(rng, batch)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        calls, t0 = 0, time.perf_counter()
        while True:
            link(rng, batch)
            calls += 1
            wall = time.perf_counter() - t0
            if wall >= seconds and calls >= 2:
                break
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
    samples = calls * (-(-batch // FRAME_LEN) * FRAME_LEN)
    return {"rate": samples / wall, "peak": peak, "rss": rss}


def ber_at(antennas: int, users: int, snr_db: float, precision: str, max_samples: int, seed: int) -> tuple:
    """BER, interval and bits of the link at one point with the engine's Monte Carlo (one thread)."""
    from hwsim.engine.montecarlo import StoppingRule, estimate
    from hwsim.engine.sweep import single_threaded
    from hwsim.pipeline import Pipeline

    with single_threaded():
        link = Pipeline.from_tables(tables(antennas, users, precision)).link(snr_db)
        rule = StoppingRule(max_samples=max_samples, target_errors=None, min_samples=0, batch=2000)
        e = estimate(link, np.random.default_rng(seed), rule)
    return e.estimate, e.ci_low, e.ci_high, e.samples


def _pool():
    return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), max_tasks_per_child=1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--antennas", type=int, nargs="+", default=[16, 64, 256])
    ap.add_argument("--users", type=int, nargs="+", default=[4, 8, 16])
    ap.add_argument("--batch", type=int, default=2000, help="channel uses per link call (default 2000)")
    ap.add_argument("--seconds", type=float, default=2.0, help="timed seconds per size (default 2)")
    ap.add_argument("--check-antennas", type=int, default=64)
    ap.add_argument("--check-users", type=int, default=8)
    ap.add_argument("--check-snr", type=float, default=-2.0)
    ap.add_argument("--check-bits", type=int, default=4_000_000, help="bits per precision in the BER check")
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    args = ap.parse_args(argv)
    if args.quick:
        args.antennas, args.users, args.seconds, args.check_bits = [8, 16], [2, 4], 0.2, 40_000
        args.check_antennas, args.check_users = 16, 4

    rows = []
    for n in args.antennas:
        for k in args.users:
            if k > n:
                continue
            with _pool() as pool:  # a fresh worker per size, so its peak RSS is this size's
                r = pool.submit(measure, n, k, args.batch, args.seconds).result()
            fl = flops_per_frame(n, k) / FRAME_LEN
            rows.append((n, k, r["rate"], fl, r["peak"], r["rss"]))

    print(f"cores: {os.cpu_count()}; massive-MIMO link: 16-QAM, Rayleigh, L = {FRAME_LEN}, 3-bit I/Q ADCs with "
          f"ideal AGC, BLMMSE, {SNR_DB:g} dB; one worker, one thread; batch {args.batch} channel uses")
    print(f"{'N_r':>5} {'K':>4} {'samples/s':>11} {'symbols/s':>11} {'us/sample':>10} {'kflop/sample':>13} "
          f"{'GFLOP/s':>8} {'call peak MB':>13} {'worker RSS MB':>14}")
    for n, k, rate, fl, peak, rss in rows:
        print(f"{n:5d} {k:4d} {rate:11.0f} {rate * k:11.0f} {1e6 / rate:10.2f} {fl / 1e3:13.1f} "
              f"{rate * fl / 1e9:8.2f} {peak / 2**20:13.1f} {rss / 2**20:14.1f}")
    if len(rows) >= 2:
        x = np.log([r[3] for r in rows])
        y = np.log([1 / r[2] for r in rows])
        slope = float(np.polyfit(x, y, 1)[0])
        small, big = min(rows, key=lambda r: r[3]), max(rows, key=lambda r: r[3])
        print(f"cost growth: time per sample ~ flops^{slope:.2f} over the table (1.00 = follows the flop count); "
              f"N_r={small[0]}, K={small[1]} -> N_r={big[0]}, K={big[1]}: flops x{big[3] / small[3]:.1f}, "
              f"time x{small[2] / big[2]:.1f}")
        for k in sorted({r[1] for r in rows}):
            sub = [r for r in rows if r[1] == k]
            if len(sub) >= 2:
                s = float(np.polyfit(np.log([r[0] for r in sub]), np.log([1 / r[2] for r in sub]), 1)[0])
                f = float(np.polyfit(np.log([r[0] for r in sub]), np.log([r[3] for r in sub]), 1)[0])
                print(f"  K={k:3d}: time per sample ~ N_r^{s:.2f}, flops per sample ~ N_r^{f:.2f}")

    n, k = args.check_antennas, args.check_users
    res = {}
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        futs = {p: pool.submit(ber_at, n, k, args.check_snr, p, args.check_bits, 77)
                for p in ("float64", "float32")}
        res = {p: f.result() for p, f in futs.items()}
    print(f"float32 against float64, N_r={n}, K={k}, {args.check_snr:g} dB, same seed, "
          "95% intervals (the engine's, clustered by frame):")
    for p, (ber, lo, hi, bits) in res.items():
        print(f"  {p}: BER {ber:.4e}  [{lo:.4e}, {hi:.4e}]  ({bits} bits)")
    (b64, lo64, hi64, _), (b32, lo32, hi32, _) = res["float64"], res["float32"]
    print(f"  float32 inside float64's interval: {lo64 <= b32 <= hi64}; intervals overlap: "
          f"{max(lo64, lo32) <= min(hi64, hi32)}")
    big_n, big_k = max(args.antennas), max(args.users)
    rates = {}
    for p in ("float64", "float32"):
        with _pool() as pool:
            rates[p] = pool.submit(measure, big_n, big_k, args.batch, args.seconds, p).result()
    print(f"speed at N_r={big_n}, K={big_k}: float32 {rates['float32']['rate']:.0f} samples/s, float64 "
          f"{rates['float64']['rate']:.0f} samples/s (x{rates['float32']['rate'] / rates['float64']['rate']:.2f}); "
          f"call peak {rates['float32']['peak'] / 2**20:.1f} MB against {rates['float64']['peak'] / 2**20:.1f} MB")
    if not math.isfinite(b32):
        raise SystemExit("float32 BER is not finite")


if __name__ == "__main__":
    main()
