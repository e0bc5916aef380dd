#!/usr/bin/env python
"""Timing of the deep task-based quantizer: one training, and the Fig. 7 reproduction.

Prints, measured in this run:
- seconds to train one hybrid receiver (t = 5000 samples, default settings, R = 1, 12 dB)
  with one torch thread and with all threads (target <= 20 s);
- seconds for the quick Fig. 7 sweep (target <= 120 s) and, with --full, the full one
  (target <= 900 s), each into a temporary folder with all cores as workers.

    python scripts/bench_training.py [--full]
"""

import argparse
import os
import tempfile
import time

import numpy as np
import torch

#: Seed 001's link (12 antennas, 4 BPSK users, H_ij = exp(-|i-j|)) with the hybrid receiver at its
#: defaults (R = 1, soft-to-hard, trained on the true channel, t = 5000 samples, 60 epochs).
TABLES = {"source": {"type": "users", "users": 4, "constellation": "bpsk"},
          "channel": {"type": "exponential", "antennas": 12, "frame_len": 100},
          "adc": {"type": "none"},
          "receiver": {"type": "hybrid", "rate": 1.0, "training": "soft_to_hard", "trainset": "optimal"}}


def train_seconds(threads: int) -> tuple[float, float]:
    from hwsim.pipeline import Pipeline

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    link = Pipeline.from_tables(TABLES)
    link.check()
    trained = link.receiver.train(link, 12.0, np.random.default_rng(0))  # on the CPU, as a sweep trains
    return time.perf_counter() - t0, min(h["val_error"] for h in trained.history)


def sweep_seconds(quick: bool) -> float:
    from hwsim.engine.sweep import load_config, run_sweep

    cfg = load_config("fig7", quick=quick)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_sweep(cfg, os.path.join(tmp, "fig7"), quiet=True)
        return time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="also time the full Fig. 7 sweep (minutes)")
    args = ap.parse_args(argv)
    cores = os.cpu_count() or 1
    t1, err1 = train_seconds(1)
    tn, _ = train_seconds(cores)
    print(f"cores: {cores}")
    print(f"train one receiver, 1 thread     {t1:7.1f} s   target <= 20   (best hard validation SER {err1:.4f})")
    print(f"train one receiver, {cores} threads    {tn:7.1f} s   target <= 20")
    print(f"Fig. 7 quick sweep               {sweep_seconds(True):7.1f} s   target <= 120")
    if args.full:
        print(f"Fig. 7 full sweep                {sweep_seconds(False):7.1f} s   target <= 900")


if __name__ == "__main__":
    main()
