"""Resumable training: a training loop's whole state, saved after every epoch.

An interrupted training (Ctrl-C, a killed job) resumes from its last finished epoch and ends with
the network it would have trained without the interruption, bit for bit on the CPU: the network,
the optimizer and its learning-rate schedule, every random generator the loop draws from, the best
epoch so far and the history are all saved.

Who trains does not choose the file; who runs the training does, with :func:`checkpointing`::

    with checkpointing("model.pt.partial"):
        trained = train_detector(link, ...)   # resumes from model.pt.partial when it is there
        trained.save("model.pt")
    # left without an exception: the training is finished and saved, model.pt.partial is removed

``hwsim train --out FILE.pt`` keeps its state in ``FILE.pt.partial``, a sweep that trains a network
once for all its points keeps it beside the network it saves (:func:`hwsim.receivers._shared.saved_once`),
and a training inside a sweep point (a learned receiver or estimator trained per point) keeps it in the
run folder's ``checkpoints/`` (:func:`hwsim.engine.executors.run_point`), so running the same command
again resumes. A training loop asks for its :class:`Checkpoint` with
:func:`checkpoint`; outside :func:`checkpointing` that checkpoint saves nothing.

A checkpoint belongs to one training: the loop names it by a key (its settings, seed, link, device
and the hwsim version). A file written for another key, damaged, or not fitting the network is not
used: the training starts over and says why. Files are written atomically and read with
``torch.load(weights_only=True)``, bounded in size.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import json
from pathlib import Path

import numpy as np

from . import __version__

FORMAT = "hwsim-training-checkpoint"
FORMAT_VERSION = 1

#: The global torch random generator, as an entry of :meth:`Checkpoint.track` (parameter initialisation,
#: noise drawn inside the network).
TORCH_GLOBAL_RNG = "torch global RNG"

_current: contextvars.ContextVar = contextvars.ContextVar("hwsim_checkpoint", default=None)


@contextlib.contextmanager
def checkpointing(path, say=None, *, keep: bool = False):
    """Trainings inside the block save their state to ``path`` after every epoch and resume from it.

    One training per block: a second one would overwrite the first one's state. ``say`` receives
    one line when a training resumes or cannot use the file (default: nothing is said). Leaving the
    block without an exception removes ``path`` (unless ``keep``: the caller removes it once what the
    training served is saved, e.g. a sweep point whose replicas train one after another): the caller
    saves the trained network inside the block. After an exception (a Ctrl-C included) the file stays
    for the next run.
    """
    path = Path(path)
    token = _current.set((path, say))
    try:
        yield path
    finally:
        _current.reset(token)
    if not keep:
        path.unlink(missing_ok=True)


def checkpoint(what: str, key: dict) -> "Checkpoint":
    """The checkpoint of a training loop (``what`` names it in messages; ``key`` is JSON-able and says
    which training this is); one that saves nothing outside :func:`checkpointing`."""
    path, say = _current.get() or (None, None)
    return Checkpoint(path, what, key, say)


class Checkpoint:
    """One training's saved state. Use through :func:`checkpoint`::

        ckpt = checkpoint("my network", {"seed": 0, "lr": 0.01})
        ckpt.track(net=net, opt=opt, data=rng, init=TORCH_GLOBAL_RNG)
        done, extra = ckpt.resume()   # epochs already trained (0 on a fresh start), the extra state
        for epoch in range(done, epochs):
            ...                       # one epoch
            ckpt.save(epoch + 1, best=best, history=history)

    Tracked objects are torch modules, optimizers and schedulers (``state_dict``), NumPy Generators,
    torch Generators and :data:`TORCH_GLOBAL_RNG`; ``extra`` holds tensors, numbers, strings, lists,
    tuples and dicts of them.
    """

    def __init__(self, path, what: str, key: dict, say=None):
        self.path = None if path is None else Path(path)
        self.what = what
        self.key = json.dumps({"hwsim": __version__, **key}, sort_keys=True, default=str)
        self.say = say
        self.objects: dict = {}

    def __repr__(self) -> str:
        return f"Checkpoint({self.what!r}, path={str(self.path) if self.path else None!r})"

    def track(self, **objects) -> "Checkpoint":
        """Name the objects whose state the checkpoint saves and restores."""
        self.objects.update(objects)
        return self

    def _max_bytes(self) -> int:
        """Bound of a plausible file: every tracked tensor state a few times over, plus 64 MiB for the
        history and the generators."""
        import torch

        numbers = sum(p.numel() for obj in self.objects.values() if isinstance(obj, torch.nn.Module)
                      for p in obj.parameters())
        return 64 * numbers + 2**26

    def resume(self) -> tuple[int, dict]:
        """(epochs already trained, the extra state saved with them), the tracked objects restored;
        ``(0, {})`` when there is nothing to resume from: no file, or one that is damaged, of another
        training, or that does not fit this one (the objects are then left as they were)."""
        if self.path is None or not self.path.is_file():
            return 0, {}
        before = self._states()
        try:
            state = self._read()
            if state is None:
                return 0, {}
            epochs, extra = int(state["epochs"]), state["extra"]
            if epochs < 0 or not isinstance(extra, dict):
                raise ValueError("its epoch count or extra state is malformed")
            self._restore(state["objects"])
        except Exception as exc:  # torch.load and load_state_dict raise many kinds for a file that does not fit
            self._restore(before)
            self._say(f"{self.path}: not a usable checkpoint of this {self.what} ({type(exc).__name__}: {exc}); "
                      "training from the start")
            return 0, {}
        self._say(f"resuming the {self.what} after epoch {epochs} from {self.path}")
        return epochs, extra

    def _read(self):
        from ._weights import load_tensors

        bound = self._max_bytes()
        with open(self.path, "rb") as fh:
            data = fh.read(bound + 1)
        if len(data) > bound:
            raise ValueError(f"it holds more than {bound} bytes, more than such a training's state can hold")
        state = load_tensors(data, self.path, "checkpoint")  # tensors only: nothing in the file runs
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ValueError(f"not an {FORMAT} file")
        if state.get("version") != FORMAT_VERSION:
            raise ValueError(f"version {state.get('version')!r}, this hwsim reads version {FORMAT_VERSION}")
        if state.get("key") != self.key:
            self._say(f"{self.path} holds the state of another training (other settings, seed, link or hwsim "
                      f"version); training the {self.what} from the start")
            return None
        if not isinstance(state.get("objects"), dict) or set(state["objects"]) != set(self.objects):
            raise ValueError("it saved other parts than this training has")
        return state

    def _states(self) -> dict:
        """The tracked objects' states, as saved (copies: later training steps do not change them)."""
        import copy

        import torch

        out = {}
        for name, obj in self.objects.items():
            if obj is TORCH_GLOBAL_RNG:
                out[name] = torch.get_rng_state()
            elif isinstance(obj, np.random.Generator):
                out[name] = json.dumps(obj.bit_generator.state)
            elif isinstance(obj, torch.Generator):
                out[name] = obj.get_state()
            else:
                out[name] = copy.deepcopy(obj.state_dict())
        return out

    def _restore(self, saved: dict) -> None:
        import torch

        for name, obj in self.objects.items():
            value = saved[name]
            if obj is TORCH_GLOBAL_RNG:
                torch.set_rng_state(value)
            elif isinstance(obj, np.random.Generator):
                obj.bit_generator.state = json.loads(value)
            elif isinstance(obj, torch.Generator):
                obj.set_state(value)
            else:
                obj.load_state_dict(value)

    def save(self, epochs: int, **extra) -> None:
        """Save the state after ``epochs`` finished epochs (atomically; nothing outside :func:`checkpointing`)."""
        if self.path is None:
            return
        import torch

        from ._files import atomic_write_bytes

        buf = io.BytesIO()
        torch.save({"format": FORMAT, "version": FORMAT_VERSION, "key": self.key, "epochs": int(epochs),
                    "objects": self._states(), "extra": extra}, buf)
        atomic_write_bytes(self.path, buf.getvalue())

    def _say(self, line: str) -> None:
        if self.say is not None:
            self.say(line)


__all__ = ["Checkpoint", "TORCH_GLOBAL_RNG", "checkpoint", "checkpointing"]
