#!/usr/bin/env python
"""Throughput of the massive-MIMO link with 3-bit converters and Bussgang LMMSE, against Sionna.

System (hwsim/configs/massive_mimo.toml): N_r = 64 receive antennas, K = 8 users, Gray 16-QAM,
i.i.d. CN(0, 1) Rayleigh channel redrawn every frame of L channel uses (block fading; L = 100 by
default, --frame-len), SNR 10 dB, perfect CSI.

- hwsim: the whole link per call -- draw symbols, channel and noise, ideal-AGC I/Q quantization
  with the 3-bit MSE-optimal uniform table, Bussgang LMMSE ("blmmse", hard decisions, no LLRs),
  count bit errors -- on 2 worker processes (spawn, one thread each, warmed up before timing;
  best of --rounds timed rounds, as the machine may be shared).
  The BLMMSE filter is computed ONCE PER CHANNEL DRAW (frame) and applied to the frame's L
  received vectors, which is exact under block fading.
- Sionna 2.2: LinearDetector("lmmse", hard symbol decisions) on the same link *unquantized*,
  called as documented, with a channel and a noise covariance per received vector, so it
  computes one LMMSE filter (with a whitening Cholesky of the 64 x 64 noise covariance) per
  received vector. Only the detector call is timed, on pre-drawn tensors (drawing and counting
  are not charged to Sionna), in this process with --sionna-threads torch threads, best of
  --repeats. For reference the same detector is also timed with the channel and covariance
  broadcast per frame ([F, 1, N, K] against y [F, L, N]), i.e. one filter per frame inside
  Sionna; that is not the documented usage and is reported, not used for the target.

Units: detected user symbols per second (frames x L x K). Target: hwsim >= 10 x Sionna.
Machine limit: the flops per frame of the filter as implemented (Gram matrix, Bussgang
covariance, N x N solve, per-stream statistics) and of its application (W r for L vectors) are
counted, turned into an achieved GFLOP/s, and compared with the measured one-thread complex
matrix-multiply rate times the number of workers.

    python scripts/bench_massive_mimo.py [--frame-len 100] [--calls 40] [--quick]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

N_R, USERS, BITS_PER_SYMBOL, SNR_DB, ADC_BITS = 64, 8, 4, 10.0, 3


# --------------------------------------------------------------------------- hwsim side
def make_link(frame_len: int, adc_bits: int | None = ADC_BITS, receiver: str = "blmmse"):
    """``link(rng, batch) -> Tally`` of bit errors for ``batch`` channel uses (whole frames).

    The one place that builds the hwsim link: the pipeline of hwsim/configs/massive_mimo.toml.
    """
    from hwsim.pipeline import Pipeline

    adc = {"type": "uniform", "bits": adc_bits, "agc": "ideal"} if adc_bits else {"type": "none"}
    link = Pipeline.from_tables({
        "source": {"type": "users", "users": USERS, "constellation": "qam16"},
        "channel": {"type": "rayleigh", "antennas": N_R, "frame_len": frame_len},
        "adc": adc,
        "receiver": {"type": receiver, "llr": False},
        "metric": {"type": "ber"},
    })
    return link.link(snr_db=SNR_DB)


def run_link(seed: int, calls: int, frames: int, frame_len: int) -> tuple[int, float, float]:
    """``calls`` link calls of ``frames`` frames, one thread; returns (symbols, bit errors, seconds)."""
    from hwsim.engine.sweep import single_threaded

    with single_threaded():
        link = make_link(frame_len)
        rng = np.random.default_rng(seed)
        batch = frames * frame_len
        link(rng, batch)  # warm caches, numba, allocations at full size
        t0 = time.perf_counter()
        errors = 0.0
        for _ in range(calls):
            errors += link(rng, batch).total
        return calls * batch * USERS, errors, time.perf_counter() - t0


def hwsim_rate(workers: int, calls: int, frames: int, frame_len: int, rounds: int) -> tuple[float, float]:
    """Symbols/s of ``workers`` processes running the link side by side (best of ``rounds`` timed
    rounds; each round: every worker runs ``calls`` calls), and the BER over all rounds."""
    ctx = multiprocessing.get_context("spawn")
    best, symbols_all, errors_all = 0.0, 0, 0.0
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        list(pool.map(run_link, range(100, 100 + workers), [1] * workers, [1] * workers,
                      [frame_len] * workers))  # start the workers and import everything
        for r in range(rounds):
            seeds = range(r * workers, (r + 1) * workers)
            t0 = time.perf_counter()
            res = list(pool.map(run_link, seeds, [calls] * workers, [frames] * workers, [frame_len] * workers))
            wall = time.perf_counter() - t0
            symbols = sum(x[0] for x in res)
            best = max(best, symbols / wall)
            symbols_all += symbols
            errors_all += sum(x[1] for x in res)
    return best, errors_all / (symbols_all * BITS_PER_SYMBOL)


# --------------------------------------------------------------------------- Sionna side
def sionna_rates(frames: int, frame_len: int, threads: int, repeats: int) -> dict:
    """Symbols/s of Sionna's LinearDetector(lmmse) on the unquantized link (detection only)."""
    import torch
    from sionna.phy.mapping import Constellation
    from sionna.phy.mimo import LinearDetector

    from hwsim.channels.qam import get_qam

    torch.set_num_threads(threads)
    c = get_qam("qam16")
    rng = np.random.default_rng(7)
    F, L, N, K = frames, frame_len, N_R, USERS
    H = (rng.standard_normal((F, N, K)) + 1j * rng.standard_normal((F, N, K))) / np.sqrt(2)
    idx = c.draw((F, L, K), rng)
    n0 = 10 ** (-SNR_DB / 10)
    y = np.einsum("fnk,flk->fln", H, c.symbols(idx))
    y += np.sqrt(n0 / 2) * (rng.standard_normal(y.shape) + 1j * rng.standard_normal(y.shape))
    out = {}
    for precision, cdt in (("single", torch.complex64), ("double", torch.complex128)):
        sc = Constellation("custom", BITS_PER_SYMBOL, points=c.points, precision=precision)  # hwsim's labels
        det = LinearDetector("lmmse", "symbol", "maxlog", constellation=sc, hard_out=True, precision=precision)
        yt = torch.as_tensor(y, dtype=cdt)
        ht = torch.as_tensor(H, dtype=cdt)
        st = (n0 * torch.eye(N, dtype=cdt))
        layouts = {
            # documented: a channel and a noise covariance per received vector
            "per_vector": (yt.reshape(F * L, N), ht[:, None].expand(F, L, N, K).reshape(F * L, N, K),
                           st.expand(F * L, N, N)),
            # broadcast per frame: one filter per frame inside Sionna
            "per_frame": (yt, ht[:, None], st.expand(F, 1, N, N)),
        }
        for layout, args in layouts.items():
            with torch.no_grad():
                det(*(a[:1] for a in args))  # build
                best = float("inf")
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    est = det(*args)
                    best = min(best, time.perf_counter() - t0)
            est = est.reshape(F, L, K).numpy().astype(np.int64)
            ber = float(np.mean(c.bits(est) != c.bits(idx)))
            out[(precision, layout)] = (F * L * K / best, ber)
    return out


# --------------------------------------------------------------------------- machine limit
def blmmse_flops(n: int, k: int, frame_len: int) -> dict:
    """Real flops per frame of hwsim's BLMMSE as implemented (receivers/linear.py), complex
    multiply-add = 8 flops, Hermitian structure not exploited (numpy does not)."""
    gram = 8 * n * n * k  # C_yy = Es H H^H + C_n
    distortion = 8 * n * n * k  # C_e = C_rr - Es (G H)(G H)^H
    lu = 8 * n**3 / 3  # solve(C_rr, Es G H): LU of N x N ...
    subst = 8 * n * n * k  # ... and forward/back substitution for K right-hand sides
    stats = 8 * k * k * n + 8 * k * n * n  # W H_e and diag(W C_e W^H)
    apply = 8 * k * n * frame_len  # z = W r over the frame
    filt = gram + distortion + lu + subst + stats
    # what the filter needs at least: C_rr = G (H H^H + N0 I) G + D (D diagonal, multi-bit model),
    # so W = Es (GH)^H C_rr^{-1} follows from a K x K system (matrix inversion lemma)
    minimal = 8 * n * k * k + 8 * k**3 / 3 + 8 * n * k * k
    return {"filter": filt, "apply": apply, "total": filt + apply, "filter_min": minimal}


def zgemm_rate(threads: int, n: int = 768, repeats: int = 3) -> float:
    """Measured complex128 matrix-multiply rate (GFLOP/s) with ``threads`` BLAS threads."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))
    b = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))
    with threadpool_limits(threads):
        a @ b
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t0)
    return 8 * n**3 / best / 1e9


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frame-len", type=int, default=100, help="channel uses per frame L (default 100)")
    ap.add_argument("--frames", type=int, default=20, help="frames per link call (default 20)")
    ap.add_argument("--calls", type=int, default=40, help="link calls per worker and round (default 40)")
    ap.add_argument("--rounds", type=int, default=3, help="timed hwsim rounds, best kept (default 3)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sionna-frames", type=int, default=5, help="frames per Sionna call (default 5)")
    ap.add_argument("--sionna-threads", type=int, default=2, help="torch threads for Sionna (default 2)")
    ap.add_argument("--repeats", type=int, default=5, help="Sionna calls timed, best kept (default 5)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    args = ap.parse_args(argv)
    if args.quick:
        args.calls, args.rounds, args.frames, args.sionna_frames, args.repeats = 2, 1, 4, 2, 1
    L = args.frame_len

    rate, ber = hwsim_rate(args.workers, args.calls, args.frames, L, args.rounds)
    sionna = sionna_rates(args.sionna_frames, L, args.sionna_threads, args.repeats)
    fl = blmmse_flops(N_R, USERS, L)
    peak1 = zgemm_rate(1)

    frames_s = rate / (L * USERS)
    achieved = frames_s * fl["total"] / 1e9
    limit = peak1 * args.workers
    base_rate = max(sionna[(p, "per_vector")][0] for p in ("single", "double"))
    print(f"system: N_r={N_R}, K={USERS}, 16-QAM, i.i.d. Rayleigh per frame, L={L} channel uses per frame, "
          f"SNR {SNR_DB:g} dB; cores: {os.cpu_count()}")
    print(f"hwsim BLMMSE 3-bit: {rate:,.0f} symbols/s  ({args.workers} worker processes x 1 thread; full link: "
          f"draw + channel + 3-bit I/Q quantization + detect + count; best of {args.rounds} rounds; BER {ber:.2e}; "
          f"filter computed once per channel draw and applied to the frame's {L} vectors)")
    for (precision, layout), (r, b) in sionna.items():
        how = ("one filter per received vector (documented usage)" if layout == "per_vector"
               else "h, s broadcast per frame: one filter per frame (not the documented usage)")
        print(f"sionna LinearDetector lmmse [{precision}, {layout}]: {r:,.0f} symbols/s  "
              f"({how}; detection only, unquantized, {args.sionna_threads} torch threads in one process, best of "
              f"{args.repeats}; BER {b:.2e})")
    print(f"ratio: {rate / base_rate:.1f} x (target 10x; against the faster documented Sionna call)")
    best_frame = max(sionna[(p, "per_frame")][0] for p in ("single", "double"))
    print(f"ratio against Sionna with one filter per frame: {rate / best_frame:.1f} x (for reference)")
    print(f"flops per frame (BLMMSE as implemented): filter {fl['filter'] / 1e6:.2f} M + application "
          f"{fl['apply'] / 1e6:.2f} M = {fl['total'] / 1e6:.2f} MFLOP (a K x K filter via the matrix "
          f"inversion lemma would need {fl['filter_min'] / 1e6:.3f} M)")
    print(f"achieved: {frames_s:,.0f} frames/s -> {achieved:.2f} GFLOP/s in the filter and its application; "
          f"machine limit {limit:.1f} GFLOP/s (measured complex128 matmul, 1 thread: {peak1:.1f} GFLOP/s, "
          f"x {args.workers} workers) = {100 * achieved / limit:.1f} % of the limit; at the limit the detector "
          f"alone would run {limit * 1e9 / fl['total'] * L * USERS:,.0f} symbols/s")


if __name__ == "__main__":
    main()
