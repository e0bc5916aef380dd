#!/usr/bin/env python
"""Speed of the near-ML detector ``nml`` (:class:`hwsim.receivers.onebit.NearML`) against its earlier
implementation, measured in the same run.

The link: 16 receive antennas, 2 users with Gray QPSK, i.i.d. Rayleigh fading redrawn every 100 channel
uses, uniform I/Q converters (1 bit and 3 bits, the MSE-optimal step) behind an ideal AGC, and the nml
receiver with the settings of the nML curves of hwsim/configs/massive_mimo.toml and learned_massive.toml
(its defaults: 20 iterations, step 1 / Lipschitz, FISTA momentum).

- ``reference``: the earlier implementation, kept in the module as
  ``hwsim.receivers.onebit._detect_reference`` (a NumPy iteration over all frames, one call of the
  scalar cell-score kernel per axis and step);
- ``new``: ``NearML.detect`` (one compiled single-precision kernel over all frames, vectorized cell
  scores, then the double-precision kernel on the samples whose estimate lies near a decision boundary).

Both run one thread (``hwsim.engine.sweep.single_threaded``, as sweep points do) on the same pre-drawn
observations (--frames frames per call); each is timed --rounds times, the two alternating (the machine
may be shared), and the best round counts. Units: detected user symbols per second (frames x 100 x 2).
Every round also checks that the two give the same decisions. The per-point time is that of one
2e6-bit point (1e6 QPSK symbols) at the measured rate: detection alone, and the whole link call (draw,
convert, detect, count; ``Pipeline.link``) with each detector, timed the same way. The last line of each
configuration splits one call: the time of the new detector's start (noise std, projected BLMMSE start, step
size; ``NearML._start``), which the reference computes too. Target: ratio >= 10.

    python scripts/bench_nml.py [--snr-db 5] [--frames 20] [--rounds 5] [--clock wall|cpu] [--quick]
"""

from __future__ import annotations

import argparse
import time
import types

import numpy as np

N_R, USERS, FRAME_LEN, BITS_PER_POINT = 16, 2, 100, 2_000_000
BITS_PER_SYMBOL = 2  # QPSK


def make_pipeline(adc_bits: int):
    """The benchmarked link's pipeline (16 x 2 QPSK, Rayleigh, ideal-AGC uniform converters, nml)."""
    from hwsim.pipeline import Pipeline

    return Pipeline.from_tables({
        "source": {"type": "users", "users": USERS, "constellation": "qpsk"},
        "channel": {"type": "rayleigh", "antennas": N_R, "frame_len": FRAME_LEN},
        "adc": {"type": "uniform", "bits": adc_bits, "agc": "ideal"},
        "receiver": {"type": "nml"},
        "metric": {"type": "ber"},
    })


#: Clock of the timings (``--clock``): wall time, or this process's CPU time (on a machine shared with other
#: work, the time the process was not running is left out; everything here runs on one thread).
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = CLOCKS["wall"]


def _best_pair(fn_ref, fn_new, rounds: int) -> tuple[float, float]:
    """Best seconds of each of two callables, timed alternately ``rounds`` times."""
    best_ref = best_new = float("inf")
    for _ in range(rounds):
        t0 = _clock()
        fn_ref()
        best_ref = min(best_ref, _clock() - t0)
        t0 = _clock()
        fn_new()
        best_new = min(best_new, _clock() - t0)
    return best_ref, best_new


def bench(adc_bits: int, snr_db: float, frames: int, rounds: int, link_calls: int) -> dict:
    """Detector and link rates of the reference and the new nml on one configuration."""
    from hwsim.engine.sweep import single_threaded
    from hwsim.receivers.onebit import _detect_reference

    with single_threaded():
        pipe = make_pipeline(adc_bits)
        det = pipe.receiver
        _, obs = pipe.observe(frames, snr_db, np.random.default_rng(1000 + adc_bits))
        ref = _detect_reference(det, obs).indices  # warm up (numba compilation or cache load)
        new = det.detect(obs).indices
        same = float(np.mean(ref == new))
        t_ref, t_new = _best_pair(lambda: _detect_reference(det, obs), lambda: det.detect(obs), rounds)
        # the new call's start (noise std, projected BLMMSE start, step size), which the reference computes too
        t_start = _best_pair(lambda: None, lambda: det._start(obs, det._sigma(obs)), rounds)[1]
        symbols = frames * FRAME_LEN * USERS

        # the whole link call with each detector (the reference put in place of the detector's detect)
        link_new = pipe.link(snr_db)
        pipe_ref = make_pipeline(adc_bits)
        pipe_ref.receiver.detect = types.MethodType(_detect_reference, pipe_ref.receiver)
        link_ref = pipe_ref.link(snr_db)
        batch = frames * FRAME_LEN
        link_new(np.random.default_rng(0), batch)
        link_ref(np.random.default_rng(0), batch)

        def calls(link):
            rng = np.random.default_rng(7)
            return lambda: [link(rng, batch) for _ in range(link_calls)]

        l_ref, l_new = _best_pair(calls(link_ref), calls(link_new), max(1, rounds // 2))
        link_symbols = link_calls * batch * USERS
    return {"bits": adc_bits, "snr_db": snr_db, "same": same, "ref": symbols / t_ref, "new": symbols / t_new,
            "call_ref": t_ref, "call_new": t_new, "call_start": t_start,
            "link_ref": link_symbols / l_ref, "link_new": link_symbols / l_new}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--snr-db", type=float, nargs="+", default=[5.0], help="SNRs (dB) to time (default 5)")
    ap.add_argument("--bits", type=int, nargs="+", default=[1, 3], help="converter resolutions (default 1 3)")
    ap.add_argument("--frames", type=int, default=20, help="frames per detector call (default 20)")
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds per detector (default 5)")
    ap.add_argument("--link-calls", type=int, default=3, help="link calls per timed link round (default 3)")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                    help="wall time (default) or the process's CPU time (steadier on a loaded machine)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 4 frames, 2 rounds, 1 link call")
    args = ap.parse_args(argv)
    global _clock
    _clock = CLOCKS[args.clock]
    if args.quick:
        args.frames, args.rounds, args.link_calls = 4, 2, 1
    for name in ("frames", "rounds", "link_calls"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    symbols_per_point = BITS_PER_POINT / BITS_PER_SYMBOL
    ratios = []
    for bits in args.bits:
        for snr in args.snr_db:
            r = bench(bits, snr, args.frames, args.rounds, args.link_calls)
            ratio = r["new"] / r["ref"]
            ratios.append(ratio)
            print(f"nml {N_R}x{USERS} QPSK {bits}-bit, {snr:g} dB: reference {r['ref']:,.0f} symbols/s, "
                  f"new {r['new']:,.0f} symbols/s, ratio {ratio:.2f} (same decisions on {100 * r['same']:.3f} %)")
            print(f"  one 2e6-bit point: detection reference {symbols_per_point / r['ref']:.1f} s, "
                  f"new {symbols_per_point / r['new']:.1f} s; whole link reference "
                  f"{symbols_per_point / r['link_ref']:.1f} s, new {symbols_per_point / r['link_new']:.1f} s "
                  f"(link ratio {r['link_new'] / r['link_ref']:.2f})")
            print(f"  one call ({args.frames} frames): reference {1e3 * r['call_ref']:.2f} ms, "
                  f"new {1e3 * r['call_new']:.2f} ms, of which its start "
                  f"(noise std, projected BLMMSE start, step) {1e3 * r['call_start']:.2f} ms")
    print(f"ratio: min {min(ratios):.2f}, max {max(ratios):.2f} (target >= 10)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
