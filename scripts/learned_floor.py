"""How low does a learned receiver go at one SNR and rate, and what limits it?

Trains one soft-to-hard hybrid receiver per seed (Shlezinger and Eldar Sec. 4.2 system: the pipeline link of
12 antennas, 4 BPSK users, H_ij = exp(-|i-j|), with the ``hybrid`` receiver's defaults) with the
given training settings and tests each on its own stream:

    python scripts/learned_floor.py --snr 14 --rate 1 --seeds 1,2,3
    python scripts/learned_floor.py --snr 14 --rate 1 --seeds 1,2,3 --train-samples 20000

prints one line per receiver (BER, its interval, training seconds) and the mean.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from hwsim.engine.montecarlo import StoppingRule, estimate
from hwsim.pipeline import Pipeline
from hwsim.receivers.learned import Hybrid
from hwsim import study as link_study

#: Shlezinger and Eldar's link without its receiver (the receiver table is built from the arguments).
TABLES = {"source": {"type": "users", "users": 4, "constellation": "bpsk"},
          "channel": {"type": "exponential", "antennas": 12, "frame_len": 100},
          "adc": {"type": "none"}}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--snr", type=float, default=14.0, help="SNR in dB (default 14)")
    ap.add_argument("--rate", type=float, default=1.0, help="bit budget R (default 1)")
    ap.add_argument("--seeds", default="1,2,3", help="comma-separated training seeds (default 1,2,3)")
    ap.add_argument("--train-samples", type=int, default=Hybrid.PARAMS["train_samples"])
    ap.add_argument("--val-samples", type=int, default=5000)
    ap.add_argument("--epochs", type=int, default=Hybrid.PARAMS["epochs"])
    ap.add_argument("--test-bits", type=int, default=800_000, help="test bits per receiver (default 800000)")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    receiver = {"type": "hybrid", "training": "soft_to_hard", "trainset": "optimal", "rate": args.rate,
                "train_samples": args.train_samples, "epochs": args.epochs, "trainings": 1}
    tables = {**TABLES, "receiver": receiver}
    link_study.validate(tables, {"snr_db": args.snr})
    rule = StoppingRule(max_samples=args.test_bits, target_errors=None, min_samples=0, batch=20_000)
    bers = []
    for seed in seeds:
        p = Pipeline.from_tables(tables)
        settings = p.receiver.settings  # the receiver trains with these; only the validation size changes
        p.receiver.settings = lambda settings=settings: dataclasses.replace(settings(), val_samples=args.val_samples)
        start = time.perf_counter()
        link = p.prepare(args.snr, np.random.default_rng(seed)).link(args.snr)
        trained = time.perf_counter() - start
        est = estimate(link, np.random.default_rng(1000 + seed), rule)
        bers.append(est.estimate)
        print(f"seed {seed}: BER {est.estimate:.3g} [{est.ci_low:.3g}, {est.ci_high:.3g}] over {est.samples} bits, "
              f"trained in {trained:.0f} s", flush=True)
    print(f"mean BER over {len(seeds)} receivers: {np.mean(bers):.3g} (t = {args.train_samples}, "
          f"{args.epochs} epochs, {args.val_samples} validation samples, {args.snr:g} dB, R = {args.rate:g})")


if __name__ == "__main__":
    main()
