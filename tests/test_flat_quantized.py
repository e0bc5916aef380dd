"""Quantization-aware flat-link receivers (hwsim.receivers.flat_quantized, ``qml`` and ``qwls``): the limits of
absent and very fine converters (the LMMSE detector), the MAP point against an independent optimiser, the
debiasing gain of qwls, the gain over the Bussgang LMMSE detector at few bits, the iteration limit reported,
bad input."""

import csv
import warnings

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import log_ndtr

from hwsim.pipeline import Pipeline
from hwsim.receivers.flat_quantized import QML, _Problem

FINE = {"type": "uniform_range", "levels": 2**12, "gamma": 8.0, "agc": "ideal"}   # step 1/256 of the rail's std


def link(receiver, adc=None, users=4, antennas=16, frame_len=50, constellation="qam16", frontend=None):
    tables = {"source": {"type": "users", "users": users, "constellation": constellation},
              "channel": {"type": "rayleigh", "antennas": antennas, "frame_len": frame_len},
              "adc": adc or {"type": "none"}, "receiver": receiver, "metric": {"type": "ber"}}
    if frontend is not None:
        tables["frontend"] = frontend
    p = Pipeline.from_tables(tables)
    p.check()
    return p


def run(receiver, adc=None, snr_db=10.0, frames=10, seed=1, **kw):
    """(sent, observation, decision, link) of one seeded batch."""
    p = link(receiver, adc, **kw)
    idx, obs = p.observe(frames, snr_db, np.random.default_rng(seed))
    return idx, obs, p.receiver.detect(obs), p


def ber(p, idx, decision):
    """(bit errors, bits) of one batch."""
    c = p.source.constellation
    sent, got = c.bits(idx), c.bits(decision.indices)
    return int(np.sum(sent != got)), sent.size


def wilson(errors, n, z=1.96):
    """The Wilson 95% interval of a bit error rate."""
    p = errors / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return c - h, c + h


@pytest.mark.parametrize("receiver", ["qml", "qwls"])
def test_without_and_with_very_fine_converters_the_receivers_equal_the_lmmse_detector(receiver):
    idx, _, ref, _ = run({"type": "lmmse"})
    _, _, got, p = run({"type": receiver})                                       # the same draws, unquantized
    assert np.array_equal(got.indices, ref.indices)
    np.testing.assert_allclose(got.llr, ref.llr, rtol=1e-9, atol=1e-9 * np.abs(ref.llr).max())
    _, _, fine, p = run({"type": receiver}, FINE)                               # 4096 levels: cells of 1/256 std
    assert fine.indices.shape == idx.shape and fine.llr.shape == ref.llr.shape
    assert np.mean(fine.indices != ref.indices) <= 1e-3                         # measured: none differ
    # measured: largest difference 0.8 of LLRs up to 450, 1.8e-3 of the largest
    np.testing.assert_allclose(fine.llr, ref.llr, rtol=0.01, atol=5e-3 * np.abs(ref.llr).max())
    if receiver == "qml":
        assert p.receiver.solver_counts() == (10 * 50, 0)                       # one problem per channel use


def test_the_llrs_agree_with_the_hard_decisions_and_llr_false_gives_none():
    _, _, d, p = run({"type": "qml"}, {"type": "uniform", "bits": 2}, snr_db=15.0)
    bits = p.source.constellation.bits(d.indices)
    clear = np.abs(d.llr) > 1e-9
    assert np.array_equal((d.llr > 0)[clear], (bits == 1)[clear])              # the nearest point's labels
    for receiver in ("qml", "qwls"):
        _, _, plain, _ = run({"type": receiver, "llr": False}, {"type": "uniform", "bits": 2}, snr_db=15.0)
        assert plain.llr is None and plain.indices.dtype == np.int64
        if receiver == "qml":
            assert np.array_equal(plain.indices, d.indices)


def _cell_logp(lo, hi, mu, s):
    """log(Phi(b) - Phi(a)) from scipy's log_ndtr (cells mirrored to the lower tail), independent of cell_terms."""
    a, b = (lo - mu) / s, (hi - mu) / s
    flip = a + b > 0
    a, b = np.where(flip, -b, a), np.where(flip, -a, b)
    la, lb = log_ndtr(a), log_ndtr(b)
    return lb + np.log1p(-np.exp(la - lb))


@pytest.mark.parametrize("smoothing", [0.0, 1.0])
def test_the_map_point_matches_an_independent_optimiser(smoothing):
    """The Newton solution maximises the cell likelihood plus the prior: scipy's BFGS on the same objective,
    written from log_ndtr, reaches the same point (a few channel uses of a 2-bit 8 x 2 link)."""
    p = link({"type": "qml", "smoothing": smoothing, "tol": 1e-12}, {"type": "uniform", "bits": 2}, users=2,
             antennas=8, frame_len=3)
    _, obs = p.observe(2, 12.0, np.random.default_rng(4))
    problem = _Problem(obs, "qml")
    x, _ = p.receiver.solve(problem, slice(0, 2))
    s = np.sqrt(p.receiver.rail_variance(problem, slice(0, 2)))                 # [F, 2N]
    lo, hi = problem.cells
    for f in range(2):
        for u in range(3):
            def negative(v):
                return -(np.sum(_cell_logp(lo[f, u], hi[f, u], problem.Hr[f] @ v, s[f])) - v @ v / problem.es)

            best = minimize(negative, np.zeros(4), method="BFGS", options={"gtol": 1e-10})
            np.testing.assert_allclose(x[f, u], best.x, atol=2e-5)
            assert negative(x[f, u]) <= best.fun + 1e-9


def test_at_two_bits_qml_beats_the_bussgang_lmmse_detector_by_a_clear_margin():
    """32 x 8, 16-QAM, 2-bit uniform converters, 20 dB, 1000 channel uses (32 000 bits), the same draws.
    Measured (seed 3): blmmse 1.15e-2 [1.04e-2, 1.28e-2], qml 3.9e-3 [3.3e-3, 4.6e-3] (Wilson 95%)."""
    adc = {"type": "uniform", "bits": 2, "agc": "ideal"}
    common = dict(snr_db=20.0, frames=10, seed=3, users=8, antennas=32, frame_len=100)
    counts = {}
    for receiver in ("blmmse", "qml"):
        idx, _, d, p = run({"type": receiver}, adc, **common)
        counts[receiver] = ber(p, idx, d)
    lo_b, _ = wilson(*counts["blmmse"])
    _, hi_q = wilson(*counts["qml"])
    assert hi_q < 0.75 * lo_b, counts


@pytest.mark.parametrize("bits", [1, 2])
def test_at_one_and_two_bits_qwls_is_no_worse_than_the_bussgang_lmmse_detector(bits):
    """32 x 8, 16-QAM, 10 dB, 1000 channel uses, the same draws. Measured (seed 3): 1 bit: blmmse 0.1090, qwls
    0.1095 (the debiased conditional mean of a sign converter is Bussgang's reconstruction); 2 bits: qwls 1.14e-2
    against 1.41e-2. Without ``debias`` the conditional means shrink the symbols and qwls is clearly worse
    (0.176 and 2.4e-2)."""
    adc = {"type": "uniform", "bits": bits, "agc": "ideal"}
    common = dict(snr_db=10.0, frames=10, seed=3, users=8, antennas=32, frame_len=100)
    counts = {}
    for name, receiver in (("blmmse", {"type": "blmmse"}), ("qwls", {"type": "qwls"}),
                           ("plain", {"type": "qwls", "debias": False})):
        idx, _, d, p = run(receiver, adc, **common)
        counts[name] = ber(p, idx, d)
    lo_w, _ = wilson(*counts["qwls"])
    lo_b, hi_b = wilson(*counts["blmmse"])
    lo_plain, _ = wilson(*counts["plain"])
    assert lo_w <= hi_b, counts                                                 # no worse, within the intervals
    assert lo_plain > hi_b, counts                                              # the plain surrogate: worse


def test_a_solver_that_stops_at_its_iteration_limit_is_reported():
    adc = {"type": "uniform", "bits": 2}
    with pytest.warns(RuntimeWarning, match=r"of 500 symbol detections \(channel uses\) did not converge within "
                                            r"receiver.iterations = 1"):
        _, _, _, p = run({"type": "qml", "iterations": 1, "tol": 1e-12}, adc, snr_db=20.0)
    solves, bad = p.receiver.solver_counts()
    assert solves == 500 and 0 < bad <= 500
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, _, _, p = run({"type": "qml"}, adc, snr_db=20.0)                   # converged: silent
    assert p.receiver.solver_counts() == (500, 0)
    p.receiver.detect(p.observe(2, 20.0, np.random.default_rng(0))[1])
    assert p.receiver.solver_counts() == (600, 0)                              # cumulative over calls


def test_a_sweep_records_the_solves_and_unconverged_uses_in_results_csv(tmp_path):
    from hwsim.engine.sweep import parse_config, run_sweep

    tables = {"study": "link", "seed": 4, "source": {"type": "users", "users": 4, "constellation": "qam16"},
              "channel": {"type": "rayleigh", "antennas": 16, "frame_len": 20}, "adc": {"type": "uniform", "bits": 2},
              "receiver": {"type": "qml"}, "metric": {"type": "ber"}, "grid": {"snr_db": [15.0]},
              "curves": [{"name": "limit 1", "receiver.iterations": 1, "receiver.tol": 1e-12}, {"name": "converged"},
                         {"name": "qwls", "receiver": "qwls"}],
              "stopping": {"min_samples": 640, "max_samples": 640, "batch": 40}}
    with pytest.warns(RuntimeWarning, match="did not converge"):
        run_sweep(parse_config(tables), tmp_path, workers=1, quiet=True, plot=False)
    rows = {r["curve"]: r for r in csv.DictReader(open(tmp_path / "results.csv"))}
    uses = int(rows["converged"]["bits"]) // (4 * 4)                             # 4 users x 4 bits per use
    assert int(rows["limit 1"]["solves"]) == int(rows["converged"]["solves"]) == uses
    assert 0 < int(rows["limit 1"]["unconverged"]) <= uses
    assert rows["converged"]["unconverged"] == "0"
    assert rows["qwls"]["solves"] == rows["qwls"]["unconverged"] == ""           # closed form: no solver


def test_bad_input_gets_clear_messages():
    with pytest.raises(ValueError, match=r"receiver.iterations must be >= 1, got 0"):
        link({"type": "qml", "iterations": 0})
    with pytest.raises(ValueError, match=r"receiver.iterations must be an integer, got 2.5"):
        link({"type": "qml", "iterations": 2.5})
    with pytest.raises(ValueError, match=r"receiver.tol must be a number in \(0, 1\), got 1.0"):
        link({"type": "qml", "tol": 1.0})
    with pytest.raises(ValueError, match=r"receiver.smoothing must be a number in \[0, 100\], got -1.0"):
        link({"type": "qml", "smoothing": -1.0})
    with pytest.raises(ValueError, match="receiver.debias"):
        link({"type": "qwls", "debias": "yes"})
    with pytest.raises(ValueError, match="receiver.llr"):
        link({"type": "qml", "llr": 1.5})
    with pytest.raises(ValueError, match="receiver.step"):
        link({"type": "qml", "step": 1.0})                                     # not a parameter of qml
    for receiver in ("qml", "qwls"):                                           # converters without cells
        with pytest.raises(ValueError, match=rf"receiver.type = '{receiver}' needs converters that quantize"):
            link({"type": receiver}, {"type": "vector"})
    with pytest.raises(ValueError, match="needs a positive noise variance"):
        p = link({"type": "qwls"}, {"type": "uniform", "bits": 2})
        _, obs = p.observe(1, 10.0, np.random.default_rng(0))
        obs.noise_var = 0.0
        p.receiver.detect(obs)


def test_correlated_noise_from_a_front_end_is_refused():
    p = link({"type": "qml"}, {"type": "uniform", "bits": 3})
    _, obs = p.observe(1, 10.0, np.random.default_rng(0))
    n = obs.H.shape[1]
    obs.noise_cov = obs.noise_var * (np.eye(n) + 0.3 * np.eye(n, k=1) + 0.3 * np.eye(n, k=-1))
    with pytest.raises(ValueError, match=r"models independent noise per converter input.*off-diagonal"):
        p.receiver.detect(obs)
    obs.noise_cov = np.diag(np.linspace(0.5, 2.0, n)) * obs.noise_var        # a noise variance per antenna: served
    assert p.receiver.detect(obs).indices.shape == obs.r.shape[:2] + (obs.H.shape[2],)


def test_qml_reads_its_defaults():
    assert QML.PARAMS == {"llr": True, "iterations": 50, "tol": 1e-8, "smoothing": 0.5}


@pytest.mark.parametrize("bits", [1, 3])
def test_the_debiasing_gain_is_the_regression_of_the_conditional_mean_on_the_sample(bits):
    """G = E[m y] / E[y^2] for m = E[y | cell] (Bussgang's gain of the conditional-mean quantizer): 2/pi for a
    sign converter; by Monte Carlo over the rail's prior for 3 bits."""
    p = link({"type": "qwls"}, {"type": "uniform", "bits": bits, "agc": "ideal"}, frame_len=2)
    _, obs = p.observe(1, 10.0, np.random.default_rng(2))
    problem = _Problem(obs, "qwls")
    power = np.asarray(obs.power)[0, 0]
    sp = np.full((1, 1, 2 * obs.H.shape[1]), np.sqrt(power / 2))
    G = problem.gain(slice(0, 1), sp)[0, 0, 0]                                  # rail 0: antenna 0, I
    if bits == 1:
        np.testing.assert_allclose(G, 2 / np.pi, rtol=1e-9)
        return
    from hwsim.receivers.ofdm_quantized import truncated_moments

    y = np.random.default_rng(5).normal(0.0, sp[0, 0, 0], 400_000)
    alpha = float(np.asarray(obs.scale)[0, 0])
    edges = np.asarray(obs.adc.cell_edges) * alpha
    code = np.asarray(obs.adc.encode(y / alpha))
    m, _ = truncated_moments(edges[code], edges[code + 1], sp[0, 0, 0])
    np.testing.assert_allclose(G, np.mean(m * y) / np.mean(y * y), rtol=2e-3)   # measured: 6e-4 apart
    assert 0.9 < G < 1.0
