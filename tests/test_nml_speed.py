"""The compiled nml iteration (``NearML.estimate``) against the earlier implementation it replaced
(``receivers.onebit._estimate_reference``), its elementary functions against mpmath, and its gradient
against finite differences of the cell log-likelihood. Nothing here is timed: scripts/bench_nml.py is."""

import math

import mpmath
import numpy as np
import pytest
from numba import njit

from hwsim.converters.adc import ThresholdADC, UniformADC
from hwsim.pipeline import Pipeline
from hwsim.receivers import onebit
from hwsim.receivers.map import log_prob_interval
from hwsim.receivers.onebit import NearML, _detect_reference, _estimate_reference, _gradient_reference, cell_score

from test_linear_detectors import observe

mpmath.mp.dps = 40


@njit
def _erfcx_array(u):
    out = np.empty(u.size)
    for j in range(u.size):
        out[j] = onebit._erfcx_fast(u[j])
    return out


@njit
def _exp_array(y):
    out = np.empty(y.size)
    for j in range(y.size):
        out[j] = onebit._exp_fast(y[j])
    return out


def test_erfcx_polynomial_matches_mpmath():
    u = np.concatenate([np.linspace(0, 6, 301), np.geomspace(6, 1e8, 200)])
    got = _erfcx_array(u)
    want = np.array([float(mpmath.erfc(x) * mpmath.exp(mpmath.mpf(x) ** 2)) for x in u])
    assert np.max(np.abs(got / want - 1)) < 2e-15  # measured 6.7e-16
    assert _erfcx_array(np.array([np.inf]))[0] == 0.0


def test_exp_matches_math_exp():
    y = np.concatenate([np.linspace(-708, 709, 5001), np.linspace(-1, 1, 1001)])
    got = _exp_array(y)
    want = np.exp(y)
    assert np.max(np.abs(got / want - 1)) < 1e-15  # a few ulp
    clamped = _exp_array(np.array([-np.inf, -1e300, np.nan]))  # clamped to exp(-708), never NaN
    assert np.all(np.abs(clamped / math.exp(-708) - 1) < 1e-15)


def test_vectorized_cell_scores_match_the_scalar_kernel():
    rng = np.random.default_rng(3)
    a = rng.normal(0, 15, 6000)
    b = a + np.exp(rng.uniform(-4, 3, 6000))
    a[:1500] = -np.inf
    b[1500:3000] = np.inf
    a[3000:3010], b[3000:3010] = -np.inf, np.inf
    want = cell_score(a, b)
    got = onebit._cell_score_fast(a, b)
    assert np.max(np.abs(got - want) / np.maximum(1, np.abs(want))) < 1e-12
    assert np.all(got[3000:3010] == 0)
    w = np.concatenate([rng.normal(0, 10, 3000), [-80.0, -40.0, 37.0, 38.0, 60.0]])
    want = cell_score(-np.inf, w)
    got = onebit._half_score_fast(w)
    # the scalar kernel's exp(x * x) erfc(x) carries the rounding of x * x (about 1e-13 relative at |x| ~ 20)
    assert np.max(np.abs(got - want) / np.maximum(1e-300, np.abs(want))) < 1e-12
    for v in (-30.0, -3.0, 0.0, 0.7, 5.0, 20.0):  # -phi(w) / Phi(w) in 40 digits
        exact = -mpmath.npdf(v) / mpmath.ncdf(v)
        assert onebit._half_score_fast(np.array([v]))[0] == pytest.approx(float(exact), rel=2e-15)
    # narrow cells take the midpoint in both
    mid = onebit._cell_score_fast(np.array([1.0]), np.array([1.0 + 1e-7]))[0]
    assert mid == pytest.approx(1.0 + 5e-8, rel=1e-12)


def _three_bit():
    return UniformADC(8, 0.586 * 4)


def _nonuniform():
    return ThresholdADC([-1.1, -0.2, 0.4, 1.5], [-1.6, -0.6, 0.1, 0.9, 2.0])


CASES = [  # seed, frames, frame length, antennas, users, constellation, SNR (dB), converter table
    (1, 1, 1, 16, 2, "qpsk", 5.0, onebit_adc := UniformADC(2, 1.6)),
    (2, 3, 7, 16, 2, "qpsk", 0.0, onebit_adc),
    (3, 5, 100, 16, 2, "qpsk", 10.0, onebit_adc),
    (4, 4, 33, 16, 2, "qpsk", 5.0, _three_bit()),
    (5, 2, 50, 8, 3, "qam16", 12.0, UniformADC(4, 2.0)),
    (6, 3, 20, 6, 2, "qpsk", -5.0, _nonuniform()),
    (7, 2, 40, 16, 2, "qpsk", 3.0, None),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"seed{c[0]}")
@pytest.mark.parametrize("params", [{}, {"iterations": 0}, {"iterations": 3, "momentum": False}, {"step": 1.5}],
                         ids=["default", "start", "plain", "step"])
def test_new_estimate_equals_the_reference(case, params):
    seed, F, L, N, K, const, snr, adc = case
    obs, _ = observe(seed, F, L, N, K, const, snr, adc)
    det = NearML(**params)
    x_new, x_ref = det.estimate(obs), _estimate_reference(det, obs)
    assert x_new.shape == x_ref.shape == (F, L, K)
    assert np.max(np.abs(x_new - x_ref)) < 1e-12  # rounding only: measured below 2e-15
    assert np.array_equal(det.detect(obs).indices, _detect_reference(det, obs).indices)


@pytest.mark.parametrize("bits", [1, 3])
def test_decisions_agree_on_a_seeded_batch(bits):
    # the benchmarked link: 16 x 2 QPSK, Rayleigh, ideal-AGC uniform converters, the default nml
    pipe = Pipeline.from_tables({"source": {"type": "users", "users": 2, "constellation": "qpsk"},
                                 "channel": {"type": "rayleigh", "antennas": 16, "frame_len": 100},
                                 "adc": {"type": "uniform", "bits": bits, "agc": "ideal"},
                                 "receiver": {"type": "nml"}, "metric": {"type": "ber"}})
    for snr in (-5.0, 5.0):
        _, obs = pipe.observe(20, snr, np.random.default_rng(11 + bits))
        new = pipe.receiver.detect(obs).indices
        ref = _detect_reference(pipe.receiver, obs).indices
        assert np.array_equal(new, ref)  # 4000 symbols: measured all equal


def test_real_link_matches_the_reference():
    pipe = Pipeline.from_tables({"source": {"type": "users", "users": 4, "constellation": "bpsk"},
                                 "channel": {"type": "exponential", "antennas": 12, "frame_len": 100},
                                 "adc": {"type": "uniform_range", "levels": 8, "gamma": 2.0, "agc": "fixed"},
                                 "receiver": {"type": "nml"}, "metric": {"type": "ber"}})
    _, obs = pipe.observe(3, 6.0, np.random.default_rng(2))
    x_new, x_ref = pipe.receiver.estimate(obs), _estimate_reference(pipe.receiver, obs)
    assert np.max(np.abs(x_new - x_ref)) < 1e-12


def _loglik(obs, x):
    m = np.einsum("fnk,flk->fln", obs.H, x)
    sig = np.sqrt(obs.noise_var / 2)
    return (np.sum(log_prob_interval((obs.lower_re - m.real) / sig, (obs.upper_re - m.real) / sig))
            + np.sum(log_prob_interval((obs.lower_im - m.imag) / sig, (obs.upper_im - m.imag) / sig)))


@pytest.mark.parametrize("adc", [UniformADC(2, 1.6), _three_bit(), _nonuniform()], ids=["1-bit", "3-bit", "table"])
def test_gradient_matches_finite_differences_of_the_cell_loglikelihood(adc):
    obs, _ = observe(8, 2, 6, 16, 2, "qpsk", 4.0, adc)
    det = NearML()
    x = np.random.default_rng(4).standard_normal((2, 6, 2)) * 0.5 + 0.2j
    g = det.gradient(obs, x)
    assert np.max(np.abs(g - _gradient_reference(det, obs, x))) < 1e-10 * max(1.0, np.max(np.abs(g)))
    eps = 1e-6
    for f, t, k in [(0, 0, 0), (1, 3, 1), (1, 5, 0)]:
        e = np.zeros_like(x)
        e[f, t, k] = eps
        fd_re = (_loglik(obs, x + e) - _loglik(obs, x - e)) / (2 * eps)
        fd_im = (_loglik(obs, x + 1j * e) - _loglik(obs, x - 1j * e)) / (2 * eps)
        assert g[f, t, k].real == pytest.approx(fd_re, rel=1e-5, abs=1e-6)
        assert g[f, t, k].imag == pytest.approx(fd_im, rel=1e-5, abs=1e-6)


# ----------------------------------------------------------------- the single-precision iteration of detect()
@njit
def _erfcx32_array(u):
    out = np.empty(u.size, np.float32)
    for j in range(u.size):
        out[j] = onebit._erfcx32(u[j])
    return out


@njit
def _exp32_array(y):
    out = np.empty(y.size, np.float32)
    for j in range(y.size):
        out[j] = onebit._exp32(y[j])
    return out


@njit
def _scores32(a, b, s, half):
    out = np.empty(a.size, np.float32)
    for j in range(a.size):
        out[j] = onebit._score_half32(b[j], s[j]) if half else onebit._score32(a[j], b[j], s[j])
    return out


def test_single_precision_functions_match_mpmath():
    u = np.concatenate([np.linspace(0, 6, 301), np.geomspace(6, 1e8, 200)]).astype(np.float32)
    got = _erfcx32_array(u).astype(np.float64)
    want = np.array([float(mpmath.erfc(float(x)) * mpmath.exp(mpmath.mpf(float(x)) ** 2)) for x in u])
    assert np.max(np.abs(got / want - 1)) < 5e-7  # float32 rounding (6e-8) and the fit (6e-8)
    y = np.linspace(-87, 88, 4001).astype(np.float32)
    got = _exp32_array(y).astype(np.float64)
    assert np.max(np.abs(got / np.exp(y.astype(np.float64)) - 1)) < 5e-7


def test_single_precision_scores_match_the_double_precision_ones():
    rng = np.random.default_rng(5)
    a = rng.normal(0, 5, 4000)
    b = a + np.exp(rng.uniform(-2, 2, 4000))
    a[:800] = -np.inf
    b[800:1600] = np.inf
    want = cell_score(a, b)
    got = _scores32(a.astype(np.float32), b.astype(np.float32), np.ones(4000, np.float32), False).astype(np.float64)
    # the arguments' own float32 rounding (|a|, |b| up to ~20, relative 6e-8) moves the score by about that
    assert np.max(np.abs(got - want) / np.maximum(1, np.abs(want))) < 2e-5
    w = rng.normal(0, 8, 3000)
    want = cell_score(-np.inf, w)
    got = _scores32(w.astype(np.float32), w.astype(np.float32), np.ones(3000, np.float32), True).astype(np.float64)
    assert np.max(np.abs(got - want) / np.maximum(1, np.abs(want))) < 2e-5


@pytest.mark.parametrize("case", CASES[:-1], ids=lambda c: f"seed{c[0]}")
def test_detect_gives_the_double_precision_decisions(case):
    # detect's float32 iteration with the float64 re-run near decision boundaries, against estimate (float64)
    seed, F, L, N, K, const, snr, adc = case
    obs, _ = observe(seed, F, L, N, K, const, snr, adc)
    det = NearML()
    want = obs.constellation.hard_decision(det.estimate(obs))
    assert np.array_equal(det.detect(obs).indices, want)


def test_detect_reruns_in_double_precision(monkeypatch):
    obs, _ = observe(3, 5, 100, 16, 2, "qpsk", 10.0, UniformADC(2, 1.6))
    det = NearML()
    want = obs.constellation.hard_decision(det.estimate(obs))
    monkeypatch.setattr(onebit, "_F32_MARGIN", 10.0)  # every sample near a boundary: all re-run in float64
    calls = []
    kernel = onebit._fista_kernel
    monkeypatch.setattr(onebit, "_fista_kernel", lambda *a: calls.append(a[0].shape[0]) or kernel(*a))
    assert np.array_equal(det.detect(obs).indices, want)
    assert calls == [5 * 100]  # one one-sample frame per sample


def test_frames_with_narrow_cells_take_double_precision():
    # cells of 0.01 standard deviations: below _F32_MIN_WIDTH, so every frame is re-run in float64
    adc = UniformADC(256, 0.01)
    obs, _ = observe(4, 3, 20, 8, 2, "qpsk", 0.0, adc)
    det = NearML()
    widths = (obs.upper_re - obs.lower_re) / np.sqrt(obs.noise_var / 2)
    assert np.nanmin(widths[np.isfinite(widths)]) < onebit._F32_MIN_WIDTH
    assert np.array_equal(det.detect(obs).indices, obs.constellation.hard_decision(det.estimate(obs)))
