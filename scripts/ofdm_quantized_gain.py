#!/usr/bin/env python
"""Uncoded BER of the quantization-aware OFDM receivers against the Bussgang LMMSE receiver, per converter
resolution, on one system (issue 27, item 2).

System: K = 8 single-antenna users, N_r = 16 antennas, 16-QAM on 64 subcarriers (cyclic prefix 16), 7 OFDM
symbols per slot (one Kronecker pilot symbol, 6 data symbols), ``rayleigh_taps`` with 4 equal-power taps,
``snr_db`` = 18 (per user, 1/N0), uniform I/Q converters of 1-4 bits behind the ideal AGC, perfect CSI. The
uncoded BER counts the coded bits of every slot (``metric = "ber"``), with the Wilson 95% interval; every
receiver sees the same slots (the same seed). Receivers: ``ofdm_lmmse`` (Bussgang LMMSE), ``ofdm_qml`` (the
cell likelihood, ``smoothing`` 1 and the exact likelihood ``smoothing`` 0), ``ofdm_qwls`` (the
per-sample-variance surrogate). ``gain`` is the BER of ``ofdm_lmmse`` over the receiver's; ``s/slot`` its
wall time per slot (the machine may be shared: read ratios). ``--csi blmmse | qml`` estimates the channel
instead (``ofdm_lmmse`` then uses its Bussgang LMMSE estimate).

    python scripts/ofdm_quantized_gain.py [--slots S] [--snr DB] [--bits B ...] [--csi C] [--quick]
"""

import argparse
import time
import warnings

import numpy as np

def receivers(csi):
    """(label, receiver table) of each receiver measured; ``ofdm_lmmse`` takes ``blmmse`` where ``csi = "qml"``."""
    return (("ofdm_lmmse", {"type": "ofdm_lmmse", "csi": "perfect" if csi == "perfect" else "blmmse"}),
            ("ofdm_qml", {"type": "ofdm_qml", "csi": csi}),
            ("ofdm_qml smoothing=0", {"type": "ofdm_qml", "csi": csi, "smoothing": 0.0}),
            ("ofdm_qwls", {"type": "ofdm_qwls", "csi": csi}))


def pipeline(receiver, bits, users=8, antennas=16):
    from hwsim.pipeline import Pipeline

    p = Pipeline.from_tables({
        "source": {"type": "ofdm", "users": users, "constellation": "qam16", "fft_size": 64, "cp_length": 16,
                   "ofdm_symbols": 7, "pilot_symbols": [0], "block_len": 256, "code_rate": 0.5},
        "channel": {"type": "rayleigh_taps", "taps": 4, "antennas": antennas},
        "adc": {"type": "uniform", "bits": bits}, "receiver": receiver, "metric": {"type": "ber"}})
    p.check()
    return p


def main(argv=None):
    from hwsim.engine.stats import wilson_interval

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--slots", type=int, default=40, help="slots per point (default 40)")
    ap.add_argument("--snr", type=float, default=18.0, help="snr_db (default 18)")
    ap.add_argument("--bits", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--csi", choices=("perfect", "blmmse", "qml"), default="perfect",
                    help="channel knowledge (default perfect; ofdm_lmmse uses blmmse unless perfect)")
    ap.add_argument("--quick", action="store_true", help="4 slots per point")
    args = ap.parse_args(argv)
    slots = 4 if args.quick else args.slots
    if slots < 1:
        raise SystemExit("--slots must be >= 1")
    print(f"K = 8, N_r = 16, 16-QAM, 64 tones, 4-tap Rayleigh, snr_db = {args.snr}, {slots} slots per point, "
          f"csi = {args.csi}")
    print(f"{'bits':>4}  {'receiver':<22} {'BER':>10}  {'95% interval':<23} {'gain':>6} {'s/slot':>7} {'unconv.':>7}")
    for bits in args.bits:
        base = None
        for name, table in receivers(args.csi):
            p = pipeline(table, bits)
            idx, obs = p.observe(slots, args.snr, np.random.default_rng(2027 + bits))
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)   # counted below instead
                d = p.receiver.detect(obs)
            dt = (time.perf_counter() - t0) / slots
            errors, trials = int((d.indices != idx).sum()), idx.size
            ber = errors / trials
            lo, hi = wilson_interval(errors, trials)
            base = ber if base is None else base
            gain = base / ber if ber > 0 else float("inf")
            unconv = f"{p.receiver.unconverged}/{p.receiver.solves}" if hasattr(p.receiver, "unconverged") else "-"
            print(f"{bits:>4}  {name:<22} {ber:10.3e}  [{lo:.3e}, {hi:.3e}] {gain:6.2f} {dt:7.3f} {unconv:>7}",
                  flush=True)


if __name__ == "__main__":
    main()
