r"""The deep task-based quantizer for symbol detection (Shlezinger and Eldar Sec. 3.1 and 4.2).

.. code-block:: text

    x [n]  --analog DNN-->  z [p]  --p identical scalar ADCs-->  q [p]  --digital DNN-->  logits [A**k]

- analog DNN: ``Linear(n, hidden) -> tanh -> Linear(hidden, p)``; nothing bypasses the ADCs.
- ADCs: :class:`hwsim.converters.learned_adc.LearnedADC` (soft-to-hard, uniform soft-to-hard,
  passing gradient or straight-through in training; always its hard table in evaluation).
- digital DNN: ``Linear(p, hidden) -> ReLU -> Linear(hidden, A**k)``, softmax over the
  symbol vectors, trained with cross-entropy.

Nonlinearities: the analog side uses ``tanh`` because a saturating, smooth transfer is
what analog (neuromorphic) circuits realise cheaply and it keeps the ADC inputs bounded;
the digital side uses ReLU, the usual cheap choice in software. Both sides are two fully
connected layers, as in the paper.

Training (:func:`train_hybrid`): Adam on ``train_samples`` (5000, the paper's size)
samples of eq. (8) at one SNR, drawn from the true channel ("optimal") or from a
CSI-uncertain copy redrawn every frame ("csi"); every epoch the *hard* receiver is
validated on fresh samples of the same training distribution and the best epoch is kept.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hwsim import _checks
from hwsim.converters.adc import MAX_LEVELS, ThresholdADC
from hwsim.converters.learned_adc import DEFAULT_SHARPNESS, MODES, LearnedADC
from hwsim.model_files import ModelFormat

FORMAT_VERSION = 1

#: Largest receiver :meth:`TrainedReceiver.load` builds from a sidecar, in parameters (64 MiB
#: of float32, far above the paper's sizes). Every size in the sidecar is checked against it
#: before anything is allocated; pass ``TrainedReceiver.load(path, max_parameters=N)`` to load
#: a larger receiver deliberately.
MAX_PARAMETERS = 2**24

#: Largest sidecar (``.pt.json``) :meth:`TrainedReceiver.load` reads.
MAX_SIDECAR_BYTES = 16 * 2**20

FORMAT = "hwsim-hybrid-receiver"
#: The receiver's files, in hwsim's one model-file format (:mod:`hwsim.model_files`); a weight payload
#: without its ``format`` tag is read as this one, as it always was.
MODEL_FILE = ModelFormat(FORMAT, FORMAT_VERSION, "hybrid receiver", MAX_SIDECAR_BYTES,
                         limit_name="hwsim.receivers.hybrid.MAX_SIDECAR_BYTES", weights_what="receiver weight file",
                         untagged=True)

_ARCH_SIZES = ("n", "p", "n_classes", "hidden")
_ARCH_KEYS = frozenset(("n", "p", "n_levels", "n_classes", "mode", "hidden", "gamma", "sharpness"))


def parameter_count(n: int, p: int, n_levels: int, n_classes: int, hidden: int) -> int:
    """Number of parameters of a :class:`HybridReceiver` (the two ADC vectors ``a``, ``b`` included)."""
    return (n * hidden + hidden) + (hidden * p + p) + (p * hidden + hidden) + (hidden * n_classes + n_classes) \
        + 2 * (n_levels - 1)


def _check_arch(src, arch, max_parameters: int) -> dict:
    """The sidecar's ``arch``: known keys, whole sizes and at most ``max_parameters`` parameters in all."""
    how = (f"at most {max_parameters} parameters are loaded (hwsim.receivers.hybrid.MAX_PARAMETERS); to load a "
           "larger receiver deliberately pass TrainedReceiver.load(path, max_parameters=N)")
    if not isinstance(arch, dict):
        raise ValueError(f"{src}: arch must be an object, got {type(arch).__name__}")
    unknown = sorted(set(arch) - _ARCH_KEYS)
    missing = sorted({"n", "p", "n_levels", "n_classes"} - set(arch))
    if unknown or missing:
        raise ValueError(f"{src}: arch has unknown keys {unknown} or lacks {missing}; allowed: {sorted(_ARCH_KEYS)}")
    out = dict(arch)
    out.setdefault("hidden", 32)
    for key in (*_ARCH_SIZES, "n_levels"):
        v = out[key]
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"{src}: arch {key} must be a whole number, got {v!r}")
        if key == "n_levels" and not 2 <= v <= MAX_LEVELS:
            raise ValueError(f"{src}: arch n_levels must lie in [2, {MAX_LEVELS}] (at most hwsim.converters.adc.MAX_LEVELS), "
                             f"got {v}")
        if key != "n_levels" and not 1 <= v <= max_parameters:
            raise ValueError(f"{src}: arch {key} = {v} must lie in [1, {max_parameters}]: {how}")
    count = parameter_count(out["n"], out["p"], out["n_levels"], out["n_classes"], out["hidden"])
    if count > max_parameters:
        sizes = ", ".join(f"{k}={out[k]}" for k in ("n", "p", "n_levels", "n_classes", "hidden"))
        raise ValueError(f"{src}: arch describes a receiver with {count} parameters ({sizes}); {how}")
    if out.get("mode", "soft_to_hard") not in MODES:
        raise ValueError(f"{src}: arch mode must be one of {', '.join(MODES)}, got {out.get('mode')!r}")
    for key in ("gamma", "sharpness"):
        if key in out:
            v = out[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"{src}: arch {key} must be a finite number > 0, got {v!r}")
    return out


class HybridReceiver(nn.Module):
    """Analog DNN -> p scalar ADCs -> digital DNN -> logits over the symbol vectors.

    Parameters
    ----------
    n : int
        ADC-less input dimension (antennas).
    p : int
        Number of scalar ADCs.
    n_levels : int
        Levels of each ADC.
    n_classes : int
        Symbol vectors (``A**k``).
    mode : str
        ADC training mode (:data:`hwsim.converters.learned_adc.MODES`).
    hidden : int
        Width of the hidden layer on each side.
    gamma, sharpness : float
        Passed to :class:`~hwsim.converters.learned_adc.LearnedADC`.
    """

    def __init__(self, n: int, p: int, n_levels: int, n_classes: int, mode: str = "soft_to_hard", *,
                 hidden: int = 32, gamma: float = 2.0, sharpness: float = DEFAULT_SHARPNESS):
        super().__init__()
        self.arch = dict(n=n, p=p, n_levels=n_levels, n_classes=n_classes, mode=mode, hidden=hidden, gamma=gamma,
                         sharpness=sharpness)
        self.analog = nn.Sequential(nn.Linear(n, hidden), nn.Tanh(), nn.Linear(hidden, p))
        self.adc = LearnedADC(n_levels, mode, gamma=gamma, sharpness=sharpness)
        self.digital = nn.Sequential(nn.Linear(p, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))

    def forward(self, x: torch.Tensor, hard: bool = False) -> torch.Tensor:
        """Logits [..., n_classes] from samples [..., n]; ``hard=True`` uses the ADCs' hard table."""
        return self.digital(self.adc(self.analog(x), hard=hard))

    @torch.no_grad()
    def detect_index(self, x, batch: int = 200_000) -> np.ndarray:
        """Hard-path decisions (symbol-vector indices) for numpy samples [..., n]."""
        x = np.asarray(x)
        device = next(self.parameters()).device
        flat = torch.as_tensor(x.reshape(-1, x.shape[-1]), dtype=torch.float32)
        out = [self(flat[i:i + batch].to(device), hard=True).argmax(-1).cpu() for i in range(0, len(flat), batch)]
        return torch.cat(out).numpy().reshape(x.shape[:-1])

    @torch.no_grad()
    def detect_index_via(self, x, backend, batch: int = 200_000) -> np.ndarray:
        """Decisions with the converters replaced by an ADC ``backend`` (hardware in the loop).

        The analog DNN's outputs (float64 [B, p]) go to ``backend.convert``; its codes are
        mapped to this receiver's reconstruction levels and fed to the digital DNN.
        """
        x = np.asarray(x)
        flat = x.reshape(-1, x.shape[-1])
        levels = torch.tensor(self.adc_table().levels, dtype=torch.float32)
        out = []
        for i in range(0, len(flat), batch):
            z = self.analog(torch.as_tensor(flat[i:i + batch], dtype=torch.float32)).double().numpy()
            codes = torch.as_tensor(backend.convert(z), dtype=torch.int64)
            out.append(self.digital(levels[codes]).argmax(-1))
        return torch.cat(out).numpy().reshape(x.shape[:-1])

    def adc_table(self) -> ThresholdADC:
        """The hard decision table every converter implements."""
        return self.adc.to_table()


@dataclass
class TrainSettings:
    """Training hyper-parameters (defaults: the paper's t = 5000 samples)."""

    train_samples: int = 5000
    val_samples: int = 5000
    epochs: int = 60
    batch_size: int = 64
    lr: float = 1e-2
    hidden: int = 64
    sharpness: float = DEFAULT_SHARPNESS
    anneal_to: float | None = None   # final c*D when annealing c upward (None: fixed c)

    def validate(self):
        _checks.integer("train_samples", self.train_samples, minimum=1)
        _checks.integer("val_samples", self.val_samples, minimum=1)
        _checks.integer("epochs", self.epochs, minimum=1)
        _checks.integer("batch_size", self.batch_size, minimum=1)
        _checks.real("lr", self.lr, positive=True)
        _checks.integer("hidden", self.hidden, minimum=1)
        _checks.real("sharpness", self.sharpness, positive=True)
        if self.anneal_to is not None:
            _checks.real("anneal_to", self.anneal_to, positive=True)


@dataclass
class TrainedReceiver:
    """A trained hybrid receiver with everything needed to reproduce and export it."""

    model: HybridReceiver
    config: dict                     # system, point and training settings
    seed: int
    history: list = field(default_factory=list)   # per epoch: loss, hard validation error

    def save(self, path, origin: dict | None = None) -> None:
        """Write ``path`` (weights, torch) and ``path + '.json'`` (configuration, seed, hard ADC table,
        software versions, and ``origin``: where it came from), atomically (:mod:`hwsim.model_files`)."""
        from hwsim.model_files import write

        write(path, self.files(origin))

    def files(self, origin: dict | None = None) -> tuple[bytes, str]:
        """The two files :meth:`save` writes, in memory: (weights, sidecar JSON text)."""
        table = self.model.adc_table()
        return MODEL_FILE.files(self.model.state_dict(), self.model.arch,
                                {"config": self.config, "seed": self.seed, "history": self.history,
                                 "adc_table": {"thresholds": table.thresholds.tolist(),
                                               "levels": table.levels.tolist()}}, origin)

    def describe(self) -> str:
        """One line: the converters and the kept epoch's hard validation symbol-error rate."""
        table = self.model.adc_table()
        errors = [h["val_error"] for h in self.history]
        least = min(errors, default=None)
        best = max(i for i, e in enumerate(errors) if e == least) if errors else None  # the epoch training kept
        kept = "" if best is None else (f"; kept epoch {best + 1} of {len(self.history)}: hard validation "
                                        f"symbol-error rate {self.history[best]['val_error']:.4g}")
        return (f"{self.model.arch['p']} ADCs of {table.n_levels} levels, thresholds "
                + ", ".join(f"{t:.4f}" for t in table.thresholds) + kept)

    @classmethod
    def load(cls, path, *, max_parameters: int | None = None) -> "TrainedReceiver":
        """Load a receiver written by :meth:`save`; a wrong format, version or a damaged file is a ValueError.

        Nothing is allocated from the sidecar's sizes before they are checked: the sidecar may
        hold at most :data:`MAX_SIDECAR_BYTES`, its ``arch`` may describe at most
        ``max_parameters`` parameters (None: :data:`MAX_PARAMETERS`, read at each call; raise
        it deliberately for a larger receiver) and the weight file may not be larger than
        such a receiver needs.
        """
        path = Path(path)
        sidecar = MODEL_FILE.sidecar_bytes(path)
        bound = _weight_bound(cls.sidecar(sidecar, Path(f"{path}.json"), max_parameters)[1])
        return cls.from_files(MODEL_FILE.read_weights(path, bound), sidecar, path, max_parameters=max_parameters)

    @staticmethod
    def sidecar(text: bytes | str, side_path, max_parameters: int | None = None) -> tuple[dict, dict]:
        """(the parsed sidecar, its checked ``arch``) of a receiver sidecar's text; ValueError otherwise."""
        max_parameters = _checks.integer("max_parameters", MAX_PARAMETERS if max_parameters is None
                                         else max_parameters, minimum=1)
        sidecar = MODEL_FILE.parse_sidecar(text, side_path)
        arch = _check_arch(side_path, sidecar.get("arch"), max_parameters)
        seed = sidecar.get("seed")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
            raise ValueError(f"{side_path}: seed must be a whole number in [0, 2**64), got {seed!r}")
        return sidecar, arch

    @classmethod
    def from_files(cls, weights: bytes, sidecar: bytes | str, path, *,
                   max_parameters: int | None = None) -> "TrainedReceiver":
        """A receiver from the two files of :meth:`save` held in memory (``path`` names the weights in
        messages; its sidecar is ``path.json``), checked as :meth:`load` checks them."""
        from hwsim.model_files import one_line

        path = Path(path)
        side_path = Path(str(path) + ".json")
        sidecar, arch = cls.sidecar(sidecar, side_path, max_parameters)
        model = MODEL_FILE.load_into(HybridReceiver(**arch), weights, _weight_bound(arch), path, side_path)
        try:
            table = model.adc_table()
            saved = sidecar["adc_table"]
            same = (np.allclose(table.thresholds, saved["thresholds"]) and np.allclose(table.levels, saved["levels"]))
            config, seed, history = sidecar["config"], sidecar["seed"], sidecar["history"]
        except (RuntimeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path} does not match its sidecar {side_path.name} ({type(exc).__name__}: "
                             f"{one_line(exc)})") from None
        if not same:
            raise ValueError(f"{path}: weights and the sidecar's ADC table disagree (files from different runs?)")
        return cls(model=model, config=config, seed=seed, history=history)


def _weight_bound(arch: dict) -> int:
    """Bytes a weight file of a receiver of architecture ``arch`` may hold at most."""
    return 8 * parameter_count(arch["n"], arch["p"], arch["n_levels"], arch["n_classes"], arch["hidden"]) + 2**20


def _draw(channel, n_samples, frame_len, snr_db, rng):
    frames = channel.sample(-(-n_samples // frame_len), frame_len, snr_db, rng)
    x = frames.x.reshape(-1, channel.n)[:n_samples]
    y = channel.constellation.labels(frames.indices.reshape(-1, channel.k)[:n_samples])
    return torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)


def default_device() -> str:
    """``"cuda"`` when a GPU is visible to torch, else ``"cpu"``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def train_hybrid(channel, snr_db: float, p: int, n_levels: int, mode: str, rng: np.random.Generator, *,
                 settings: TrainSettings | None = None, frame_len: int = 100, config: dict | None = None,
                 progress: bool = False, device: str | None = None, gamma: float = 2.0) -> TrainedReceiver:
    """Train a :class:`HybridReceiver` on samples of ``channel`` at ``snr_db``.

    ``channel`` is a :class:`hwsim.channels.SymbolChannel`; give it ``csi_error`` to train
    under CSI uncertainty. Seeds for data, initial weights and batches all come from ``rng``.
    ``device``: torch device for training (default: a GPU when present, else the CPU); the
    returned model lives on the CPU. A GPU gives a different (equally valid) receiver than
    the CPU for the same seed, so sweeps train on the CPU. ``gamma``: support of the ADCs'
    uniform initialisation and fixed quantizers. The caller's global torch RNG is untouched.
    """
    with torch.random.fork_rng(devices=[]):
        return _train_hybrid(channel, snr_db, p, n_levels, mode, rng, settings=settings, frame_len=frame_len,
                             config=config, progress=progress, device=device, gamma=gamma)


def _train_hybrid(channel, snr_db, p, n_levels, mode, rng, *, settings, frame_len, config, progress, device,
                  gamma):
    from hwsim.checkpoint import TORCH_GLOBAL_RNG
    from hwsim.training import Task, fit

    settings = settings or TrainSettings()
    settings.validate()
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    _checks.generator("rng", rng)
    seed = int(rng.integers(2**31))
    torch_gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # parameter initialisation and the passing-gradient noise
    n_classes = channel.constellation.n_hypotheses(channel.k)
    model = HybridReceiver(channel.n, p, n_levels, n_classes, mode, hidden=settings.hidden,
                           gamma=gamma, sharpness=settings.sharpness)
    device = torch.device(device or default_device())
    model.to(device)
    x_tr, y_tr = (t.to(device) for t in _draw(channel, settings.train_samples, frame_len, snr_db, rng))
    x_va, y_va = (t.to(device) for t in _draw(channel, settings.val_samples, frame_len, snr_db, rng))
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    loss_fn = nn.CrossEntropyLoss()
    data = hashlib.sha256(b"".join(t.cpu().numpy().tobytes() for t in (x_tr, y_tr, x_va, y_va))).hexdigest()
    key = {"data": data, "snr_db": snr_db, "p": p, "n_levels": n_levels, "mode": mode, "settings": asdict(settings),
           "gamma": gamma, "seed": seed, "device": str(device), "config": config}
    order = None

    def before_epoch(epoch):
        nonlocal order
        if settings.anneal_to is not None and model.adc.uses_tanh:
            frac = epoch / max(1, settings.epochs - 1)
            model.adc.set_sharpness(settings.sharpness * (settings.anneal_to / settings.sharpness) ** frac)
        order = torch.randperm(len(x_tr), generator=torch_gen)

    def step(epoch, i):
        idx = order[i * settings.batch_size:(i + 1) * settings.batch_size].to(device)
        opt.zero_grad()
        loss = loss_fn(model(x_tr[idx]), y_tr[idx])
        loss.backward()
        opt.step()
        return float(loss.detach()), len(idx)

    def validate(epoch):
        with torch.no_grad():
            err = float((model(x_va, hard=True).argmax(-1) != y_va).float().mean())
        return err, {"val_error": err}

    task = Task(model, step, validate, before_epoch,
                tracked={"opt": opt, "batches": torch_gen, "torch": TORCH_GLOBAL_RNG},
                show=lambda h: {"loss": f"{h['loss']:.4f}", "validation symbol-error rate": f"{h['val_error']:.3g}"})
    fitted = fit(task, what=f"hybrid receiver ({mode})", key=key, epochs=settings.epochs,
                 steps=-(-settings.train_samples // settings.batch_size),
                 progress=f"train {mode}" if progress else None)
    cfg = dict(config or {})
    cfg.update(snr_db=snr_db, p=p, n_levels=n_levels, mode=mode, frame_len=frame_len, training=asdict(settings),
               csi_error=channel.csi_error)
    return TrainedReceiver(model=model, config=cfg, seed=seed, history=fitted.history)
