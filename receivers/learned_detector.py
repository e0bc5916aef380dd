r"""A learned per-bit detector that scales: an unfolded, quantization-aware network with a likelihood list.

``receiver.type = "learned"``. One trained network serves every channel draw, frame and SNR of a
sweep: the channel :math:`H`, the noise level :math:`N_0` and the converters' cells are
*inputs* of the network; what is learned is a handful of scalars per layer (53 weights for
the default 10 layers), so it trains in minutes on a CPU and nothing in it depends on
:math:`N`, :math:`K` or :math:`H`.

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

Training
--------
Inside the component, on data drawn through the link itself (:meth:`hwsim.pipeline.Pipeline.observe`,
so its converters, AGC and constellation), batched (``batch_frames`` frames per step, in
``snr_groups`` groups, each at an SNR uniform in ``[train_snr_min, train_snr_max]``), with Adam
(cosine learning rate from ``lr``) on the sum of the binary cross-entropies of both outputs
(the list is computed without gradients: only :math:`\kappa_2` learns from it). ``epochs``
epochs of ``steps`` steps, fresh data every step; after every epoch the detector's hard
decisions are validated on a fixed set (``val_frames`` frames at each of ``val_snrs`` SNRs
spread over the training range) and the epoch with the lowest validation BER (geometric mean
over the validation SNRs, so every SNR counts) is kept.
The loop is :func:`hwsim.training.fit`: inside :func:`hwsim.checkpoint.checkpointing` (``hwsim train``,
a sweep's shared set-up) the state is saved after every epoch and an interrupted training resumes
to the same network.

The trained network is the *sweep's*: it is trained from ``train_seed`` alone, on one CPU thread
(a network is then the same whatever the process's thread count), once, in the sweep's own
process before the points run (:meth:`LearnedDetector.shared_setup`): it is saved in the run
folder's ``models/`` (a resumed sweep loads it) and sent to every worker. Outside a sweep it is
trained on first use and cached per process, keyed by the receiver's parameters and the link's
tables (converter table included). The point's own random
stream is deliberately not used for training: a network trained per point would differ from
point to point (curves would wiggle with the training seed rather than the SNR, and every
point would pay the training), and one network serving every SNR is what a receiver does.
The point's stream only draws the test data, as for every other receiver.

``model = "path.pt"`` loads a saved network instead (:func:`save_detector` /
:func:`load_detector`: the torch state and a JSON sidecar with the architecture, the training
settings, the seed, software versions and the link's tables it was trained for). A model
whose link differs from the sweep's is refused, as is a sidecar asking for more than
:data:`MAX_LAYERS` layers or :data:`MAX_SEARCH` search rounds (checked before allocating).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field

import numpy as np

from hwsim import _checks
from hwsim._threads import single_threaded
from hwsim.components import SHARED, FileParam, register

from .base import Decision, Detector

FORMAT = "hwsim-learned-detector"
FORMAT_VERSION = 1
#: Bounds checked before anything is allocated, in the component's parameters and in a sidecar.
MAX_LAYERS = 64
MAX_SEARCH = 8
MAX_ANTENNAS = 4096
MAX_USERS = 256
#: Most real values (frames x frame_len x antennas) one training step may hold.
MAX_BATCH_VALUES = 2**24
MAX_SIDECAR_BYTES = 4 * 2**20
#: Most values (frames x frame_len x candidates x 2N) the candidate list of one forward pass holds.
MAX_LIST_VALUES = 2**25
#: OBMNet's logistic approximation of the Gaussian CDF, Phi(x) ~ S(1.702 x).
_LOGISTIC = 1.702
#: Floor of a likelihood factor (log(_TINY) = -85: no float32 underflow to -inf).
_TINY = 1e-37

_LIMITS = {"layers": (1, MAX_LAYERS), "search": (1, MAX_SEARCH), "epochs": (1, 100_000), "steps": (1, 1_000_000),
           "batch_frames": (1, 1_000_000), "snr_groups": (1, 10_000), "val_frames": (1, 1_000_000),
           "val_snrs": (1, 1000)}


@register("receiver", "learned")
class LearnedDetector(Detector):
    """The learned per-bit detector of the module text (one network for the whole sweep).

    Parameters
    ----------
    layers, search : int
        Unfolded gradient layers (default 10) and likelihood-search rounds after them (1).
    train_snr_min, train_snr_max : float
        SNR range of the training data in dB (uniform per group of frames).
    epochs, steps, batch_frames, snr_groups, lr : training schedule (Adam, ``lr``).
    val_frames, val_snrs : validation set (``val_frames`` frames at each of ``val_snrs`` SNRs).
    train_seed : int
        Seed of the training data and the initial weights (one network for the whole sweep).
    model : str
        A saved network (.pt with its .pt.json sidecar) to use instead of training.
    progress : bool
        Show a progress bar while training (off in sweeps).
    """

    FILES = {"model": FileParam(companions=(".json",))}

    def __init__(
        self,
        *,
        layers: int = 10,
        search: int = 1,
        train_snr_min: float = -10.0,
        train_snr_max: float = 12.0,
        epochs: int = 10,
        steps: int = 30,
        batch_frames: int = 8,
        snr_groups: int = 4,
        lr: float = 0.01,
        val_frames: int = 16,
        val_snrs: int = 5,
        train_seed: int = 0,
        model: str = "",
        progress: bool = False,
    ):
        from ._shared import check_schedule

        p = self.params
        check_schedule(p, _LIMITS)
        if p["snr_groups"] > p["batch_frames"]:
            raise ValueError(f"receiver.snr_groups ({p['snr_groups']}) must not exceed receiver.batch_frames "
                             f"({p['batch_frames']}): each group holds at least one frame")
        self.net = None

    replicas = 1  # one network for the whole sweep

    def check_link(self, link) -> None:
        """A complex link with a QAM source, white noise at converters it supports, bounded sizes."""
        check_link(link)
        values = self.params["batch_frames"] * link.channel.frame_len * link.channel.antennas
        if values > MAX_BATCH_VALUES:
            raise ValueError(f"receiver.batch_frames x channel.frame_len x channel.antennas = {values} samples per "
                             f"training step, more than the limit of {MAX_BATCH_VALUES} "
                             "(hwsim.receivers.learned_detector.MAX_BATCH_VALUES)")
        if self.params["model"]:  # the whole file, as a run loads it, and the link it was trained for
            from ._shared import check_model

            path = self.params["model"]
            check_model(path, load_detector, lambda: read_sidecar(path, link))

    def prepare(self, link, snr_db: float, rng: np.random.Generator) -> None:
        """Load or train the sweep's network (cached per process; ``rng`` is not used, see the module text)."""
        self.net = _shared_detector(_cache_key(self.params, link), bool(self.params["progress"]))

    def train_model(self, link, snr_db=None, *, device: str = "cpu", progress: bool = False,
                    seed: int | None = None) -> "TrainedDetector":
        """``hwsim train``: the network a sweep of this link would train (over the receiver's own SNR range:
        ``snr_db`` is not used), from ``seed`` instead of ``train_seed`` when given."""
        if self.params["model"]:
            raise ValueError(f"receiver.model = {self.params['model']!r}: this receiver loads a trained network; "
                             "nothing to train (drop receiver.model to train one)")
        params = {k: v for k, v in self.params.items() if k not in ("model", "progress")}
        if seed is not None:
            params["train_seed"] = _checks.integer("--seed", seed, minimum=0)
        return train_detector(link, progress=progress, device=device, **params)

    def shared_key(self, link) -> str | None:
        """Key of the network every point of a sweep shares (None with ``model``: the file is what is shared)."""
        return None if self.params["model"] else _cache_key(self.params, link)

    def shared_setup(self, link, folder, progress: bool = False, say=None) -> tuple[bytes, str]:
        """Train the sweep's network once, before its points run, and save it in ``folder`` (a resumed
        sweep finds it there and does not train again); returns the (weights, sidecar) that a worker's
        :meth:`prepare` loads (through :data:`hwsim.components.SHARED`) instead of training."""
        from ._shared import check_origin, saved_once

        key = _cache_key(self.params, link)

        def check(weights, text, path):
            sidecar = check_sidecar(text, f"{path}.json", link, model=path)
            check_origin(sidecar, key, path)
            _from_files(weights, sidecar, str(path))

        what = f"learned detector ({self.params['epochs']} epochs of {self.params['steps']} steps)"
        return saved_once(folder, key, check=check, what=what, say=say,
                          make=lambda: detector_files(_shared_detector(key, progress), origin={"sweep_key": key}))

    def detect(self, obs) -> Decision:
        if self.net is None:
            raise RuntimeError("the learned detector detects after set-up: call Pipeline.prepare first")
        return self.net.decide(obs)


# ---- links it serves ---------------------------------------------------------------------------------------------


def check_link(link) -> None:
    """Refuse, before anything runs, a link the learned detector cannot serve (a clear error)."""
    if link.channel.real:
        raise ValueError(f"receiver.type = 'learned' detects on complex links, got channel.type = "
                         f"{link.channel.name!r} (a real-valued link)")
    if getattr(link, "task", "detection") != "detection" or not hasattr(link.source, "constellation"):
        raise ValueError(f"receiver.type = 'learned' detects symbols of a users source, got source.type = "
                         f"{link.source.name!r}")
    if getattr(link.adc, "quantizes", True) and not getattr(link.adc, "scalar_cells", False):
        raise ValueError(f"receiver.type = 'learned' serves converter banks that quantize each I and Q sample with "
                         f"a real decision table (scalar_cells) or do not quantize, got adc.type = {link.adc.name!r}")
    if getattr(link.frontend, "combines", True):
        raise ValueError(f"receiver.type = 'learned' needs white noise at the converters (frontend.type = "
                         f"\"identity\"), got {link.frontend.name!r}")
    if link.channel.antennas > MAX_ANTENNAS or link.source.users > MAX_USERS:
        raise ValueError(f"receiver.type = 'learned' serves at most {MAX_ANTENNAS} antennas and {MAX_USERS} users, "
                         f"got {link.channel.antennas} and {link.source.users}")


def link_spec(link) -> dict:
    """What a network is trained for: the source, channel (frame length aside), front end and converters,
    the converter table included (JSON-ready)."""
    spec = {"source": {"type": link.source.name, **link.source.params},
            "channel": {"type": link.channel.name,
                        **{k: v for k, v in link.channel.params.items() if k != "frame_len"}},
            "frontend": {"type": link.frontend.name, **link.frontend.params},
            "adc": {"type": link.adc.name, **link.adc.params}}
    if getattr(link.adc, "quantizes", True):
        table = link.adc.table_for(2 * link.channel.antennas)
        spec["adc"]["table"] = {"thresholds": [float(t) for t in table.thresholds],
                                "levels": [float(v) for v in table.levels]}
    return spec


def _cache_key(params: dict, link) -> str:
    tables = {kind: {"type": getattr(link, kind).name, **getattr(link, kind).params}
              for kind in ("source", "channel", "frontend", "adc")}
    key = {"receiver": {k: v for k, v in params.items() if k != "progress"}, "tables": tables,
           "spec": link_spec(link)}
    if params["model"]:
        from pathlib import Path

        st = Path(params["model"]).stat()
        key["receiver"] = {"model": params["model"]}  # the file holds the network: training settings do not apply
        key["file"] = [st.st_size, st.st_mtime_ns]
    return json.dumps(key, sort_keys=True)


@functools.lru_cache(maxsize=8)
def _shared_detector(key: str, progress: bool = False) -> "TrainedDetector":
    """The sweep-wide network of a learned receiver: the one the sweep sent (:data:`hwsim.components.SHARED`),
    a saved file, or trained here (cached per process)."""
    from hwsim.pipeline import Pipeline

    spec = json.loads(key)
    link = Pipeline.from_tables({**spec["tables"], "receiver": {"type": "blmmse"}})
    shared = SHARED.get(key)  # trained by the sweep before its points (LearnedDetector.shared_setup)
    if shared is not None:
        weights, sidecar = shared
        return _from_files(weights, check_sidecar(sidecar, "the sweep's learned detector", link),
                           "the sweep's learned detector")
    if spec["receiver"].get("model"):
        return load_detector(spec["receiver"]["model"], link)
    return train_detector(link, progress=progress, **spec["receiver"])


# ---- the network (torch imported lazily) -------------------------------------------------------------------------


@dataclass
class Arch:
    """Architecture of a network: what the sidecar records and :func:`_network` builds."""

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
def _torch():
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


def _network(arch: Arch):
    torch, cls = _torch()
    return cls(arch)


def _batch(obs, torch) -> dict:
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


def _forward(net, b: dict, torch):
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


def _stack(batches: list[dict], torch) -> dict:
    out = {key: torch.cat([b[key] for b in batches]) for key in batches[0] if key != "quantized"}
    out["quantized"] = batches[0]["quantized"]
    return out


def _bits_of(idx: np.ndarray, qam, torch):
    """Target bits float32 [F, L, K, bits] (MSB first: I bits, then Q bits)."""
    return torch.as_tensor(qam.bits(idx), dtype=torch.float32)


def _to_indices(bits: np.ndarray) -> np.ndarray:
    """Gray bit labels [..., bits] (MSB first) -> symbol indices (the index *is* the label)."""
    weights = 1 << np.arange(bits.shape[-1] - 1, -1, -1)
    return (bits.astype(np.int64) * weights).sum(axis=-1)


@dataclass
class TrainedDetector:
    """A trained network with what it was trained for (:func:`save_detector` writes it)."""

    net: object
    arch: Arch
    link: dict
    training: dict
    seed: int
    history: list = field(default_factory=list)

    def save(self, path, origin: dict | None = None) -> None:
        """:func:`save_detector`."""
        save_detector(self, path, origin)

    def describe(self) -> str:
        """One line: the kept epoch and its validation BER per SNR."""
        if not self.history:
            return "no training history"
        best = min(reversed(self.history), key=lambda h: h["val_score"])  # training keeps the last of equal epochs
        t = self.training
        snrs = (np.linspace(t["train_snr_min"], t["train_snr_max"], t["val_snrs"]) if t.get("val_snrs", 1) > 1
                else [0.5 * (t["train_snr_min"] + t["train_snr_max"])]) if "train_snr_min" in t else []
        bers = ", ".join(f"{b:.3g}" + (f" at {s:g} dB" if len(snrs) == len(best["val_ber"]) else "")
                         for b, s in zip(best["val_ber"], list(snrs) or [None] * len(best["val_ber"])))
        return f"kept epoch {best['epoch'] + 1} of {len(self.history)}: hard validation BER {bers}"

    def llr(self, obs) -> np.ndarray:
        """Per-bit LLRs float64 [F, L, K, bits], :math:`\\ln P(1)/P(0)` (frames in chunks of bounded memory)."""
        torch, _ = _torch()
        with single_threaded(), torch.no_grad():
            return _forward(self.net, _batch(obs, torch), torch).double().numpy()

    def decide(self, obs) -> Decision:
        llr = self.llr(obs)
        return Decision(indices=_to_indices(llr > 0), llr=llr)


# ---- training ----------------------------------------------------------------------------------------------------


def train_detector(link, *, progress: bool = False, device: str = "cpu", **params) -> TrainedDetector:
    """Train a learned detector for ``link`` (the receiver's parameters as keywords, defaults from
    :attr:`LearnedDetector.PARAMS`); deterministic for a fixed ``train_seed`` on the CPU, where it
    runs on one thread. ``device``: ``"cpu"`` (default) or ``"cuda"`` (a GPU must be present; its
    network differs from the CPU's for the same seed); the returned network lives on the CPU.

    Raises ValueError ("nothing learnable") when no parameters are given and ``link.receiver`` is
    not a learned detector, and for a link the detector cannot serve (:func:`check_link`).
    """
    if not params and not isinstance(getattr(link, "receiver", None), LearnedDetector):
        raise ValueError(f"nothing learnable: the link's receiver is {getattr(link.receiver, 'name', '?')!r}, not a "
                         "learned detector (receiver.type = \"learned\"); pass its parameters to train one anyway")
    if not params:
        params = dict(link.receiver.params)
    params.pop("model", None)
    params.pop("progress", None)
    p = LearnedDetector(**params).params  # every parameter checked
    check_link(link)
    torch, _ = _torch()
    dev = torch_device(device)
    with single_threaded(), torch.random.fork_rng(devices=[]):
        return _train(link, p, progress=progress, device=dev)


def torch_device(device: str):
    """The torch device for ``device`` (``"cpu"`` or ``"cuda"``); a clear error where CUDA is absent."""
    torch, _ = _torch()
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda': torch sees no CUDA GPU here (this torch build: "
                         f"{torch.__version__}); train on the CPU with device 'cpu'")
    return torch.device(device)


def _on(b: dict, device) -> dict:
    return {k: (v if k == "quantized" else v.to(device)) for k, v in b.items()}


def _draw(link, frames: int, snrs, rng, torch, device="cpu"):
    """``frames`` frames split evenly over ``snrs``: (network inputs, target bits), on ``device``."""
    batches, bits = [], []
    for frames_g, snr in zip(np.array_split(np.arange(frames), len(snrs)), snrs):
        if len(frames_g) == 0:
            continue
        idx, obs = link.observe(len(frames_g), float(snr), rng)
        batches.append(_batch(obs, torch))
        bits.append(_bits_of(idx, obs.constellation, torch))
    return _on(_stack(batches, torch), device), torch.cat(bits).to(device)


def _train(link, p: dict, *, progress: bool, device) -> TrainedDetector:
    from hwsim.checkpoint import TORCH_GLOBAL_RNG
    from hwsim.training import Task, fit

    torch, _ = _torch()
    seed = int(p["train_seed"])
    data_seed, val_seed, init_seed = np.random.SeedSequence(seed).spawn(3)
    torch.manual_seed(int(init_seed.generate_state(1)[0]))
    arch = Arch.for_link(link, p["layers"], p["search"]).check()
    net = _network(arch).to(device)
    rng = np.random.default_rng(data_seed)
    val_rng = np.random.default_rng(val_seed)
    lo, hi = p["train_snr_min"], p["train_snr_max"]
    val_snrs = np.linspace(lo, hi, p["val_snrs"]) if p["val_snrs"] > 1 else np.array([0.5 * (lo + hi)])
    val = [_draw(link, p["val_frames"], [s], val_rng, torch, device) for s in val_snrs]
    opt = torch.optim.Adam(net.parameters(), lr=p["lr"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=p["epochs"] * p["steps"])
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def step(epoch, i):
        snrs = rng.uniform(lo, hi, p["snr_groups"])
        batch, bits = _draw(link, p["batch_frames"], snrs, rng, torch, device)
        opt.zero_grad()
        final, soft = net(batch)
        loss = loss_fn(final, bits) + loss_fn(soft, bits)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        opt.step()
        sched.step()
        return float(loss.detach())

    def validate(epoch):
        """The detector's hard-decision BER per validation SNR; the score is the mean log10 BER."""
        with torch.no_grad():
            bers = [float(((_forward(net, vb, torch) > 0).float() != vbits).float().mean()) for vb, vbits in val]
        score = float(np.mean(np.log10(np.maximum(bers, 1e-7))))
        return score, {"val_ber": bers, "val_score": score}

    task = Task(net, step, validate, tracked={"opt": opt, "sched": sched, "data": rng, "torch": TORCH_GLOBAL_RNG},
                show=lambda h: {"loss": f"{h['loss']:.4f}", "validation BER": f"{10 ** h['val_score']:.2e}"})
    fitted = fit(task, what="learned detector", key={"training": _cache_key(p, link), "device": str(device)},
                 epochs=p["epochs"], steps=p["steps"], progress="train learned detector" if progress else None)
    training = {k: v for k, v in p.items() if k not in ("model", "progress")}
    training["device"] = str(device)
    return TrainedDetector(net=net, arch=arch, link=link_spec(link), training=training, seed=seed,
                           history=fitted.history)


# ---- files -------------------------------------------------------------------------------------------------------


def save_detector(det: TrainedDetector, path, origin: dict | None = None) -> None:
    """Write ``path`` (the torch state) and ``path.json`` (architecture, link, training settings, seed,
    versions, history, and ``origin``: where it came from, e.g. the sweep config), atomically."""
    from pathlib import Path

    from hwsim._files import atomic_write_bytes, atomic_write_text

    weights, sidecar = detector_files(det, origin)
    atomic_write_bytes(Path(path), weights)
    atomic_write_text(Path(f"{path}.json"), sidecar)


def detector_files(det: TrainedDetector, origin: dict | None = None) -> tuple[bytes, str]:
    """The two files of a saved network, in memory: (weights, sidecar JSON text)."""
    from ._shared import model_files

    return model_files(FORMAT, FORMAT_VERSION, det.net.state_dict(),
                       {"arch": det.arch.__dict__, "link": det.link, "training": det.training, "seed": det.seed,
                        "history": det.history}, origin)


def read_sidecar(path, link=None) -> dict:
    """The checked sidecar of a saved network (format, version, bounded architecture, and, given ``link``,
    the link it was trained for); a clear ValueError otherwise. Allocates nothing from its sizes."""
    from ._shared import sidecar_bytes

    return check_sidecar(sidecar_bytes(path, "learned detector", MAX_SIDECAR_BYTES), f"{path}.json", link,
                         model=path)


def check_sidecar(text: bytes | str, side, link=None, model=None) -> dict:
    """Parse and check a sidecar's text (see :func:`read_sidecar`); ``side`` and ``model`` name the files
    in messages."""
    from hwsim._files import check_format
    from hwsim.converters.tables import parse_json_bytes

    raw = text.encode() if isinstance(text, str) else text
    if len(raw) > MAX_SIDECAR_BYTES:
        raise ValueError(f"{side} holds {len(raw)} bytes; a learned-detector sidecar may hold at most "
                         f"{MAX_SIDECAR_BYTES}")
    sidecar = parse_json_bytes(side, raw, "a learned-detector sidecar")
    check_format(sidecar, side, FORMAT, FORMAT_VERSION, "an hwsim learned detector")
    arch = sidecar.get("arch")
    if not isinstance(arch, dict) or set(arch) != set(Arch.__dataclass_fields__):
        raise ValueError(f"{side}: arch must hold exactly {', '.join(sorted(Arch.__dataclass_fields__))}")
    Arch(**arch).check(str(side))
    if link is not None:
        want = json.loads(json.dumps(link_spec(link)))
        have = sidecar.get("link")
        if have != want:
            diff = _differences(have, want)
            raise ValueError(f"{model or side} was trained for another link ({diff}); train one for this link or "
                             "drop receiver.model")
    return sidecar


def _differences(have, want) -> str:
    if not isinstance(have, dict):
        return "its sidecar has no link"
    out = []
    for kind in sorted(set(have) | set(want)):
        a, b = have.get(kind) or {}, want.get(kind) or {}
        if not isinstance(a, dict):
            out.append(f"{kind}: {a!r}")
            continue
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                shown = "a different table" if key == "table" else f"{a.get(key)!r}, this link {b.get(key)!r}"
                out.append(f"{kind}.{key}: model {shown}")
    return "; ".join(out[:6]) or "unknown difference"


def load_detector(path, link=None) -> TrainedDetector:
    """Load a network written by :func:`save_detector` (checked by :func:`read_sidecar`, and against ``link``)."""
    from ._shared import read_weights

    sidecar = read_sidecar(path, link)
    return _from_files(read_weights(path, _weights_bound(sidecar)), sidecar, str(path))


def _weights_bound(sidecar: dict) -> int:
    return 8 * parameter_count(Arch(**sidecar["arch"])) + 2**20


def _from_files(weights: bytes, sidecar: dict, src: str) -> TrainedDetector:
    """A network from its weight bytes and its checked sidecar (``src`` names them in messages)."""
    from ._shared import load_weights

    arch = Arch(**sidecar["arch"])
    net = load_weights(_network(arch), weights, _weights_bound(sidecar), FORMAT, FORMAT_VERSION, src)
    seed = sidecar.get("seed")
    return TrainedDetector(net=net, arch=arch, link=sidecar.get("link"), training=sidecar.get("training", {}),
                           seed=seed if isinstance(seed, int) else 0, history=sidecar.get("history", []))


__all__ = ["LearnedDetector", "TrainedDetector", "check_link", "check_sidecar", "detector_files", "link_spec",
           "load_detector", "read_sidecar", "save_detector", "torch_device", "train_detector"]
