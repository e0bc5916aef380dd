"""Sweeps: a TOML declaration of a study, a grid and stopping rules, run point by point.

A sweep file names a study (see :mod:`hwsim.studies`), its ``[system]``, the ``[grid]``
axes, the ``[[curves]]`` (each fixes some point keys and may fix a grid axis), the
``[stopping]`` rule and a root ``seed``. Every (curve, grid point) is one Monte Carlo
point whose random stream derives from the root seed and the point's parameters, so
results do not depend on the number of workers, their order, or a resume. With
``common_random_numbers = true`` the stream depends on the grid position only: every
curve sees the same channel draws there, which makes differences between curves precise.

Runs go to a folder holding ``manifest.json`` (config, its hash, versions, git commit,
times), ``points.jsonl`` (one line appended per finished point: the checkpoint),
``results.csv`` (rewritten atomically after each point), the plots, and ``models/`` where a
stage trains something every point shares (a learned detector's network: trained once, in
the sweep's own process, before the points, and sent to every worker). A killed sweep
started again with ``resume=True`` recomputes only missing points (a finished one is only
summarized again); a changed configuration is refused. ``force=True`` starts over, removing
the earlier sweep's own files in an order that never leaves part of its results
(:func:`_clear_sweep`). Ctrl-C stops local workers at once; the journal and results.csv
then hold the same finished points. Progress goes to stderr: a bar on a terminal, one line
per finished point elsewhere.

One sweep at a time owns a folder: it holds an exclusive ``flock`` on ``sweep.lock`` in
the folder (the file holds its pid) for its whole life. The operating system drops the
lock when the process ends in any way, SIGKILL included, so a stale lock file is harmless
and is left in place; a second sweep into a locked folder is refused with the holder's pid.

Size limits (:data:`MAX_AXIS_VALUES`, :data:`MAX_POINTS`, and the studies' ``LIMITS``)
refuse configs that would exhaust memory before anything is allocated; they are module
constants, to be raised in code by whoever really needs a bigger sweep.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime as _dt
import errno
import hashlib
import itertools
import json
import math
import os
import re
import socket
import stat
import struct
import subprocess
import sys
import time
import tomllib
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass
from pathlib import Path

from .. import __version__, _process
from .inputs import localize, read_input
from .montecarlo import StoppingRule, combine, estimate
from .._files import InUseError, atomic_write_text, take_lock
from .._threads import single_threaded  # noqa: F401  (hwsim.engine.sweep.single_threaded, as before)
from .results import append_journal, read_journal, trim_journal, write_results_csv
from .stats import point_seed
from ..studies import STUDIES, load_study, result_columns, study_metric

CONFIG_DIR = Path(__file__).parent.parent / "configs"
MANIFEST_FORMAT = 1
LOCK_NAME = "sweep.lock"
#: Subfolder of set-ups every point shares (a learned detector's network, trained once per sweep).
MODELS_DIR = "models"

#: Most values one grid axis may have (a range is counted before it is built).
MAX_AXIS_VALUES = 10_000
#: Most points (curves x grid positions) one sweep may have.
MAX_POINTS = 100_000
#: Default seconds a Dask sweep waits while its cluster has no worker at all.
NO_WORKERS_TIMEOUT = 300.0
#: Longest ``--set`` text, and most parts of its dotted key or levels of its value.
MAX_OVERRIDE_CHARS = 100_000
MAX_OVERRIDE_DEPTH = 16
#: Largest sweep file read.
MAX_CONFIG_BYTES = 4 * 2**20
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG}

_TOP = {"study": str, "seed": int, "title": str, "common_random_numbers": bool, "system": dict, "grid": dict,
        "curves": list, "stopping": dict, "plot": dict, "summary": dict, "quick": dict}
_STOPPING = {f.name: f.type for f in dataclasses.fields(StoppingRule)}
_PLOT = {"x": str, "logy": bool, "xlabel": str, "ylabel": str, "figures": dict, "db": bool}
#: ``[plot] figures`` names: they become file names (plot_figure=NAME.png).
_FIGURE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
MAX_FIGURES = 50
_SUMMARY = {"target": float, "reference": dict}
_QUICK = {"grid": dict, "stopping": dict, "system": dict}


class SweepError(RuntimeError):
    """A sweep cannot start or go on (folder conflict, changed config, unreachable scheduler)."""


# --------------------------------------------------------------------------- config
def _check_keys(table: dict, allowed: dict, where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ValueError(f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} in {where}; "
                         f"valid keys: {', '.join(sorted(allowed))}")


_PLAIN_TYPES = {"str": str, "bool": bool, "dict": dict, "list": list}


def _typed(value, kind, where: str):
    """Check ``value`` against ``kind``: a type, or a dataclass annotation such as ``"int | None"``."""
    name = kind if isinstance(kind, str) else kind.__name__
    if value is None and "None" in name:
        return None
    if "float" in name:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where} must be a number, got {value!r}")
        return float(value)
    if "int" in name:
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # 4e7 written as a float
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{where} must be an integer, got {value!r}")
        return value
    if name in _PLAIN_TYPES and not isinstance(value, _PLAIN_TYPES[name]):
        raise ValueError(f"{where} must be a {name}, got {value!r}")
    return value


def _check_figures(figures: dict, curves: list) -> None:
    """``[plot] figures``: a table NAME = [curve names], each figure drawn on its own (plot_figure=NAME.png)."""
    if len(figures) > MAX_FIGURES:
        raise ValueError(f"plot.figures holds {len(figures)} figures, more than the limit of {MAX_FIGURES}")
    for name, members in figures.items():
        if not _FIGURE_NAME.fullmatch(name):
            raise ValueError(f"plot.figures: figure name {name!r} must be 1-40 letters, digits, '_' or '-' "
                             "(it names the file plot_figure=NAME.png)")
        if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
            raise ValueError(f"plot.figures.{name} must be a non-empty list of curve names")
        unknown = [m for m in members if m not in curves]
        if unknown:
            raise ValueError(f"plot.figures.{name}: {', '.join(map(repr, unknown))} is not a curve of this config "
                             f"(curves: {', '.join(map(repr, curves))})")


def _check_axis_size(axis: str, count: int, what: str) -> None:
    if count > MAX_AXIS_VALUES:
        raise ValueError(f"grid.{axis}: {what} has {count} values, more than the limit of {MAX_AXIS_VALUES} "
                         "per axis (hwsim.engine.sweep.MAX_AXIS_VALUES, a guard against configs that exhaust memory; "
                         "raise it in code if you really mean it)")


def _axis_values(axis: str, spec, kind) -> list:
    if isinstance(spec, dict):
        _check_keys(spec, {"start": 0, "stop": 0, "step": 0}, f"grid.{axis}")
        try:
            start, stop, step = (float(spec[k]) for k in ("start", "stop", "step"))
        except KeyError as exc:
            raise ValueError(f"grid.{axis} as a range needs start, stop and step; missing {exc}") from None
        if step <= 0 or stop < start:
            raise ValueError(f"grid.{axis} needs step > 0 and stop >= start, got {spec}")
        if not all(map(math.isfinite, (start, stop, step))):
            raise ValueError(f"grid.{axis} needs finite start, stop and step, got {spec}")
        count = math.floor((stop - start) / step + 1e-9) + 1
        _check_axis_size(axis, count, f"the range {spec}")
        spec = [round(start + i * step, 12) for i in range(count)]
    if not isinstance(spec, list):
        spec = [spec]
    _check_axis_size(axis, len(spec), "the list")
    values = [_typed(v, kind, f"grid.{axis} entries") for v in spec]
    if len(set(values)) != len(values):
        raise ValueError(f"grid.{axis} repeats a value: {spec}")
    return values


@dataclass(frozen=True)
class Point:
    """One Monte Carlo point: a curve at one grid position; ``params`` are the study's point keys."""

    index: int
    curve: str
    params: dict

    @property
    def key(self) -> str:
        return json.dumps({"curve": self.curve, **self.params}, sort_keys=True)


@dataclass
class SweepConfig:
    """A validated sweep; build it with :func:`load_config` or :func:`parse_config`."""

    raw: dict
    study: str
    seed: int
    system: dict
    grid: dict
    curves: list
    stopping: StoppingRule
    plot: dict
    summary: dict
    title: str
    common_random_numbers: bool = False
    #: The files the points read (:mod:`hwsim.engine.inputs`), by (key, value as written).
    files: dict = dataclasses.field(default_factory=dict)

    def point_seed(self, point: "Point"):
        """The point's SeedSequence: keyed by curve and parameters, or with common random numbers
        by the grid position alone, so every curve sees the same draws there (paired comparisons).
        Keys that change nothing of the point (the study's ``unused_keys``) are left out."""
        study = load_study(self.study)
        unused = study.unused_keys(self.system, point.params) if hasattr(study, "unused_keys") else ()
        params = {k: v for k, v in point.params.items() if k not in unused}
        if self.common_random_numbers:
            return point_seed(self.seed, **{a: params[a] for a in self.grid if a in params})
        return point_seed(self.seed, curve=point.curve, **params)

    def localized(self, point: "Point", *, copies: bool = True) -> tuple[dict, dict]:
        """The system and the point's keys with every file replaced by this process's copy of it
        (:func:`hwsim.engine.inputs.localize`): what a stage builds its components from."""
        return localize(self.system, point.params, self.files, copies=copies)

    @property
    def hash(self) -> str:
        """Hash of everything that changes the numbers (not titles or plot settings)."""
        return hashlib.sha256(json.dumps(self.numbers(), sort_keys=True).encode()).hexdigest()[:16]

    def numbers(self) -> dict:
        """The resolved settings that determine the results (defaults filled, ranges expanded;
        a study's ``resolved(system)`` adds the defaults its components fill in)."""
        study = load_study(self.study)
        system = study.resolved(self.system) if hasattr(study, "resolved") else self.system
        out = {"study": self.study, "seed": self.seed, "system": system, "grid": self.grid,
               "curves": self.curves, "stopping": dataclasses.asdict(self.stopping),
               "common_random_numbers": self.common_random_numbers}
        if self.files:  # the contents of every file a point reads (absent without files: hashes as before)
            out["files"] = {f"{key} = {written}": f.sha256 for (key, written), f in sorted(self.files.items())}
        return out

    def points(self) -> list[Point]:
        out = []
        for curve in self.curves:
            fixed = {k: v for k, v in curve.items() if k != "name"}
            axes = [a for a in self.grid if a not in fixed]
            for combo in itertools.product(*(self.grid[a] for a in axes)):
                out.append(Point(len(out), curve["name"], {**fixed, **dict(zip(axes, combo))}))
        return out


def parse_override(text: str) -> tuple[str, dict]:
    """``"dotted.key=TOML_VALUE"`` -> (the text, the nested table it sets), read as the TOML line
    ``dotted.key = TOML_VALUE``: ``adc.bits=2``, ``'grid.snr_db=[0, 5]'``, ``'grid."adc.bits"=[1, 2]'``."""
    text = str(text)
    if len(text) > MAX_OVERRIDE_CHARS:
        raise ValueError(f"--set takes one dotted.key=TOML_VALUE of at most {MAX_OVERRIDE_CHARS} characters, got "
                         f"{len(text)}")
    if any(c in text for c in "\n\r\x00"):  # one TOML line: a line break would start a key of its own
        raise ValueError(f"--set {text!r}: a value must be one line (a newline would add keys of its own)")
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise ValueError(f"--set takes dotted.key=TOML_VALUE (e.g. adc.bits=2), got {text!r}")
    if key.count(".") >= MAX_OVERRIDE_DEPTH:
        raise ValueError(f"--set {key.strip()[:60]!r}...: a dotted key of at most {MAX_OVERRIDE_DEPTH} parts")
    try:
        # the key and the value parsed apart: the value must be exactly one TOML value (tomllib refuses
        # anything after it on the line but a comment)
        keys = tomllib.loads(f"{key.strip()} = 0")
        table = tomllib.loads(f"v = {value.strip()}")
    except tomllib.TOMLDecodeError:
        raise ValueError(f"--set {text!r} is not a dotted key and a TOML value (strings need quotes: "
                         f"{key.strip()}='\"text\"')") from None
    except RecursionError:
        raise ValueError(f"--set {key.strip()}: the value nests too deeply") from None
    if _depth(table["v"]) > MAX_OVERRIDE_DEPTH:
        raise ValueError(f"--set {key.strip()}: the value nests more than {MAX_OVERRIDE_DEPTH} levels deep")
    node = keys  # the key's table, with the value in place of its 0
    while True:
        ((name, inner),) = node.items()
        if not isinstance(inner, dict):
            node[name] = table["v"]
            break
        node = inner
    table = keys
    node = table
    while isinstance(node, dict) and len(node) == 1:
        ((name, node),) = node.items()
        if name in ("study", "curves", "quick", "overrides"):
            raise ValueError(f"--set {key.strip()}: {name!r} cannot be set from the command line (set a component "
                             "parameter, a grid axis, the stopping rule or the system instead)")
        if isinstance(node, (_dt.date, _dt.time)):
            raise ValueError(f"--set {key.strip()}: a TOML date or time is not a config value")
    return str(text), table


def _depth(value) -> int:
    """Nesting depth of a TOML value (a scalar is 0)."""
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def apply_overrides(data: dict, tables) -> dict:
    """``data`` with each nested table of :func:`parse_override` merged in (a value replaces a value;
    a table merges into a table)."""
    def merge(into: dict, new: dict, where: str):
        for k, v in new.items():
            here = f"{where}.{k}" if where else k
            if isinstance(v, dict):
                if k in into and not isinstance(into[k], dict):
                    raise ValueError(f"--set {here}: {here} is a value in the config, not a table")
                merge(into.setdefault(k, {}), v, here)
            else:
                into[k] = v

    data = copy.deepcopy(data)
    for table in tables:
        merge(data, table, "")
    return data


def parse_config(data: dict, *, quick: bool = False, overrides=(), base=None) -> SweepConfig:
    """Validate a parsed TOML sweep; ``quick`` applies its ``[quick]`` overrides, then
    ``overrides`` (:func:`parse_override` results) are merged in and recorded as ``raw["overrides"]``.
    ``base``: the folder relative file paths of the config are read from (the config file's; default:
    the working folder); a path an override gives is read from the working folder. Every file a point
    names is read and hashed here (:mod:`hwsim.engine.inputs`)."""
    data = copy.deepcopy(data)
    study_name = data.get("study")
    if not isinstance(study_name, str) or study_name not in STUDIES:
        raise ValueError(f"the sweep file needs study = one of {', '.join(sorted(STUDIES))}, got {study_name!r}")
    study = load_study(study_name)
    # a pipeline study reads one table per component ([channel], [adc], [receiver], ...)
    components = {kind: dict for kind in getattr(study, "COMPONENTS", ())}
    top, quick_keys = {**_TOP, **components}, {**_QUICK, **components}
    _check_keys(data, top, "the sweep file")
    for key, kind in top.items():
        if key in data:
            data[key] = _typed(data[key], kind, key)
    for key in ("study", "seed", "grid", "curves"):
        if key not in data:
            raise ValueError(f"the sweep file needs a {key!r} entry")
    quick_table = data.pop("quick", {})
    _check_keys(quick_table, quick_keys, "[quick]")
    for key, value in quick_table.items():
        _typed(value, quick_keys[key], f"quick.{key}")
    if quick:
        for table, values in quick_table.items():
            data.setdefault(table, {}).update(values)
    overrides = list(overrides)
    if overrides:
        data = apply_overrides(data, [table for _, table in overrides])
        _check_keys(data, top, "the sweep file (after --set)")
        for key, kind in top.items():
            if key in data:
                data[key] = _typed(data[key], kind, key)
        data["overrides"] = [text for text, _ in overrides]
    if data["seed"] < 0:
        raise ValueError(f"seed must be >= 0, got {data['seed']}")

    system = dict(study.SYSTEM)
    given = data.get("system", {})
    _check_keys(given, study.SYSTEM, "[system]")
    for k, v in given.items():
        system[k] = _typed(v, type(study.SYSTEM[k]), f"system.{k}")
    for kind in components:
        if kind in data:
            system[kind] = data[kind]
    point_keys = study.point_keys(system) if hasattr(study, "point_keys") else study.POINT_KEYS

    grid = {}
    _check_keys(data["grid"], point_keys, "[grid]")
    for axis, spec in data["grid"].items():
        grid[axis] = _axis_values(axis, spec, point_keys[axis])
        if not grid[axis]:
            raise ValueError(f"grid.{axis} is empty: a grid with no points")

    curves, names = [], set()
    if not data["curves"]:
        raise ValueError("the sweep file needs at least one [[curves]] entry")
    for i, curve in enumerate(data["curves"]):
        where = f"[[curves]] entry {i + 1}"
        if not isinstance(curve, dict):
            raise ValueError(f"{where} must be a table")
        _check_keys(curve, {"name": str, **point_keys}, where)
        if "name" not in curve or not isinstance(curve["name"], str) or not curve["name"]:
            raise ValueError(f"{where} needs a non-empty name")
        if curve["name"] in names:
            raise ValueError(f"curve names must be unique; {curve['name']!r} appears twice")
        names.add(curve["name"])
        typed = {k: (v if k == "name" else _typed(v, point_keys[k], f"curve {curve['name']!r}: {k}"))
                 for k, v in curve.items()}
        if hasattr(study, "curve_defaults"):  # e.g. the receiver type, so results.csv names it on every row
            typed = {**{k: v for k, v in study.curve_defaults(system).items() if k not in grid}, **typed}
        curves.append(typed)

    stopping_table = data.get("stopping", {})
    _check_keys(stopping_table, _STOPPING, "[stopping]")
    stopping = StoppingRule(**{k: _typed(v, _STOPPING[k], f"stopping.{k}") for k, v in stopping_table.items()})

    plot = data.get("plot", {})
    _check_keys(plot, _PLOT, "[plot]")
    plot = {k: _typed(v, _PLOT[k], f"plot.{k}") for k, v in plot.items()}
    if "figures" in plot:
        _check_figures(plot["figures"], [c["name"] for c in curves])
    numeric_axes = [a for a in grid if point_keys[a] in (int, float)]
    if "x" in plot and plot["x"] not in numeric_axes:
        raise ValueError(f"plot.x must be a numeric grid axis ({', '.join(numeric_axes) or 'none'}), "
                         f"got {plot['x']!r}")
    summary = data.get("summary", {})
    _check_keys(summary, _SUMMARY, "[summary]")
    summary = {k: _typed(v, _SUMMARY[k], f"summary.{k}") for k, v in summary.items()}

    cfg = SweepConfig(raw=data, study=study_name, seed=data["seed"], system=system, grid=grid, curves=curves,
                      stopping=stopping, plot=plot, summary=summary, title=data.get("title", ""),
                      common_random_numbers=data.get("common_random_numbers", False))
    count = sum(math.prod(len(grid[a]) for a in grid if a not in curve) for curve in curves)
    if count > MAX_POINTS:
        raise ValueError(f"the sweep has {count} points ({len(curves)} curves over the grid), more than the limit "
                         f"of {MAX_POINTS} (hwsim.engine.sweep.MAX_POINTS, a guard against configs that exhaust memory; "
                         "raise it in code if you really mean it)")
    points = cfg.points()
    if not points:
        raise ValueError("the grid has no points")
    base = Path.cwd() if base is None else Path(base)
    typed_here = _cli_values(overrides)  # a path typed on the command line is read from the working folder
    for p in points:
        missing = [k for k in study.REQUIRED if k not in p.params]
        if missing:
            raise ValueError(f"curve {p.curve!r} has no value for {', '.join(missing)} (set it in the curve or the grid)")
        try:
            for key, written, companions in (study.files(system, p.params) if hasattr(study, "files") else ()):
                if (key, written) not in cfg.files:
                    folder = Path.cwd() if (key, written) in typed_here else base
                    cfg.files[key, written] = read_input(key, written, companions, folder)
            study.validate(*cfg.localized(p, copies=False))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"curve {p.curve!r}: {exc}") from None
        except (OverflowError, MemoryError) as exc:  # a value far out of range that no check caught
            raise ValueError(f"curve {p.curve!r}: a value is out of range for this link ({type(exc).__name__}: "
                             f"{exc}); check the sizes and rates it sets") from None
    _warn_masked(cfg, overrides)
    return cfg


class MaskedSettingWarning(UserWarning):
    """A config setting that is legal but changes nothing, because something else sets the same key."""


def _warn_masked(cfg: SweepConfig, overrides) -> None:
    """Warn about each ``--set`` value that no point uses: a component parameter (or type) or a grid
    axis that every curve sets itself (the curve's own value wins)."""
    import warnings

    curves = cfg.raw.get("curves", [])
    for text, table in overrides:
        for key in _set_keys(table):
            kind, _, param = key.partition(".")
            if kind == "grid":
                point_key = param
            elif param and isinstance(cfg.raw.get(kind), dict) and kind in cfg.system:
                point_key = kind if param == "type" else key
            else:
                continue
            if curves and all(isinstance(c, dict) and point_key in c for c in curves):
                warnings.warn(f"--set {text}: every curve sets {point_key} itself, so this value is never used",
                              MaskedSettingWarning, stacklevel=3)


def _cli_values(overrides) -> set:
    """``(point key, value)`` of every string a ``--set`` gives a component parameter or a grid axis:
    ``receiver.model="rx.pt"`` -> ``("receiver.model", "rx.pt")``."""
    out = set()
    for _, table in overrides:
        for key in _set_keys(table):
            node = table
            parts = ["grid", key[len("grid."):]] if key.startswith("grid.") else key.split(".")
            for part in parts:
                node = node.get(part) if isinstance(node, dict) else None
            point_key = parts[1] if parts[0] == "grid" else key
            for value in node if isinstance(node, list) else [node]:
                if isinstance(value, str):
                    out.add((point_key, value))
    return out


def _set_keys(table: dict, prefix: str = "") -> list[str]:
    """The dotted keys a ``--set`` table sets (``{"adc": {"bits": 2}}`` -> ``["adc.bits"]``); a grid axis
    stays one name (``{"grid": {"adc.bits": [1]}}`` -> ``["grid.adc.bits"]``)."""
    if prefix == "" and "grid" in table and isinstance(table["grid"], dict):
        rest = {k: v for k, v in table.items() if k != "grid"}
        return [f"grid.{axis}" for axis in table["grid"]] + _set_keys(rest)
    out = []
    for k, v in table.items():
        here = f"{prefix}.{k}" if prefix else k
        out.extend(_set_keys(v, here) if isinstance(v, dict) else [here])
    return out


def shipped_configs() -> list[str]:
    """Names of the example sweeps shipped with hwsim (``hwsim sweep NAME``)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))


def load_config(source, *, quick: bool = False, overrides=()) -> SweepConfig:
    """Load a sweep from a TOML path or the name of a shipped config (see :func:`shipped_configs`);
    ``overrides``: ``"dotted.key=TOML_VALUE"`` strings (``hwsim sweep --set``)."""
    path = Path(source)
    if not path.exists() and (CONFIG_DIR / f"{source}.toml").exists():
        path = CONFIG_DIR / f"{source}.toml"
    if not path.is_file():
        raise ValueError(f"config must be a TOML file or one of {', '.join(shipped_configs())}; got {source!r}")
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ValueError(f"config {path} holds {size} bytes, more than the limit of {MAX_CONFIG_BYTES} for a sweep file")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ValueError(f"{path} nests its tables or arrays too deeply") from None
    if _depth(data) > 4 * MAX_OVERRIDE_DEPTH:
        raise ValueError(f"{path} nests its tables or arrays more than {4 * MAX_OVERRIDE_DEPTH} levels deep")
    # files named in the config are read from its folder; a shipped config names none of its own, and a path
    # given to it with --set is the user's, read from the working folder
    base = None if path.resolve().parent == CONFIG_DIR.resolve() else path.parent
    return parse_config(data, quick=quick, overrides=[parse_override(o) for o in overrides], base=base)


# --------------------------------------------------------------------------- running
def run_point(study_name: str, system: dict, params: dict, rule: StoppingRule, seed, shared=None,
              files=None) -> dict:
    """Simulate one point (runs in a worker process, on a Dask worker, or in-process); ``shared``: the
    set-ups the sweep computed once for all points (a trained network), by key, for the stages'
    ``prepare`` to find in :data:`hwsim.components.SHARED`; ``files``: the sweep's input files
    (:attr:`SweepConfig.files`), whose contents replace the paths in ``system`` and ``params``."""
    import numpy as np

    from .montecarlo import Estimate

    system, params = localize(system, params, files)
    if shared:
        from ..components import SHARED

        SHARED.update(shared)
    study = load_study(study_name)
    exact = getattr(study, "exact_value", None)
    value = exact(system, params) if exact else None
    metric = study_metric(study, system)
    if value is not None:
        return Estimate(metric, value, value, value, 0.0, 0, 0, 0.0, "exact").as_dict()
    replicas = study.replicas(system, params) if hasattr(study, "replicas") else 1
    with single_threaded():
        estimates = []
        # Each replica's set-up (e.g. training) draws from its own child stream; the first
        # replica tests on the point's own stream, the others on a child of their set-up's.
        for r, setup_seed in enumerate(seed.spawn(replicas)):
            start = time.perf_counter()
            link = study.make_link(system, params, np.random.default_rng(setup_seed))
            setup = time.perf_counter() - start
            test_seed = seed if r == 0 else setup_seed.spawn(1)[0]
            est = estimate(link, np.random.default_rng(test_seed), rule, metric)
            estimates.append(dataclasses.replace(est, seconds=est.seconds + setup))  # a training counts too
        return combine(estimates, rule.confidence).as_dict()


def _versions() -> dict:
    from importlib import metadata

    out = {"python": sys.version.split()[0], "hwsim": __version__}
    for dist in ("numpy", "scipy", "numba", "torch", "sionna-no-rt", "matplotlib"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def _git_commit() -> str | None:
    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                           text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if r.returncode != 0:
        return None
    return r.stdout.strip() or None


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _holds_other_files(out: Path) -> bool:
    return not (out / "manifest.json").exists() and any(p.name != LOCK_NAME for p in out.iterdir())


def _open_folder(out: Path) -> None:
    """Create the output folder, or check the existing one is a folder, with a one-line reason if not."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        pass  # exists, but not as a folder: explained below
    except OSError as exc:
        raise SweepError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    try:
        st = os.stat(out)
    except OSError as exc:
        raise SweepError(f"cannot use {out} as the output folder: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise SweepError(f"cannot use {out} as the output folder: it exists and is not a folder")


def _lock_folder(out: Path) -> int:
    """Take the folder's exclusive lock (see the module doc; :func:`hwsim._files.take_lock`, whose file a
    sweep leaves in place); returns the lock's file descriptor."""
    path = out / LOCK_NAME
    try:
        return take_lock(path)
    except InUseError as exc:
        raise SweepError(f"{out} is in use by another sweep (pid {exc.holder}, which holds {path}); wait for it to "
                         "finish, stop it, or choose another --out folder") from None
    except ValueError as exc:  # a symbolic link in place of the lock file
        raise SweepError(str(exc)) from None
    except OSError as exc:
        raise SweepError(f"cannot create or lock the lock file {path}: {exc.strerror or exc}") from None


def _prepare_folder(cfg: SweepConfig, out: Path, resume: bool) -> tuple[dict, dict]:
    """Check the (locked) output folder against the sweep; returns (manifest, finished results by key)."""
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        old = _read_manifest(manifest_path)
        if old.get("config_hash") != cfg.hash:
            if resume:
                before = old.get("settings", {})
                now = cfg.numbers()
                changed = [k for k, v in now.items() if before.get(k) != json.loads(json.dumps(v))]
                then = before.get("files") if isinstance(before.get("files"), dict) else {}
                files = [name for name, sha in now.get("files", {}).items() if name in then and then[name] != sha]
                if files:
                    raise SweepError(
                        f"the contents of {', '.join(files)} changed since this sweep started in {out}: resuming "
                        "would mix results of two different files in one sweep. Restore the file, run the new one "
                        "in another --out folder, or start over there with --force.")
                raise SweepError(
                    f"the configuration changed since this sweep started in {out} (config hash "
                    f"{old.get('config_hash')} then, {cfg.hash} now; changed: {', '.join(changed) or 'unknown'}): "
                    "resuming would mix results of two different sweeps. Restore the original config, run "
                    "the new one in another --out folder, or start over there with --force.")
            raise SweepError(f"{out} holds a different sweep (config hash {old.get('config_hash')}, this one is "
                             f"{cfg.hash}); choose another --out folder, or start over there with --force")
        try:
            done = read_journal(out / "points.jsonl", cfg.hash)
        except ValueError as exc:
            raise SweepError(str(exc)) from None
        if done and not resume:
            raise SweepError(f"{out} already holds {len(done)} finished points of this sweep; pass --resume to "
                             "finish it, or choose another --out folder")
        trim_journal(out / "points.jsonl", cfg.hash)
        return old, done
    if _holds_other_files(out):
        raise SweepError(f"{out} is not empty and holds no hwsim sweep (no manifest.json); choose another --out folder")
    return _new_manifest(cfg), {}


def _new_manifest(cfg: SweepConfig) -> dict:
    out = {"format": MANIFEST_FORMAT, "config_hash": cfg.hash, "config": cfg.raw, "settings": cfg.numbers(),
           "root_seed": cfg.seed, "versions": _versions(), "git_commit": _git_commit(), "started": _now(),
           "finished": None, "resumed": 0}
    if cfg.files:
        out["inputs"] = [f.describe() | {"written": written} for (_, written), f in sorted(cfg.files.items())]
    return out


def _read_manifest(path: Path) -> dict:
    try:
        old = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SweepError(f"{path} is damaged ({exc}); choose another --out folder") from None
    if not isinstance(old, dict):
        raise SweepError(f"{path} is damaged (not a JSON object); choose another --out folder")
    return old


#: Files a sweep writes besides the lock: what ``force`` removes (plots: ``plot.png``, ``plot_AXIS=VALUE.pdf``, ...).
_DERIVED = ("results.csv",)
_PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def _clear_models(folder: Path) -> None:
    """Remove the shared set-ups a sweep saved (``learned-*.pt`` with their sidecars and temporary files),
    and the folder when nothing else is in it."""
    if not folder.is_dir() or folder.is_symlink():
        return
    for path in folder.iterdir():
        name = path.name.lstrip(".")
        if name.startswith("learned-") and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()


def _sweep_files(out: Path) -> list[Path]:
    """The files of ``out`` that a sweep wrote and can write again from its journal: results.csv, the
    plots, and temporary files a killed writer left (``.NAME.XXXX.tmp`` of any of them or the manifest)."""
    def plot_name(name: str) -> bool:
        stem, dot, ext = name.rpartition(".")
        return dot == "." and f".{ext}" in _PLOT_SUFFIXES and (stem == "plot" or (stem.startswith("plot_") and "=" in stem))

    def derived(name: str) -> bool:
        return name in _DERIVED or plot_name(name)

    found = []
    for path in out.iterdir():
        name = path.name
        if name.startswith(".") and name.endswith(".tmp"):
            target = name[1:].rsplit(".", 2)[0]  # .results.csv.ab12cd.tmp -> results.csv
            if derived(target) or target in ("manifest.json",):
                found.append(path)
        elif derived(name):
            found.append(path)
    return [p for p in found if p.is_file() and not p.is_symlink()]


def _clear_sweep(out: Path) -> int:
    """Remove what a sweep wrote in the (locked) folder ``out``, in an order that keeps it a valid
    sweep folder at every step; returns the number of finished points the journal held.

    First the files that the journal can rebuild (results.csv, plots, stale temporary files):
    stopped there, the old sweep is whole and a plain rerun shows it again. Then the journal,
    in one ``unlink``: the moment the old results are gone. The manifest stays until the new
    sweep atomically replaces it (until then the folder is the old sweep with no finished
    point). Files the sweep did not write (notes, figures of your own) are left alone.
    """
    manifest_path = out / "manifest.json"
    if not manifest_path.exists():
        if _holds_other_files(out):
            raise SweepError(f"{out} is not empty and holds no hwsim sweep (no manifest.json): --force removes only "
                             "a sweep's own files; choose another --out folder")
        return 0
    journal = out / "points.jsonl"
    try:
        count = len(read_journal(journal))
    except ValueError:
        count = sum(1 for _ in journal.open("rb")) if journal.is_file() else 0
    for path in _sweep_files(out):
        path.unlink(missing_ok=True)
    _clear_models(out / MODELS_DIR)
    if journal.is_file() and not journal.is_symlink():
        journal.unlink()
    elif journal.exists() or journal.is_symlink():
        raise SweepError(f"{journal} is not a regular file; remove it yourself or choose another --out folder")
    _fsync_dir(out)
    return count


def _fsync_dir(path: Path) -> None:
    """Make renames and removals in ``path`` durable (where the system allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _die_with_parent(parent_pid: int) -> None:
    """Initializer of local worker processes: end this process when the sweep's process dies.

    On Linux the kernel sends SIGKILL when the parent goes (:func:`hwsim._process.die_with_parent`),
    even if the parent was SIGKILLed; elsewhere a daemon thread polls the parent pid.
    """
    if not _process.die_with_parent(parent_pid):
        _process.watch_parent(parent_pid)


def _init_worker(parent_pid: int) -> None:
    """Initializer of local worker processes: die with the sweep (:func:`_die_with_parent`) and leave
    Ctrl-C to it. A terminal sends SIGINT to the whole process group; the sweep stops its workers
    itself, so they ignore it (no traceback per worker). The sweep spawns them with SIGINT blocked,
    so one that arrives while a worker starts stays pending until it is ignored here."""
    import signal

    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@contextlib.contextmanager
def _sigint_deferred():
    """A Ctrl-C inside the block is raised (as ``KeyboardInterrupt``) when the block ends; the block
    is a few file writes. Only where Python's own SIGINT handler is in place in the main thread."""
    import signal
    import threading

    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    caught = []
    signal.signal(signal.SIGINT, lambda *_: caught.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if caught:
        raise KeyboardInterrupt


@contextlib.contextmanager
def _sigint_blocked():
    """SIGINT blocked in this thread inside the block (processes started there inherit the mask);
    one that arrives meanwhile is delivered when the block ends."""
    import signal

    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _split_tcp_address(address: str) -> tuple[str, int]:
    """(host, port) of ``tcp://host:port`` or ``host:port``; a :class:`SweepError` for anything else, other
    protocols (tls, inproc, ucx, ws) included: a sweep passes no TLS security settings, and an in-process
    address names a scheduler inside another process, so neither could connect."""
    scheme, sep, rest = address.partition("://")
    if sep and scheme != "tcp":
        raise SweepError(f"--scheduler {address!r}: a sweep connects to a Dask scheduler over tcp:// only (no "
                         f"{scheme}://: it passes no TLS security settings and runs no scheduler in-process); give "
                         "tcp://HOST:PORT")
    rest = rest if sep else address
    host, sep, port = rest.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535 or "/" in host:
        raise SweepError(f"--scheduler must look like tcp://HOST:PORT (PORT in 1..65535), got {address!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


_PROBE_REQUEST = b"HWSIM-PROBE / HTTP/1.0\r\n\r\n"


def _probe_scheduler(address: str, timeout: float) -> None:
    """Check within ``timeout`` s that a Dask scheduler answers at ``address``; raise :class:`SweepError` if not.

    A Dask server greets every new connection at once with a framed handshake: an 8-byte
    little-endian length, then that many bytes (an 8-byte frame count, the frames' 8-byte lengths,
    the frames), whose first frame is a msgpack map. The whole greeting is read and checked here
    (at most 64 KiB; a scheduler's is about 60 bytes). Anything else -- silence, an HTTP server, random bytes, a
    greeting cut short or stalled, frames that do not add up or do not decode -- is reported with the
    first bytes it sent, instead of letting dask read a garbage length (a huge allocation) or wait
    forever. Only ``tcp://`` addresses are accepted (:func:`_split_tcp_address`).
    """
    hostport = _split_tcp_address(address)
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection(hostport, timeout=timeout)
    except OSError as exc:
        raise SweepError(f"cannot reach the Dask scheduler at {address} within {timeout:g} s: {exc}") from None
    data, sent_probe, closed, need, longest = b"", False, False, 16, 1 << 16
    greet_by = deadline - timeout / 2  # a Dask server greets at once; silent until then: ask what it is
    with sock:
        while len(data) < need and not closed:
            now = time.monotonic()
            if now >= deadline:
                break
            if not data and not sent_probe and now >= greet_by:
                sent_probe = True
                with contextlib.suppress(OSError):
                    sock.sendall(_PROBE_REQUEST)
            sock.settimeout(max((deadline if data or sent_probe else greet_by) - now, 0.01))
            try:
                chunk = sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                break
            closed = not chunk
            data += chunk
            if need == 16 and len(data) >= 16:
                total, nframes = struct.unpack("<QQ", data[:16])
                if not (1 <= nframes <= 1024 and 8 + 8 * nframes <= total <= longest):
                    break  # not a Dask greeting: said below
                need = 8 + total
    if need > 16:  # the start of a Dask greeting
        if len(data) < need:
            then = "closed the connection" if closed else f"sent nothing more within {timeout:g} s"
            raise SweepError(f"{address} sent the start of a Dask handshake ({len(data)} of its {need} bytes), then "
                             f"{then}: it is not a working Dask scheduler (first bytes: {data[:48]!r})")
        body = data[8:need]
        nframes = struct.unpack_from("<Q", body)[0]
        lengths = struct.unpack_from(f"<{nframes}Q", body, 8)
        first = 8 + 8 * nframes
        if first + lengths[0] <= len(body):
            try:
                import msgpack
            except ImportError:  # dask.distributed brings msgpack; without it the layout is all there is to check
                return
            try:
                header = msgpack.loads(body[first:first + lengths[0]], raw=False, strict_map_key=False)
            except Exception:  # noqa: BLE001 - any decoding error: not a greeting
                header = None
            if isinstance(header, dict):
                return
    if not data:
        what = "closed the connection" if closed else f"sent nothing within {timeout:g} s"
        raise SweepError(f"{address} accepted a connection but {what}: it is not a Dask scheduler "
                         "(a scheduler greets every client at once)")
    raise SweepError(f"{address} answered but is not a Dask scheduler (first bytes: {data[:48]!r})")


class _Executor:
    """Local process pool, Dask cluster, or in-process; each yields (point, result) as they finish."""

    def __init__(self, workers: int, scheduler: str | None, connect_timeout: float,
                 no_workers_timeout: float = NO_WORKERS_TIMEOUT):
        self.client = self.pool = None
        self.scheduler = scheduler
        self.no_workers_timeout = no_workers_timeout
        if scheduler:
            try:
                from distributed import Client
            except ImportError:
                raise SweepError("--scheduler needs dask.distributed: pip install 'hwsim[distributed]'") from None
            import threading

            start = time.monotonic()
            _probe_scheduler(scheduler, connect_timeout)
            left = max(connect_timeout - (time.monotonic() - start), 1.0)
            # dask's own timeout does not cover every read of the handshake (a server that greets and then
            # stalls hangs Client() for ever): it is made in a daemon thread, waited for at most ``left`` s,
            # and abandoned after that (a client it still makes later is closed there)
            box: dict = {}
            guard, made = threading.Lock(), threading.Event()

            def connect():
                try:
                    client = Client(scheduler, timeout=left, set_as_default=False)
                except BaseException as exc:  # noqa: BLE001 - reported below, in the sweep's thread
                    box["error"] = exc
                else:
                    with guard:
                        late = "abandoned" in box
                        if not late:
                            box["client"] = client
                    if late:
                        with contextlib.suppress(Exception):
                            client.close(timeout=1)
                finally:
                    made.set()

            threading.Thread(target=connect, name="hwsim-dask-connect", daemon=True).start()
            made.wait(left)
            with guard:
                if not made.is_set():
                    box["abandoned"] = True
            exc = box.get("error")
            if "abandoned" in box:
                raise SweepError(f"the Dask scheduler at {scheduler} did not finish the handshake within "
                                 f"{connect_timeout:g} s (--connect-timeout): it answers like a Dask server, then "
                                 "stalls (overloaded, or not a scheduler)")
            if isinstance(exc, (OSError, TimeoutError)):
                raise SweepError(f"cannot reach the Dask scheduler at {scheduler} within {connect_timeout:g} s: "
                                 f"{exc}") from None
            if exc is not None:
                if not isinstance(exc, Exception):
                    raise exc
                raise SweepError(f"the Dask scheduler at {scheduler} answered the handshake with something a Dask "
                                 f"client cannot use ({type(exc).__name__}: {exc})") from None
            self.client = box["client"]
            self.executor = self.client.get_executor(pure=False)
        elif workers > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self.pool = self.executor = ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                initargs=(os.getpid(),))
        else:
            self.executor = None

    def _check_workers(self, since: float | None) -> float | None:
        """Time since when the Dask cluster has had no worker (None: it has some); raises past the timeout."""
        if self.client is None or not self.no_workers_timeout:
            return None
        if self.client.ncores():
            return None
        now = time.monotonic()
        if since is None:
            return now
        if now - since > self.no_workers_timeout:
            raise SweepError(f"the Dask cluster at {self.scheduler} has had no workers for "
                             f"{self.no_workers_timeout:g} s (--no-workers-timeout); finished points are kept: "
                             "start workers and rerun with --resume")
        return since

    def run(self, cfg: SweepConfig, points: list[Point], shared: dict | None = None):
        """Yield ``(point, result)`` as points finish; ``result`` is the exception of a point that failed.
        ``shared``: set-ups computed once for all points (:func:`run_point`), sent with every point."""
        args = [(cfg.study, cfg.system, p.params, cfg.stopping, cfg.point_seed(p), shared, cfg.files) for p in points]
        if self.executor is None:
            for p, a in zip(points, args):
                try:
                    yield p, run_point(*a)
                except Exception as exc:  # noqa: BLE001 - reported with the point, the sweep goes on
                    yield p, exc
            return
        with _sigint_blocked() if self.pool is not None else contextlib.nullcontext():  # workers start here
            pending = {self.executor.submit(run_point, *a): p for p, a in zip(points, args)}
        poll = min(1.0, self.no_workers_timeout / 4) if self.client is not None and self.no_workers_timeout else None
        idle_since = None
        while pending:
            finished, _ = wait(pending, timeout=poll, return_when=FIRST_COMPLETED)
            if not finished:
                idle_since = self._check_workers(idle_since)
                continue
            idle_since = None
            for fut in finished:
                exc = fut.exception()
                yield pending.pop(fut), exc if exc is not None else fut.result()

    def close(self, cancel: bool = False):
        """Shut the executor down; ``cancel`` (an interrupt or an error): drop queued points and stop
        the local workers at once (their running points are lost; the journal never held them)."""
        if self.pool is not None:
            procs = list((getattr(self.pool, "_processes", None) or {}).values()) if cancel else []
            for proc in procs:
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    proc.terminate()
            self.pool.shutdown(wait=not cancel, cancel_futures=cancel)
            deadline = time.monotonic() + 1.0
            for proc in procs:
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    proc.join(max(deadline - time.monotonic(), 0.0))
                    if proc.is_alive():
                        proc.kill()
        if self.client is not None:
            self.client.close()


def run_sweep(cfg: SweepConfig, out_dir, *, workers: int | None = None, scheduler: str | None = None,
              resume: bool = False, quiet: bool = False, connect_timeout: float = 10.0, plot: bool = True,
              no_workers_timeout: float = NO_WORKERS_TIMEOUT, force: bool = False) -> Path:
    """Run (or resume) ``cfg`` into ``out_dir``; returns the folder. See the module doc for its files.

    ``resume``: finish the sweep already in ``out_dir`` (a folder holding all its points is
    only re-summarized: results.csv rewritten, missing plots drawn, nothing computed); without
    it a folder holding finished points of this sweep is refused. ``force``: start over,
    removing what an earlier sweep wrote in ``out_dir`` first (its manifest, journal,
    results.csv and plots; other files stay), in an order that leaves a valid sweep folder if
    it is interrupted (see :func:`_clear_sweep`). ``quiet``: no progress; otherwise progress
    goes to stderr, as a bar on a terminal and as one line per finished point elsewhere.
    ``connect_timeout`` bounds the whole handshake with a Dask ``scheduler``;
    ``no_workers_timeout`` (seconds, 0: wait forever) is how long a Dask sweep waits while
    the cluster has no worker at all before it stops with :class:`SweepError`.

    A ``KeyboardInterrupt`` (Ctrl-C) stops local workers at once and propagates; the points
    finished so far stay in the journal, and a rerun with ``resume`` computes the others.
    """
    from .. import _checks

    if workers is None:
        workers = os.cpu_count() or 1
    workers = _checks.integer("workers", workers, minimum=1)
    connect_timeout = _checks.real("connect_timeout", connect_timeout, positive=True)
    no_workers_timeout = _checks.real("no_workers_timeout", no_workers_timeout, nonnegative=True)
    if resume and force:
        raise ValueError("resume and force exclude each other: resume finishes the sweep in the folder, force "
                         "starts it over")
    out = Path(out_dir)
    # A folder of foreign files gets no lock file; one with a lock file is (being) used by a sweep, whose
    # temporary files may already be there: the lock decides, and the folder is checked again under it.
    if out.is_dir() and not (out / LOCK_NAME).exists() and _holds_other_files(out):
        raise SweepError(f"{out} is not empty and holds no hwsim sweep (no manifest.json); choose another --out folder")
    _open_folder(out)
    lock = _lock_folder(out)
    try:
        return _run_locked(cfg, out, workers, scheduler, resume, quiet, connect_timeout, plot, no_workers_timeout,
                           force)
    except OSError as exc:
        if isinstance(exc, ConnectionError) or (exc.filename is None and exc.errno not in _DISK_ERRNOS):
            raise  # not a file-system error (e.g. a lost connection): as it is
        raise SweepError(f"cannot write the sweep's files in {out}: {exc.strerror or exc}; finished points are "
                         "kept (free the cause and rerun with --resume)") from None
    finally:
        os.close(lock)  # releases the flock


def _shared_setups(cfg, study, todo: list[Point], out: Path, quiet: bool, tty: bool) -> dict:
    """The study's ``shared_setups`` hook: what every point shares (a learned network, trained once here
    and saved in ``out/models``, where a resumed sweep finds it), by key."""
    hook = getattr(study, "shared_setups", None)
    if hook is None:
        return {}
    t0 = time.monotonic()
    if (out / MODELS_DIR).is_symlink():
        raise SweepError(f"{out / MODELS_DIR} is a symbolic link; a sweep saves its shared set-ups in a folder of its "
                         "own, never through a link (remove the link or choose another --out folder)")
    system = cfg.localized(Point(-1, "", {}))[0]
    shared = hook(system, [(p.curve, cfg.localized(p)[1]) for p in todo], out / MODELS_DIR, progress=not quiet and tty,
                  say=lambda text: _say(quiet, text))
    if shared:
        _say(quiet, f"sweep: {len(shared)} shared set-up{'s' if len(shared) > 1 else ''} ready in "
                    f"{time.monotonic() - t0:.1f} s ({out / MODELS_DIR})")
    return shared


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)


def _point_line(k: int, n: int, p: Point, res, grid: dict, y: str) -> str:
    """One progress line (no terminal): ``[3/20] MAP | snr_db=4.0: ber 1.2e-03 [1.0e-03, 1.4e-03] (0.8 s)``.
    Always one line of printable text: names and values from the config, and an error's message, are
    escaped (:func:`hwsim._progress.shown`), so none of them can move the cursor or forge another line."""
    from .._progress import shown

    where = ", ".join(f"{a}={p.params[a]}" for a in grid if a in p.params)
    head = f"sweep: [{k}/{n}] {p.curve}" + (f" | {where}" if where else "")
    if isinstance(res, BaseException):
        return shown(f"{head}: failed ({type(res).__name__}: {res})")
    return shown(f"{head}: {y} {res['estimate']:.3e} [{res['ci_low']:.2e}, {res['ci_high']:.2e}] "
                 f"({res['seconds']:.1f} s)")


def _has_plots(out: Path) -> bool:
    return any(out.glob("plot*.png"))


def _run_locked(cfg, out, workers, scheduler, resume, quiet, connect_timeout, plot, no_workers_timeout,
                force=False) -> Path:
    from tqdm.auto import tqdm

    t0 = time.monotonic()
    if force:
        cleared = _clear_sweep(out)
        manifest, done = _new_manifest(cfg), {}
        if cleared:
            _say(quiet, f"sweep: started over in {out} (removed the earlier sweep's {cleared} finished points, "
                        "results.csv and plots)")
    else:
        manifest, done = _prepare_folder(cfg, out, resume)
    study = load_study(cfg.study)
    columns = result_columns(study, cfg.raw)
    points = cfg.points()
    todo = [p for p in points if p.key not in done]
    results = {p.index: done[p.key] for p in points if p.key in done}
    if scheduler is None:  # local processes: no more than the cores, nor than the points to compute
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        if workers > cores and todo:
            _say(quiet, f"sweep: {workers} workers asked for, {min(cores, len(todo))} used: this machine has {cores} "
                        "cores, and more processes than cores only share them (and each holds its own memory)")
        workers = max(1, min(workers, cores, len(todo)))
    if todo:
        if done:
            manifest["resumed"] = manifest.get("resumed", 0) + 1
            _say(quiet, f"sweep: resuming {out}: {len(done)} of {len(points)} points were finished, "
                        f"{len(todo)} to compute")
        manifest.update(workers=workers, scheduler=scheduler, finished=None)
        atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2))
    else:
        when = f" (finished {manifest['finished']})" if manifest.get("finished") else ""
        _say(quiet, f"sweep: {out} already holds all {len(points)} finished points of this sweep{when}; nothing to "
                    "compute (--force starts it over)")
    tty = sys.stderr.isatty()
    shared = _shared_setups(cfg, study, todo, out, quiet, tty) if todo else {}
    bar = tqdm(total=len(points), initial=len(points) - len(todo), unit="point", desc="sweep",
               disable=quiet or not tty or not todo)
    lines = not quiet and not tty  # no terminal (a log file, a pipe, a batch job): one line per point
    executor = _Executor(workers, scheduler, connect_timeout, no_workers_timeout) if todo else None
    failed = []
    try:
        for k, (p, res) in enumerate(executor.run(cfg, todo, shared) if todo else (),
                                     start=len(points) - len(todo) + 1):
            if lines:
                _say(quiet, _point_line(k, len(points), p, res, cfg.grid, columns[0]))
            if isinstance(res, BaseException):  # nothing of a failed point is recorded
                failed.append(f"{p.curve!r} at {json.dumps(p.params)}: {type(res).__name__}: {res}")
                bar.update()
                continue
            with _sigint_deferred():  # the journal and results.csv agree after a Ctrl-C
                append_journal(out / "points.jsonl", p.key, res, cfg.hash)
                results[p.index] = res
                write_results_csv(out / "results.csv", points, results, columns)
            bar.update()
    except BaseException:
        if executor is not None:
            executor.close(cancel=True)
        raise
    finally:
        bar.close()
    if executor is not None:
        executor.close()
    write_results_csv(out / "results.csv", points, results, columns)
    if todo or not manifest.get("finished") or manifest.get("failed"):
        manifest["finished"] = None if failed else _now()
        manifest["failed"] = failed
        atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2))
    if plot and results and (todo or not _has_plots(out)):
        from .plotting import plot_sweep

        plot_sweep(out)
    if failed:
        shown = "\n  ".join(failed[:5]) + (f"\n  ... and {len(failed) - 5} more" if len(failed) > 5 else "")
        raise SweepError(f"{len(failed)} of {len(points)} points failed (the others are saved in {out}; "
                         f"fix the cause and rerun with --resume):\n  {shown}")
    if todo:
        _say(quiet, f"sweep: computed {len(todo)} point{'s' if len(todo) != 1 else ''} in "
                    f"{time.monotonic() - t0:.1f} s" + (f" ({len(done)} were finished before)" if done else ""))
    return out
