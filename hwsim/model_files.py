"""hwsim's one model-file format: a trained network saved as two files, read back with bounded reads.

Every learned model that saves to a file (the ``hybrid``/``hil`` receiver,
:class:`hwsim.receivers.hybrid.TrainedReceiver`; the learned detector, :mod:`hwsim.receivers.detector_files`;
the ``task_hybrid`` receiver, :mod:`hwsim.receivers.task_hybrid`) describes its files with one
:class:`ModelFormat` and writes and reads them through it:

- ``NAME.pt``: ``torch.save`` of ``{"format": NAME, "version": N, "state_dict": {...}}``, tensors only;
- ``NAME.pt.json``, the sidecar: ``{"format", "version", "arch", ...}`` (``arch``: what builds the network;
  then the model's own fields, such as the config table or the link it was trained for, the seed and the
  training history), ``"versions"`` (the software that wrote it) and, where given, ``"origin"`` (where it
  came from, e.g. the sweep key): the architecture and the provenance.

Both files are written atomically (:mod:`hwsim._files`: a temporary name, then a rename). Reading is bounded
before anything is read or allocated: the sidecar may hold at most the format's ``max_sidecar_bytes``; its
``arch`` is checked by the model's own code, which then gives the largest weight file such a network needs,
and a larger weight file is refused before it is read. The weights are loaded as tensors only
(:func:`hwsim._weights.load_tensors`: nothing in a file runs). Every error is one line naming the file.
The format names and versions of the files written before this module existed are the ones here, so
those files load unchanged.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

from hwsim._files import check_version

#: The keys of a weight file's payload, in this order.
PAYLOAD_KEYS = ("format", "version", "state_dict")


def one_line(exc: BaseException, limit: int = 300) -> str:
    """``exc``'s message on one line, at most ``limit`` characters."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


@dataclass(frozen=True)
class ModelFormat:
    """The files of one kind of learned model.

    ``name`` and ``version`` tag both files; ``what`` names the kind in messages ("learned detector");
    ``max_sidecar_bytes`` bounds the sidecar (``limit_name``, where given, says where that bound is set);
    ``weights_what`` names the weight file in the message for an unreadable one; ``untagged`` accepts
    a weight payload that lacks its ``format`` (a reader's leniency kept for old files).
    """

    name: str
    version: int
    what: str
    max_sidecar_bytes: int
    limit_name: str | None = None
    weights_what: str = "weight file"
    untagged: bool = False

    # ---- writing ----------------------------------------------------------------------------------------------

    def files(self, state_dict, arch: dict, fields: dict, origin: dict | None = None) -> tuple[bytes, str]:
        """The two files of a saved network, in memory: (weights, sidecar JSON text). The sidecar holds
        the format fields, ``arch``, ``fields`` (in their order), the software versions and, when given,
        ``origin``."""
        import torch

        from hwsim._versions import MODEL_DISTS, software_versions

        if not isinstance(arch, dict):
            raise TypeError(f"arch must be a dict (what builds the network), got {type(arch).__name__}")
        clash = sorted({"format", "version", "arch", "versions", "origin"} & set(fields))
        if clash:
            raise ValueError(f"fields may not set {clash}: the model-file format writes them")
        doc = {"format": self.name, "version": self.version, "arch": arch, **fields,
               "versions": software_versions(MODEL_DISTS)}
        if origin:
            doc["origin"] = origin
        buf = io.BytesIO()
        torch.save({"format": self.name, "version": self.version, "state_dict": state_dict}, buf)
        return buf.getvalue(), json.dumps(doc, indent=1)

    def save(self, path, state_dict, arch: dict, fields: dict, origin: dict | None = None) -> None:
        """Write ``path`` (the weights) and ``path.json`` (the sidecar) of :meth:`files`, atomically."""
        write(path, self.files(state_dict, arch, fields, origin))

    # ---- reading ----------------------------------------------------------------------------------------------

    def _too_big(self, side, size: int) -> ValueError:
        where = f" ({self.limit_name})" if self.limit_name else ""
        return ValueError(f"{side} holds {size} bytes; a {self.what} sidecar may hold at most "
                          f"{self.max_sidecar_bytes}{where}")

    def sidecar_bytes(self, path) -> bytes:
        """The bytes of ``path``'s sidecar ``path.json``, after checking that both files exist and that the
        sidecar holds at most ``max_sidecar_bytes`` (it is not read otherwise)."""
        side = Path(f"{path}.json")
        if not Path(path).is_file():
            raise ValueError(f"{path} is not a file (a {self.what} saved by hwsim)")
        try:
            size = side.stat().st_size
        except FileNotFoundError:
            raise ValueError(f"{side} is missing: a {self.what} needs its JSON sidecar") from None
        if size > self.max_sidecar_bytes:
            raise self._too_big(side, size)
        with open(side, "rb") as fh:
            return fh.read(self.max_sidecar_bytes + 1)

    def parse_sidecar(self, text: bytes | str, side) -> dict:
        """A sidecar's text parsed (bounded JSON: no huge numbers, no deep nesting) and its format and
        version checked; ``side`` names it in messages. Its ``arch`` is the model's to check."""
        from hwsim._files import check_format
        from hwsim.converters.formats.bounded_json import parse_json_bytes

        raw = text.encode() if isinstance(text, str) else text
        if len(raw) > self.max_sidecar_bytes:
            raise self._too_big(side, len(raw))
        doc = parse_json_bytes(side, raw, f"a {self.what} sidecar")
        check_format(doc, side, self.name, self.version, f"an hwsim {self.what}")
        return doc

    def read_sidecar(self, path) -> dict:
        """:meth:`sidecar_bytes` then :meth:`parse_sidecar` of ``path``'s sidecar."""
        return self.parse_sidecar(self.sidecar_bytes(path), f"{path}.json")

    @staticmethod
    def read_weights(path, bound: int) -> bytes:
        """The bytes of the weight file ``path``, refused before reading when it holds more than ``bound``
        bytes (what the network its sidecar describes can need)."""
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            data = fh.read(bound + 1)
        if max(size, len(data)) > bound:
            raise ValueError(f"{path} holds {max(size, len(data))} bytes, but the network its sidecar describes "
                             f"needs at most {bound}")
        return data

    def state_dict(self, weights: bytes, bound: int, src) -> dict:
        """The ``state_dict`` of the weight file ``weights`` (its bytes; ``src`` names it): at most ``bound``
        bytes, tensors only (nothing in it runs), this format and version."""
        from hwsim._weights import load_tensors

        if len(weights) > bound:
            raise ValueError(f"{src} holds {len(weights)} bytes, but the network its sidecar describes needs "
                             f"at most {bound}")
        blob = load_tensors(weights, src, self.weights_what)
        found = blob.get("format", self.name if self.untagged else None) if isinstance(blob, dict) else None
        if found != self.name:
            raise ValueError(f"{src} is not an hwsim {self.what}'s weight file (format {self.name!r})")
        check_version(blob.get("version"), self.version, src)
        state = blob.get("state_dict")
        if not isinstance(state, dict):
            raise ValueError(f"{src} holds no state_dict: not an hwsim {self.what}'s weight file")
        return state

    def load_into(self, net, weights: bytes, bound: int, src, side=None):
        """Load the weight file ``weights`` (see :meth:`state_dict`) into ``net`` and return it in eval mode;
        weights that do not fit ``net`` are a ValueError saying the file does not match its sidecar
        (``side``, where given, named)."""
        state = self.state_dict(weights, bound, src)
        try:
            net.load_state_dict(state)
        except (RuntimeError, KeyError, TypeError, ValueError) as exc:
            name = f" {Path(side).name}" if side is not None else ""
            raise ValueError(f"{src} does not match its sidecar{name} ({type(exc).__name__}: {one_line(exc)})") \
                from None
        return net.eval()


def write(path, files: tuple[bytes, str]) -> None:
    """Write a model's two files (weights, sidecar text) to ``path`` and ``path.json``, each atomically."""
    from hwsim._files import atomic_write_bytes, atomic_write_text

    weights, sidecar = files
    atomic_write_bytes(Path(path), weights)
    atomic_write_text(Path(f"{path}.json"), sidecar)


__all__ = ["PAYLOAD_KEYS", "ModelFormat", "check_version", "one_line", "write"]
