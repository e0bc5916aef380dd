r"""Quantization-aware near-ML detection for few-bit converters (the "nML" detector).

Follows the near-maximum-likelihood (nML) detector of J. Choi, J. Mo and R. W. Heath Jr., "Near
maximum-likelihood detector and channel estimator for uplink multiuser massive MIMO systems with
one-bit ADCs", IEEE Trans. Commun. 64(5), 2016: the exhaustive ML search over the constellation
is relaxed to ML *estimation* over a convex set that holds the constellation (here its bounding
box, per real coordinate), the concave log-likelihood is maximized by projected gradient ascent,
and each user's estimate is then sliced to the nearest constellation point.

Generalized here to any converter table with the exact likelihood of the cell each sample fell
in. With :math:`m = H x` and per-axis noise standard deviation :math:`\sigma_i`
(:math:`\sigma_i^2 = (C_n)_{ii}/2`), the log-likelihood of one frame's sample is

.. math:: \ell(x) = \sum_i \sum_{\cdot \in \{\Re, \Im\}}
   \log\big(\Phi(b_i) - \Phi(a_i)\big),\quad
   a_i = \frac{l_i - m_i}{\sigma_i},\; b_i = \frac{u_i - m_i}{\sigma_i},

with :math:`[l_i, u_i)` the cell of that real part of :math:`y_i`; for the one-bit table this
is the paper's :math:`\sum_i \log\Phi(\mathrm{sign}(y_i)\, m_i / \sigma)`. Its gradient is
:math:`H^H g` with :math:`g_i = (\phi(a_i) - \phi(b_i)) / (\sigma_i (\Phi(b_i) - \Phi(a_i)))` per
axis (evaluated without under- or overflow by :func:`cell_score`). The curvature of each term
in :math:`m_i` is :math:`-(1 - V_i/\sigma_i^2)/\sigma_i^2 \in [-1/\sigma_i^2, 0]`, with
:math:`V_i \le \sigma_i^2` the variance of the Gaussian truncated to the cell, so the gradient
is Lipschitz with constant :math:`\|H\|_2^2 / \min_i \sigma_i^2`, which fixes the step. The
iterations start from the unbiased BLMMSE output (:class:`hwsim.receivers.linear.BLMMSE`)
and use Nesterov momentum (FISTA) by default.

Choices of this implementation (not taken from the paper): the BLMMSE start, the Lipschitz
step, the momentum, and the multi-bit cell likelihood. A coloured noise covariance
(``obs.noise_cov``) is reduced to its diagonal (the exact likelihood would not separate over
antennas). No LLRs are computed (``Decision.llr`` is None).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit, prange, vectorize

from hwsim.components import register

from .base import Decision, Detector, Observation
from .linear import BLMMSE, noise_covariance

_SQRT_2PI = math.sqrt(2 * math.pi)
_SQRT_HALF = math.sqrt(0.5)
#: Below this standardized width (times max(1, |midpoint|)) a cell's score is its midpoint.
_NARROW = 1e-5


@njit(cache=True, inline="always")
def _erfcx(x):  # pragma: no cover - compiled
    """Scaled complementary error function exp(x^2) erfc(x) (inf below -26.6)."""
    if x < 0.0:
        if x < -26.6:
            return math.inf
        return 2.0 * math.exp(x * x) - _erfcx_pos(-x)
    return _erfcx_pos(x)


@njit(cache=True, inline="always")
def _erfcx_pos(x):  # pragma: no cover - compiled
    if x < 25.0:
        return math.exp(x * x) * math.erfc(x)
    # asymptotic series; the first omitted term is below 1e-12 relative for x >= 25
    y = 1.0 / (2.0 * x * x)
    return (1.0 - y * (1.0 - 3.0 * y * (1.0 - 5.0 * y * (1.0 - 7.0 * y)))) / (x * math.sqrt(math.pi))


@njit(cache=True)
def _score(a, b):  # pragma: no cover - compiled
    """Scalar :func:`cell_score`."""
    if math.isinf(a) and math.isinf(b):
        return 0.0
    mid = 0.5 * (a + b)
    if (b - a) * max(1.0, abs(mid)) < _NARROW:
        return mid
    flip = mid > 0.0
    aa, bb = (-b, -a) if flip else (a, b)
    if math.isinf(aa):
        r = 0.0
        den = _erfcx(-_SQRT_HALF * bb)
    else:
        r = math.exp(-0.5 * (aa - bb) * (aa + bb))
        den = _erfcx(-_SQRT_HALF * bb) - r * _erfcx(-_SQRT_HALF * aa)
    h = 2.0 * (r - 1.0) / (_SQRT_2PI * den)
    if not math.isfinite(h):
        return 0.0
    return -h if flip else h


def _score_pair(a, b):  # pragma: no cover - compiled by _score_ufunc
    return _score(a, b)


@functools.cache
def _score_ufunc():
    """:func:`cell_score`'s ufunc, compiled (or read from numba's cache) on first use: at import it cost
    a quarter of a second of every start of hwsim, which imports this module to register its receiver."""
    return vectorize(["float64(float64, float64)"], cache=True)(_score_pair)


@njit(parallel=True, cache=True)
def _gradient_kernel(lo, hi, m, sigma, out):  # pragma: no cover - compiled
    """out[f, l, i] = cell_score((lo - m) / s, (hi - m) / s) / s with s = sigma[f, i]."""
    F, L, N = m.shape
    for f in prange(F):
        for t in range(L):
            for i in range(N):
                s = sigma[f, i]
                out[f, t, i] = _score((lo[f, t, i] - m[f, t, i]) / s, (hi[f, t, i] - m[f, t, i]) / s) / s


def cell_score(a, b) -> np.ndarray:
    r""":math:`(\phi(a) - \phi(b)) / (\Phi(b) - \Phi(a))` for ``a < b`` (infinities allowed), stably.

    This is :math:`-\partial/\partial t \log(\Phi(b + t) - \Phi(a + t))` at :math:`t = 0`: the
    score of a Gaussian mean from the cell its sample fell in. Intervals whose midpoint is
    positive are mirrored (the score is odd under :math:`(a, b) \to (-b, -a)`); then
    :math:`a < 0`, :math:`|b| \le |a|`, and numerator and denominator are divided by
    :math:`e^{-b^2/2}`:

    .. math:: \frac{2 (r - 1)}{\sqrt{2\pi}\,(\mathrm{erfcx}(-b/\sqrt2) - r\,\mathrm{erfcx}(-a/\sqrt2))},
        \quad r = e^{-(a^2 - b^2)/2} \in [0, 1],

    which neither overflows nor underflows in the tails. Very narrow cells use the limit, the
    midpoint :math:`(a + b)/2` (relative error :math:`O(w^2)`).
    """
    return _score_ufunc()(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))


def _cells(obs: Observation) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cell edges (times alpha) of the real parts, from ``obs`` or re-derived from ``r``."""
    given = (obs.lower_re, obs.upper_re, obs.lower_im, obs.upper_im)
    if all(c is not None for c in given):
        out = tuple(np.asarray(c, dtype=np.float64) for c in given)
        if any(c.shape != np.shape(obs.r) for c in out):
            raise ValueError(f"obs.lower_re/upper_re/lower_im/upper_im must have the shape of obs.r {np.shape(obs.r)}")
        return out
    scale = np.asarray(obs.scale, dtype=np.float64)[:, None, :]  # [F, 1, N]
    edges = np.asarray(obs.adc.cell_edges, dtype=np.float64)
    r = np.asarray(obs.r)
    out = []
    for part in (r.real, r.imag):
        codes = np.asarray(obs.adc.encode(np.ascontiguousarray(part / scale)))
        out += [edges[codes] * scale, edges[codes + 1] * scale]
    return tuple(out)


@register("receiver", "nml")
class NearML(Detector):
    """Near-ML detector for few-bit converters (projected gradient ascent on the exact likelihood).

    Parameters
    ----------
    iterations : int
        Gradient steps (default 20; 0 gives the projected BLMMSE start).
    step : float
        Step size as a multiple of ``1 / Lipschitz`` (default 1.0; must lie in (0, 2); at most 1
        keeps the convergence guarantee of the momentum variant).
    momentum : bool
        Nesterov / FISTA acceleration (default True).
    """

    def __init__(self, *, iterations: int = 20, step: float = 1.0, momentum: bool = True):
        super().__init__()
        if iterations < 0:
            raise ValueError(f"receiver.iterations must be >= 0, got {iterations}")
        if not 0 < step < 2:
            raise ValueError(f"receiver.step must lie in (0, 2) (a multiple of 1/Lipschitz), got {step}")

    def check_link(self, link) -> None:
        """Refuse converters that quantize without per-axis cells (``adc.scalar_cells`` False, a vector bank):
        the likelihood is that of each sample's cell, and without cells the detector would treat the
        reconstructions as unquantized samples."""
        from hwsim.converters.banks import require_scalar_cells

        require_scalar_cells(link, self.name, "a linear receiver (receiver.type = \"lmmse\")")

    def _box(self, constellation) -> tuple[float, float]:
        pts = np.asarray(constellation.points)
        return float(np.max(np.abs(pts.real))), float(np.max(np.abs(pts.imag)))

    def gradient(self, obs: Observation, x: np.ndarray, cells=None, sigma=None) -> np.ndarray:
        """Gradient of the log-likelihood at ``x`` (complex [F, L, K]) w.r.t. Re x + j Im x."""
        H = np.asarray(obs.H, dtype=np.complex128)
        if sigma is None:
            sigma = self._sigma(obs)
        m = x @ np.swapaxes(H, 1, 2)  # [F, L, N]
        if obs.adc is None:
            g = (np.asarray(obs.r) - m) / sigma**2
        else:
            if cells is None:
                cells = _cells(obs)
            lo_re, hi_re, lo_im, hi_im = cells
            g = self._axis_gradient(lo_re, hi_re, m.real, sigma) + 1j * self._axis_gradient(lo_im, hi_im, m.imag, sigma)
        return g @ H.conj()

    @staticmethod
    def _axis_gradient(lo, hi, m, sigma):
        out = np.empty(m.shape)
        _gradient_kernel(lo, hi, m, np.ascontiguousarray(sigma[:, 0, :]), out)
        return out

    def _sigma(self, obs: Observation) -> np.ndarray:
        """Per-axis noise std [F, 1, N]."""
        var = np.real(np.diagonal(noise_covariance(obs), axis1=1, axis2=2)) / 2  # [F, N]
        if np.any(~(var > 0)):
            raise ValueError("nml needs a positive noise variance (obs.noise_var > 0, or a noise_cov with a positive "
                             "diagonal): the likelihood is degenerate without noise")
        return np.sqrt(var)[:, None, :]

    def estimate(self, obs: Observation) -> np.ndarray:
        """The relaxed ML estimate, complex [F, L, K] (inside the constellation's box)."""
        sigma = self._sigma(obs)
        cells = _cells(obs) if obs.adc is not None else None
        H = np.asarray(obs.H, dtype=np.complex128)
        lip = np.linalg.svd(H, compute_uv=False)[:, 0] ** 2 / np.min(sigma, axis=(1, 2)) ** 2  # [F]
        tau = (self.params["step"] / np.where(lip > 0, lip, 1.0))[:, None, None]
        box_re, box_im = self._box(obs.constellation)

        def project(v):
            return np.clip(v.real, -box_re, box_re) + 1j * np.clip(v.imag, -box_im, box_im)

        x0, _ = BLMMSE(llr=False).equalize(obs)
        x = project(x0)
        v, t = x, 1.0
        for _ in range(self.params["iterations"]):
            x_new = project(v + tau * self.gradient(obs, v, cells, sigma))
            if self.params["momentum"]:
                t_new = 0.5 * (1 + np.sqrt(1 + 4 * t * t))
                v = x_new + ((t - 1) / t_new) * (x_new - x)
                t = t_new
            else:
                v = x_new
            x = x_new
        return x

    def detect(self, obs: Observation) -> Decision:
        x = self.estimate(obs)
        return Decision(indices=np.asarray(obs.constellation.hard_decision(x), dtype=np.int64), llr=None)
