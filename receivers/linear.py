r"""Linear detectors: MRC, ZF, LMMSE and Bussgang LMMSE (BLMMSE), one filter per frame.

Every detector here computes a filter :math:`W` [K, N] per frame (block fading) and applies it
to the frame's ``L`` samples, :math:`z = W r`. Decisions and LLRs come from the *unbiased*
per-stream output :math:`z_k / b_k` with effective gain :math:`b_k = (W H_e)_{kk}` and the
noise-plus-interference variance

.. math:: \sigma_k^2 = \frac{E_s \sum_{j \ne k} |(W H_e)_{kj}|^2 + (W C_e W^H)_{kk}}{|b_k|^2},

treated as circular Gaussian (:meth:`hwsim.channels.Constellation.llr`). The model behind
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

Cost and precision: the filter is computed once per frame (channel draw), from the frame's
:math:`H_e, C_e`, and applied to the frame's ``L`` samples as one matrix product per frame,
:math:`Z = R W^T` ([L, N] x [N, K], BLAS), so per frame a detector costs its filter plus
:math:`8 L N K` real flops for the application. The filters take :math:`O(N K^2 + K^3)` in their
:math:`K \times K` forms, which BLMMSE also takes when the distortion covariance is diagonal (white
noise and a symmetric multi-bit table: :func:`diagonal_model`); otherwise BLMMSE solves with the
:math:`N \times N` :math:`C_{rr}`, :math:`O(N^3)`, after the :math:`O(N^2 K)` Bussgang covariance.
``precision = "float32"`` computes the filter, its statistics and its application in complex64
(single precision; the Bussgang linearization itself stays in float64); ``"float64"`` (the default)
uses complex128. Sweeps run one point per worker process with one BLAS thread each
(:func:`hwsim._threads.single_threaded`), so workers times threads never exceeds the cores.

Device: ``device = "cpu"`` (the default) is the NumPy path above. Any other value runs the detector in
PyTorch on a torch device: ``"torch:cpu"`` on the CPU (the same arithmetic as on a GPU, which the tests
check against NumPy on machines without one), ``"cuda"`` or ``"cuda:N"`` on a GPU (``"torch:cuda"`` and
``"torch:cuda:N"`` are the same). On the torch path the model's matrices (the Gram matrix, the Bussgang
covariance :math:`C_{yy} \to C_{rr}` and :math:`C_e`), the filter's solve, the per-stream statistics, the
application :math:`Z = R W^T` and the hard decisions and max-log LLRs run on that device, in the arithmetic
``precision`` names (complex128 by default), the per-antenna Bussgang gains and output moments included
(the cell probabilities of :mod:`hwsim.designs.scalar`, from the normal distribution function there); the
observation is moved there once. The result is the same :class:`~hwsim.receivers.base.Decision`
of NumPy arrays; decisions and LLRs agree with the NumPy path's to rounding (a decision can differ only where
an output lies on a decision boundary to rounding, i.e. where an LLR is zero to rounding). torch is imported
only when a torch device is chosen, and a device torch cannot reach (``"cuda"`` without a CUDA GPU, a GPU
index beyond the count) is refused when the detector is built, i.e. when a sweep checks its points, by a
``ValueError`` naming ``receiver.device`` and the devices there are. In a sweep, worker processes on one GPU
share it; a CPU torch path runs one thread per worker as BLAS does.

Filters: MRC :math:`\mathrm{diag}(H^H H)^{-1} H^H`; ZF :math:`(H^H H)^{-1} H^H` (needs
:math:`N \ge K` and full column rank); LMMSE :math:`(H^H H + N_0/E_s I)^{-1} H^H` (white
noise; :math:`H^H (H H^H + C_n/E_s)^{-1}` for a given noise covariance); BLMMSE
:math:`E_s (G H)^H C_{rr}^{-1}`, which is LMMSE itself for an unquantized observation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from hwsim.components import register

from .base import Decision, Detector, Observation

#: Smallest variance handed to the LLR computation (a noiseless, interference-free stream).
_MIN_VAR = 1e-300
#: :math:`1/\sqrt{2\pi}`, the standard normal density at 0.
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


@dataclass
class LinearModel:
    """The linear(ized) model of one observation, per frame.

    The arrays are NumPy arrays, or torch tensors on one device on a linear detector's torch path
    (``device`` other than ``"cpu"``).

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
    d_e : float [F, N] or None
        Set when :math:`C_e` is diagonal (:func:`diagonal_model`): its diagonal; ``C_n``, ``C_e`` and
        ``C_rr`` are then None and never formed.
    """

    H: np.ndarray
    H_eff: np.ndarray
    C_n: np.ndarray | None
    C_e: np.ndarray | None
    es: float
    G: np.ndarray | None = None
    C_rr: np.ndarray | None = None
    d_e: np.ndarray | None = None


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


def _symmetric(adc) -> bool:
    """Odd table (thresholds and levels mirrored about 0): zero output mean for a zero-mean input."""
    t, q = np.asarray(adc.thresholds), np.asarray(adc.levels)
    tol = 1e-12 * max(1.0, float(np.max(np.abs(q))))
    return bool(np.allclose(t, -t[::-1], rtol=0, atol=tol) and np.allclose(q, -q[::-1], rtol=0, atol=tol))


def diagonal_model(obs: Observation) -> LinearModel | None:
    r"""The model of :func:`linear_model` without any :math:`N \times N` matrix, when :math:`C_e` is diagonal.

    That holds for white noise (``obs.noise_cov`` None) when the observation is unquantized
    (:math:`C_e = N_0 I`) or quantized by a symmetric table other than the 1-bit sign (whose exact
    arcsine-law covariance is not diagonal): the Bussgang model then gives :math:`C_{rr} = E_s H_e H_e^H
    + D` with :math:`H_e = G H` and :math:`D = \mathrm{diag}(2\alpha_i^2 E[Q(u_i)^2] - E_s G_i^2
    \|h_i\|^2)`, :math:`h_i` the i-th row of :math:`H` (the same model as
    :func:`hwsim.designs.bussgang_linearization`, whose off-diagonal terms are :math:`G_i G_j [C_{yy}]_{ij}`).
    Costs :math:`O(N K)` per frame. Returns None where it does not hold (use :func:`linear_model`).
    """
    _check_observation(obs)
    if obs.noise_cov is not None:
        return None
    H = np.asarray(obs.H, dtype=np.complex128)
    es = float(np.mean(np.abs(obs.constellation.points) ** 2))
    n0 = float(obs.noise_var)
    f, n, _ = H.shape
    if obs.adc is None:
        if n0 <= 0:
            return None
        return LinearModel(H=H, H_eff=H, C_n=None, C_e=None, es=es, d_e=np.full((f, n), n0))
    adc = obs.adc
    if (adc.n_levels == 2 and adc.thresholds[0] == 0.0) or not _symmetric(adc):
        return None
    from hwsim.designs.scalar import bussgang_gain_and_power  # noqa: PLC0415 - only quantized links need it

    alpha = np.asarray(obs.scale, dtype=np.float64)
    if alpha.shape != (f, n) or not np.all(np.isfinite(alpha)) or np.any(alpha <= 0):
        return None  # linear_model's checks report it
    row_power = es * np.sum(np.abs(H) ** 2, axis=2)                 # E_s ||h_i||^2, [F, N]
    sigma = np.sqrt((row_power + n0) / 2.0) / alpha                  # std at the table input
    gain, power = bussgang_gain_and_power(adc, sigma)
    G = np.asarray(gain, dtype=np.float64).reshape(f, n)
    out_power = np.asarray(power, dtype=np.float64).reshape(f, n)
    d_e = 2.0 * alpha**2 * out_power - G**2 * row_power
    if not np.all(d_e > 0):
        return None
    return LinearModel(H=H, H_eff=G[:, :, None] * H, C_n=None, C_e=None, es=es, G=G, d_e=d_e)


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
    if model.d_e is not None:  # diagonal C_e
        noise = np.einsum("fkn,fn->fk", (W * W.conj()).real, model.d_e)
    else:
        noise = np.sum((W @ model.C_e) * W.conj(), axis=2).real  # (W C_e W^H)_kk, by BLAS
    g2 = np.abs(gain) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (np.maximum(interference, 0.0) + np.maximum(noise, 0.0)) / g2
    var = np.where(g2 > 0, var, np.inf)
    return gain, var


def _apply(W: np.ndarray, r: np.ndarray) -> np.ndarray:
    """z = W r per frame: W [F, K, N], r [F, L, N] -> [F, L, K], one matrix product R W^T per frame."""
    return np.matmul(r, np.swapaxes(W, 1, 2))


#: ``precision`` values of the linear detectors -> complex dtype of their filters.
PRECISIONS = {"float64": np.complex128, "float32": np.complex64}


def _cast(model: LinearModel, precision: str) -> LinearModel:
    """The model's matrices in the detector's precision (a no-op for float64)."""
    if precision == "float64":
        return model
    c, f = PRECISIONS[precision], np.float32

    def cast(a, dtype):
        return None if a is None else np.asarray(a).astype(dtype)

    return LinearModel(H=cast(model.H, c), H_eff=cast(model.H_eff, c), C_n=cast(model.C_n, c),
                       C_e=cast(model.C_e, c), es=model.es, G=cast(model.G, f), C_rr=cast(model.C_rr, c),
                       d_e=cast(model.d_e, f))


class LinearDetector(Detector):
    """Base of the linear detectors: a filter per frame, unbiased decisions and max-log LLRs.

    Parameters
    ----------
    llr : bool
        Compute max-log LLRs (default True); ``Decision.llr`` is None otherwise.
    precision : {"float64", "float32"}
        Arithmetic of the filter, its statistics and its application: complex128 (default) or
        complex64. The linear(ized) model is always computed in float64 and then rounded.
    device : str
        Where the detector computes: ``"cpu"`` (default) with NumPy; ``"torch:cpu"`` with PyTorch on the
        CPU; ``"cuda"`` or ``"cuda:N"`` (also spelled ``"torch:cuda"``, ``"torch:cuda:N"``) with PyTorch
        on that GPU. The torch path computes the model's matrices, the filter, its statistics, its
        application and the decisions and LLRs on the device (see the module's text) and returns the same
        :class:`~hwsim.receivers.base.Decision`; a device torch cannot reach here is refused when the
        detector is built (``ValueError`` naming ``receiver.device`` and the devices there are).
    """

    error_directions = "linear"  # importance sampling biases the noise toward this filter's boundaries
    UNHASHED_DEFAULTS = ("device",)  # added later; "cpu" is the earlier NumPy path: earlier sweeps resume

    def __init__(self, *, llr: bool = True, precision: Literal["float64", "float32"] = "float64",
                 device: str = "cpu"):
        super().__init__()  # the registry has checked the values (precision one of PRECISIONS) and set self.params
        key = f"{self.kind or 'receiver'}.device"
        #: The torch device of the torch path, or None: the NumPy path (``device = "cpu"``).
        self._torch_device = None if device == "cpu" else _reachable(key, device, _torch_device_name(key, device))
        self._slicers: dict = {}

    def filter(self, obs: Observation, model: LinearModel | None = None) -> np.ndarray:
        """The filter of each frame, complex [F, K, N]."""
        raise NotImplementedError  # pragma: no cover - interface

    def _torch_filter(self, obs: Observation, model: LinearModel, torch):
        """:meth:`filter` on the torch path: ``model`` holds tensors on the detector's device."""
        raise NotImplementedError  # pragma: no cover - interface

    def equalize(self, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        """Unbiased outputs complex [F, L, K] and their noise-plus-interference variances float [F, K]."""
        if getattr(self, "_torch_device", None) is not None:
            z, var = self._torch_equalize(obs)
            return z.cpu().numpy(), var.cpu().numpy()
        precision = self.params.get("precision", "float64")
        model = diagonal_model(obs)
        model = _cast(model if model is not None else linear_model(obs), precision)
        W = self.filter(obs, model)
        gain, var = stream_statistics(W, model)
        z = _apply(W, np.asarray(obs.r, dtype=PRECISIONS[precision]))
        safe = np.where(gain != 0, gain, 1.0)
        z /= safe[:, None, :]
        return z, var

    def detect(self, obs: Observation) -> Decision:
        if getattr(self, "_torch_device", None) is not None:
            return self._torch_detect(obs)
        z, var = self.equalize(obs)
        return decide(z, var, obs.constellation, self.params["llr"])

    # ------------------------------------------------------------------ the torch path
    def _torch_equalize(self, obs: Observation):
        """:meth:`equalize` on the detector's torch device: (z complex [F, L, K], var real [F, K]) tensors there."""
        import torch  # noqa: PLC0415 - only the torch path imports it

        precision = self.params.get("precision", "float64")
        dev = self._torch_device
        with torch.no_grad():
            model = _torch_cast(_torch_model(obs, torch, dev), precision, torch)
            W = self._torch_filter(obs, model, torch)
            gain, var = _torch_statistics(W, model, torch)
            z = _torch_array(obs.r, PRECISIONS[precision], torch, dev) @ W.transpose(1, 2)
            safe = torch.where(gain != 0, gain, torch.ones((), dtype=gain.dtype, device=dev))
            z /= safe[:, None, :]
        return z, var

    def _torch_detect(self, obs: Observation) -> Decision:
        import torch  # noqa: PLC0415 - only the torch path imports it

        c = obs.constellation
        key = (c.bits_per_symbol, bool(c.is_real), np.asarray(c.points).tobytes())
        slicer = self._slicers.get(key)
        if slicer is None:
            slicer = self._slicers[key] = _TorchSlicer(c, torch, self._torch_device)
        z, var = self._torch_equalize(obs)
        with torch.no_grad():
            indices, llrs = slicer.decide(z, var, self.params["llr"])
        return Decision(indices=indices.cpu().numpy(), llr=None if llrs is None else llrs.cpu().numpy())


def decide(z: np.ndarray, var: np.ndarray, constellation, llr: bool) -> Decision:
    """Hard decisions on the unbiased outputs ``z`` complex [F, L, K] and, with ``llr``, max-log LLRs with
    each stream's noise-plus-interference variance ``var`` float [F, K] (shared by the linear detectors)."""
    indices = np.asarray(constellation.hard_decision(z), dtype=np.int64)
    llrs = None
    if llr:
        v = np.clip(var.astype(np.float64), _MIN_VAR, np.finfo(np.float64).max)[:, None, :]
        llrs = constellation.llr(z, np.broadcast_to(v, z.shape))
    return Decision(indices=indices, llr=llrs)


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

    def _torch_filter(self, obs, model, torch):
        H = model.H
        energy = torch.sum(torch.abs(H) ** 2, dim=1)  # [F, K]
        if bool(torch.any(energy == 0)):
            raise ValueError("obs.H has an all-zero column (a user the receiver cannot see); MRC needs every "
                             "column nonzero")
        return H.mH / energy[:, :, None]


@register("receiver", "zf")
class ZF(LinearDetector):
    r"""Zero forcing, :math:`W = (H^H H)^{-1} H^H`; needs :math:`N \ge K` and full column rank."""

    def check_dimensions(self, *, users: int, inputs: int, constellation) -> None:
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
        tol = s[:, :1] * max(n, k) * np.finfo(s.dtype).eps
        bad = np.flatnonzero(np.any(s <= tol, axis=1))
        if bad.size:
            raise ValueError(f"obs.H is rank deficient (rank < K = {k}) in frame(s) {bad[:5].tolist()}; "
                             "zero forcing needs full column rank")
        Hh = _hermitian(H)
        return np.linalg.solve(Hh @ H, Hh)

    def _torch_filter(self, obs, model, torch):
        H = model.H
        _, n, k = H.shape
        if n < k:
            raise ValueError(f"zero forcing needs at least as many antennas as users (N >= K), got N = {n}, K = {k}")
        s = torch.linalg.svdvals(H)  # [F, K], descending
        tol = s[:, :1] * max(n, k) * torch.finfo(s.dtype).eps
        bad = torch.nonzero(torch.any(s <= tol, dim=1)).flatten().cpu().numpy()
        if bad.size:
            raise ValueError(f"obs.H is rank deficient (rank < K = {k}) in frame(s) {bad[:5].tolist()}; "
                             "zero forcing needs full column rank")
        Hh = H.mH
        return torch.linalg.solve(Hh @ H, Hh)


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
            gram = Hh @ H + (float(obs.noise_var) / model.es) * np.eye(k, dtype=H.dtype)
            return np.linalg.solve(gram, Hh)
        # W^H = (H H^H + C_n/Es)^{-1} H, the matrix being Hermitian
        return _hermitian(np.linalg.solve(H @ Hh + model.C_n / model.es, H))

    def _torch_filter(self, obs, model, torch):
        H = model.H
        Hh = H.mH
        k = H.shape[2]
        if obs.noise_cov is None:
            gram = Hh @ H + (float(obs.noise_var) / model.es) * torch.eye(k, dtype=H.dtype, device=H.device)
            return torch.linalg.solve(gram, Hh)
        return torch.linalg.solve(H @ Hh + model.C_n / model.es, H).mH


@register("receiver", "blmmse")
class BLMMSE(LinearDetector):
    r"""Bussgang linear MMSE, :math:`W = E_s H^H G C_{rr}^{-1}` (:math:`G` diagonal, real).

    Works for any converter table through :func:`hwsim.designs.bussgang_linearization`; for an
    unquantized observation it is :class:`LMMSE`. Where :math:`C_{rr} = E_s H_e H_e^H + D` with
    :math:`D` diagonal (white noise, a symmetric multi-bit table: :func:`diagonal_model`) the same
    filter is computed in its :math:`K \times K` form
    :math:`W = (H_e^H D^{-1} H_e + I/E_s)^{-1} H_e^H D^{-1}`, :math:`O(N K^2)` per frame instead of
    the :math:`O(N^3)` solve with :math:`C_{rr}`.

    Converters that quantize without a real decision table per I and Q sample (a vector bank,
    ``adc.scalar_cells`` False) give no Bussgang gain, and the filter would silently be LMMSE's: such a
    link is refused (:meth:`check_link`).
    """

    def check_link(self, link) -> None:
        """Refuse a quantizing bank without per-axis cells (where BLMMSE would be LMMSE)."""
        from hwsim.converters.banks import require_scalar_cells

        require_scalar_cells(link, self.name, "receiver.type = \"lmmse\", which is what blmmse would compute there")

    def filter(self, obs, model=None):
        model = model if model is not None else linear_model(obs)
        if model.G is None:
            return LMMSE.filter(self, obs, model)
        if model.d_e is not None:
            # C_rr = Es H_e H_e^H + D, D diagonal: W = (H_e^H D^-1 H_e + I/Es)^-1 H_e^H D^-1 (K x K)
            k = model.H_eff.shape[2]
            Hd = _hermitian(model.H_eff) / model.d_e[:, None, :]           # H_e^H D^-1, [F, K, N]
            gram = Hd @ model.H_eff + np.eye(k, dtype=model.H_eff.dtype) / model.es
            return np.linalg.solve(gram, Hd)
        # W^H = C_rr^{-1} G H Es, C_rr Hermitian
        return _hermitian(np.linalg.solve(model.C_rr, model.es * model.H_eff))

    def _torch_filter(self, obs, model, torch):
        if model.G is None:
            return LMMSE._torch_filter(self, obs, model, torch)
        He = model.H_eff
        if model.d_e is not None:
            k = He.shape[2]
            Hd = He.mH / model.d_e[:, None, :]                              # H_e^H D^-1, [F, K, N]
            gram = Hd @ He + torch.eye(k, dtype=He.dtype, device=He.device) / model.es
            return torch.linalg.solve(gram, Hd)
        return torch.linalg.solve(model.C_rr, model.es * He).mH


# ---------------------------------------------------------------------- the torch path (device other than "cpu")
#: ``device`` spellings of the torch path: ``torch:cpu``, ``cuda``, ``cuda:N``, ``torch:cuda``, ``torch:cuda:N``.
_TORCH_DEVICE = re.compile(r"(?:torch:(cpu|cuda(?::[0-9]+)?))|(cuda(?::[0-9]+)?)")
_DEVICES = '"cpu" (NumPy), "torch:cpu" (torch on the CPU), "cuda" or "cuda:N" (torch on a GPU)'


def _torch_device_name(key: str, device) -> str | None:
    """The torch device a linear detector's ``device`` names (``"cpu"``, ``"cuda"``, ``"cuda:1"``), or None
    for ``"cpu"`` (NumPy); a ``ValueError`` naming ``key`` for any other spelling. Imports nothing."""
    if device == "cpu":
        return None
    m = _TORCH_DEVICE.fullmatch(device) if isinstance(device, str) else None
    if m is None:
        raise ValueError(f"{key} must be {_DEVICES}, got {device!r}")
    return m.group(1) or m.group(2)


def _reachable(key: str, device: str, name: str):
    """The ``torch.device`` of ``name``, imported and checked here: a ``ValueError`` naming ``key`` and the
    devices there are where torch is missing or cannot reach it."""
    try:
        import torch  # noqa: PLC0415 - only the torch path imports it
    except ImportError as exc:
        raise ValueError(f"{key} = {device!r} runs the detector in PyTorch, which is not installed here ({exc}); "
                         f'use {key} = "cpu" (NumPy)') from exc
    if name.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(name[5:]) if ":" in name else 0
        if index >= count:
            there = (f"CUDA devices cuda:0 .. cuda:{count - 1}" if count else
                     f"no CUDA GPU (torch {torch.__version__}, torch.cuda.is_available() is False)")
            raise ValueError(f"{key} = {device!r}: torch sees {there} here; available: \"cpu\" (NumPy), "
                             f"\"torch:cpu\"" + (', "cuda"' + "".join(f', "cuda:{i}"' for i in range(count))
                                                 if count else ""))
    return torch.device(name)


def _torch_array(a, dtype, torch, device):
    """``a`` as a tensor of the NumPy ``dtype`` on ``device`` (no copy on the CPU where it is already one)."""
    a = np.asarray(a, dtype=dtype)
    if not a.flags.writeable:
        a = a.copy()  # torch shares the memory and wants it writeable
    return torch.as_tensor(a, device=device)


def _torch_model(obs: Observation, torch, device) -> LinearModel:
    """:func:`diagonal_model` or :func:`linear_model` of ``obs`` with tensors on ``device`` (float64 / complex128),
    every matrix and per-antenna statistic computed there."""
    model = _torch_diagonal_model(obs, torch, device)
    if model is not None:
        return model
    f, _, n, _ = _check_observation(obs)
    H = _torch_array(obs.H, np.complex128, torch, device)
    es = float(np.mean(np.abs(obs.constellation.points) ** 2))
    if obs.noise_cov is None:
        C_n = (float(obs.noise_var) * torch.eye(n, dtype=torch.complex128, device=device)).expand(f, n, n)
    else:
        C_n = _torch_array(noise_covariance(obs), np.complex128, torch, device)
    if obs.adc is None:
        return LinearModel(H=H, H_eff=H, C_n=C_n, C_e=C_n, es=es)
    C_yy = es * H @ H.mH + C_n
    G, C_rr = _torch_bussgang(obs.adc, obs.scale, C_yy, torch)
    H_eff = G[:, :, None] * H
    C_e = C_rr - es * H_eff @ H_eff.mH
    C_e = 0.5 * (C_e + C_e.mH)
    return LinearModel(H=H, H_eff=H_eff, C_n=C_n, C_e=C_e, es=es, G=G, C_rr=C_rr)


def _torch_diagonal_model(obs: Observation, torch, device) -> LinearModel | None:
    """:func:`diagonal_model` with its :math:`O(F N K)` work on ``device``; None where it does not hold."""
    _check_observation(obs)
    if obs.noise_cov is not None:
        return None
    es = float(np.mean(np.abs(obs.constellation.points) ** 2))
    n0 = float(obs.noise_var)
    f, n, _ = np.shape(obs.H)
    adc = obs.adc
    if adc is None:
        if n0 <= 0:
            return None
        H = _torch_array(obs.H, np.complex128, torch, device)
        return LinearModel(H=H, H_eff=H, C_n=None, C_e=None, es=es,
                           d_e=torch.full((f, n), n0, dtype=torch.float64, device=device))
    if (adc.n_levels == 2 and adc.thresholds[0] == 0.0) or not _symmetric(adc):
        return None
    alpha = np.asarray(obs.scale, dtype=np.float64)
    if alpha.shape != (f, n) or not np.all(np.isfinite(alpha)) or np.any(alpha <= 0):
        return None  # linear_model's checks report it
    H = _torch_array(obs.H, np.complex128, torch, device)
    a = _torch_array(alpha, np.float64, torch, device)
    row_power = es * torch.sum(torch.abs(H) ** 2, dim=2)                 # E_s ||h_i||^2, [F, N]
    sigma = torch.sqrt((row_power + n0) / 2.0) / a                        # std at the table input
    if not bool(torch.all(sigma > 0)):
        return diagonal_model(obs)  # NumPy's checks report it (a zero row without noise)
    P, m1 = _torch_moments(adc, sigma, torch)
    levels = _torch_array(adc.levels, np.float64, torch, device)
    G = (m1 @ levels) / sigma
    d_e = 2.0 * a**2 * (P @ levels**2) - G**2 * row_power
    if not bool(torch.all(d_e > 0)):
        return None
    return LinearModel(H=H, H_eff=G[:, :, None] * H, C_n=None, C_e=None, es=es, G=G, d_e=d_e)


def _torch_moments(adc, std, torch):
    """Cell masses and first partial moments of :math:`u = x/\\sigma` per cell (``hwsim.designs.scalar``'s
    ``_partial_moments``) for the input standard deviations ``std`` (a tensor): each ``std.shape + (M,)``."""
    edges = _torch_array(adc.cell_edges, np.float64, torch, std.device)
    z = edges / std[..., None]                                            # +-inf at the ends
    pdf = _INV_SQRT_2PI * torch.exp(-0.5 * z * z)                         # 0 at +-inf
    lo, hi = z[..., :-1], z[..., 1:]
    ndtr = torch.special.ndtr
    mass = torch.where(lo >= 0, ndtr(-lo) - ndtr(-hi), ndtr(hi) - ndtr(lo))  # upper tails in the right half
    return mass, pdf[..., :-1] - pdf[..., 1:]


def _torch_bussgang(adc, scale, C, torch):
    """:func:`hwsim.designs.bussgang_linearization` with ``C_yy`` a tensor: (G [F, N], C_rr [F, N, N]) there.

    The same model and checks, computed on ``C``'s device."""
    from hwsim import _checks  # noqa: PLC0415

    alpha = _checks.finite_array("scale", scale, ndim=2)
    if np.any(alpha <= 0):
        raise ValueError(f"scale must be > 0, got minimum {alpha.min()}")
    F, N = alpha.shape
    if tuple(C.shape) != (F, N, N):
        raise ValueError(f"C_yy must have shape [F, N, N] = {(F, N, N)} to match scale {alpha.shape}, "
                         f"got {tuple(C.shape)}")
    if not bool(torch.all(torch.isfinite(C))):
        raise ValueError("C_yy must be finite")
    power = torch.diagonal(C, dim1=1, dim2=2).real                        # E|y_i|^2, [F, N]
    if not bool(torch.all(power > 0)):
        raise ValueError("C_yy must have a positive diagonal (the power at each converter input)")
    tol = 1e-8 * float(torch.max(torch.abs(C)))
    if bool(torch.any(torch.abs(C - C.mH) > tol)):
        raise ValueError("C_yy must be Hermitian")
    a = _torch_array(alpha, np.float64, torch, C.device)
    sigma = torch.sqrt(power / 2.0) / a
    P, m1 = _torch_moments(adc, sigma, torch)
    levels = _torch_array(adc.levels, np.float64, torch, C.device)
    G = (m1 @ levels) / sigma
    out_power = P @ levels**2
    aa = a[:, :, None] * a[:, None, :]                                   # alpha_i alpha_j
    t, q = adc.thresholds, adc.levels
    if adc.n_levels == 2 and t[0] == 0.0:
        mu, c = 0.5 * (q[0] + q[1]), 0.5 * (q[1] - q[0])
        rho = C / torch.sqrt(power[:, :, None] * power[:, None, :])
        arcsin = torch.complex(torch.asin(torch.clamp(rho.real, -1, 1)), torch.asin(torch.clamp(rho.imag, -1, 1)))
        C_rr = aa * (2 * mu * mu + (4.0 / np.pi) * c * c * arcsin)
    else:
        mu = P @ levels                                                   # E[Q(u_i)]
        C_rr = G[:, :, None] * G[:, None, :] * C + 2.0 * aa * mu[:, :, None] * mu[:, None, :]
    torch.diagonal(C_rr, dim1=1, dim2=2).copy_(2.0 * a**2 * out_power)
    return G, C_rr


def _torch_cast(model: LinearModel, precision: str, torch) -> LinearModel:
    """:func:`_cast` of a model of tensors."""
    if precision == "float64":
        return model

    def cast(a, dtype):
        return None if a is None else a.to(dtype)

    c, f = torch.complex64, torch.float32
    return LinearModel(H=cast(model.H, c), H_eff=cast(model.H_eff, c), C_n=cast(model.C_n, c),
                       C_e=cast(model.C_e, c), es=model.es, G=cast(model.G, f), C_rr=cast(model.C_rr, c),
                       d_e=cast(model.d_e, f))


def _torch_statistics(W, model: LinearModel, torch):
    """:func:`stream_statistics` of tensors: (gain complex [F, K], var real [F, K])."""
    A = W @ model.H_eff  # [F, K, K]
    gain = torch.diagonal(A, dim1=1, dim2=2).clone()
    power = torch.abs(A) ** 2
    g2 = torch.abs(gain) ** 2
    interference = model.es * (power.sum(dim=2) - g2)
    if model.d_e is not None:  # diagonal C_e
        noise = torch.einsum("fkn,fn->fk", (W * W.conj()).real, model.d_e)
    else:
        noise = torch.sum((W @ model.C_e) * W.conj(), dim=2).real  # (W C_e W^H)_kk
    var = (torch.clamp(interference, min=0.0) + torch.clamp(noise, min=0.0)) / g2
    return gain, torch.where(g2 > 0, var, torch.full((), float("inf"), dtype=var.dtype, device=var.device))


class _TorchSlicer:
    """:meth:`hwsim.channels.Constellation.hard_decision` and :meth:`~hwsim.channels.Constellation.llr` of one
    constellation on a torch device (per real axis, as there), with its tables read from the constellation's
    public slicing on its own axis points."""

    def __init__(self, constellation, torch, device):
        amp = np.asarray(constellation.axis_points, dtype=np.float64)
        self.torch, self.m = torch, amp.size
        self.a0, self.step = amp[0], amp[1] - amp[0]
        self.axes = 1 if constellation.is_real else 2
        ab = constellation.bits_per_symbol // self.axes
        if self.axes == 1:
            index = np.asarray(constellation.hard_decision(amp.astype(np.complex128)), dtype=np.int64)  # [m]
            labels = [constellation.bits(index)]
        else:
            index = np.asarray(constellation.hard_decision(amp[:, None] + 1j * amp[None, :]), dtype=np.int64)
            bits = constellation.bits(index)                               # [m, m, bits]
            labels = [bits[:, 0, :ab], bits[0, :, ab:]]                   # I axis bits, Q axis bits
        self.index = torch.as_tensor(index.reshape(-1), device=device)
        self.amp = torch.as_tensor(amp, device=device)
        # per axis and bit: positions labelled 1 and 0
        self.sets = [[(torch.as_tensor(np.flatnonzero(lab[:, j] == 1), device=device),
                       torch.as_tensor(np.flatnonzero(lab[:, j] == 0), device=device)) for j in range(ab)]
                     for lab in labels]

    def _position(self, v):
        return _clamp_round(self.torch, (v - self.a0) / self.step, self.m)

    def _axis_llr(self, v, half, sets):
        d2 = (v[..., None] - self.amp) ** 2                                # [..., m]
        t = self.torch
        out = t.stack([t.amin(d2.index_select(-1, zero), dim=-1) - t.amin(d2.index_select(-1, one), dim=-1)
                       for one, zero in sets], dim=-1)
        return out / (2 * half[..., None])

    def decide(self, z, var, llr: bool):
        """(indices int64 [F, L, K], max-log LLRs float64 [F, L, K, bits] or None) of ``z`` [F, L, K]."""
        t = self.torch
        re = z.real.to(t.float64)
        first = self._position(re)
        if self.axes == 1:
            indices = self.index[first]
        else:
            im = z.imag.to(t.float64)
            indices = self.index[first * self.m + self._position(im)]
        if not llr:
            return indices, None
        v = t.clamp(var.to(t.float64), _MIN_VAR, np.finfo(np.float64).max)[:, None, :].expand(z.shape)
        if bool(t.any(~(v > 0))):
            raise ValueError("noise_var must be positive")
        half = v / 2  # per real axis
        parts = [self._axis_llr(re, half, self.sets[0])]
        if self.axes == 2:
            parts.append(self._axis_llr(im, half, self.sets[1]))
        return indices, t.cat(parts, dim=-1)


def _clamp_round(torch, x, m: int):
    """Nearest position ``round(x)`` (half to even, as :func:`numpy.rint`) clipped to ``0 .. m-1``, int64."""
    return torch.clamp(torch.round(x), 0, m - 1).to(torch.int64)
