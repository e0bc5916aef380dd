"""Symbol detection over eq. (8) with MAP, QMAP or the learned hybrid receiver (seed 001 Sec. 4.2).

Point keys: ``receiver`` (``map``, ``qmap`` or ``hybrid``), ``snr_db``, and

- map / qmap: ``csi`` (``perfect``: the receiver knows the channel; ``uncertain``: it uses a
  copy whose entries carry Gaussian noise of variance ``csi_error * |H_ij|``, redrawn every
  frame); for QMAP ``rate`` (``round(rate * n)`` bits shared by the ``n`` antennas, i.e.
  ``floor(2**rate)`` uniform levels over ``[-gamma, gamma]`` when ``rate * n`` is an
  integer) or ``levels``;
- hybrid: ``training`` (a :data:`hwsim.converters.learned_adc.MODES` entry), ``trainset`` (``optimal``:
  samples of the true channel; ``csi``: of a CSI-uncertain channel redrawn every frame) and
  ``rate`` (Sec. 4.2 budget: ``p = floor(k R)`` ADCs with ``floor(2**(R n / p))`` levels).
  ``system.trainings`` receivers are trained when the point starts, each from its own
  child of the point's stream, and the point reports their mean BER with an interval that
  includes the training spread (:func:`hwsim.engine.montecarlo.combine`); every bit error counted
  uses the hard ADC table.
- hil (hardware in the loop): *one* hybrid receiver for the whole sweep -- loaded from
  ``system.model`` or, if that is empty, trained once at ``system.train_snr_db`` with
  ``system.train_seed`` -- whose converters are replaced by an ADC backend: ``adc`` =
  ``ideal`` (its learned table), ``dac`` (thresholds rounded to a ``dac_bits``-bit threshold
  DAC), ``impaired`` (static comparator offsets of ``offset_lsb`` LSB, drawn once from
  ``system.chip_seed``) or ``external`` (the table served by the reference emulator,
  ``python -m hwsim.converters.emulator``, over pipes).

Learned receivers train on the CPU in sweeps, so that every worker gets the same one.

System keys: ``channel`` = ``exponential`` (the paper's fixed :math:`H_{ij} = e^{-|i-j|}`,
``n_t x n_u``) or ``rayleigh`` (Sionna flat Rayleigh fading, ``n_t`` receive and ``n_u``
transmit complex antennas, optional exponential correlation, redrawn every frame).
"""

from __future__ import annotations

import functools
import json

import numpy as np

METRIC = "rate"
ESTIMATE_COLUMN = "ber"
SAMPLES_COLUMN = "bits"

SYSTEM = {
    "n_t": 12,
    "n_u": 4,
    "constellation": "bpsk",
    "channel": "exponential",
    "rx_correlation": 0.0,
    "tx_correlation": 0.0,
    "csi_error": 0.2,
    "frame_len": 100,
    "gamma": 2.0,
    # hybrid receiver training (see hwsim.receivers.hybrid.TrainSettings)
    "train_samples": 5000,
    "epochs": 60,
    "batch_size": 64,
    "lr": 1e-2,
    "hidden": 64,
    "sharpness": 6.0,
    "anneal_to": 0.0,       # final tanh sharpness when annealing; 0: no annealing
    "trainings": 3,         # hybrid receivers trained per point with independent seeds (their mean is reported)
    # hardware-in-the-loop receiver
    "model": "",            # trained receiver .pt; empty: train one at train_snr_db with train_seed
    "train_snr_db": 12.0,
    "train_seed": 0,
    "chip_seed": 1,         # draws the static offsets of an impaired converter bank
}

POINT_KEYS = {
    "receiver": str,
    "csi": str,
    "snr_db": float,
    "rate": float,
    "levels": int,
    "training": str,
    "trainset": str,
    "adc": str,
    "dac_bits": int,
    "offset_lsb": float,
}

REQUIRED = ("receiver", "snr_db")

RECEIVERS = ("map", "qmap", "hybrid", "hil")
ADC_VARIANTS = ("ideal", "dac", "impaired", "external")
TRAINSETS = ("optimal", "csi")
# The same as hwsim.converters.learned_adc.MODES (a test checks), kept here so validation does not import torch.
TRAININGS = ("soft_to_hard", "uniform_soft_to_hard", "passing_gradient", "clipped_passing_gradient", "ste")
CSI = ("perfect", "uncertain")
CHANNELS = ("exponential", "rayleigh")


#: Upper bounds on the sizes of a system, checked before anything is allocated: a guard against
#: configs that would exhaust memory (``n_t = 100000``). Raise an entry in code if you really mean it.
LIMITS = {"n_t": 1024, "n_u": 64, "frame_len": 100_000, "train_samples": 10_000_000, "epochs": 100_000,
          "batch_size": 1_000_000, "hidden": 8192, "trainings": 100}


def validate(system: dict, point: dict) -> None:
    from hwsim import _checks
    from hwsim.converters.adc import MAX_LEVELS
    from hwsim.converters.budget import split_budget
    from hwsim.channels import get_constellation

    def check_levels(levels):
        if levels > MAX_LEVELS:
            raise ValueError(f"rate {point['rate']} gives {levels} levels per ADC, more than the limit of "
                             f"{MAX_LEVELS} (hwsim.converters.adc.MAX_LEVELS)")

    if system["channel"] not in CHANNELS:
        raise ValueError(f"system.channel must be one of {', '.join(CHANNELS)}, got {system['channel']!r}")
    _checks.integer("system.n_t", system["n_t"], minimum=1)
    _checks.integer("system.n_u", system["n_u"], minimum=1)
    _checks.integer("system.frame_len", system["frame_len"], minimum=1)
    _checks.real("system.gamma", system["gamma"], positive=True)
    _checks.real("system.csi_error", system["csi_error"], nonnegative=True)
    for key, limit in LIMITS.items():
        _checks.integer(f"system.{key}", system[key], minimum=1)
        if system[key] > limit:
            raise ValueError(f"system.{key} = {system[key]} is more than the limit of {limit} "
                             f"(hwsim.studies.detection.LIMITS[{key!r}], a guard against configs that exhaust "
                             "memory; raise it in code if you really mean it)")
    for key in ("rx_correlation", "tx_correlation"):
        if not 0.0 <= _checks.real(f"system.{key}", system[key]) < 1.0:
            raise ValueError(f"system.{key} must lie in [0, 1), got {system[key]}")
    train_settings(system).validate()
    const = get_constellation(system["constellation"])
    const.hypothesis_indices(const.real_dims(system["n_u"]))  # exhaustive limit, for every receiver's labels
    if point["receiver"] not in RECEIVERS:
        raise ValueError(f"receiver must be one of {', '.join(RECEIVERS)}, got {point['receiver']!r}")
    if point.get("csi", "perfect") not in CSI:
        raise ValueError(f"csi must be one of {', '.join(CSI)}, got {point['csi']!r}")
    _checks.real("snr_db", point["snr_db"])
    if point["receiver"] == "hil":
        adc = point.get("adc")
        if adc not in ADC_VARIANTS:
            raise ValueError(f"a hil curve needs adc = one of {', '.join(ADC_VARIANTS)}, got {adc!r}")
        if adc == "dac":
            _checks.integer("dac_bits", point.get("dac_bits"), minimum=1, maximum=24)
        if adc == "impaired":
            _checks.real("offset_lsb", point.get("offset_lsb"), nonnegative=True)
        if system["model"]:
            _check_model_rate(system["model"], system, point)
            return
        point = {**point, "training": point.get("training", "soft_to_hard")}
    if point["receiver"] in ("hybrid", "hil"):
        from hwsim.converters.budget import bit_budget

        if point.get("training") not in TRAININGS:
            raise ValueError(f"a hybrid curve needs training = one of {', '.join(TRAININGS)}, "
                             f"got {point.get('training')!r}")
        if point.get("trainset", "optimal") not in TRAINSETS:
            raise ValueError(f"trainset must be one of {', '.join(TRAINSETS)}, got {point['trainset']!r}")
        if "rate" not in point:
            raise ValueError("a hybrid curve needs a rate")
        check_levels(bit_budget(_receive_dims(system), const.real_dims(system["n_u"]), point["rate"]).levels)
    elif point["receiver"] == "qmap":
        if ("rate" in point) == ("levels" in point):
            raise ValueError("a qmap curve needs exactly one of rate or levels")
        if "rate" in point:
            n = _receive_dims(system)
            check_levels(split_budget(n, point["rate"], n).levels)
        else:
            _checks.integer("levels", point["levels"], minimum=2, maximum=MAX_LEVELS)


def replicas(system: dict, point: dict) -> int:
    """Receivers trained per point: ``system.trainings`` for hybrid curves, else 1."""
    return system["trainings"] if point["receiver"] == "hybrid" else 1


def _check_model_rate(path: str, system: dict, point: dict) -> None:
    """A hil curve's rate must match the loaded receiver's converters (read from its JSON sidecar)."""
    from pathlib import Path

    from hwsim.converters.budget import bit_budget

    side = Path(f"{path}.json")
    if not Path(path).is_file() or not side.is_file():
        raise ValueError(f"system.model must be a trained receiver (.pt with its .pt.json sidecar), got {path!r}")
    try:
        arch = json.loads(side.read_text())["arch"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ValueError(f"{side} is not a receiver sidecar") from None
    if "rate" not in point:
        raise ValueError("a hil curve needs a rate")
    k = arch["n_classes"].bit_length() - 1
    b = bit_budget(_receive_dims(system), k, point["rate"])
    if (b.p, b.levels) != (arch["p"], arch["n_levels"]):
        raise ValueError(f"rate {point['rate']} means {b.p} ADCs of {b.levels} levels, but {path} has "
                         f"{arch['p']} of {arch['n_levels']}")


def _receive_dims(system: dict) -> int:
    return 2 * system["n_t"] if system["channel"] == "rayleigh" else system["n_t"]


def _channel(system: dict):
    from hwsim.channels import RayleighFading, SymbolChannel, exponential_channel, get_constellation

    const = get_constellation(system["constellation"])
    if system["channel"] == "exponential":
        H = exponential_channel(system["n_t"], const.real_dims(system["n_u"]))
    else:
        H = RayleighFading(system["n_t"], system["n_u"], complex_symbols=const.complex_symbols,
                           rx_correlation=system["rx_correlation"], tx_correlation=system["tx_correlation"])
    return SymbolChannel(H, constellation=const)


def train_settings(system: dict):
    from hwsim.receivers.hybrid import TrainSettings

    return TrainSettings(train_samples=system["train_samples"], epochs=system["epochs"],
                         batch_size=system["batch_size"], lr=system["lr"], hidden=system["hidden"],
                         sharpness=system["sharpness"], anneal_to=system["anneal_to"] or None)


def train_receiver(system: dict, point: dict, rng: np.random.Generator, progress: bool = False,
                   device: str | None = "cpu"):
    """Train the hybrid receiver of a point; returns a :class:`hwsim.receivers.hybrid.TrainedReceiver`.

    ``device`` defaults to the CPU (identical receivers on every worker); None picks a GPU when present.
    """
    from hwsim.converters.budget import bit_budget
    from hwsim.receivers.hybrid import train_hybrid

    channel = _channel(system)
    budget = bit_budget(channel.n, channel.k, point["rate"])
    if point.get("trainset", "optimal") == "csi":
        channel.csi_error = system["csi_error"]
    return train_hybrid(channel, float(point["snr_db"]), budget.p, budget.levels, point["training"], rng,
                        settings=train_settings(system), frame_len=system["frame_len"],
                        config={"system": system, "point": point}, progress=progress, device=device,
                        gamma=system["gamma"])


@functools.lru_cache(maxsize=8)
def _shared_receiver(key: str):
    """The sweep-wide receiver of the hil curves (cached: each worker trains or loads it once)."""
    system, point = json.loads(key)
    if system["model"]:
        from hwsim.receivers.hybrid import TrainedReceiver

        return TrainedReceiver.load(system["model"]).model  # its rate was checked by validate()
    point = {"receiver": "hybrid", "training": point.get("training", "soft_to_hard"), "trainset": "optimal",
             "rate": point["rate"], "snr_db": system["train_snr_db"]}
    return train_receiver(system, point, np.random.default_rng(system["train_seed"])).model


def _backend(system: dict, point: dict, model):
    from hwsim.converters.backends import SimulatedBackend

    table = model.adc_table()
    p = model.arch["p"]
    variant = point["adc"]
    if variant == "ideal":
        return SimulatedBackend(table, p, name="ideal table")
    if variant == "dac":
        from hwsim.converters.fixed_point import dac_round

        return SimulatedBackend(dac_round(table, point["dac_bits"]).adc, p, name=f"{point['dac_bits']}-bit DAC table")
    if variant == "impaired":
        from hwsim.converters.impairments import ImpairedADC

        chip = ImpairedADC(table, p, offset_lsb=point["offset_lsb"], rng=np.random.default_rng(system["chip_seed"]))
        return SimulatedBackend(chip, p, name=f"offsets {point['offset_lsb']} LSB")
    return _emulator(json.dumps({"thresholds": table.thresholds.tolist(), "levels": table.levels.tolist(), "p": p}))


@functools.lru_cache(maxsize=8)
def _emulator(key: str):
    """One reference-emulator process per table and worker, shared by its points, closed at exit."""
    import atexit
    import shutil
    import sys
    import tempfile

    from hwsim.converters.adc import ThresholdADC
    from hwsim.converters.backends import ExternalBackend
    from hwsim.converters.tables import export_table

    spec = json.loads(key)
    table = ThresholdADC(spec["thresholds"], spec["levels"])
    folder = tempfile.mkdtemp(prefix="hwsim-hil-")
    path = f"{folder}/table.json"
    export_table(table, path, "json")
    backend = ExternalBackend([sys.executable, "-m", "hwsim.converters.emulator", "--table", path], spec["p"], table.n_levels,
                              name="reference emulator")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    atexit.register(backend.close)
    return backend


def make_link(system: dict, point: dict, rng: np.random.Generator):
    """Link for one point: ``link(rng, batch) -> Tally`` of bit errors; ``batch`` is rounded up to whole frames.

    The independent unit of the tally is the symbol vector (its bits are decided together),
    or the frame when the frames' samples share a randomly drawn channel or channel estimate
    (CSI uncertainty, fading). ``rng`` seeds the point's set-up (training, for the hybrid receiver).
    """
    from hwsim.converters.adc import UniformADC
    from hwsim.converters.budget import split_budget
    from hwsim.channels import FixedChannel, noise_std, perturb_channel
    from hwsim.engine.montecarlo import Tally
    from hwsim.receivers import MAPDetector, QMAPDetector, qmap_bit_errors

    channel = _channel(system)
    const = channel.constellation
    frame_len = system["frame_len"]
    snr_db = float(point["snr_db"])
    uncertain = point.get("csi", "perfect") == "uncertain"
    fixed = isinstance(channel.source, FixedChannel)
    bits_per_sample = channel.k * const.bits_per_dim
    per_frame = uncertain or not fixed  # frames share a random channel (estimate): they are the clusters
    adc = model = backend = None
    if point["receiver"] == "hybrid":
        model = train_receiver(system, point, rng).model
    elif point["receiver"] == "hil":
        shared = {"rate": point.get("rate"), "training": point.get("training", "soft_to_hard")}
        model = _shared_receiver(json.dumps([system, shared], sort_keys=True))
        backend = _backend(system, point, model)
    elif point["receiver"] == "qmap":
        n = channel.n
        levels = point["levels"] if "levels" in point else split_budget(n, point["rate"], n).levels
        adc = UniformADC(levels, system["gamma"])
        if fixed and not uncertain:  # the hot path: one table, fused encode-detect-count kernel
            detector = QMAPDetector(channel.source.H, noise_std(snr_db), adc, const)
            error_table = const.bit_error_table(channel.k)

            def fused_link(rng: np.random.Generator, batch: int):
                fr = channel.sample(-(-batch // frame_len), frame_len, snr_db, rng)
                errors, errors_sq = qmap_bit_errors(detector, fr.x, const.labels(fr.indices), error_table)
                samples = fr.n_samples
                return Tally(errors, samples * bits_per_sample, samples, errors_sq)

            return fused_link

    def link(rng: np.random.Generator, batch: int):
        n_frames = -(-batch // frame_len)
        fr = channel.sample(n_frames, frame_len, snr_db, rng)
        if uncertain:
            H = perturb_channel(fr.H, rng, n_frames, system["csi_error"])
        else:  # a fixed channel needs one table for all frames, a fading one a table per frame
            H = channel.source.H if fixed else fr.H
        if backend is not None:
            idx = const.hypothesis_indices(channel.k)[model.detect_index_via(fr.x, backend)]
        elif model is not None:
            idx = const.hypothesis_indices(channel.k)[model.detect_index(fr.x)]
        elif adc is None:
            idx = MAPDetector(H, fr.noise_std, const).detect(fr.x)
        else:
            idx = QMAPDetector(H, fr.noise_std, adc, const).detect(adc.encode(fr.x))
        errors = const.sample_bit_errors(fr.indices, idx)  # [frames, frame_len]
        if per_frame:
            return Tally.of(errors.sum(axis=1), frame_len * bits_per_sample)
        return Tally.of(errors, bits_per_sample)

    return link
