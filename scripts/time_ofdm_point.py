#!/usr/bin/env python
"""Wall time of one point of the quantized MU-MIMO-OFDM uplink (hwsim/configs/ofdm_uplink.toml) per receiver:
N_r = 64 antennas (``--antennas``), K = 8 users, Gray 16-QAM, 3-bit uniform I/Q converters (``--bits``), the
total received SNR ``--snr`` dB, at 1e6 coded bits a point (issue 27, item 5).

A packet of that study carries 8 users x 8 data OFDM symbols x 108 tones x 4 bits = 27648 coded bits, so a
point of 1e6 coded bits is 37 packets (1,022,976 bits). Each receiver's link (``Pipeline.link``: draw, channel,
converters, OFDM demodulation, channel knowledge, detection, count) runs those 37 packets in calls of
``--batch`` packets, on one thread as a sweep worker does, after one warm-up call; the time printed is the
measured wall time of the 37 packets (not extrapolated), with the uncoded BER they gave and the solver
counts. Both the wall time and the CPU time of this process are printed: on a shared machine the wall time
grows with the load and the CPU time much less (read it as the point's cost on one free core).

    python scripts/time_ofdm_point.py [--antennas 64] [--bits 3] [--snr 6] [--packets 37] [--quick]
"""

import argparse
import copy
import time
import tomllib
import warnings
from pathlib import Path

import numpy as np

RECEIVERS = (("bussgang", {"type": "ofdm_lmmse", "csi": "perfect"}),
             ("bussgang est.", {"type": "ofdm_lmmse", "csi": "blmmse"}),
             ("qml", {"type": "ofdm_qml", "csi": "perfect"}),
             ("qml est.", {"type": "ofdm_qml", "csi": "qml"}),
             ("qwls", {"type": "ofdm_qwls", "csi": "perfect"}),
             ("qwls est.", {"type": "ofdm_qwls", "csi": "qml"}))
BITS_PER_PACKET = 8 * 8 * 108 * 4


def main(argv=None):
    from hwsim.engine.sweep import single_threaded
    from hwsim.pipeline import Pipeline

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--antennas", type=int, default=64)
    ap.add_argument("--bits", type=int, default=3)
    ap.add_argument("--snr", type=float, default=6.0, help="total received SNR per antenna, dB (default 6)")
    ap.add_argument("--packets", type=int, default=37, help="packets a point (default 37: 1.02e6 coded bits)")
    ap.add_argument("--batch", type=int, default=2, help="packets a link call (default 2, as the study)")
    ap.add_argument("--quick", action="store_true", help="2 packets, 16 antennas (a smoke run)")
    args = ap.parse_args(argv)
    if args.quick:
        args.packets, args.antennas, args.batch = 2, 16, 1
    for name in ("antennas", "packets", "batch", "bits"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name} must be >= 1")
    config = tomllib.loads((Path(__file__).resolve().parents[1] / "hwsim/configs/ofdm_uplink.toml").read_text())
    base = {k: config[k] for k in ("source", "channel", "adc", "receiver", "metric")}
    base["channel"]["antennas"], base["adc"]["bits"] = args.antennas, args.bits
    blocks = 16  # code blocks a packet (what the link's batch counts)
    print(f"ofdm_uplink point: N_r = {args.antennas}, K = 8, 16-QAM, {args.bits}-bit I/Q, {args.snr:g} dB total SNR, "
          f"{args.packets} packets = {args.packets * BITS_PER_PACKET:,} coded bits, one thread")
    print(f"{'receiver':<15} {'wall s':>8} {'CPU s':>8} {'CPU s/packet':>12} {'uncoded BER':>12} {'unconverged':>12}")
    with single_threaded():
        for name, receiver in RECEIVERS:
            tables = copy.deepcopy(base)
            tables["receiver"] = receiver
            p = Pipeline.from_tables(tables)
            p.check()
            link = p.link(args.snr)
            rng = np.random.default_rng(27)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)   # counted below
                link(rng, blocks)                                  # warm-up (compilation, set-up)
                before = p.receiver.solver_counts()
                errors = trials = 0
                t0, c0 = time.perf_counter(), time.process_time()
                for start in range(0, args.packets, args.batch):
                    t = link(rng, blocks * min(args.batch, args.packets - start))
                    errors, trials = errors + t.total, trials + t.trials
                dt, cpu = time.perf_counter() - t0, time.process_time() - c0
            after = p.receiver.solver_counts()
            late = f"{after[1] - before[1]}/{after[0] - before[0]}" if after is not None else "-"
            print(f"{name:<15} {dt:8.1f} {cpu:8.1f} {cpu / args.packets:12.3f} {errors / trials:12.3e} {late:>12}",
                  flush=True)


if __name__ == "__main__":
    main()
