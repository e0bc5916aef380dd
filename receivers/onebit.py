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

Speed: the whole iteration runs in one compiled kernel per frame (``_fista_kernel``): the frame's
cells are sorted once into half-lines (one infinite edge: every cell of a one-bit table) and the
others, and each step scores them in branch-free loops that the compiler vectorizes, with its own
:math:`\mathrm{erfcx}` (a polynomial in :math:`3/(3+u)`, within 7e-16 relative of the exact
function) and :math:`\exp` instead of the C library's scalar ``erfc`` and ``exp``. The earlier
implementation (a NumPy iteration around the scalar score kernel) is kept as
``_estimate_reference`` / ``_detect_reference``, the baseline of ``scripts/bench_nml.py``; the two
agree to rounding (below 1e-12 on the estimates, measured about 1e-15) and give the same decisions
on the seeded batches of ``tests/test_nml_speed.py`` and (measured before the single-precision
detect below) on every point of ``hwsim sweep massive_mimo --quick``.

:meth:`hwsim.receivers.onebit.NearML.detect` (decisions only) runs the same iteration in single precision first
(``_fista_kernel32``: eight lanes per vector instead of four, and an :math:`\mathrm{erfcx}` and
:math:`\exp` of single-precision accuracy, polynomials of degree 10 and 6), then iterates again in
double precision every sample whose single-precision estimate of some user lies within
``_F32_MARGIN`` times the constellation's box of a decision boundary (or is not finite), and every
frame with a cell narrower than ``_F32_MIN_WIDTH`` noise standard deviations (where the
single-precision cell score loses accuracy). Each sample's iteration is independent of the
others' (the step and the momentum sequence are the frame's), so a re-run sample gets the
double-precision iteration's decision (to rounding); the others' decisions can differ from it only where the
two estimates differ by more than the margin (7e-4 for QPSK), while they were measured to differ
by at most 3.7e-6 (16 x 2 QPSK, 1 to 4 bits, -10 to 25 dB, 168,000 symbols, decisions all equal;
0.05 % of the samples re-run). :meth:`hwsim.receivers.onebit.NearML.estimate` is the double-precision iteration.
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



# --------------------------------------------------------------------------- the detector's kernels
# Every kernel below is compiled with error_model="numpy" (no zero-division checks, which would keep the
# compiler from vectorizing loops) and may contract a * b + c into one fused multiply-add.
_FAST = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}}

#: Power-series coefficients (in s = 2 t - 1, t = 3 / (3 + u), lowest first) of erfcx(u) (3 + u) / 3 for
#: u >= 0: a Chebyshev series fitted here by 80-node Chebyshev interpolation of the function evaluated in
#: 40-digit arithmetic (mpmath), truncated at degree 21 and converted to powers of s in 50-digit
#: arithmetic; relative error of ``_erfcx_fast`` below 7e-16 on [0, inf] (``tests/test_nml_speed.py``
#: checks it against mpmath).
_ERFCX_POLY = (
    0.35800230236277986, 0.29446481772329297, 0.19674278570136905, 0.10348908730032487, 0.039842587095677014,
    0.008942411537958437, -0.00040413887411009487, -0.0010113539579816233, -0.00018276991291403435,
    9.225899997789508e-05, 3.585391740464576e-05, -1.0131578675156923e-05, -5.823839277695447e-06,
    1.5801189369395158e-06, 9.225490949004146e-07, -3.2798388174368307e-07, -1.3718778405338227e-07,
    7.241314802770534e-08, 1.662235757595342e-08, -1.3174436327282529e-08, -1.176637834482961e-09,
    1.3433763579088608e-09)
_ERFCX_K = 3.0
#: A frame's half-line cells get their own score loop (with gathers) when they are at least 1 / _HALF_LIST_MIN
#: of its cells; fewer, and every cell takes the general score in the frame's layout.
_HALF_LIST_MIN = 4
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 split so that k * _LN2_HI is exact for |k| < 2**20
_LN2_LO = 1.90821492927058770002e-10


@njit(inline="always", **_FAST)
def _erfcx_fast(u):  # pragma: no cover - compiled
    """exp(u^2) erfc(u) for u >= 0 (0 at +inf), branch-free: ``_ERFCX_POLY`` in s = 2 t - 1, t = 3 / (3 + u),
    by Horner's rule written out (a loop over the coefficients would keep the compiler from vectorizing
    the loops that call this)."""
    c = _ERFCX_POLY
    t = _ERFCX_K / (_ERFCX_K + u)
    s = 2.0 * t - 1.0
    p = c[21]
    p = p * s + c[20]
    p = p * s + c[19]
    p = p * s + c[18]
    p = p * s + c[17]
    p = p * s + c[16]
    p = p * s + c[15]
    p = p * s + c[14]
    p = p * s + c[13]
    p = p * s + c[12]
    p = p * s + c[11]
    p = p * s + c[10]
    p = p * s + c[9]
    p = p * s + c[8]
    p = p * s + c[7]
    p = p * s + c[6]
    p = p * s + c[5]
    p = p * s + c[4]
    p = p * s + c[3]
    p = p * s + c[2]
    p = p * s + c[1]
    p = p * s + c[0]
    return t * p


@njit(inline="always", **_FAST)
def _exp_fast(y):  # pragma: no cover - compiled
    """exp(y), branch-free: y = k ln2 + r, |r| <= ln2 / 2, a degree-13 Taylor polynomial in r times 2**k (built
    from its bits). Inputs are clamped to [-708, 709] (NaN to -708), where 2**k is a normal number: below -708
    the result is exp(-708) ~ 3e-308 instead of a subnormal or 0, which changes no sum it enters here."""
    y = y if y > -708.0 else -708.0
    return _exp_core(y if y < 709.0 else 709.0)


@njit(inline="always", **_FAST)
def _exp_below(y):  # pragma: no cover - compiled
    """``_exp_fast`` for y >= -708 (not NaN): clamped above only."""
    return _exp_core(y if y < 709.0 else 709.0)


@njit(inline="always", **_FAST)
def _exp_above(y):  # pragma: no cover - compiled
    """``_exp_fast`` for y <= 709 or NaN: clamped below only (NaN to -708)."""
    return _exp_core(y if y > -708.0 else -708.0)


@njit(inline="always", **_FAST)
def _exp_core(y):  # pragma: no cover - compiled
    """``_exp_fast`` without the clamps (y in [-708, 709])."""
    kf = math.floor(y * _LOG2E + 0.5)
    r = (y - kf * _LN2_HI) - kf * _LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    return p * np.int64((np.int64(kf) + 1023) << 52).view(np.float64)


@njit(inline="always", **_FAST)
def _score_fast(a, b, inv):  # pragma: no cover - compiled
    """``_score`` times ``inv``, written without branches (every case computed, then selected), for
    vectorized loops."""
    both_inf = (a == -math.inf) & (b == math.inf)
    mid = 0.5 * (a + b)
    narrow = (b - a) * max(1.0, abs(mid)) < _NARROW
    flip = mid > 0.0
    aa = -b if flip else a
    bb = -a if flip else b
    r = _exp_above(-0.5 * (aa - bb) * (aa + bb))  # <= 0 (NaN for the whole line); ~0 for aa = -inf
    ea = _erfcx_fast(-_SQRT_HALF * aa)  # 0 for aa = -inf
    zb = -_SQRT_HALF * bb
    ebp = _erfcx_fast(abs(zb))
    ebn = 2.0 * _exp_below(zb * zb) - ebp
    eb = ebp if zb >= 0.0 else (ebn if zb >= -26.6 else math.inf)
    den = eb - r * ea
    h = (2.0 * (r - 1.0) * inv) / (_SQRT_2PI * den)
    h = h if abs(h) < math.inf else 0.0  # also NaN -> 0
    h = -h if flip else h
    h = mid * inv if narrow else h
    return 0.0 if both_inf else h


@njit(inline="always", **_FAST)
def _score_half(w, c):  # pragma: no cover - compiled
    """``_score`` of the half-line cell (-inf, w) (finite w) times ``c``, branch-free: -c phi(w) / Phi(w)."""
    x = -_SQRT_HALF * w
    u = abs(x)
    e = _erfcx_fast(u)
    en = 2.0 * _exp_below(u * u) - e
    den = e if x >= 0.0 else (en if x >= -26.6 else math.inf)
    return (-2.0 * c) / (_SQRT_2PI * den)  # den > 0 (or inf): always finite


@njit(**_FAST)
def _score_loop(a, b, s, out):  # pragma: no cover - compiled
    """out[j] = cell score of (a[j], b[j]) / s[j] (the loop the compiler vectorizes)."""
    for j in range(a.size):
        out[j] = _score_fast(a[j], b[j], 1.0 / s[j])


def _cell_score_fast(a, b) -> np.ndarray:
    """:func:`cell_score` by the detector's branch-free kernel (for tests)."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    out = np.empty(a.size)
    _score_loop(np.ascontiguousarray(a).ravel(), np.ascontiguousarray(b).ravel(), np.ones(a.size), out)
    return out.reshape(a.shape)


@njit(**_FAST)
def _half_loop(w, out):  # pragma: no cover - compiled
    for j in range(w.size):
        out[j] = _score_half(w[j], 1.0)


def _half_score_fast(w) -> np.ndarray:
    """:func:`cell_score` ``(-inf, w)`` by the detector's half-line kernel (for tests)."""
    w = np.ascontiguousarray(w, dtype=np.float64)
    out = np.empty(w.size)
    _half_loop(w.ravel(), out)
    return out.reshape(w.shape)


@njit(inline="always", **_FAST)
def _frame_cells(f, lo_re, hi_re, lo_im, hi_im, sig, L, N):  # pragma: no cover - compiled
    """Frame f's cells sorted once for the iteration. Element e = (axis * N + i) * L + t of the frame's
    [2 N, L] layout (axis 0: real parts). Half-line cells (exactly one infinite edge) go to list A with
    their finite edge and the sign that maps them to (-inf, w) (list A's scale is that sign / sigma); the others
    (both edges finite, or the whole line) to list B with both edges and 1 / sigma. Last, both edges and 1 / sigma
    of every element in the frame's layout."""
    M = 2 * N * L
    idx_a = np.empty(M, np.int64)
    edge_a = np.empty(M)
    sgn_a = np.empty(M)
    s_a = np.empty(M)
    idx_b = np.empty(M, np.int64)
    lo_b = np.empty(M)
    hi_b = np.empty(M)
    s_b = np.empty(M)
    lo_n = np.empty(M)
    hi_n = np.empty(M)
    s_n = np.empty(M)
    na = 0
    nb = 0
    for ax in range(2):
        for i in range(N):
            si = sig[f, i]
            for t in range(L):
                if ax == 0:
                    lo = lo_re[f, t, i]
                    hi = hi_re[f, t, i]
                else:
                    lo = lo_im[f, t, i]
                    hi = hi_im[f, t, i]
                e = (ax * N + i) * L + t
                lo_n[e] = lo
                hi_n[e] = hi
                s_n[e] = 1.0 / si
                lo_inf = lo == -math.inf
                hi_inf = hi == math.inf
                if lo_inf != hi_inf:
                    idx_a[na] = e
                    edge_a[na] = hi if lo_inf else lo
                    sgn_a[na] = 1.0 if lo_inf else -1.0
                    s_a[na] = sgn_a[na] / si
                    na += 1
                else:
                    idx_b[nb] = e
                    lo_b[nb] = lo
                    hi_b[nb] = hi
                    s_b[nb] = 1.0 / si
                    nb += 1
    return idx_a[:na], edge_a[:na], sgn_a[:na], s_a[:na], idx_b[:nb], lo_b[:nb], hi_b[:nb], s_b[:nb], lo_n, hi_n, s_n


@njit(inline="always", **_FAST)
def _frame_gradient(H, f, vr, vi, r_re, r_im, sig, quantized, cells, m, h, buf, gr, gi):  # pragma: no cover
    """Gradient gr + j gi [K, L] of frame f's log-likelihood at v = vr + j vi [K, L]; ``cells`` from
    ``_frame_cells``; m, h [2 N L] and buf [2 N L] are work arrays."""
    K, L = vr.shape
    N = H.shape[1]
    NL = N * L
    for i in range(N):  # m = H v, one row of L samples at a time
        ore = i * L
        oim = NL + i * L
        for t in range(L):
            m[ore + t] = 0.0
            m[oim + t] = 0.0
        for k in range(K):
            hr = H[f, i, k].real
            hi = H[f, i, k].imag
            for t in range(L):
                m[ore + t] += vr[k, t] * hr - vi[k, t] * hi
                m[oim + t] += vr[k, t] * hi + vi[k, t] * hr
    if quantized:
        idx_a, edge_a, sgn_a, s_a, idx_b, lo_b, hi_b, s_b, lo_n, hi_n, s_n = cells
        na = idx_a.size
        nb = idx_b.size
        if nb == 0:  # every cell a half-line (a one-bit table): list A is the frame's layout, no gathers
            for j in range(na):
                h[j] = _score_half((edge_a[j] - m[j]) * s_a[j], s_a[j])  # s_a = sign / sigma: exact
            na = 0
        elif na * _HALF_LIST_MIN < na + nb:  # few half-lines: every cell by the general score, no gathers
            for j in range(na + nb):
                h[j] = _score_fast((lo_n[j] - m[j]) * s_n[j], (hi_n[j] - m[j]) * s_n[j], s_n[j])
            na = 0
            nb = 0
        # gathers and scatters in loops of their own: they keep the compiler from vectorizing the score loops
        for j in range(na):
            buf[j] = m[idx_a[j]]
        for j in range(nb):
            buf[na + j] = m[idx_b[j]]
        for j in range(na):
            buf[j] = _score_half((edge_a[j] - buf[j]) * s_a[j], s_a[j])
        for j in range(nb):
            mj = buf[na + j]
            buf[na + j] = _score_fast((lo_b[j] - mj) * s_b[j], (hi_b[j] - mj) * s_b[j], s_b[j])
        for j in range(na):
            h[idx_a[j]] = buf[j]
        for j in range(nb):
            h[idx_b[j]] = buf[na + j]
    else:
        for i in range(N):
            s2 = sig[f, i] * sig[f, i]
            for t in range(L):
                h[i * L + t] = (r_re[f, t, i] - m[i * L + t]) / s2
                h[NL + i * L + t] = (r_im[f, t, i] - m[NL + i * L + t]) / s2
    for k in range(K):  # H^H g
        for t in range(L):
            gr[k, t] = 0.0
            gi[k, t] = 0.0
        for i in range(N):
            hr = H[f, i, k].real
            hi = H[f, i, k].imag
            ore = i * L
            oim = NL + i * L
            for t in range(L):
                gr[k, t] += h[ore + t] * hr + h[oim + t] * hi
                gi[k, t] += h[oim + t] * hr - h[ore + t] * hi


@njit(**_FAST)
def _fista_kernel(H, r_re, r_im, lo_re, hi_re, lo_im, hi_im, sig, quantized, tau, box_re, box_im, x_re, x_im,
                  iterations, momentum):  # pragma: no cover - compiled
    """Projected gradient ascent (FISTA with ``momentum``) of every frame, in place on x_re + j x_im [F, L, K]
    (the projected start on entry). H complex [F, N, K]; cells or r [F, L, N]; sig [F, N]; tau [F]."""
    F, L, K = x_re.shape
    N = H.shape[1]
    for f in range(F):
        cells = _frame_cells(f, lo_re, hi_re, lo_im, hi_im, sig, L, N) if quantized else \
            _frame_cells(f, lo_re, hi_re, lo_im, hi_im, sig, 0, 0)
        m = np.empty(2 * N * L)
        h = np.empty(2 * N * L)
        buf = np.empty(2 * N * L)
        gr = np.empty((K, L))
        gi = np.empty((K, L))
        xr = np.ascontiguousarray(x_re[f].T)
        xi = np.ascontiguousarray(x_im[f].T)
        vr = xr.copy()
        vi = xi.copy()
        tk = 1.0
        step = tau[f]
        for _ in range(iterations):
            _frame_gradient(H, f, vr, vi, r_re, r_im, sig, quantized, cells, m, h, buf, gr, gi)
            beta = 0.0
            if momentum:
                t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * tk * tk))
                beta = (tk - 1.0) / t_new
                tk = t_new
            for k in range(K):
                for t in range(L):
                    nr = min(max(vr[k, t] + step * gr[k, t], -box_re), box_re)
                    ni = min(max(vi[k, t] + step * gi[k, t], -box_im), box_im)
                    vr[k, t] = nr + beta * (nr - xr[k, t]) if momentum else nr
                    vi[k, t] = ni + beta * (ni - xi[k, t]) if momentum else ni
                    xr[k, t] = nr
                    xi[k, t] = ni
        x_re[f] = xr.T
        x_im[f] = xi.T


@njit(**_FAST)
def _gradient_all(H, x_re, x_im, r_re, r_im, lo_re, hi_re, lo_im, hi_im, sig, quantized, g_re,
                  g_im):  # pragma: no cover - compiled
    """:meth:`NearML.gradient` of every frame at x_re + j x_im [F, L, K] into g_re + j g_im."""
    F, L, K = x_re.shape
    N = H.shape[1]
    m = np.empty(2 * N * L)
    h = np.empty(2 * N * L)
    buf = np.empty(2 * N * L)
    gr = np.empty((K, L))
    gi = np.empty((K, L))
    for f in range(F):
        cells = _frame_cells(f, lo_re, hi_re, lo_im, hi_im, sig, L, N) if quantized else \
            _frame_cells(f, lo_re, hi_re, lo_im, hi_im, sig, 0, 0)
        _frame_gradient(H, f, np.ascontiguousarray(x_re[f].T), np.ascontiguousarray(x_im[f].T), r_re, r_im, sig,
                        quantized, cells, m, h, buf, gr, gi)
        g_re[f] = gr.T
        g_im[f] = gi.T


# --------------------------------------------------------------------------- the single-precision iteration
# ``NearML.detect`` runs the iteration in float32 (eight lanes per vector instead of four, and polynomials of
# about half the degree for single precision), then re-runs in float64 (``_fista_kernel``) every sample whose
# float32 estimate of some user lies within ``_F32_MARGIN`` of a decision boundary (or is not finite), and every
# frame whose cells the float32 kernel does not take (a cell narrower than ``_F32_MIN_WIDTH`` standard
# deviations). Decisions then differ from the float64 iteration's only where the two estimates differ by more
# than the margin, which the float32 rounding (measured below 1e-5) stays far from.
_F4 = np.float32
_F32_MARGIN = 1e-3
_F32_MIN_WIDTH = 0.05
_ERFCX32 = tuple(_F4(c) for c in (
    0.35800230503082275, 0.29446473717689514, 0.19674274325370789, 0.10349059104919434, 0.03984341770410538,
    0.008933821693062782, -0.00040889621595852077, -0.0009910109220072627, -0.0001714378740871325,
    7.026003731880337e-05, 2.3468417566618882e-05))  # erfcx(u) (3 + u) / 3 in s = 2 t - 1, t = 3 / (3 + u); 6e-8
_EXP32 = tuple(_F4(c) for c in (1.0, 1.0, 0.5, 0.16666415333747864, 0.04166635125875473, 0.00837512593716383,
                                 0.0013941108481958508))  # exp(r), |r| <= ln2 / 2; 2e-8
_Z32 = _F4(0.0)
_ONE32 = _F4(1.0)
_TWO32 = _F4(2.0)
_HALF32 = _F4(0.5)
_K32 = _F4(3.0)
_INF32 = _F4(np.inf)
_SQRT_HALF32 = _F4(_SQRT_HALF)
_SQRT_2PI32 = _F4(_SQRT_2PI)
_LOG2E32 = _F4(_LOG2E)
_LN2_HI32 = _F4(0.693145751953125)
_LN2_LO32 = _F4(1.428606765330187e-06)
_EXP_LO32 = _F4(-87.0)
_EXP_HI32 = _F4(88.0)
_ERFCX_NEG32 = _F4(-9.3)  # below, 2 exp(x^2) overflows float32: the denominator is taken as inf
_NARROW32 = _F4(3e-4)


@njit(inline="always", **_FAST)
def _erfcx32(u):  # pragma: no cover - compiled
    c = _ERFCX32
    t = _K32 / (_K32 + u)
    s = _TWO32 * t - _ONE32
    p = c[10]
    p = p * s + c[9]
    p = p * s + c[8]
    p = p * s + c[7]
    p = p * s + c[6]
    p = p * s + c[5]
    p = p * s + c[4]
    p = p * s + c[3]
    p = p * s + c[2]
    p = p * s + c[1]
    p = p * s + c[0]
    return t * p


@njit(inline="always", **_FAST)
def _exp32(y):  # pragma: no cover - compiled
    y = y if y > _EXP_LO32 else _EXP_LO32  # NaN too
    y = y if y < _EXP_HI32 else _EXP_HI32
    kf = np.floor(y * _LOG2E32 + _HALF32)  # float32 (math.floor would give an integer, and float64 below)
    r = (y - kf * _LN2_HI32) - kf * _LN2_LO32
    c = _EXP32
    p = c[6]
    p = p * r + c[5]
    p = p * r + c[4]
    p = p * r + c[3]
    p = p * r + c[2]
    p = p * r + c[1]
    p = p * r + c[0]
    return p * np.int32((np.int32(kf) + np.int32(127)) << np.int32(23)).view(np.float32)


@njit(inline="always", **_FAST)
def _score_half32(w, c):  # pragma: no cover - compiled
    x = -_SQRT_HALF32 * w
    u = abs(x)
    e = _erfcx32(u)
    en = _TWO32 * _exp32(u * u) - e
    den = e if x >= _Z32 else (en if x >= _ERFCX_NEG32 else _INF32)
    return (-_TWO32 * c) / (_SQRT_2PI32 * den)


@njit(inline="always", **_FAST)
def _score32(a, b, inv):  # pragma: no cover - compiled
    both_inf = (a == -_INF32) & (b == _INF32)
    mid = _HALF32 * (a + b)
    narrow = (b - a) * max(_ONE32, abs(mid)) < _NARROW32
    flip = mid > _Z32
    aa = -b if flip else a
    bb = -a if flip else b
    r = _exp32(-_HALF32 * (aa - bb) * (aa + bb))
    ea = _erfcx32(-_SQRT_HALF32 * aa)
    zb = -_SQRT_HALF32 * bb
    ebp = _erfcx32(abs(zb))
    ebn = _TWO32 * _exp32(zb * zb) - ebp
    eb = ebp if zb >= _Z32 else (ebn if zb >= _ERFCX_NEG32 else _INF32)
    den = eb - r * ea
    h = (_TWO32 * (r - _ONE32) * inv) / (_SQRT_2PI32 * den)
    h = h if abs(h) < _INF32 else _Z32
    h = -h if flip else h
    h = mid * inv if narrow else h
    return _Z32 if both_inf else h


@njit(**_FAST)
def _fista_kernel32(H, lo_re, hi_re, lo_im, hi_im, sig, tau, box_re, box_im, x_re, x_im, iterations, momentum,
                    wide):  # pragma: no cover - compiled
    """``_fista_kernel`` in float32 for a quantized observation: the same inputs (float64; x_re + j x_im [F, L, K]
    in place), every operation in float32. Frames whose cells are all half-lines take the half-line score, the
    others the general score for every cell; wide[f] is set to whether every finite cell of frame f is at
    least ``_F32_MIN_WIDTH`` standard deviations wide (frames that are not must be iterated in float64)."""
    F, L, K = x_re.shape
    N = H.shape[1]
    NL = N * L
    M = 2 * NL
    lo_n = np.empty(M, np.float32)
    hi_n = np.empty(M, np.float32)
    s_n = np.empty(M, np.float32)
    m = np.empty(M, np.float32)
    h = np.empty(M, np.float32)
    gr = np.empty((K, L), np.float32)
    gi = np.empty((K, L), np.float32)
    xr = np.empty((K, L), np.float32)
    xi = np.empty((K, L), np.float32)
    vr = np.empty((K, L), np.float32)
    vi = np.empty((K, L), np.float32)
    H_re = np.empty((N, K), np.float32)
    H_im = np.empty((N, K), np.float32)
    bre = _F4(box_re)
    bim = _F4(box_im)
    for f in range(F):
        n_half = 0
        n_narrow = 0
        for i in range(N):
            for k in range(K):
                H_re[i, k] = _F4(H[f, i, k].real)
                H_im[i, k] = _F4(H[f, i, k].imag)
            si = 1.0 / sig[f, i]
            s32 = _F4(si)
            for t in range(L):
                lo = lo_re[f, t, i]
                hi = hi_re[f, t, i]
                lo_n[i * L + t] = _F4(lo)
                hi_n[i * L + t] = _F4(hi)
                s_n[i * L + t] = s32
                n_half += (lo == -math.inf) != (hi == math.inf)
                n_narrow += (hi - lo) * si < _F32_MIN_WIDTH  # False for infinite widths
            for t in range(L):
                lo = lo_im[f, t, i]
                hi = hi_im[f, t, i]
                lo_n[NL + i * L + t] = _F4(lo)
                hi_n[NL + i * L + t] = _F4(hi)
                s_n[NL + i * L + t] = s32
                n_half += (lo == -math.inf) != (hi == math.inf)
                n_narrow += (hi - lo) * si < _F32_MIN_WIDTH
        wide[f] = n_narrow == 0
        half = n_half == M
        if half:  # (-inf, w): edge w, scale 1 / sigma; (w, inf): edge w, scale -1 / sigma
            for j in range(M):
                up = lo_n[j] == -_INF32
                lo_n[j] = hi_n[j] if up else lo_n[j]
                s_n[j] = s_n[j] if up else -s_n[j]
        for k in range(K):
            for t in range(L):
                xr[k, t] = _F4(x_re[f, t, k])
                xi[k, t] = _F4(x_im[f, t, k])
                vr[k, t] = xr[k, t]
                vi[k, t] = xi[k, t]
        tk = 1.0
        step = _F4(tau[f])
        for _ in range(iterations):
            for i in range(N):
                ore = i * L
                oim = NL + i * L
                for t in range(L):
                    m[ore + t] = _Z32
                    m[oim + t] = _Z32
                for k in range(K):
                    hr = H_re[i, k]
                    hi = H_im[i, k]
                    for t in range(L):
                        m[ore + t] += vr[k, t] * hr - vi[k, t] * hi
                        m[oim + t] += vr[k, t] * hi + vi[k, t] * hr
            if half:
                for j in range(M):
                    h[j] = _score_half32((lo_n[j] - m[j]) * s_n[j], s_n[j])
            else:
                for j in range(M):
                    h[j] = _score32((lo_n[j] - m[j]) * s_n[j], (hi_n[j] - m[j]) * s_n[j], s_n[j])
            for k in range(K):
                for t in range(L):
                    gr[k, t] = _Z32
                    gi[k, t] = _Z32
                for i in range(N):
                    hr = H_re[i, k]
                    hi = H_im[i, k]
                    ore = i * L
                    oim = NL + i * L
                    for t in range(L):
                        gr[k, t] += h[ore + t] * hr + h[oim + t] * hi
                        gi[k, t] += h[oim + t] * hr - h[ore + t] * hi
            beta = _Z32
            if momentum:
                t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * tk * tk))
                beta = _F4((tk - 1.0) / t_new)
                tk = t_new
            for k in range(K):
                for t in range(L):
                    nr = min(max(vr[k, t] + step * gr[k, t], -bre), bre)
                    ni = min(max(vi[k, t] + step * gi[k, t], -bim), bim)
                    vr[k, t] = nr + beta * (nr - xr[k, t]) if momentum else nr
                    vi[k, t] = ni + beta * (ni - xi[k, t]) if momentum else ni
                    xr[k, t] = nr
                    xi[k, t] = ni
        for k in range(K):
            for t in range(L):
                x_re[f, t, k] = xr[k, t]
                x_im[f, t, k] = xi[k, t]

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


@functools.cache
def _blmmse() -> BLMMSE:
    """The start's BLMMSE detector (without LLRs), built once: building a component checks its parameters,
    a third of a millisecond, which was a fifth of a small detect call."""
    return BLMMSE(llr=False)


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
        H = np.ascontiguousarray(obs.H, dtype=np.complex128)
        if sigma is None:
            sigma = self._sigma(obs)
        if obs.adc is not None and cells is None:
            cells = _cells(obs)
        x = np.asarray(x, dtype=np.complex128)
        args = _kernel_inputs(obs, cells, sigma)
        gr, gi = np.empty(x.shape), np.empty(x.shape)
        _gradient_all(H, np.ascontiguousarray(x.real), np.ascontiguousarray(x.imag), *args, gr, gi)
        return gr + 1j * gi

    def _sigma(self, obs: Observation) -> np.ndarray:
        """Per-axis noise std [F, 1, N]."""
        var = np.real(np.diagonal(noise_covariance(obs), axis1=1, axis2=2)) / 2  # [F, N]
        if np.any(~(var > 0)):
            raise ValueError("nml needs a positive noise variance (obs.noise_var > 0, or a noise_cov with a positive "
                             "diagonal): the likelihood is degenerate without noise")
        return np.sqrt(var)[:, None, :]

    def _start(self, obs: Observation, sigma: np.ndarray):
        """(H, step tau [F], box (re, im), projected BLMMSE start [F, L, K]) of the iteration."""
        H = np.asarray(obs.H, dtype=np.complex128)
        lip = np.linalg.svd(H, compute_uv=False)[:, 0] ** 2 / np.min(sigma, axis=(1, 2)) ** 2  # [F]
        tau = self.params["step"] / np.where(lip > 0, lip, 1.0)
        box_re, box_im = self._box(obs.constellation)
        x0, _ = _blmmse().equalize(obs)
        x = np.clip(x0.real, -box_re, box_re) + 1j * np.clip(x0.imag, -box_im, box_im)
        return H, tau, (box_re, box_im), x

    def estimate(self, obs: Observation) -> np.ndarray:
        """The relaxed ML estimate, complex [F, L, K] (inside the constellation's box)."""
        sigma = self._sigma(obs)
        cells = _cells(obs) if obs.adc is not None else None
        H, tau, (box_re, box_im), x = self._start(obs, sigma)
        x_re, x_im = np.ascontiguousarray(x.real), np.ascontiguousarray(x.imag)
        _fista_kernel(np.ascontiguousarray(H), *_kernel_inputs(obs, cells, sigma),
                      np.ascontiguousarray(tau, dtype=np.float64), float(box_re), float(box_im), x_re, x_im,
                      int(self.params["iterations"]), bool(self.params["momentum"]))
        return x_re + 1j * x_im

    def detect(self, obs: Observation) -> Decision:
        """Hard decisions on the relaxed ML estimate (:meth:`hwsim.receivers.onebit.NearML.estimate`).

        For a quantized observation the iteration runs in single precision first; every sample whose
        single-precision estimate of some user lies within ``_F32_MARGIN`` (relative to the constellation's box)
        of a decision boundary, or is not finite, and every frame with a cell narrower than ``_F32_MIN_WIDTH``
        noise standard deviations, is then iterated again in double precision (as :meth:`estimate` does), and
        its decisions are those.
        """
        const = obs.constellation
        if obs.adc is None:
            return Decision(indices=np.asarray(const.hard_decision(self.estimate(obs)), dtype=np.int64), llr=None)
        sigma = self._sigma(obs)
        shape = np.shape(obs.r)
        cells = tuple(np.broadcast_to(c, shape) for c in _cells(obs))
        H, tau, (box_re, box_im), x0 = self._start(obs, sigma)
        iterations, momentum = int(self.params["iterations"]), bool(self.params["momentum"])
        sig = np.ascontiguousarray(sigma[:, 0, :])  # [F, N]
        cells = tuple(np.ascontiguousarray(c, dtype=np.float64) for c in cells)
        tau = np.ascontiguousarray(tau, dtype=np.float64)
        xr, xi = np.ascontiguousarray(x0.real), np.ascontiguousarray(x0.imag)
        wide = np.empty(shape[0], dtype=np.bool_)
        _fista_kernel32(np.ascontiguousarray(H), *cells, sig, tau, float(box_re), float(box_im), xr, xi, iterations,
                        momentum, wide)
        x = xr + 1j * xi
        indices = np.asarray(const.hard_decision(x), dtype=np.int64)
        # the constellation's slicer decides each axis by the nearest of its equally spaced amplitudes: x's
        # decision holds on the square of half-side mu around x iff it holds at the corners x +- mu (1 + j)
        mu = _F32_MARGIN * max(box_re, box_im)
        corners = x[None] + np.array([mu + 1j * mu, -mu - 1j * mu])[:, None, None, None]
        redo = np.any(np.asarray(const.hard_decision(corners)) != indices[None], axis=(0, 3))
        redo |= ~np.all(np.isfinite(x), axis=2) | ~wide[:, None]
        fi, ti = np.nonzero(redo)
        if fi.size:  # each sample's iteration is independent of the others': one-sample frames in float64
            sub = [np.ascontiguousarray(c[fi, ti][:, None, :], dtype=np.float64) for c in cells]
            dummy = np.empty((1, 1, 1))
            x0s = x0[fi, ti][:, None, :]
            sr, si = np.ascontiguousarray(x0s.real), np.ascontiguousarray(x0s.imag)
            _fista_kernel(np.ascontiguousarray(H[fi]), dummy, dummy, *sub, np.ascontiguousarray(sig[fi]), True,
                          np.ascontiguousarray(tau[fi], dtype=np.float64), float(box_re), float(box_im), sr, si,
                          iterations, momentum)
            indices[fi, ti] = np.asarray(const.hard_decision(sr + 1j * si), dtype=np.int64)[:, 0, :]
        return Decision(indices=indices, llr=None)


def _kernel_inputs(obs: Observation, cells, sigma: np.ndarray):
    """(r_re, r_im, lo_re, hi_re, lo_im, hi_im, sig [F, N]) as the kernels take them (empty stand-ins
    for what the observation does not use)."""
    shape = np.shape(obs.r)
    dummy = np.empty((1, 1, 1))
    if obs.adc is None:
        r = np.asarray(obs.r)
        parts = (np.ascontiguousarray(r.real, dtype=np.float64), np.ascontiguousarray(np.imag(r), dtype=np.float64),
                 dummy, dummy, dummy, dummy)
    else:
        parts = (dummy, dummy) + tuple(np.ascontiguousarray(np.broadcast_to(c, shape), dtype=np.float64) for c in cells)
    return parts + (np.ascontiguousarray(sigma[:, 0, :], dtype=np.float64), obs.adc is not None)


# --------------------------------------------------------------------------- the earlier implementation
def _gradient_reference(det: NearML, obs: Observation, x: np.ndarray, cells=None, sigma=None) -> np.ndarray:
    """The earlier :meth:`NearML.gradient` (NumPy products around the scalar score kernel)."""
    H = np.asarray(obs.H, dtype=np.complex128)
    if sigma is None:
        sigma = det._sigma(obs)
    m = x @ np.swapaxes(H, 1, 2)  # [F, L, N]
    if obs.adc is None:
        g = (np.asarray(obs.r) - m) / sigma**2
    else:
        if cells is None:
            cells = _cells(obs)
        lo_re, hi_re, lo_im, hi_im = cells
        g = (_axis_gradient_reference(lo_re, hi_re, m.real, sigma)
             + 1j * _axis_gradient_reference(lo_im, hi_im, m.imag, sigma))
    return g @ H.conj()


def _axis_gradient_reference(lo, hi, m, sigma):
    out = np.empty(m.shape)
    _gradient_kernel(lo, hi, m, np.ascontiguousarray(sigma[:, 0, :]), out)
    return out


def _estimate_reference(det: NearML, obs: Observation) -> np.ndarray:
    """The earlier :meth:`NearML.estimate`, kept as the baseline of ``scripts/bench_nml.py`` and the
    reference of ``tests/test_nml_speed.py``: a NumPy iteration over all frames at once, one call of the
    scalar score kernel (``_gradient_kernel``) per axis and step."""
    sigma = det._sigma(obs)
    cells = _cells(obs) if obs.adc is not None else None
    H = np.asarray(obs.H, dtype=np.complex128)
    lip = np.linalg.svd(H, compute_uv=False)[:, 0] ** 2 / np.min(sigma, axis=(1, 2)) ** 2  # [F]
    tau = (det.params["step"] / np.where(lip > 0, lip, 1.0))[:, None, None]
    box_re, box_im = det._box(obs.constellation)

    def project(v):
        return np.clip(v.real, -box_re, box_re) + 1j * np.clip(v.imag, -box_im, box_im)

    x0, _ = BLMMSE(llr=False).equalize(obs)
    x = project(x0)
    v, t = x, 1.0
    for _ in range(det.params["iterations"]):
        x_new = project(v + tau * _gradient_reference(det, obs, v, cells, sigma))
        if det.params["momentum"]:
            t_new = 0.5 * (1 + np.sqrt(1 + 4 * t * t))
            v = x_new + ((t - 1) / t_new) * (x_new - x)
            t = t_new
        else:
            v = x_new
        x = x_new
    return x


def _detect_reference(det: NearML, obs: Observation) -> Decision:
    """The earlier :meth:`NearML.detect` (on ``_estimate_reference``)."""
    x = _estimate_reference(det, obs)
    return Decision(indices=np.asarray(obs.constellation.hard_decision(x), dtype=np.int64), llr=None)
