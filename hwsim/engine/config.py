"""The sweep file: a TOML declaration of a study, a grid and stopping rules, validated into a :class:`SweepConfig`.

A sweep file names its study (``study = "link"``, :mod:`hwsim.study`), its ``[system]``, the ``[grid]``
axes, the ``[[curves]]`` (each fixes some point keys and may fix a grid axis), the
``[stopping]`` rule and a root ``seed``. Every (curve, grid point) is one Monte Carlo
point whose random stream derives from the root seed and the point's parameters, so
results do not depend on the number of workers, their order, or a resume. With
``common_random_numbers = true`` the stream depends on the grid position only: every
curve sees the same channel draws there, which makes differences between curves precise.

:func:`load_config` reads a sweep file or a shipped config (:func:`shipped_configs`);
:func:`parse_config` validates a parsed one (unknown keys are refused with the list of valid
ones). ``--set`` values (:func:`parse_override`, :func:`apply_overrides`) are merged in after
``[quick]`` and validated like the file; one that every curve overrides warns
(:class:`MaskedSettingWarning`). The files a config names are read and hashed here, once
(:mod:`hwsim.engine.inputs`). A top-level ``plugins = ["MODULE", ...]`` (and ``--plugin MODULE``)
names modules of user components, imported before any component table is read
(:mod:`hwsim.plugins`); their names are part of the config's identity when there are any.

Size limits (:data:`MAX_AXIS_VALUES`, :data:`MAX_POINTS`, and the study's ``MAX_FRAME_VALUES``)
refuse configs that would exhaust memory before anything is allocated; they are module
constants, to be raised in code by whoever really needs a bigger sweep.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import hashlib
import itertools
import json
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .inputs import localize, read_input
from .montecarlo import StoppingRule
from .stats import point_seed
from .. import study

CONFIG_DIR = Path(__file__).parent.parent / "configs"

#: Most values one grid axis may have (a range is counted before it is built).
MAX_AXIS_VALUES = 10_000
#: Most points (curves x grid positions) one sweep may have.
MAX_POINTS = 100_000
#: Longest ``--set`` text, and most parts of its dotted key or levels of its value.
MAX_OVERRIDE_CHARS = 100_000
MAX_OVERRIDE_DEPTH = 16
#: Largest sweep file read.
MAX_CONFIG_BYTES = 4 * 2**20

_TOP = {"study": str, "seed": int, "title": str, "common_random_numbers": bool, "system": dict, "grid": dict,
        "curves": list, "stopping": dict, "plot": dict, "summary": dict, "quick": dict, "plugins": list}
_STOPPING = {f.name: f.type for f in dataclasses.fields(StoppingRule)}
_PLOT = {"x": str, "logy": bool, "xlabel": str, "ylabel": str, "figures": dict, "db": bool, "x_axis": str}
#: ``[plot] figures`` names: they become file names (plot_figure=NAME.png).
_FIGURE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
MAX_FIGURES = 50
_SUMMARY = {"target": float, "reference": dict}
_QUICK = {"grid": dict, "stopping": dict, "system": dict}


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
                         "per axis (hwsim.engine.config.MAX_AXIS_VALUES, a guard against configs that exhaust memory; "
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
    #: The plugin modules every process imports before it builds a link (``--plugin`` names, then the
    #: file's ``plugins``, each once; :mod:`hwsim.plugins`).
    plugins: list = dataclasses.field(default_factory=list)

    def point_seed(self, point: "Point"):
        """The point's SeedSequence: keyed by curve and parameters, or with common random numbers
        by the grid position alone, so every curve sees the same draws there (paired comparisons).
        Keys that change nothing of the point (the study's ``unused_keys``) are left out."""
        unused = study.unused_keys(self.system, point.params)
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
        system = study.resolved(self.system)
        out = {"study": self.study, "seed": self.seed, "system": system, "grid": self.grid,
               "curves": self.curves, "stopping": dataclasses.asdict(self.stopping),
               "common_random_numbers": self.common_random_numbers}
        if self.files:  # the contents of every file a point reads (absent without files: hashes as before)
            out["files"] = {f"{key} = {written}": f.sha256 for (key, written), f in sorted(self.files.items())}
        if self.plugins:  # the modules whose components the points use (absent without: hashes as before)
            out["plugins"] = list(self.plugins)
        return out

    def points(self) -> list[Point]:
        """Every (curve, grid position) point. A curve spans the grid's axes but those it sets itself and
        those of a component parameter that the type the curve gives the component lacks (``adc = "none"``
        over an ``adc.bits`` axis, :func:`curve_axes`): such a curve has one point per position of the other
        axes, and the plots draw it in every figure of the axis it lacks."""
        out = []
        for curve in self.curves:
            fixed = {k: v for k, v in curve.items() if k != "name"}
            axes = curve_axes(self.grid, fixed)
            for combo in itertools.product(*(self.grid[a] for a in axes)):
                out.append(Point(len(out), curve["name"], {**fixed, **dict(zip(axes, combo))}))
        return out


def curve_axes(grid: dict, curve: dict) -> list[str]:
    """The grid axes a curve spans: not those it sets, nor an axis ``KIND.PARAM`` when the curve sets the type
    of ``KIND`` to one without ``PARAM`` (the axis changes nothing of that curve's link)."""
    from ..components import lookup

    def applies(axis: str) -> bool:
        kind, _, param = axis.partition(".")
        if not param or not isinstance(curve.get(kind), str):
            return True
        try:
            return param in lookup(kind, curve[kind]).PARAMS
        except (KeyError, ValueError):
            return True  # an unknown type: the point's validation names it
    return [a for a in grid if a not in curve and applies(a)]


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


def parse_config(data: dict, *, quick: bool = False, overrides=(), base=None, plugins=(),
                 plugin_option: str = "--plugin") -> SweepConfig:
    """Validate a parsed TOML sweep; ``quick`` applies its ``[quick]`` overrides, then
    ``overrides`` (:func:`parse_override` results) are merged in and recorded as ``raw["overrides"]``.
    ``base``: the folder relative file paths of the config are read from (the config file's; default:
    the working folder); a path an override gives is read from the working folder. Every file a point
    names is read and hashed here (:mod:`hwsim.engine.inputs`). ``plugins``: modules of user components
    to import (``hwsim sweep --plugin``), before the file's own ``plugins``, both before any component
    table is read (:func:`hwsim.plugins.load_plugins`); ``plugin_option`` names them in errors."""
    from ..plugins import check_names, load_plugins, merge

    given_plugins = check_names(plugins, plugin_option)
    data = copy.deepcopy(data)
    study_name = study.check_name(data.get("study"))
    # the study reads one table per component ([channel], [adc], [receiver], ...)
    components = {kind: dict for kind in study.COMPONENTS}
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
    if quick:
        data["quick_run"] = True  # recorded, as the overrides are: the figures mark a quick run
    if data["seed"] < 0:
        raise ValueError(f"seed must be >= 0, got {data['seed']}")
    # the user's components are registered before any table names them: --plugin's modules, then the file's
    own_plugins = check_names(data.get("plugins", []), "plugins entry")
    load_plugins(given_plugins, where=plugin_option)
    load_plugins(own_plugins, where="plugins entry")
    plugin_names = merge(given_plugins, own_plugins)

    system = dict(study.SYSTEM)
    given = data.get("system", {})
    _check_keys(given, study.SYSTEM, "[system]")
    for k, v in given.items():
        system[k] = _typed(v, type(study.SYSTEM[k]), f"system.{k}")
    for kind in components:
        if kind in data:
            system[kind] = data[kind]
    point_keys = study.point_keys(system)

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
        # the receiver and converter types, so results.csv names them on every row
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
    if "x_axis" in plot:
        if plot["x_axis"] not in ("snr_db", "ebno_db"):
            raise ValueError(f"plot.x_axis must be \"snr_db\" or \"ebno_db\" (Eb/N0 from the SNR), got {plot['x_axis']!r}")
        shown_x = plot.get("x") or next((a for a in grid if a in numeric_axes and len(grid[a]) > 1),
                                        numeric_axes[0] if numeric_axes else None)
        if plot["x_axis"] == "ebno_db" and shown_x != "snr_db":
            raise ValueError(f"plot.x_axis = \"ebno_db\" converts the snr_db axis, but the figure's x axis is "
                             f"{shown_x!r}")
    for name in re.findall(r"\{([^{}]*)\}", data.get("title", "")):
        if name != "system" and name not in point_keys:
            raise ValueError(f"title: placeholder {{{name}}} is neither {{system}} nor a KIND.PARAM key (e.g. "
                             "{channel.antennas})")
    summary = data.get("summary", {})
    _check_keys(summary, _SUMMARY, "[summary]")
    summary = {k: _typed(v, _SUMMARY[k], f"summary.{k}") for k, v in summary.items()}

    cfg = SweepConfig(raw=data, study=study_name, seed=data["seed"], system=system, grid=grid, curves=curves,
                      stopping=stopping, plot=plot, summary=summary, title=data.get("title", ""),
                      common_random_numbers=data.get("common_random_numbers", False), plugins=plugin_names)
    count = sum(math.prod(len(grid[a]) for a in curve_axes(grid, curve)) for curve in curves)
    if count > MAX_POINTS:
        raise ValueError(f"the sweep has {count} points ({len(curves)} curves over the grid), more than the limit "
                         f"of {MAX_POINTS} (hwsim.engine.config.MAX_POINTS, a guard against configs that exhaust memory; "
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
            for key, written, companions in study.files(system, p.params):
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


def load_config(source, *, quick: bool = False, overrides=(), plugins=(),
                plugin_option: str = "--plugin") -> SweepConfig:
    """Load a sweep from a TOML path or the name of a shipped config (see :func:`shipped_configs`);
    ``overrides``: ``"dotted.key=TOML_VALUE"`` strings (``hwsim sweep --set``); ``plugins``: modules of user
    components to import first (``hwsim sweep --plugin``, :func:`parse_config`)."""
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
    return parse_config(data, quick=quick, overrides=[parse_override(o) for o in overrides], base=base,
                        plugins=plugins, plugin_option=plugin_option)
