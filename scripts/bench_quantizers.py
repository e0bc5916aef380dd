#!/usr/bin/env python
"""Throughput of the vector quantizers (hwsim issue 12), each against a plain baseline measured in the same run.

Lattice section: nearest-point throughput (vectors per second) of
- D4 and E8 with their exact fast algorithms (Conway & Sloane, SPLAG ch. 20), and
- a random 4-D generator with the general closest-point search (LLL + Schnorr-Euchner),
each against a brute-force numpy search (:func:`hwsim.quantizers.base.nearest_codeword`) over the same
bounded codebook: the lattice points in a ball holding a few thousand points. The inputs are Gaussian,
scaled so that almost all of them fall inside the ball, and the script checks that both searches agree on
every input whose nearest lattice point is a codeword. Prints lines like

    nearest D4   1.23e+06 vectors/s   brute force 4.5e+04 vectors/s   ratio 27.3x

Each measurement is one function returning a dict; ``main`` calls them in turn (more sections, such as the
learned-VQ training step, plug in the same way).

    python scripts/bench_quantizers.py [--vectors N] [--repeats R] [--codewords M] [--seed S]
"""

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from hwsim.quantizers.base import nearest_codeword  # noqa: E402
from hwsim.quantizers.lattices import lattice  # noqa: E402


def best_rate(fn, n_items, repeats):
    """Items per second of the fastest of ``repeats`` calls (after one warm-up call, which also compiles)."""
    fn()
    best = min(_timed(fn) for _ in range(repeats))
    return n_items / best


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _inputs_in_ball(bounded, n_vectors, rng):
    """Gaussian inputs whose typical norm is ~70% of the ball's radius (so overload is rare)."""
    n = bounded.dim
    return rng.normal(size=(n_vectors, n)) * (0.7 * bounded.radius / np.sqrt(n))


def bench_lattice_nearest(label, lat, n_vectors, repeats, codewords, rng):
    """Nearest-point throughput of ``lat`` against brute force over its ball of ``codewords`` points."""
    bounded = lat.bounded(codewords=codewords)
    x = _inputs_in_ball(bounded, n_vectors, rng)
    fast = best_rate(lambda: lat.nearest(x), n_vectors, repeats)
    # brute force is slow: time it on a slice, the rate is per vector all the same
    xb = x[:max(1, min(n_vectors, 20_000))]
    brute = best_rate(lambda: nearest_codeword(xb, bounded.codewords), len(xb), repeats)
    # the two agree wherever the lattice's answer is a codeword
    p = lat.nearest(xb)
    inside = ~bounded.overloaded(xb)
    q = bounded.codewords[nearest_codeword(xb, bounded.codewords)]
    agree = bool(np.allclose(p[inside], q[inside], atol=1e-9))
    return {"label": label, "fast": fast, "brute": brute, "ratio": fast / brute, "codewords": bounded.size,
            "agree": agree, "inside": float(inside.mean())}


def _print_lattice(r):
    print(f"nearest {r['label']:<5} {r['fast']:9.3g} vectors/s   brute force {r['brute']:9.3g} vectors/s   "
          f"ratio {r['ratio']:.1f}x   ({r['codewords']} codewords, {100 * r['inside']:.1f}% inside, "
          f"agree={r['agree']})")


def lattice_section(args):
    rng = np.random.default_rng(args.seed)
    g = rng.normal(size=(4, 4))
    cases = [("D4", lattice("D4")), ("E8", lattice("E8")), ("G4", lattice(g))]
    print(f"lattice nearest point, {args.vectors} vectors, best of {args.repeats}, seed {args.seed}, "
          f"G4 = random 4-D Gaussian generator (LLL + Schnorr-Euchner)")
    results = []
    for label, lat in cases:
        r = bench_lattice_nearest(label, lat, args.vectors, args.repeats, args.codewords, rng)
        _print_lattice(r)
        results.append(r)
    return results


def _plain_nsvq_steps(samples, codewords, steps, batch, lr, seed):
    """The same NSVQ training step written plainly in torch (no dead-code bookkeeping, no schedule):
    the baseline ``train_vq`` is measured against."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    x_all = torch.as_tensor(samples, dtype=torch.float64)
    c = torch.nn.Parameter(x_all[torch.randperm(len(x_all), generator=gen)[:codewords]].clone())
    opt = torch.optim.Adam([c], lr=lr)
    for _ in range(steps):
        x = x_all[torch.randint(len(x_all), (batch,), generator=gen)]
        q = c[torch.cdist(x, c).argmin(dim=1)]
        v = torch.randn(x.shape, generator=gen, dtype=x.dtype)
        x_hat = x + (x - q).norm(dim=1, keepdim=True) * v / v.norm(dim=1, keepdim=True)
        loss = ((x - x_hat) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def learned_vq_section(args):
    """Steps per second of :func:`hwsim.quantizers.learned_vq.train_vq` (NSVQ, 256 codewords, 4-D Gaussian,
    batch 256, one thread) against the same step written plainly in torch, measured in the same run."""
    import torch

    from hwsim.quantizers.learned_vq import train_vq

    rng = np.random.default_rng(args.seed)
    samples = rng.standard_normal((20_000, 4))
    steps = args.vq_steps
    torch.set_num_threads(1)
    ours = best_rate(lambda: train_vq(samples, 256, "nsvq", np.random.default_rng(args.seed), steps=steps, batch=256),
                     steps, args.repeats)
    plain = best_rate(lambda: _plain_nsvq_steps(samples, 256, steps, 256, 0.05, args.seed), steps, args.repeats)
    print(f"learned VQ step (NSVQ, 256 codewords, dim 4, batch 256, 1 thread)   train_vq {ours:8.0f} steps/s   "
          f"plain torch {plain:8.0f} steps/s   ratio {ours / plain:5.2f}x")
    return ours, plain


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vectors", type=int, default=200_000, help="input vectors per timed call (default 200000)")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls; the fastest counts (default 3)")
    ap.add_argument("--codewords", type=int, default=3000,
                    help="points of the bounded codebook (ball) the brute force searches (default 3000)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the inputs and of the random generator")
    ap.add_argument("--vq-steps", type=int, default=300, help="learned-VQ training steps per timed call (default 300)")
    args = ap.parse_args(argv)
    if args.vectors < 1 or args.repeats < 1 or not 1 <= args.codewords <= 100_000:
        ap.error("--vectors and --repeats must be >= 1 and --codewords in [1, 100000]")
    lattice_section(args)
    learned_vq_section(args)


if __name__ == "__main__":
    main()
