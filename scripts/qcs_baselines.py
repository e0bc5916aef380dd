#!/usr/bin/env python
"""The DeepQCS baselines checked (Leinonen and Codreanu, "Low-complexity vector quantized compressed sensing via
deep neural networks", N = 20, M = 10, S = 2, noise variance 1e-4): three tables, at a reduced size.

1. ``mu``: CE-USQ-L1's constraint mu_qc. The printed mu_qc = sqrt(sigma_n) (1 + 1/I) read literally (sigma_n the
   noise standard deviation: 0.1 (1 + 1/I), hwsim's default ``mu_rule = "paper"``), read as the noise norm
   (sqrt(M) sigma (1 + 1/I) = 0.0316 (1 + 1/I), ``"noise_norm"``), tuned per rate on validation vectors
   (``"genie"``: the paper's 56 candidates 1e-5 .. 10^0.5, the one of least NMSE on ``--val`` vectors), and the
   paper's own per-vector oracle CE-USQ-L1* (the least error of the 56 on every test vector, using x). Every rule
   decodes the same quantized test vectors (one lasso path per vector serves all constraints); intervals are
   95%, from the per-vector errors (paired for the differences), pooled over ``--seeds`` designs.
2. ``grid``: CE-DecNet's fixed grid over [-0.8, 0.8]. The measurements' standard deviation and the share beyond
   +-0.8 (from 200 000 draws), then CE-DecNet trained with the paper's grid and with the grid matched to the
   measurements (``grid = "matched"``: scaled to the MSE-optimal uniform quantizer's thresholds), its
   saturation share and NMSE at a few rates.
3. ``steepness``: eq. (31)'s h = min(h_init + alpha t, h_max): where each schedule ends (the paper's 1e7 steps,
   the study's 15 000, this run's), and DeepQCS trained with each (``steepness = "ramp"``, hwsim's default;
   ``"paper"``, alpha = 1e-5 per step as printed; ``"paper_scaled"``, the paper's 1e7-step trajectory
   compressed into the run) at two rates, from the same initial network and draws.

Reduced size (defaults): ``--steps 4000`` training steps of batch ``--batch 500`` per network (the study: 15 000;
the paper: up to 1e7 of 100), ``--test 5000`` test vectors per point, ``--val 2000`` validation vectors for the
genie, ``--seeds 2`` quantizer designs per rate for the mu table. About 6-8 minutes on one free core.

    python scripts/qcs_baselines.py [--parts mu,grid,steepness] [--steps 4000] [--batch 500] [--test 5000]
                                    [--val 2000] [--seeds 2] [--seed 0]
"""

import argparse
import math
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from hwsim.channels.sparse import SparseSource  # noqa: E402
from hwsim.pipeline import Pipeline  # noqa: E402
from hwsim.receivers import qcs  # noqa: E402

Z = 1.959964  # two-sided 95%
PARTS = ("mu", "grid", "steepness")


def _db(v):
    return 10 * math.log10(v) if v > 0 else float("-inf")


def nmse_db(err, energy):
    """NMSE in dB of per-vector squared errors ``err`` and its 95% interval (normal, on the mean)."""
    m, se = float(err.mean()), float(err.std(ddof=1) / math.sqrt(len(err)))
    return _db(m / energy), _db(max(m - Z * se, 1e-300) / energy), _db((m + Z * se) / energy)


def ratio_db(a, b):
    """10 log10(mean a / mean b) of paired per-vector errors and its 95% interval (delta method)."""
    n, ma, mb = len(a), float(a.mean()), float(b.mean())
    c = np.cov(a, b)
    var = c[0, 0] / ma**2 + c[1, 1] / mb**2 - 2 * c[0, 1] / (ma * mb)
    half = Z * math.sqrt(max(var, 0.0) / n) * 10 / math.log(10)
    d = _db(ma / mb)
    return d, d - half, d + half


def fmt(t):
    return f"{t[0]:7.2f} [{t[1]:.2f}, {t[2]:.2f}]"


def link(receiver):
    lk = Pipeline.from_tables({"source": {"type": "sparse"}, "metric": {"type": "nmse"}, "receiver": receiver})
    lk.check()
    return lk


def part_mu(args, src, streams):
    print("\n== 1. CE-USQ-L1: the constraint mu_qc (the same quantized test vectors for every rule) ==")
    print(f"   {args.seeds} quantizer designs x {args.test} test vectors per rate; genie tuned on {args.val} "
          f"validation vectors per design; NMSE in dB [95% interval]")
    rates = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]
    print(f"{'R':>4} {'mu paper':>9} {'mu noise':>9} {'mu genie':>17} | {'NMSE paper':>21} {'noise_norm':>21} "
          f"{'genie':>21} {'oracle/vector':>21} | {'paper - noise':>21} {'paper - genie':>21}")
    rows = {}
    for rate in rates:
        errs = {k: [] for k in ("paper", "noise_norm", "genie", "oracle")}
        genies = []
        for d in range(args.seeds):
            rng = np.random.default_rng(streams.spawn(1)[0])
            lk = link({"type": "ce_usq_l1", "rate": rate, "mu_rule": "genie", "genie_vectors": args.val})
            lk.prepare(None, rng)
            rx = lk.receiver
            mus = [qcs.mu_qc(src.noise_var, src.M, rx.levels, "paper"), qcs.mu_qc(src.noise_var, src.M, rx.levels,
                                                                                 "noise_norm"), rx.mu()]
            genies.append(rx.mu())
            x, y = src.sample(args.test, rng)
            y_tilde, cands = rx.table.quantize(y), mus + list(qcs.MU_GRID)
            e = np.concatenate([((qcs.bp_constrained_grid(src.phi, y_tilde[i:i + 1000], cands) - x[None, i:i + 1000])
                                 ** 2).sum(2) for i in range(0, len(x), 1000)], axis=1)  # [rules, vectors]
            for k, key in enumerate(("paper", "noise_norm", "genie")):
                errs[key].append(e[k])
            errs["oracle"].append(e[3:].min(0))
        errs = {k: np.concatenate(v) for k, v in errs.items()}
        row = {k: nmse_db(v, src.mean_energy) for k, v in errs.items()}
        row["paper-noise"] = ratio_db(errs["paper"], errs["noise_norm"])
        row["paper-genie"] = ratio_db(errs["paper"], errs["genie"])
        rows[rate] = row
        gtxt = ",".join(f"{g:.3g}" for g in genies)
        print(f"{rate:4.1f} {mus[0]:9.4f} {mus[1]:9.4f} {gtxt:>17} | {fmt(row['paper'])} {fmt(row['noise_norm'])} "
              f"{fmt(row['genie'])} {fmt(row['oracle'])} | {fmt(row['paper-noise'])} {fmt(row['paper-genie'])}",
              flush=True)
    return rows


def _train(receiver, rng):
    lk = link(receiver)
    lk.prepare(None, rng)
    return lk.receiver


def part_grid(args, src, streams):
    print("\n== 2. CE-DecNet: the paper's fixed grid over [-0.8, 0.8] against a grid matched to the measurements ==")
    _, y = src.sample(200_000, np.random.default_rng(streams.spawn(1)[0]))
    std = float(y.std())
    print(f"measurements y = Phi x + n (200 000 x {src.M} draws): standard deviation {std:.4f}, "
          f"share beyond +-0.8 {float(np.mean(np.abs(y) > 0.8)):.4f}, beyond +-2 std "
          f"{float(np.mean(np.abs(y) > 2 * std)):.4f}")
    x_t, y_t = src.sample(args.test, np.random.default_rng(streams.spawn(1)[0]))
    print(f"   trained {args.steps} steps of batch {args.batch}; {args.test} test vectors; NMSE in dB [95% interval]")
    print(f"{'R':>4} {'grid':>8} {'scale':>6} {'outer t':>8} {'outer/std':>9} {'saturated':>9} | {'NMSE':>21} "
          f"| {'train s':>7}")
    rows = {}
    for rate in args.grid_rates:
        seed = streams.spawn(1)[0]
        errs = {}
        for grid in ("paper", "matched"):
            t0 = time.perf_counter()
            rx = _train({"type": "ce_decnet", "rate": rate, "grid": grid, "steps": args.steps, "batch": args.batch},
                        np.random.default_rng(seed))
            xh = rx.estimate(y_t, None)
            errs[grid] = ((xh - x_t) ** 2).sum(1)
            th = rx.table.thresholds
            sat = qcs.grid_saturation(y_t, th)
            r = nmse_db(errs[grid], src.mean_energy)
            rows[(rate, grid)] = {"scale": rx.grid_scale, "outer": float(th.max()), "saturated": sat, "nmse": r}
            print(f"{rate:4.1f} {grid:>8} {rx.grid_scale:6.3f} {th.max():8.4f} {th.max() / std:9.3f} {sat:9.4f} | "
                  f"{fmt(r)} | {time.perf_counter() - t0:7.1f}", flush=True)
        d = ratio_db(errs["matched"], errs["paper"])
        rows[(rate, "diff")] = d
        print(f"{rate:4.1f}  matched - paper: {fmt(d)} dB", flush=True)
    for grid in ("paper", "matched"):
        best = min(args.grid_rates, key=lambda r: rows[(r, grid)]["nmse"][0])
        print(f"floor ({grid} grid, the least NMSE over R = {', '.join(f'{r:g}' for r in args.grid_rates)}): "
              f"{rows[(best, grid)]['nmse'][0]:.2f} dB at R = {best:g}")
    return rows


def part_steepness(args, src, streams):
    print("\n== 3. The steepness schedule, eq. (31): h = min(h_init + alpha t, h_max), h_init = 5, h_max = 300 ==")
    print(f"{'schedule':>13} | h at the end of: {'1e7 steps (paper)':>17} {'15 000 (study)':>15} "
          f"{f'{args.steps} (here)':>15}")
    for kind in qcs.STEEPNESS:
        ends = [qcs.steepness_schedule(kind, 5.0, 300.0, n, 0.8)(n) for n in (qcs.PAPER_STEPS, 15_000, args.steps)]
        print(f"{kind:>13} | {'':16} {ends[0]:17.2f} {ends[1]:15.2f} {ends[2]:15.2f}")
    x_t, y_t = src.sample(args.test, np.random.default_rng(streams.spawn(1)[0]))
    print(f"   DeepQCS trained {args.steps} steps of batch {args.batch} from the same initial network and draws; "
          f"{args.test} test vectors; NMSE in dB [95% interval]")
    rows = {}
    for rate in args.steep_rates:
        seed = streams.spawn(1)[0]
        errs = {}
        for kind in qcs.STEEPNESS:
            t0 = time.perf_counter()
            rx = _train({"type": "deepqcs", "rate": rate, "steepness": kind, "steps": args.steps,
                         "batch": args.batch}, np.random.default_rng(seed))
            errs[kind] = ((rx.estimate(y_t, None) - x_t) ** 2).sum(1)
            r = nmse_db(errs[kind], src.mean_energy)
            h_end = rx.model.history[-1][1]
            rows[(rate, kind)] = r
            print(f"R = {rate:3.1f} {kind:>13}: NMSE {fmt(r)}  (h at the last check {h_end:.2f}; "
                  f"{time.perf_counter() - t0:.0f} s)", flush=True)
        for kind in ("paper", "paper_scaled"):
            d = ratio_db(errs[kind], errs["ramp"])
            rows[(rate, kind + "-ramp")] = d
            print(f"R = {rate:3.1f} {kind} - ramp: {fmt(d)} dB", flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {', '.join(PARTS)}")
    ap.add_argument("--steps", type=int, default=4000, help="training steps per network (default 4000)")
    ap.add_argument("--batch", type=int, default=500, help="training batch (default 500)")
    ap.add_argument("--test", type=int, default=5000, help="test vectors per point (default 5000)")
    ap.add_argument("--val", type=int, default=2000, help="validation vectors of the genie mu (default 2000)")
    ap.add_argument("--seeds", type=int, default=2, help="quantizer designs per rate in the mu table (default 2)")
    ap.add_argument("--grid-rates", type=float, nargs="+", default=[2.0, 3.0, 4.0],
                    help="CE-DecNet rates (default 2 3 4)")
    ap.add_argument("--steep-rates", type=float, nargs="+", default=[1.0, 2.0], help="DeepQCS rates (default 1 2)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        ap.error(f"--parts takes a comma-separated subset of {', '.join(PARTS)}, got {args.parts!r}")
    for name in ("steps", "batch", "seeds"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be >= 1")
    if args.test < 2 or args.val < 1:
        ap.error("--test must be >= 2 and --val >= 1")
    import torch

    torch.set_num_threads(1)
    src = SparseSource()
    root = np.random.SeedSequence(args.seed)
    streams = {p: s for p, s in zip(PARTS, root.spawn(len(PARTS)))}
    t0 = time.perf_counter()
    print(f"source: N = {src.N}, M = {src.M}, S = {src.S}, noise variance {src.noise_var:g}; seed {args.seed}")
    for p in parts:
        {"mu": part_mu, "grid": part_grid, "steepness": part_steepness}[p](args, src, streams[p])
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
