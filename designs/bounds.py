r"""Performance limits for Gaussian estimation under a bit budget.

- :func:`gaussian_rd_scalar`: :math:`D(R) = \sigma^2 2^{-2R}`;
- :func:`reverse_water_filling`: vector Gaussian source, total distortion for a total rate;
- :func:`indirect_rd_bound`: jointly Gaussian remote source: MMSE plus reverse
  water-filling on the covariance of the MMSE estimate :math:`\Gamma\Sigma_x\Gamma^T`;
- :func:`pilot_mmse` and :func:`pilot_eta_opt`: Shlezinger and Eldar's closed forms for eq. (6),
  :math:`\tilde\eta = 1/(2(1 + P\tau_p))` and eq. (7)
  :math:`\eta_{opt} = \tilde\eta + \frac{P\tau_p}{2(1+P\tau_p)} 2^{-2\rho R}` with :math:`\rho = \tau_p/n_u`.

Rates are in bits; distortions are per entry (averaged over the ``k`` entries) unless stated.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from hwsim import _checks


def gaussian_rd_scalar(variance: float, rate: float) -> float:
    """Distortion-rate function of a Gaussian scalar: ``variance * 2**(-2 rate)``."""
    variance = _checks.real("variance", variance, nonnegative=True)
    rate = _checks.real("rate", rate, nonnegative=True)
    return variance * 2.0 ** (-2 * rate)


def reverse_water_filling(eigenvalues, total_rate: float) -> tuple[float, float]:
    r"""Minimum total squared error for a Gaussian vector with these covariance eigenvalues at ``total_rate`` bits.

    Returns ``(total_distortion, theta)`` with :math:`D = \sum_i \min(\theta, \lambda_i)` and
    :math:`\sum_i \max(0, \tfrac12\log_2(\lambda_i/\theta)) = R`.
    """
    lam = _checks.finite_array("eigenvalues", eigenvalues, ndim=1)
    if np.any(lam < 0):
        raise ValueError("eigenvalues must be >= 0")
    total_rate = _checks.real("total_rate", total_rate, nonnegative=True)
    pos = lam[lam > 0]
    if pos.size == 0:
        return 0.0, 0.0
    if total_rate == 0:
        return float(lam.sum()), float(pos.max())

    def excess_rate(log_theta):
        return np.sum(np.maximum(0.0, 0.5 * (np.log2(pos) - log_theta / np.log(2)))) - total_rate

    lo = np.log(pos.min()) - 2 * np.log(2) * total_rate - 1
    log_theta = brentq(excess_rate, lo, np.log(pos.max()), xtol=1e-14, rtol=1e-14)
    theta = float(np.exp(log_theta))
    return float(np.minimum(theta, lam).sum()), theta


def indirect_rd_bound(gamma_mat, sigma_x, sigma_s, total_rate: float) -> float:
    """Average (per entry) MSE lower bound: (MMSE + reverse water-filling on cov(Gamma x)) / k."""
    G = _checks.finite_array("gamma_mat", gamma_mat, ndim=2)
    S = _checks.finite_array("sigma_x", sigma_x, ndim=2)
    Ss = _checks.finite_array("sigma_s", sigma_s, ndim=2)
    cov = G @ S @ G.T
    mmse = float(np.trace(Ss - cov))
    lam = np.clip(np.linalg.eigvalsh((cov + cov.T) / 2), 0, None)
    dist, _ = reverse_water_filling(lam, total_rate)
    return (mmse + dist) / G.shape[0]


def pilot_mmse(P: float, tau_p: int) -> float:
    """Shlezinger and Eldar: average MMSE of eq. (6), 1 / (2 (1 + P tau_p))."""
    P = _checks.real("P", P, positive=True)
    tau_p = _checks.integer("tau_p", tau_p, minimum=1)
    return 1.0 / (2.0 * (1.0 + P * tau_p))


def pilot_eta_opt(P: float, tau_p: int, n_u: int, rate: float) -> float:
    """Shlezinger and Eldar eq. (7): the fundamental limit of channel estimation from ``rate`` bits per measurement."""
    n_u = _checks.integer("n_u", n_u, minimum=1)
    rate = _checks.real("rate", rate, nonnegative=True)
    rho = tau_p / n_u
    return pilot_mmse(P, tau_p) + P * tau_p / (2 * (1 + P * tau_p)) * 2.0 ** (-2 * rho * rate)
