#!/usr/bin/env python
"""Decoding time of DeepQCS against CE-USQ-L1 on the same test set (Leinonen and Codreanu, "Low-complexity
vector quantized compressed sensing via deep neural networks", Table I: DeepQCS decodes 35-60x faster).

Both decoders get the same quantized test vectors of the N = 20, M = 10, S = 2 source at ``--rate``:

- DeepQCS: the codes of its K quantizers -> the table's levels -> DecNet (numpy, float64);
- CE-USQ-L1: the uniformly quantized measurements -> quadratically constrained basis pursuit solved
  from scikit-learn's lasso path (:func:`hwsim.receivers.qcs.bp_constrained`).

Timing one vector at a time (as a sensor network's decoder would meet them, and as the paper's table
does) is the headline; DeepQCS decoding the whole set in one batch is printed beside it. The DeepQCS
network is trained briefly (``--steps``): its accuracy does not change its decoding time, which depends
only on the layer sizes. Prints, among others, the line

    decoding speed-up: N.NNx DeepQCS over CE-USQ-L1

    python scripts/bench_qcs.py [--vectors 300] [--rate 2.0] [--steps 300] [--repeats 5] [--seed 0]
"""

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from hwsim.pipeline import Pipeline  # noqa: E402


def _best(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", type=int, default=300, help="test vectors (default 300)")
    ap.add_argument("--rate", type=float, default=2.0, help="bits per source entry (default 2.0)")
    ap.add_argument("--steps", type=int, default=300, help="DeepQCS training steps (default 300)")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats, the fastest kept (default 5)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.vectors < 1 or args.repeats < 1 or args.steps < 1:
        ap.error("--vectors, --repeats and --steps must be >= 1")
    import torch

    torch.set_num_threads(1)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(args.seed).spawn(3)]

    def link(receiver):
        return Pipeline.from_tables({"source": {"type": "sparse"}, "metric": {"type": "nmse"},
                                     "receiver": {"type": receiver, "rate": args.rate, **(
                                         {"steps": args.steps, "batch": 200} if receiver == "deepqcs" else {})}})

    deep, ce = link("deepqcs"), link("ce_usq_l1")
    for lk, rng in ((deep, rngs[0]), (ce, rngs[1])):
        lk.check()
        lk.prepare(None, rng)
    x, y = deep.source.sample(args.vectors, rngs[2])
    net = deep.receiver.model
    codes = net.encode(y)
    y_tilde = ce.receiver.table.quantize(y)

    def deep_each():
        for c in codes:
            net.decode(c[None, :])

    def ce_each():
        for v in y_tilde:
            ce.receiver.decode(v[None, :])

    t_deep = _best(deep_each, args.repeats) / args.vectors
    t_ce = _best(ce_each, args.repeats) / args.vectors
    t_batch = _best(lambda: net.decode(codes), args.repeats) / args.vectors

    def nmse(xh):
        return 10 * np.log10(((xh - x) ** 2).sum(1).mean() / deep.source.mean_energy)

    print(f"test set: {args.vectors} vectors, N = 20, M = 10, S = 2, R = {args.rate:g} bits per entry "
          f"(DeepQCS trained {args.steps} steps only: its NMSE {nmse(net.decode(codes)):.2f} dB, CE-USQ-L1 "
          f"{nmse(ce.receiver.decode(y_tilde)):.2f} dB)")
    print(f"decoding time per vector, one at a time: DeepQCS {t_deep * 1e6:.1f} us, CE-USQ-L1 {t_ce * 1e6:.1f} us")
    print(f"DeepQCS decoding the whole set in one batch: {t_batch * 1e6:.2f} us per vector "
          f"({t_ce / t_batch:.0f}x faster than CE-USQ-L1 one at a time)")
    print(f"decoding speed-up: {t_ce / t_deep:.2f}x DeepQCS over CE-USQ-L1")


if __name__ == "__main__":
    main()
