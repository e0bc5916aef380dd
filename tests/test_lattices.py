"""Lattice quantizers (hwsim issue 12, items 2 and 6): nearest points against brute force, dither, NSM,
bounded codebooks and bad input. Seeded; the whole file runs in a few seconds."""

import itertools
import json
import math

import numpy as np
import pytest
from scipy import stats

from hwsim.quantizers.base import MAX_CODEWORDS, nearest_codeword
from hwsim.quantizers.lattices import BoundedLattice, Lattice, from_export, lattice, nsm, voronoi_uniform

REFERENCE_NSM = {"Z1": 1 / 12, "A2": 0.080188, "D4": 0.076603, "E8": 0.071682}


def _random_generator(n, seed):
    rng = np.random.default_rng(seed)
    while True:
        g = rng.normal(size=(n, n))
        if abs(np.linalg.det(g)) > 0.3:
            return g


def _brute_force_box(lat, x):
    """Nearest points by exhaustive search over u @ G, u in the box that provably holds the answer.

    With rho = ||x - p0|| for some lattice point p0 (here the answer under test, checked to be a lattice
    point), the nearest point p satisfies ||p - x|| <= rho, so its coordinates u = p G^-1 lie within
    rho * ||column i of G^-1|| of the real solution u* = x G^-1 in coordinate i.
    """
    g = lat.generator
    ginv = np.linalg.inv(g)
    p0 = lat.nearest(x)
    u0 = p0 @ ginv
    assert np.allclose(u0, np.rint(u0), atol=1e-8), "the answer is not a lattice point"
    colnorm = np.linalg.norm(ginv, axis=0)
    out = np.empty_like(x)
    for b in range(x.shape[0]):
        rho = np.linalg.norm(x[b] - p0[b]) * (1 + 1e-9) + 1e-12
        ustar = x[b] @ ginv
        ranges = [range(int(math.ceil(ustar[i] - rho * colnorm[i])), int(math.floor(ustar[i] + rho * colnorm[i])) + 1)
                  for i in range(len(ustar))]
        u = np.array(list(itertools.product(*ranges)), dtype=np.float64)
        pts = u @ g
        out[b] = pts[np.argmin(np.sum((pts - x[b]) ** 2, axis=1))]
    return out, p0


def _check_same_distance(x, p_fast, p_brute):
    d_fast = np.sum((x - p_fast) ** 2, axis=1)
    d_brute = np.sum((x - p_brute) ** 2, axis=1)
    np.testing.assert_allclose(d_fast, d_brute, rtol=1e-9, atol=1e-12)
    # continuous inputs have no ties: the points themselves agree
    np.testing.assert_allclose(p_fast, p_brute, atol=1e-9)


CASES = {
    "Z3": lambda: lattice("Z3"),
    "A2": lambda: lattice("A2"),
    "D4": lambda: lattice("D4"),
    "D5": lambda: lattice("D5"),
    "D4 scaled 0.37": lambda: lattice("D4", scale=0.37),
    "A2 scaled 2.5": lambda: lattice("A2").scaled(2.5),
    "random 4-D generator": lambda: lattice(_random_generator(4, 11)),
    "random 3-D generator scaled 1.7": lambda: lattice(_random_generator(3, 12), scale=1.7),
    "random 5-D generator": lambda: lattice(_random_generator(5, 13)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_nearest_matches_brute_force(case):
    lat = CASES[case]()
    rng = np.random.default_rng(100 + len(case))
    x = rng.normal(size=(150, lat.dim)) * 4.0
    p_brute, p_fast = _brute_force_box(lat, x)
    _check_same_distance(x, p_fast, p_brute)


def test_e8_nearest_matches_brute_force():
    """E8 in the C&S basis would need boxes of ~1e7 coordinate vectors; instead search (1/2)Z^8 ⊃ E8: every
    half-integer vector within rho of x in each coordinate, kept when it is in E8 by the definition (all
    coordinates integers or all half-odd-integers, even sum) -- independent of any basis."""
    lat = lattice("E8")
    rng = np.random.default_rng(8)
    x = rng.normal(size=(40, 8)) * 3.0
    p_fast = lat.nearest(x)
    u = p_fast @ np.linalg.inv(lat.generator)
    assert np.allclose(u, np.rint(u), atol=1e-9)
    for b in range(x.shape[0]):
        rho = np.linalg.norm(x[b] - p_fast[b]) * (1 + 1e-9)
        axes = [np.arange(math.ceil(2 * (xi - rho)), math.floor(2 * (xi + rho)) + 1) / 2.0 for xi in x[b]]
        cand = np.array(list(itertools.product(*axes)))
        twice = np.rint(2 * cand).astype(np.int64)
        all_int = np.all(twice % 2 == 0, axis=1)
        all_half = np.all(twice % 2 == 1, axis=1)
        even = np.rint(cand.sum(axis=1)).astype(np.int64) % 2 == 0
        cand = cand[(all_int | all_half) & even]
        best = cand[np.argmin(np.sum((cand - x[b]) ** 2, axis=1))]
        np.testing.assert_allclose(p_fast[b], best, atol=1e-12)


def test_general_search_agrees_with_fast_algorithms_on_skewed_bases():
    """A badly skewed basis (U G, U unimodular) of D4 and E8 goes through LLL + Schnorr-Euchner and must find
    the same points as the exact fast algorithms."""
    rng = np.random.default_rng(5)
    for name in ("D4", "E8"):
        fast = lattice(name)
        n = fast.dim
        u = np.eye(n, dtype=np.int64)
        for _ in range(2 * n):                 # random elementary row operations keep |det U| = 1
            i, j = rng.choice(n, size=2, replace=False)
            u[i] += rng.integers(-2, 3) * u[j]
        assert abs(round(np.linalg.det(u))) == 1
        general = lattice(u @ fast.generator)
        assert general.name is None
        assert np.isclose(general.volume, fast.volume)
        x = rng.normal(size=(2000, n)) * 3.0
        np.testing.assert_allclose(general.nearest(x), fast.nearest(x), atol=1e-9)


def test_named_lattices_standard_coordinates():
    assert lattice("Z3").volume == pytest.approx(1.0)
    assert lattice("A2").volume == pytest.approx(math.sqrt(3) / 2)
    assert lattice("D4").volume == pytest.approx(2.0)
    assert lattice("D7").volume == pytest.approx(2.0)
    assert lattice("E8").volume == pytest.approx(1.0)
    np.testing.assert_allclose(lattice("A2").generator, [[1, 0], [0.5, math.sqrt(3) / 2]])
    d5 = lattice("D5").generator
    assert np.all(d5 == np.rint(d5)) and np.all(d5.sum(axis=1) % 2 == 0)
    e8 = lattice("E8").generator
    for row in e8:
        twice = np.rint(2 * row)
        assert (np.all(twice % 2 == 0) or np.all(twice % 2 != 0)) and row.sum() % 2 == 0
    assert lattice("D4", scale=3).volume == pytest.approx(2.0 * 3**4)
    assert lattice("d4").name == "D4"


def test_quantize_coordinates_and_rate():
    lat = lattice("D4", scale=0.5)
    x = np.random.default_rng(1).normal(size=(64, 4))
    u, p = lat.quantize(x)
    assert u.dtype == np.int64 and u.shape == (64, 4)
    np.testing.assert_allclose(u @ lat.generator, p, atol=1e-12)
    np.testing.assert_array_equal(lat.coordinates(x), u)
    assert math.isinf(lat.rate)
    assert lat.nearest(x[0]).shape == (1, 4)       # a single vector becomes a batch of one


def test_export_is_json_ready():
    d = lattice("E8", scale=2).export()
    assert d["kind"] == "lattice" and d["dim"] == 8 and d["name"] == "E8"
    np.testing.assert_allclose(np.array(d["generator"]), lattice("E8", scale=2).generator)
    json.dumps(d)
    assert d["rate"] is None and d["shaping"] is None
    back = from_export(json.loads(json.dumps(d)))
    assert back.name == "E8" and back.scale == 2.0                     # the fast algorithm again
    x = np.random.default_rng(3).normal(size=(200, 8)) * 3
    np.testing.assert_array_equal(back.nearest(x), lattice("E8", scale=2).nearest(x))
    general = lattice(_random_generator(3, 4))
    back = from_export(json.loads(json.dumps(general.export())))
    np.testing.assert_array_equal(back.coordinates(x[:, :3]), general.coordinates(x[:, :3]))
    bounded = lattice("D4").bounded(codewords=100)
    back = from_export(json.loads(json.dumps(bounded.export())))
    assert isinstance(back, BoundedLattice) and back.rate == bounded.rate
    np.testing.assert_array_equal(back.codewords, bounded.codewords)
    np.testing.assert_array_equal(back.quantize(x[:, :4])[0], bounded.quantize(x[:, :4])[0])
    with pytest.raises(ValueError, match="kind"):
        from_export({"kind": "codebook", "generator": [[1.0]]})
    with pytest.raises(ValueError, match="dim"):
        from_export({"kind": "lattice", "dim": 3, "generator": [[1.0, 0.0], [0.0, 1.0]]})
    with pytest.raises(ValueError, match="shaping"):
        from_export({"kind": "lattice", "generator": [[1.0]], "shaping": {"region": "cube"}})
    # a name that does not match the generator does not pick the fast algorithm
    fake = from_export({"kind": "lattice", "name": "D4", "scale": 1.0, "generator": np.eye(4).tolist()})
    assert fake.name is None


# --- dither ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["A2", "D4", "E8"])
def test_voronoi_uniform_is_in_the_cell_with_the_cell_second_moment(name):
    lat = lattice(name, scale=0.7)
    rng = np.random.default_rng(21)
    d = voronoi_uniform(lat, 40_000, rng)
    assert np.allclose(lat.nearest(d), 0.0)                 # inside the cell around 0
    # the cells of A2, D4, E8 have covariance G V^(2/n) I; check each entry to ~5 standard errors
    target = REFERENCE_NSM[name] * lat.volume ** (2 / lat.dim)
    cov = np.cov(d.T)
    se = target * math.sqrt(2 / len(d)) * 2                  # generous bound on the s.e. of a covariance entry
    np.testing.assert_allclose(np.diag(cov), target, atol=5 * se)
    np.testing.assert_allclose(cov - np.diag(np.diag(cov)), 0.0, atol=5 * se)
    np.testing.assert_allclose(d.mean(axis=0), 0.0, atol=5 * math.sqrt(target / len(d)))


def test_subtractive_dither_error_uniform_and_independent_of_input():
    lat = lattice("A2", scale=0.5)
    rng = np.random.default_rng(33)
    n = 30_000
    # inputs of two kinds: exactly on lattice points, and exactly on deep holes (where plain rounding errs most)
    on_points = lattice("A2", scale=0.5).generator[0] * rng.integers(-5, 6, size=(n, 1))
    hole = np.array([0.5, 0.5 / math.sqrt(3)]) * 0.5         # circumcentre of the triangle (0, b1, b2)
    on_holes = on_points + hole
    x = np.concatenate([on_points, on_holes, rng.normal(size=(n, 2)) * 3])
    _, x_hat, d = lat.quantize_dithered(x, rng, subtractive=True)
    e = x_hat - x
    assert np.allclose(lat.nearest(e), 0.0)                   # the error lies in the Voronoi cell
    target = REFERENCE_NSM["A2"] * lat.volume
    np.testing.assert_allclose(np.mean(np.sum(e**2, axis=1)) / 2, target, rtol=0.02)
    # uncorrelated with the input
    for i in range(2):
        for j in range(2):
            r = np.corrcoef(e[:, i], x[:, j])[0, 1]
            assert abs(r) < 4 / math.sqrt(len(x))
    # same distribution whatever the input: KS on a projection, lattice points vs deep holes vs Gaussian x
    w = np.array([math.cos(0.3), math.sin(0.3)])
    proj = e @ w
    a, b, c = proj[:n], proj[n:2 * n], proj[2 * n:]
    assert stats.ks_2samp(a, b).pvalue > 1e-3
    assert stats.ks_2samp(a, c).pvalue > 1e-3
    # and the same as an independent uniform draw over the cell
    ref = voronoi_uniform(lat, n, np.random.default_rng(34)) @ w
    assert stats.ks_2samp(c, ref).pvalue > 1e-3
    # the decoder reproduces x_hat from the indices and the dither
    idx, x_hat2, _ = lat.quantize_dithered(x, dither=d, subtractive=True)
    np.testing.assert_allclose(idx @ lat.generator - d, x_hat, atol=1e-12)


def test_nonsubtractive_dither_mean_unbiased_but_input_dependent():
    lat = lattice("D4")
    rng = np.random.default_rng(44)
    hole = np.array([[1.0, 0.0, 0.0, 0.0]])                 # a deep hole of D4
    n = 40_000
    idx, x_hat, d = lat.quantize_dithered(np.repeat(hole, n, axis=0), rng, subtractive=False)
    np.testing.assert_allclose(idx @ lat.generator, x_hat)   # reconstructions are lattice points
    err = x_hat - hole
    np.testing.assert_allclose(err.mean(axis=0), 0.0, atol=5 * err.std() / math.sqrt(n))   # E Q(x + d) = x
    # at a lattice point the dither never moves the answer: zero error, unlike the deep hole
    _, x0, _ = lat.quantize_dithered(np.zeros((1000, 4)), rng, subtractive=False)
    assert np.all(x0 == 0.0)
    assert np.mean(np.sum(err**2, axis=1)) > 0.5


# --- normalised second moment ----------------------------------------------------------------------------

def test_nsm_of_integer_lattice_is_one_twelfth():
    """Z^n, two ways. Closed form: the Voronoi cell of Z^n is the cube [-1/2, 1/2]^n (points just inside every
    face quantize to 0, points just outside do not; every Voronoi draw lies in the cube), and the cube's
    second moment per dimension is the integral of t^2 over [-1/2, 1/2], exactly 1/12. Monte Carlo: the
    99.9% t interval of nsm covers 1/12 (a 0.1% chance per call of a false failure; seeds fixed)."""
    for name, scale in (("Z1", 1.0), ("Z3", 1.0), ("Z2", 0.3)):
        lat = lattice(name, scale=scale)
        n = lat.dim
        faces = np.concatenate([np.eye(n), -np.eye(n)]) * 0.5 * scale
        assert np.all(lat.nearest(faces * (1 - 1e-9)) == 0.0)
        assert np.all(np.any(lat.nearest(faces * (1 + 1e-9)) != 0.0, axis=1))
        d = voronoi_uniform(lat, 10_000, np.random.default_rng(1))
        assert np.all(np.abs(d) <= 0.5 * scale + 1e-12)
        est, lo, hi = nsm(lat, 200_000, np.random.default_rng(2), level=0.999)
        assert lo <= 1 / 12 <= hi, (name, est, lo, hi)
        assert hi - lo < 0.002


@pytest.mark.parametrize("name", ["A2", "D4", "E8"])
def test_nsm_of_named_lattices_matches_conway_sloane(name):
    est, lo, hi = nsm(lattice(name, scale=1.9), 200_000, np.random.default_rng(7), level=0.99)
    assert lo <= REFERENCE_NSM[name] <= hi, (name, est, lo, hi)
    assert (hi - lo) / est < 0.01                           # tight enough to tell Z, A2, D4, E8 apart
    assert not lo <= 1 / 12 <= hi


def test_nsm_accepts_a_bounded_lattice_and_a_name():
    est_b, _, _ = nsm(lattice("A2").bounded(radius=3), 1000, np.random.default_rng(0))
    est_n, _, _ = nsm("A2", 1000, np.random.default_rng(0))
    assert est_b == est_n


# --- bounded codebook -----------------------------------------------------------------------------------

def test_bounded_counts_shells():
    assert lattice("Z2").bounded(radius=1).size == 5
    assert lattice("D4").bounded(radius=math.sqrt(2)).size == 1 + 24
    assert lattice("E8").bounded(radius=2).size == 1 + 240 + 2160
    a2 = lattice("A2").bounded(radius=1)
    assert a2.size == 7 and np.allclose(np.sort(np.linalg.norm(a2.codewords, axis=1))[1:], 1.0)


def test_bounded_quantize_overload_and_indices():
    b = lattice("D4", scale=0.5).bounded(radius=2.0)
    rng = np.random.default_rng(9)
    x = np.concatenate([rng.uniform(-0.6, 0.6, size=(500, 4)), rng.normal(size=(500, 4)) * 4])
    idx, x_hat = b.quantize(x)
    assert idx.dtype == np.int64 and idx.shape == (1000,)
    np.testing.assert_array_equal(b.codewords[idx], x_hat)
    # overload = the unbounded nearest point lies outside the ball
    unbounded = b.lattice.nearest(x)
    outside = np.linalg.norm(unbounded, axis=1) > 2.0 + 1e-9
    np.testing.assert_array_equal(b.last_overload_mask, outside)
    assert b.last_overload == int(outside.sum()) > 0
    assert not outside[:500].any()                           # small inputs are never overloaded
    np.testing.assert_array_equal(b.overloaded(x), outside)
    # not overloaded: the lattice's own answer; overloaded: the nearest codeword (brute force)
    np.testing.assert_allclose(x_hat[~outside], unbounded[~outside], atol=1e-12)
    np.testing.assert_array_equal(idx, nearest_codeword(x, b.codewords))
    assert b.overload_count == b.last_overload and b.quantized_count == 1000
    b.quantize(x[:10])
    assert b.quantized_count == 1010 and b.last_overload == 0


def test_bounded_by_codeword_count_rate_export_and_dither():
    b = lattice("E8").bounded(codewords=256)
    assert b.size == 256 and b.rate == pytest.approx(1.0)
    assert len(np.unique(b.codewords, axis=0)) == 256
    norms = np.linalg.norm(b.codewords, axis=1)
    assert norms.max() == pytest.approx(2.0) and b.radius == pytest.approx(2.0)   # 1 + 240 + 15 of norm 2
    np.testing.assert_allclose(b.coords @ b.lattice.generator, b.codewords)
    d = b.export()
    assert d["kind"] == "lattice" and d["shaping"]["region"] == "ball" and d["shaping"]["codewords"] == 256
    json.dumps(d)
    # the shaping is deterministic: the same request gives the same codebook
    np.testing.assert_array_equal(lattice("E8").bounded(codewords=256).codewords, b.codewords)
    idx, x_hat, dith = b.quantize_dithered(np.zeros((5, 8)), np.random.default_rng(0))
    np.testing.assert_allclose(b.codewords[idx] - dith, x_hat)
    # a general lattice (high dimension, dict lookup path when the key does not fit) works too
    g = lattice(_random_generator(6, 3)).bounded(codewords=500)
    i2, q2 = g.quantize(np.random.default_rng(2).normal(size=(50, 6)))
    np.testing.assert_array_equal(i2, nearest_codeword(np.random.default_rng(2).normal(size=(50, 6)), g.codewords))


def test_bounded_refuses_too_many_codewords_before_allocating():
    with pytest.raises(ValueError, match="MAX_CODEWORDS"):
        lattice("Z8").bounded(radius=100.0)                   # refused by the volume estimate at once
    with pytest.raises(ValueError, match="MAX_CODEWORDS"):
        lattice("Z2").bounded(radius=math.sqrt(2.2 * MAX_CODEWORDS / math.pi))   # counted, stopped past the limit
    with pytest.raises(ValueError, match="codewords"):
        lattice("Z2").bounded(codewords=MAX_CODEWORDS + 1)
    with pytest.raises(ValueError, match="exactly one"):
        lattice("Z2").bounded(radius=1, codewords=4)
    with pytest.raises(ValueError, match="exactly one"):
        lattice("Z2").bounded()
    with pytest.raises(ValueError, match="radius"):
        lattice("Z2").bounded(radius=float("nan"))


# --- bad input ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad, match", [
    ([[1.0, 2.0], [2.0, 4.0]], "singular"),
    ([[1.0, 0.0], [0.0, 1e-14]], "singular"),
    ([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], "square"),
    ([1.0, 2.0], "square"),
    ([[1.0, np.nan], [0.0, 1.0]], "not finite"),
    ([[np.inf, 0.0], [0.0, 1.0]], "not finite"),
    (np.eye(65), "limit"),
    ("F4", "unknown lattice name"),
    ("Z0", "Zn needs"),
    ("Z65", "Zn needs"),
    ("D1", "Dn needs"),
    ("A3", "unknown lattice name"),
    ([["a", "b"], ["c", "d"]], "real numbers"),
])
def test_bad_generators_and_names(bad, match):
    with pytest.raises(ValueError, match=match):
        lattice(bad)


def test_bad_arguments():
    lat = lattice("D4")
    with pytest.raises(ValueError, match="dimension 3"):
        lat.nearest(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="not finite"):
        lat.quantize(np.full((1, 4), np.nan))
    with pytest.raises(ValueError, match="scale"):
        lattice("D4", scale=-1.0)
    with pytest.raises(ValueError, match="scale"):
        lat.scaled(0)
    with pytest.raises(ValueError, match="n_samples"):
        nsm(lat, 1, 0)
    with pytest.raises(ValueError, match="level"):
        nsm(lat, 100, 0, level=1.5)
    with pytest.raises(ValueError, match="n_samples"):
        voronoi_uniform(lat, 0, 0)
    with pytest.raises(ValueError, match="rng"):
        voronoi_uniform(lat, 10, rng="seed")
    with pytest.raises(ValueError, match="dither has 2 rows"):
        lat.quantize_dithered(np.zeros((3, 4)), dither=np.zeros((2, 4)))
    with pytest.raises(ValueError, match="expected a Lattice"):
        nsm(3.0, 100, 0)
    with pytest.raises(ValueError, match="needs a Lattice"):
        BoundedLattice("D4", radius=1)
    assert isinstance(lattice(lat), Lattice)
