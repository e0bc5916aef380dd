#!/usr/bin/env python
"""Throughput of the massive-MIMO link with 3-bit converters and Bussgang LMMSE, against Sionna.

System (hwsim/configs/massive_mimo.toml): N_r = 64 receive antennas, K = 8 users, Gray 16-QAM,
i.i.d. CN(0, 1) Rayleigh channel redrawn every frame of L channel uses (block fading; L = 100 by
default, --frame-len), SNR 10 dB, perfect CSI.

- hwsim: the whole link per call -- draw symbols, channel and noise, ideal-AGC I/Q quantization
  with the 3-bit MSE-optimal uniform table, Bussgang LMMSE ("blmmse", hard decisions, no LLRs),
  count bit errors -- on 2 worker processes (spawn, one thread each, warmed up before timing;
  best of --rounds timed rounds, as the machine may be shared; the rounds alternate with the
  Sionna timings so that both see the same load).
  The BLMMSE filter is computed ONCE PER CHANNEL DRAW (frame) and applied to the frame's L
  received vectors, which is exact under block fading.
- Sionna 2.2: LinearDetector("lmmse", hard symbol decisions) on the same link *unquantized*,
  called as documented, with a channel and a noise covariance per received vector, so it
  computes one LMMSE filter (with a whitening Cholesky of the 64 x 64 noise covariance) per
  received vector. Only the detector call is timed, on pre-drawn tensors (drawing and counting
  are not charged to Sionna), in this process with --sionna-threads torch threads, best of
  --rounds x --repeats calls. For reference the same detector is also timed with the channel and covariance
  broadcast per frame ([F, 1, N, K] against y [F, L, N]), i.e. one filter per frame inside
  Sionna; that is not the documented usage and is reported, not used for the target.

Units: detected user symbols per second (frames x L x K). Target: hwsim >= 10 x Sionna.
Machine limit: the flops per frame of the filter as implemented (Gram matrix, Bussgang
covariance, N x N solve, per-stream statistics) and of its application (W r for L vectors) are
counted, turned into an achieved GFLOP/s (link rate, and the detector alone on pre-drawn
observations), and compared with the measured one-thread complex matrix-multiply rate (times
the number of workers for the link).

Detector device (--device DEVICE, the receiver's ``device``: "torch:cpu", "cuda", "cuda:N"): the link and
the detector alone are also timed with BLMMSE on that device beside the NumPy path ("cpu"), in this process
with one CPU thread each, the same sizes and seeds, rounds alternating, best of --rounds; --device-only
times only that comparison. A device that is not there (no CUDA GPU) is said in one line and skipped, so
the script runs anywhere.

    python scripts/bench_massive_mimo.py [--frame-len 100] [--calls 40] [--quick] [--device cuda [--device-only]]
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
def make_pipeline(frame_len: int, adc_bits: int | None = ADC_BITS, receiver: str = "blmmse", device: str = "cpu"):
    """The one place that builds the hwsim link: the pipeline of hwsim/configs/massive_mimo.toml
    (hard decisions only: the BER metric needs no LLRs), the detector on ``device``."""
    from hwsim.pipeline import Pipeline

    adc = {"type": "uniform", "bits": adc_bits, "agc": "ideal"} if adc_bits else {"type": "none"}
    return Pipeline.from_tables({
        "source": {"type": "users", "users": USERS, "constellation": "qam16"},
        "channel": {"type": "rayleigh", "antennas": N_R, "frame_len": frame_len},
        "adc": adc,
        "receiver": {"type": receiver, "llr": False, "device": device},
        "metric": {"type": "ber"},
    })


def make_link(frame_len: int, device: str = "cpu"):
    """``link(rng, batch) -> Tally`` of bit errors for ``batch`` channel uses (whole frames)."""
    return make_pipeline(frame_len, device=device).link(snr_db=SNR_DB)


def detector_rate(frames: int, frame_len: int, repeats: int, device: str = "cpu") -> float:
    """Symbols/s of the BLMMSE detector alone (one thread, pre-drawn 3-bit observations) on ``device``."""
    from hwsim.engine.sweep import single_threaded

    with single_threaded():
        pipe = make_pipeline(frame_len, device=device)
        _, obs = pipe.observe(frames, SNR_DB, np.random.default_rng(5))
        pipe.receiver.detect(obs)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            pipe.receiver.detect(obs)
            best = min(best, time.perf_counter() - t0)
    return frames * frame_len * USERS / best


def run_link(seed: int, calls: int, frames: int, frame_len: int, device: str = "cpu") -> tuple[int, float, float]:
    """``calls`` link calls of ``frames`` frames, one thread, the detector on ``device``; returns (symbols,
    bit errors, seconds)."""
    from hwsim.engine.sweep import single_threaded

    with single_threaded():
        link = make_link(frame_len, device)
        rng = np.random.default_rng(seed)
        batch = frames * frame_len
        link(rng, batch)  # warm caches, numba, allocations at full size
        t0 = time.perf_counter()
        errors = 0.0
        for _ in range(calls):
            errors += link(rng, batch).total
        return calls * batch * USERS, errors, time.perf_counter() - t0


class HwsimPool:
    """``workers`` spawned processes, started and warmed up once; :meth:`round` times one round."""

    def __init__(self, workers: int, calls: int, frames: int, frame_len: int):
        self.workers, self.calls, self.frames, self.frame_len = workers, calls, frames, frame_len
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        self.rounds = 0
        self.symbols, self.errors = 0, 0.0
        w = workers
        list(self.pool.map(run_link, range(100, 100 + w), [1] * w, [1] * w, [frame_len] * w))  # start, import

    def round(self) -> float:
        """Symbols/s of one round (every worker runs ``calls`` link calls side by side)."""
        w = self.workers
        seeds = range(self.rounds * w, (self.rounds + 1) * w)
        t0 = time.perf_counter()
        res = list(self.pool.map(run_link, seeds, [self.calls] * w, [self.frames] * w, [self.frame_len] * w))
        wall = time.perf_counter() - t0
        self.rounds += 1
        symbols = sum(x[0] for x in res)
        self.symbols += symbols
        self.errors += sum(x[1] for x in res)
        return symbols / wall

    @property
    def ber(self) -> float:
        return self.errors / (self.symbols * BITS_PER_SYMBOL)

    def close(self):
        self.pool.shutdown()


# --------------------------------------------------------------------------- Sionna side
class SionnaBench:
    """Sionna's LinearDetector(lmmse, hard symbols) on pre-drawn unquantized frames of the link.

    Configurations: precision single / double x layout ``per_vector`` (documented: a channel and
    a noise covariance per received vector) / ``per_frame`` (both broadcast per frame, so one
    filter per frame inside Sionna). :meth:`time_once` times each configuration once.
    """

    def __init__(self, frames: int, frame_len: int, threads: int):
        import torch
        from sionna.phy.mapping import Constellation
        from sionna.phy.mimo import LinearDetector

        from hwsim.channels.constellations import get_qam

        torch.set_num_threads(threads)
        self.torch = torch
        c = self.c = get_qam("qam16")
        rng = np.random.default_rng(7)
        F, L, N, K = self.shape = frames, frame_len, N_R, USERS
        H = (rng.standard_normal((F, N, K)) + 1j * rng.standard_normal((F, N, K))) / np.sqrt(2)
        self.idx = c.draw((F, L, K), rng)
        n0 = 10 ** (-SNR_DB / 10)
        y = np.einsum("fnk,flk->fln", H, c.symbols(self.idx))
        y += np.sqrt(n0 / 2) * (rng.standard_normal(y.shape) + 1j * rng.standard_normal(y.shape))
        self.configs = {}
        for precision, cdt in (("single", torch.complex64), ("double", torch.complex128)):
            sc = Constellation("custom", BITS_PER_SYMBOL, points=c.points, precision=precision)  # hwsim's labels
            det = LinearDetector("lmmse", "symbol", "maxlog", constellation=sc, hard_out=True, precision=precision)
            yt, ht = torch.as_tensor(y, dtype=cdt), torch.as_tensor(H, dtype=cdt)
            st = n0 * torch.eye(N, dtype=cdt)
            layouts = {
                "per_vector": (yt.reshape(F * L, N), ht[:, None].expand(F, L, N, K).reshape(F * L, N, K),
                               st.expand(F * L, N, N)),
                "per_frame": (yt, ht[:, None], st.expand(F, 1, N, N)),
            }
            for layout, args in layouts.items():
                with torch.no_grad():
                    det(*(a[:1] for a in args))  # build
                self.configs[(precision, layout)] = (det, args)
        self.best = {key: float("inf") for key in self.configs}
        self.ber = {}

    def time_once(self):
        F, L, N, K = self.shape
        for key, (det, args) in self.configs.items():
            with self.torch.no_grad():
                t0 = time.perf_counter()
                est = det(*args)
                self.best[key] = min(self.best[key], time.perf_counter() - t0)
            est = est.reshape(F, L, K).numpy().astype(np.int64)
            self.ber[key] = float(np.mean(self.c.bits(est) != self.c.bits(self.idx)))

    def rates(self) -> dict:
        F, L, N, K = self.shape
        return {key: (F * L * K / t, self.ber[key]) for key, t in self.best.items()}


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


def rng_limit(frame_len: int, repeats: int = 5) -> dict:
    """The random-number limit of one worker: what the link must draw per channel use (2 N normals of noise,
    2 N K / L of the frame's channel, K symbol indices) at the rates NumPy's Generator draws them here (one
    thread, best of ``repeats``), as symbols per second."""
    from hwsim.channels.constellations import get_qam

    rng = np.random.default_rng(0)
    c = get_qam("qam16")
    uses = 20 * frame_len
    out = np.empty(uses * 2 * N_R)
    best_n = best_i = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        rng.standard_normal(out=out)
        best_n = min(best_n, time.perf_counter() - t0)
        t0 = time.perf_counter()
        c.draw((20, frame_len, USERS), rng)
        best_i = min(best_i, time.perf_counter() - t0)
    normals_s, indices_s = out.size / best_n, uses * USERS / best_i
    normals_per_use = 2 * N_R + 2 * N_R * USERS / frame_len
    seconds_per_use = normals_per_use / normals_s + USERS / indices_s
    return {"normals_s": normals_s, "indices_s": indices_s, "normals_per_use": normals_per_use,
            "symbols_s": USERS / seconds_per_use}


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


def device_name(device: str) -> str:
    """What ``device`` is here (the GPU's name), for the report."""
    import torch

    d = torch.device(device.removeprefix("torch:"))
    if d.type == "cuda":
        return f"{torch.cuda.get_device_name(d)}, torch {torch.__version__}"
    return f"torch {torch.__version__} on the CPU"


def compare_device(device: str, calls: int, frames: int, frame_len: int, rounds: int) -> None:
    """Time the link and the detector alone with BLMMSE on ``device`` beside the NumPy path, in this process
    (one CPU thread each; the same sizes and seeds; rounds alternate; best of ``rounds``), and print both.
    A device that is not there is said in one line and skipped."""
    devices = ["cpu", device]
    try:
        make_pipeline(frame_len, device=device)
    except ValueError as exc:
        print(f"detector device {device!r}: not available here ({exc}); the NumPy path only")
        devices = ["cpu"]
    best = dict.fromkeys(devices, 0.0)
    errors = dict.fromkeys(devices, 0.0)
    symbols = dict.fromkeys(devices, 0)
    for r in range(rounds):
        for dev in best:
            n, e, t = run_link(1000 + r, calls, frames, frame_len, dev)  # the same draws for both
            best[dev] = max(best[dev], n / t)
            errors[dev] += e
            symbols[dev] += n
    alone = {dev: detector_rate(frames, frame_len, max(3, rounds), dev) for dev in best}
    ber = {dev: errors[dev] / (symbols[dev] * BITS_PER_SYMBOL) for dev in best}
    if device not in best:
        print(f"NumPy path, 1 process x 1 CPU thread, {frames} frames x {frame_len} uses per call, best of {rounds} "
              f"rounds of {calls} calls: link {best['cpu']:,.0f} symbols/s (BER {ber['cpu']:.3e}); detector alone "
              f"{alone['cpu']:,.0f} symbols/s")
        return
    print(f"detector on {device} ({device_name(device)}) beside NumPy, 1 process x 1 CPU thread, {frames} frames "
          f"x {frame_len} uses per call, best of {rounds} rounds of {calls} calls:")
    print(f"  link (draw + channel + 3-bit I/Q quantization + detect + count): NumPy {best['cpu']:,.0f} symbols/s, "
          f"{device} {best[device]:,.0f} symbols/s ({best[device] / best['cpu']:.2f} x); BER {ber['cpu']:.3e} vs "
          f"{ber[device]:.3e} on the same draws")
    print(f"  detector alone (BLMMSE.detect on pre-drawn observations): NumPy {alone['cpu']:,.0f} symbols/s, "
          f"{device} {alone[device]:,.0f} symbols/s ({alone[device] / alone['cpu']:.2f} x)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frame-len", type=int, default=100, help="channel uses per frame L (default 100)")
    ap.add_argument("--frames", type=int, default=20, help="frames per link call (default 20)")
    ap.add_argument("--calls", type=int, default=40, help="link calls per worker and round (default 40)")
    ap.add_argument("--rounds", type=int, default=5,
                    help="timed rounds, best kept; each round = one hwsim round + --repeats Sionna calls per "
                         "configuration (default 5)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sionna-frames", type=int, default=5, help="frames per Sionna call (default 5)")
    ap.add_argument("--sionna-threads", type=int, default=2, help="torch threads for Sionna (default 2)")
    ap.add_argument("--repeats", type=int, default=2, help="Sionna calls per configuration and round (default 2)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    ap.add_argument("--device", default=None,
                    help="also time BLMMSE on this receiver device (\"torch:cpu\", \"cuda\", \"cuda:N\") beside the "
                         "NumPy path; a device that is not there is said and skipped")
    ap.add_argument("--device-only", action="store_true",
                    help="time only the --device comparison (no worker pool, no Sionna)")
    ap.add_argument("--device-frames", type=int, default=None,
                    help="frames per link call in the --device comparison (default --frames)")
    args = ap.parse_args(argv)
    if args.quick:
        args.calls, args.rounds, args.frames, args.sionna_frames, args.repeats = 2, 1, 4, 2, 1
    L = args.frame_len
    if args.device_only and args.device is None:
        ap.error("--device-only needs --device")
    if args.device is not None and args.device_only:
        compare_device(args.device, args.calls, args.device_frames or args.frames, L, args.rounds)
        return

    # hwsim rounds and Sionna timings alternate, so both sample the same load on a shared machine
    pool = HwsimPool(args.workers, args.calls, args.frames, L)
    bench = SionnaBench(args.sionna_frames, L, args.sionna_threads)
    rate = 0.0
    try:
        for _ in range(args.rounds):
            rate = max(rate, pool.round())
            for _ in range(args.repeats):
                bench.time_once()
    finally:
        pool.close()
    ber = pool.ber
    sionna = bench.rates()
    fl = blmmse_flops(N_R, USERS, L)
    peak1 = zgemm_rate(1)
    det_rate = detector_rate(args.frames, L, 5)
    rng_lim = rng_limit(L)

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
              f"{args.rounds * args.repeats}; BER {b:.2e})")
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
    det_gflops = det_rate / (L * USERS) * fl["total"] / 1e9
    print(f"detector alone (BLMMSE.detect on pre-drawn observations, 1 thread): {det_rate:,.0f} symbols/s -> "
          f"{det_gflops:.2f} GFLOP/s = {100 * det_gflops / peak1:.1f} % of the 1-thread limit; the detector takes "
          f"~{100 * (rate / args.workers) / det_rate:.0f} % of a worker's link time")
    per_worker = rate / args.workers
    print(f"link per worker: {per_worker:,.0f} symbols/s = detector alone / {det_rate / per_worker:.2f} "
          f"(target: within 2x)")
    print(f"random-number limit per worker: {rng_lim['normals_per_use']:.1f} normals per channel use at "
          f"{rng_lim['normals_s'] / 1e6:.0f} M/s and {USERS} symbol indices at {rng_lim['indices_s'] / 1e6:.0f} M/s "
          f"(NumPy's Generator, 1 thread) -> {rng_lim['symbols_s']:,.0f} symbols/s; the link runs at "
          f"{100 * per_worker / rng_lim['symbols_s']:.0f} % of it; drawing and detecting alone, one after the "
          f"other, would give {1 / (1 / rng_lim['symbols_s'] + 1 / det_rate):,.0f} symbols/s")
    if args.device is not None:
        compare_device(args.device, args.calls, args.device_frames or args.frames, L, args.rounds)


if __name__ == "__main__":
    main()
