r"""Shlezinger and Eldar's hybrid receiver at massive-MIMO scale, under a bit budget: ``receiver.type = "task_hybrid"``.

Shlezinger and Eldar's hybrid receiver learns an analog combiner, ``p`` scalar converters and a digital
stage together for its task; its digital stage ends in a softmax over all :math:`2^K` symbol
vectors and its combiner is one fixed matrix, which fits one fixed 12 x 4 channel and nothing
larger. On a fading massive-MIMO uplink (:math:`N` antennas, :math:`K` users, :math:`H` redrawn
every frame, known at the receiver) this component keeps the seed's three learned stages and
makes them independent of :math:`H` and of :math:`2^K`:

.. math::
   u = (H^H H)^{-1} H^H y = s + \tilde n \in \mathbb{C}^K, \qquad
   z = A\,[\Re u;\ \Im u] \in \mathbb{R}^{2p}, \qquad
   q = Q(z), \qquad \hat s = B\,q + c,

then each user's :math:`\hat s_k` is sliced to the nearest constellation point (per-bit max-log
LLRs from :math:`\hat s` with the error variance below). The analog combiner is
:math:`W = A\,(H^H H)^{-1} H^H`: a channel-dependent zero-forcing stage, designed per frame from
the receiver's CSI as the Theorem 3 front end (:mod:`hwsim.designs.frontends`) is, followed by a
*learned* real :math:`2p \times 2K` mixing :math:`A` (I and Q of :math:`p` complex outputs); the
:math:`2p` converters are Shlezinger and Eldar's learned soft-to-hard ADCs (eq. 4, one table for all of them,
:class:`hwsim.converters.learned_adc.LearnedADC`, evaluated only through its hard table), and the
digital stage :math:`B, c` is linear, as in Shlezinger and Eldar's estimator. Because the zero-forcing stage
turns every channel draw into the same model, :math:`u = s + \tilde n` with
:math:`\tilde n \sim \mathcal{CN}(0, N_0 (H^H H)^{-1})` (nearly white for :math:`N \gg K`,
channel hardening), one trained receiver serves every channel draw, frame and SNR; what it
learns is where the converters put their thresholds and how to spread :math:`2p b` bits over the
:math:`2K` real unknowns. Bits per channel use: :math:`2 p b` (``outputs`` :math:`= p`, ``bits``
:math:`= b`), the count the ``massive_mimo_task`` configuration compares at.

Training (once per sweep, in the sweep's own process, like the learned detector): on the soft
path, batches of ``batch_frames`` frames drawn through the
link at SNRs uniform in ``[train_snr_min, train_snr_max]``, Adam with a cosine learning rate, the
tanh sharpness annealed geometrically from ``sharpness`` to ``anneal_to`` over the epochs; after
every epoch the hard path's symbol-error rate is validated on a fixed set (``val_frames`` frames
at each of ``val_snrs`` SNRs) and the best epoch (geometric mean over the SNRs) is kept.
The loop is :func:`hwsim.training.fit`: inside :func:`hwsim.checkpoint.checkpointing` (``hwsim train``,
a sweep's shared set-up) the state is saved after every epoch and an interrupted training resumes
to the same receiver.
The loss is the task's: the cross-entropy of every real axis's amplitude under the posterior
:math:`\mathrm{softmax}_a(-e^{\lambda}(\hat s - a)^2)` (:math:`\lambda` learned), so the converters
learn decision boundaries rather than a small squared error (an MSE loss left a 4-bit receiver's
thresholds off the 16-QAM boundaries and doubled its BER at 0 dB in the development runs).
Initialisation: :math:`A` copies of the identity with offsets that interleave the copies' thresholds
into one finer ladder (:func:`_ladder`; for :math:`p < K` a random orthonormal compression), the
converters uniform on ``[-gamma, gamma]`` (``gamma = 0``, the default: the extent of the
constellation's decision regions, max amplitude plus half a spacing, which puts a 2-bit
converter's thresholds exactly on the 16-QAM decision boundaries), :math:`B` the pseudo-inverse
of :math:`A` with the offsets undone. Training refines that start (in the development runs it
kept the 2-bit thresholds where they started and improved the 4-bit ones); with one-bit
converters the soft-to-hard surrogate does not improve the hard path beyond its start (the
epoch kept is the first), as Shlezinger and Eldar's one-bit learned estimator does.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field

import numpy as np

from hwsim import _checks
from hwsim._threads import single_threaded
from hwsim.components import FileParam, register
from hwsim.model_files import ModelFormat

from .base import Decision, Detector
from .learned import Training

FORMAT = "hwsim-task-hybrid"
FORMAT_VERSION = 1
#: Bounds checked before anything is allocated.
MAX_OUTPUTS = 1024
MAX_BITS = 12
MAX_SIDECAR_BYTES = 4 * 2**20
#: The receiver's files, in hwsim's one model-file format (:mod:`hwsim.model_files`).
MODEL_FILE = ModelFormat(FORMAT, FORMAT_VERSION, "task_hybrid receiver", MAX_SIDECAR_BYTES)
_LIMITS = {"outputs": (1, MAX_OUTPUTS), "bits": (1, MAX_BITS), "epochs": (1, 100_000), "steps": (1, 1_000_000),
           "batch_frames": (1, 100_000), "val_frames": (1, 100_000), "val_snrs": (1, 1000)}
#: Most complex samples (frames x frame_len x antennas) one training batch may hold.
MAX_BATCH_VALUES = 2**24


@register("receiver", "task_hybrid")
class TaskHybrid(Detector):
    """The learned task-based hybrid receiver of the module text (one receiver for the whole sweep).

    Parameters
    ----------
    outputs, bits : int
        :math:`p` complex combiner outputs, each sampled by an I and a Q converter of ``bits`` bits.
    training : str
        Converter training mode (:data:`hwsim.converters.learned_adc.MODES`, the values of
        :data:`hwsim.receivers.learned.TRAININGS`; default soft_to_hard).
    train_snr_min, train_snr_max : float
        SNR range of the training data in dB.
    epochs, steps, batch_frames, lr, sharpness, anneal_to, gamma : training schedule (see module text).
    val_frames, val_snrs : validation set.
    train_seed : int
        Seed of the training data and the initial weights.
    model : str
        A saved receiver (.pt with its .pt.json sidecar, written by ``hwsim train``) instead of training.
    """

    FILES = {"model": FileParam(companions=(".json",))}
    trainable = True
    replicas = 1
    trains_at_snr = False

    def __init__(
        self,
        *,
        outputs: int = 8,
        bits: int = 2,
        training: Training = "soft_to_hard",
        train_snr_min: float = -10.0,
        train_snr_max: float = 14.0,
        epochs: int = 20,
        steps: int = 40,
        batch_frames: int = 16,
        lr: float = 0.01,
        sharpness: float = 6.0,
        anneal_to: float = 60.0,
        gamma: float = 0.0,
        val_frames: int = 16,
        val_snrs: int = 4,
        train_seed: int = 0,
        model: str = "",
    ):
        from ._shared import check_schedule

        p = self.params
        check_schedule(p, _LIMITS)
        _checks.real("receiver.sharpness", p["sharpness"], positive=True)
        _checks.real("receiver.gamma", p["gamma"], nonnegative=True)
        _checks.real("receiver.anneal_to", p["anneal_to"])
        self.net = None

    def check_link(self, link) -> None:
        """A complex link with a QAM source whose antennas reach this receiver unquantized: it holds the
        combiner and the converters itself (the link's frontend ``identity`` and adc ``none``)."""
        if link.channel.real or link.task != "detection":
            raise ValueError("receiver.type = 'task_hybrid' detects users' symbols on a complex link")
        if link.frontend.combines or link.adc.quantizes:
            raise ValueError("receiver.type = 'task_hybrid' holds its own combiner and converters: the link needs "
                             f"frontend.type = \"identity\" and adc.type = \"none\", got {link.frontend.name!r} and "
                             f"{link.adc.name!r}")
        if link.source.users > link.channel.antennas:
            raise ValueError(f"receiver.type = 'task_hybrid' needs at least as many antennas as users (its combiner "
                             f"starts with zero forcing), got {link.channel.antennas} and {link.source.users}")
        values = self.params["batch_frames"] * link.channel.frame_len * link.channel.antennas
        if values > MAX_BATCH_VALUES:
            raise ValueError(f"receiver.batch_frames x channel.frame_len x channel.antennas = {values} samples per "
                             f"training step, more than the limit of {MAX_BATCH_VALUES}")
        if self.params["model"]:  # the whole file, as a run loads it, and the link it was trained for
            from ._shared import check_model

            path = self.params["model"]
            check_model(path, load, lambda: read_sidecar(path, link))

    def bits_per_use(self) -> int:
        """Converter bits per channel use, :math:`2 p b`."""
        return 2 * self.params["outputs"] * self.params["bits"]

    def prepare(self, link, snr_db, rng) -> None:
        """The sweep's receiver (handed over in ``link.shared`` under :meth:`shared_key`), else loaded or
        trained here (cached per process; ``rng`` is not used: one receiver serves every point, trained
        from ``train_seed``)."""
        key = _key(self.params, link)
        self.net = _sweeps_receiver(key, link.shared.get(key))

    def detect(self, obs) -> Decision:
        if self.net is None:
            raise RuntimeError("the task_hybrid receiver detects after set-up: call Pipeline.prepare first")
        return self.net.decide(obs)

    # ---- once per sweep (hooks of hwsim.pipeline), and hwsim train

    def shared_key(self, link) -> str | None:
        return None if self.params["model"] else _key(self.params, link)

    def shared_setup(self, link, folder, progress: bool = False, say=None) -> tuple[bytes, str]:
        """Train the sweep's receiver once (or load it from ``folder``, where an earlier run saved it)."""
        from ._shared import check_origin, saved_once

        key = _key(self.params, link)

        def check(weights, text, path):
            sidecar = _check_sidecar(text, f"{path}.json", link, model=path)
            check_origin(sidecar, key, path)
            _from_files(weights, sidecar, str(path))

        p = self.params
        what = f"task_hybrid receiver (p={p['outputs']}, {p['bits']}-bit, {p['epochs']} epochs)"
        return saved_once(folder, key, check=check, what=what, say=say,
                          make=lambda: _files(_own(key, progress), origin={"sweep_key": key}))

    def train_model(self, link, snr_db=None, *, device: str = "cpu", progress: bool = False,
                    seed: int | None = None):
        """``hwsim train``: the receiver a sweep of this link would train (``snr_db`` not used)."""
        if self.params["model"]:
            raise ValueError(f"receiver.model = {self.params['model']!r}: this receiver loads a trained one; nothing "
                             "to train (drop receiver.model to train one)")
        from ._shared import torch_device

        params = dict(self.params)
        if seed is not None:
            params["train_seed"] = _checks.integer("--seed", seed, minimum=0)
        self.check_link(link)
        return train(link, params, progress=progress, device=torch_device(device))


def _key(params: dict, link) -> str:
    tables = {kind: {"type": getattr(link, kind).name, **getattr(link, kind).params}
              for kind in ("source", "channel", "frontend", "adc")}
    if params["model"]:
        from pathlib import Path

        st = Path(params["model"]).stat()
        return json.dumps({"model": params["model"], "file": [st.st_size, st.st_mtime_ns], "tables": tables},
                          sort_keys=True)
    return json.dumps({"receiver": params, "tables": tables}, sort_keys=True)


def link_spec(link) -> dict:
    """What a receiver is trained for: source and channel (frame length aside)."""
    return {"source": {"type": link.source.name, **link.source.params},
            "channel": {"type": link.channel.name, **{k: v for k, v in link.channel.params.items()
                                                      if k != "frame_len"}}}


def _sweeps_receiver(key: str, files=None, progress: bool = False) -> "TrainedTaskHybrid":
    """The sweep's receiver: the one the sweep sent (``files``: its weights and sidecar, trained before the
    points by :meth:`TaskHybrid.shared_setup`), else :func:`_own`."""
    if files is None:
        return _own(key, progress)
    from hwsim.pipeline import Pipeline

    link = Pipeline.from_tables({**json.loads(key)["tables"], "receiver": {"type": "zf"}})
    weights, sidecar = files
    return _from_files(weights, _check_sidecar(sidecar, "the sweep's task_hybrid receiver", link),
                       "the sweep's task_hybrid receiver")


@functools.lru_cache(maxsize=8)
def _own(key: str, progress: bool = False) -> "TrainedTaskHybrid":
    """The receiver no sweep handed over: its saved ``model``, or trained here (cached per process)."""
    from hwsim.pipeline import Pipeline

    spec = json.loads(key)
    link = Pipeline.from_tables({**spec["tables"], "receiver": {"type": "zf"}})
    if "model" in spec:
        return load(spec["model"], link)
    return train(link, spec["receiver"], progress=progress)


# ---- the network ---------------------------------------------------------------------------------------------------


@functools.cache
def _torch():
    import torch
    from torch import nn

    from hwsim.converters.learned_adc import LearnedADC

    class Network(nn.Module):
        """Real [.., 2K] zero-forcing outputs -> analog mixing -> 2p learned converters -> linear estimate."""

        def __init__(self, users: int, outputs: int, levels: int, mode: str, gamma: float, sharpness: float):
            super().__init__()
            d, m = 2 * users, 2 * outputs
            self.analog = nn.Linear(d, m)
            self.adc = LearnedADC(levels, mode, gamma=gamma, sharpness=sharpness)
            self.digital = nn.Linear(m, d)
            with torch.no_grad():
                a, offset = _ladder(d, m, levels, gamma, torch)
                self.analog.weight.copy_(a)
                self.analog.bias.copy_(-offset)
                pinv = torch.linalg.pinv(a)
                self.digital.weight.copy_(pinv)
                self.digital.bias.copy_(pinv @ offset)

            self.log_precision = nn.Parameter(torch.tensor(math.log(10.0)))   # of the training loss's axis posteriors

        def forward(self, u, hard: bool = False):
            return self.digital(self.adc(self.analog(u), hard=hard))

    return torch, Network


def _ladder(d: int, m: int, levels: int, gamma: float, torch):
    r"""Initial analog stage: ``r = m // d`` copies of the identity, copy ``j`` offset by
    :math:`\delta_j = -\Delta + \Delta'(j + 1)` (:math:`\Delta = 2\gamma/L` the converter's step,
    :math:`\Delta' = 2\gamma/(r(L-1)+1)`), so the copies' thresholds interleave into one finer ladder
    (for one-bit converters exactly a uniform quantizer of :math:`r + 1` levels on
    :math:`[-\gamma, \gamma]`); rows beyond ``r d`` random unit vectors, and a random orthonormal
    compression when ``m < d``. Returns (weights [m, d], offsets [m])."""
    if m < d:
        return torch.linalg.qr(torch.randn(d, d))[0][:m].clone(), torch.zeros(m)
    r = m // d
    step, fine = 2 * gamma / levels, 2 * gamma / (r * (levels - 1) + 1)
    a, offset = torch.zeros(m, d), torch.zeros(m)
    for j in range(r):
        a[j * d:(j + 1) * d] = torch.eye(d)
        offset[j * d:(j + 1) * d] = -step + fine * (j + 1) if r > 1 else 0.0
    if m > r * d:
        extra = torch.randn(m - r * d, d)
        a[r * d:] = extra / extra.norm(dim=1, keepdim=True)
    return a, offset


@dataclass
class TrainedTaskHybrid:
    """A trained receiver with what it was trained for."""

    net: object
    arch: dict
    link: dict
    training: dict
    seed: int
    residual: float = 0.0          # error variance per complex symbol the converters add (validation, top SNR)
    history: list = field(default_factory=list)

    def estimate(self, obs) -> tuple[np.ndarray, np.ndarray]:
        """(symbol estimates complex [F, L, K], zero-forcing noise variance per user [F, K])."""
        torch, _ = _torch()
        u, zf_var = _zero_forcing(obs)
        with single_threaded(), torch.no_grad():
            out = self.net(torch.as_tensor(_stack(u), dtype=torch.float32), hard=True).double().numpy()
        k = u.shape[-1]
        return out[..., :k] + 1j * out[..., k:], zf_var

    def decide(self, obs) -> Decision:
        s, zf_var = self.estimate(obs)
        qam = obs.constellation
        var = zf_var[:, None, :] + self.residual
        return Decision(indices=qam.hard_decision(s), llr=qam.llr(s, np.broadcast_to(var, s.shape)))

    def adc_table(self):
        """The converters' hard decision table (the same for all 2p)."""
        return self.net.adc.to_table()

    def describe(self) -> str:
        table = self.adc_table()
        best = min(reversed(self.history), key=lambda h: h["val_score"]) if self.history else None
        kept = "" if best is None else (f"; kept epoch {best['epoch'] + 1} of {len(self.history)}: hard validation SER "
                                        + ", ".join(f"{v:.3g}" for v in best["val_ser"]))
        return (f"{2 * self.arch['outputs']} converters of {table.n_levels} levels "
                f"({2 * self.arch['outputs'] * self.arch['bits']} bits per channel use), thresholds "
                + ", ".join(f"{t:.4f}" for t in table.thresholds) + kept)

    def save(self, path, origin: dict | None = None) -> None:
        """Write ``path`` (the torch state) and ``path.json`` (its sidecar), atomically (:mod:`hwsim.model_files`)."""
        from hwsim.model_files import write

        write(path, _files(self, origin))


def _zero_forcing(obs) -> tuple[np.ndarray, np.ndarray]:
    """:math:`u = (H^H H)^{-1} H^H y` per frame, [F, L, K], and :math:`N_0 [(H^H H)^{-1}]_{kk}`, [F, K]."""
    H = np.asarray(obs.H)
    G = np.conj(np.swapaxes(H, 1, 2)) @ H
    Ginv = np.linalg.inv(G)
    u = np.einsum("fkn,fln->flk", Ginv @ np.conj(np.swapaxes(H, 1, 2)), np.asarray(obs.r))
    return u, max(float(obs.noise_var), 0.0) * np.real(np.diagonal(Ginv, axis1=1, axis2=2))


def _stack(u: np.ndarray) -> np.ndarray:
    return np.concatenate([u.real, u.imag], axis=-1)


# ---- training ------------------------------------------------------------------------------------------------------


def train(link, params: dict, *, progress: bool = False, device=None) -> TrainedTaskHybrid:
    """Train a task_hybrid receiver for ``link`` (the receiver's parameters ``params``), deterministic for a
    fixed ``train_seed`` on the CPU (one thread)."""
    torch, _ = _torch()
    p = TaskHybrid(**{k: v for k, v in params.items() if k != "model"}).params
    with single_threaded(), torch.random.fork_rng(devices=[]):
        return _train(link, p, progress, device or torch.device("cpu"))


def _draw(link, frames: int, snrs, rng, torch, device):
    """``frames`` frames over ``snrs``: (real zero-forcing outputs [B, 2K], real symbols [B, 2K], indices [B, K])."""
    us, xs, idxs = [], [], []
    for group, snr in zip(np.array_split(np.arange(frames), len(snrs)), snrs):
        if len(group) == 0:
            continue
        idx, obs = link.observe(len(group), float(snr), rng)
        u, _ = _zero_forcing(obs)
        k = u.shape[-1]
        us.append(_stack(u).reshape(-1, 2 * k))
        xs.append(_stack(obs.constellation.symbols(idx)).reshape(-1, 2 * k))
        idxs.append(idx.reshape(-1, k))
    f32 = functools.partial(torch.as_tensor, dtype=torch.float32, device=device)
    return f32(np.concatenate(us)), f32(np.concatenate(xs)), np.concatenate(idxs)


def _task_loss(out, x, amps, log_precision):
    r"""Cross-entropy of every real axis's amplitude under the posterior
    :math:`\mathrm{softmax}_a(-e^{\lambda} (\hat s - a)^2)`: what the task (detection) needs, so the
    converters learn the decision boundaries rather than a small squared error."""
    import torch

    logits = -torch.exp(log_precision) * (out[..., None] - amps) ** 2          # [B, 2K, M]
    target = torch.argmin((x[..., None] - amps).abs(), dim=-1)                   # [B, 2K]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, amps.numel()), target.reshape(-1))


def _train(link, p: dict, progress: bool, device) -> TrainedTaskHybrid:
    from hwsim.checkpoint import TORCH_GLOBAL_RNG
    from hwsim.training import Task, fit

    torch, Network = _torch()
    seed = int(p["train_seed"])
    data_seed, val_seed, init_seed = np.random.SeedSequence(seed).spawn(3)
    torch.manual_seed(int(init_seed.generate_state(1)[0]))
    users, qam = link.source.users, link.source.constellation
    amps_np = np.asarray(qam.axis_points, dtype=float)
    gamma = p["gamma"] or float(amps_np[-1] + 0.5 * (amps_np[1] - amps_np[0]))  # 0: the decision regions' extent
    arch = {"users": users, "outputs": p["outputs"], "bits": p["bits"], "levels": 2 ** p["bits"],
            "mode": p["training"], "gamma": gamma, "sharpness": p["sharpness"]}
    net = Network(users, p["outputs"], arch["levels"], p["training"], gamma, p["sharpness"]).to(device)
    amps = torch.as_tensor(qam.axis_points, dtype=torch.float32, device=device)
    rng, val_rng = np.random.default_rng(data_seed), np.random.default_rng(val_seed)
    lo, hi = p["train_snr_min"], p["train_snr_max"]
    val_snrs = np.linspace(lo, hi, p["val_snrs"]) if p["val_snrs"] > 1 else np.array([0.5 * (lo + hi)])
    val = [_draw(link, p["val_frames"], [s], val_rng, torch, device) for s in val_snrs]
    opt = torch.optim.Adam(net.parameters(), lr=p["lr"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=p["epochs"] * p["steps"])

    def before_epoch(epoch):
        if net.adc.uses_tanh and p["anneal_to"] > 0:
            frac = epoch / max(1, p["epochs"] - 1)
            net.adc.set_sharpness(p["sharpness"] * (p["anneal_to"] / p["sharpness"]) ** frac)

    def step(epoch, i):
        u, x, _ = _draw(link, p["batch_frames"], rng.uniform(lo, hi, min(4, p["batch_frames"])), rng, torch, device)
        opt.zero_grad()
        loss = _task_loss(net(u), x, amps, net.log_precision)
        loss.backward()
        opt.step()
        sched.step()
        return float(loss.detach())

    def validate(epoch):
        """Hard-path symbol-error rates and MSEs per validation SNR; the score is the mean log10 SER."""
        sers, mses = [], []
        with torch.no_grad():
            for vu, vx, vidx in val:
                out = net(vu, hard=True)
                mses.append(float(((out - vx) ** 2).sum(-1).mean()) / users)
                s = out[:, :users].double().cpu().numpy() + 1j * out[:, users:].double().cpu().numpy()
                sers.append(float(np.mean(qam.hard_decision(s) != vidx)))
        score = float(np.mean(np.log10(np.maximum(sers, 1e-6))))
        return score, {"val_ser": sers, "val_mse": mses, "val_score": score}

    task = Task(net, step, validate, before_epoch,
                tracked={"opt": opt, "sched": sched, "data": rng, "torch": TORCH_GLOBAL_RNG},
                show=lambda h: {"loss": f"{h['loss']:.4f}", "validation SER": f"{10 ** h['val_score']:.2e}"})
    fitted = fit(task, what="task_hybrid receiver", key={"training": _key(p, link), "device": str(device)},
                 epochs=p["epochs"], steps=p["steps"], progress="train task_hybrid" if progress else None)
    # residual: the error variance at the top validation SNR, where the converters' share dominates (LLRs)
    residual = fitted.history[fitted.best_epoch]["val_mse"][-1]
    training = {k: v for k, v in p.items() if k != "model"}
    training["device"] = str(device)
    return TrainedTaskHybrid(net=net, arch=arch, link=link_spec(link), training=training, seed=seed,
                             residual=max(residual, 1e-6), history=fitted.history)


# ---- files ---------------------------------------------------------------------------------------------------------


def _files(det: TrainedTaskHybrid, origin: dict | None = None) -> tuple[bytes, str]:
    return MODEL_FILE.files(det.net.state_dict(), det.arch,
                            {"link": det.link, "training": det.training, "seed": det.seed, "residual": det.residual,
                             "history": det.history}, origin)


def read_sidecar(path, link=None) -> dict:
    """The checked sidecar of a saved receiver (format, version, bounded architecture, the link)."""
    return _check_sidecar(MODEL_FILE.sidecar_bytes(path), f"{path}.json", link, model=path)


def _check_sidecar(text, side, link=None, model=None) -> dict:
    sidecar = MODEL_FILE.parse_sidecar(text, side)
    arch = sidecar.get("arch")
    keys = {"users", "outputs", "bits", "levels", "mode", "gamma", "sharpness"}
    if not isinstance(arch, dict) or set(arch) != keys:
        raise ValueError(f"{side}: arch must hold exactly {', '.join(sorted(keys))}")
    for key, hi in (("users", 4096), ("outputs", MAX_OUTPUTS), ("bits", MAX_BITS)):
        v = arch[key]
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= hi:
            raise ValueError(f"{side}: arch.{key} must be a whole number in [1, {hi}], got {v!r}")
    if arch["levels"] != 2 ** arch["bits"]:
        raise ValueError(f"{side}: arch.levels must be 2 ** arch.bits")
    if link is not None and sidecar.get("link") != json.loads(json.dumps(link_spec(link))):
        raise ValueError(f"{model or side} was trained for another link (model: {sidecar.get('link')}, this link: "
                         f"{link_spec(link)}); train one for this link or drop receiver.model")
    return sidecar


def _from_files(weights: bytes, sidecar: dict, src: str) -> TrainedTaskHybrid:
    a = sidecar["arch"]
    _, Network = _torch()
    net = MODEL_FILE.load_into(Network(a["users"], a["outputs"], a["levels"], a["mode"], a["gamma"], a["sharpness"]),
                               weights, _weights_bound(a), src)
    residual = sidecar.get("residual")
    return TrainedTaskHybrid(net=net, arch=a, link=sidecar.get("link"), training=sidecar.get("training", {}),
                             seed=int(sidecar.get("seed") or 0),
                             residual=float(residual) if isinstance(residual, (int, float)) else 0.0,
                             history=sidecar.get("history", []))


def _weights_bound(arch: dict) -> int:
    """Bytes a weight file of a receiver of architecture ``arch`` (checked by :func:`_check_sidecar`) may hold."""
    return 8 * (4 * arch["users"] * arch["outputs"] * 2 + 2 * arch["users"] + 2 * arch["levels"]) + 2**20


def load(path, link=None) -> TrainedTaskHybrid:
    """Load a receiver saved by ``hwsim train`` (checked against ``link``; the weight file is refused
    before it is read when it is larger than its sidecar's receiver needs)."""
    sidecar = read_sidecar(path, link)
    return _from_files(MODEL_FILE.read_weights(path, _weights_bound(sidecar["arch"])), sidecar, str(path))


__all__ = ["TaskHybrid", "TrainedTaskHybrid", "load", "read_sidecar", "train"]
