r"""Rate-distortion-perception with squared error and squared Wasserstein-2 perception (Chen et al.'s survey, Sec. II-B).

Distortion is the MSE per dimension, perception the squared Wasserstein-2 distance per dimension
between the source law and the reconstruction law,
:math:`\phi = \frac1n W_2^2(P_x, P_{\hat x})`. Given any encoder (a quantizer, index :math:`m`),
let :math:`\tilde x = E\{x \mid m\}` be the MMSE reconstruction, with distortion :math:`D`, and
:math:`\tilde x'` a sample of the posterior :math:`p(x \mid m)`, so :math:`P_{\tilde x'} = P_x`.
The decoder

.. math:: \hat x(\alpha) = \alpha\,\tilde x + (1 - \alpha)\,\tilde x', \qquad \alpha \in [0, 1],

has distortion :math:`D + (1-\alpha)^2 D` (the error :math:`x - \tilde x` and the draw
:math:`\tilde x' - \tilde x` are uncorrelated given :math:`m`) and perception at most
:math:`\alpha^2 D` (couple :math:`\hat x(\alpha)` with :math:`\tilde x' \sim P_x`); with
:math:`\alpha = \min(1, \sqrt{P / D})` it meets :math:`\phi \le P` at distortion

.. math:: D + \big[(\sqrt D - \sqrt P)_+\big]^2 .

When the posterior coupling of :math:`\tilde x` with :math:`x` is a Wasserstein-optimal one,
:math:`W_2^2(P_x, P_{\tilde x}) = n D` (every quantizer that meets Lloyd's two conditions, e.g. the
Lloyd-Max scalar quantizer: its cells are the Voronoi cells of their centroids, eq. (14)) and
this is eq. (13) and, for the best quantizer, eq. (15): :math:`D(R, 0, P) = D(R) +
[(\sqrt{D(R)} - \sqrt P)_+]^2` (Freirich, Michaeli and Meir, "A theory of the distortion-perception
tradeoff in Wasserstein space"; Yan et al., "On perceptual lossy compression: the cost of
perceptual reconstruction and an optimal training framework"). At :math:`P = 0` the decoder samples
the posterior and the distortion doubles; at :math:`P \ge D` it is the MMSE decoder.

For i.i.d. blocks of growing length, eq. (16) replaces :math:`D(R)` by the distortion-rate
function :math:`\Delta(R)`, :math:`\sigma^2 2^{-2R}` for a Gaussian source (Blau and Michaeli,
"Rethinking lossy compression: the rate-distortion-perception tradeoff"). Eq. (16) is the limit
with **no common randomness** (:math:`R_c = 0`: encoder and decoder share no random seed). With
**unlimited common randomness** (:math:`R_c = \infty`) the limit is the distortion-rate-perception
function :math:`\Delta(R, P)` of eqs. (17)-(19) (Theis and Wagner, the survey's [40, Thm. 3]),
which for :math:`\mathcal N(0, \sigma^2)` with squared error and :math:`W_2^2` is attained by a
jointly Gaussian :math:`\hat x` (Zhang, Qian, Chen and Khisti, "Universal rate-distortion-perception
representations for lossy compression", the survey's [36], Thm. 2): with
:math:`\rho = \sqrt{1 - 2^{-2R}}` the largest correlation that :math:`I(x; \hat x) \le R` allows,
:math:`\hat x` of standard deviation :math:`s`, :math:`E(x - \hat x)^2 = \sigma^2 + s^2 - 2\rho\sigma s`
and :math:`W_2^2 = (\sigma - s)^2 \le P`, so :math:`s = \max(\rho\sigma, \sigma - \sqrt P)` and

.. math:: \Delta(R, P) = \begin{cases} \sigma^2 2^{-2R}, & \sqrt P \ge \sigma(1 - \rho), \\
          \sigma^2 + (\sigma - \sqrt P)^2 - 2\rho\,\sigma(\sigma - \sqrt P), & \text{otherwise.} \end{cases}

At perfect realism :math:`\Delta(R, 0) = 2\sigma^2(1 - \sqrt{1 - 2^{-2R}})`: 0.2679 at R = 1 for a unit
Gaussian against eq. (16)'s :math:`2 \cdot 2^{-2} = 0.5`. The two agree at R = 0 (:math:`2\sigma^2`) and
for :math:`P \ge \Delta(R)` (:math:`\sigma^2 2^{-2R}`); in between common randomness lowers the distortion.

- :func:`interpolated_distortion`: eq. (13) for any encoder (its MMSE distortion and the
  :math:`W_2^2` of its MMSE reconstruction);
- :func:`distortion_perception`: eq. (15) from :math:`D(R)`;
- :func:`interpolation_weight`: the decoder's :math:`\alpha = \min(1, \sqrt{P/D})`;
- :func:`achieved_perception`: :math:`\alpha^2 D = \min(P, D)`, the perception the decoder reaches;
- :func:`lloyd_max_distortion_perception`: eq. (15) for the Lloyd-Max quantizer of
  :math:`\mathcal N(0, 1)` at ``bits`` bits (1 bit: 0.3634 at :math:`P \ge D`, 0.7268 at :math:`P = 0`);
- :func:`gaussian_distortion_perception`: eq. (16) for :math:`\mathcal N(0, \sigma^2)`, the limit with no
  common randomness;
- :func:`gaussian_distortion_perception_common_randomness`: :math:`\Delta(R, P)` of eqs. (17)-(19) for
  :math:`\mathcal N(0, \sigma^2)`, the limit with unlimited common randomness.
"""

from __future__ import annotations

import math

import numpy as np

from hwsim import _checks


def _nonneg(name: str, value) -> np.ndarray:
    a = _checks.finite_array(name, value)
    if np.any(a < 0):
        raise ValueError(f"{name} must be >= 0 (a {'perception constraint' if name == 'P' else 'distortion'} "
                         f"is a squared distance), got {a.min() if a.ndim else float(a)}")
    return a


def _out(a: np.ndarray):
    return float(a) if a.ndim == 0 else a


def interpolated_distortion(D, W2sq, P):
    r"""Eq. (13): distortion of the interpolated decoder at perception ``P``,
    :math:`D + [(\sqrt{W_2^2} - \sqrt P)_+]^2`.

    Parameters
    ----------
    D : float or array_like
        MMSE distortion per dimension of the encoder, :math:`\frac1n E\|x - \tilde x\|^2 \ge 0`.
    W2sq : float or array_like
        :math:`\frac1n W_2^2(P_x, P_{\tilde x}) \ge 0` of its MMSE reconstruction.
    P : float or array_like
        Perception constraint per dimension, >= 0.

    Returns
    -------
    float or ndarray
        Broadcast shape of the inputs.
    """
    D, W2sq, P = _nonneg("D", D), _nonneg("W2sq", W2sq), _nonneg("P", P)
    return _out(D + np.maximum(np.sqrt(W2sq) - np.sqrt(P), 0.0) ** 2)


def distortion_perception(D, P):
    r"""Eq. (15): :math:`D(R, 0, P) = D + [(\sqrt D - \sqrt P)_+]^2` from the optimal quantizer's ``D``."""
    return interpolated_distortion(D, D, P)


def interpolation_weight(D, P):
    r"""The decoder's weight :math:`\alpha = \min(1, \sqrt{P / D})` on the MMSE reconstruction (1 when ``D = 0``)."""
    D, P = _nonneg("D", D), _nonneg("P", P)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(D > 0, np.sqrt(P / np.where(D > 0, D, 1.0)), 1.0)
    return _out(np.minimum(a, 1.0))


def achieved_perception(D, P):
    r"""Perception :math:`\alpha^2 D = \min(P, D)` of the interpolated decoder (an upper bound when the
    posterior coupling is not Wasserstein-optimal, see the module doc)."""
    D, P = _nonneg("D", D), _nonneg("P", P)
    return _out(np.minimum(P, D))


def lloyd_max_distortion_perception(bits: int, P):
    r"""Eq. (15) for the ``bits``-bit Lloyd-Max quantizer of :math:`\mathcal N(0, 1)` (its exact MSE as :math:`D(R)`).

    1 bit: 0.36338 for :math:`P \ge D`, 0.72676 at :math:`P = 0`.
    """
    from .scalar import gaussian_mse, lloyd_max

    D = float(gaussian_mse(lloyd_max(bits)))
    return distortion_perception(D, P)


def gaussian_distortion_perception(R, P, variance: float = 1.0):
    r"""Eq. (16) for :math:`\mathcal N(0, \sigma^2)`: :math:`\Delta(R) + [(\sqrt{\Delta(R)} - \sqrt P)_+]^2`,
    :math:`\Delta(R) = \sigma^2 2^{-2R}`; ``R`` in bits per sample (>= 0)."""
    R = _nonneg("R", R)
    variance = _checks.real("variance", variance, positive=True)
    return distortion_perception(variance * 2.0 ** (-2.0 * R), P)


def gaussian_distortion_perception_common_randomness(R, P, variance: float = 1.0):
    r""":math:`\Delta(R, P)`, eqs. (17)-(19), for :math:`\mathcal N(0, \sigma^2)`: the limit of the distortion per
    sample at rate ``R`` (bits per sample, >= 0) and perception ``P`` (:math:`W_2^2` per sample, >= 0) with
    **unlimited** common randomness (eq. (16), :func:`gaussian_distortion_perception`, is the limit with none).

    With :math:`\rho = \sqrt{1 - 2^{-2R}}` and :math:`s = \max(\rho\sigma, \sigma - \sqrt P)`:
    :math:`\sigma^2 + s^2 - 2\rho\sigma s`, i.e. :math:`\sigma^2 2^{-2R}` once :math:`\sqrt P \ge \sigma(1-\rho)`
    and :math:`2\sigma^2(1 - \rho)` at :math:`P = 0` (0.2679 at R = 1, unit variance; eq. (16) gives 0.5).
    See the module doc for the derivation. Broadcasts ``R`` against ``P``.
    """
    R, P = _nonneg("R", R), _nonneg("P", P)
    variance = _checks.real("variance", variance, positive=True)
    sigma = math.sqrt(variance)
    rho = np.sqrt(-np.expm1(-2.0 * R * math.log(2.0)))        # sqrt(1 - 2^-2R), accurate at small R
    s = np.maximum(rho * sigma, sigma - np.sqrt(P))
    return _out(np.maximum(variance + s * s - 2.0 * rho * sigma * s, 0.0))


def gaussian_w2sq(samples, std=1.0) -> float:
    r"""Exact :math:`W_2^2` between the empirical law of ``samples`` and :math:`\mathcal N(0, \mathrm{std}^2)`.

    With the sorted samples :math:`y_{(i)}` and :math:`u_i = i/N`, the monotone coupling gives

    .. math:: W_2^2 = \overline{y^2} - \frac{2\sigma}{N}\sum_i y_{(i)}\,N\big[\varphi(\Phi^{-1}(u_{i-1}))
              - \varphi(\Phi^{-1}(u_i))\big] + \sigma^2 ,

    since :math:`N\int_{u_{i-1}}^{u_i} \Phi^{-1}(u)\,du` is the bracket. As an estimate of
    :math:`W_2^2(P_y, \mathcal N(0, \sigma^2))` it is biased upward by the sampling noise of the
    empirical law (of order :math:`\log\log N / N` for Gaussian-like laws).

    Parameters
    ----------
    samples : array_like [N]
        Scalar samples (N >= 1).
    std : float
        Standard deviation of the reference Gaussian, > 0.
    """
    from scipy.special import ndtri

    y = np.sort(_checks.finite_array("samples", samples, ndim=1))
    if y.size == 0:
        raise ValueError("samples must hold at least one value")
    std = _checks.real("std", std, positive=True)
    n = y.size
    z = ndtri(np.arange(n + 1) / n)          # -inf .. +inf
    phi = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)   # 0 at both ends
    m = n * (phi[:-1] - phi[1:])              # N * integral of Phi^-1 over each slot
    return float(max(np.mean(y * y) - 2.0 * std * np.mean(y * m) + std * std, 0.0))


def empirical_w2sq(a, b) -> float:
    r""":math:`W_2^2` between the empirical laws of two equally long scalar samples: the mean squared
    difference of their sorted values (the monotone coupling)."""
    a = _checks.finite_array("a", a, ndim=1)
    b = _checks.finite_array("b", b, ndim=1)
    if a.size != b.size or a.size == 0:
        raise ValueError(f"a and b must be non-empty and of equal length, got {a.size} and {b.size}")
    return float(np.mean((np.sort(a) - np.sort(b)) ** 2))


__all__ = ["achieved_perception", "distortion_perception", "empirical_w2sq", "gaussian_distortion_perception",
           "gaussian_distortion_perception_common_randomness",
           "gaussian_w2sq", "interpolated_distortion", "interpolation_weight", "lloyd_max_distortion_perception"]
