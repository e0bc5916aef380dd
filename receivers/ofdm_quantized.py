r"""Quantization-aware receivers of the wideband OFDM link: detection and channel estimation from the cells of
the quantized time-domain samples (issue 27, item 2).

The linear receiver of :mod:`hwsim.receivers.ofdm` treats the converters' distortion as white Gaussian noise
(the Bussgang model). The receivers here use what each sample says exactly: the I and the Q converter of
antenna :math:`i` put the sample :math:`y_i[t] = \mu_i[t] + n_i[t]` in the cells :math:`[l, u)` of its two
rails (the observation's ``lower_re`` ... ``upper_im``, in signal units: the table's thresholds times the AGC
scale; the outer cells unbounded), with :math:`n` per rail :math:`\mathcal N(0, s^2)`, :math:`s^2 = N_0/2`.
After the cyclic prefix of a data OFDM symbol is removed, the noise-free samples of antenna :math:`i` are

.. math:: \mu_i = G \Big( \sum_k H_{ik} \odot X_k \Big),

with :math:`G` the inverse of the link's OFDM demodulator (unitary IFFT of the used tones, Sionna's phase
compensation of the lag :math:`\ell_\min` undone), :math:`X_k` user k's symbols on the tones (pilots and null
tones known) and :math:`H_{ik}` the frequency response. The log-likelihood of the cells,

.. math:: \ell(X) = \sum_{i,t,\text{rail}} \log\big(\Phi(b) - \Phi(a)\big), \quad a = \frac{l - \mu}{s},\;
          b = \frac{u - \mu}{s},

is concave in :math:`X` (:func:`cell_terms` evaluates it, its derivative and its curvature without under- or
overflow, also far out in the outer cells). Its curvature in :math:`\mu` per rail lies in :math:`[0, 1/s^2]`,
so :math:`\frac12 \mathrm{Re}\,\delta^H C \delta` with the per-tone matrix
:math:`C_m = H_m^H \mathrm{diag}(1/s_i^2) H_m + (2/E_s) I` majorises the objective's second-order change
(:math:`G` is unitary); the solvers use :math:`C^{-1}` as their metric.

Receivers (each gives LLRs to the link's demapper and decoder like ``ofdm_lmmse``):

- ``ofdm_qml``: the maximum a posteriori symbols under a Gaussian prior :math:`\mathcal{CN}(0, E_s)`,
  :math:`\max_X \ell(X) - \|X\|^2/E_s` (convex), per slot and data OFDM symbol, by scoring: a Newton-like
  step in the metric :math:`(H_m^H \mathrm{diag}(\bar c_i) H_m + 2/E_s)^{-1}` of the current mean curvature
  :math:`\bar c_i` per antenna, with a backtracking (Armijo) line search, started at the Bussgang LMMSE
  estimate. (Accelerated gradient in the fixed metric :math:`C^{-1}` of the majoriser was tried first: at
  high SNR with few bits most samples lie in wide cells whose curvature is far below :math:`1/s^2`, and 200
  iterations did not converge.) A problem stops when the relative change of :math:`X` falls below ``tol``
  (or when no step length raises the objective); one that reaches ``iterations`` first counts as not
  converged: the receiver's ``unconverged`` count (a sweep records it per point, columns ``unconverged``
  and ``solves`` of results.csv) and a :class:`RuntimeWarning` naming the count. ``smoothing`` :math:`\kappa` widens the likelihood's noise to
  :math:`s^2 = N_0/2 + \kappa \Delta_i^2/12` (:math:`\Delta_i` the mean spacing of the table's levels at
  antenna i's AGC scale; ``OFDMQML.rail_variance``). With :math:`\kappa = 0` (the exact likelihood) the
  MAP point at high SNR and few bits sits where the Gaussian prior pulls it, at the cells' edges, far from the
  constellation's scale, and its BER is worse than the Bussgang receiver's (``scripts/ofdm_quantized_gain.py``
  measures both); the default :math:`\kappa = 1` is an empirical choice, better at 2-4 bits and no worse at 1.
- ``ofdm_qwls``: the per-sample-variance surrogate: each rail's sample replaced by its cell's conditional mean
  and variance :math:`V` under the sample's prior :math:`\mathcal N(0, P_i/2)` (:math:`P_i` the stated input
  power; the truncated-Gaussian moments for every cell, inner and outer; for fine inner cells
  :math:`V \to w^2/12`). A cell's mean :math:`m` is not the sample: over the input's law the centroids shrink
  it by the rail's Bussgang gain :math:`g = E[m^2]/\sigma^2` (:math:`\sigma^2 = P_i/2`; for a centroid
  table :math:`E[m y] = E[m^2]`; :func:`centroid_gain` from the table at the rail's AGC scale), which a 16-QAM decision feels
  as a wrong amplitude. So each sample enters as :math:`m/g` with the variance
  :math:`V + m^2 (1/g - 1)^2` of the sample about it given its cell (:func:`debiased_moments`), weighted by
  :math:`1/(s^2 + V + m^2 (1/g - 1)^2)` in a least-squares problem with the same prior, solved by conjugate
  gradients (preconditioned with :math:`C^{-1}` at the antennas' mean weights; FFTs for :math:`G`). The outer
  cells of a uniform converter carry far more distortion than the inner ones and get less weight; at 1 bit
  every sample gets the same weight and the receiver is the Bussgang LMMSE one. (Without the gain, as the
  centroid "mismatch" detector of the published work, it lost to the Bussgang receiver at 1-2 bits: uncoded
  BER 1.6e-1 against 5.7e-2 at 1 bit, 1.55e-2 against 5.95e-3 at 2 bits, on the ofdm_uplink study's 64
  antennas at 10 dB; with it, 5.7e-2 and 5.4e-3.)

Soft outputs (both): a Laplace approximation per tone, :math:`\Sigma_m = (H_m^H \mathrm{diag}(c_i/2) H_m +
I/E_s)^{-1}` with :math:`c_i` the mean curvature per rail at antenna :math:`i` at the solution (the exact cell
curvature for ``ofdm_qml``, :math:`1/(s^2+V)` for ``ofdm_qwls``), the unbiased estimate :math:`\hat X_k / b_k`,
:math:`b_k = 1 - \Sigma_{kk}/E_s`, with error variance :math:`\Sigma_{kk}/b_k`, as Sionna's LMMSE equaliser
hands its output to the APP demapper. Without quantization both reduce to the LMMSE equaliser exactly.

Channel knowledge (``csi``):

- ``perfect``: the true :math:`H`;
- ``blmmse``: ``ofdm_lmmse``'s Bussgang LMMSE estimate (its power-delay profile known);
- ``qml``: joint estimation of the time-domain taps :math:`h_{ik}[\ell]`, :math:`\ell_\min \le \ell \le
  \ell_\max` (the channel's lags: ``taps`` symbol-spaced taps for ``rayleigh_taps``, the sinc-interpolated
  support for ``tdl``; nothing of the power-delay profile beyond that support) from the quantized training
  OFDM symbols (the Kronecker pilot symbols or the Hadamard training symbols, every value known) by maximising
  the same cell likelihood plus a weak prior, :math:`\mathcal{CN}(0, 1)` per tap (the bound the channel's
  normalisation gives, not its profile; without it the ML taps from one coarse training symbol run off to
  infinity), convex in :math:`h`, from the least-squares estimate over the taps, by scoring in the metric
  :math:`\bar c_i \sum_t B_t^H B_t + 2I` (:math:`B_t h` the noise-free samples of training symbol t,
  :math:`\bar c_i` the current mean curvature per rail) with the same line search and stopping rule
  (``smoothing`` not applied: the exact likelihood). Without quantization it is the LMMSE estimate of taps
  of that prior. The estimate's error
  (the Laplace covariance of the taps) is folded into the detection as extra white noise per antenna.

A constellation prior and a message-passing receiver are not implemented (the issue's optional item).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numba import njit, prange

from hwsim.components import register

from .base import SolverCounts
from .ofdm import OFDMLMMSE
from .onebit import _NARROW, _erfcx

#: The channel knowledge of the quantization-aware OFDM receivers (the values of ``csi``).
CSI_MODES = ("perfect", "blmmse", "qml")

_SQRT_HALF = math.sqrt(0.5)
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2 * math.pi)


@njit(cache=True)
def _cell_std(a, b):  # pragma: no cover - compiled
    """(log P, score, term) of the standard normal cell [a, b): P = Phi(b) - Phi(a), score = (phi(a) - phi(b)) / P,
    term = (a phi(a) - b phi(b)) / P (see :func:`cell_terms`)."""
    if math.isinf(a) and math.isinf(b):
        return 0.0, 0.0, 0.0
    mid = 0.5 * (a + b)
    if not (math.isinf(a) or math.isinf(b)) and (b - a) * max(1.0, abs(mid)) < _NARROW:
        return math.log(b - a) - 0.5 * mid * mid - _LOG_SQRT_2PI, mid, mid * mid - 1.0
    flip = mid > 0.0
    if flip:
        a, b = -b, -a
    if b > 0.0:  # the cell straddles 0: P = (erf(b/sqrt2) + erf(-a/sqrt2)) / 2, a sum of positive terms
        p = 0.5 * (math.erf(_SQRT_HALF * b) + math.erf(-_SQRT_HALF * a))
        pa = 0.0 if math.isinf(a) else _INV_SQRT_2PI * math.exp(-0.5 * a * a)
        apa = 0.0 if math.isinf(a) else a * pa
        pb = _INV_SQRT_2PI * math.exp(-0.5 * b * b)
        logp, score, term = math.log(p), (pa - pb) / p, (apa - b * pb) / p
    else:  # both edges in the lower tail: divide by exp(-b^2/2) (erfcx), no underflow
        if math.isinf(a):
            r = 0.0
            d = _erfcx(-_SQRT_HALF * b)
            ar = 0.0
        else:
            r = math.exp(-0.5 * (a - b) * (a + b))
            d = _erfcx(-_SQRT_HALF * b) - r * _erfcx(-_SQRT_HALF * a)
            ar = a * r
        k = 2.0 * _INV_SQRT_2PI / d
        logp, score, term = math.log(0.5) - 0.5 * b * b + math.log(d), k * (r - 1.0), k * (ar - b)
    return logp, (-score if flip else score), term


@njit(parallel=True, cache=True)
def _cell_kernel(lo, hi, mu, s, logp, grad, curv):  # pragma: no cover - compiled
    for j in prange(lo.size):
        sj = s[j]
        lp, sc, tm = _cell_std((lo[j] - mu[j]) / sj, (hi[j] - mu[j]) / sj)
        logp[j] = lp
        grad[j] = sc / sj
        c = (sc * sc - tm) / (sj * sj)
        curv[j] = min(max(c, 0.0), 1.0 / (sj * sj))


def cell_terms(lower, upper, mu, sigma):
    r"""Per sample, the log-probability of its cell, :math:`\log(\Phi(b) - \Phi(a))` with :math:`a = (l-\mu)/s`,
    :math:`b = (u-\mu)/s`, its derivative in :math:`\mu` and its curvature :math:`-\partial^2/\partial\mu^2`
    (clipped to :math:`[0, 1/s^2]`, where it lies).

    Parameters
    ----------
    lower, upper : array_like
        The cell edges (``-inf`` / ``inf`` for the outer cells), ``lower < upper``.
    mu : array_like
        The noise-free values.
    sigma : array_like
        The noise standard deviation :math:`s` (> 0); all four broadcast together.

    Returns
    -------
    tuple of numpy.ndarray
        ``(log_p, gradient, curvature)``, float64 of the broadcast shape.

    Notes
    -----
    Cells whose midpoint is above 0 (standardised) are mirrored; a cell that straddles 0 takes the sum of two
    ``erf``; one in the lower tail divides numerator and denominator by :math:`e^{-b^2/2}` and uses
    :math:`\mathrm{erfcx}`, so nothing under- or overflows (a sample 40 standard deviations outside its outer
    cell has log-probability near :math:`-800` and derivative near :math:`40/s`). Very narrow cells take the
    limit of their midpoint.
    """
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (lower, upper, mu, sigma)))
    shape = arrays[0].shape
    lo, hi, m, s = (np.ascontiguousarray(a).ravel() for a in arrays)
    if np.any(~(s > 0)):
        raise ValueError("sigma must be > 0")
    if np.any(~(lo < hi)):
        raise ValueError("every cell needs lower < upper")
    out = [np.empty(lo.size) for _ in range(3)]
    _cell_kernel(lo, hi, m, s, *out)
    return tuple(o.reshape(shape) for o in out)


def truncated_moments(lower, upper, sigma):
    r"""Mean and variance of :math:`\mathcal N(0, \sigma^2)` truncated to each cell ``[lower, upper)`` (arrays that
    broadcast together), float64: :math:`\sigma\,\mathrm{score}` and :math:`\sigma^2(1 - c)` with the cell's
    standardised score and curvature (:func:`cell_terms` at :math:`\mu = 0`)."""
    sigma = np.asarray(sigma, dtype=np.float64)
    _, g, c = cell_terms(lower, upper, 0.0, sigma)
    return sigma * sigma * g, np.maximum(sigma**2 * (1.0 - c * sigma**2), 0.0)


def centroid_gain(edges, scale, sigma):
    r"""Bussgang gain :math:`g = E[m^2]/\sigma^2` of the centroid quantizer of :math:`\mathcal N(0, \sigma^2)` with
    the cells of a table's ``edges`` [E] (from -inf to inf) at the AGC ``scale`` [S, N_r]: :math:`\sum_k
    (\varphi(a_k) - \varphi(b_k))^2 / (\Phi(b_k) - \Phi(a_k))` over the standardised cells; ``sigma``
    [S, N_r] the input's standard deviation per rail. Returns [S, N_r, 1, 1]."""
    from scipy.special import ndtr

    z = np.asarray(edges, dtype=np.float64) * (np.asarray(scale, dtype=np.float64) / np.asarray(sigma))[..., None]
    with np.errstate(over="ignore", invalid="ignore"):
        phi = np.where(np.isfinite(z), np.exp(-0.5 * np.square(np.where(np.isfinite(z), z, 0.0))), 0.0)
    mass, drop = np.diff(ndtr(z), axis=-1), -np.diff(phi, axis=-1) / np.sqrt(2 * np.pi)
    g = np.sum(np.where(mass > 1e-300, np.square(drop) / np.maximum(mass, 1e-300), 0.0), axis=-1)
    return np.clip(g, 1e-3, 1.0)[..., None, None]


def debiased_moments(m, v, g):
    r"""Cell means ``m`` and variances ``v`` (:func:`truncated_moments`) turned into samples on the input's scale:
    ``m / g`` and ``v + (m (1/g - 1))^2``, the sample's variance about ``m / g`` given its cell; ``g`` the rail's
    Bussgang gain (:func:`centroid_gain`, broadcast against ``m``)."""
    m, v = np.asarray(m, dtype=np.float64), np.asarray(v, dtype=np.float64)
    return m / g, v + np.square(m * (1.0 / g - 1.0))


class OFDMQuantizedBase(SolverCounts, OFDMLMMSE):
    """Shared plumbing of the quantization-aware OFDM receivers: the chain, the Bussgang start, the time-domain
    operator of every OFDM symbol, channel knowledge, the Laplace LLRs (see the module text)."""

    def __init__(self, *, csi: Literal["perfect", "blmmse", "qml"] = "perfect", iterations: int = 200,
                 tol: float = 1e-6):
        super().__init__()  # the registry has checked the values and set self.params
        from hwsim import _checks

        _checks.integer("receiver.iterations", iterations, minimum=1, maximum=100_000)
        if not (isinstance(tol, (int, float)) and 0 < tol < 1):
            raise ValueError(f"receiver.tol must be a number in (0, 1), got {tol!r}")
        #: Problems (slot x OFDM symbol detections, slot x antenna estimations) solved, and those whose solver
        #: reached ``iterations`` before ``tol`` (cumulative over this receiver's calls).
        self.solves, self.unconverged = 0, 0
        self._geometry = None

    def check_link(self, link) -> None:
        super().check_link(link)
        from hwsim.converters.banks import require_scalar_cells

        require_scalar_cells(link, self.name, "receiver.type = \"ofdm_lmmse\"")

    def bind(self, link) -> None:
        """Bind the link as ``ofdm_lmmse`` does (``csi = "blmmse"`` uses its estimator) and build the time-domain
        geometry of the grid (once per chain)."""
        super().bind(link)
        if self._geometry is None or self._geometry[0] is not self.chain:
            self._geometry = (self.chain, _Geometry(self.chain))

    @property
    def geometry(self) -> "_Geometry":
        return self._geometry[1]

    # ------------------------------------------------------------------------------------------ the pipeline
    def detect(self, obs):
        """Demodulate, estimate, detect from the cells, demap and decode one batch of slots (``ofdm_lmmse``'s
        flow; the equaliser is replaced by ``ofdm_llrs``)."""
        self._obs = obs
        try:
            return super().detect(obs)
        finally:
            self._obs = None

    _obs = None

    def ofdm_llrs(self, n0, y_rg, gain, no, H):
        """LLRs of every data bit, torch float [S, K, D]: channel knowledge, the receiver's symbol estimates from
        the cells and the Laplace approximation (module text), then the chain's demapper."""
        import torch

        obs, geo = self._obs, self.geometry
        if obs is None:
            raise RuntimeError("ofdm_llrs is called from detect(obs)")
        cells = _cells_of(obs)
        Y = y_rg[:, 0].numpy()[..., geo.eff] / gain[:, :, None, None]      # Bussgang-scaled grid [S, N_r, syms, M]
        exact = np.full(gain.shape, n0 / 2.0)                               # per rail [S, N_r]
        sigma2 = self.rail_variance(obs, exact)                             # what the detection's likelihood uses
        csi = self.params["csi"]
        if csi == "perfect":
            Hh = np.asarray(H)
        elif csi == "blmmse":
            h, err = self.estimator(torch.from_numpy(_bussgang_grid(y_rg, gain)), torch.from_numpy(no)[:, None, :])
            Hh = h[:, 0, :, 0, :, 0].numpy()                                # [S, N_r, K, M]
            sigma2 = sigma2 + 0.5 * err[:, 0, :, 0, :, 0].numpy().sum(axis=-2).mean(axis=-1)
        else:
            Hh, err = self.estimate_channel(obs, cells, Y, exact)           # the exact cell likelihood
            sigma2 = sigma2 + 0.5 * err.sum(axis=-2).mean(axis=-1)
        X0 = geo.lmmse_start(Y, Hh, no)                                     # [S, J, K, M]
        X, curv = self.solve(obs, cells, Hh, sigma2, X0)
        x_hat, var = geo.laplace(X, Hh, curv)                               # [S, K, n_data]
        llr = self.chain.demapper(torch.from_numpy(x_hat)[:, None], torch.from_numpy(var)[:, None])
        return llr[:, 0]

    def rail_variance(self, obs, sigma2):
        """The noise variance per rail [S, N_r] the likelihood uses: :math:`N_0/2` here."""
        return sigma2

    def solve(self, obs, cells, H, sigma2, X0):  # pragma: no cover - interface
        raise NotImplementedError

    # ---------------------------------------------------------------------------------- channel estimation
    def estimate_channel(self, obs, cells, Y, sigma2):
        """``csi = "qml"``: the taps of every slot and antenna from the cells of the training symbols (module
        text), returned as the frequency response [S, N_r, K, M] and its error variance [S, N_r, K, M]."""
        geo = self.geometry
        lo_re, hi_re, lo_im, hi_im = _training_cells(geo, cells, obs)
        S, Nr = sigma2.shape
        s = np.sqrt(sigma2)[:, :, None, None]                               # [S, N_r, 1, 1]
        h = geo.tap_ls(Y)                                                   # [S, N_r, K, L], the start
        if lo_re is None:  # unquantized: the Gaussian likelihood of the samples, a closed form
            w = geo.windows(obs.r, geo.train_syms)
            cbar = 1.0 / sigma2
            h = geo.tap_solve(geo.train_adjoint(w) * cbar[..., None, None], cbar)
        else:
            def evaluate(taps, need_grad=True):
                mu = geo.train_forward(taps)                                # [S, N_r, T, N]
                lr, gr, cr = cell_terms(lo_re, hi_re, mu.real, s)
                li, gi, ci = cell_terms(lo_im, hi_im, mu.imag, s)
                f = (lr + li).sum(axis=(-1, -2)) - np.sum(np.abs(taps) ** 2, axis=(-1, -2))
                if not need_grad:
                    return f, None, None
                return f, geo.train_adjoint(gr + 1j * gi) - 2.0 * taps, 0.5 * (cr + ci).mean(axis=(-1, -2))

            def direction(taps, grad, c):
                return geo.tap_solve(grad, c)     # scoring: (c_i Q + 2 I)^-1, c_i the mean curvature per rail

            h, cbar, bad = _scoring(h, evaluate, direction, self.params["iterations"], self.params["tol"])
            self.count_solves(bad, S * Nr, "channel estimations (slot x antenna)")
        err = geo.tap_error(cbar)                                           # [S, N_r, K, M]
        return geo.tap_response(h), err


def _bussgang_grid(y_rg, gain):
    """The Bussgang-scaled resource grid ``y_rg / g`` as ``ofdm_lmmse``'s estimators take it (torch [S, 1, N_r,
    syms, fft])."""
    import torch

    return (y_rg / torch.from_numpy(gain)[:, None, :, None, None]).numpy()


def _cells_of(obs):
    """(lo_re, hi_re, lo_im, hi_im) [S, T', N_r] of a quantized observation; None for an unquantized one."""
    if obs.adc is None:
        return None
    from .onebit import _cells

    return _cells(obs)


def _training_cells(geo, cells, obs):
    if cells is None:
        return None, None, None, None
    return tuple(geo.windows(c, geo.train_syms) for c in cells)


class _Geometry:
    """The time-domain view of one chain's resource grid: the windows of the OFDM symbols in the samples, the
    operator :math:`G` and its adjoint, the data and known resource elements, the taps' Fourier matrix."""

    def __init__(self, chain):
        rg, src = chain.rg, chain.source
        self.N = chain.fft_size
        self.cp = int(np.asarray(chain.demodulator.cyclic_prefix_length))
        self.eff = np.asarray(rg.effective_subcarrier_ind)
        self.M = self.eff.size
        self.syms = rg.num_ofdm_symbols
        self.rot = np.exp(-2j * np.pi * chain.l_min * np.arange(self.N) / self.N)
        mask = np.asarray(rg.pilot_pattern.mask)[0].astype(bool)              # [K, syms, M] True: not data
        if not np.all(mask == mask[:1]):
            raise ValueError("the quantization-aware OFDM receivers need the same data resource elements for every "
                             "user (Kronecker pilot symbols or Hadamard training)")
        pilots = np.asarray(rg.pilot_pattern.pilots)[0]                       # [K, n_pilot]
        known = np.zeros(mask.shape, dtype=np.complex128)
        for k in range(mask.shape[0]):
            known[k][mask[k]] = pilots[k]
        self.data = ~mask[0]                                                  # [syms, M]
        self.data_syms = np.flatnonzero(self.data.any(axis=1))
        self.train_syms = np.flatnonzero(~self.data.any(axis=1))             # symbols that carry no data
        self.known = known                                                    # [K, syms, M]
        self.dmask = self.data[self.data_syms]                                # [J, M]
        self.K = mask.shape[0]
        self.Es = 1.0
        lag = chain.l_min + np.arange(chain.l_max - chain.l_min + 1)
        self.F = np.exp(-2j * np.pi * np.outer(chain.used, lag) / self.N)    # [M, L]
        self.L = lag.size
        if self.train_syms.size:
            P = known[:, self.train_syms]                                     # [K, T, M]
            # Q = sum_t B_t^H B_t, B_t h = G(sum_k P_kt (F h_k)), [K L, K L]
            Q = np.einsum("ktm,jtm,ma,mb->kajb", P.conj(), P, self.F.conj(), self.F).reshape(self.K * self.L, -1)
            self.Q = Q
            ridge = 1e-10 * np.real(np.trace(Q)) / Q.shape[0]
            self.Qinv = np.linalg.inv(Q + ridge * np.eye(Q.shape[0]))
            lam, V = np.linalg.eigh(Q)
            self.Qlam, self.QV = np.maximum(lam, 0.0), V

    # --- the time-domain operator of one OFDM symbol: tones [..., M] <-> samples [..., N]
    def to_time(self, Z):
        full = np.zeros(Z.shape[:-1] + (self.N,), dtype=np.complex128)
        full[..., self.eff] = Z
        return np.fft.ifft(np.fft.ifftshift(full, axes=-1) / self.rot, norm="ortho")

    def to_freq(self, w):
        return np.fft.fftshift(np.fft.fft(w, norm="ortho") * self.rot, axes=-1)[..., self.eff]

    def windows(self, a, symbols):
        """The samples of ``symbols`` after their cyclic prefix, [S, N_r, len(symbols), N], from ``a`` [S, T', N_r]."""
        start = np.asarray(symbols)[:, None] * (self.N + self.cp) + self.cp + np.arange(self.N)
        return np.moveaxis(np.asarray(a)[:, start], -1, 1)

    # --- detection
    def forward(self, X, H, known_tones):
        """Noise-free samples [S, N_r, J, N] of the data symbols' grid ``X`` [S, J, K, M] plus the known part."""
        Z = np.einsum("snkm,sjkm->snjm", H, X) + known_tones
        return self.to_time(Z)

    def adjoint(self, g, H):
        """[S, J, K, M] from samples [S, N_r, J, N] (the adjoint of ``forward``'s linear part)."""
        return np.einsum("snkm,snjm->sjkm", H.conj(), self.to_freq(g)) * self.dmask[None, :, None, :]

    def known_part(self, H):
        """The pilots' contribution on the data symbols' tones, [S, N_r, J, M]."""
        return np.einsum("snkm,kjm->snjm", H, self.known[:, self.data_syms])

    def metric(self, H, weight):
        """Per tone :math:`(H^H \\mathrm{diag}(w) H + 2/E_s)^{-1}`, [S, M, K, K], ``weight`` [S, N_r] per rail."""
        C = np.einsum("snkm,sn,snjm->smkj", H.conj(), weight, H) + (2.0 / self.Es) * np.eye(self.K)
        return np.linalg.inv(C)

    def apply(self, P, G):
        """:math:`P_m G_m` per tone, ``G`` [S, J, K, M]."""
        return np.einsum("smkj,sljm->slkm", P, G) * self.dmask[None, :, None, :]

    def lmmse_start(self, Y, H, no):
        """The Bussgang LMMSE estimate on the data REs from the Bussgang-scaled grid ``Y`` [S, N_r, syms, M]."""
        P = 2.0 * self.metric(H, 2.0 / no)                                # (H^H diag(1/nu) H + 1/Es)^-1
        R = Y[:, :, self.data_syms] - self.known_part(H)
        G = np.einsum("snkm,sn,snjm->sjkm", H.conj(), 1.0 / no, R)
        return self.apply(P, G)

    def laplace(self, X, H, curv):
        """Unbiased estimates and error variances of the data REs, [S, K, n_data] each (module text);
        ``curv`` [S, N_r, J]: the mean curvature per rail of each antenna and data symbol."""
        C = np.einsum("snkm,snj,snlm->sjmkl", H.conj(), curv / 2.0, H) + np.eye(self.K) / self.Es
        d = np.real(np.diagonal(np.linalg.inv(C), axis1=-2, axis2=-1))    # [S, J, M, K]
        b = np.maximum(1.0 - d / self.Es, 1e-9)
        z = X / np.moveaxis(b, -1, -2)                                    # [S, J, K, M]
        v = np.moveaxis(d / b, -1, -2)
        sel = self.dmask
        S = X.shape[0]
        x_hat = np.stack([np.moveaxis(z, 2, 1)[:, k][:, sel] for k in range(self.K)], axis=1)
        var = np.stack([np.moveaxis(v, 2, 1)[:, k][:, sel] for k in range(self.K)], axis=1)
        return x_hat.reshape(S, self.K, -1), np.maximum(var.reshape(S, self.K, -1), 1e-12)

    # --- channel estimation over the taps
    def train_forward(self, h):
        """Noise-free samples [S, N_r, T, N] of the training symbols from the taps ``h`` [S, N_r, K, L]."""
        Hf = h @ self.F.T                                                 # [S, N_r, K, M]
        return self.to_time(np.einsum("snkm,ktm->sntm", Hf, self.known[:, self.train_syms]))

    def train_adjoint(self, g):
        Z = self.to_freq(g)                                               # [S, N_r, T, M]
        return np.einsum("sntm,ktm,ml->snkl", Z, self.known[:, self.train_syms].conj(), self.F.conj())

    def tap_ls(self, Y):
        """The least-squares taps [S, N_r, K, L] from the Bussgang-scaled grid of the training symbols."""
        w = self.to_time(Y[:, :, self.train_syms])
        b = self.train_adjoint(w)
        S, N = b.shape[:2]
        return np.einsum("ab,snb->sna", self.Qinv, b.reshape(S, N, -1)).reshape(b.shape)

    def tap_solve(self, g, c):
        r""":math:`(c\,Q + 2 I)^{-1} g` per slot and antenna: ``g`` [S, N_r, K, L], ``c`` [S, N_r]."""
        S, N = g.shape[:2]
        u = g.reshape(S, N, -1) @ self.QV.conj()                          # (V^H g) as row vectors
        u = u / (self.Qlam * c[..., None] + 2.0)
        return (u @ self.QV.T).reshape(g.shape)

    def tap_response(self, h):
        return h @ self.F.T

    def tap_error(self, c):
        """Per user and tone the error variance [S, N_r, K, M] of taps with the Laplace covariance
        :math:`(Q c/2 + I)^{-1}`, ``c`` [S, N_r] the mean curvature per rail."""
        w = 1.0 / (self.Qlam * c[..., None] / 2.0 + 1.0)                   # [S, N_r, KL]
        Sig = np.einsum("ai,sni,bi->snab", self.QV, w, self.QV.conj())
        Sig = Sig.reshape(Sig.shape[:2] + (self.K, self.L, self.K, self.L))
        diag = np.stack([Sig[:, :, k, :, k, :] for k in range(self.K)], axis=2)   # [S, N_r, K, L, L]
        return np.real(np.einsum("ma,snkab,mb->snkm", self.F, diag, self.F.conj()))


def _data_cells(geo, cells):
    return tuple(geo.windows(c, geo.data_syms) for c in cells)


@register("receiver", "ofdm_qml")
class OFDMQML(OFDMQuantizedBase):
    """OFDM detection from the exact likelihood of the quantized time-domain samples' cells (``ofdm_qml``, see
    the module text); ``csi`` = perfect | blmmse | qml, ``iterations`` and ``tol`` bound the solvers."""

    def __init__(self, *, csi: Literal["perfect", "blmmse", "qml"] = "perfect", iterations: int = 200,
                 tol: float = 1e-6, smoothing: float = 1.0):
        super().__init__(csi=csi, iterations=iterations, tol=tol)
        if not (isinstance(smoothing, (int, float)) and 0 <= smoothing <= 100):
            raise ValueError(f"receiver.smoothing must be a number in [0, 100], got {smoothing!r}")

    def rail_variance(self, obs, sigma2):
        r"""The likelihood's variance per rail, :math:`N_0/2 + \kappa \Delta_i^2 / 12` with :math:`\kappa` =
        ``smoothing`` and :math:`\Delta_i` the mean spacing of the table's sorted levels times antenna i's AGC
        scale (0 without quantization; ``smoothing = 0``: the exact cell likelihood)."""
        if obs.adc is None or self.params["smoothing"] == 0:
            return sigma2
        spacing = float(np.mean(np.diff(np.sort(np.asarray(obs.adc.levels)))))
        return sigma2 + self.params["smoothing"] * (spacing * np.asarray(obs.scale)) ** 2 / 12.0

    def solve(self, obs, cells, H, sigma2, X0):
        """The MAP symbols [S, J, K, M] and the mean curvature per rail [S, N_r, J] at them (module text)."""
        geo = self.geometry
        known = geo.known_part(H)
        s = np.sqrt(sigma2)[:, :, None, None]
        dm = geo.dmask[None, :, None, :]
        if cells is None:  # unquantized: the Gaussian likelihood of the samples themselves
            r = geo.windows(obs.r, geo.data_syms)

            def terms(mu):
                e = r - mu
                return (-0.5 * np.sum(np.abs(e) ** 2 / s**2, axis=(1, 3)), e / s**2,
                        np.broadcast_to(1.0 / sigma2[:, :, None], mu.shape[:3]))
        else:
            lo_re, hi_re, lo_im, hi_im = _data_cells(geo, cells)

            def terms(mu):
                lr, gr, cr = cell_terms(lo_re, hi_re, mu.real, s)
                li, gi, ci = cell_terms(lo_im, hi_im, mu.imag, s)
                return (lr + li).sum(axis=(1, 3)), gr + 1j * gi, 0.5 * (cr + ci).mean(axis=-1)

        def evaluate(X, need_grad=True):
            f, g, c = terms(geo.forward(X, H, known))                      # f [S, J]
            f = f - np.sum(np.abs(X * dm) ** 2, axis=(-1, -2)) / geo.Es
            if not need_grad:
                return f, None, None
            return f, geo.adjoint(g, H) - (2.0 / geo.Es) * X * dm, c

        def direction(X, grad, c):
            # the scoring metric of the current curvature, per tone and data symbol (H^H diag(c) H + 2/Es)
            C = np.einsum("snkm,snj,snlm->sjmkl", H.conj(), np.maximum(c, 1e-6 / sigma2[:, :, None]), H)
            C = C + (2.0 / geo.Es) * np.eye(geo.K)
            return np.einsum("sjmkl,sjlm->sjkm", np.linalg.inv(C), grad) * dm

        x, curv, bad = _scoring(X0, evaluate, direction, self.params["iterations"], self.params["tol"])
        self.count_solves(bad, x.shape[0] * x.shape[1], "symbol detections (slot x OFDM symbol)")
        return x, np.asarray(curv)


def _scoring(x, evaluate, direction, iterations, tol):
    """Maximise a concave objective per problem by scoring (a Newton-like step in the metric of the current
    curvature) with a backtracking (Armijo) line search, batched over the problems (the leading two axes).

    ``evaluate(x, need_grad)`` -> (f [B0, B1], gradient like x, curvature); ``direction(x, gradient, curvature)``
    -> the ascent step. Stops a problem when its relative change falls below ``tol`` (or when no step length
    raises its objective any more, the optimum in floating point). Returns (x, curvature at x, number of problems
    not converged within ``iterations``)."""
    f, grad, c = evaluate(x)
    done = np.zeros(f.shape, dtype=bool)
    for _ in range(iterations):
        d = direction(x, grad, c)
        slope = np.real(np.sum(np.conj(grad) * d, axis=(-1, -2)))
        t = np.ones(f.shape)
        accepted = done.copy()
        x_new, f_new = x, f
        for _ in range(40):
            trial = x + t[..., None, None] * d
            f_trial, _, _ = evaluate(trial, need_grad=False)
            ok = ~accepted & (f_trial >= f + 1e-4 * t * slope)
            x_new = np.where(ok[..., None, None], trial, x_new)
            f_new = np.where(ok, f_trial, f_new)
            accepted |= ok
            if accepted.all():
                break
            t = np.where(accepted, t, 0.5 * t)
        step = np.where(accepted, t, 0.0)[..., None, None] * d
        change = np.sqrt(np.sum(np.abs(step) ** 2, axis=(-1, -2)) /
                         np.maximum(np.sum(np.abs(x_new) ** 2, axis=(-1, -2)), 1e-300))
        done |= (change < tol) | ~accepted
        x, f = x_new, f_new
        if done.all():
            break
        f, grad, c = evaluate(x)
    _, _, c = evaluate(x)
    return x, c, int((~done).sum())


@register("receiver", "ofdm_qwls")
class OFDMQWLS(OFDMQuantizedBase):
    """OFDM detection by least squares on the cells' conditional means, each sample weighted by the inverse of
    the noise plus its cell's variance (``ofdm_qwls``, the per-sample-variance surrogate, see the module text);
    ``csi`` = perfect | blmmse | qml, ``iterations`` and ``tol`` bound the conjugate gradients."""

    def solve(self, obs, cells, H, sigma2, X0):
        """The weighted least-squares symbols [S, J, K, M] and the mean weight per rail [S, N_r, J]."""
        geo = self.geometry
        known = geo.known_part(H)
        s2 = sigma2[:, :, None, None]
        if cells is None:
            r = geo.windows(obs.r, geo.data_syms)
            w_re = w_im = np.broadcast_to(1.0 / s2, r.shape)
        else:
            lo_re, hi_re, lo_im, hi_im = _data_cells(geo, cells)
            sp = np.sqrt(np.asarray(obs.power) / 2.0)[:, :, None, None]    # the prior's std per rail [S, N_r]
            g = centroid_gain(obs.adc.cell_edges, obs.scale, sp[..., 0, 0])  # [S, N_r, 1, 1]
            m_re, v_re = debiased_moments(*truncated_moments(lo_re, hi_re, sp), g)
            m_im, v_im = debiased_moments(*truncated_moments(lo_im, hi_im, sp), g)
            r = m_re + 1j * m_im
            w_re, w_im = 1.0 / (s2 + v_re), 1.0 / (s2 + v_im)

        def weigh(v):
            return w_re * v.real + 1j * (w_im * v.imag)

        def op(X):
            return geo.adjoint(weigh(geo.to_time(np.einsum("snkm,sjkm->snjm", H, X))), H) + (2.0 / geo.Es) * X

        def dot(a, b):
            return np.real(np.sum(np.conj(a) * b, axis=(-1, -2)))

        wbar = 0.5 * (w_re + w_im).mean(axis=(-1, -2))                     # [S, N_r]
        P = geo.metric(H, wbar)
        b = geo.adjoint(weigh(r - geo.to_time(known)), H)
        x = X0
        res = b - op(x)
        zr = geo.apply(P, res)
        p = zr
        rz = dot(res, zr)
        bnorm = np.sqrt(np.maximum(dot(b, b), 1e-300))
        done = np.sqrt(dot(res, res)) < self.params["tol"] * bnorm
        for _ in range(self.params["iterations"]):
            if done.all():
                break
            Ap = op(p)
            alpha = np.where(done, 0.0, rz / np.maximum(dot(p, Ap), 1e-300))[..., None, None]
            x = x + alpha * p
            res = res - alpha * Ap
            done |= np.sqrt(dot(res, res)) < self.params["tol"] * bnorm
            zr = geo.apply(P, res)
            rz_new = dot(res, zr)
            beta = (rz_new / np.maximum(rz, 1e-300))[..., None, None]
            p = zr + beta * p
            rz = rz_new
        self.count_solves(int((~done).sum()), done.size, "symbol detections (slot x OFDM symbol)")
        curv = 0.5 * (w_re + w_im).mean(axis=-1)
        return x, np.asarray(curv)


__all__ = ["OFDMQML", "OFDMQWLS", "OFDMQuantizedBase", "cell_terms", "centroid_gain", "debiased_moments", "truncated_moments",
           "CSI_MODES"]
