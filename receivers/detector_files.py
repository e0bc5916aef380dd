"""The learned detector's model files (:mod:`hwsim.receivers.learned_detector`): a trained network with
what it was trained for (:class:`TrainedDetector`), written as two files (:func:`save_detector`): the
torch state (tensors only) and a JSON sidecar with the architecture, the link it was trained for
(:func:`~hwsim.receivers.detector_files.link_spec`), the training settings, the seed, the software versions and the history; read back by
:func:`load_detector`, the sidecar checked first (format, version, bounded architecture, the link) and the
weight file refused before it is read when it is larger than the network its sidecar describes needs.
Nothing is allocated from a sidecar's sizes before they are checked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from hwsim._threads import single_threaded
from hwsim.model_files import ModelFormat

from .base import Decision
from .detector_network import Arch, forward, inputs, load_torch, network, parameter_count, to_indices

FORMAT = "hwsim-learned-detector"
FORMAT_VERSION = 1
MAX_SIDECAR_BYTES = 4 * 2**20
#: The learned detector's files, in hwsim's one model-file format (:mod:`hwsim.model_files`).
MODEL_FILE = ModelFormat(FORMAT, FORMAT_VERSION, "learned detector", MAX_SIDECAR_BYTES)


def link_spec(link) -> dict:
    """What a network is trained for: the source, channel (frame length aside), front end and converters,
    the converter table included (JSON-ready)."""
    spec = {"source": {"type": link.source.name, **link.source.params},
            "channel": {"type": link.channel.name,
                        **{k: v for k, v in link.channel.params.items() if k != "frame_len"}},
            "frontend": {"type": link.frontend.name, **link.frontend.params},
            "adc": {"type": link.adc.name, **link.adc.params}}
    if link.adc.quantizes:
        table = link.adc.table_for(2 * link.channel.antennas)
        spec["adc"]["table"] = {"thresholds": [float(t) for t in table.thresholds],
                                "levels": [float(v) for v in table.levels]}
    return spec


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
        torch, _ = load_torch()
        with single_threaded(), torch.no_grad():
            return forward(self.net, inputs(obs, torch), torch).double().numpy()

    def decide(self, obs) -> Decision:
        llr = self.llr(obs)
        return Decision(indices=to_indices(llr > 0), llr=llr)


def save_detector(det: TrainedDetector, path, origin: dict | None = None) -> None:
    """Write ``path`` (the torch state) and ``path.json`` (architecture, link, training settings, seed,
    versions, history, and ``origin``: where it came from, e.g. the sweep config), atomically."""
    from hwsim.model_files import write

    write(path, detector_files(det, origin))


def detector_files(det: TrainedDetector, origin: dict | None = None) -> tuple[bytes, str]:
    """The two files of a saved network, in memory: (weights, sidecar JSON text)."""
    return MODEL_FILE.files(det.net.state_dict(), det.arch.__dict__,
                            {"link": det.link, "training": det.training, "seed": det.seed, "history": det.history},
                            origin)


def read_sidecar(path, link=None) -> dict:
    """The checked sidecar of a saved network (format, version, bounded architecture, and, given ``link``,
    the link it was trained for); a clear ValueError otherwise. Allocates nothing from its sizes."""
    return check_sidecar(MODEL_FILE.sidecar_bytes(path), f"{path}.json", link, model=path)


def check_sidecar(text: bytes | str, side, link=None, model=None) -> dict:
    """Parse and check a sidecar's text (see :func:`read_sidecar`); ``side`` and ``model`` name the files
    in messages."""
    sidecar = MODEL_FILE.parse_sidecar(text, side)
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
    sidecar = read_sidecar(path, link)
    return from_files(MODEL_FILE.read_weights(path, weights_bound(sidecar)), sidecar, str(path))


def weights_bound(sidecar: dict) -> int:
    return 8 * parameter_count(Arch(**sidecar["arch"])) + 2**20


def from_files(weights: bytes, sidecar: dict, src: str) -> TrainedDetector:
    """A network from its weight bytes and its checked sidecar (``src`` names them in messages)."""
    arch = Arch(**sidecar["arch"])
    net = MODEL_FILE.load_into(network(arch), weights, weights_bound(sidecar), src)
    seed = sidecar.get("seed")
    return TrainedDetector(net=net, arch=arch, link=sidecar.get("link"), training=sidecar.get("training", {}),
                           seed=seed if isinstance(seed, int) else 0, history=sidecar.get("history", []))


__all__ = ["FORMAT", "FORMAT_VERSION", "MAX_SIDECAR_BYTES", "MODEL_FILE", "TrainedDetector", "check_sidecar", "detector_files",
           "from_files", "link_spec", "load_detector", "read_sidecar", "save_detector", "weights_bound"]
