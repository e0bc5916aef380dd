"""``hwsim train CONFIG``: train the learned receiver of one curve of a sweep config, once, and save it.

Any pipeline config whose receiver can be trained (one that says it is ``trainable``, :class:`hwsim.hooks.ReceiverHooks`:
the learned per-bit detector ``learned``, Shlezinger and Eldar's ``hybrid`` and its ``hil`` variant) is
trained exactly as a sweep would set it up, on the link the config describes (``--set`` and
``--quick`` applied as for ``hwsim sweep``), and saved with a JSON sidecar that records the
link, the training settings, the seed, the software versions and where it came from (the
config, its hash, the curve and the point). A sweep then evaluates the file instead of
training: ``receiver.model = "FILE.pt"`` for a learned detector, ``receiver = "hil"`` with
``receiver.model`` for a hybrid; a file trained for another link is refused there.

Which model: ``curve`` names the curve (needed when several curves are learnable); the
curve's points must then all share one model, or ``at`` (grid axis -> value) narrows them
to one. A hybrid trains at one SNR (``snr_db`` from the point); a learned detector trains
over its own SNR range, so the grid's SNR axis does not matter to it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path


def learnable_curves(cfg) -> dict:
    """Curve name -> its points (a list of :class:`hwsim.engine.config.Point`), for the curves of ``cfg``
    whose receiver can be trained; a ValueError for a config that is not a pipeline sweep."""
    from ..study import pipeline

    if cfg.study != "link":
        raise ValueError(f"hwsim train trains pipeline configs (study = \"link\"), got study = {cfg.study!r}")
    out: dict = {}
    for point in cfg.points():
        if point.curve not in out:
            link = pipeline(*cfg.localized(point))
            if not link.receiver.trainable:
                out[point.curve] = None
                continue
            out[point.curve] = []
        if out[point.curve] is not None:
            out[point.curve].append(point)
    return {name: pts for name, pts in out.items() if pts is not None}


def select_point(cfg, curve: str | None = None, at: dict | None = None):
    """The (curve name, point) whose model ``hwsim train`` trains, or a ValueError that says how to choose."""
    from ..study import pipeline

    learnable = learnable_curves(cfg)
    if not learnable:
        from ..components import lookup, names

        kinds = sorted({c.get("receiver", cfg.system.get("receiver", {}).get("type", "?")) for c in cfg.curves})
        able = [n for n in names("receiver") if lookup("receiver", n).trainable]
        raise ValueError(f"nothing learnable in this config: its curves' receivers are {', '.join(map(str, kinds))}; "
                         f"hwsim train trains receiver types {', '.join(able)}")
    if curve is None:
        if len(learnable) > 1:
            raise ValueError("several curves have a learnable receiver; choose one with --curve: "
                             + ", ".join(repr(n) for n in learnable))
        curve = next(iter(learnable))
    elif curve not in learnable:
        every = [c["name"] for c in cfg.curves]
        what = "has no learnable receiver" if curve in every else "is not a curve of this config"
        raise ValueError(f"--curve {curve!r} {what}; learnable curves: " + ", ".join(repr(n) for n in learnable))
    points = learnable[curve]
    for axis, value in (at or {}).items():
        if axis not in points[0].params:
            raise ValueError(f"--at {axis}: the curve's points have no {axis!r} (they set: "
                             f"{', '.join(sorted(points[0].params))})")
        points = [p for p in points if _same(p.params[axis], value)]
        if not points:
            values = sorted({json.dumps(p.params[axis]) for p in learnable[curve]})
            raise ValueError(f"--at {axis}={value!r}: curve {curve!r} has no point there ({axis} takes {', '.join(values)})")
    receiver = pipeline(*cfg.localized(points[0])).receiver
    ignore = () if receiver.trains_at_snr else ("snr_db",)
    models = {json.dumps({k: v for k, v in p.params.items() if k not in ignore}, sort_keys=True): p for p in points}
    if len(models) > 1:
        varying = sorted(k for k in points[0].params if k not in ignore
                         and len({json.dumps(p.params[k]) for p in points}) > 1)
        raise ValueError(f"curve {curve!r} trains {len(models)} different models over {', '.join(varying)}; choose "
                         f"one with --at, e.g. --at {varying[0]}={json.dumps(points[0].params[varying[0]])}")
    return curve, points[0]


def _same(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-12)
    return a == b


def train_config(cfg, out, *, curve: str | None = None, at: dict | None = None, seed: int | None = None,
                 device: str = "cpu", progress: bool = False, origin: dict | None = None):
    """Train the learned receiver of ``curve`` (see :func:`select_point`) and save it to ``out`` (.pt, with
    ``out.json``); returns ``(trained, link, curve, point)``. ``seed`` replaces the receiver's own
    training seed; ``device`` ``"cpu"`` or ``"cuda"``; ``origin`` is recorded in the sidecar."""
    from ..study import pipeline

    curve, point = select_point(cfg, curve, at)
    link = pipeline(*cfg.localized(point))
    link.check()
    trained = link.receiver.train_model(link, point.params.get("snr_db"), device=device, progress=progress,
                                        seed=seed)
    record = {**(origin or {}), "config_hash": cfg.hash, "curve": curve, "point": point.params}
    trained.save(Path(out), origin=record)
    return trained, link, curve, point
