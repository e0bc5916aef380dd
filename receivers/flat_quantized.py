r"""Quantization-aware detection for flat (narrowband) massive-MIMO links from the cells of the quantized
samples: ``qml`` (the MAP symbols under a Gaussian prior from the exact cell likelihood) and ``qwls`` (the
per-sample-variance weighted least squares), the flat analogues of ``ofdm_qml`` and ``ofdm_qwls``
(:mod:`hwsim.receivers.ofdm_quantized`, issue 27).

The link: per frame one channel :math:`H \in \mathbb C^{N \times K}` (perfect CSI, ``obs.H``, as the
linear detectors get it) shared by the frame's ``L`` channel uses :math:`y = H x + n`,
:math:`n \sim \mathcal{CN}(0, N_0 I)` (a diagonal ``obs.noise_cov`` gives a noise variance per antenna; a
front end that correlates the noise across antennas is refused: the cells' likelihood factorises per
sample only for independent noise). The I and the Q converter of antenna :math:`i` put each rail of
:math:`y_i` in a cell :math:`[l, u)` (the observation's ``lower_re`` ... ``upper_im``, in signal units; the
outer cells unbounded). Everything is solved in the real stacking

.. math:: \mathbf x = \begin{bmatrix}\mathrm{Re}\,x\\ \mathrm{Im}\,x\end{bmatrix},\quad
          \mathbf H = \begin{bmatrix}\mathrm{Re}\,H & -\mathrm{Im}\,H\\ \mathrm{Im}\,H & \mathrm{Re}\,H
          \end{bmatrix},\quad \boldsymbol\mu = \mathbf H \mathbf x \in \mathbb R^{2N},

with noise :math:`\mathcal N(0, s_j^2)` on rail :math:`j`, :math:`s_j^2 = N_0/2` (or half the antenna's
noise variance), and the prior :math:`x \sim \mathcal{CN}(0, E_s I)`, i.e. :math:`\mathcal N(0, E_s/2)` per
real component (:math:`E_s` the constellation's mean energy).

``qml``: per channel use the maximiser of the concave

.. math:: f(\mathbf x) = \sum_{j=1}^{2N} \log\big(\Phi(b_j) - \Phi(a_j)\big) - \frac{\|\mathbf x\|^2}{E_s},
          \quad a_j = \frac{l_j - \mu_j}{s_j},\; b_j = \frac{u_j - \mu_j}{s_j}

(:func:`hwsim.receivers.ofdm_quantized.cell_terms` evaluates each term, its derivative :math:`g_j` and its
curvature :math:`c_j \in [0, 1/s_j^2]`), by damped Newton steps: the gradient is
:math:`\mathbf H^T g - 2\mathbf x/E_s`, the negative Hessian :math:`A = \mathbf H^T \mathrm{diag}(c)
\mathbf H + (2/E_s) I` (exact here, positive definite), the step :math:`A^{-1}\nabla f` with a
backtracking (Armijo) line search, vectorised over every channel use of a batch; the start is the ``qwls``
estimate. A use stops when the relative change of :math:`\mathbf x` falls below ``tol`` (or no step length
raises :math:`f`, its optimum in floating point); one that reaches ``iterations`` first counts as not
converged (:meth:`QML.solver_counts`, recorded per point by a sweep, and a :class:`RuntimeWarning` naming
the count). ``smoothing`` :math:`\kappa` widens the likelihood's noise to :math:`s_j^2 + \kappa
\Delta_i^2/12` (:math:`\Delta_i` the mean spacing of the table's levels at antenna i's AGC scale), as
``ofdm_qml`` does; ``smoothing = 0`` is the exact likelihood, whose MAP point at high SNR sits where the
prior pulls it, at its cells' edges (the feasible set of the cells is wide at few bits): measured on 32 x 8
16-QAM with 2-bit converters at 20 dB its BER is worse than ``blmmse``'s, while :math:`\kappa = 0.5` (the
default, an empirical choice) or 1 more than halve ``blmmse``'s; on 64 x 8 at 2-5 dB the exact likelihood and
:math:`\kappa = 0.5` are equal and 1 is slightly worse (:doc:`/guide/converters` has the numbers).

``qwls``: each rail's sample replaced by its cell's conditional mean :math:`m_j = E[y_j \mid
\text{cell}]` and variance :math:`V_j` under the sample's prior :math:`\mathcal N(0, P_i/2)` (:math:`P_i`
the input power the link states, ``obs.power``, else :math:`E_s\|h_i\|^2 + N_0`;
:func:`hwsim.receivers.ofdm_quantized.truncated_moments`), weighted by :math:`w_j = 1/(s_j^2 + V_j)`, in
closed form per channel use

.. math:: \hat{\mathbf x} = \big(\mathbf H^T W \mathbf H + (2/E_s) I\big)^{-1} \mathbf H^T W
          \tilde{\mathbf m}, \quad W = \mathrm{diag}(w),\; \tilde m_j = m_j / G_j.

The conditional mean is a shrunk copy of the sample: its error :math:`m - y` is uncorrelated with
:math:`m`, not with :math:`y` (:math:`E[(m - y) y] = -E[V]`), so :math:`m = G y + d` with :math:`d`
uncorrelated with :math:`y` and the gain :math:`G_j = E[m_j^2]/E[y_j^2] = 1 - E[V_j]/(P_i/2) < 1` of that
quantizer under the prior (:func:`hwsim.receivers.ofdm_quantized.centroid_gain`, over every cell of the
table at the rail's AGC scale). ``debias = true`` (the default) divides it out, :math:`\tilde m = m/G`,
and keeps the weights :math:`1/(s^2 + V)`; ``debias = false`` is the plain surrogate, :math:`\tilde m = m`,
whose symbols shrink by :math:`G` and whose BER at 1-2 bits is clearly worse than ``blmmse``'s on 16-QAM
(with a sign converter the debiased conditional mean is Bussgang's reconstruction and ``qwls`` is
``blmmse``). ``ofdm_qwls`` debiases the same way and widens each variance to :math:`V + (m(1/G - 1))^2`
(:func:`hwsim.receivers.ofdm_quantized.debiased_moments`, the sample's variance about :math:`m/G` given its
cell); on the flat links that measured slightly worse, never better, than keeping :math:`V` (16-QAM, the
same draws: 32 x 8 with 2 bits at 20 dB 8.5e-3 against 8.1e-3, 64 x 8 with 2 bits at 5 dB 1.82e-3 against
1.57e-3; ``blmmse`` 1.09e-2 and 1.93e-3).

Soft outputs (both), a Laplace approximation per channel use: :math:`\Sigma = A^{-1}` at the solution
(:math:`c = w` for ``qwls``), the complex posterior variance :math:`d_k = \Sigma_{kk} + \Sigma_{K+k,K+k}`,
the unbiased estimate :math:`z_k = \hat x_k / b_k`, :math:`b_k = 1 - d_k/E_s`, with error variance
:math:`d_k/b_k`, treated as circular Gaussian for the max-log LLRs
(:meth:`hwsim.channels.Constellation.llr`); the hard decision is the constellation point nearest to
:math:`z_k`. Without quantization (and with very fine converters, to the cells' width) both are the LMMSE
detector :math:`z = W_\text{LMMSE} y / b` exactly: then :math:`c = w = 1/s^2`, :math:`A = (2/N_0)(\mathbf
H^T\mathbf H + (N_0/E_s) I)`, :math:`\Sigma` is half the LMMSE error covariance per real component and
:math:`b_k = (W_\text{LMMSE} H)_{kk}`.

Cost per channel use: :math:`O(N K^2 + K^3)` per Newton step or closed form (the :math:`2K \times 2K`
matrix :math:`A` of that use's curvatures), plus the line search's :math:`O(N K)` evaluations.
"""

from __future__ import annotations


import numpy as np

from hwsim.components import register

from .base import Decision, Detector, Observation, SolverCounts
from .linear import _check_observation
from .ofdm_quantized import _cells_of, cell_terms, centroid_gain, truncated_moments

#: Smallest variance handed to the LLR computation.
_MIN_VAR = 1e-300
#: Channel uses x real matrix entries of one chunk of the batched 2K x 2K algebra (bounds the memory).
_CHUNK = 1 << 22


def _real_channel(H: np.ndarray) -> np.ndarray:
    """The real stacking [F, 2N, 2K] of ``H`` [F, N, K] (module text)."""
    Hr, Hi = H.real, H.imag
    return np.concatenate([np.concatenate([Hr, -Hi], axis=2), np.concatenate([Hi, Hr], axis=2)], axis=1)


def _stack(a: np.ndarray) -> np.ndarray:
    """Complex [..., n] as real [..., 2n]: real parts then imaginary parts."""
    return np.concatenate([a.real, a.imag], axis=-1)


def _unstack(a: np.ndarray) -> np.ndarray:
    k = a.shape[-1] // 2
    return a[..., :k] + 1j * a[..., k:]


def _precision(Hr: np.ndarray, c: np.ndarray, es: float) -> np.ndarray:
    r""":math:`A = \mathbf H^T \mathrm{diag}(c) \mathbf H + (2/E_s) I` per channel use: ``Hr`` [F, 2N, 2K],
    ``c`` [F, L, 2N] -> [F, L, 2K, 2K]."""
    A = np.matmul(np.swapaxes(Hr, 1, 2)[:, None], c[..., None] * Hr[:, None])
    A += (2.0 / es) * np.eye(Hr.shape[2])
    return A


def _solve(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:math:`A^{-1} b` per channel use, ``A`` [F, L, m, m], ``b`` [F, L, m]."""
    return np.linalg.solve(A, b[..., None])[..., 0]


class _Problem:
    """One observation as the receivers here see it, per frame: the real channel, the per-rail noise variance
    and the cells (or the unquantized samples), in the real stacking."""

    def __init__(self, obs: Observation, name: str):
        f, l, n, k = _check_observation(obs)
        H = np.asarray(obs.H, dtype=np.complex128)
        self.es = float(np.mean(np.abs(np.asarray(obs.constellation.points)) ** 2))
        if getattr(obs.constellation, "is_real", False) or np.isrealobj(obs.r):
            raise ValueError(f"receiver.type = {name!r} detects complex symbols on complex links; this observation "
                             "is real-valued (a real alphabet or channel.real)")
        n0 = float(obs.noise_var)
        if obs.noise_cov is None:
            var = np.full((f, n), n0)
        else:
            C = np.broadcast_to(np.asarray(obs.noise_cov, dtype=np.complex128), (f, n, n))
            var = np.real(np.diagonal(C, axis1=1, axis2=2)).copy()
            off = C - var[:, :, None] * np.eye(n)
            if np.max(np.abs(off)) > 1e-9 * max(float(np.max(np.abs(var))), 1e-300):
                raise ValueError(f"receiver.type = {name!r} models independent noise per converter input, and the "
                                 "front end correlates it (obs.noise_cov has off-diagonal terms); use a linear "
                                 "receiver (receiver.type = \"blmmse\")")
        if np.any(~(var > 0)) or not np.all(np.isfinite(var)):
            raise ValueError(f"receiver.type = {name!r} needs a positive noise variance (obs.noise_var > 0): the "
                             "likelihood of the cells is degenerate without noise")
        self.shape = (f, l, n, k)
        self.H = H
        self.Hr = _real_channel(H)
        self.noise = np.concatenate([var, var], axis=1) / 2.0                # per rail [F, 2N]
        self.cells = None
        self.r = None
        self.obs = obs
        if obs.adc is None:
            self.r = _stack(np.asarray(obs.r, dtype=np.complex128))          # [F, L, 2N]
        else:
            lo_re, hi_re, lo_im, hi_im = _cells_of(obs)
            self.cells = (np.concatenate([lo_re, lo_im], axis=-1), np.concatenate([hi_re, hi_im], axis=-1))

    def chunks(self):
        """Slices of frames whose batched :math:`2K \\times 2K` algebra stays within :data:`_CHUNK` entries."""
        f, l, n, k = self.shape
        per = max(1, _CHUNK // max(1, l * 2 * n * 2 * k))
        return [slice(a, min(f, a + per)) for a in range(0, f, per)]

    def moments(self, frames: slice, debias: bool = True):
        """(m, w): per rail the samples (or their cells' conditional means, divided by the gain :math:`G` with
        ``debias``) [F', L, 2N] and the weights :math:`1/(s^2 + V)` (``qwls``, module text)."""
        s2 = self.noise[frames][:, None, :]
        if self.cells is None:
            return self.r[frames], np.broadcast_to(1.0 / s2, self.r[frames].shape)
        obs = self.obs
        if obs.power is not None:
            power = np.asarray(obs.power, dtype=np.float64)[frames]
        else:
            H = self.H[frames]
            power = self.es * np.sum(np.abs(H) ** 2, axis=2) + 2.0 * self.noise[frames][:, : H.shape[1]]
        if np.any(~(power > 0)):
            raise ValueError("obs.power must be > 0 at every converter input")
        sp = np.sqrt(np.concatenate([power, power], axis=1) / 2.0)[:, None, :]   # the prior's std per rail
        lo, hi = (c[frames] for c in self.cells)
        m, v = truncated_moments(lo, hi, sp)
        if debias:
            m = m / self.gain(frames, sp)
        return m, 1.0 / (s2 + v)

    def gain(self, frames: slice, sp: np.ndarray) -> np.ndarray:
        r"""Per rail :math:`G = E[m^2] / E[y^2]` [F', 1, 2N], the Bussgang gain of the conditional mean
        :math:`m = E[y \mid \text{cell}]` of the table's cells at the rail's AGC scale under the prior
        :math:`\mathcal N(0, \sigma_p^2)`, ``sp`` [F', 1, 2N] its standard deviation
        (:func:`hwsim.receivers.ofdm_quantized.centroid_gain`)."""
        scale = np.asarray(self.obs.scale, dtype=np.float64)[frames]
        g = centroid_gain(self.obs.adc.cell_edges, np.concatenate([scale, scale], axis=1), sp[:, 0, :])
        return g[..., 0, 0][:, None, :]


class FlatQuantizedDetector(Detector):
    """Shared plumbing of ``qml`` and ``qwls``: the link checks, the per-frame problem, the Laplace outputs
    and decisions (module text).

    Parameters
    ----------
    llr : bool
        Compute max-log LLRs from the Laplace approximation (default True); ``Decision.llr`` is None otherwise.
    """

    def __init__(self, *, llr: bool = True):
        super().__init__()  # the registry has checked the values and set self.params

    def check_link(self, link) -> None:
        """Refuse converters that quantize without per-axis cells (a vector bank): the likelihood is that of each
        sample's cell."""
        from hwsim.converters.banks import require_scalar_cells

        require_scalar_cells(link, self.name, "a linear receiver (receiver.type = \"lmmse\")")

    def estimate(self, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        """The unbiased estimates complex [F, L, K] and their error variances float [F, L, K] (module text)."""
        problem = _Problem(obs, self.name)
        f, l, _, k = problem.shape
        z = np.empty((f, l, k), dtype=np.complex128)
        var = np.empty((f, l, k))
        for frames in problem.chunks():
            x, A = self.solve(problem, frames)                               # [F', L, 2K], [F', L, 2K, 2K]
            Sigma = np.linalg.inv(A)
            d = np.diagonal(Sigma, axis1=-2, axis2=-1)
            d = d[..., :k] + d[..., k:]                                      # complex posterior variance [F', L, K]
            b = np.maximum(1.0 - d / problem.es, 1e-9)
            z[frames] = _unstack(x) / b
            var[frames] = d / b
        return z, var

    def solve(self, problem: _Problem, frames: slice) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        """The estimate [F', L, 2K] of the frames ``frames`` and the precision :math:`A` [F', L, 2K, 2K] at it."""
        raise NotImplementedError

    def detect(self, obs: Observation) -> Decision:
        z, var = self.estimate(obs)
        c = obs.constellation
        indices = np.asarray(c.hard_decision(z), dtype=np.int64)
        llrs = None
        if self.params["llr"]:
            llrs = c.llr(z, np.clip(var, _MIN_VAR, np.finfo(np.float64).max))
        return Decision(indices=indices, llr=llrs)


def _wls(problem: _Problem, frames: slice, debias: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The ``qwls`` estimate and its precision matrix for ``frames`` (module text)."""
    Hr = problem.Hr[frames]
    m, w = problem.moments(frames, debias)
    A = _precision(Hr, w, problem.es)
    return _solve(A, (w * m) @ Hr), A


@register("receiver", "qwls")
class QWLS(FlatQuantizedDetector):
    r"""Flat-link detection by least squares on the cells' conditional means, each rail weighted by
    :math:`1/(s^2 + V)` (:math:`V` its cell's conditional variance), with the prior :math:`\mathcal{CN}(0,
    E_s I)`, in closed form per channel use (``qwls``, module text); Laplace LLRs.

    Parameters
    ----------
    llr : bool
        Compute max-log LLRs (default True).
    debias : bool
        Divide each rail's conditional mean by its gain :math:`G` (default True; False: the plain surrogate,
        see the module text).
    """

    def __init__(self, *, llr: bool = True, debias: bool = True):
        super().__init__(llr=llr)

    def solve(self, problem, frames):
        return _wls(problem, frames, self.params["debias"])


@register("receiver", "qml")
class QML(SolverCounts, FlatQuantizedDetector):
    r"""Flat-link detection from the exact likelihood of the quantized samples' cells: the MAP symbols under the
    prior :math:`\mathcal{CN}(0, E_s I)` per channel use, by damped Newton steps with an Armijo line search from
    the ``qwls`` estimate (``qml``, module text); Laplace LLRs.

    Parameters
    ----------
    llr : bool
        Compute max-log LLRs (default True).
    iterations : int
        Most Newton steps per channel use (default 50, 1 .. 100000); a use that reaches it before ``tol`` is
        counted as not converged (:meth:`solver_counts`) and warned of.
    tol : float
        Stop a use when the relative change of its estimate falls below this, in (0, 1) (default 1e-8).
    smoothing : float
        :math:`\kappa` in [0, 100]: the likelihood's noise variance per rail is :math:`N_0/2 + \kappa
        \Delta_i^2/12` (default 0.5; 0: the exact likelihood; see :meth:`rail_variance` and the module text).
    """

    def __init__(self, *, llr: bool = True, iterations: int = 50, tol: float = 1e-8, smoothing: float = 0.5):
        super().__init__(llr=llr)
        from hwsim import _checks

        _checks.integer("receiver.iterations", iterations, minimum=1, maximum=100_000)
        if not (isinstance(tol, (int, float)) and not isinstance(tol, bool) and 0 < tol < 1):
            raise ValueError(f"receiver.tol must be a number in (0, 1), got {tol!r}")
        if not (isinstance(smoothing, (int, float)) and not isinstance(smoothing, bool) and 0 <= smoothing <= 100):
            raise ValueError(f"receiver.smoothing must be a number in [0, 100], got {smoothing!r}")
        #: Problems (channel uses) solved, and those whose solver reached ``iterations`` before ``tol``
        #: (cumulative over this receiver's calls).
        self.solves, self.unconverged = 0, 0

    def rail_variance(self, problem: _Problem, frames: slice) -> np.ndarray:
        r"""The likelihood's variance per rail [F', 2N]: :math:`N_0/2 + \kappa \Delta_i^2 / 12` with :math:`\kappa`
        = ``smoothing`` and :math:`\Delta_i` the mean spacing of the table's sorted levels times antenna i's AGC
        scale (the noise alone without quantization or with ``smoothing = 0``)."""
        s2 = problem.noise[frames]
        obs = problem.obs
        if obs.adc is None or self.params["smoothing"] == 0:
            return s2
        spacing = float(np.mean(np.diff(np.sort(np.asarray(obs.adc.levels)))))
        scale = np.asarray(obs.scale, dtype=np.float64)[frames]
        extra = self.params["smoothing"] * (spacing * np.concatenate([scale, scale], axis=1)) ** 2 / 12.0
        return s2 + extra

    def solve(self, problem, frames):
        Hr = problem.Hr[frames]
        HrT = np.swapaxes(Hr, 1, 2)
        es, tol = problem.es, self.params["tol"]
        x, _ = _wls(problem, frames)                                          # the start [F', L, 2K]
        s = np.broadcast_to(np.sqrt(self.rail_variance(problem, frames))[:, None, :], x.shape[:2] + Hr.shape[1:2])
        if problem.cells is None:
            r = problem.r[frames]

            def loglik(mu, sel):
                e = (r[sel] - mu) / s[sel]
                return -0.5 * np.sum(e * e, axis=-1), e / s[sel], 1.0 / s[sel] ** 2
        else:
            lo, hi = (c[frames] for c in problem.cells)

            def loglik(mu, sel):
                lp, g, c = cell_terms(lo[sel], hi[sel], mu, s[sel])
                return lp.sum(axis=-1), g, c

        def objective(x, sel):
            """f at the problems ``sel`` ([F', L] mask) of ``x``, [n_sel]."""
            lp, _, _ = loglik((x @ HrT)[sel], sel)
            return lp - np.sum(x[sel] ** 2, axis=-1) / es

        f = np.zeros(x.shape[:2])
        grad = np.zeros(x.shape)
        curv = np.zeros(s.shape)

        def refresh(sel):
            """f, the gradient and the curvature at ``x`` for the problems ``sel``."""
            lp, g, c = loglik((x @ HrT)[sel], sel)
            f[sel] = lp - np.sum(x[sel] ** 2, axis=-1) / es
            gfull = np.zeros(s.shape)
            gfull[sel] = g
            grad[sel] = (gfull @ Hr)[sel] - (2.0 / es) * x[sel]
            curv[sel] = c

        done = np.zeros(x.shape[:2], dtype=bool)
        refresh(~done)
        for _ in range(self.params["iterations"]):
            d = _solve(_precision(Hr, curv, es), grad)                       # the Newton step
            size = np.sqrt(np.sum(d * d, axis=-1) / np.maximum(np.sum(x * x, axis=-1), 1e-300))
            done |= size < tol                                                # the full step changes x by < tol
            if done.all():
                break
            slope = np.sum(grad * d, axis=-1)
            t = np.ones(f.shape)
            pending = ~done
            moved = np.zeros(f.shape, dtype=bool)
            for _ in range(40):                                               # backtracking (Armijo)
                trial = x + t[..., None] * d
                f_trial = objective(trial, pending)
                ok = f_trial >= f[pending] + 1e-4 * t[pending] * slope[pending]
                hit = np.zeros(f.shape, dtype=bool)
                hit[pending] = ok
                x[hit] = trial[hit]
                moved |= hit
                pending &= ~hit
                if not pending.any():
                    break
                t = np.where(pending, 0.5 * t, t)
            done |= pending                                                   # no step length raises f: its optimum
            change = np.where(moved, t * size, 0.0)
            done |= moved & (change < tol)
            refresh(moved)
        self.count_solves(int((~done).sum()), done.size, "symbol detections (channel uses)")
        return x, _precision(Hr, curv, es)


__all__ = ["QML", "QWLS", "FlatQuantizedDetector"]
