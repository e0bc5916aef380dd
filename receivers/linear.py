r"""Linear detectors: MRC, ZF, LMMSE and Bussgang LMMSE (BLMMSE), one filter per frame.

Every detector here computes a filter :math:`W` [K, N] per frame (block fading) and applies it
to the frame's ``L`` samples, :math:`z = W r`. Decisions and LLRs come from the *unbiased*
per-stream output :math:`z_k / b_k` with effective gain :math:`b_k = (W H_e)_{kk}` and the
noise-plus-interference variance

.. math:: \sigma_k^2 = \frac{E_s \sum_{j \ne k} |(W H_e)_{kj}|^2 + (W C_e W^H)_{kk}}{|b_k|^2},

treated as circular Gaussian (:meth:`hwsim.channels.qam.QAM.llr`). The model behind
:math:`H_e, C_e`:

- unquantized (``obs.adc`` None): :math:`r = H s + n`, so :math:`H_e = H`,
  :math:`C_e = C_n` (:math:`N_0 I`, or ``obs.noise_cov``);
- quantized: the Bussgang model :math:`r = G H s + e` with :math:`e = G n + d`,
  :math:`(G, C_{rr})` = :func:`hwsim.designs.bussgang_linearization` for
  :math:`C_{yy} = E_s H H^H + C_n`. Since :math:`s` is uncorrelated with :math:`e`,
  :math:`C_{rr} = E_s G H H^H G + C_e`, so :math:`H_e = G H` and
  :math:`C_e = C_{rr} - E_s G H H^H G` (no separate model of the distortion is needed; it is
  exactly what :math:`C_{rr}` holds beyond the signal part). The linearized statistics are
  used for every detector's LLRs, including the quantization-unaware ones.

Filters: MRC :math:`\mathrm{diag}(H^H H)^{-1} H^H`; ZF :math:`(H^H H)^{-1} H^H` (needs
:math:`N \ge K` and full column rank); LMMSE :math:`(H^H H + N_0/E_s I)^{-1} H^H` (white
noise; :math:`H^H (H H^H + C_n/E_s)^{-1}` for a given noise covariance); BLMMSE
:math:`E_s (G H)^H C_{rr}^{-1}`, which is LMMSE itself for an unquantized observation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim.components import register

from .base import Decision, Detector, Observation

#: Smallest variance handed to the LLR computation (a noiseless, interference-free stream).
_MIN_VAR = 1e-300


@dataclass
class LinearModel:
    """The linear(ized) model of one observation, per frame.

    Attributes
    ----------
    H : complex [F, N, K]
        Channel.
    H_eff : complex [F, N, K]
        Effective channel of ``r``: ``H``, or ``G H`` for a quantized observation.
    C_n : complex [F, N, N]
        Noise covariance at the converters' input.
    C_e : complex [F, N, N]
        Covariance of everything in ``r`` that is not ``H_eff s`` (noise and distortion).
    es : float
        Average symbol energy.
    G : float [F, N] or None
        Bussgang gain per antenna (None when unquantized).
    C_rr : complex [F, N, N] or None
        Covariance of ``r`` (None when unquantized).
    """

    H: np.ndarray
    H_eff: np.ndarray
    C_n: np.ndarray
    C_e: np.ndarray
    es: float
    G: np.ndarray | None = None
    C_rr: np.ndarray | None = None


def _hermitian(a: np.ndarray) -> np.ndarray:
    return np.conj(np.swapaxes(a, -1, -2))


def _check_observation(obs: Observation) -> tuple[int, int, int, int]:
    r = np.asarray(obs.r)
    H = np.asarray(obs.H)
    if r.ndim != 3:
        raise ValueError(f"obs.r must be complex [F, L, N], got shape {r.shape}")
    if H.ndim != 3:
        raise ValueError(f"obs.H must be complex [F, N, K], got shape {H.shape}")
    f, l, n = r.shape
    if H.shape[:2] != (f, n):
        raise ValueError(f"obs.H must be [F, N, K] = [{f}, {n}, K] to match obs.r {r.shape}, got {H.shape}")
    if not np.all(np.isfinite(H)):
        raise ValueError("obs.H must be finite")
    nv = float(obs.noise_var)
    if not nv >= 0 or not np.isfinite(nv):
        raise ValueError(f"obs.noise_var must be finite and >= 0, got {obs.noise_var!r}")
    if obs.adc is not None and obs.scale is None:
        raise ValueError("obs.scale (AGC alpha, float [F, N]) is required when obs.adc is set")
    return f, l, n, H.shape[2]


def noise_covariance(obs: Observation) -> np.ndarray:
    """Noise covariance at the converters' input, complex [F, N, N] (``N0 I`` unless ``obs.noise_cov``)."""
    f, _, n, _ = _check_observation(obs)
    if obs.noise_cov is None:
        return np.broadcast_to(float(obs.noise_var) * np.eye(n, dtype=np.complex128), (f, n, n))
    c = np.asarray(obs.noise_cov, dtype=np.complex128)
    if c.shape not in ((n, n), (f, n, n)):
        raise ValueError(f"obs.noise_cov must be [N, N] or [F, N, N] with N = {n}, got {c.shape}")
    return np.broadcast_to(c, (f, n, n))


def linear_model(obs: Observation) -> LinearModel:
    """The (Bussgang-)linear model of ``obs`` (see the module docstring)."""
    _check_observation(obs)
    H = np.asarray(obs.H, dtype=np.complex128)
    es = float(np.mean(np.abs(obs.constellation.points) ** 2))
    C_n = noise_covariance(obs)
    if obs.adc is None:
        return LinearModel(H=H, H_eff=H, C_n=C_n, C_e=C_n, es=es)
    from hwsim.designs.scalar import bussgang_linearization  # noqa: PLC0415 - only quantized links need it

    C_yy = es * H @ _hermitian(H) + C_n
    G, C_rr = bussgang_linearization(obs.adc, np.asarray(obs.scale, dtype=np.float64), C_yy)
    G = np.asarray(G, dtype=np.float64)
    C_rr = np.asarray(C_rr, dtype=np.complex128)
    H_eff = G[:, :, None] * H
    C_e = C_rr - es * H_eff @ _hermitian(H_eff)
    C_e = 0.5 * (C_e + _hermitian(C_e))
    return LinearModel(H=H, H_eff=H_eff, C_n=C_n, C_e=C_e, es=es, G=G, C_rr=C_rr)


def stream_statistics(W: np.ndarray, model: LinearModel) -> tuple[np.ndarray, np.ndarray]:
    r"""Effective gain and unbiased noise-plus-interference variance per frame and stream.

    Parameters
    ----------
    W : complex [F, K, N]
        Filters.
    model : LinearModel

    Returns
    -------
    gain : complex [F, K]
        :math:`b_k = (W H_e)_{kk}`.
    var : float [F, K]
        :math:`\sigma_k^2` of the module docstring (the variance of :math:`z_k / b_k - s_k`).
    """
    A = W @ model.H_eff  # [F, K, K]
    gain = np.diagonal(A, axis1=1, axis2=2).copy()
    power = np.abs(A) ** 2
    interference = model.es * (power.sum(axis=2) - np.abs(gain) ** 2)
    noise = np.einsum("fkn,fnm,fkm->fk", W, model.C_e, W.conj()).real
    g2 = np.abs(gain) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (np.maximum(interference, 0.0) + np.maximum(noise, 0.0)) / g2
    var = np.where(g2 > 0, var, np.inf)
    return gain, var


def _apply(W: np.ndarray, r: np.ndarray) -> np.ndarray:
    """z = W r per frame: W [F, K, N], r [F, L, N] -> [F, L, K]."""
    return np.einsum("fkn,fln->flk", W, r, optimize=True)


class LinearDetector(Detector):
    """Base of the linear detectors: a filter per frame, unbiased decisions and max-log LLRs.

    Parameters
    ----------
    llr : bool
        Compute max-log LLRs (default True); ``Decision.llr`` is None otherwise.
    """

    PARAMS = {"llr": True}

    def filter(self, obs: Observation, model: LinearModel | None = None) -> np.ndarray:
        """The filter of each frame, complex [F, K, N]."""
        raise NotImplementedError  # pragma: no cover - interface

    def equalize(self, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        """Unbiased outputs complex [F, L, K] and their noise-plus-interference variances float [F, K]."""
        model = linear_model(obs)
        W = self.filter(obs, model)
        gain, var = stream_statistics(W, model)
        z = _apply(W, np.asarray(obs.r, dtype=np.complex128))
        safe = np.where(gain != 0, gain, 1.0)
        return z / safe[:, None, :], var

    def detect(self, obs: Observation) -> Decision:
        z, var = self.equalize(obs)
        c = obs.constellation
        indices = np.asarray(c.hard_decision(z), dtype=np.int64)
        llr = None
        if self.params["llr"]:
            v = np.clip(var, _MIN_VAR, np.finfo(np.float64).max)[:, None, :]
            llr = c.llr(z, np.broadcast_to(v, z.shape))
        return Decision(indices=indices, llr=llr)


@register("receiver", "mrc")
class MRC(LinearDetector):
    r"""Maximum-ratio combining, :math:`W = \mathrm{diag}(H^H H)^{-1} H^H`."""

    def filter(self, obs, model=None):
        model = model if model is not None else linear_model(obs)
        H = model.H
        energy = np.sum(np.abs(H) ** 2, axis=1)  # [F, K]
        if np.any(energy == 0):
            raise ValueError("obs.H has an all-zero column (a user the receiver cannot see); MRC needs every "
                             "column nonzero")
        return _hermitian(H) / energy[:, :, None]


@register("receiver", "zf")
class ZF(LinearDetector):
    r"""Zero forcing, :math:`W = (H^H H)^{-1} H^H`; needs :math:`N \ge K` and full column rank."""

    def check(self, *, users: int, inputs: int, constellation) -> None:
        """Refuse a link this detector cannot serve, before it runs (fewer inputs than users)."""
        if inputs < users:
            raise ValueError(f"ZF needs at least as many receive antennas (converter inputs) as users, "
                             f"got {inputs} < {users}")

    def filter(self, obs, model=None):
        model = model if model is not None else linear_model(obs)
        H = model.H
        _, n, k = H.shape
        if n < k:
            raise ValueError(f"zero forcing needs at least as many antennas as users (N >= K), got N = {n}, K = {k}")
        s = np.linalg.svd(H, compute_uv=False)  # [F, K], descending
        tol = s[:, :1] * max(n, k) * np.finfo(np.float64).eps
        bad = np.flatnonzero(np.any(s <= tol, axis=1))
        if bad.size:
            raise ValueError(f"obs.H is rank deficient (rank < K = {k}) in frame(s) {bad[:5].tolist()}; "
                             "zero forcing needs full column rank")
        Hh = _hermitian(H)
        return np.linalg.solve(Hh @ H, Hh)


@register("receiver", "lmmse")
class LMMSE(LinearDetector):
    r"""Quantization-unaware linear MMSE, :math:`W = E_s H^H (E_s H H^H + C_n)^{-1}`.

    For white noise the :math:`K \times K` form :math:`(H^H H + N_0/E_s I)^{-1} H^H` is used.
    """

    def filter(self, obs, model=None):
        model = model if model is not None else linear_model(obs)
        H = model.H
        Hh = _hermitian(H)
        _, n, k = H.shape
        if obs.noise_cov is None:
            gram = Hh @ H + (float(obs.noise_var) / model.es) * np.eye(k)
            return np.linalg.solve(gram, Hh)
        # W^H = (H H^H + C_n/Es)^{-1} H, the matrix being Hermitian
        return _hermitian(np.linalg.solve(H @ Hh + model.C_n / model.es, H))


@register("receiver", "blmmse")
class BLMMSE(LinearDetector):
    r"""Bussgang linear MMSE, :math:`W = E_s H^H G C_{rr}^{-1}` (:math:`G` diagonal, real).

    Works for any converter table through :func:`hwsim.designs.bussgang_linearization`; for an
    unquantized observation it is :class:`LMMSE`.
    """

    def filter(self, obs, model=None):
        model = model if model is not None else linear_model(obs)
        if model.G is None:
            return LMMSE.filter(self, obs, model)
        # W^H = C_rr^{-1} G H Es, C_rr Hermitian
        return _hermitian(np.linalg.solve(model.C_rr, model.es * model.H_eff))
