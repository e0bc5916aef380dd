"""Helpers the learned receivers share: a network a sweep trains once for all its points, saved where a
resumed sweep finds it; the check of ``receiver.model`` when a config loads; training parameters; the
torch device. The model files themselves (format, writer, bounded reader) are :mod:`hwsim.model_files`.

The ``shared_setup`` hook of the learned receivers (:mod:`hwsim.pipeline`) calls :func:`saved_once`:
the file ``FOLDER/learned-<hash of the key>.pt`` (with its JSON sidecar, whose ``origin.sweep_key``
is the key) is loaded when an earlier run of the sweep wrote it, and trained and written otherwise. While
it trains, its state after every epoch is kept in ``learned-<hash>.pt.partial`` (:mod:`hwsim.checkpoint`),
so a sweep interrupted during the training resumes it from the last finished epoch.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path


def saved_once(folder, key: str, *, check, make, what: str, say=None) -> tuple[bytes, str]:
    """The (weights, sidecar text) of the network for ``key``, from ``folder`` or trained.

    ``check(weights, sidecar_text, path)`` raises ValueError unless the files hold a usable network
    for this key; ``make()`` trains one and returns its two files; ``what`` names it in the
    progress lines given to ``say``. A damaged or foreign file is trained again and replaced.
    """
    from hwsim.checkpoint import checkpointing
    from hwsim.model_files import write

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
        write(path, (weights, sidecar))  # hwsim.model_files: each file atomically
    return weights, sidecar


def check_origin(sidecar: dict, key: str, path) -> None:
    """A saved network is the sweep's only when its sidecar says it was trained for ``key``."""
    origin = sidecar.get("origin")
    if not isinstance(origin, dict) or origin.get("sweep_key") != key:
        raise ValueError(f"{path} was saved for another sweep")


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


def check_model(path, load, fits=None) -> None:
    """``receiver.model`` when the config loads: the whole file checked as a run would load it, not only its
    sidecar. ``load(path)`` reads the model (bounded sidecar and weights, tensors only, the weights
    fitting the network the sidecar describes, the format version) once per version of the two files
    (cached by their size, times and inode: a sweep's points share one file); ``fits()`` then checks
    the link it was trained for, each time. Any ValueError is raised again as one that names
    ``receiver.model`` and the file."""
    try:
        _loaded_once(load, str(path), _stamp(path), _stamp(f"{path}.json"))
        if fits is not None:
            fits()
    except ValueError as exc:
        raise ValueError(f"receiver.model = {str(path)!r}: {exc}") from None


def _stamp(path) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


@functools.lru_cache(maxsize=32)
def _loaded_once(load, path: str, *stamps) -> None:
    load(path)  # what it loads is dropped: a run loads it again where it runs


def torch_device(device: str):
    """The torch device for ``device`` (``"cpu"`` or ``"cuda"``); a clear error where CUDA is absent."""
    import torch

    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda': torch sees no CUDA GPU here (this torch build: "
                         f"{torch.__version__}); train on the CPU with device 'cpu'")
    return torch.device(device)
