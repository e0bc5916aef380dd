r"""Bussgang linear MMSE (BLMMSE) estimation from one-bit quantized observations (ref. [15] of seed 001).

Each real observation is quantized to its sign, :math:`y = \mathrm{sign}(x)`. For zero-mean
Gaussian ``x`` the arcsine law gives the covariance of ``y``,

.. math:: C_y = \tfrac{2}{\pi}\arcsin\!\big(D^{-1/2}\Sigma_x D^{-1/2}\big),\quad D = \mathrm{diag}(\Sigma_x),

and Bussgang's theorem the cross-covariance :math:`C_{sy} = \sqrt{2/\pi}\,\Sigma_{sx} D^{-1/2}`.
The BLMMSE estimate is :math:`\hat s = C_{sy} C_y^{-1} y`, with average MSE
:math:`\mathrm{tr}(\Sigma_s - C_{sy} C_y^{-1} C_{sy}^T)/k` -- exact for this linear
estimator, since every moment used is exact.
"""

from __future__ import annotations

import numpy as np

from hwsim import _checks


class BLMMSEEstimator:
    """One-bit BLMMSE estimator for jointly Gaussian, zero-mean ``s`` and ``x``.

    Parameters
    ----------
    sigma_s : [k, k], sigma_x : [n, n], sigma_sx : [k, n]
        Second-order statistics (e.g. :meth:`hwsim.channels.PilotChannel.stats`).
    """

    def __init__(self, sigma_s, sigma_x, sigma_sx):
        self.sigma_s = _checks.finite_array("sigma_s", sigma_s, ndim=2)
        sx = _checks.finite_array("sigma_x", sigma_x, ndim=2)
        sxs = _checks.finite_array("sigma_sx", sigma_sx, ndim=2)
        if sxs.shape != (self.sigma_s.shape[0], sx.shape[0]):
            raise ValueError(f"sigma_sx must be [k, n] = [{self.sigma_s.shape[0]}, {sx.shape[0]}], got {sxs.shape}")
        d = np.diag(sx)
        if np.any(d <= 0):
            raise ValueError("sigma_x must have a positive diagonal")
        inv_sd = 1 / np.sqrt(d)
        corr = np.clip(sx * inv_sd[:, None] * inv_sd[None, :], -1, 1)
        self.c_y = (2 / np.pi) * np.arcsin(corr)
        self.c_sy = np.sqrt(2 / np.pi) * sxs * inv_sd[None, :]
        self.W = np.linalg.solve(self.c_y, self.c_sy.T).T  # [k, n]

    def estimate(self, x) -> np.ndarray:
        """BLMMSE estimates [B, k] from unquantized samples x [B, n] (the sign is taken here)."""
        x = np.asarray(x, dtype=np.float64)
        return np.where(x >= 0, 1.0, -1.0) @ self.W.T

    def analytic_mse(self) -> float:
        """Average MSE per entry."""
        k = self.sigma_s.shape[0]
        return float(np.trace(self.sigma_s - self.W @ self.c_sy.T) / k)

    def __repr__(self) -> str:
        return f"BLMMSEEstimator(k={self.sigma_s.shape[0]}, n={self.c_y.shape[0]})"
