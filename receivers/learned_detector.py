r"""A learned per-bit detector that scales: an unfolded, quantization-aware network with a likelihood list.

``receiver.type = "learned"``. One trained network serves every channel draw, frame and SNR of a
sweep: the channel :math:`H`, the noise level :math:`N_0` and the converters' cells are
*inputs* of the network; what is learned is a handful of scalars per layer (53 weights for
the default 10 layers), so it trains in minutes on a CPU and nothing in it depends on
:math:`N`, :math:`K` or :math:`H`.

The component is this module; its parts are modules of their own: the network
(:mod:`hwsim.receivers.detector_network`: which network, and why; its inputs and outputs), its
training loop (:mod:`hwsim.receivers.detector_training`, on :func:`hwsim.training.fit`) and its model
files (:mod:`hwsim.receivers.detector_files`). Their public names are importable from here too.

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
:data:`~hwsim.receivers.detector_network.MAX_LAYERS` layers or :data:`~hwsim.receivers.detector_network.MAX_SEARCH` search rounds (checked before allocating).
"""

from __future__ import annotations

import functools
import json

import numpy as np

from hwsim import _checks
from hwsim._threads import single_threaded
from hwsim.components import FileParam, register

from ._shared import torch_device
from .base import Decision, Detector
from .detector_files import (FORMAT, FORMAT_VERSION, MAX_SIDECAR_BYTES, TrainedDetector, check_sidecar, detector_files,
                             from_files, link_spec, load_detector, read_sidecar, save_detector)
from .detector_network import MAX_LAYERS, MAX_LIST_VALUES, MAX_SEARCH, Arch, load_torch, network, parameter_count
from .detector_training import train_network as _train  # the name train_detector calls (tests wrap it)

#: Bounds checked before anything is allocated (the network's are :data:`~hwsim.receivers.detector_network.MAX_LAYERS`, :data:`~hwsim.receivers.detector_network.MAX_SEARCH`).
MAX_ANTENNAS = 4096
MAX_USERS = 256
#: Most real values (frames x frame_len x antennas) one training step may hold.
MAX_BATCH_VALUES = 2**24

_LIMITS = {"layers": (1, MAX_LAYERS), "search": (1, MAX_SEARCH), "epochs": (1, 100_000), "steps": (1, 1_000_000),
           "batch_frames": (1, 1_000_000), "snr_groups": (1, 10_000), "val_frames": (1, 1_000_000),
           "val_snrs": (1, 1000)}
#: The names of the network's parts before they had modules of their own (scripts and tests call them).
_torch, _network, _from_files = load_torch, network, from_files


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
    trainable = True

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
        """The sweep's network (handed over in ``link.shared`` under :meth:`shared_key`), else loaded or
        trained here (cached per process; ``rng`` is not used, see the module text)."""
        key = _cache_key(self.params, link)
        self.net = _shared_detector(key, link.shared.get(key), bool(self.params["progress"]))

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
        :meth:`prepare` loads (the sweep hands it over in ``link.shared``) instead of training."""
        from ._shared import check_origin, saved_once

        key = _cache_key(self.params, link)

        def check(weights, text, path):
            sidecar = check_sidecar(text, f"{path}.json", link, model=path)
            check_origin(sidecar, key, path)
            from_files(weights, sidecar, str(path))

        what = f"learned detector ({self.params['epochs']} epochs of {self.params['steps']} steps)"
        return saved_once(folder, key, check=check, what=what, say=say,
                          make=lambda: detector_files(_own_detector(key, progress), origin={"sweep_key": key}))

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
    if link.task != "detection" or not hasattr(link.source, "constellation"):
        raise ValueError(f"receiver.type = 'learned' detects symbols of a users source, got source.type = "
                         f"{link.source.name!r}")
    if link.adc.quantizes and not link.adc.scalar_cells:
        raise ValueError(f"receiver.type = 'learned' serves converter banks that quantize each I and Q sample with "
                         f"a real decision table (scalar_cells) or do not quantize, got adc.type = {link.adc.name!r}")
    if link.frontend.combines:
        raise ValueError(f"receiver.type = 'learned' needs white noise at the converters (frontend.type = "
                         f"\"identity\"), got {link.frontend.name!r}")
    if link.channel.antennas > MAX_ANTENNAS or link.source.users > MAX_USERS:
        raise ValueError(f"receiver.type = 'learned' serves at most {MAX_ANTENNAS} antennas and {MAX_USERS} users, "
                         f"got {link.channel.antennas} and {link.source.users}")


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


def _shared_detector(key: str, files=None, progress: bool = False) -> "TrainedDetector":
    """The sweep-wide network of a learned receiver: the one the sweep sent (``files``: its weights and
    sidecar, trained before the points by :meth:`LearnedDetector.shared_setup`), else :func:`_own_detector`."""
    if files is None:
        return _own_detector(key, progress)
    from hwsim.pipeline import Pipeline

    link = Pipeline.from_tables({**json.loads(key)["tables"], "receiver": {"type": "blmmse"}})
    weights, sidecar = files
    return from_files(weights, check_sidecar(sidecar, "the sweep's learned detector", link),
                      "the sweep's learned detector")


@functools.lru_cache(maxsize=8)
def _own_detector(key: str, progress: bool = False) -> "TrainedDetector":
    """The network of a learned receiver that no sweep handed over: its saved file, or trained here
    (cached per process)."""
    from hwsim.pipeline import Pipeline

    spec = json.loads(key)
    link = Pipeline.from_tables({**spec["tables"], "receiver": {"type": "blmmse"}})
    if spec["receiver"].get("model"):
        return load_detector(spec["receiver"]["model"], link)
    return train_detector(link, progress=progress, **spec["receiver"])


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
    torch, _ = load_torch()
    dev = torch_device(device)
    with single_threaded(), torch.random.fork_rng(devices=[]):
        return _train(link, p, key=_cache_key(p, link), progress=progress, device=dev)


__all__ = ["FORMAT", "FORMAT_VERSION", "MAX_ANTENNAS", "MAX_BATCH_VALUES", "MAX_LAYERS", "MAX_LIST_VALUES",
           "MAX_SEARCH", "MAX_SIDECAR_BYTES", "MAX_USERS", "Arch", "LearnedDetector", "TrainedDetector", "check_link",
           "check_sidecar", "detector_files", "link_spec", "load_detector", "parameter_count", "read_sidecar",
           "save_detector", "torch_device", "train_detector"]
