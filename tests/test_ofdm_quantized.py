"""Quantization-aware OFDM receivers (hwsim.receivers.ofdm_quantized): the cell likelihood and its derivatives,
the limits of fine and absent converters (the LMMSE receiver), the gain at few bits, joint channel estimation
from the quantized training, non-convergence reported, bad input."""

import warnings

import numpy as np
import pytest
import torch
from scipy.special import log_ndtr, ndtr
from scipy.stats import truncnorm

from hwsim.pipeline import Pipeline
from hwsim.receivers.ofdm_quantized import _cells_of, cell_terms, truncated_moments

SMALL = {"type": "ofdm", "users": 2, "constellation": "qam16", "fft_size": 32, "cp_length": 16, "ofdm_symbols": 6,
         "pilot_symbols": [1, 4], "block_len": 128, "code_rate": 0.5}
FINE = {"type": "uniform_range", "levels": 2**12, "gamma": 8.0, "agc": "ideal"}   # step 1/256 of the rail's std
LMMSE = {"type": "ofdm_lmmse", "csi": "perfect"}


def link(receiver, adc=None, source=None, metric="ber", antennas=8):
    p = Pipeline.from_tables({"source": {**SMALL, **(source or {})},
                              "channel": {"type": "rayleigh_taps", "taps": 4, "antennas": antennas},
                              "adc": adc or {"type": "none"}, "receiver": receiver, "metric": {"type": metric}})
    p.check()
    return p


def run(receiver, adc=None, snr_db=15.0, seed=3, slots=4, **kw):
    """(sent, observation, decision, receiver) of one seeded batch."""
    p = link(receiver, adc, **kw)
    idx, obs = p.observe(slots, snr_db, np.random.default_rng(seed))
    return idx, obs, p.receiver.detect(obs), p.receiver


def test_cell_log_likelihood_matches_scipy_and_its_derivatives_match_finite_differences():
    lo = np.array([-np.inf, -1.0, 0.5, -np.inf, 2.0, 30.0, -0.3, -np.inf, 1.0])
    hi = np.array([0.0, 1.0, 0.6, -20.0, np.inf, np.inf, -0.299, np.inf, 1.0 + 1e-7])
    lp, g, c = cell_terms(lo, hi, 0.0, 1.0)
    with np.errstate(divide="ignore"):
        direct = np.log(ndtr(hi) - ndtr(lo))
    ok = np.isfinite(direct) & (direct > -30)
    np.testing.assert_allclose(lp[ok], direct[ok], rtol=1e-8, atol=1e-12)   # the narrow cell: scipy's 1e-9
    # tails against log_ndtr (one-sided cells): [-inf, -20) and [30, inf)
    np.testing.assert_allclose(lp[3], log_ndtr(-20.0), rtol=1e-12)
    np.testing.assert_allclose(lp[5], log_ndtr(-30.0), rtol=1e-12)
    assert lp[7] == 0.0 and g[7] == 0.0
    # derivative and curvature in mu, also 40 standard deviations outside an outer cell, per sigma
    rng = np.random.default_rng(0)
    edges = np.array([-np.inf, -1.5, -0.5, 0.0, 0.5, 1.5, np.inf])
    code = rng.integers(0, 6, size=400)
    l, u = edges[code], edges[code + 1]
    s = 0.3
    # the last 10: 40 standard deviations outside an outer cell, alternately above [1.5, inf) and below [-inf, -1.5)
    mu = np.concatenate([rng.normal(0, 1.5, 390), np.tile([1.5 - 40 * s, -1.5 + 40 * s], 5)])
    l[390:], u[390:] = np.tile([1.5, -np.inf], 5), np.tile([np.inf, -1.5], 5)
    h = 1e-6
    lp, g, c = cell_terms(l, u, mu, s)
    assert np.all(np.isfinite(lp)) and np.all(np.isfinite(g))
    fd = (cell_terms(l, u, mu + h, s)[0] - cell_terms(l, u, mu - h, s)[0]) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6)
    fd2 = -(cell_terms(l, u, mu + h, s)[1] - cell_terms(l, u, mu - h, s)[1]) / (2 * h)
    np.testing.assert_allclose(c, np.clip(fd2, 0, 1 / s**2), rtol=1e-4, atol=1e-3)
    assert np.all((c >= 0) & (c <= 1 / s**2))
    far = slice(390, 400)
    np.testing.assert_allclose(lp[far], log_ndtr(-40.0), rtol=1e-12)
    np.testing.assert_allclose(g[far] * s, np.tile([40.0, -40.0], 5), rtol=1e-3)     # pulls back to the cell


def test_truncated_moments_match_scipy():
    lo, hi = np.array([-np.inf, -0.5, 1.0]), np.array([-1.0, 0.5, np.inf])
    m, v = truncated_moments(lo, hi, 0.7)
    ref = [truncnorm(a / 0.7, b / 0.7, scale=0.7) for a, b in zip(lo, hi)]
    np.testing.assert_allclose(m, [d.mean() for d in ref], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(v, [d.var() for d in ref], rtol=1e-8)


@pytest.mark.parametrize("receiver", ["ofdm_qml", "ofdm_qwls"])
def test_without_and_with_very_fine_converters_the_receivers_equal_the_lmmse_receiver(receiver):
    for adc, tol in (({"type": "none"}, 1e-9), (FINE, 1e-3)):
        idx, _, ref, _ = run(LMMSE, adc)
        _, _, got, rx = run({"type": receiver}, adc)
        a, b = ref.llr.numpy(), got.llr.numpy()
        assert np.max(np.abs(a - b) / (1 + np.abs(a))) < tol, adc
        assert np.array_equal(ref.indices, got.indices)
        assert rx.unconverged == 0 and rx.solves == 4 * 4      # 4 slots x 4 data symbols


def test_with_two_bits_at_high_snr_the_cell_likelihood_beats_the_bussgang_receiver():
    adc = {"type": "uniform", "bits": 2}
    idx, _, ref, _ = run(LMMSE, adc)
    _, _, got, rx = run({"type": "ofdm_qml"}, adc)
    e_ref, e_got = int((ref.indices != idx).sum()), int((got.indices != idx).sum())
    assert rx.unconverged == 0
    assert 0 < e_got < 0.8 * e_ref, (e_got, e_ref)   # measured 43 vs 72 of 4096 bits with these seeds


def test_the_decoder_takes_the_llrs():
    p = link({"type": "ofdm_qml", "csi": "qml"}, {"type": "uniform", "bits": 4}, metric="bler")
    t = p.link(12.0)(np.random.default_rng(1), 16)
    assert t.trials == 16 and t.total == 0


def _estimate(receiver, adc, snr_db, seed=5):
    p = link({"type": receiver, "csi": "qml"}, adc)
    idx, obs = p.observe(3, snr_db, np.random.default_rng(seed))
    rx = p.receiver
    y_rg = rx.chain.demodulator(torch.from_numpy(np.ascontiguousarray(np.swapaxes(obs.r, 1, 2)))[:, None])
    gain, _ = rx.bussgang(obs)
    Y = y_rg[:, 0].numpy()[..., rx.geometry.eff] / gain[:, :, None, None]
    sigma2 = np.full(gain.shape, obs.noise_var / 2)
    H, err = rx.estimate_channel(obs, _cells_of(obs), Y, sigma2)
    geo = rx.geometry
    H_ls = geo.tap_response(geo.tap_ls(Y))
    # the LMMSE taps of a CN(0, 1) prior from the samples (reconstructions) themselves, solved directly
    b = geo.train_adjoint(geo.windows(obs.r, geo.train_syms)) / (obs.noise_var / 2)
    A = geo.Q / (obs.noise_var / 2) + 2 * np.eye(geo.Q.shape[0])
    h = np.linalg.solve(A, b.reshape(b.shape[0], b.shape[1], -1, 1))[..., 0].reshape(b.shape)
    return obs, H, err, H_ls, geo.tap_response(h)


def test_joint_estimation_with_fine_converters_equals_the_lmmse_estimate():
    obs, H, err, H_ls, H_lmmse = _estimate("ofdm_qml", {"type": "none"}, 20.0)
    np.testing.assert_allclose(H, H_lmmse, atol=1e-12)             # unquantized: the closed form
    rel = np.sqrt(np.mean(np.abs(H_ls - H_lmmse) ** 2) / np.mean(np.abs(H_ls) ** 2))
    assert rel < 0.01                                                # and nearly LS (a weak prior)
    obs, H, err, H_ls, H_lmmse = _estimate("ofdm_qml", FINE, 20.0)
    rel = np.sqrt(np.mean(np.abs(H - H_lmmse) ** 2) / np.mean(np.abs(H_lmmse) ** 2))
    assert rel < 1e-3, rel
    mse = np.mean(np.abs(H - obs.H) ** 2)
    assert 0.3 < mse / err.mean() < 3                               # the stated error variance is the error's
    obs, H, err, _, _ = _estimate("ofdm_qml", FINE, 60.0)           # near-perfect training: the true response
    assert np.max(np.abs(H - obs.H)) < 1e-2


def test_joint_estimation_from_coarse_training_beats_least_squares():
    obs, H, _, H_ls, _ = _estimate("ofdm_qml", {"type": "uniform", "bits": 2}, 20.0)
    mse, mse_ls = np.mean(np.abs(H - obs.H) ** 2), np.mean(np.abs(H_ls - obs.H) ** 2)
    assert mse < 0.8 * mse_ls, (mse, mse_ls)   # measured 0.011 against 0.018 (3 slots, seed 5)


def test_a_solver_that_stops_at_its_iteration_limit_is_reported():
    adc = {"type": "uniform", "bits": 2}
    for receiver in ("ofdm_qml", "ofdm_qwls"):
        said = r"of 16 symbol detections .* did not converge within receiver.iterations = 1"
        with pytest.warns(RuntimeWarning, match=said):
            _, _, _, rx = run({"type": receiver, "iterations": 1, "tol": 1e-12}, adc)
        assert rx.unconverged > 0 and rx.solves == 16
    with pytest.warns(RuntimeWarning) as record:
        run({"type": "ofdm_qml", "csi": "qml", "iterations": 1, "tol": 1e-12}, adc, slots=1)
    assert any("channel estimations (slot x antenna) did not converge" in str(w.message) for w in record)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run({"type": "ofdm_qml"}, adc, slots=1)                     # converged: silent


def test_bad_input_gets_clear_messages():
    with pytest.raises(ValueError, match="receiver.tol"):
        link({"type": "ofdm_qml", "tol": 2.0})
    with pytest.raises(ValueError, match="receiver.smoothing"):
        link({"type": "ofdm_qml", "smoothing": -1.0})
    with pytest.raises(ValueError, match="receiver.csi must be one of perfect, blmmse, qml"):
        link({"type": "ofdm_qwls", "csi": "ls"})
    with pytest.raises(ValueError, match="receiver.iterations"):
        link({"type": "ofdm_qwls", "iterations": 0})
    with pytest.raises(ValueError, match="lower < upper"):
        cell_terms(1.0, 0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        cell_terms(0.0, 1.0, 0.0, 0.0)


def test_hadamard_training_and_joint_estimation_run_with_the_pilot_tones_known():
    source = {"training": "hadamard", "pilot_symbols": [0, 3]}
    idx, _, ref, _ = run({"type": "ofdm_lmmse", "csi": "blmmse"}, {"type": "uniform", "bits": 3}, source=source)
    _, _, got, rx = run({"type": "ofdm_qml", "csi": "qml"}, {"type": "uniform", "bits": 3}, source=source)
    assert rx.unconverged == 0 and rx.solves == 4 * 4 + 4 * 8          # detections, then slot x antenna estimations
    assert (got.indices != idx).mean() < 0.01 and (ref.indices != idx).mean() < 0.01


def test_a_sweep_records_each_points_solves_and_unconverged_problems_in_results_csv(tmp_path):
    """The iteration limit reached is never silent in a sweep: results.csv has the counts per point."""
    import csv

    from hwsim.engine.sweep import parse_config, run_sweep

    tables = {"study": "link", "seed": 4, "source": SMALL, "channel": {"type": "rayleigh_taps", "taps": 4, "antennas": 8},
              "adc": {"type": "uniform", "bits": 2}, "receiver": {"type": "ofdm_qml"}, "metric": {"type": "ber"},
              "grid": {"snr_db": [15.0]},
              "curves": [{"name": "limit 1", "receiver.iterations": 1, "receiver.tol": 1e-12},
                         {"name": "converged"}, {"name": "bussgang", "receiver": "ofdm_lmmse"}],
              "stopping": {"min_samples": 4, "max_samples": 4, "batch": 4}}
    with pytest.warns(RuntimeWarning, match="did not converge"):                 # in-process: the warning shows too
        run_sweep(parse_config(tables), tmp_path, workers=1, quiet=True, plot=False)
    rows = {r["curve"]: r for r in csv.DictReader(open(tmp_path / "results.csv"))}
    slots = int(rows["converged"]["bits"]) // (2 * 4 * 24 * 4)            # 2 users x 4 data symbols x 24 tones x 4 bits
    assert int(rows["limit 1"]["solves"]) == int(rows["converged"]["solves"]) == 4 * slots   # slot x data symbol
    assert 0 < int(rows["limit 1"]["unconverged"]) <= 4 * slots
    assert rows["converged"]["unconverged"] == "0"
    assert rows["bussgang"]["solves"] == rows["bussgang"]["unconverged"] == ""        # no solver: empty


def test_debiased_moments_undo_the_centroids_bussgang_gain():
    """One-bit cells of N(0, 1): the centroids +-sqrt(2/pi) shrink the input by g = 2/pi; m / g has the input's
    scale. Fine cells: g -> 1 and nothing changes."""
    from hwsim.receivers.ofdm_quantized import centroid_gain, debiased_moments

    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 1, 50, 200))
    one = np.ones((1, 1))
    g = centroid_gain(np.array([-np.inf, 0.0, np.inf]), one, one)
    assert g.shape == (1, 1, 1, 1) and abs(g.item() - 2 / np.pi) < 1e-12
    lo, hi = np.where(x < 0, -np.inf, 0.0), np.where(x < 0, 0.0, np.inf)
    m, v = truncated_moments(lo, hi, np.ones((1, 1, 1, 1)))
    r, w = debiased_moments(m, v, g)
    assert np.allclose(np.abs(r), np.sqrt(np.pi / 2), rtol=1e-12)
    assert abs(np.mean(r * x) / np.mean(x * x) - 1.0) < 0.05             # unbiased on the input's scale
    assert np.allclose(w, 1 - 2 / np.pi + (np.sqrt(2 / np.pi) * (np.pi / 2 - 1)) ** 2, rtol=1e-12)
    # a table at twice the scale of another on half the input: the same standardised cells, the same gain
    edges = np.array([-np.inf, -1.0, 0.0, 1.0, np.inf])
    assert np.allclose(centroid_gain(edges, 2 * one, 2 * one), centroid_gain(edges, one, one), rtol=1e-12)
    fine = np.concatenate([[-np.inf], np.arange(-2048, 2049) / 256, [np.inf]])
    assert 1 - centroid_gain(fine, one, one).item() < 1e-5
