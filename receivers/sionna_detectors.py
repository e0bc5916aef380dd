r"""Sionna's nonlinear MIMO detectors (K-best, EP, MMSE-PIC) as hwsim receivers.

Each detector hands Sionna 2.2 (``sionna.phy.mimo``, PyTorch) the linear(ized) model of the
observation from :func:`hwsim.receivers.linear.linear_model`:

- unquantized: :math:`r = H s + n`, noise covariance :math:`C_e = N_0 I` (or ``obs.noise_cov``);
- quantized: the Bussgang model :math:`r = G H s + e` with
  :math:`C_e = C_{rr} - E_s G H H^H G` from :func:`hwsim.designs.bussgang_linearization`
  (:math:`e` = filtered noise plus distortion, treated as Gaussian).

Sionna's detectors whiten with the noise covariance of *every received vector*. Under block
fading the model is the same for the ``L`` samples of a frame, so it is reduced once per
frame, exactly: with :math:`C_e = L_e L_e^H` (Cholesky) and the thin QR decomposition
:math:`L_e^{-1} H_e = Q R`, the statistic :math:`\bar r = Q^H L_e^{-1} r = R s + w`,
:math:`w \sim \mathcal{CN}(0, I)`, is sufficient for :math:`s` (the part of
:math:`L_e^{-1} r` orthogonal to :math:`Q` carries no signal and independent noise), and
:math:`\lVert L_e^{-1}(r - H_e x)\rVert^2 = \lVert \bar r - R x\rVert^2 + \text{const}`. Sionna
then gets ``y`` = :math:`\bar r` [P], ``h`` = :math:`R` [P, K] and ``s`` = :math:`I_P`
(:math:`P = \min(N, K)`), which
gives the same metrics, LLRs and decisions as the full ``(r, H_e, C_e)`` (a test checks it) at
a fraction of the memory. Received vectors are processed in chunks of about ``chunk`` vectors
(whole frames).

Constellation and labels: K-best and MMSE-PIC get a Sionna *custom* constellation built from
``obs.constellation.points``, so Sionna's symbol index is hwsim's index and Sionna's bit label
of index ``q`` (binary digits of ``q``, MSB first) is hwsim's. Sionna's EP only knows its own
QAM (3GPP labelling, real and imaginary bits interleaved); its symbol logits are mapped to
hwsim's indices point by point and the bit LLRs are computed from them (max-log). LLRs follow
Sionna's and hwsim's convention :math:`\ln P(b=1)/P(b=0)`.

Hard decisions: K-best -- the best candidate; EP -- the most likely symbol per stream (the
argmax of the symbol logits, consistent with the max-log LLR signs); MMSE-PIC -- the bit
decisions (signs of the LLRs) read as an index. With ``llr=True`` the K-best and MMSE-PIC
indices are the LLR signs read as an index (the best candidate's labels, except for exact ties).
K-best LLRs are max-log over the final candidate list, a bit without a counter-hypothesis gets
+-``llr_clip`` (Sionna's ``List2LLRSimple`` rule, re-implemented without its ``torch.compile``,
which costs about 90 s on the first call on a CPU).

Computation is in float64 / complex128 (Sionna ``precision="double"``) on the CPU unless the
``precision`` / ``device`` parameters say otherwise (``"single"``: float32 / complex64, the
results are returned as float64 either way). Sionna is imported on first use, not with
:mod:`hwsim.receivers`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from hwsim.components import register

from .base import Decision, Detector, Observation
from .linear import _hermitian, linear_model

#: Precisions Sionna accepts and the numpy complex type of each.
_PRECISIONS = {"double": np.complex128, "single": np.complex64}


def _sionna():
    """The Sionna modules used here (imported on first use: importing Sionna takes seconds)."""
    import sionna.phy.mapping as mapping  # noqa: PLC0415
    import sionna.phy.mimo as mimo  # noqa: PLC0415

    return mapping, mimo


def _labels(bits: int) -> np.ndarray:
    """Bit labels of every index, bool [2**bits, bits] (MSB first)."""
    q = np.arange(2**bits)
    return ((q[:, None] >> np.arange(bits - 1, -1, -1)) & 1).astype(bool)


def _pack(bits: np.ndarray) -> np.ndarray:
    """Indices whose labels are ``bits`` (bool [..., b], MSB first), int64 [...]."""
    b = bits.shape[-1]
    return (bits.astype(np.int64) << np.arange(b - 1, -1, -1)).sum(axis=-1)


def _maxlog_from_logits(logits, bits: int):
    """Max-log bit LLRs [..., bits] of symbol logits [..., 2**bits] (torch), hwsim labels."""
    import torch  # noqa: PLC0415

    lab = _labels(bits)
    out = []
    for j in range(bits):
        one = torch.as_tensor(np.flatnonzero(lab[:, j]), device=logits.device)
        zero = torch.as_tensor(np.flatnonzero(~lab[:, j]), device=logits.device)
        out.append(logits[..., one].amax(-1) - logits[..., zero].amax(-1))
    return torch.stack(out, dim=-1)


#: Lazily built Sionna-dependent classes.
_CACHE: dict = {}


def _list2llr_class():
    """A Sionna ``List2LLR`` (max-log LLRs from the K-best list) without ``torch.compile``.

    Sionna's default ``List2LLRSimple`` compiles a helper with ``torch.compile`` on first call
    (about 90 s on a CPU); this computes the same quantity in eager mode.
    """
    cls = _CACHE.get("list2llr")
    if cls is not None:
        return cls
    import torch  # noqa: PLC0415

    _, mimo = _sionna()

    class ListMaxLog(mimo.List2LLR):
        r""":math:`\min_{j: b=0} d_j - \min_{j: b=1} d_j` over the candidates, clipped to +-clip."""

        def __init__(self, bits: int, clip: float, **kwargs):
            super().__init__(**kwargs)
            self._lab = torch.as_tensor(_labels(bits), device=self.device)
            self._clip = float(clip)

        def call(self, y, r, dists, path_inds, path_syms):
            if not y.is_complex():  # real-valued representation: half the noise per dimension
                dists = dists / 2.0
            ones = self._lab[path_inds.long()]  # [B, paths, streams, bits]
            d = dists[:, :, None, None]
            inf = torch.full((), float("inf"), dtype=d.dtype, device=d.device)
            l0 = torch.where(ones, inf, d).amin(dim=1)
            l1 = torch.where(ones, d, inf).amin(dim=1)
            return (l0 - l1).clamp(-self._clip, self._clip)

    _CACHE["list2llr"] = ListMaxLog
    return ListMaxLog


def reduced_model(obs: Observation) -> tuple[np.ndarray, np.ndarray]:
    r"""The whitened, compressed model of each frame: :math:`\bar r = R s + \mathcal{CN}(0, I)`.

    Parameters
    ----------
    obs : Observation

    Returns
    -------
    y : complex [F, L, P]
        :math:`\bar r = Q^H L_e^{-1} r`, ``P = min(N, K)``.
    R : complex [F, P, K]
        Upper-triangular (trapezoidal when ``N < K``) factor of :math:`L_e^{-1} H_e = Q R`.
    """
    model = linear_model(obs)
    if obs.adc is None and obs.noise_cov is None and not float(obs.noise_var) > 0:
        raise ValueError(f"obs.noise_var must be > 0 for Sionna's detectors (they whiten the noise), "
                         f"got {obs.noise_var!r}")
    C_e = np.ascontiguousarray(model.C_e)
    try:
        chol = np.linalg.cholesky(C_e)
    except np.linalg.LinAlgError:
        raise ValueError("the noise(-plus-distortion) covariance of the observation is not positive definite; "
                         "Sionna's detectors need it to whiten the noise (noise_var = 0 or a singular "
                         "noise_cov?)") from None
    Hw = np.linalg.solve(chol, model.H_eff)  # L^{-1} H_e, [F, N, K]
    Q, R = np.linalg.qr(Hw)  # thin: Q [F, N, P], R [F, P, K]
    A = _hermitian(np.linalg.solve(_hermitian(chol), Q))  # Q^H L^{-1}, [F, P, N]
    y = np.einsum("fpn,fln->flp", A, np.asarray(obs.r, dtype=np.complex128), optimize=True)
    return y, R


class SionnaDetector(Detector):
    """Base of the Sionna-backed detectors: the reduced model, chunking and conversions.

    Parameters
    ----------
    llr : bool
        Return max-log LLRs (default True); False asks Sionna for hard symbol decisions only.
    chunk : int
        Received vectors per Sionna call (rounded to whole frames, at least one frame; default 8192).
    precision : {"double", "single"}
        ``"double"`` (float64 / complex128, default) or ``"single"`` (float32 / complex64).
    device : str
        Torch device Sionna runs on (default ``"cpu"``; e.g. ``"cuda"``).
    """

    def __init__(self, *, llr: bool = True, chunk: int = 8192, precision: Literal["double", "single"] = "double",
                 device: str = "cpu"):
        super().__init__()  # the registry has checked the values (precision one of _PRECISIONS) and set self.params
        if chunk < 1:
            raise ValueError(f"receiver.chunk must be >= 1 (received vectors per Sionna call), got {chunk}")
        if not device:
            raise ValueError("receiver.device must name a torch device (e.g. 'cpu', 'cuda'), got ''")
        self._detectors: dict = {}

    # -- what a subclass provides ---------------------------------------------------------
    def _build(self, users: int, constellation):
        """The Sionna block for ``users`` streams of ``constellation`` (hwsim QAM), and a dict of
        what :meth:`_run` needs besides it."""
        raise NotImplementedError  # pragma: no cover - interface

    def _run(self, det, y, h, s, constellation):
        """Call ``det`` = (block, aux); returns (indices int64 numpy [B, K], llr float64 numpy
        [B, K, b] or None)."""
        raise NotImplementedError  # pragma: no cover - interface

    # -- shared ---------------------------------------------------------------------------
    def check_dimensions(self, *, users: int, inputs: int, constellation) -> None:
        """Refuse a link this detector cannot serve, before it runs (override to add rules)."""

    def sionna_constellation(self, constellation):
        """A Sionna custom constellation with hwsim's points in hwsim's index order."""
        mapping, _ = _sionna()
        pts = np.asarray(constellation.points, dtype=np.complex128)
        return mapping.Constellation("custom", int(constellation.bits_per_symbol), points=pts,
                                     precision=self.params["precision"], device=self.params["device"])

    def _detector(self, users: int, constellation):
        key = (users, constellation.bits_per_symbol, constellation.points.tobytes())
        det = self._detectors.get(key)
        if det is None:
            det = self._detectors[key] = self._build(users, constellation)
        return det

    def _tensor(self, a: np.ndarray):
        import torch  # noqa: PLC0415

        a = np.ascontiguousarray(a, dtype=_PRECISIONS[self.params["precision"]])
        return torch.from_numpy(a).to(self.params["device"])

    def detect(self, obs: Observation) -> Decision:
        c = obs.constellation
        f, l, n, k = obs.shape
        self.check_dimensions(users=k, inputs=n, constellation=c)
        y, R = reduced_model(obs)
        p = R.shape[1]
        det = self._detector(k, c)
        step = max(1, self.params["chunk"] // max(l, 1))
        indices = np.empty((f, l, k), dtype=np.int64)
        llr = np.empty((f, l, k, c.bits_per_symbol)) if self.params["llr"] else None
        eye = np.eye(p, dtype=np.complex128)
        for lo in range(0, f, step):
            hi = min(f, lo + step)
            m = (hi - lo) * l
            yy = self._tensor(y[lo:hi].reshape(m, p))
            hh = self._tensor(np.broadcast_to(R[lo:hi, None], (hi - lo, l, p, k)).reshape(m, p, k))
            ss = self._tensor(np.broadcast_to(eye, (m, p, p)))
            idx, ll = self._run(det, yy, hh, ss, c)
            indices[lo:hi] = idx.reshape(hi - lo, l, k)
            if llr is not None:
                llr[lo:hi] = ll.reshape(hi - lo, l, k, -1)
        return Decision(indices=indices, llr=llr)


def _numpy(t) -> np.ndarray:
    return t.detach().cpu().numpy()


@register("receiver", "kbest")
class KBest(SionnaDetector):
    """Sionna's K-best detector (complex domain) on the Bussgang-linearized model.

    Parameters
    ----------
    list_size : int
        Candidates kept per layer (Sionna's ``k``; default 32; capped at ``M**K``, where the search
        is exhaustive and the result is ML for the linearized model).
    llr_clip : float
        Magnitude given to the LLR of a bit without a counter-hypothesis in the list (default 20,
        Sionna's default).
    llr, chunk, precision, device : see :class:`SionnaDetector`.

    Needs at least as many receive antennas as users (Sionna's rule).
    """

    def __init__(self, *, list_size: int = 32, llr_clip: float = 20.0, llr: bool = True, chunk: int = 8192,
                 precision: Literal["double", "single"] = "double", device: str = "cpu"):
        super().__init__(llr=llr, chunk=chunk, precision=precision, device=device)
        if list_size < 1:
            raise ValueError(f"receiver.list_size must be >= 1, got {list_size}")
        if not llr_clip > 0:
            raise ValueError(f"receiver.llr_clip must be > 0, got {llr_clip}")

    def check_dimensions(self, *, users: int, inputs: int, constellation) -> None:
        if inputs < users:
            raise ValueError(f"K-best (Sionna) needs at least as many receive antennas (converter inputs) as "
                             f"users, got {inputs} < {users}")

    def _build(self, users, constellation):
        _, mimo = _sionna()
        prec, dev = self.params["precision"], self.params["device"]
        k = min(self.params["list_size"], constellation.order**users)
        sc = self.sionna_constellation(constellation)
        if self.params["llr"]:
            l2l = _list2llr_class()(constellation.bits_per_symbol, self.params["llr_clip"], precision=prec, device=dev)
            return mimo.KBestDetector("bit", users, k, constellation=sc, list2llr=l2l, precision=prec,
                                      device=dev), {}
        return mimo.KBestDetector("symbol", users, k, constellation=sc, hard_out=True, precision=prec, device=dev), {}

    def _run(self, det, y, h, s, constellation):
        out = det[0](y, h, s)
        if not self.params["llr"]:
            return _numpy(out).astype(np.int64), None
        llr = _numpy(out).astype(np.float64)
        return _pack(llr > 0), llr


@register("receiver", "ep")
class EP(SionnaDetector):
    """Sionna's expectation-propagation detector on the Bussgang-linearized model (square QAM only).

    Parameters
    ----------
    iterations : int
        EP iterations (Sionna's ``l``; default 10).
    beta : float
        Update smoothing in [0, 1] (default 0.9, Sionna's default).
    llr, chunk, precision, device : see :class:`SionnaDetector`.
    """

    def __init__(self, *, iterations: int = 10, beta: float = 0.9, llr: bool = True, chunk: int = 8192,
                 precision: Literal["double", "single"] = "double", device: str = "cpu"):
        super().__init__(llr=llr, chunk=chunk, precision=precision, device=device)
        if iterations < 1:
            raise ValueError(f"receiver.iterations must be >= 1, got {iterations}")
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"receiver.beta must lie in [0, 1], got {beta}")

    def check_dimensions(self, *, users: int, inputs: int, constellation) -> None:
        from hwsim.channels.constellations import get_qam  # noqa: PLC0415

        c = get_qam(constellation)
        if c.bits_per_symbol < 2 or c.bits_per_symbol % 2:
            raise ValueError(f"EP (Sionna) supports square QAM only (qpsk, qam16, ...), got {c.name}")

    def index_map(self, constellation) -> np.ndarray:
        """``perm[q]`` = index in Sionna's QAM of hwsim's point ``q`` (int64 [M])."""
        mapping, _ = _sionna()
        sq = np.asarray(mapping.qam(constellation.bits_per_symbol, precision="double"))
        pts = np.asarray(constellation.points)
        perm = np.argmin(np.abs(pts[:, None] - sq[None, :]), axis=1)
        if np.unique(perm).size != pts.size or np.max(np.abs(sq[perm] - pts)) > 1e-9:
            raise ValueError(f"constellation {constellation!r} is not Sionna's unit-energy square QAM; "
                             "EP supports square QAM only")
        return perm

    def _build(self, users, constellation):
        import torch  # noqa: PLC0415

        _, mimo = _sionna()
        prec, dev = self.params["precision"], self.params["device"]
        perm = self.index_map(constellation)
        b = constellation.bits_per_symbol
        kw = dict(l=self.params["iterations"], beta=self.params["beta"], precision=prec, device=dev)
        if self.params["llr"]:
            det = mimo.EPDetector("symbol", b, hard_out=False, **kw)
        else:
            det = mimo.EPDetector("symbol", b, hard_out=True, **kw)
        # perm: hwsim index -> Sionna index; inverse: Sionna index -> hwsim index
        return det, {"perm": torch.as_tensor(perm, device=dev), "inverse": np.argsort(perm)}

    def _run(self, det, y, h, s, constellation):
        block, aux = det
        out = block(y, h, s)
        if not self.params["llr"]:
            return aux["inverse"][_numpy(out).astype(np.int64)], None
        logits = out[..., aux["perm"]]  # [B, K, M] in hwsim's index order
        llr = _maxlog_from_logits(logits, constellation.bits_per_symbol)
        return _numpy(logits.argmax(dim=-1)).astype(np.int64), _numpy(llr).astype(np.float64)


@register("receiver", "mmse_pic")
class MMSEPIC(SionnaDetector):
    """Sionna's MMSE parallel-interference-cancellation detector on the Bussgang-linearized model.

    No prior (all-zero a-priori LLRs). One iteration is linear MMSE with per-stream demapping;
    more iterations are Sionna's self-iterations (each feeds its LLRs back as the next prior;
    the output is Sionna's extrinsic LLR of the last iteration).

    Parameters
    ----------
    iterations : int
        Sionna's ``num_iter`` (default 1).
    demapping : {"maxlog", "app"}
        ``"maxlog"`` (default) or ``"app"``.
    llr, chunk, precision, device : see :class:`SionnaDetector`.
    """

    def __init__(self, *, iterations: int = 1, demapping: Literal["maxlog", "app"] = "maxlog", llr: bool = True,
                 chunk: int = 8192, precision: Literal["double", "single"] = "double", device: str = "cpu"):
        super().__init__(llr=llr, chunk=chunk, precision=precision, device=device)
        if iterations < 1:
            raise ValueError(f"receiver.iterations must be >= 1, got {iterations}")

    def _build(self, users, constellation):
        _, mimo = _sionna()
        prec, dev = self.params["precision"], self.params["device"]
        out = "bit" if self.params["llr"] else "symbol"
        return mimo.MMSEPICDetector(out, self.params["demapping"], self.params["iterations"],
                                    constellation=self.sionna_constellation(constellation),
                                    hard_out=not self.params["llr"], precision=prec, device=dev), {}

    def _run(self, det, y, h, s, constellation):
        import torch  # noqa: PLC0415

        b = constellation.bits_per_symbol
        width = b if self.params["llr"] else constellation.order
        prior = torch.zeros(y.shape[0], h.shape[-1], width, dtype=y.real.dtype, device=y.device)
        out = det[0](y, h, s, prior)
        if not self.params["llr"]:
            return _numpy(out).astype(np.int64), None
        llr = _numpy(out).astype(np.float64)
        return _pack(llr > 0), llr


__all__ = ["EP", "KBest", "MMSEPIC", "SionnaDetector", "reduced_model"]
