r"""The learned detector's network (:mod:`hwsim.receivers.learned_detector`): its architecture
(:class:`Arch`, what a model file's sidecar records), the unfolded torch module (built on first use,
:func:`load_torch`, so that importing this module does not import torch) and its inputs and outputs
(:func:`~hwsim.receivers.detector_network.inputs` from an observation, :func:`~hwsim.receivers.detector_network.forward` in chunks of bounded memory).

Which network, and why
----------------------
Built: **OBMNet** (Nguyen, Nguyen, Nguyen et al., "Linear and deep neural network-based receivers
for massive MIMO systems with one-bit ADCs", IEEE TWC 2021) generalised to few-bit converters,
with a likelihood search and a candidate list after its layers. OBMNet unfolds gradient ascent
on the one-bit log-likelihood :math:`\sum_i \log \Phi(\mathrm{sign}(r_i)(Hx)_i/\sigma)` and
learns one step size per layer; its weights do not depend on :math:`H`, so the network serves
any channel and any number of users. Here each layer takes a step on the log-likelihood of the
*cell* each real converter output fell in, with OBMNet's logistic approximation
:math:`\Phi(x) \approx S(c x)`, :math:`S` the logistic function, :math:`c = 1.702` (for the
one-bit table this is OBMNet's likelihood; for wider tables its multi-bit generalisation, the
likelihood of :mod:`hwsim.receivers.onebit` with :math:`\Phi` replaced by :math:`S(c\,\cdot)`):

.. math::
   \ell(x) = \sum_{i,\,\cdot \in\{\Re,\Im\}} \log\big(S(c\,b_i) - S(c\,a_i)\big),\quad
   a_i = \frac{l_i - (Hx)_i}{\sigma_t},\; b_i = \frac{u_i - (Hx)_i}{\sigma_t},\qquad
   \frac{\partial \ell}{\partial (Hx)_i} = \frac{c}{\sigma_t}\big(S(c\,a_i) - S(-c\,b_i)\big),

a closed form that is cheap (two logistic functions per sample, against the scaled error
functions of the exact probit score, which made a training step about five times slower) and
stable for infinite outer cells; up to a term free of :math:`x`, :math:`\ell` is
:math:`\sum \log S(c\,b_i) + \log S(-c\,a_i)`. An unquantized link (``adc.type = "none"``)
takes the Gaussian likelihood. The iterations start from the unbiased Bussgang LMMSE output
(:class:`hwsim.receivers.linear.BLMMSE`: the Bussgang-linearised model is an input too). Each of
the ``layers`` gradient layers learns

1. a step :math:`\tau_t = e^{\gamma_t} \min_i \sigma_{t,i}^2 / \|H\|_2^2`, a multiple of the
   inverse Lipschitz constant, so that a layer means the same on every channel;
2. a smoothing of the likelihood, :math:`\sigma_{t,i}^2 = N_0/2 + \mathrm{softplus}(\beta_t) P_i/2`
   with :math:`P_i = \sum_k |H_{ik}|^2`: a learned annealing (early layers see a smooth
   likelihood, late ones the sharp true one), which is what lets ten layers converge at high
   SNR, where the true likelihood is so sharp that nML's fixed step barely moves;
3. a soft projection onto the axis alphabet (a tanh step at every midpoint between amplitudes,
   DetNet's soft sign generalised to PAM), learned width and weight;
4. a Nesterov momentum.

Then ``search`` rounds of a parallel soft likelihood search (the likelihood-ascent search of
large-MIMO detection, made soft): for every user and axis the log-likelihood :math:`\ell_k(a)`
with that user's axis set to each of the :math:`M` axis amplitudes :math:`a`, the other users
kept at their estimates, and each axis moved to its posterior mean
:math:`\sum_a a\,\mathrm{softmax}(\ell_k)_a` (one learned smoothing per round). The last round's
:math:`\ell_k` give per-bit log-sum-exp LLRs, :math:`e^{\kappa_1}(\mathrm{LSE}_{a:\,b=1}\ell_k(a) -
\mathrm{LSE}_{a:\,b=0}\ell_k(a))`: the *training* output, through which the layers learn.

The *detector's* output is a max-log over a candidate list built from the search's estimate
:math:`\hat x` (real coordinates, :math:`U = 2K` axes): for every axis :math:`u` and amplitude
:math:`a`, the candidate :math:`\mathrm{round}(\hat x + (a - \hat x_u)\, d_u)`, where
:math:`d_u = G^{-1} e_u / (G^{-1})_{uu}`, :math:`G = A^T A` of the real channel :math:`A`, moves
axis :math:`u` to :math:`a` while the other axes follow by least squares (the joint move a
per-user search cannot make: on 4 x 2 QPSK it is what closes the gap to exhaustive QMAP),
plus :math:`\mathrm{round}(\hat x)`: :math:`UM + 1` candidates, each scored by the true-noise
likelihood above. Per bit,
:math:`\mathrm{LLR} = e^{\kappa_2}(\max_{c:\,b=1} \ell_c - \max_{c:\,b=0} \ell_c)` (every bit
has both values in the list: axis :math:`u`'s own candidates take every amplitude). The
outputs are per-bit sigmoid logits trained with binary cross-entropy, i.e. LLRs with Sionna's
sign :math:`\ln P(b=1)/P(b=0)`; the decisions are their signs, i.e. the bits of the most likely
candidate. Cost per sample: :math:`U M` candidates of :math:`2N \cdot U` multiply-adds and
:math:`2N` likelihood terms (about 130 k multiply-adds for 64 x 8 16-QAM), the search as much
again, the layers :math:`8NK` each.

Why not DetNet (Samuel, Diskin, Wiesel 2019): its layers are fully connected over
:math:`[H^T y, x_t, H^T H x_t, v_t]`, so its size grows with :math:`K` (and :math:`2K` real
unknowns for QAM), it needs tens of thousands of weights for 64 x 8 and is slow to train on a
CPU; DetNet also assumes the linear Gaussian model that few-bit converters break. The
model-driven network keeps the structure that makes nML work on quantized samples and learns
only what nML sets by hand (steps, annealing, projection, the LLR scales). In the development
runs on the massive_mimo system, 1-bit, 10 dB (300 training steps, 6000 test channel uses), the
gradient layers alone gave BER 1.0e-2, with the soft search 5.1e-3, with the list 4.8e-3 (nML
1.5e-2, BLMMSE 4.6e-2). A per-bit MLP head (two hidden layers of 32 ReLUs on the estimates,
SNR, channel gain and posteriors) was tried and dropped: it did not lower the BER once the list
was there.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

#: Bounds checked before anything is allocated, in the component's parameters and in a sidecar.
MAX_LAYERS = 64
#: Most search rounds of the network (checked as :data:`MAX_LAYERS` is).
MAX_SEARCH = 8
#: Most values (frames x frame_len x candidates x 2N) the candidate list of one forward pass holds.
MAX_LIST_VALUES = 2**25
#: OBMNet's logistic approximation of the Gaussian CDF, Phi(x) ~ S(1.702 x).
_LOGISTIC = 1.702
#: Floor of a likelihood factor (log(_TINY) = -85: no float32 underflow to -inf).
_TINY = 1e-37


@dataclass
class Arch:
    """Architecture of a network: what the sidecar records and :func:`network` builds."""

    layers: int
    search: int               # likelihood-search rounds after the layers
    amplitudes: list          # the axis alphabet, increasing
    axis_bits: int            # Gray bits per axis (per symbol for BPSK)
    complex_symbols: bool     # two axes per user (square QAM) or one (BPSK)

    def check(self, src: str = "arch") -> "Arch":
        for key, hi in (("layers", MAX_LAYERS), ("search", MAX_SEARCH), ("axis_bits", 4)):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= hi:
                raise ValueError(f"{src}: {key} must be a whole number in [1, {hi}] "
                                 f"(hwsim.receivers.learned_detector limits), got {v!r}")
        if not isinstance(self.complex_symbols, bool):
            raise ValueError(f"{src}: complex_symbols must be true or false, got {self.complex_symbols!r}")
        amps = self.amplitudes
        if (not isinstance(amps, list) or len(amps) != 2**self.axis_bits
                or not all(isinstance(a, (int, float)) and not isinstance(a, bool) and math.isfinite(a) for a in amps)
                or any(b <= a for a, b in zip(amps, amps[1:]))
                or any(abs((c - b) - (amps[1] - amps[0])) > 1e-6 * (amps[1] - amps[0])
                       for b, c in zip(amps, amps[1:]))):
            raise ValueError(f"{src}: amplitudes must be the {2 ** self.axis_bits} equally spaced, increasing, finite "
                             "axis amplitudes")
        return self

    @classmethod
    def for_link(cls, link, layers: int, search: int) -> "Arch":
        qam = link.source.constellation
        axis_bits = 1 if qam.is_real else qam.bits_per_symbol // 2
        return cls(layers=int(layers), search=int(search),
                   amplitudes=[float(a) for a in qam.axis_points], axis_bits=axis_bits,
                   complex_symbols=not qam.is_real)


def parameter_count(arch: Arch) -> int:
    """Weights of a network: 5 scalars per gradient layer, one per search round and the two LLR scales."""
    return 5 * arch.layers + arch.search + 2


@functools.cache
def load_torch():
    """torch and the network class, built on first use."""
    import torch
    from torch import nn

    F_ = nn.functional

    class UnfoldedDetector(nn.Module):
        """The unfolded network of the module text; ``forward(batch) -> per-bit logits [F, L, K, bits]``."""

        def __init__(self, arch: Arch):
            super().__init__()
            self.arch = arch
            T, m = arch.layers, 2**arch.axis_bits
            frac = torch.linspace(0, 1, T)
            self.step = nn.Parameter(torch.zeros(T))                                  # log step multiple
            self.smooth = nn.Parameter(torch.log(torch.expm1(0.2 * 0.02 ** frac)))   # softplus^-1, 0.2 -> 0.004
            self.mix = nn.Parameter(torch.full((T,), -1.0))                          # sigmoid: projection weight
            self.width = nn.Parameter(torch.zeros(T))                                # log projection width
            self.momentum = nn.Parameter(torch.full((T,), 0.5))                      # tanh: momentum
            self.search_smooth = nn.Parameter(torch.full((arch.search,), math.log(math.expm1(0.004))))
            self.llr_scale = nn.Parameter(torch.zeros(()))                           # log weight of the search LLRs
            self.list_scale = nn.Parameter(torch.zeros(()))                          # log weight of the list LLRs
            amps = torch.tensor(arch.amplitudes, dtype=torch.float32)
            self.register_buffer("amps", amps)
            self.register_buffer("mids", 0.5 * (amps[1:] + amps[:-1]))
            labels = torch.arange(m) ^ (torch.arange(m) >> 1)                        # Gray label of each position
            self.register_buffer("ones", ((labels[:, None] >> torch.arange(arch.axis_bits - 1, -1, -1)) & 1).bool())

        @staticmethod
        def _score(lo, hi, m, sigma):
            """d/dm log(S(c(hi - m)/sigma) - S(c(lo - m)/sigma)), S the logistic function (module text)."""
            k = _LOGISTIC / sigma
            return k * (torch.sigmoid(k * (lo - m)) - torch.sigmoid(k * (m - hi)))

        @staticmethod
        def _loglik(lo, hi, m, sigma):
            """log(S(c(hi - m)/sigma) - S(c(lo - m)/sigma)) up to a term free of m, per sample and input
            (floored at log(_TINY): a log of a product of logistic functions is four times faster than
            two log-sigmoids on the CPU, and the floor binds only about 50 noise standard deviations out)."""
            k = _LOGISTIC / sigma
            p = torch.sigmoid(k * (hi - m)) * torch.sigmoid(k * (m - lo))
            return torch.log(p.clamp_min(_TINY))

        def _project(self, z, t, lim):
            """Soft staircase onto the axis alphabet: a tanh step at every midpoint, learned width and weight."""
            zc = z.clamp(-lim, lim)
            amps, mids = self.amps, self.mids
            spacing = amps[1] - amps[0]
            w = torch.exp(self.width[t]) * 0.25 * spacing
            stair = amps[0] + (0.5 * spacing * (1 + torch.tanh((zc[..., None] - mids) / w))).sum(-1)
            return zc + torch.sigmoid(self.mix[t]) * (stair - zc)

        def _search(self, b, xr, xi, s2):
            """Log-likelihood [F, L, K, M] of each user's axis set to each amplitude, the others kept (per axis)."""
            Hr, Hi = b["Hr"].transpose(1, 2)[:, None, :, None, :], b["Hi"].transpose(1, 2)[:, None, :, None, :]
            mr = (xr @ b["Hr"].transpose(1, 2) - xi @ b["Hi"].transpose(1, 2))[:, :, None, None, :]  # [F, L, 1, 1, N]
            mi = (xr @ b["Hi"].transpose(1, 2) + xi @ b["Hr"].transpose(1, 2))[:, :, None, None, :]
            s2 = s2[:, :, None, None, :]
            sigma = torch.sqrt(s2)

            def total(cr, ci):
                if b["quantized"]:
                    e = [b[k][:, :, None, None, :] for k in ("lo_re", "hi_re", "lo_im", "hi_im")]
                    v = self._loglik(e[0], e[1], cr, sigma) + self._loglik(e[2], e[3], ci, sigma)
                else:
                    rr, ri = b["rr"][:, :, None, None, :], b["ri"][:, :, None, None, :]
                    v = -((rr - cr) ** 2 + (ri - ci) ** 2) / (2 * s2)
                return v.sum(-1)

            d = (self.amps - xr[..., None])[..., None]                     # [F, L, K, M, 1]
            out = [total(mr + Hr * d, mi + Hi * d)]
            if self.arch.complex_symbols:
                d = (self.amps - xi[..., None])[..., None]
                out.append(total(mr - Hi * d, mi + Hr * d))
            return out

        def forward(self, b: dict):
            Hr, Hi = b["Hr"], b["Hi"]                                      # [F, N, K]
            HrT, HiT = Hr.transpose(1, 2), Hi.transpose(1, 2)
            n0 = b["n0"][:, None, None]                                    # [F, 1, 1]
            power = b["power"][:, None, :]                                 # [F, 1, N]
            lip = b["lip"][:, None, None]
            lim = self.amps.abs().max()
            xr, xi = b["x0r"].clamp(-lim, lim), b["x0i"].clamp(-lim, lim)  # [F, L, K]
            if not self.arch.complex_symbols:
                xi = torch.zeros_like(xi)
            vr, vi = xr, xi
            for t in range(self.arch.layers):
                s2 = 0.5 * n0 + F_.softplus(self.smooth[t]) * 0.5 * power   # [F, 1, N]
                mr = vr @ HrT - vi @ HiT                                    # [F, L, N]
                mi = vr @ HiT + vi @ HrT
                if b["quantized"]:
                    sigma = torch.sqrt(s2)
                    gr = self._score(b["lo_re"], b["hi_re"], mr, sigma)
                    gi = self._score(b["lo_im"], b["hi_im"], mi, sigma)
                else:
                    gr, gi = (b["rr"] - mr) / s2, (b["ri"] - mi) / s2
                tau = torch.exp(self.step[t]) * s2.amin(dim=2, keepdim=True) / lip
                xr_new = self._project(vr + tau * (gr @ Hr + gi @ Hi), t, lim)
                xi_new = self._project(vi + tau * (gi @ Hr - gr @ Hi), t, lim) if self.arch.complex_symbols else xi
                mom = torch.tanh(self.momentum[t])
                vr, vi = xr_new + mom * (xr_new - xr), xi_new + mom * (xi_new - xi)
                xr, xi = xr_new, xi_new
            for r in range(self.arch.search):
                s2 = 0.5 * n0 + F_.softplus(self.search_smooth[r]) * 0.5 * power
                ll = self._search(b, xr, xi, s2)                            # per axis [F, L, K, M]
                xr = torch.softmax(ll[0], dim=-1) @ self.amps
                if self.arch.complex_symbols:
                    xi = torch.softmax(ll[1], dim=-1) @ self.amps
            ones = self.ones.T                                               # [bits, M]
            soft = torch.cat([torch.logsumexp(torch.where(ones, v[..., None, :], -math.inf), dim=-1)
                              - torch.logsumexp(torch.where(~ones, v[..., None, :], -math.inf), dim=-1) for v in ll],
                             dim=-1)
            soft = torch.exp(self.llr_scale) * soft                         # [F, L, K, bits]: I bits, then Q
            with torch.no_grad():
                listed = self._list(b, xr, xi, (0.5 * n0).expand_as(power))
            return torch.exp(self.list_scale) * listed, soft

        def _list(self, b, xr, xi, s2):
            """Max-log per-bit LLRs [F, L, K, bits] over the candidate list of the module text (no gradient)."""
            Hr, Hi = b["Hr"], b["Hi"]
            if self.arch.complex_symbols:
                A = torch.cat([torch.cat([Hr, -Hi], dim=2), torch.cat([Hi, Hr], dim=2)], dim=1)  # [F, 2N, 2K]
                X = torch.cat([xr, xi], dim=-1)                                                   # [F, L, U]
            else:
                A, X = torch.cat([Hr, Hi], dim=1), xr
            F, L, U = X.shape
            M = self.amps.numel()
            G = A.transpose(1, 2) @ A
            G = G + 1e-6 * G.diagonal(dim1=1, dim2=2).mean(-1)[:, None, None] * torch.eye(U, device=G.device)
            P = torch.linalg.inv(G)
            D = (P / P.diagonal(dim1=1, dim2=2)[:, None, :]).transpose(1, 2)   # row u: e_u + LS compensation
            delta = self.amps - X[..., None]                                      # [F, L, U, M]
            cand = X[:, :, None, None, :] + delta[..., None] * D[:, None, :, None, :]   # [F, L, U, M, U]
            cand = torch.cat([cand.reshape(F, L, U * M, U), X[:, :, None, :]], dim=2)
            spacing = self.amps[1] - self.amps[0]
            pos = torch.round((cand - self.amps[0]) / spacing).clamp(0, M - 1).long()  # [F, L, C, U]
            C = pos.shape[2]
            m = (self.amps[pos].reshape(F, L * C, U) @ A.transpose(1, 2)).reshape(F, L, C, -1)  # [F, L, C, 2N]
            sigma = torch.sqrt(torch.cat([s2, s2], dim=-1))[:, :, None, :]              # [F, 1, 1, 2N]
            if b["quantized"]:
                lo = torch.cat([b["lo_re"], b["lo_im"]], dim=-1)[:, :, None, :]
                hi = torch.cat([b["hi_re"], b["hi_im"]], dim=-1)[:, :, None, :]
                ll = self._loglik(lo, hi, m, sigma).sum(-1)                            # [F, L, C]
            else:
                r = torch.cat([b["rr"], b["ri"]], dim=-1)[:, :, None, :]
                ll = (-(r - m) ** 2 / (2 * sigma**2)).sum(-1)
            bits = self.ones[pos]                                                       # [F, L, C, U, bits]
            v = ll[..., None, None]
            llr = (torch.where(bits, v, -math.inf).amax(dim=2)
                   - torch.where(~bits, v, -math.inf).amax(dim=2))                            # [F, L, U, bits]
            if self.arch.complex_symbols:
                K = U // 2
                llr = torch.cat([llr[:, :, :K], llr[:, :, K:]], dim=-1)               # [F, L, K, I then Q bits]
            return llr

    return torch, UnfoldedDetector


def network(arch: Arch):
    """A fresh network of architecture ``arch`` (its initial weights drawn from torch's global generator)."""
    _, cls = load_torch()
    return cls(arch)


def inputs(obs, torch) -> dict:
    """The network's inputs (float32 tensors) from an Observation: channel, noise, cells, the BLMMSE start."""
    from .linear import BLMMSE
    from .onebit import _cells

    H = np.asarray(obs.H, dtype=np.complex128)
    f, l, n, k = obs.shape
    x0, _ = BLMMSE(llr=False).equalize(obs)
    x0 = np.nan_to_num(x0, nan=0.0, posinf=0.0, neginf=0.0)
    power = np.sum(np.abs(H) ** 2, axis=2)                                  # [F, N]
    lip = np.linalg.svd(H, compute_uv=False)[:, 0] ** 2                     # [F]
    f32 = functools.partial(torch.as_tensor, dtype=torch.float32)
    n0 = max(float(obs.noise_var), 1e-12)  # a noiseless link: a tiny noise keeps the likelihood finite
    b = {"Hr": f32(H.real), "Hi": f32(H.imag), "n0": f32(np.full(f, n0)),
         "power": f32(power), "lip": f32(np.maximum(lip, 1e-30)), "x0r": f32(x0.real), "x0i": f32(x0.imag),
         "quantized": obs.adc is not None}
    if obs.adc is None:
        r = np.asarray(obs.r)
        b["rr"], b["ri"] = f32(r.real), f32(r.imag)
    else:
        cells = _cells(obs)
        finite = np.concatenate([np.abs(c[np.isfinite(c)]) for c in cells] + [np.zeros(1)])
        big = 1e3 * (float(finite.max()) + 1.0)
        for name, c in zip(("lo_re", "hi_re", "lo_im", "hi_im"), cells):
            b[name] = f32(np.clip(c, -big, big))
    return b


def forward(net, b: dict, torch):
    """The detector's output for a batch, in chunks of frames whose candidate list holds at most
    :data:`MAX_LIST_VALUES` values (a sweep's link call of 20 massive_mimo frames is one chunk)."""
    f, l, n = b["Hr"].shape[0], b["x0r"].shape[1], b["Hr"].shape[1]
    axes = (2 if net.arch.complex_symbols else 1) * b["Hr"].shape[2]
    per_frame = l * (axes * 2**net.arch.axis_bits + 1) * 2 * n
    step = max(1, MAX_LIST_VALUES // per_frame)
    if step >= f:
        return net(b)[0]
    parts = []
    for i in range(0, f, step):
        parts.append(net({k: (v if k == "quantized" else v[i:i + step]) for k, v in b.items()})[0])
    return torch.cat(parts)


def stack_inputs(batches: list[dict], torch) -> dict:
    out = {key: torch.cat([b[key] for b in batches]) for key in batches[0] if key != "quantized"}
    out["quantized"] = batches[0]["quantized"]
    return out


def target_bits(idx: np.ndarray, qam, torch):
    """Target bits float32 [F, L, K, bits] (MSB first: I bits, then Q bits)."""
    return torch.as_tensor(qam.bits(idx), dtype=torch.float32)


def to_indices(bits: np.ndarray) -> np.ndarray:
    """Gray bit labels [..., bits] (MSB first) -> symbol indices (the index *is* the label)."""
    weights = 1 << np.arange(bits.shape[-1] - 1, -1, -1)
    return (bits.astype(np.int64) * weights).sum(axis=-1)


__all__ = ["Arch", "MAX_LAYERS", "MAX_LIST_VALUES", "MAX_SEARCH", "forward", "inputs", "load_torch", "network",
           "parameter_count", "stack_inputs", "target_bits", "to_indices"]
