"""Quantized compressed sensing (Leinonen and Codreanu, "Low-complexity vector quantized compressed sensing
via deep neural networks"): the sparse source, the DCT measurements, the SHQ and its table, the CE
baselines, the NMSE metric and the refusals. All seeded."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hwsim.channels.sparse import SparseSource, dct_matrix, measurement_matrix
from hwsim.pipeline import Pipeline
from hwsim.receivers import qcs


def _link(receiver: dict, **source):
    return Pipeline.from_tables({"source": {"type": "sparse", **source}, "receiver": receiver,
                                 "metric": {"type": "nmse"}})


def test_dct_rows_are_orthonormal_and_phi_follows_the_paper():
    for n in (1, 7, 20):
        c = dct_matrix(n)
        np.testing.assert_allclose(c @ c.T, np.eye(n), atol=1e-12)
    phi = measurement_matrix(20, 10, "none")
    np.testing.assert_allclose(phi @ phi.T, np.eye(10), atol=1e-12)  # the first M DCT rows
    phi = measurement_matrix(20, 10)  # the paper's unit-norm columns
    np.testing.assert_allclose(np.linalg.norm(phi, axis=0), 1.0, atol=1e-12)
    from scipy.fft import dct

    v = np.random.default_rng(0).standard_normal(20)
    np.testing.assert_allclose(dct_matrix(20) @ v, dct(v, norm="ortho"), atol=1e-12)


def test_sparse_source_draws_s_sparse_vectors_with_the_stated_energy_and_noise():
    src = SparseSource(n=20, m=10, s=2)
    x, y = src.sample(40_000, np.random.default_rng(1))
    assert x.shape == (40_000, 20) and y.shape == (40_000, 10)
    assert np.all(np.count_nonzero(x, axis=1) == 2)
    e = (x**2).sum(1)  # E||x||^2 = S = 2, var ||x||^2 = 2 S = 4
    assert abs(e.mean() - src.mean_energy) < 4 * math.sqrt(4 / len(e))
    noise = y - x @ src.phi.T
    assert abs(noise.var() / 1e-4 - 1) < 4 * math.sqrt(2 / noise.size)
    # every support position equally likely: each entry is non-zero with probability S/N = 0.1
    freq = (x != 0).mean(0)
    assert np.all(np.abs(freq - 0.1) < 4 * math.sqrt(0.1 * 0.9 / len(x)))
    # the same seed gives the same draws
    x2, y2 = src.sample(10, np.random.default_rng(1))
    np.testing.assert_array_equal(x2, SparseSource().sample(10, np.random.default_rng(1))[0])


def test_omp_recovers_noiseless_sparse_vectors_exactly():
    link = _link({"type": "ce_usq_omp", "rate": 4.0}, noise_var=0.0)
    rx = link.receiver
    rx.prepare(link, None, np.random.default_rng(2))
    for s in (1, 2):
        src = SparseSource(s=s, noise_var=0.0)
        rx._source = src
        x, y = src.sample(2000, np.random.default_rng(3))
        exact = np.all(np.abs(rx.decode(y) - x) < 1e-9, axis=1)  # unquantized measurements
        # S = 1: always (distinct unit-norm columns); S = 2: OMP's greedy first pick can miss on this coherent
        # DCT matrix, measured 89% of the seeded vectors (a binomial CI of +-1.4%)
        assert exact.mean() == 1.0 if s == 1 else exact.mean() > 0.85


def test_constrained_basis_pursuit_meets_the_constraint_and_the_optimality_conditions():
    src = SparseSource()
    x, y = src.sample(200, np.random.default_rng(4))
    y_tilde = qcs.uniform_quantizer(y, 8).quantize(y)
    mu = 0.1
    xh = qcs.bp_constrained(src.phi, y_tilde, mu)
    r = y_tilde - xh @ src.phi.T
    norms = np.linalg.norm(r, axis=1)
    big = np.linalg.norm(y_tilde, axis=1) > mu
    np.testing.assert_allclose(norms[big], mu, rtol=1e-6)  # active constraint
    assert np.all(xh[~big] == 0)
    # KKT: Phi^T r = lambda g with g in the subdifferential of ||x||_1, lambda > 0
    for i in np.nonzero(big)[0]:
        g = src.phi.T @ r[i]
        lam = np.abs(g).max()
        on = np.abs(xh[i]) > 1e-10
        np.testing.assert_allclose(g[on] / lam, np.sign(xh[i][on]), atol=1e-6)
        assert np.all(np.abs(g[~on]) <= lam * (1 + 1e-6))
    # mu = 0 on noiseless measurements: basis pursuit recovers most 2-sparse vectors exactly
    src0 = SparseSource(noise_var=0.0)
    x0, y0 = src0.sample(300, np.random.default_rng(5))
    exact = np.all(np.abs(qcs.bp_constrained(src0.phi, y0, 0.0) - x0) < 1e-7, axis=1)
    assert exact.mean() > 0.85  # measured 0.92


def test_lloyd_quantizer_matches_lloyd_max_on_gaussian_samples():
    v = np.random.default_rng(6).standard_normal(200_000)
    for bits, ref in ((1, 0.3634), (2, 0.1175), (3, 0.03454)):  # Max (1960)
        q = qcs.lloyd_quantizer(v, 2**bits)
        assert abs(np.mean((q.quantize(v) - v) ** 2) / ref - 1) < 0.02


def test_blended_gradient_is_eq32():
    import torch

    adc = qcs.shq_layer(4)
    qcs.set_steepness(adc, 20.0)
    a0 = torch.linspace(-1.2, 1.2, 41, dtype=torch.float32)
    a = a0.clone().requires_grad_(True)
    true = torch.autograd.grad(adc.soft(a).sum(), a)[0]
    mask = (a0.abs() <= adc.a.sum()).float()
    for beta in (0.0, 0.3, 1.0):
        a = a0.clone().requires_grad_(True)
        out = qcs.shq_blended(adc, a, beta)
        torch.testing.assert_close(out, adc.soft(a0).detach())
        grad = torch.autograd.grad(out.sum(), a)[0]
        torch.testing.assert_close(grad, (1 - beta) * mask + beta * true)


def test_trained_shq_converts_to_a_table_that_matches_it_at_high_steepness():
    import torch

    src = SparseSource()
    net = qcs.train_qcs(src, 2, np.random.default_rng(7), steps=300, batch=100, checks=2, val_samples=500,
                        lr_levels=1e-2)
    adc = qcs.shq_layer(4)
    table = net.table
    # rebuild the layer from the table's thresholds and eq. (33)'s levels: v_i = (g_{i+1} - g_i) / 2
    v = np.diff(table.levels) / 2
    assert not np.allclose(v, 0.8 / 3, atol=1e-3)  # the levels did train
    h = 5000.0
    with torch.no_grad():
        adc.a.copy_(torch.as_tensor(v, dtype=torch.float32))
    qcs.set_steepness(adc, h)
    with torch.no_grad():
        adc.b.copy_(torch.as_tensor(h * table.thresholds, dtype=torch.float32))
    z = np.random.default_rng(8).uniform(-1.5, 1.5, 5000)
    z = z[np.min(np.abs(z[:, None] - table.thresholds[None, :]), axis=1) > 2e-3]  # off the steps
    soft = adc.soft(torch.as_tensor(z, dtype=torch.float32)).detach().double().numpy()
    np.testing.assert_allclose(table.quantize(z), soft, atol=1e-4)
    # eq. (33): outer levels -/+ sum v, thresholds s_i / h at the paper's grid [-0.8, 0, 0.8]
    np.testing.assert_allclose(table.levels[[0, -1]], [-v.sum(), v.sum()], atol=1e-5)
    np.testing.assert_allclose(table.thresholds, [-0.8, 0.0, 0.8], atol=1e-6)
    # the hard path of the receiver is the table: encode -> codes, decode -> levels -> DecNet
    y = src.sample(50, np.random.default_rng(9))[1]
    codes = net.encode(y)
    assert codes.shape == (50, 10) and codes.min() >= 0 and codes.max() <= 3


def test_deepqcs_learns_and_beats_the_ce_baseline_at_one_bit_per_entry():
    errors = {}
    x, y = SparseSource().sample(2000, np.random.default_rng(10))  # the same test vectors for both
    for name, extra in (("deepqcs", {"steps": 2500, "batch": 500}), ("ce_usq_l1", {})):
        link = _link({"type": name, "rate": 1.0, **extra})
        link.check()
        link.prepare(None, np.random.default_rng(11))
        errors[name] = link.metric.per_realization(x, link.receiver.estimate(y, None))
    # a short training (2500 steps) already beats CE-USQ-L1 (-6.7 dB here; DeepQCS about -7.5 dB):
    # the paired difference of the NMSE is negative with 95% confidence
    d = errors["deepqcs"] - errors["ce_usq_l1"]
    assert d.mean() + 1.96 * d.std(ddof=1) / math.sqrt(len(d)) < 0, (d.mean(), d.std())


@pytest.mark.parametrize("source, receiver, match", [
    ({"m": 21}, {"type": "ce_usq_omp"}, r"source\.m \(measurements M\) must be <= source\.n"),
    ({"s": 21}, {"type": "ce_usq_omp"}, r"source\.s \(non-zero entries S\) must be <= source\.n"),
    ({"s": 0}, {"type": "ce_usq_omp"}, r"source\.s must be >= 1"),
    ({"noise_var": -1.0}, {"type": "ce_usq_omp"}, r"source\.noise_var must be >= 0"),
    ({"normalize": "rows"}, {"type": "ce_usq_omp"}, r"source\.normalize must be one of columns, none"),
    ({}, {"type": "deepqcs", "rate": 0.7}, r"receiver\.rate = 0\.7 needs 1\.4 bits per quantizer.*multiples of 10/20"),
    ({}, {"type": "deepqcs", "rate": 6.0}, r"needs 12 bits per quantizer, more than the 10 allowed"),
    ({}, {"type": "deepqcs", "rate": 1.0, "k": 3}, r"receiver\.rate = 1 needs 6\.66667 bits"),
    ({}, {"type": "ce_usq_l1", "rate": 0.25}, r"needs 0\.5 bits per quantizer"),
    ({}, {"type": "deepqcs", "anneal": 1.5}, r"receiver\.anneal .* must lie in \(0, 1\]"),
    ({}, {"type": "ce_decnet", "h_max": 1.0}, r"receiver\.h_max must be >= receiver\.h_init"),
])
def test_bad_inputs_are_refused_clearly(source, receiver, match):
    with pytest.raises(ValueError, match=match):
        _link(receiver, **source).check()


def test_qcs_receivers_refuse_other_sources_and_nmse_needs_a_known_energy():
    link = Pipeline.from_tables({"source": {"type": "gaussian", "dim": 2}, "receiver": {"type": "ce_usq_omp"},
                                 "metric": {"type": "nmse"}})
    with pytest.raises(ValueError, match=r"source\.type = \"sparse\""):
        link.receiver.check_link(link)
    with pytest.raises(ValueError, match=r"mean_energy"):
        link.metric.check_link(link)


def test_nmse_divides_by_the_exact_energy():
    link = _link({"type": "ce_usq_omp", "rate": 1.0})
    link.metric.prepare(link, None, None)
    x = np.zeros((2, 20))
    xh = np.zeros((2, 20))
    xh[0, 0] = 1.0
    np.testing.assert_allclose(link.metric.per_realization(x, xh), [0.5, 0.0])  # ||e||^2 / S


def test_qcs_config_loads_and_its_points_validate():
    from hwsim.engine.sweep import load_config

    cfg = load_config("qcs")
    pts = cfg.points()
    assert {p.params["receiver"] for p in pts} >= {"deepqcs", "ce_decnet", "ce_usq_omp", "ce_usq_l1", "ce_sq_l1"}
    quick = load_config("qcs", quick=True)
    assert len(quick.points()) < len(pts)


def test_plot_db_converts_the_estimate_its_interval_and_spread():
    from hwsim.engine.plotting import _in_db

    row = {"nmse": "0.01", "ci_low": "0.001", "ci_high": "0.1", "spread_min": "", "spread_max": "0", "x": "1"}
    out = _in_db(row, "nmse")
    assert [round(float(out[k]), 9) for k in ("nmse", "ci_low", "ci_high")] == [-20.0, -30.0, -10.0]
    assert out["spread_min"] == "" and out["spread_max"] == "" and out["x"] == "1"
    low = _in_db({"nmse": "0.01", "ci_low": "0", "ci_high": "0.1"}, "nmse")
    assert float(low["ci_low"]) == float(low["nmse"])  # no dB for 0: no lower bar


# ---- size bounds (issue 29, item 8): refused when the config loads, before anything of that size exists ----------


@pytest.mark.parametrize("sets, match", [
    (["source.n=4096", "source.m=4096", "grid.rate=[1.0]"],
     r"source\.n = 4096 is more than the limit of 1024 \(hwsim\.channels\.sparse\.MAX_LENGTH.*raise it in code"),
    (["source.n=1000", "source.m=1000", "grid.rate=[1.0]"],
     r"source\.n = 1000, source\.m = 1000 make a network of 40013000 weights .* more than the limit of 8388608 "
     r"\(hwsim\.receivers\.qcs\.MAX_NETWORK_WEIGHTS.*raise it in code"),
    (["receiver.batch=100000"],
     r"receiver\.batch = 100000 x 80 .* = 8000000 values per training step, more than the limit of 4194304 "
     r"\(hwsim\.receivers\.qcs\.MAX_BATCH_VALUES"),
])
def test_qcs_sizes_are_bounded_when_the_config_loads(monkeypatch, sets, match):
    from hwsim.channels import sparse
    from hwsim.engine.sweep import load_config

    real = sparse.dct_matrix

    def small_only(n):
        assert n <= sparse.MAX_LENGTH, f"built the {n} x {n} DCT before refusing it"
        return real(n)

    monkeypatch.setattr(sparse, "dct_matrix", small_only)
    monkeypatch.setattr(qcs, "_mlp", lambda *a, **k: pytest.fail("allocated a network while loading a config"))
    with pytest.raises(ValueError, match=match):
        load_config("qcs", overrides=sets)


def test_deepqcs_encoder_outputs_are_bounded_too(monkeypatch):
    monkeypatch.setattr(qcs, "_mlp", lambda *a, **k: pytest.fail("allocated a network while checking a link"))
    with pytest.raises(ValueError, match=r"K = 2000 encoder outputs \(receiver\.k\) make a network of 20286660 "
                                         r"weights .*MAX_NETWORK_WEIGHTS"):
        _link({"type": "deepqcs", "k": 2000, "rate": 100.0}).check()


def test_the_limits_are_module_constants_that_can_be_raised(monkeypatch):
    from hwsim.channels import sparse

    monkeypatch.setattr(sparse, "MAX_LENGTH", 2048)
    assert SparseSource(n=2048, m=8, s=2).phi.shape == (8, 2048)
    with pytest.raises(ValueError, match=r"MAX_NETWORK_WEIGHTS"):
        qcs.train_qcs(SparseSource(n=600, m=10, s=2), 1, np.random.default_rng(0), steps=1)
    monkeypatch.setattr(qcs, "MAX_NETWORK_WEIGHTS", 10**8)
    with pytest.raises(ValueError, match=r"receiver\.batch = 2000 x 2400 .*MAX_BATCH_VALUES"):
        qcs.train_qcs(SparseSource(n=600, m=10, s=2), 1, np.random.default_rng(0), steps=1, batch=2000)


def test_large_sets_are_drawn_and_evaluated_in_pieces_with_the_same_results(monkeypatch):
    """Below the piece size (every shipped study) nothing changes; above it, draws come in consecutive pieces
    and networks run on row pieces, which give one-piece results to rounding (BLAS may block the row
    products differently: rtol 1e-12)."""
    src = SparseSource()
    net = qcs.train_qcs(src, 1, np.random.default_rng(2), steps=40, batch=50, val_samples=300, checks=2)
    assert qcs._PIECE_VALUES // 80 >= 2000  # the sweep's batch and the validation set are one piece here
    x, y = qcs._sample(src, 2000, np.random.default_rng(3))
    np.testing.assert_array_equal(x, src.sample(2000, np.random.default_rng(3))[0])
    whole = net.estimate(y)
    monkeypatch.setattr(qcs, "_PIECE_VALUES", 80 * 7)  # rows of 7: 286 pieces, the last one short
    np.testing.assert_allclose(net.estimate(y), whole, rtol=1e-12, atol=1e-12)
    assert np.array_equal(net.encode(y), qcs.QCSNet.encode(net, y))
    xs, ys = qcs._sample(src, 100, np.random.default_rng(3))  # pieces of 28 vectors
    assert xs.shape == (100, 20) and ys.shape == (100, 10)
    assert np.all(np.count_nonzero(xs, axis=1) == 2)
    small = qcs.train_qcs(src, 1, np.random.default_rng(2), steps=5, batch=50, val_samples=100, checks=1)
    assert len(small.history) == 1  # training runs with the draws in pieces of one batch


# ---- DeepQCS baselines (issue 31, item 3): mu_qc's readings and the genie, CE-DecNet's grid, eq. (31)'s schedule ----


def test_bp_on_a_grid_of_constraints_equals_one_constraint_at_a_time():
    src = SparseSource()
    _, y = src.sample(60, np.random.default_rng(20))
    y_tilde = qcs.uniform_quantizer(y, 16).quantize(y)
    mus = [0.0, 0.01, 0.0316, 0.1, 0.5, 5.0]  # 5.0 exceeds every ||y_tilde||: x = 0
    grid = qcs.bp_constrained_grid(src.phi, y_tilde, mus)
    assert grid.shape == (len(mus), 60, 20)
    for j, mu in enumerate(mus):
        np.testing.assert_allclose(grid[j], qcs.bp_constrained(src.phi, y_tilde, mu), rtol=0, atol=1e-12)
    assert np.all(grid[-1] == 0)
    with pytest.raises(ValueError, match=r"mu must be >= 0"):
        qcs.bp_constrained_grid(src.phi, y_tilde, [0.1, -1.0])


def test_mu_qc_readings_and_the_receiver_rules():
    # the printed sqrt(sigma_n) (1 + 1/I) with sigma_n the noise std (hwsim's default), and the noise-norm reading
    assert qcs.mu_qc(1e-4, 10, 64, "paper") == pytest.approx(0.1 * (1 + 1 / 64), rel=1e-12)
    assert qcs.mu_qc(1e-4, 10, 64, "noise_norm") == pytest.approx(math.sqrt(10) * 0.01 * (1 + 1 / 64), rel=1e-12)
    with pytest.raises(ValueError, match=r"rule must be one of paper, noise_norm"):
        qcs.mu_qc(1e-4, 10, 64, "genie")
    assert qcs.MU_GRID[0] == pytest.approx(1e-5) and qcs.MU_GRID[-1] == pytest.approx(10**0.5)
    assert len(qcs.MU_GRID) == 56
    for rule, want in (("paper", 0.1 * (1 + 1 / 64)), ("noise_norm", math.sqrt(1e-3) * (1 + 1 / 64))):
        link = _link({"type": "ce_usq_l1", "rate": 3.0, "mu_rule": rule})
        link.check()
        link.prepare(None, np.random.default_rng(21))
        assert link.receiver.mu() == pytest.approx(want, rel=1e-12)
    with pytest.raises(ValueError, match=r"receiver\.mu_rule must be one of paper, noise_norm, genie, got 'x'"):
        _link({"type": "ce_usq_l1", "mu_rule": "x"}).check()
    with pytest.raises(ValueError, match=r"x and y_tilde must hold the same number of vectors, got 3 and 2"):
        qcs.genie_mu(np.eye(10, 20), np.zeros((3, 20)), np.zeros((2, 10)))
    with pytest.raises(ValueError, match=r"receiver\.genie_vectors must be >= 1"):
        _link({"type": "ce_sq_l1", "mu_rule": "genie", "genie_vectors": 0}).check()


@pytest.mark.parametrize("rate", [1.0, 3.0])
def test_genie_mu_is_never_worse_than_the_printed_mu_on_its_validation_draws(rate):
    src = SparseSource()
    link = _link({"type": "ce_usq_l1", "rate": rate, "mu_rule": "genie", "genie_vectors": 300})
    link.check()
    link.prepare(None, np.random.default_rng(22))
    rx = link.receiver
    # the same draws again: the quantizer's training set, then the validation vectors
    rng = np.random.default_rng(22)
    qcs._sample(src, qcs.CE_TRAIN_VECTORS, rng)
    x, y = qcs._sample(src, 300, rng)
    y_tilde = rx.table.quantize(y)
    printed = qcs.mu_qc(src.noise_var, src.M, rx.levels, "paper")

    def err(mu):
        return float(((qcs.bp_constrained(src.phi, y_tilde, mu) - x) ** 2).sum() / (x**2).sum())

    assert rx.mu() in qcs.MU_GRID
    assert rx.genie_errors.shape == (56,)
    assert err(rx.mu()) == pytest.approx(float(rx.genie_errors.min()), rel=1e-9)
    assert err(rx.mu()) <= err(printed) * (1 + 1e-12)
    # and the receiver decodes with it
    np.testing.assert_allclose(rx.estimate(y[:20], None), qcs.bp_constrained(src.phi, y_tilde[:20], rx.mu()),
                               atol=1e-12)


def test_measurements_overrun_the_paper_grid_and_the_matched_grid_saturates_fewer():
    src = SparseSource()
    _, y = src.sample(50_000, np.random.default_rng(23))
    # E y_m^2 averaged over m is S/M + sigma^2 = 0.2001 (unit-norm columns): std 0.4473
    var = float((y**2).mean())
    assert abs(var / 0.2001 - 1) < 0.02
    paper = qcs.grid_saturation(y, [-0.8, 0.8])
    assert 0.07 < paper < 0.087  # measured 0.078 (200 000 vectors): the share beyond +-0.8
    for bits in (4, 6, 8):  # R = 2, 3, 4
        levels = 2**bits
        scale = qcs.matched_grid_scale(y, levels)
        grid = scale * np.linspace(-0.8, 0.8, levels - 1)
        # the scaled grid is the MSE-optimal uniform quantizer's thresholds
        np.testing.assert_allclose(grid, qcs.uniform_quantizer(y, levels).thresholds, atol=1e-9)
        assert qcs.grid_saturation(y, grid) < paper / 4
    assert qcs.paper_grid_support(2) == 0.8 and qcs.paper_grid_support(4) == pytest.approx(1.6)


def test_ce_decnet_with_the_matched_grid_quantizes_on_the_scaled_thresholds():
    src = SparseSource()
    x, y = src.sample(2000, np.random.default_rng(24))
    tables = {}
    for grid in ("paper", "matched"):
        link = _link({"type": "ce_decnet", "rate": 4.0, "grid": grid, "steps": 30, "batch": 100})
        link.check()
        link.prepare(None, np.random.default_rng(25))
        tables[grid] = link.receiver
    paper, matched = tables["paper"], tables["matched"]
    assert paper.grid_scale == 1.0 and matched.grid_scale > 2  # measured 2.55 at 8 bits
    np.testing.assert_allclose(paper.table.thresholds[[0, -1]], [-0.8, 0.8], atol=1e-6)
    np.testing.assert_allclose(matched.table.thresholds, matched.grid_scale * paper.table.thresholds, rtol=1e-6,
                               atol=1e-9)
    assert qcs.grid_saturation(y, matched.table.thresholds) < qcs.grid_saturation(y, paper.table.thresholds) / 10
    est = matched.estimate(y, None)
    assert est.shape == x.shape and np.all(np.isfinite(est))
    with pytest.raises(ValueError, match=r"input_scale rescales CE-DecNet's measurements"):
        qcs.train_qcs(src, 2, np.random.default_rng(0), encoder=True, steps=1, input_scale=2.0)
    with pytest.raises(ValueError, match=r"receiver\.grid must be one of paper, matched"):
        _link({"type": "ce_decnet", "grid": "lloyd"}).check()


def test_the_steepness_schedules():
    ramp = qcs.steepness_schedule("ramp", 5.0, 300.0, 1000, 0.8)
    assert ramp(0) == 5.0 and ramp(800) == pytest.approx(300.0) and ramp(1000) == 300.0
    assert ramp(400) == pytest.approx(152.5)
    paper = qcs.steepness_schedule("paper", 5.0, 300.0, 15_000, 0.8)
    t = np.arange(0, 15_001, 500)
    assert all(paper(s) <= 5.0 + 1e-5 * s + 1e-12 for s in t)
    assert paper(15_000) == pytest.approx(5.15) and paper(qcs.PAPER_STEPS) == pytest.approx(105.0)
    assert paper(10**9) == 300.0  # h_max is reached only after 2.95e7 steps
    scaled = qcs.steepness_schedule("paper_scaled", 5.0, 300.0, 15_000, 0.8)
    assert scaled(15_000) == pytest.approx(105.0) and scaled(7_500) == pytest.approx(55.0)
    with pytest.raises(ValueError, match=r"steepness must be one of ramp, paper, paper_scaled"):
        qcs.steepness_schedule("fast", 5.0, 300.0, 10, 0.8)
    with pytest.raises(ValueError, match=r"receiver\.steepness must be one of ramp, paper, paper_scaled"):
        _link({"type": "deepqcs", "steepness": "fast"}).check()


def test_training_with_the_paper_schedule_keeps_h_below_h_init_plus_alpha_t():
    src = SparseSource()
    runs = {}
    for kind in ("ramp", "paper"):
        runs[kind] = qcs.train_qcs(src, 2, np.random.default_rng(26), steps=60, batch=50, val_samples=200,
                                   checks=3, steepness=kind)
    for step, h, beta, _ in runs["paper"].history:
        assert h <= 5.0 + 1e-5 * step + 1e-12
    assert runs["ramp"].history[-1][1] == 300.0  # the ramp ends at h_max
    # beta follows the anneal ramp in both
    assert [e[2] for e in runs["paper"].history] == [e[2] for e in runs["ramp"].history]
    link = _link({"type": "deepqcs", "rate": 1.0, "steepness": "paper_scaled", "steps": 40, "batch": 50})
    link.check()
    link.prepare(None, np.random.default_rng(27))
    assert link.receiver.model.history[-1][1] == pytest.approx(105.0)


def test_quick_study_smoke_run_with_the_new_curves():
    """qcs.toml's [quick] runs end to end (every curve, the genie and the matched grid included), shrunk further."""
    import hwsim

    rows = hwsim.sweep("qcs", quick=True, overrides=["receiver.steps=40", "receiver.batch=100",
                                                     "stopping.min_samples=200", "stopping.max_samples=200",
                                                     "stopping.batch=200"])
    rows = rows.to_dict("records") if hasattr(rows, "to_dict") else rows
    curves = {r["curve"] for r in rows} if rows and "curve" in rows[0] else set()
    assert {"CE-USQ-L1 (genie mu)", "CE-DecNet (matched grid)", "DeepQCS"} <= curves, rows[:2]
    assert len(rows) == 2 * 7
    assert all(0 < float(r["nmse"]) < 2 for r in rows)
