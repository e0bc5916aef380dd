import math

import numpy as np
import pytest
from scipy.optimize import minimize

from hwsim.converters.adc import UniformADC
from hwsim.channels import PilotChannel
from hwsim.designs.bounds import (gaussian_rd_scalar, indirect_rd_bound, pilot_eta_opt, pilot_mmse,
                                  reverse_water_filling)
from hwsim.designs.task_based import equalizing_rotation, lemma2, quantization_noise_variance, theorem3
from hwsim.receivers.blmmse import BLMMSEEstimator


@pytest.fixture(scope="module")
def pilot():
    ch = PilotChannel(n_t=10, n_u=4, tau_p=12, P=4.0)
    return ch, ch.stats()


def random_model(rng, n, k):
    M = rng.normal(size=(n, n))
    sigma_x = M @ M.T + 0.5 * np.eye(n)
    G = rng.normal(size=(k, n))
    return G, sigma_x


@pytest.mark.parametrize("levels, eta", [(2, 2.0), (4, 2.5), (8, 3.0), (18, 2.5)])
def test_theorem3_is_consistent_with_lemma2(pilot, levels, eta):
    _, st = pilot
    d = theorem3(st.gamma, st.sigma_x, 80, levels, eta, st.sigma_s)
    B, excess = lemma2(d.A, st.gamma, st.sigma_x, d.gamma, levels)
    assert math.isclose(excess, d.excess_mse, rel_tol=1e-10)           # (3b) at A° equals (4c)
    np.testing.assert_allclose(B, d.B, atol=1e-10)                      # (3a) at A° equals (4b)
    cov = d.A @ st.sigma_x @ d.A.T
    np.testing.assert_allclose(np.diag(cov), 1 / 80, rtol=1e-9)         # U_A equalises the ADC inputs
    assert math.isclose(np.trace(cov), 1.0, rel_tol=1e-9)               # water level
    assert math.isclose(d.gamma**2, d.kappa / 80)


@pytest.mark.parametrize("n, k, p", [(4, 3, 2), (5, 2, 3), (4, 4, 4)])
def test_no_optimised_combiner_beats_theorem3(n, k, p):
    rng = np.random.default_rng(n * 100 + k * 10 + p)
    G, S = random_model(rng, n, k)
    levels, eta = 4, 2.0
    kappa = eta**2 / (1 - eta**2 / (3 * levels**2))
    d = theorem3(G, S, p, levels, eta)

    def mse(a):  # (3b) with the support set by the same rule: gamma^2 = kappa * max ADC-input variance
        A = a.reshape(p, n)
        g2 = kappa * np.max(np.diag(A @ S @ A.T))
        return lemma2(A, G, S, math.sqrt(max(g2, 1e-300)), levels)[1]

    assert math.isclose(mse(d.A.ravel()), d.excess_mse, rel_tol=1e-9)
    best = min(minimize(mse, rng.normal(size=p * n), method="Nelder-Mead",
                        options={"maxiter": 4000, "xatol": 1e-9, "fatol": 1e-12}).fun for _ in range(6))
    assert best >= d.excess_mse * (1 - 1e-6)


def test_equalizing_rotation():
    d = np.random.default_rng(1).exponential(size=7)
    U = equalizing_rotation(d)
    np.testing.assert_allclose(U @ U.T, np.eye(7), atol=1e-12)
    np.testing.assert_allclose(np.diag(U @ np.diag(d) @ U.T), d.mean(), rtol=1e-12)


def test_theorem3_handles_rank_and_p_and_rejects_what_it_cannot():
    rng = np.random.default_rng(2)
    G, S = random_model(rng, 6, 4)
    G[3] = G[0] + G[1]                       # rank-deficient Gamma (rank 3)
    for p in (2, 3, 5):                      # p < rank, p = rank, p > rank
        d = theorem3(G, S, p, 8, 3.0)
        _, excess = lemma2(d.A, G, S, d.gamma, 8)
        assert math.isclose(excess, d.excess_mse, rel_tol=1e-9)
    d = theorem3(G, S, 5, 8, 3.0)
    assert np.allclose(np.linalg.svd(d.A, compute_uv=False)[3:], 0, atol=1e-10)  # no signal beyond the rank
    with pytest.raises(ValueError, match="eta must be < sqrt\\(3\\) \\* levels"):
        theorem3(G, S, 2, 2, 3.5)
    S_sing = S.copy()
    S_sing[:, 0] = S_sing[0, :] = 0
    with pytest.raises(ValueError, match="sigma_x must be positive definite"):
        theorem3(G, S_sing, 2, 8, 2.0)
    with pytest.raises(ValueError, match="must agree"):
        theorem3(G[:, :5], S, 2, 8, 2.0)


@pytest.mark.parametrize("levels, eta", [(8, 6.0), (18, 5.0)])
def test_dithered_monte_carlo_matches_theory_without_overload(pilot, levels, eta):
    # Lemma 2's noise model (variance D^2/6, uncorrelated) holds when the ADCs never overload
    # (large eta) and the step D = 2 eta sigma / M is small against the input's spread.
    ch, st = pilot
    d = theorem3(st.gamma, st.sigma_x, 80, levels, eta, st.sigma_s)
    adc = UniformADC(levels, d.gamma)
    rng = np.random.default_rng(levels)
    s, x, _ = ch.sample(6000, rng)
    z = x @ d.A.T
    z = z + rng.uniform(-adc.step / 2, adc.step / 2, size=z.shape)
    e = ((s - adc.quantize(z) @ d.B.T) ** 2).mean(axis=1)
    half = 3.3 * e.std() / np.sqrt(len(e))
    assert abs(e.mean() - d.average_mse()) < half
    assert quantization_noise_variance(d.gamma, levels) == pytest.approx(adc.step**2 / 6)


def test_bounds(pilot):
    _, st = pilot
    assert gaussian_rd_scalar(2.0, 1.0) == 0.5
    dist, theta = reverse_water_filling([4.0, 1.0, 0.01], 2.0)
    # theta below 1: the two large components get rate, the smallest is not coded
    assert dist == pytest.approx(2 * theta + 0.01) and theta == pytest.approx(2.0 / 4, rel=1e-9)
    assert pilot_mmse(4.0, 12) == pytest.approx(st.mmse)
    for rate in (1 / 3, 0.7, 1.4):
        assert indirect_rd_bound(st.gamma, st.sigma_x, st.sigma_s, rate * 240) == pytest.approx(
            pilot_eta_opt(4.0, 12, 4, rate), rel=1e-9)


def test_blmmse_monte_carlo_matches_its_analytic_mse(pilot):
    ch, st = pilot
    est = BLMMSEEstimator(st.sigma_s, st.sigma_x, st.sigma_sx)
    s, x, _ = ch.sample(6000, np.random.default_rng(3))
    e = ((s - est.estimate(x)) ** 2).mean(axis=1)
    assert abs(e.mean() - est.analytic_mse()) < 3.3 * e.std() / np.sqrt(len(e))
    assert pilot_mmse(4.0, 12) < est.analytic_mse() < 0.5
