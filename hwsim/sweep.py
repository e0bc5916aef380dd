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
``results.csv`` (rewritten atomically after each point) and the plots. A killed sweep
started again with ``resume=True`` recomputes only missing points; a changed
configuration is refused.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime as _dt
import hashlib
import itertools
import json
import math
import os
import subprocess
import sys
import tomllib
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .montecarlo import StoppingRule, combine, estimate
from .results import atomic_write_text, read_journal, write_results_csv
from .stats import point_seed
from .studies import STUDIES, load_study

CONFIG_DIR = Path(__file__).with_name("configs")
MANIFEST_FORMAT = 1

_TOP = {"study": str, "seed": int, "title": str, "common_random_numbers": bool, "system": dict, "grid": dict,
        "curves": list, "stopping": dict, "plot": dict, "summary": dict, "quick": dict}
_STOPPING = {f.name: f.type for f in dataclasses.fields(StoppingRule)}
_PLOT = {"x": str, "logy": bool, "xlabel": str, "ylabel": str}
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


def _axis_values(axis: str, spec, kind) -> list:
    if isinstance(spec, dict):
        _check_keys(spec, {"start": 0, "stop": 0, "step": 0}, f"grid.{axis}")
        try:
            start, stop, step = (float(spec[k]) for k in ("start", "stop", "step"))
        except KeyError as exc:
            raise ValueError(f"grid.{axis} as a range needs start, stop and step; missing {exc}") from None
        if step <= 0 or stop < start:
            raise ValueError(f"grid.{axis} needs step > 0 and stop >= start, got {spec}")
        count = math.floor((stop - start) / step + 1e-9) + 1
        spec = [round(start + i * step, 12) for i in range(count)]
    if not isinstance(spec, list):
        spec = [spec]
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

    def point_seed(self, point: "Point"):
        """The point's SeedSequence: keyed by curve and parameters, or with common random numbers
        by the grid position alone, so every curve sees the same draws there (paired comparisons)."""
        if self.common_random_numbers:
            return point_seed(self.seed, **{a: point.params[a] for a in self.grid if a in point.params})
        return point_seed(self.seed, curve=point.curve, **point.params)

    @property
    def hash(self) -> str:
        """Hash of everything that changes the numbers (not titles or plot settings)."""
        return hashlib.sha256(json.dumps(self.numbers(), sort_keys=True).encode()).hexdigest()[:16]

    def numbers(self) -> dict:
        """The resolved settings that determine the results (defaults filled, ranges expanded)."""
        return {"study": self.study, "seed": self.seed, "system": self.system, "grid": self.grid,
                "curves": self.curves, "stopping": dataclasses.asdict(self.stopping),
                "common_random_numbers": self.common_random_numbers}

    def points(self) -> list[Point]:
        out = []
        for curve in self.curves:
            fixed = {k: v for k, v in curve.items() if k != "name"}
            axes = [a for a in self.grid if a not in fixed]
            for combo in itertools.product(*(self.grid[a] for a in axes)):
                out.append(Point(len(out), curve["name"], {**fixed, **dict(zip(axes, combo))}))
        return out


def parse_config(data: dict, *, quick: bool = False) -> SweepConfig:
    """Validate a parsed TOML sweep; ``quick`` applies its ``[quick]`` overrides."""
    data = copy.deepcopy(data)
    _check_keys(data, _TOP, "the sweep file")
    for key, kind in _TOP.items():
        if key in data:
            data[key] = _typed(data[key], kind, key)
    for key in ("study", "seed", "grid", "curves"):
        if key not in data:
            raise ValueError(f"the sweep file needs a {key!r} entry")
    quick_table = data.pop("quick", {})
    _check_keys(quick_table, _QUICK, "[quick]")
    for key, value in quick_table.items():
        _typed(value, _QUICK[key], f"quick.{key}")
    if quick:
        for table, overrides in quick_table.items():
            data.setdefault(table, {}).update(overrides)
    if data["study"] not in STUDIES:
        raise ValueError(f"study must be one of {', '.join(sorted(STUDIES))}, got {data['study']!r}")
    study = load_study(data["study"])
    if data["seed"] < 0:
        raise ValueError(f"seed must be >= 0, got {data['seed']}")

    system = dict(study.SYSTEM)
    given = data.get("system", {})
    _check_keys(given, study.SYSTEM, "[system]")
    for k, v in given.items():
        system[k] = _typed(v, type(study.SYSTEM[k]), f"system.{k}")

    grid = {}
    _check_keys(data["grid"], study.POINT_KEYS, "[grid]")
    for axis, spec in data["grid"].items():
        grid[axis] = _axis_values(axis, spec, study.POINT_KEYS[axis])
        if not grid[axis]:
            raise ValueError(f"grid.{axis} is empty: a grid with no points")

    curves, names = [], set()
    if not data["curves"]:
        raise ValueError("the sweep file needs at least one [[curves]] entry")
    for i, curve in enumerate(data["curves"]):
        where = f"[[curves]] entry {i + 1}"
        if not isinstance(curve, dict):
            raise ValueError(f"{where} must be a table")
        _check_keys(curve, {"name": str, **study.POINT_KEYS}, where)
        if "name" not in curve or not isinstance(curve["name"], str) or not curve["name"]:
            raise ValueError(f"{where} needs a non-empty name")
        if curve["name"] in names:
            raise ValueError(f"curve names must be unique; {curve['name']!r} appears twice")
        names.add(curve["name"])
        curves.append({k: (v if k == "name" else _typed(v, study.POINT_KEYS[k], f"{curve['name']}.{k}"))
                       for k, v in curve.items()})

    stopping_table = data.get("stopping", {})
    _check_keys(stopping_table, _STOPPING, "[stopping]")
    stopping = StoppingRule(**{k: _typed(v, _STOPPING[k], f"stopping.{k}") for k, v in stopping_table.items()})

    plot = data.get("plot", {})
    _check_keys(plot, _PLOT, "[plot]")
    plot = {k: _typed(v, _PLOT[k], f"plot.{k}") for k, v in plot.items()}
    numeric_axes = [a for a in grid if study.POINT_KEYS[a] in (int, float)]
    if "x" in plot and plot["x"] not in numeric_axes:
        raise ValueError(f"plot.x must be a numeric grid axis ({', '.join(numeric_axes) or 'none'}), "
                         f"got {plot['x']!r}")
    summary = data.get("summary", {})
    _check_keys(summary, _SUMMARY, "[summary]")
    summary = {k: _typed(v, _SUMMARY[k], f"summary.{k}") for k, v in summary.items()}

    cfg = SweepConfig(raw=data, study=data["study"], seed=data["seed"], system=system, grid=grid, curves=curves,
                      stopping=stopping, plot=plot, summary=summary, title=data.get("title", ""),
                      common_random_numbers=data.get("common_random_numbers", False))
    points = cfg.points()
    if not points:
        raise ValueError("the grid has no points")
    for p in points:
        missing = [k for k in study.REQUIRED if k not in p.params]
        if missing:
            raise ValueError(f"curve {p.curve!r} has no value for {', '.join(missing)} (set it in the curve or the grid)")
        try:
            study.validate(system, p.params)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"curve {p.curve!r}: {exc}") from None
    return cfg


def shipped_configs() -> list[str]:
    """Names of the example sweeps shipped with hwsim (``hwsim sweep NAME``)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))


def load_config(source, *, quick: bool = False) -> SweepConfig:
    """Load a sweep from a TOML path or the name of a shipped config (see :func:`shipped_configs`)."""
    path = Path(source)
    if not path.exists() and (CONFIG_DIR / f"{source}.toml").exists():
        path = CONFIG_DIR / f"{source}.toml"
    if not path.is_file():
        raise ValueError(f"config must be a TOML file or one of {', '.join(shipped_configs())}; got {source!r}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from None
    return parse_config(data, quick=quick)


# --------------------------------------------------------------------------- running
@contextlib.contextmanager
def single_threaded():
    """One thread (numba, BLAS, torch) inside the block, restored after it.

    Points run one thread each -- parallelism comes from running points side by side -- and
    the caller's own settings come back afterwards (this matters for in-process runs).
    """
    import numba
    import torch
    from threadpoolctl import threadpool_limits

    saved = numba.get_num_threads(), torch.get_num_threads()
    numba.set_num_threads(1)
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        numba.set_num_threads(saved[0])
        torch.set_num_threads(saved[1])


def run_point(study_name: str, system: dict, params: dict, rule: StoppingRule, seed) -> dict:
    """Simulate one point (runs in a worker process, on a Dask worker, or in-process)."""
    import numpy as np

    from .montecarlo import Estimate

    study = load_study(study_name)
    exact = getattr(study, "exact_value", None)
    value = exact(system, params) if exact else None
    if value is not None:
        return Estimate(study.METRIC, value, value, value, 0.0, 0, 0, 0.0, "exact").as_dict()
    replicas = study.replicas(system, params) if hasattr(study, "replicas") else 1
    with single_threaded():
        estimates = []
        # Each replica's set-up (e.g. training) draws from its own child stream; the first
        # replica tests on the point's own stream, the others on a child of their set-up's.
        for r, setup_seed in enumerate(seed.spawn(replicas)):
            link = study.make_link(system, params, np.random.default_rng(setup_seed))
            test_seed = seed if r == 0 else setup_seed.spawn(1)[0]
            estimates.append(estimate(link, np.random.default_rng(test_seed), rule, study.METRIC))
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


def _prepare_folder(cfg: SweepConfig, out: Path, resume: bool) -> tuple[dict, dict]:
    """Check the output folder against the sweep; returns (manifest, finished results by key)."""
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        try:
            old = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as exc:
            raise SweepError(f"{manifest_path} is damaged ({exc}); choose another --out folder") from None
        if old.get("config_hash") != cfg.hash:
            if resume:
                before = old.get("settings", {})
                changed = [k for k, v in cfg.numbers().items() if before.get(k) != json.loads(json.dumps(v))]
                raise SweepError(
                    f"the configuration changed since this sweep started in {out} (config hash "
                    f"{old.get('config_hash')} then, {cfg.hash} now; changed: {', '.join(changed) or 'unknown'}): "
                    "resuming would mix results of two different sweeps. Restore the original config, or run "
                    "the new one in another --out folder.")
            raise SweepError(f"{out} holds a different sweep (config hash {old.get('config_hash')}, this one is "
                             f"{cfg.hash}); choose another --out folder")
        done = read_journal(out / "points.jsonl")
        if done and not resume:
            raise SweepError(f"{out} already holds {len(done)} finished points of this sweep; pass --resume to "
                             "finish it, or choose another --out folder")
        old["resumed"] = old.get("resumed", 0) + (1 if resume else 0)
        old["finished"] = None
        _trim_journal(out / "points.jsonl")
        return old, done
    if out.exists() and any(out.iterdir()):
        raise SweepError(f"{out} is not empty and holds no hwsim sweep (no manifest.json); choose another --out folder")
    manifest = {"format": MANIFEST_FORMAT, "config_hash": cfg.hash, "config": cfg.raw, "settings": cfg.numbers(),
                "root_seed": cfg.seed, "versions": _versions(), "git_commit": _git_commit(), "started": _now(),
                "finished": None, "resumed": 0}
    return manifest, {}


def _trim_journal(path: Path) -> None:
    """Cut a last line left without its newline (a crash of the machine mid-write) before appending."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


class _Executor:
    """Local process pool, Dask cluster, or in-process; each yields (point, result) as they finish."""

    def __init__(self, workers: int, scheduler: str | None, connect_timeout: float):
        self.client = self.pool = None
        if scheduler:
            try:
                from distributed import Client
            except ImportError:
                raise SweepError("--scheduler needs dask.distributed: pip install 'hwsim[distributed]'") from None
            try:
                self.client = Client(scheduler, timeout=connect_timeout, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise SweepError(f"cannot reach the Dask scheduler at {scheduler} within {connect_timeout:g} s: "
                                 f"{exc}") from None
            self.executor = self.client.get_executor(pure=False)
        elif workers > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self.pool = self.executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        else:
            self.executor = None

    def run(self, cfg: SweepConfig, points: list[Point]):
        """Yield ``(point, result)`` as points finish; ``result`` is the exception of a point that failed."""
        args = [(cfg.study, cfg.system, p.params, cfg.stopping, cfg.point_seed(p)) for p in points]
        if self.executor is None:
            for p, a in zip(points, args):
                try:
                    yield p, run_point(*a)
                except Exception as exc:  # noqa: BLE001 - reported with the point, the sweep goes on
                    yield p, exc
            return
        pending = {self.executor.submit(run_point, *a): p for p, a in zip(points, args)}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                exc = fut.exception()
                yield pending.pop(fut), exc if exc is not None else fut.result()

    def close(self, cancel: bool = False):
        if self.pool is not None:
            self.pool.shutdown(wait=not cancel, cancel_futures=cancel)
        if self.client is not None:
            self.client.close()


def run_sweep(cfg: SweepConfig, out_dir, *, workers: int | None = None, scheduler: str | None = None,
              resume: bool = False, quiet: bool = False, connect_timeout: float = 10.0, plot: bool = True) -> Path:
    """Run (or resume) ``cfg`` into ``out_dir``; returns the folder. See the module doc for its files."""
    from tqdm.auto import tqdm

    from . import _checks

    if workers is None:
        workers = os.cpu_count() or 1
    workers = _checks.integer("workers", workers, minimum=1)
    out = Path(out_dir)
    manifest, done = _prepare_folder(cfg, out, resume)
    out.mkdir(parents=True, exist_ok=True)
    manifest.update(workers=workers, scheduler=scheduler)
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2))
    study = load_study(cfg.study)
    points = cfg.points()
    todo = [p for p in points if p.key not in done]
    results = {p.index: done[p.key] for p in points if p.key in done}
    bar = tqdm(total=len(points), initial=len(points) - len(todo), unit="point", desc="sweep",
               disable=quiet or not sys.stderr.isatty())
    executor = _Executor(workers, scheduler, connect_timeout) if todo else None
    failed = []
    try:
        for p, res in (executor.run(cfg, todo) if todo else ()):
            if isinstance(res, BaseException):  # nothing of a failed point is recorded
                failed.append(f"{p.curve} at {json.dumps(p.params)}: {type(res).__name__}: {res}")
                bar.update()
                continue
            with open(out / "points.jsonl", "a") as journal:
                journal.write(json.dumps({"key": p.key, "result": res}) + "\n")
                journal.flush()
                os.fsync(journal.fileno())
            results[p.index] = res
            write_results_csv(out / "results.csv", points, results, study)
            bar.update()
    except BaseException:
        if executor is not None:
            executor.close(cancel=True)
        raise
    finally:
        bar.close()
    if executor is not None:
        executor.close()
    write_results_csv(out / "results.csv", points, results, study)
    manifest["finished"] = None if failed else _now()
    manifest["failed"] = failed
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2))
    if plot and results:
        from .plotting import plot_sweep

        plot_sweep(out)
    if failed:
        shown = "\n  ".join(failed[:5]) + (f"\n  ... and {len(failed) - 5} more" if len(failed) > 5 else "")
        raise SweepError(f"{len(failed)} of {len(points)} points failed (the others are saved in {out}; "
                         f"fix the cause and rerun with --resume):\n  {shown}")
    return out
