"""Rate-distortion-perception (seed 003 Sec. II-B, eqs. 13-16): the closed forms (hwsim.designs.rdp), the
perception-aware decoder (receiver ``rdp``), the ``w2`` perception metric and the shipped study."""

import numpy as np
import pytest
from scipy import stats

from hwsim.designs.rdp import (achieved_perception, distortion_perception, empirical_w2sq,
                               gaussian_distortion_perception, gaussian_distortion_perception_common_randomness,
                               gaussian_w2sq, interpolated_distortion,
                               interpolation_weight, lloyd_max_distortion_perception)
from hwsim.designs.scalar import gaussian_mse, lloyd_max
from hwsim.engine.montecarlo import StoppingRule, estimate
from hwsim.pipeline import Pipeline

LLOYD_MAX_D = {1: 0.3634, 2: 0.1175, 3: 0.03454}


def _link(**receiver):
    dim = receiver.pop("dim", 1)
    link = Pipeline.from_tables({"source": {"type": "gaussian", "dim": dim}, "receiver": {"type": "rdp", **receiver},
                                 "metric": {"type": "mse"}})
    link.check()
    return link


@pytest.mark.parametrize("bits", [1, 2, 3])
def test_eq15_doubles_the_distortion_at_perfect_realism_and_is_the_mmse_for_P_at_least_D(bits):
    D = float(gaussian_mse(lloyd_max(bits)))
    assert D == pytest.approx(LLOYD_MAX_D[bits], abs=2e-4)
    assert lloyd_max_distortion_perception(bits, 0.0) == pytest.approx(2 * D, rel=1e-12)
    assert np.allclose(lloyd_max_distortion_perception(bits, [D, 2 * D, 10.0]), D, rtol=1e-12)
    P = np.linspace(0, D, 7)
    vals = distortion_perception(D, P)
    assert np.all(np.diff(vals) < 0)                      # more realism costs distortion
    assert np.allclose(vals, D + (np.sqrt(D) - np.sqrt(P)) ** 2)


def test_reference_numbers_at_one_bit_and_the_closed_forms():
    assert lloyd_max_distortion_perception(1, 0.0) == pytest.approx(0.7268, abs=1e-4)
    assert lloyd_max_distortion_perception(1, 1.0) == pytest.approx(0.3634, abs=1e-4)
    assert gaussian_distortion_perception(1.0, 0.0) == pytest.approx(0.5)          # 2 * 2^-2
    assert gaussian_distortion_perception(2.0, 1.0) == pytest.approx(1 / 16)
    assert interpolated_distortion(0.3, 0.2, 0.05) == pytest.approx(0.3 + (np.sqrt(0.2) - np.sqrt(0.05)) ** 2)
    assert interpolation_weight(0.4, 0.1) == pytest.approx(0.5)
    assert interpolation_weight(0.4, 1.0) == 1.0 and interpolation_weight(0.0, 0.0) == 1.0
    assert achieved_perception(0.4, 0.1) == pytest.approx(0.1)


@pytest.mark.parametrize("bits", [1, 2, 3])
def test_posterior_sampling_reproduces_the_source_marginal(bits):
    link = _link(rate=float(bits), perception=0.0).prepare(None, np.random.default_rng(bits))
    assert link.receiver.alpha == 0.0
    rng = np.random.default_rng(100 + bits)
    x_hat = link.receiver.estimate(rng.standard_normal((50_000, 1)), rng)[:, 0]
    assert stats.kstest(x_hat, "norm").pvalue > 0.01
    # the MMSE decoder's output is far from it (a discrete law)
    mmse = _link(rate=float(bits), perception=1.0).prepare(None, rng).receiver.estimate(rng.standard_normal((5000, 1)), rng)
    assert stats.kstest(mmse[:, 0], "norm").pvalue < 1e-6


def test_pool_posterior_of_a_vector_quantizer_reproduces_the_marginals():
    # a large pool: the decoded law is the pool's empirical posterior, whose own sampling noise must stay
    # well below the resolution of a 20 000-sample KS test
    link = _link(method="lbg", rate=1.0, dim=2, perception=0.0, train_samples=5000, pool=1_000_000)
    link.prepare(None, np.random.default_rng(4))
    rng = np.random.default_rng(8)
    x_hat = link.receiver.estimate(rng.standard_normal((20_000, 2)), rng)
    for j in range(2):
        assert stats.kstest(x_hat[:, j], "norm").pvalue > 0.01


@pytest.mark.parametrize("bits, P", [(1, 0.0), (1, 0.05), (1, 0.2), (2, 0.02), (3, 0.01), (3, 0.1)])
def test_monte_carlo_distortion_and_perception_match_eq15(bits, P):
    rule = StoppingRule(min_samples=400_000, max_samples=400_000, batch=100_000, target_errors=None)
    D = float(gaussian_mse(lloyd_max(bits)))
    mse = estimate(_link(rate=float(bits), perception=P).prepare(None, np.random.default_rng(1)).estimation_link(),
                   np.random.default_rng(2), rule, "mse")
    assert mse.ci_low <= distortion_perception(D, P) <= mse.ci_high, mse
    w2 = estimate(_link(rate=float(bits), perception=P, measure="perception").prepare(None, np.random.default_rng(1))
                  .estimation_link(), np.random.default_rng(3), rule, "mse")
    assert w2.interval == "t (batch means)"
    bias = 1e-4            # the empirical law's own W2^2 at 100 000 samples is about 3.5e-5
    assert w2.ci_low - bias <= min(P, D) <= w2.ci_high + bias, w2


def test_w2_estimators():
    rng = np.random.default_rng(0)
    t = lloyd_max(1)
    x = rng.standard_normal(200_000)
    q = np.asarray(t.levels)[np.searchsorted(t.thresholds, x)]
    assert gaussian_w2sq(q) == pytest.approx(float(gaussian_mse(t)), rel=0.01)   # eq. (14): W2^2 = D
    assert gaussian_w2sq(2.0 * x, std=2.0) < 1e-3
    assert gaussian_w2sq(x + 0.5) == pytest.approx(0.25, abs=0.01)
    assert empirical_w2sq(np.arange(4.0), np.arange(4.0)[::-1] + 1) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="equal length"):
        empirical_w2sq([1.0], [1.0, 2.0])


def test_bad_input_gets_a_clear_error():
    with pytest.raises(ValueError, match="receiver.perception must be >= 0"):
        _link(perception=-0.1)
    with pytest.raises(ValueError, match="receiver.measure must be one of"):
        _link(measure="realism")
    with pytest.raises(ValueError, match="receiver.limit must be one of"):
        Pipeline.from_tables({"source": {"type": "gaussian", "dim": 1}, "receiver": {"type": "rdp_bound",
                                                                                   "limit": "blau"}})
    with pytest.raises(ValueError, match="whole number of bits"):
        Pipeline.from_tables({"source": {"type": "gaussian", "dim": 1}, "receiver": {"type": "rdp_bound",
                                                                                   "rate": 1.5}})
    with pytest.raises(ValueError, match="P must be >= 0"):
        distortion_perception(0.3, -1.0)
    with pytest.raises(ValueError, match="D must be >= 0"):
        interpolation_weight(-0.3, 1.0)
    with pytest.raises(ValueError, match="compares laws"):
        from hwsim.metrics import W2

        W2().per_realization(np.zeros((2, 1)), np.zeros((2, 1)))
    # the bound is that of i.i.d. entries: a correlated source (dim 2; with dim 1, rho correlates nothing) is refused
    link = Pipeline.from_tables({"source": {"type": "gaussian", "dim": 2, "rho": 0.5},
                                 "receiver": {"type": "rdp_bound"}, "metric": {"type": "mse"}})
    with pytest.raises(ValueError, match="source.rho = 0"):
        link.check()


def test_shipped_study_loads_and_its_bound_curves_are_eq15(tmp_path):
    from hwsim.engine.sweep import load_config

    cfg = load_config("rdp_gaussian", quick=True)
    assert any("Monte Carlo" in c["name"] for c in cfg.curves)
    bound = Pipeline.from_tables({"source": {"type": "gaussian", "dim": 1},
                                  "receiver": {"type": "rdp_bound", "rate": 1.0, "perception": 0.0},
                                  "metric": {"type": "mse"}})
    assert bound.receiver.exact_value(bound) == pytest.approx(0.72676, abs=1e-5)


def _drp_by_search(R, P, variance=1.0):
    """Delta(R, P) of a Gaussian by brute force over jointly Gaussian test channels: x_hat of standard deviation s
    and correlation c with x, I(x; x_hat) = -log2(1 - c^2) / 2 <= R, W2^2 = (sigma - s)^2 <= P (no closed form used)."""
    sigma = np.sqrt(variance)
    c = np.linspace(0.0, 1.0, 2001)[:, None]
    s = np.linspace(0.0, 2.0 * sigma, 4001)[None, :]
    ok = (-0.5 * np.log2(np.maximum(1 - c ** 2, 1e-300)) <= R + 1e-12) & ((sigma - s) ** 2 <= P + 1e-12)
    d = np.where(ok, variance + s ** 2 - 2 * c * sigma * s, np.inf)
    return float(d.min())


def test_unlimited_common_randomness_value_and_its_limits():
    # the value the audit (issue 31) states: 0.268 against eq. (16)'s 0.5 at R = 1, P = 0, unit Gaussian
    assert gaussian_distortion_perception_common_randomness(1.0, 0.0) == pytest.approx(2 * (1 - np.sqrt(0.75)), rel=1e-12)
    assert gaussian_distortion_perception_common_randomness(1.0, 0.0) == pytest.approx(0.2679, abs=1e-4)
    assert gaussian_distortion_perception(1.0, 0.0) == pytest.approx(0.5)
    R = np.array([0.25, 0.5, 1.0, 2.0, 3.0])
    # P large: the MMSE decoder, D(R) = 2^-2R, with or without common randomness
    assert np.allclose(gaussian_distortion_perception_common_randomness(R, 10.0), 2.0 ** (-2 * R), rtol=1e-12)
    assert np.allclose(gaussian_distortion_perception(R, 10.0), 2.0 ** (-2 * R), rtol=1e-12)
    # R = 0: nothing to share about x, both 2 sigma^2 at P = 0
    assert gaussian_distortion_perception_common_randomness(0.0, 0.0) == pytest.approx(2.0)
    # common randomness never hurts, and helps strictly for 0 < P < D(R), R > 0
    P = np.linspace(0.0, 0.3, 31)[:, None]
    with_cr = gaussian_distortion_perception_common_randomness(R[None, :], P)
    without = gaussian_distortion_perception(R[None, :], P)
    assert np.all(with_cr <= without + 1e-12)
    assert np.all(with_cr[P[:, 0] < 0.01] < without[P[:, 0] < 0.01])
    assert np.all(np.diff(with_cr, axis=0) <= 1e-15)            # more perception slack, less distortion
    # variance scaling: Delta(R, P; sigma^2) = sigma^2 Delta(R, P / sigma^2; 1)
    assert gaussian_distortion_perception_common_randomness(1.0, 0.2, variance=4.0) == pytest.approx(
        4.0 * gaussian_distortion_perception_common_randomness(1.0, 0.05))


@pytest.mark.parametrize("R, P, variance", [(1.0, 0.0, 1.0), (1.0, 0.005, 1.0), (0.5, 0.02, 1.0), (2.0, 0.001, 1.0),
                                            (1.0, 0.5, 1.0), (1.5, 0.03, 2.5)])
def test_unlimited_common_randomness_closed_form_against_a_search_over_gaussian_channels(R, P, variance):
    assert gaussian_distortion_perception_common_randomness(R, P, variance) == pytest.approx(
        _drp_by_search(R, P, variance), abs=2e-3 * variance)


def test_unlimited_common_randomness_is_reached_by_its_test_channel_by_monte_carlo():
    # x_hat = s (rho x / sigma + sqrt(1 - rho^2) z), z ~ N(0, 1) independent: I(x; x_hat) = R, x_hat ~ N(0, s^2)
    rng = np.random.default_rng(7)
    R, P = 1.0, 0.0
    rho = np.sqrt(1 - 2.0 ** (-2 * R))
    s = max(rho, 1 - np.sqrt(P))
    x = rng.standard_normal(400_000)
    x_hat = s * (rho * x + np.sqrt(1 - rho ** 2) * rng.standard_normal(x.size))
    err = (x - x_hat) ** 2
    half = 4 * err.std(ddof=1) / np.sqrt(err.size)
    assert abs(err.mean() - gaussian_distortion_perception_common_randomness(R, P)) <= half
    assert gaussian_w2sq(x_hat) < 1e-3                          # perfect realism, up to the estimate's bias
