"""Learned receivers as pipeline components (torch is imported only when one trains or detects).

``hybrid``: Shlezinger and Eldar's task-based receiver -- a learned analog combiner, ``p`` learned scalar
converters (tanh thresholds made hard) and a digital DNN, trained jointly for one point by
:func:`hwsim.receivers.hybrid.train_hybrid` (Sec. 4.2 bit budget: :math:`p = \\lfloor kR \\rfloor`
converters of :math:`\\lfloor 2^{Rn/p} \\rfloor` levels). Its combiner and converters act inside
the receiver, so the link's own front end and converters must be ``identity`` and ``none``:
the receiver takes the antennas' unquantized samples and counts every decision through its
hard converter table.
"""

from __future__ import annotations

import functools
from typing import Literal, get_args

import numpy as np

from hwsim import _checks
from hwsim.components import FileParam, register

from .base import Decision, Detector

#: Training modes of the learned converters (the same as hwsim.converters.learned_adc.MODES; a test checks).
Training = Literal["soft_to_hard", "uniform_soft_to_hard", "passing_gradient", "clipped_passing_gradient", "ste"]
#: The training modes, as a tuple (:data:`hwsim.converters.learned_adc.MODES`).
TRAININGS = get_args(Training)
#: ``optimal``: train on the true channel; ``csi``: on copies carrying the CSI error ``csi_error``.
Trainset = Literal["optimal", "csi"]
TRAINSETS = get_args(Trainset)


@register("receiver", "hybrid")
class Hybrid(Detector):
    """Shlezinger and Eldar's learned hybrid receiver, trained when the point starts (see the module text).

    ``trainings`` receivers are trained per point from independent child streams; the point
    reports their mean with an interval that includes the training spread.

    Parameters
    ----------
    rate : float
        Bits per antenna of the Sec. 4.2 budget (:meth:`budget`): :math:`p = \\lfloor kR \\rfloor` converters
        of :math:`\\lfloor 2^{Rn/p} \\rfloor` levels.
    training : str
        Training mode of the learned converters (:data:`TRAININGS`).
    trainset : str
        ``optimal``: train on the true channel; ``csi``: on copies carrying the CSI error ``csi_error``.
    csi_error : float
        The CSI error of ``trainset = "csi"``.
    gamma : float
        Support of the converters' uniform initialisation (:func:`hwsim.receivers.hybrid.train_hybrid`).
    train_samples, epochs, batch_size, lr, hidden, sharpness, anneal_to
        Training settings (:class:`hwsim.receivers.hybrid.TrainSettings`; ``anneal_to = 0``: no annealing).
    trainings : int
        Receivers trained per point.
    """

    real_link = True
    trainable = True
    #: Upper bounds checked before anything is allocated (a guard against configs that exhaust memory).
    LIMITS = {"train_samples": 10_000_000, "epochs": 100_000, "batch_size": 1_000_000, "hidden": 8192,
              "trainings": 100}

    def __init__(
        self,
        *,
        rate: float = 1.0,
        training: Training = "soft_to_hard",
        trainset: Trainset = "optimal",
        csi_error: float = 0.2,
        gamma: float = 2.0,
        train_samples: int = 5000,
        epochs: int = 60,
        batch_size: int = 64,
        lr: float = 1e-2,
        hidden: int = 64,
        sharpness: float = 6.0,
        anneal_to: float = 0.0,
        trainings: int = 3,
    ):
        p = self.params
        _checks.real("receiver.rate", p["rate"], positive=True)
        _checks.real("receiver.csi_error", p["csi_error"], nonnegative=True)
        _checks.real("receiver.gamma", p["gamma"], positive=True)
        for key, limit in self.LIMITS.items():
            _checks.integer(f"receiver.{key}", p[key], minimum=1, maximum=limit)
        self.settings().validate()
        self.model = None

    @property
    def replicas(self) -> int:
        return self.params["trainings"]

    def settings(self):
        """The training hyper-parameters (:class:`hwsim.receivers.hybrid.TrainSettings`, imported lazily)."""
        from .hybrid import TrainSettings

        p = self.params
        return TrainSettings(train_samples=p["train_samples"], epochs=p["epochs"], batch_size=p["batch_size"],
                             lr=p["lr"], hidden=p["hidden"], sharpness=p["sharpness"],
                             anneal_to=p["anneal_to"] or None)

    def budget(self, link):
        """The Shlezinger-Eldar Sec. 4.2 budget of this receiver on ``link`` (:func:`hwsim.converters.budget.bit_budget`)."""
        from hwsim.converters.adc import MAX_LEVELS
        from hwsim.converters.budget import bit_budget

        b = bit_budget(link.channel.antennas, link.source.users, self.params["rate"])
        if b.levels > MAX_LEVELS:
            raise ValueError(f"receiver.rate = {self.params['rate']} gives {b.levels} levels per converter, more than "
                             f"the limit of {MAX_LEVELS} (hwsim.converters.adc.MAX_LEVELS)")
        return b

    def check_link(self, link) -> None:
        from .map import _check_real_link

        _check_real_link(link, "hybrid")
        if link.frontend.combines or link.adc.quantizes:
            raise ValueError("receiver.type = 'hybrid' holds its own learned combiner and converters: the link needs "
                             f"frontend.type = \"identity\" and adc.type = \"none\", got {link.frontend.name!r} and "
                             f"{link.adc.name!r}")
        self.budget(link)

    def train(self, link, snr_db: float, rng: np.random.Generator, *, progress: bool = False,
              device: str | None = "cpu"):
        """Train one receiver at ``snr_db`` on samples of the link's channel; returns a
        :class:`hwsim.receivers.hybrid.TrainedReceiver` (``device`` None: a GPU when present)."""
        from hwsim.channels import SymbolChannel

        from .hybrid import train_hybrid

        channel = SymbolChannel(link.channel.matrix(link.source.users), constellation="bpsk")
        if self.params["trainset"] == "csi":
            channel.csi_error = self.params["csi_error"]
        b = self.budget(link)
        config = {"channel": link.channel.params, "receiver": self.training_record(), "snr_db": snr_db}
        return train_hybrid(channel, snr_db, b.p, b.levels, self.params["training"], rng, settings=self.settings(),
                            frame_len=link.channel.frame_len, config=config, progress=progress, device=device,
                            gamma=self.params["gamma"])

    #: Receiver settings a training record leaves out: how many receivers a sweep trains (one training is one
    #: receiver), and the hyper-parameters, recorded once as the training's own settings (``training``).
    _NOT_OF_ONE_TRAINING = ("trainings", "train_samples", "epochs", "batch_size", "lr", "hidden", "sharpness",
                            "anneal_to")

    def training_record(self) -> dict:
        """The receiver settings that shaped one training, each stated once (the sidecar's and an exported table's
        ``training_config["receiver"]``): not the sweep's count of trainings, not the hyper-parameters (under
        ``training``), and ``csi_error`` only where the training set uses it (the value used is the record's
        own ``csi_error``)."""
        return {k: v for k, v in self.params.items()
                if k not in self._NOT_OF_ONE_TRAINING and (k != "csi_error" or self.params["trainset"] == "csi")}

    #: ``hwsim train`` trains at the point's SNR.
    trains_at_snr = True

    def train_model(self, link, snr_db, *, device: str = "cpu", progress: bool = False, seed: int | None = None):
        """``hwsim train``: one receiver at ``snr_db`` from ``seed`` (default 0), on ``device`` (on the CPU with
        one thread, as a sweep trains: the same receiver, and much faster than several threads on a busy
        machine)."""
        from hwsim._threads import single_threaded

        from .learned_detector import torch_device

        torch_device(device)  # a clear error where CUDA is absent
        seed = 0 if seed is None else _checks.integer("--seed", seed, minimum=0)
        with single_threaded():
            return self.train(link, float(snr_db), np.random.default_rng(seed), progress=progress, device=device)

    def prepare(self, link, snr_db: float, rng: np.random.Generator) -> None:
        """Train the receiver at ``snr_db`` on the CPU (so every worker trains the same one)."""
        self.model = self.train(link, snr_db, rng).model

    def detect(self, obs) -> Decision:
        if self.model is None:
            raise RuntimeError("the hybrid receiver detects after training: call Pipeline.prepare first")
        from hwsim.channels import get_constellation

        k = obs.H.shape[2]
        return Decision(get_constellation("bpsk").hypothesis_indices(k)[self.model.detect_index(obs.r)])


#: What stands in for a hardware-in-the-loop receiver's converters (``converters``).
Converters = Literal["ideal", "dac", "impaired", "external", "rtl"]
#: The converters a hardware-in-the-loop receiver may use, as a tuple.
CONVERTERS = get_args(Converters)


@register("receiver", "hil")
class HardwareInTheLoop(Hybrid):
    """One hybrid receiver for the whole sweep, its converters replaced by an ADC backend.

    The receiver is loaded from ``model`` (a ``.pt`` file of ``hwsim train`` with its JSON
    sidecar) or, when ``model`` is empty, trained once for the whole sweep at ``train_snr_db`` from
    ``train_seed``, on the CPU, before the points run, and saved in the sweep's ``models/`` (a resumed
    sweep loads it from there, an interrupted training resumes). ``converters``:

    - ``ideal``: its learned table (:class:`hwsim.converters.backends.SimulatedBackend`);
    - ``dac``: the thresholds rounded to a ``dac_bits``-bit threshold DAC (the ``dac_rounded`` bank,
      :class:`hwsim.converters.hardware.DACRoundedBank`);
    - ``impaired``: static comparator offsets of ``offset_lsb`` LSB, drawn once from ``chip_seed`` (the
      ``impaired`` bank, :class:`hwsim.converters.hardware.ImpairedBank`);
    - ``external``: the table served by the reference emulator (``python -P -m hwsim.converters.emulator``)
      in a subprocess, over pipes (the ``external`` bank, :class:`hwsim.converters.hardware.ExternalBank`).
    - ``rtl``: the table exported as a flash converter's Verilog and simulated in Verilator on every
      sample (the ``rtl`` bank, :class:`hwsim.converters.hardware.RTLBank`; Verilator must be installed):
      the same decisions as ``ideal``, through the RTL.

    Each is the converter bank of that name configured with the receiver's learned table
    (``bank.backend(table, p)``, :mod:`hwsim.converters.hardware`); the same banks convert the antenna
    samples of any link as its ``adc``.

    Parameters
    ----------
    rate, training, trainset, csi_error, gamma, train_samples, epochs, batch_size, lr, hidden, sharpness, anneal_to
        As for :class:`Hybrid`.
    trainings : int
        1: one receiver for the whole sweep.
    model : str
        A saved receiver (.pt with its .pt.json sidecar, written by ``hwsim train``); empty: train one.
    train_snr_db : float
        SNR in dB the receiver is trained at.
    train_seed : int
        Seed of its training.
    converters : str
        What replaces its converters (:data:`CONVERTERS`, the list above).
    dac_bits : int
        Bits of the threshold DAC (``converters = "dac"``).
    offset_lsb : float
        Comparator offsets in LSB (``converters = "impaired"``).
    chip_seed : int
        Seed of the offsets drawn once (``converters = "impaired"``).
    """

    FILES = {"model": FileParam(companions=(".json",))}

    def __init__(
        self,
        *,
        rate: float = 1.0,
        training: Training = "soft_to_hard",
        trainset: Trainset = "optimal",
        csi_error: float = 0.2,
        gamma: float = 2.0,
        train_samples: int = 5000,
        epochs: int = 60,
        batch_size: int = 64,
        lr: float = 1e-2,
        hidden: int = 64,
        sharpness: float = 6.0,
        anneal_to: float = 0.0,
        trainings: int = 1,
        model: str = "",
        train_snr_db: float = 12.0,
        train_seed: int = 0,
        converters: Converters = "ideal",
        dac_bits: int = 0,
        offset_lsb: float = 0.0,
        chip_seed: int = 1,
    ):
        super().__init__(rate=rate, training=training, trainset=trainset, csi_error=csi_error, gamma=gamma,
                         train_samples=train_samples, epochs=epochs, batch_size=batch_size, lr=lr, hidden=hidden,
                         sharpness=sharpness, anneal_to=anneal_to, trainings=trainings)
        p = self.params
        if p["converters"] == "dac":
            _checks.integer("receiver.dac_bits", p["dac_bits"], minimum=1, maximum=24)
        _checks.real("receiver.offset_lsb", p["offset_lsb"], nonnegative=True)
        _checks.real("receiver.train_snr_db", p["train_snr_db"])
        _checks.integer("receiver.train_seed", p["train_seed"], minimum=0)
        _checks.integer("receiver.chip_seed", p["chip_seed"], minimum=0)
        self.backend = None

    @property
    def replicas(self) -> int:
        return 1  # one receiver for the whole sweep

    trains_at_snr = False  # at its own train_snr_db

    def train_model(self, link, snr_db=None, *, device: str = "cpu", progress: bool = False,
                    seed: int | None = None):
        """``hwsim train``: the receiver this sweep would train (at ``train_snr_db`` from ``train_seed``, or
        ``seed``), to be loaded back with ``receiver.model``."""
        if self.params["model"]:
            raise ValueError(f"receiver.model = {self.params['model']!r}: this receiver loads a trained one; nothing "
                             "to train (drop receiver.model to train one)")
        seed = self.params["train_seed"] if seed is None else seed
        return super().train_model(link, self.params["train_snr_db"], device=device, progress=progress, seed=seed)

    def check_link(self, link) -> None:
        super().check_link(link)
        if self.params["model"]:
            _check_model(self.params["model"], link, self.budget(link))

    def _key(self, link) -> str:
        """What names the sweep's receiver: the link and the training settings (not the converters that
        replace its own, which every point may change)."""
        import json

        hardware = ("converters", "dac_bits", "offset_lsb", "chip_seed")
        key = {"channel": link.channel.params, "users": link.source.users,
               "receiver": {k: v for k, v in self.params.items() if k not in hardware}}
        return json.dumps(key, sort_keys=True)

    def shared_key(self, link) -> str | None:
        """Key of the receiver every point of a sweep shares (None with ``model``: the file is what is shared)."""
        return None if self.params["model"] else self._key(link)

    def shared_setup(self, link, folder, progress: bool = False, say=None) -> tuple[bytes, str]:
        """Train the sweep's receiver once, before its points run, and save it in ``folder`` (a resumed sweep
        loads it); returns the (weights, sidecar) that a worker's :meth:`prepare` loads instead of training."""
        import json

        from .hybrid import TrainedReceiver
        from ._shared import check_origin, saved_once

        key = self._key(link)

        def check(weights, text, path):
            TrainedReceiver.from_files(weights, text, path)
            check_origin(json.loads(text), key, path)

        what = f"hil receiver (trained at {self.params['train_snr_db']} dB)"
        return saved_once(folder, key, check=check, what=what, say=say,
                          make=lambda: _trained_receiver(key, progress).files(origin={"sweep_key": key}))

    def prepare(self, link, snr_db: float, rng: np.random.Generator) -> None:
        """Load the sweep's receiver (trained by :meth:`shared_setup`, or trained here when the link runs
        outside a sweep; cached per process) and build its converter backend."""
        key = self._key(link)
        self.model = _shared_receiver(key, link.shared.get(key))
        self.backend = self._backend()

    def converter_bank(self):
        """The converter bank that stands in for the receiver's converters (None for ``converters = "ideal"``:
        its own learned table), as the ``adc`` bank of that name would be configured."""
        from hwsim.converters.hardware import DACRoundedBank, ExternalBank, ImpairedBank, RTLBank

        p = self.params
        if p["converters"] == "dac":
            return DACRoundedBank(dac_bits=p["dac_bits"])
        if p["converters"] == "impaired":
            return ImpairedBank(offset_lsb=p["offset_lsb"], chip_seed=p["chip_seed"])
        if p["converters"] == "external":
            return ExternalBank()
        if p["converters"] == "rtl":
            return RTLBank()
        return None

    def _backend(self):
        from hwsim.converters.backends import SimulatedBackend

        table = self.model.adc_table()
        n = self.model.arch["p"]
        bank = self.converter_bank()
        if bank is None:
            return SimulatedBackend(table, n, name="ideal table")
        return bank.backend(table, n)  # the bank's converters, implementing the learned table

    def detect(self, obs) -> Decision:
        if self.model is None:
            raise RuntimeError("the hil receiver detects after set-up: call Pipeline.prepare first")
        from hwsim.channels import get_constellation

        k = obs.H.shape[2]
        return Decision(get_constellation("bpsk").hypothesis_indices(k)[self.model.detect_index_via(obs.r, self.backend)])


def _check_model(path: str, link, budget) -> None:
    """A saved receiver must load as a run loads it (:meth:`hwsim.receivers.hybrid.TrainedReceiver.load`:
    bounded files, tensors only, weights agreeing with the sidecar, its format version) and be one for
    this link: its channel (frame length aside), its number of users and antennas, and the converters
    the link's budget gives. Errors name ``receiver.model`` (:func:`hwsim.receivers._shared.check_model`)."""
    from ._shared import check_model
    from .hybrid import MODEL_FILE, TrainedReceiver

    def fits():
        sidecar, arch = TrainedReceiver.sidecar(MODEL_FILE.sidecar_bytes(path), f"{path}.json")
        config = sidecar.get("config")
        if not isinstance(config, dict):
            raise ValueError(f"{path}.json has no config table: not a receiver sidecar")
        users, antennas = link.source.users, link.channel.antennas
        if (arch["n"], arch["n_classes"]) != (antennas, 2**users):
            raise ValueError(f"{path} was trained for {arch['n']} antennas and {arch['n_classes']} symbol vectors, "
                             f"this link has {antennas} antennas and {2 ** users} ({users} BPSK users)")
        have = {k: v for k, v in (config.get("channel") or {}).items() if k != "frame_len"}
        want = {k: v for k, v in link.channel.params.items() if k != "frame_len"}
        if have != want:
            raise ValueError(f"{path} was trained for channel {have}, this link's channel is {want}")
        if (budget.p, budget.levels) != (arch["p"], arch["n_levels"]):
            raise ValueError(f"the link's budget means {budget.p} converters of {budget.levels} levels, but {path} "
                             f"has {arch['p']} of {arch['n_levels']} (set receiver.rate to match)")

    check_model(path, TrainedReceiver.load, fits)


def _shared_receiver(key: str, files=None):
    """The sweep-wide receiver of hil points: the one the sweep trained (``files``: its weights and sidecar,
    from :meth:`HardwareInTheLoop.shared_setup`), else :func:`_own_receiver`."""
    from .hybrid import TrainedReceiver

    if files is not None:
        return TrainedReceiver.from_files(*files, "the sweep's hil receiver").model
    return _own_receiver(key)


@functools.lru_cache(maxsize=8)
def _own_receiver(key: str):
    """The hil receiver no sweep handed over: the saved ``model``, or trained here (cached: each process
    loads or trains it once)."""
    import json

    from .hybrid import TrainedReceiver

    params = json.loads(key)["receiver"]
    if params["model"]:
        return TrainedReceiver.load(params["model"]).model  # its budget was checked by check_link
    return _trained_receiver(key).model


def _trained_receiver(key: str, progress: bool = False):
    """Train the hil receiver that ``key`` describes (at its ``train_snr_db``, from its ``train_seed``)."""
    import json

    from hwsim._threads import single_threaded
    from hwsim.pipeline import Pipeline

    spec = json.loads(key)
    params = spec["receiver"]
    link = Pipeline.from_tables({"source": {"type": "users", "users": spec["users"], "constellation": "bpsk"},
                                 "channel": {"type": "exponential", **spec["channel"]}, "adc": {"type": "none"},
                                 "receiver": {"type": "hybrid", **{k: v for k, v in params.items()
                                                                   if k in Hybrid.PARAMS}}})
    with single_threaded():  # as in a sweep's worker: the same receiver wherever it trains
        return link.receiver.train(link, params["train_snr_db"], np.random.default_rng(params["train_seed"]),
                                   progress=progress)
