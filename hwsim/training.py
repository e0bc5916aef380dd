"""The one training loop of hwsim's learned parts: :func:`~hwsim.training.fit`.

A training describes what it trains in a :class:`Task`: the network, one optimizer step (which draws
its own batch and returns its loss), the validation and the other objects whose state it changes (the
optimizer, the schedulers, every random generator it draws from). :func:`fit` owns the rest: the
epochs, the progress, the best epoch by the validation score, early stopping, the checkpoint after
every epoch (so a training interrupted by Ctrl-C inside :func:`hwsim.checkpoint.checkpointing` resumes
from its last finished epoch and ends with the same network, bit for bit on the CPU) and the history::

    task = Task(net, step=one_step, validate=check, tracked={"opt": opt, "data": rng})
    fitted = fit(task, what="my network", key={"seed": seed, "lr": lr}, epochs=40, steps=100,
                 progress="train mine")
    # net now holds the kept epoch, on the CPU, in eval mode; fitted.history: one dict per epoch

One epoch, in this order::

    before_epoch(epoch); model.train()
    for i in range(steps): step(epoch, i)       # its loss, or (loss, weight): the epoch's loss is the weighted mean
    after_epoch(epoch); model.eval()
    validate(epoch) -> (score, metrics) or (score, metrics, kept)
    # the epoch is kept when its score is the lowest so far; then the state is saved

A training without epochs (a fixed number of steps) runs them in :func:`chunked` epochs: the steps,
the order of the random draws and the result are those of the plain loop, and the chunks are where
the state is saved.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

TIES = ("later", "earlier")


@dataclass
class Task:
    """What :func:`fit` trains.

    model : torch.nn.Module
        The network; fit tracks it in the checkpoint, loads the kept epoch's state into it at the end
        and leaves it on the CPU in eval mode.
    step : (epoch, i) -> float or (float, weight)
        One optimizer step (step ``i`` of epoch ``epoch``, both from 0) on a batch it draws itself; its
        loss, or the loss and its weight in the epoch's mean (e.g. the batch size when the last batch
        is smaller).
    validate : epoch -> (score, metrics) or (score, metrics, kept), optional
        The epoch's score (lower is better) and the figures added to its history entry; ``kept`` is the
        state dict of ``model`` to keep when the epoch is the best (default: a copy of
        ``model.state_dict()``). ``None``: no validation, the last epoch is kept.
    before_epoch, after_epoch : epoch -> None, optional
        Run before the epoch's first step (a sharpness schedule, a shuffle) and after its last one (a
        scheduler stepped per epoch).
    tracked : dict
        The other objects whose state the training changes, by name (see
        :meth:`hwsim.checkpoint.Checkpoint.track`): optimizers, schedulers, NumPy and torch generators,
        :data:`hwsim.checkpoint.TORCH_GLOBAL_RNG`, :class:`Carried` variables.
    show : history entry -> dict of formatted figures, optional
        What the progress shows after each epoch (default: the loss).
    """

    model: Any
    step: Callable[[int, int], float | tuple[float, float]]
    validate: Callable[[int], tuple] | None = None
    before_epoch: Callable[[int], None] | None = None
    after_epoch: Callable[[int], None] | None = None
    tracked: dict = field(default_factory=dict)
    show: Callable[[dict], dict] | None = None


@dataclass
class Fitted:
    """What :func:`fit` returns."""

    best_state: dict | None   # the kept state dict (None without validation: the model as trained)
    best_score: float | None  # its validation score (None without validation)
    best_epoch: int           # the kept epoch, from 0 (-1: the starting point, with validate_start)
    history: list             # per epoch: {"epoch", "loss", **metrics}
    losses: list              # every step's loss, in order
    stopped_early: bool = False


class Carried:
    """Variables a task carries from one step to the next, as attributes, saved and restored with the
    checkpoint (put it in :attr:`Task.tracked`): tensors, numbers, strings, None, NumPy arrays."""

    def __init__(self, **values):
        vars(self).update(values)

    def state_dict(self) -> dict:
        import numpy as np
        import torch

        values = vars(self)
        arrays = sorted(k for k, v in values.items() if isinstance(v, np.ndarray))
        return {"values": {k: torch.from_numpy(v) if k in arrays else v for k, v in values.items()}, "numpy": arrays}

    def load_state_dict(self, state: dict) -> None:
        if set(state["values"]) != set(vars(self)):
            raise ValueError(f"saved variables {sorted(state['values'])}, this training has {sorted(vars(self))}")
        vars(self).update({k: v.numpy() if k in state["numpy"] else v for k, v in state["values"].items()})


def chunked(steps: int, epochs: int = 20) -> list[int]:
    """``steps`` split into at most ``epochs`` epochs of nearly equal length (the longer ones first)."""
    n = max(1, min(int(steps), int(epochs)))
    q, r = divmod(int(steps), n)
    return [q + 1] * r + [q] * (n - r)


def fit(task: Task, *, what: str, key: dict, epochs: int, steps: int | Sequence[int], progress: str | None = None,
        patience: int | None = None, ties: str = "later", validate_start: bool = False) -> Fitted:
    """Train ``task`` for ``epochs`` epochs of ``steps`` steps (one count, or one per epoch).

    what, key
        Name the training in checkpoint messages and identify it (:func:`hwsim.checkpoint.checkpoint`;
        fit adds its own settings and the model's device to ``key``).
    progress
        The label of the progress bar (or of the lines, off a terminal); None shows nothing.
    patience
        Stop after this many epochs in a row that were not kept (None: never stop early).
    ties
        ``"later"``: an epoch that equals the best score so far is kept (``<=``); ``"earlier"``: it is not.
    validate_start
        Validate the model before the first epoch too, as epoch -1: the training never returns something
        that validates worse than its start.
    """
    import torch

    from ._checks import integer
    from ._progress import EpochProgress
    from .checkpoint import checkpoint

    epochs = integer("epochs", epochs, minimum=1)
    per_epoch = [steps] * epochs if isinstance(steps, int) else list(steps)
    if len(per_epoch) != epochs or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in per_epoch):
        raise ValueError(f"steps must be a whole number >= 1 or {epochs} of them, got {steps!r}")
    if patience is not None:
        patience = integer("patience", patience, minimum=1)
    if ties not in TIES:
        raise ValueError(f"ties must be one of {', '.join(TIES)}, got {ties!r}")
    model, validates = task.model, task.validate is not None
    first = next(iter(model.parameters()), None)
    settings = {"epochs": epochs, "steps": steps if isinstance(steps, int) else per_epoch, "patience": patience,
                "ties": ties, "validate_start": validate_start,
                "device": None if first is None else str(first.device)}
    ckpt = checkpoint(what, {**key, "fit": settings}).track(model=model, **task.tracked)
    done, saved = ckpt.resume()
    history, stopped = saved.get("history", []), saved.get("stopped", False)
    losses = saved["losses"].tolist() if "losses" in saved else []
    best, best_score, best_epoch = saved.get("best"), saved.get("best_score", math.inf), saved.get("best_epoch", -1)

    def better(score) -> bool:
        return score <= best_score if ties == "later" else score < best_score

    def judge(epoch, result) -> dict:
        """The epoch's metrics; it becomes the best one when its score is better."""
        nonlocal best, best_score, best_epoch
        score, metrics = float(result[0]), dict(result[1])
        if better(score):
            kept = result[2] if len(result) > 2 else model.state_dict()
            best, best_score, best_epoch = copy.deepcopy(kept), score, epoch
        return metrics

    if validates and validate_start and done == 0:
        model.eval()
        judge(-1, task.validate(-1))
    show = task.show or (lambda entry: {"loss": f"{entry['loss']:.4f}"})
    with EpochProgress(progress or "", epochs, per_epoch, done, progress is not None) as bar:
        for epoch in range(done, epochs):
            if stopped:
                break
            if task.before_epoch is not None:
                task.before_epoch(epoch)
            model.train()
            total, count = 0.0, 0
            for i in range(per_epoch[epoch]):
                loss = task.step(epoch, i)
                value, weight = loss if isinstance(loss, tuple) else (loss, 1)
                total += value * weight
                count += weight
                losses.append(float(value))
                bar.step()
            if task.after_epoch is not None:
                task.after_epoch(epoch)
            entry = {"epoch": epoch, "loss": total / count}
            if validates:
                model.eval()
                entry.update(judge(epoch, task.validate(epoch)))
                stopped = patience is not None and epoch - best_epoch >= patience
            history.append(entry)
            bar.epoch(epoch, show(entry))
            ckpt.save(epoch + 1, best=best, best_score=best_score, best_epoch=best_epoch, history=history,
                      losses=torch.tensor(losses, dtype=torch.float64), stopped=stopped)
    if validates:
        if best is None:
            raise RuntimeError(f"training the {what}: no epoch gave a validation score (every score was NaN)")
        model.load_state_dict(best)
    else:
        best_epoch = len(history) - 1
    model.to("cpu").eval()
    return Fitted(best if validates else None, best_score if validates else None, best_epoch, history, losses,
                  stopped)


__all__ = ["Carried", "Fitted", "Task", "chunked", "fit"]
