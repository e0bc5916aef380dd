r"""Scalar converter designs for a Gaussian input, and their exact Bussgang statistics.

Designs (each returns a :class:`hwsim.converters.adc.ThresholdADC` for a unit-variance Gaussian input):

- :func:`lloyd_max`: the MSE-optimal (Lloyd-Max) quantizer with ``2**bits`` levels;
- :func:`uniform_gaussian`: the mid-rise uniform quantizer with the MSE-optimal step;
- :func:`equiprobable`: the equiprobable (quantile) quantizer, thresholds at the ``j / 2**bits``
  quantiles and each level the centroid (conditional mean) of its cell.

Exact statistics of a table ``Q`` for :math:`x \sim \mathcal N(0, \sigma^2)` (closed-form sums
over the cells, no sampling; vectorised over :math:`\sigma`):

- :func:`gaussian_mse`: :math:`E[(x - Q(x))^2]`;
- :func:`bussgang_gain`: :math:`g = E[x Q(x)] / \sigma^2`;
- :func:`output_power`: :math:`E[Q(x)^2]`;
- :func:`distortion_factor`: :math:`\rho = 1 - g^2\sigma^2 / E[Q(x)^2]`.

With cell :math:`k = [a_k, b_k)`, level :math:`q_k`, standardized edges
:math:`\alpha_k = a_k/\sigma`, :math:`\beta_k = b_k/\sigma`, :math:`\phi, \Phi` the standard
normal density and distribution, the partial moments of :math:`u = x/\sigma` are

.. math::
    P_k = \Phi(\beta_k) - \Phi(\alpha_k),\quad
    E[u\,1_k] = \phi(\alpha_k) - \phi(\beta_k),\quad
    E[u^2 1_k] = P_k + \alpha_k\phi(\alpha_k) - \beta_k\phi(\beta_k),

and every statistic above is a sum of these weighted by :math:`q_k` and :math:`q_k^2`.

:func:`bussgang_linearization` gives the linearized model :math:`r = G y + d` of a bank of I/Q
converter pairs behind an AGC (the convention of :mod:`hwsim.converters`).

References: J. Max, "Quantizing for minimum distortion", IRE Trans. Inf. Theory, 1960 (Lloyd-Max
tables and optimal uniform steps); D. Hui and D. L. Neuhoff, "Asymptotic analysis of optimal
fixed-rate uniform scalar quantization", IEEE Trans. Inf. Theory, 2001; L. Fan, S. Jin, C.-K. Wen,
H. Zhang, "Uplink achievable rate for massive MIMO systems with low-resolution ADC", IEEE Commun.
Lett., 2015 (the additive quantization noise model and its factor :math:`\rho`); J. J. Bussgang,
1952, and J. H. Van Vleck, 1966 (the arcsine law).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from hwsim import _checks
from hwsim.converters.adc import ThresholdADC, UniformADC

__all__ = ["MAX_BITS", "lloyd_max", "uniform_gaussian", "gaussian_mse", "bussgang_gain", "bussgang_gain_and_power",
           "output_power", "equiprobable",
           "distortion_factor", "bussgang_linearization"]

#: Largest resolution the designs accept.
MAX_BITS = 8

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
#: Convergence tolerance of the Lloyd-Max design (on thresholds and levels).
_LLOYD_TOL = 1e-12


# ---------------------------------------------------------------------------- helpers
def _check_adc(adc) -> ThresholdADC:
    if not isinstance(adc, ThresholdADC):
        raise TypeError(f"adc must be a hwsim.converters.adc.ThresholdADC, got {type(adc).__name__}")
    return adc


def _check_std(std) -> np.ndarray:
    s = _checks.finite_array("std", std)
    if np.any(s <= 0):
        raise ValueError(f"std must be > 0, got minimum {s.min()}")
    return s


def _check_bits(bits) -> int:
    return _checks.integer("bits", bits, minimum=1, maximum=MAX_BITS)


def _pdf(z: np.ndarray) -> np.ndarray:
    return _INV_SQRT_2PI * np.exp(-0.5 * z * z)  # 0 at +-inf


def _partial_moments(edges: np.ndarray, std: np.ndarray):
    """Cell masses and partial moments of u = x/std, each shape ``std.shape + (M,)``.

    Returns ``(P, m1, m2)`` with ``P_k = P(u in cell k)``, ``m1_k = E[u 1_k]``, ``m2_k = E[u^2 1_k]``.
    """
    from scipy.special import ndtr  # here, not at import: every start of hwsim imports this module

    z = edges / std[..., None]                                   # [..., M+1], +-inf at the ends
    pdf = _pdf(z)
    zpdf = np.where(np.isfinite(z), z, 0.0) * pdf                # z phi(z) -> 0 at +-inf
    lo, hi = z[..., :-1], z[..., 1:]
    # cells in the right half: difference of upper tails (keeps tail masses accurate)
    mass = np.where(lo >= 0, ndtr(-lo) - ndtr(-hi), ndtr(hi) - ndtr(lo))
    m1 = pdf[..., :-1] - pdf[..., 1:]
    m2 = mass + zpdf[..., :-1] - zpdf[..., 1:]
    return mass, m1, m2


def _finish(out: np.ndarray):
    """0-d results as numpy scalars, arrays as arrays."""
    return out[()] if out.ndim == 0 else out


# ---------------------------------------------------------------------------- statistics
def gaussian_mse(adc: ThresholdADC, std=1.0):
    r"""Exact mean squared error :math:`E[(x - Q(x))^2]` for :math:`x \sim \mathcal N(0, \mathrm{std}^2)`.

    Parameters
    ----------
    adc : ThresholdADC
        The table ``Q``.
    std : float or array_like
        Input standard deviation(s), > 0.

    Returns
    -------
    float or ndarray
        Shape of ``std``.
    """
    adc = _check_adc(adc)
    s = _check_std(std)
    P, m1, m2 = _partial_moments(adc.cell_edges, s)
    q = adc.levels
    sc = s[..., None]
    cell = sc * sc * m2 - 2.0 * sc * q * m1 + q * q * P
    return _finish(cell.sum(axis=-1))


def bussgang_gain(adc: ThresholdADC, std=1.0):
    r"""Bussgang gain :math:`g = E[x Q(x)] / \mathrm{std}^2` for :math:`x \sim \mathcal N(0, \mathrm{std}^2)`.

    :math:`Q(x) = g x + d` with :math:`d` uncorrelated with :math:`x`. Shape of ``std``.
    """
    adc = _check_adc(adc)
    s = _check_std(std)
    _, m1, _ = _partial_moments(adc.cell_edges, s)
    return _finish((m1 @ adc.levels) / s)


def bussgang_gain_and_power(adc: ThresholdADC, std=1.0):
    r""":func:`bussgang_gain` and :func:`output_power` together, from one evaluation of the cell moments (the
    same numbers as the two calls): ``(g, E[Q(x)^2])``, each of the shape of ``std``."""
    adc = _check_adc(adc)
    s = _check_std(std)
    P, m1, _ = _partial_moments(adc.cell_edges, s)
    return _finish((m1 @ adc.levels) / s), _finish(P @ (adc.levels**2))


def output_power(adc: ThresholdADC, std=1.0):
    r"""Output power :math:`E[Q(x)^2]` for :math:`x \sim \mathcal N(0, \mathrm{std}^2)`. Shape of ``std``."""
    adc = _check_adc(adc)
    s = _check_std(std)
    P, _, _ = _partial_moments(adc.cell_edges, s)
    return _finish(P @ (adc.levels**2))


def _output_mean(adc: ThresholdADC, s: np.ndarray) -> np.ndarray:
    P, _, _ = _partial_moments(adc.cell_edges, s)
    return P @ adc.levels


def distortion_factor(adc: ThresholdADC, std=1.0):
    r"""Distortion factor :math:`\rho = (E[Q^2] - g^2\sigma^2) / E[Q^2] = 1 - \mathrm{corr}(x, Q(x))^2`.

    Convention: the factor :math:`\rho` of the additive quantization noise model (AQNM) used in the
    low-resolution massive-MIMO literature (Fan, Jin, Wen and Zhang, IEEE Commun. Lett. 2015,
    tabulated there from Max 1960), :math:`Q(x) = (1-\rho)x + d` with
    :math:`E[d^2] = \rho(1-\rho)\sigma^2`, which describes MSE-optimal tables. For a general table
    ``rho`` is the AQNM factor of the same table with its levels rescaled so that
    :math:`E[xQ] = E[Q^2]` (the rescaled gain is :math:`1-\rho`); it is invariant to the level
    scale and to the input scale when thresholds scale with it. For a Lloyd-Max table at the
    design variance it equals the MSE (its gain is :math:`1 - \rho` and :math:`E[Q^2] = g\sigma^2`).

    Parameters
    ----------
    adc : ThresholdADC
        A table with at least one non-zero level.
    std : float or array_like
        Input standard deviation(s) :math:`\sigma`, > 0.

    Returns
    -------
    float or ndarray
        :math:`\rho \in [0, 1]`, shape of ``std``.
    """
    adc = _check_adc(adc)
    if not np.any(adc.levels):
        raise ValueError("adc must have at least one non-zero level (its output power is zero)")
    s = _check_std(std)
    P, m1, _ = _partial_moments(adc.cell_edges, s)
    power = P @ (adc.levels**2)
    corr_num = m1 @ adc.levels                                    # E[u Q] with u = x/std
    return _finish(1.0 - corr_num**2 / power)


# ---------------------------------------------------------------------------- designs
def _centroids(t: np.ndarray):
    """Conditional means of N(0,1) on the cells cut by thresholds ``t``, and what Newton needs."""
    edges = np.concatenate(([-np.inf], t, [np.inf]))
    P, m1, _ = _partial_moments(edges, np.ones(()))
    return m1 / P, P, _pdf(edges)


@functools.lru_cache(maxsize=None)
def _lloyd_max_table(bits: int) -> tuple[np.ndarray, np.ndarray]:
    # scipy here, not at import: scipy.linalg and scipy.optimize cost a third of a second, and every
    # start of hwsim imports this module (the receivers' package does)
    from scipy.linalg import solve_banded
    from scipy.special import ndtri

    m = 2**bits
    # start: the companding (Panter-Dite) approximation, point density ~ phi^(1/3) = N(0, 3)
    levels = math.sqrt(3.0) * ndtri((np.arange(m) + 0.5) / m)
    t = 0.5 * (levels[:-1] + levels[1:])
    # Lloyd's iteration (monotone) until close, then Newton on t = midpoints(centroids(t))
    for _ in range(200):
        c = _centroids(t)[0]
        t_new = 0.5 * (c[:-1] + c[1:])
        step = np.max(np.abs(t_new - t))
        t = t_new
        if step < 1e-6:
            break
    for _ in range(50):
        c, P, pdf = _centroids(t)
        F = t - 0.5 * (c[:-1] + c[1:])
        if np.max(np.abs(F)) < 1e-15:
            break
        a_pdf, b_pdf = pdf[:-1], pdf[1:]
        edges = np.concatenate(([-np.inf], t, [np.inf]))
        a = np.where(np.isfinite(edges[:-1]), edges[:-1], 0.0)
        b = np.where(np.isfinite(edges[1:]), edges[1:], 0.0)
        dc_da = a_pdf * (c - a) / P                                # d c_k / d (lower edge of k)
        dc_db = b_pdf * (b - c) / P                                # d c_k / d (upper edge of k)
        ab = np.zeros((3, m - 1))
        ab[1] = 1.0 - 0.5 * (dc_db[:-1] + dc_da[1:])               # d F_j / d t_j
        ab[0, 1:] = -0.5 * dc_db[1:-1]                             # d F_j / d t_{j+1}
        ab[2, :-1] = -0.5 * dc_da[1:-1]                            # d F_{j+1} / d t_j
        delta = solve_banded((1, 1), ab, -F)
        t = t + delta
        if np.max(np.abs(delta)) < 1e-15:
            break
    # the optimum is symmetric about 0: remove rounding asymmetry
    t = 0.5 * (t - t[::-1])
    levels = _centroids(t)[0]
    levels = 0.5 * (levels - levels[::-1])
    residual = np.max(np.abs(t - 0.5 * (levels[:-1] + levels[1:])))
    if not residual < _LLOYD_TOL:  # pragma: no cover - numerical safeguard
        raise RuntimeError(f"Lloyd-Max design for {bits} bits did not converge (residual {residual:.3g})")
    t.setflags(write=False)
    levels.setflags(write=False)
    return t, levels


def lloyd_max(bits: int) -> ThresholdADC:
    r"""Lloyd-Max quantizer of a unit-variance Gaussian with ``2**bits`` levels.

    Thresholds are the midpoints of adjacent levels and each level is the conditional mean
    :math:`E[x \mid x \in \text{cell}]` (closed form), to within 1e-12. The design starts from the
    companding approximation, runs Lloyd's iteration and finishes with Newton's method on the
    fixed-point equations (tridiagonal Jacobian). MSEs for 1..5 bits: 0.36338, 0.11748, 0.034548,
    0.0095010, 0.0025047. Max (1960) printed 0.3634, 0.1175, 0.03454, 0.009497, 0.002499: his
    levels agree to all printed digits, his last MSE digits for 3..5 bits are slightly off
    (independent quadrature gives the values above).

    Parameters
    ----------
    bits : int
        Resolution, 1..8.

    Returns
    -------
    ThresholdADC
        Symmetric table (thresholds and levels odd about 0; the 1-bit threshold is 0).
    """
    t, levels = _lloyd_max_table(_check_bits(bits))
    return ThresholdADC(t, levels)


def _uniform_mse(n_levels: int, step: float) -> float:
    adc = UniformADC(n_levels, 0.5 * n_levels * step)
    return float(gaussian_mse(adc))


@functools.lru_cache(maxsize=None)
def _uniform_step(bits: int) -> float:
    from scipy.optimize import minimize_scalar  # here, not at import (see _lloyd_max_table)

    m = 2**bits
    # MSE(step) is unimodal; search log(step) over a bracket that holds every optimum for 1..8 bits
    res = minimize_scalar(lambda ls: _uniform_mse(m, math.exp(ls)), bounds=(math.log(1e-3), math.log(4.0)),
                          method="bounded", options={"xatol": 1e-12, "maxiter": 500})
    if not res.success:  # pragma: no cover - numerical safeguard
        raise RuntimeError(f"step search for {bits} bits failed: {res.message}")
    return math.exp(res.x)


def uniform_gaussian(bits: int) -> UniformADC:
    r"""Mid-rise uniform quantizer with ``2**bits`` levels and the MSE-optimal step for :math:`\mathcal N(0, 1)`.

    The step minimizes :func:`gaussian_mse` (bounded Brent search on the log step). Known optima
    (Max, 1960; Hui and Neuhoff, 2001): 1 bit levels :math:`\pm\sqrt{2/\pi} = \pm 0.7979`
    (step 1.596); 2 bits step 0.9957 (MSE 0.1188); 3 bits 0.5860 (0.03744); 4 bits 0.3352
    (0.01154); 5 bits 0.1881.

    Parameters
    ----------
    bits : int
        Resolution, 1..8.

    Returns
    -------
    UniformADC
        With ``step`` and ``gamma = 2**bits * step / 2`` (the clipping level).
    """
    bits = _check_bits(bits)
    m = 2**bits
    return UniformADC(m, 0.5 * m * _uniform_step(bits))


@functools.lru_cache(maxsize=None)
def _equiprobable_table(bits: int) -> tuple[np.ndarray, np.ndarray]:
    from scipy.special import ndtri  # here, not at import (see _lloyd_max_table)

    m = 2**bits
    # the j/m quantiles for j < m/2, mirrored: exactly odd about 0, and accurate in the lower tail where
    # ndtri's argument is small (the upper quantiles by symmetry, not from 1 - j/m)
    lower = ndtri(np.arange(1, m // 2) / m)
    t = np.concatenate((lower, [0.0], -lower[::-1]))
    levels = _centroids(t)[0]
    levels = 0.5 * (levels - levels[::-1])  # odd about 0, as the design is
    t.setflags(write=False)
    levels.setflags(write=False)
    return t, levels


def equiprobable(bits: int) -> ThresholdADC:
    r"""Equiprobable (quantile) quantizer of a unit-variance Gaussian with :math:`M` = ``2**bits`` levels.

    Thresholds :math:`t_j = \Phi^{-1}(j/M)`, :math:`j = 1, \dots, M-1` (:math:`\Phi` the standard normal
    distribution), so that each of the :math:`M` cells holds probability :math:`1/M` of the input and
    every output code is equally likely (the converter's output entropy is the full ``bits``). Each level
    is the centroid of its cell, the conditional mean
    :math:`E[x \mid t_j \le x < t_{j+1}] = M\,(\phi(t_j) - \phi(t_{j+1}))` (closed form), which is the
    MSE-optimal reconstruction for these thresholds; the thresholds themselves are not the MSE-optimal
    ones (those are :func:`lloyd_max`'s), so the table has a larger MSE than Lloyd-Max's at the same
    resolution: 0.36338, 0.13944, 0.054966, 0.022225 for 1 to 4 bits (Lloyd-Max: 0.36338, 0.11748,
    0.034548, 0.0095010; with centroid levels :math:`q_j` the MSE is :math:`1 - \frac1M \sum_j q_j^2`).
    At 1 bit it is the sign quantizer with levels :math:`\pm\sqrt{2/\pi}`, as Lloyd-Max's.

    Parameters
    ----------
    bits : int
        Resolution, 1..8.

    Returns
    -------
    ThresholdADC
        Symmetric table (thresholds and levels odd about 0; the middle threshold is 0).
    """
    t, levels = _equiprobable_table(_check_bits(bits))
    return ThresholdADC(t, levels)


# ---------------------------------------------------------------------------- Bussgang model
def bussgang_linearization(adc: ThresholdADC, scale, C_yy) -> tuple[np.ndarray, np.ndarray]:
    r"""Bussgang linearization :math:`r = G y + d` of I/Q converter pairs behind an AGC.

    Converter input :math:`i` gives :math:`r_i = \alpha_i (Q(\mathrm{Re}\,y_i/\alpha_i) + j\,
    Q(\mathrm{Im}\,y_i/\alpha_i))`, with :math:`y \sim \mathcal{CN}(0, C_{yy})` (circularly
    symmetric) given the channel. With :math:`v_i = [C_{yy}]_{ii}/2` the variance of
    :math:`\mathrm{Re}\,y_i` and :math:`\sigma_i = \sqrt{v_i}/\alpha_i` the standard deviation at
    the table input:

    - :math:`G_i = g(\sigma_i)` (:func:`bussgang_gain`; the :math:`\alpha_i` before and after the
      table cancel), the same for I and Q, so :math:`E[d\,y^H] = 0`;
    - :math:`[C_{rr}]_{ii} = 2\alpha_i^2 E[Q(u_i)^2]`, :math:`u_i \sim \mathcal N(0, \sigma_i^2)`, exact;
    - off-diagonal, exact for a 1-bit table with threshold 0 (levels :math:`\mu \pm c`; arcsine law):
      :math:`[C_{rr}]_{ij} = \alpha_i\alpha_j\,(2\mu^2 + \tfrac{4}{\pi} c^2 [\arcsin \mathrm{Re}\,\rho_{ij}
      + j \arcsin \mathrm{Im}\,\rho_{ij}])`, :math:`\rho_{ij} = [C_{yy}]_{ij}/\sqrt{[C_{yy}]_{ii}[C_{yy}]_{jj}}`;
    - off-diagonal, any other table: the usual diagonal-distortion approximation (distortion
      uncorrelated across inputs, i.e. the first-order term of the Hermite expansion, accurate for
      weak correlation) :math:`[C_{rr}]_{ij} \approx G_i G_j [C_{yy}]_{ij} + 2\alpha_i\alpha_j
      \mu_i\mu_j`, :math:`\mu_i = E[Q(u_i)]` (zero for a symmetric table).

    Parameters
    ----------
    adc : ThresholdADC
        The real table applied to I and Q.
    scale : array_like, float [F, N]
        AGC scale :math:`\alpha` per frame and input, > 0.
    C_yy : array_like, complex [F, N, N]
        Hermitian covariance of ``y`` given the channel (e.g. :math:`E_s H H^H + N_0 I`), positive
        diagonal.

    Returns
    -------
    G : ndarray, float [F, N]
        Gain of :math:`y_i \to r_i`.
    C_rr : ndarray, complex [F, N, N]
        :math:`E[r r^H]`.
    """
    adc = _check_adc(adc)
    alpha = _checks.finite_array("scale", scale, ndim=2)
    if np.any(alpha <= 0):
        raise ValueError(f"scale must be > 0, got minimum {alpha.min()}")
    C = _checks.finite_array("C_yy", C_yy, ndim=3, dtype=np.complex128)
    F, N = alpha.shape
    if C.shape != (F, N, N):
        raise ValueError(f"C_yy must have shape [F, N, N] = {(F, N, N)} to match scale {alpha.shape}, got {C.shape}")
    diag = np.diagonal(C, axis1=1, axis2=2)
    if np.any(diag.real <= 0):
        raise ValueError("C_yy must have a positive diagonal (the power at each converter input)")
    tol = 1e-8 * np.max(np.abs(C), initial=0.0)
    if np.any(np.abs(C - np.conj(np.swapaxes(C, 1, 2))) > tol):
        raise ValueError("C_yy must be Hermitian")
    power = diag.real                                               # E|y_i|^2, [F, N]
    sigma = np.sqrt(power / 2.0) / alpha
    G = np.asarray(bussgang_gain(adc, sigma), dtype=np.float64).reshape(F, N)
    out_power = np.asarray(output_power(adc, sigma), dtype=np.float64).reshape(F, N)
    aa = alpha[:, :, None] * alpha[:, None, :]                      # alpha_i alpha_j
    t, q = adc.thresholds, adc.levels
    if adc.n_levels == 2 and t[0] == 0.0:
        mu, c = 0.5 * (q[0] + q[1]), 0.5 * (q[1] - q[0])
        rho = C / np.sqrt(power[:, :, None] * power[:, None, :])
        arcsin = np.arcsin(np.clip(rho.real, -1, 1)) + 1j * np.arcsin(np.clip(rho.imag, -1, 1))
        C_rr = aa * (2 * mu * mu + (4.0 / np.pi) * c * c * arcsin)
    else:
        mu = np.asarray(_output_mean(adc, sigma), dtype=np.float64).reshape(F, N)
        C_rr = G[:, :, None] * G[:, None, :] * C + 2.0 * aa * mu[:, :, None] * mu[:, None, :]
    idx = np.arange(N)
    C_rr[:, idx, idx] = 2.0 * alpha**2 * out_power
    return G, C_rr
