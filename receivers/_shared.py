"""A network a sweep trains once for all its points, saved where a resumed sweep finds it.

The ``shared_setup`` hook of the learned receivers (:mod:`hwsim.pipeline`) calls :func:`saved_once`:
the file ``FOLDER/learned-<hash of the key>.pt`` (with its JSON sidecar, whose ``origin.sweep_key``
is the key) is loaded when an earlier run of the sweep wrote it, and trained and written otherwise. While
it trains, its state after every epoch is kept in ``learned-<hash>.pt.partial`` (:mod:`hwsim.checkpoint`),
so a sweep interrupted during the training resumes it from the last finished epoch.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def saved_once(folder, key: str, *, check, make, what: str, say=None) -> tuple[bytes, str]:
    """The (weights, sidecar text) of the network for ``key``, from ``folder`` or trained.

    ``check(weights, sidecar_text, path)`` raises ValueError unless the files hold a usable network
    for this key; ``make()`` trains one and returns its two files; ``what`` names it in the
    progress lines given to ``say``. A damaged or foreign file is trained again and replaced.
    """
    from hwsim._files import atomic_write_bytes, atomic_write_text
    from hwsim.checkpoint import checkpointing

    path = Path(folder) / f"learned-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"
    side = Path(f"{path}.json")
    if path.is_file() and side.is_file():
        try:
            files = path.read_bytes(), side.read_text()
            check(*files, path)
            Path(f"{path}.partial").unlink(missing_ok=True)  # a training's state outliving its network (Ctrl-C)
            if say is not None:
                say(f"loaded the {what} trained by an earlier run: {path}")
            return files
        except (ValueError, OSError, UnicodeDecodeError):
            pass
    if say is not None:
        say(f"training the {what} once for the whole sweep; saved as {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with checkpointing(Path(f"{path}.partial"), say=say):  # an interrupted sweep resumes the training
        weights, sidecar = make()
        atomic_write_bytes(path, weights)
        atomic_write_text(side, sidecar)
    return weights, sidecar


def check_origin(sidecar: dict, key: str, path) -> None:
    """A saved network is the sweep's only when its sidecar says it was trained for ``key``."""
    origin = sidecar.get("origin")
    if not isinstance(origin, dict) or origin.get("sweep_key") != key:
        raise ValueError(f"{path} was saved for another sweep")


def sidecar_bytes(path, what: str, max_bytes: int) -> bytes:
    """The bytes of ``path``'s JSON sidecar ``path.json``, after checking that both files exist and the
    sidecar holds at most ``max_bytes`` (``what`` names the kind of model in messages)."""
    side = Path(f"{path}.json")
    if not Path(path).is_file():
        raise ValueError(f"receiver.model: {path} is not a file (a {what} saved by hwsim)")
    try:
        size = side.stat().st_size
    except FileNotFoundError:
        raise ValueError(f"{side} is missing: a {what} needs its JSON sidecar") from None
    if size > max_bytes:
        raise ValueError(f"{side} holds {size} bytes; a {what} sidecar may hold at most {max_bytes}")
    with open(side, "rb") as fh:
        return fh.read(max_bytes + 1)


def check_schedule(p: dict, limits: dict) -> None:
    """The training parameters every once-per-sweep learned receiver has: whole numbers within ``limits``
    (name -> (low, high)), ``train_seed``, a positive ``lr`` and an SNR range ``train_snr_min`` <=
    ``train_snr_max`` (``receiver.`` names in the errors)."""
    from hwsim import _checks

    for key, (lo, hi) in limits.items():
        _checks.integer(f"receiver.{key}", p[key], minimum=lo, maximum=hi)
    _checks.integer("receiver.train_seed", p["train_seed"], minimum=0)
    _checks.real("receiver.lr", p["lr"], positive=True)
    for key in ("train_snr_min", "train_snr_max"):
        _checks.real(f"receiver.{key}", p[key])
    if p["train_snr_min"] > p["train_snr_max"]:
        raise ValueError(f"receiver.train_snr_min ({p['train_snr_min']}) must not exceed receiver.train_snr_max "
                         f"({p['train_snr_max']})")


def model_files(fmt: str, version: int, state_dict, sidecar: dict, origin: dict | None = None) -> tuple[bytes, str]:
    """The two files of a saved network, in memory: the torch weights (``state_dict`` tagged with ``fmt``
    and ``version``) and the JSON sidecar (``sidecar`` with the format fields, the software versions and,
    when given, ``origin``)."""
    import io
    import json

    import torch

    from .learned_detector import _versions

    doc = {"format": fmt, "version": version, **sidecar, "versions": _versions()}
    if origin:
        doc["origin"] = origin
    buf = io.BytesIO()
    torch.save({"format": fmt, "version": version, "state_dict": state_dict}, buf)
    return buf.getvalue(), json.dumps(doc, indent=1)


def load_weights(net, weights: bytes, bound: int, fmt: str, version: int, src: str):
    """Load the weight file ``weights`` (written by :func:`model_files`) into ``net`` and return it in eval
    mode; a clear ValueError for a file larger than ``bound`` bytes, one torch cannot read, another format
    or version, or weights that do not fit ``net`` (``src`` names the file)."""
    import io

    import torch

    if len(weights) > bound:
        raise ValueError(f"{src} holds {len(weights)} bytes, more than the network its sidecar describes needs")
    try:
        blob = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a damaged file
        raise ValueError(f"{src} is not a readable weight file ({type(exc).__name__}: {exc})") from None
    if not isinstance(blob, dict) or blob.get("format") != fmt or blob.get("version") != version:
        raise ValueError(f"{src} has an unknown format or version")
    try:
        net.load_state_dict(blob["state_dict"])
    except (RuntimeError, KeyError, TypeError) as exc:
        raise ValueError(f"{src} does not match its sidecar ({type(exc).__name__}: {exc})") from None
    return net.eval()
