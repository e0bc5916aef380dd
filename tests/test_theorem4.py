"""Theorem 4 of the task-based quantization survey (seed 003 Sec. II-A): quadratic tasks through the lifted
vector and Theorem 3 (hwsim.designs.quadratic), checked by Monte Carlo, and the counterexample to the
theorem as printed (the MMSE estimate from a general A h(x) is not linear)."""

import numpy as np
import pytest
from scipy import stats

from hwsim.designs import theorem4
from hwsim.designs.quadratic import lift, lifted_covariance, lifted_task

SIGMA_S = np.array([[1.0, 0.6], [0.6, 1.5]])
TASKS = [np.eye(2), np.array([[0.0, 0.5], [0.5, 0.0]]), np.diag([1.0, -1.0])]   # energy, correlation, difference
NOISE = 0.3


def _draw(n, seed):
    rng = np.random.default_rng(seed)
    s = rng.multivariate_normal(np.zeros(2), SIGMA_S, size=n)
    return s, s + np.sqrt(NOISE) * rng.standard_normal(s.shape), rng


def test_lifted_vector_represents_quadratic_forms_and_has_the_gaussian_covariance():
    rng = np.random.default_rng(0)
    M = np.array([[1.0, -0.3, 0.2], [-0.3, 2.0, 0.5], [0.2, 0.5, -1.0]])
    x = rng.standard_normal((1000, 3))
    assert np.allclose(lift(x) @ lifted_task(M), np.einsum("bi,ij,bj->b", x, M, x))
    S = np.array([[1.0, 0.4, 0.1], [0.4, 1.0, 0.3], [0.1, 0.3, 2.0]])
    xs = rng.multivariate_normal(np.zeros(3), S, size=400_000)
    emp = np.cov(lift(xs), rowvar=False)
    assert np.allclose(emp, lifted_covariance(S), atol=0.06 * np.abs(lifted_covariance(S)).max())


@pytest.mark.parametrize("p, linear", [(3, True), (1, False)])
def test_design_monte_carlo_mse_within_its_confidence_interval_of_the_prediction(p, linear):
    d = theorem4(TASKS, SIGMA_S, p=p, levels=64, eta=10.0, noise_cov=NOISE * np.eye(2))
    assert d.linear_mmse is linear           # p = 3 >= rank: every mode quantized; p = 1 drops two modes
    s, x, rng = _draw(400_000, 11 + p)
    f_hat = d.estimate(x, rng)
    err = ((f_hat - d.tasks(s)) ** 2).mean(axis=1)
    half = stats.t.ppf(0.995, err.size - 1) * err.std(ddof=1) / np.sqrt(err.size)
    assert abs(err.mean() - d.average_mse()) <= half, (err.mean(), half, d.average_mse())
    # the quantization part alone against (4c): the unquantized MMSE estimate G h(x) + E f as the reference
    f_tilde = (lift(x) - d.lifted_mean) @ d.gamma_mat.T + d.task_mean
    ex = ((f_hat - f_tilde) ** 2).sum(axis=1)
    half = stats.t.ppf(0.995, ex.size - 1) * ex.std(ddof=1) / np.sqrt(ex.size)
    assert abs(ex.mean() - d.design.excess_mse) <= half, (ex.mean(), half, d.design.excess_mse)
    # and the unquantized estimate's error is the closed-form MMSE
    mm = ((f_tilde - d.tasks(s)) ** 2)
    half = stats.t.ppf(0.995, mm.shape[0] - 1) * mm.std(axis=0, ddof=1) / np.sqrt(mm.shape[0])
    assert np.all(np.abs(mm.mean(axis=0) - d.mmse) <= half)


def test_more_converters_never_predict_more_error():
    mses = [theorem4(TASKS, SIGMA_S, p=p, levels=16, eta=8.0, noise_cov=NOISE * np.eye(2)).design.excess_mse
            for p in (1, 2, 3)]
    assert mses[0] > mses[1] > mses[2] > 0


def test_counterexample_the_mmse_estimate_from_a_general_lifted_map_is_not_linear():
    """x ~ N(0, I_2), z = x1 x2 (one row of the lifted vector), f = x1^2 + x2^2: Cov(f, z) = 0 so the best
    linear estimate is the constant E f = 2, but E{f | z} in bins of z grows with |z| (f >= 2 |z|)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((400_000, 2))
    z, f = x[:, 0] * x[:, 1], (x ** 2).sum(axis=1)
    assert abs(np.corrcoef(z, f)[0, 1]) < 0.01
    edges = [-4.0, -2.0, -1.0, -0.3, -0.05, 0.05, 0.3, 1.0, 2.0, 4.0]
    means, halves = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = f[(z >= lo) & (z < hi)]
        means.append(sel.mean())
        halves.append(3 * sel.std(ddof=1) / np.sqrt(sel.size))
    means, halves = np.array(means), np.array(halves)
    centre = len(means) // 2
    assert means[centre] + halves[centre] < 2.0 - 0.5       # near z = 0: well below E f
    assert means[0] - halves[0] > 2.0 + 2.0                 # |z| in [2, 4): far above
    assert means[-1] - halves[-1] > 2.0 + 2.0
    # a straight line through the binned means misses them by many standard errors
    mids = (np.array(edges[:-1]) + np.array(edges[1:])) / 2
    line = np.polyval(np.polyfit(mids, means, 1), mids)
    assert np.max(np.abs(means - line) / halves) > 10


@pytest.mark.parametrize("kwargs, match", [
    (dict(C=np.array([[0.0, 1.0], [0.0, 0.0]])), "C must be symmetric"),
    (dict(C=np.ones((2, 3))), "square"),
    (dict(C=np.eye(3)), "sigma_s must be"),
    (dict(sigma_s=np.array([[1.0, 2.0], [2.0, 1.0]])), "positive semidefinite"),
    (dict(H=np.ones((2, 3))), "H must be"),
    (dict(noise_cov=np.eye(3)), "noise_cov must be"),
    (dict(eta=200.0), "eta must be"),
    (dict(p=0), "p must be"),
    (dict(sigma_s=np.zeros((2, 2))), "positive definite"),
])
def test_bad_input_gets_a_clear_error(kwargs, match):
    args = dict(C=np.eye(2), sigma_s=SIGMA_S, p=2, levels=16, eta=4.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        theorem4(**args)
