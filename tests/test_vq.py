"""Trained vector quantizers (hwsim.quantizers.vq) and the VQ gradient estimators (learned_vq)."""

import itertools
import json
from statistics import NormalDist

import numpy as np
import pytest
import torch

from hwsim.quantizers.base import MAX_CODEWORDS, Codebook
from hwsim.quantizers.learned_vq import (FSQ, EMACodebook, fsq_round, nsvq, replace_dead_codes, rotation_vq,
                                         sfvq, sfvq_points, ste_vq, train_vq)
from hwsim.quantizers.vq import (AdditiveVQ, ProductVQ, ResidualVQ, dead_codes, kmeans_pp, lbg, perplexity,
                                 train_avq, train_pvq, train_rvq, vq_from_dict)

torch.set_num_threads(1)


def gaussian(n, dim, seed):
    return np.random.default_rng(seed).standard_normal((n, dim))


# ------------------------------------------------------------------------------------------ LBG

def test_lbg_distortion_never_rises_and_empty_cells_are_split():
    rng = np.random.default_rng(3)
    x = np.concatenate([gaussian(3000, 2, 1), gaussian(1000, 2, 2) * 0.3 + 4.0])
    init = kmeans_pp(x, 12, rng)
    init[0] = [100.0, -100.0]       # a codeword no sample is near: its cell starts empty
    cb, hist = lbg(x, 12, rng, init=init, iters=200, tol=0.0)
    assert np.all(np.diff(hist) <= 1e-12 * hist[:-1])
    assert hist[-1] < 0.5 * hist[0]
    idx, _ = cb.quantize(x)
    assert len(dead_codes(idx, 12)) == 0          # the empty codeword was moved into the data
    assert np.abs(cb.codewords).max() < 20


def test_lbg_one_bit_gaussian_is_lloyd_max():
    # stratified N(0,1) sample (quantiles), so the check is not limited by Monte Carlo noise
    q = np.array([NormalDist().inv_cdf((i + 0.5) / 20000) for i in range(20000)])[:, None]
    cb, hist = lbg(q, 2, np.random.default_rng(0), iters=200, tol=1e-12)
    np.testing.assert_allclose(np.sort(cb.codewords.ravel()), [-0.7979, 0.7979], atol=2e-3)
    assert abs(hist[-1] - 0.3634) < 1e-3          # Max (1960); 1 - 2/pi = 0.36338


def test_kmeans_pp_picks_distinct_samples():
    x = np.repeat(gaussian(6, 3, 4), 50, axis=0)   # 300 samples, 6 distinct vectors
    seeds = kmeans_pp(x, 6, np.random.default_rng(1))
    assert len(np.unique(seeds, axis=0)) == 6
    assert all(np.any(np.all(x == s, axis=1)) for s in seeds)
    with pytest.raises(ValueError, match="distinct"):
        kmeans_pp(x, 7, np.random.default_rng(1))


# ------------------------------------------------------------------------------- PVQ, RVQ, AVQ

def test_pvq_and_rvq_indices_reconstruct_their_output():
    rng = np.random.default_rng(5)
    x = gaussian(4000, 4, 6)
    pvq = train_pvq(x, 2, [4, 8], rng)
    rvq = train_rvq(x, 3, 4, rng)
    for q, stages in ((pvq, 2), (rvq, 3)):
        idx, xh = q.quantize(x[:500])
        assert idx.shape == (500, stages) and idx.dtype == np.int64
        np.testing.assert_allclose(q.reconstruct(idx), xh, atol=1e-12)
    assert pvq.splits == [2, 2] and pvq.rate == pytest.approx((2 + 3) / 4)
    assert rvq.rate == pytest.approx(6 / 4)
    # each RVQ stage picks the nearest codeword of the residual it is given
    idx, _ = rvq.quantize(x[:200])
    r = x[:200].copy()
    for m, cb in enumerate(rvq.codebooks):
        np.testing.assert_array_equal(idx[:, m], cb.quantize(r)[0])
        r -= cb.codewords[idx[:, m]]
    # a second stage helps
    assert rvq.mse(x) < train_rvq(x, 1, 4, rng).mse(x)


def test_avq_beam_search_is_exhaustive_when_wide_and_not_worse_than_greedy():
    rng = np.random.default_rng(7)
    x = gaussian(3000, 3, 8)
    avq, hist = train_avq(x, 2, 4, rng, beam=2, iters=3)
    assert min(hist) == pytest.approx(avq.mse(x))
    test = gaussian(1000, 3, 9)
    _, greedy = avq.quantize(test, beam=1)
    _, beam = avq.quantize(test, beam=4)
    assert np.mean((test - beam) ** 2) <= np.mean((test - greedy) ** 2) + 1e-12
    # width 8 keeps every first codeword of the 4 + 4, so every pair is searched: the exact optimum
    idx, xh = avq.quantize(test[:200], beam=8)
    np.testing.assert_allclose(avq.reconstruct(idx), xh)
    a, b = avq.codebooks[0].codewords, avq.codebooks[1].codewords
    pairs = np.array([a[i] + b[j] for i, j in itertools.product(range(4), range(4))])
    best = np.min(((test[:200, None, :] - pairs[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_allclose(((test[:200] - xh) ** 2).sum(1), best, atol=1e-12)


# ---------------------------------------------------------------------------------- usage metrics

def test_perplexity_and_dead_codes_on_constructed_indices():
    assert perplexity(np.arange(8).repeat(5), 8) == pytest.approx(8.0)
    assert perplexity(np.zeros(10, dtype=int), 8) == pytest.approx(1.0)
    assert perplexity(np.array([0, 0, 1, 1]), 4) == pytest.approx(2.0)
    np.testing.assert_array_equal(dead_codes(np.array([0, 0, 1, 1]), 4), [2, 3])
    assert len(dead_codes(np.arange(8), 8)) == 0
    two = np.array([[0, 3], [1, 3], [2, 3], [3, 3]])
    np.testing.assert_allclose(perplexity(two, 4), [4.0, 1.0])
    dc = dead_codes(two, 4)
    assert len(dc[0]) == 0 and list(dc[1]) == [0, 1, 2]
    with pytest.raises(ValueError, match="indices must lie"):
        perplexity(np.array([0, 4]), 4)
    with pytest.raises(TypeError, match="integers"):
        dead_codes(np.array([0.5]), 4)


# ------------------------------------------------------------------------------- learned VQ

@pytest.mark.parametrize("method", ["ste", "ema", "nsvq"])
def test_gradient_trained_codebook_is_within_ten_percent_of_lbg(method):
    x = gaussian(8000, 2, 1)                                   # 2 bits/dim in 2-D: 16 codewords
    ref, _ = lbg(x, 16, np.random.default_rng(1))
    cb, hist = train_vq(x, 16, method, np.random.default_rng(2), steps=1000, batch=256, lr=0.02,
                        init="samples")
    assert cb.size == 16 and hist.shape == (1000,)
    assert cb.mse(x) <= 1.10 * ref.mse(x)
    assert np.mean(hist[-100:]) < np.mean(hist[:20])


@pytest.mark.parametrize("method", ["gumbel", "rotation", "sfvq"])
def test_other_estimators_train(method):
    x = gaussian(2000, 2, 3)
    cb, hist = train_vq(x, 8, method, np.random.default_rng(4), steps=150, batch=128, lr=0.02)
    assert cb.size == 8 and np.all(np.isfinite(hist))


def test_estimators_forward_values_and_gradients():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, dtype=torch.float64, generator=g, requires_grad=True)
    cb = torch.randn(8, 3, dtype=torch.float64, generator=g, requires_grad=True)
    up = torch.randn(64, 3, dtype=torch.float64, generator=g)
    # STE: value q, gradient identity to x; codebook and commitment terms
    xq, loss, idx = ste_vq(x, cb, beta=0.25)
    torch.testing.assert_close(xq, cb[idx])
    (gx,) = torch.autograd.grad((xq * up).sum(), x)
    torch.testing.assert_close(gx, up)
    # rotation trick: value q, gradient lam R^T up with R orthogonal: |grad| = lam |up|
    xr, _, idx = rotation_vq(x, cb)
    torch.testing.assert_close(xr, cb[idx])
    (gr,) = torch.autograd.grad((xr * up).sum(), x)
    lam = cb[idx].norm(dim=1) / x.norm(dim=1)
    torch.testing.assert_close(gr.norm(dim=1), lam.detach() * up.norm(dim=1))
    # NSVQ: the substituted error has the length of the true one, and reaches the codebook
    xn, idx = nsvq(x, cb, g)
    torch.testing.assert_close((x - xn).norm(dim=1), (x - cb[idx]).norm(dim=1))
    (gc,) = torch.autograd.grad(((x - xn) ** 2).sum(), cb)
    assert gc[idx].abs().sum() > 0


def test_ema_update_is_eq_3_8():
    cb = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    ema = EMACodebook(cb, gamma=0.5, eps=1e-12)
    x = torch.tensor([[0.2, 0.0], [0.0, 0.4], [1.0, 3.0]], dtype=torch.float64)
    new = ema.update(x, torch.tensor([0, 0, 1]))
    # M = 0.5 * 1 + 0.5 * N, Y = 0.5 * C + 0.5 * sum
    m = torch.tensor([1.5, 1.0], dtype=torch.float64)
    y = torch.tensor([[0.1, 0.2], [1.0, 2.0]], dtype=torch.float64)
    torch.testing.assert_close(new, y / m[:, None])


def test_fsq_sfvq_and_dead_code_replacement():
    f = FSQ([3, 4, 5], scale=2.0)
    x = gaussian(5000, 3, 2) * 3
    idx, xh = f.quantize(x)
    assert f.rate == pytest.approx(np.log2(60) / 3)
    assert len(np.unique(idx)) == 60 and idx.min() == 0 and idx.max() == 59
    for d, levels in enumerate([3, 4, 5]):
        assert len(np.unique(xh[:, d])) == levels and np.abs(xh[:, d]).max() <= 2.0
    # codes decide the reconstruction: same index, same output
    first = {}
    for i, row in zip(idx, xh):
        assert np.array_equal(first.setdefault(i, row), row)
    z = torch.randn(100, 3, dtype=torch.float64) * 3
    r = fsq_round(z, [3, 4, 5])
    assert [len(torch.unique(r[:, d])) <= lv for d, lv in enumerate([3, 4, 5])] == [True] * 3
    # SFVQ: corner points at integer curve positions, interpolated points in between
    cb = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    pts, pos = sfvq_points(cb, 3)
    assert pts.shape == (9, 2)
    torch.testing.assert_close(pts[pos == pos.round()], cb)
    _, t = sfvq(torch.tensor([[0.5, 0.01], [0.99, 0.74]], dtype=torch.float64), cb, 3)
    torch.testing.assert_close(t, torch.tensor([0.5, 1.75], dtype=torch.float64))
    # dead-code replacement moves only the stale codewords onto batch vectors
    book = torch.zeros(4, 2, dtype=torch.float64)
    stale = torch.tensor([0, 9, 3, 10])
    batch = torch.ones(5, 2, dtype=torch.float64) * 7
    dead = replace_dead_codes(book, stale, batch, patience=5)
    assert dead.tolist() == [1, 3] and book[1].tolist() == [7.0, 7.0] and book[0].tolist() == [0.0, 0.0]
    assert stale.tolist() == [0, 0, 3, 0]


# ------------------------------------------------------------------------------- export, bad input

def test_export_round_trip_gives_identical_indices():
    rng = np.random.default_rng(11)
    x = gaussian(3000, 3, 12)
    cb, _ = lbg(x, 32, rng)
    doc = json.loads(json.dumps(cb.export()))
    np.testing.assert_array_equal(Codebook(doc["codewords"]).quantize(x)[0], cb.quantize(x)[0])
    quantizers = [cb, train_pvq(x, 3, 4, rng), train_rvq(x, 2, 8, rng),
                  AdditiveVQ([c.codewords for c in train_rvq(x, 2, 4, rng).codebooks], beam=3),
                  FSQ([3, 4, 5], scale=1.5)]
    for q in quantizers:
        back = vq_from_dict(json.loads(json.dumps(q.export())))
        assert type(back) is type(q)
        np.testing.assert_array_equal(back.quantize(x)[0], q.quantize(x)[0])


def test_bad_input_is_refused():
    rng = np.random.default_rng(0)
    x = gaussian(100, 2, 0)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="not finite"):
        lbg(bad, 4, rng)
    with pytest.raises(ValueError, match="not finite"):
        train_vq(bad, 4, "nsvq", rng)
    with pytest.raises(ValueError, match="limit"):
        lbg(x, 2**40, rng)                   # refused before anything of that size is allocated
    with pytest.raises(ValueError, match="limit"):
        kmeans_pp(x, MAX_CODEWORDS + 1, rng)
    with pytest.raises(ValueError, match="cannot be trained from 100 samples"):
        lbg(x, 101, rng)
    cb, _ = lbg(x, 4, rng)
    with pytest.raises(ValueError, match="dimension 3"):
        cb.quantize(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="init has 3 codewords"):
        lbg(x, 4, rng, init=x[:3])
    with pytest.raises(ValueError, match="same dimension"):
        ResidualVQ([np.zeros((2, 2)) + [[0, 0], [1, 1]], np.array([[0.0], [1.0]])])
    with pytest.raises(ValueError, match="indices must be"):
        ProductVQ([np.array([[0.0], [1.0]])] * 2).reconstruct(np.zeros((3, 3), dtype=int))
    with pytest.raises(ValueError, match="method must be one of"):
        train_vq(x, 4, "kmeans", rng)
    with pytest.raises(ValueError, match="at most 4096"):
        train_avq(x, 2, 4000, rng)
    with pytest.raises(ValueError, match="smaller batch"):
        train_vq(x, 100, "ste", rng, batch=500_000)
    with pytest.raises(ValueError, match=r"levels\[1\] must be >= 3"):
        FSQ([3, 2])
    with pytest.raises(ValueError, match="unknown quantizer kind"):
        vq_from_dict({"kind": "lattice"})
