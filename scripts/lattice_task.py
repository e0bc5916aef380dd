r"""Lang et al.'s synthetic task (Sec. 4.1): lattices for the correlated vectors y = F x, learned against A2 and Z2.

The seed's data (Sec. 4.1, L = 2): ``y = F x`` with the entries of ``F`` [2, 2] drawn from N(1, 2) (mean 1,
variance 2; the seed writes N(1, 2)) once per task and the entries of ``x`` from U[0, 1), a training set
and a test set of the same law. One task per seed: a new ``F``, new data, a new training start. Both sets
are centred by the training mean (every codebook here is centred at the origin; the seed's SNR, a ratio
of variances, is blind to a mean as well). The quantity is the seed's SNR of Sec. 4:
``10 log10(E||y - mean||^2 / E||y - Q(y)||^2)`` in dB on the test set, every quantizer with
M = 2^(2R) codewords (R bits per dimension), tested without dither.

The quantizers, all at the same rate and every lattice scale fitted on the training set:

- **A2 / Z2, standard orientation**: SPLAG's generators, the better (on the training set) of the M
  smallest-norm lattice points and the M smallest points of the coset through a deep hole, the scale
  that minimises the training MSE (golden-section search on its log; the shapings and the search of
  :func:`hwsim.quantizers.lattices.gaussian_codebook`);
- **A2 / Z2, best rotation**: the same at every angle of a grid over [0, 180) degrees (``--angles``,
  default 36: a 5-degree step), the scale refitted per angle and shaping, the angle that gives the least
  *training* MSE kept (the test set is not used to choose);
- **learned, fixed-rate source objective** (the row the claim is about): Lang et al.'s objective,
  eqs. (4) and (8), as :func:`hwsim.quantizers.learned_lattice.train_source_lattice` minimises it:
  the MSE of the subtractively dithered fixed-rate codebook ``{G l : l in I_M}`` (I_M the M smallest points
  of (Z + 1/2)^2) on the training vectors, the exact nearest codeword, the index held constant in the
  backward pass, Adam and the seed's MLP prior; its support follows ``G`` (a sheared square);
- **learned, ball objective at a fixed volume**: eq. (4) with the ball codebook L_gamma of eq. (2) as
  printed (:func:`~hwsim.quantizers.learned_lattice.train_lattice` with ``rounding="codebook"``, dither,
  gamma the radius of the fitted standard A2 codebook, cell volume pi gamma^2 / M), its generator then
  shaped and scale-fitted to exactly M points like A2 and Z2 (no further rotation): only its shape and
  orientation are learned, so it can at best match the best-rotated A2;
- **LBG** (reference, not a lattice): an unstructured codebook of M points, k-means++ and Lloyd.

Also printed per learned lattice: the angle between its Lagrange-Gauss reduced basis vectors (60 degrees
for the hexagonal A2, 90 for a rectangular lattice; the seed's Fig. 2 calls its learned lattice "an
approximated rotated version of the hexagonal matrix") and its overload (share of test vectors whose
nearest point of the unbounded lattice, or coset, is not a codeword; the seed reports "the existence of
overloading").

Intervals: mean over the seeds with a 95% Student-t half-width; "learned - best A2" is the paired
difference per task, with the number of tasks the learned lattice wins::

    python scripts/lattice_task.py                 # 6 tasks, R = 1 and 2, 20 000 + 20 000 vectors, about 3 CPU minutes
    python scripts/lattice_task.py --quick         # 3 tasks, 5000 + 5000 vectors, fewer steps, about 30 CPU seconds
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

from hwsim.quantizers.base import nearest_codeword
from hwsim.quantizers.lattices import lattice, voronoi_uniform
from hwsim.quantizers.learned_lattice import basis_angle_deg, closest_point, train_lattice, train_source_lattice
from hwsim.quantizers.vq import lbg

#: Names of the learned objectives, as printed.
SOURCE_OBJECTIVE = ("fixed-rate source objective: eqs. (4), (8), dithered MSE of {G l : l in I_M} "
                    "(train_source_lattice)")
BALL_OBJECTIVE = ("ball objective at a fixed volume: eq. (4) with the ball L_gamma of eq. (2), dithered "
                  "(train_lattice, rounding='codebook')")


# ------------------------------------------------------------------------------------------ the task

def make_task(seed: int, n_train: int, n_test: int, dim: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The seed's synthetic data: ``(F [dim, dim], train [n_train, dim], test [n_test, dim])``, ``y = F x``,
    ``F`` entries N(1, variance 2), ``x`` entries U[0, 1), both sets centred by the training mean."""
    for name, v in (("seed", seed), ("n_train", n_train), ("n_test", n_test), ("dim", dim)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < (0 if name == "seed" else 1):
            raise ValueError(f"{name} must be a {'non-negative' if name == 'seed' else 'positive'} integer, got {v!r}")
    rng = np.random.default_rng(seed)
    f = rng.normal(1.0, math.sqrt(2.0), (dim, dim))
    y = rng.random((n_train + n_test, dim)) @ f.T
    mean = y[:n_train].mean(axis=0)
    return f, y[:n_train] - mean, y[n_train:] - mean


def snr_db(y: np.ndarray, y_hat: np.ndarray) -> float:
    """The seed's SNR in dB of centred vectors ``y`` and their reconstructions: total energy over total error."""
    return float(10 * np.log10(np.sum(y**2) / np.sum((y - y_hat) ** 2)))


def _mse(points: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.sum((y - points[nearest_codeword(y, points)]) ** 2, axis=1)))


# ------------------------------------------------------------------------ lattice codebooks, rotated

def shapings(name_or_generator, codewords: int) -> list[np.ndarray]:
    """The two M-point shapes of a lattice at unit cell volume (rows = points, the lattice's own
    orientation): the M smallest-norm lattice points, and the M smallest points of the coset through a deep
    hole (the farthest of 20 000 exact draws over the Voronoi cell), as
    :func:`hwsim.quantizers.lattices.gaussian_codebook` tries them."""
    base = lattice(name_or_generator)
    unit = base.volume ** (1 / base.dim)
    centred = base.bounded(codewords=codewords).codewords / unit
    cell = voronoi_uniform(base, 20_000, np.random.default_rng(0))
    hole = cell[np.argmax(np.einsum("ij,ij->i", cell, cell))]
    pool = base.bounded(codewords=4 * codewords + 64).codewords + hole
    coset = pool[np.argsort(np.einsum("ij,ij->i", pool, pool), kind="stable")[:codewords]] / unit
    return [centred, coset]


def fit_scale(points: np.ndarray, train: np.ndarray) -> tuple[float, float]:
    """``(scale, training MSE per vector)`` of the codebook ``scale * points`` with the least training MSE
    (golden-section search on the log of the scale from cells that cover about four standard deviations)."""
    from scipy.optimize import minimize_scalar

    spread = float(np.sqrt(np.mean(train**2)))
    guess = math.log(4.0 * spread / len(points) ** (1 / points.shape[1]))
    res = minimize_scalar(lambda s: _mse(points * math.exp(s), train), bracket=(guess - 0.7, guess + 0.7), tol=1e-3)
    return float(math.exp(res.x)), float(res.fun)


def rotation(theta_deg: float) -> np.ndarray:
    t = math.radians(theta_deg)
    return np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])


def best_lattice_codebook(name_or_generator, codewords: int, train: np.ndarray,
                          angles) -> tuple[np.ndarray, float, float]:
    """The lattice codebook of least training MSE over the shapings, the rotation ``angles`` (degrees; the
    points are rotated by each) and the scale: ``(points [M, 2], angle, scale)``; the points are
    ``scale`` times a unit-volume shaping rotated by ``angle``."""
    best = (math.inf, None, None, None)
    for shape in shapings(name_or_generator, codewords):
        for a in angles:
            pts = shape @ rotation(a).T
            s, m = fit_scale(pts, train)
            if m < best[0]:
                best = (m, pts * s, float(a), s)
    return best[1], best[2], best[3]


def coset_overload(generator: np.ndarray, coordinates: np.ndarray, y: np.ndarray) -> float:
    """Share of ``y`` whose nearest point of the unbounded coset ``{G l : l in Z^n + 1/2}`` is not one of the
    codebook's ``coordinates`` (the overload of a :class:`~hwsim.quantizers.learned_lattice.SourceLattice`)."""
    half = np.full(generator.shape[0], 0.5)
    l, _ = closest_point(y - generator @ half, generator)
    coords = l + half
    known = {tuple(c) for c in np.round(coordinates * 2).astype(np.int64)}
    return float(np.mean([tuple(c) not in known for c in np.round(coords * 2).astype(np.int64)]))


def lattice_overload(points: np.ndarray, generator_rows: np.ndarray, y: np.ndarray) -> float:
    """Share of ``y`` whose nearest point of the unbounded (shifted) lattice is not a codeword: the lattice
    through the codebook's points with the basis ``generator_rows`` (rows, scaled and rotated like them)."""
    g = np.asarray(generator_rows, float).T                 # columns = basis
    shift = points[0]
    _, near = closest_point(y - shift, g)
    near = near + shift
    d = np.min(np.sum((near[:, None, :] - points[None, :, :]) ** 2, axis=2), axis=1)
    return float(np.mean(d > 1e-9 * max(1.0, float(np.max(np.sum(points**2, axis=1))))))


# ------------------------------------------------------------------------------------------ one task

ROWS = ("A2, standard orientation", "A2, best rotation", "Z2, standard orientation", "Z2, best rotation",
        "learned, fixed-rate source objective", "learned, ball objective (fixed volume)", "LBG (reference)")


def run_task(seed: int, rate: float, *, n_train: int = 20_000, n_test: int = 20_000, steps: int = 3000,
             ball_steps: int = 1000, angles: int = 36, batch: int = 256) -> dict:
    """One task (one ``F``, its data, the trainings) at ``rate`` bits per dimension: test SNR (dB) per row of
    :data:`ROWS`, the best angles, and the learned lattices' basis angles and overloads."""
    m = int(round(2 ** (2 * rate)))
    if m < 2 or abs(math.log2(m) / 2 - rate) > 1e-9:
        raise ValueError(f"rate must give 2^(2R) >= 2 whole codewords, got {rate!r}")
    _, train, test = make_task(seed, n_train, n_test)
    grid = np.arange(angles) * (180.0 / angles)
    out = {"snr": {}, "angle": {}, "basis_angle": {}, "overload": {}}
    for name in ("A2", "Z2"):
        pts, _, _ = best_lattice_codebook(name, m, train, [0.0])
        out["snr"][f"{name}, standard orientation"] = snr_db(test, pts[nearest_codeword(test, pts)])
        if name == "A2":
            a2_standard = pts
        pts, a, _ = best_lattice_codebook(name, m, train, grid)
        out["snr"][f"{name}, best rotation"] = snr_db(test, pts[nearest_codeword(test, pts)])
        out["angle"][name] = a
    # learned with the fixed-rate source objective
    src = train_source_lattice(train, m, steps=steps, batch=batch, seed=seed)
    q = src.quantizer
    out["snr"]["learned, fixed-rate source objective"] = snr_db(test, q.quantize(test)[1])
    out["basis_angle"]["source"] = basis_angle_deg(src.generator)
    out["overload"]["source"] = coset_overload(src.generator, q.coordinates, test)
    # learned with the ball objective at a fixed volume, then shaped like the fixed lattices
    gamma = float(np.max(np.linalg.norm(a2_standard, axis=1))) * (1 + 1e-9)
    ball = train_lattice(train, rounding="codebook", gamma=gamma, volume=math.pi * gamma**2 / m, steps=ball_steps,
                         batch=batch, seed=seed)
    rows = ball.generator.T                                  # rows = basis, for hwsim.quantizers.lattice
    pts, _, scale = best_lattice_codebook(rows, m, train, [0.0])
    out["snr"]["learned, ball objective (fixed volume)"] = snr_db(test, pts[nearest_codeword(test, pts)])
    out["basis_angle"]["ball"] = basis_angle_deg(ball.generator)
    out["overload"]["ball"] = lattice_overload(pts, rows / abs(np.linalg.det(rows)) ** 0.5 * scale, test)
    cb, _ = lbg(train, m, np.random.default_rng(seed))
    out["snr"]["LBG (reference)"] = snr_db(test, cb.quantize(test)[1])
    return out


# --------------------------------------------------------------------------------------- statistics

def mean_interval(values) -> tuple[float, float]:
    """Mean and the 95% Student-t half-width (nan for one value)."""
    from scipy.special import stdtrit

    v = np.asarray(values, float)
    if len(v) < 2:
        return float(v.mean()), math.nan
    return float(v.mean()), float(stdtrit(len(v) - 1, 0.975) * v.std(ddof=1) / math.sqrt(len(v)))


def fmt(values) -> str:
    m, h = mean_interval(values)
    return f"{m:6.2f} +- {h:4.2f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default=None, help="comma-separated task seeds (default 0..5, quick 0..2)")
    ap.add_argument("--rates", default="1,2", help="bits per dimension, comma-separated (default 1,2)")
    ap.add_argument("--train", type=int, default=None, help="training vectors (default 20000, quick 5000)")
    ap.add_argument("--test", type=int, default=None, help="test vectors (default 20000, quick 5000)")
    ap.add_argument("--steps", type=int, default=None, help="source-objective steps (default 3000, quick 600)")
    ap.add_argument("--ball-steps", type=int, default=None, help="ball-objective steps (default 1000, quick 300)")
    ap.add_argument("--angles", type=int, default=None, help="rotation grid over [0, 180) (default 36, quick 18)")
    ap.add_argument("--quick", action="store_true", help="3 tasks, 5000 vectors, fewer steps and angles")
    a = ap.parse_args(argv)
    q = a.quick
    seeds = [int(s) for s in (a.seeds or ("0,1,2" if q else "0,1,2,3,4,5")).split(",")]
    rates = [float(r) for r in a.rates.split(",")]
    kw = dict(n_train=a.train or (5000 if q else 20_000), n_test=a.test or (5000 if q else 20_000),
              steps=a.steps or (600 if q else 3000), ball_steps=a.ball_steps or (300 if q else 1000),
              angles=a.angles or (18 if q else 36))
    t0 = time.time()
    print(f"Lang et al. Sec. 4.1 task: y = F x, F ~ N(1, 2) [2 x 2], x ~ U[0,1)^2; {len(seeds)} tasks (seeds "
          f"{','.join(map(str, seeds))}), {kw['n_train']} training and {kw['n_test']} test vectors, "
          f"{kw['angles']} angles; SNR in dB on the test set, mean +- 95% t half-width over the tasks")
    print(f"learned (source): {SOURCE_OBJECTIVE}, {kw['steps']} Adam steps")
    print(f"learned (ball):   {BALL_OBJECTIVE}, {kw['ball_steps']} Adam steps, then M points scale-fitted")
    for rate in rates:
        res = [run_task(s, rate, **kw) for s in seeds]
        m = int(round(2 ** (2 * rate)))
        print(f"\nR = {rate:g} bit/dim (M = {m} codewords)")
        print(f"| quantity | SNR dB |")
        print(f"| --- | --- |")
        for row in ROWS:
            print(f"| {row} | {fmt([r['snr'][row] for r in res])} |")
        for row in ("learned, fixed-rate source objective", "learned, ball objective (fixed volume)"):
            for ref in ("A2, standard orientation", "A2, best rotation", "Z2, best rotation", "LBG (reference)"):
                d = [r["snr"][row] - r["snr"][ref] for r in res]
                wins = sum(x > 0 for x in d)
                print(f"| {row} - {ref} | {fmt(d)} (higher on {wins}/{len(d)}) |")
        for key, label in (("source", "source objective"), ("ball", "ball objective")):
            print(f"| basis angle, {label} (deg; A2 60, Z2 90) | {fmt([r['basis_angle'][key] for r in res])} |")
            print(f"| overload, {label} (share of test vectors) | "
                  f"{fmt([r['overload'][key] for r in res])} |")
        print("| best rotation angle A2 / Z2 per task (deg) | "
              + ", ".join(f"{r['angle']['A2']:g}/{r['angle']['Z2']:g}" for r in res) + " |")
        per = "; ".join(f"{s}: " + " ".join(f"{r['snr'][row]:.2f}" for row in ROWS) for s, r in zip(seeds, res))
        print(f"per task (seed: rows in order): {per}")
    print(f"\n{time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
