"""Sweeps: a TOML declaration of a study, a grid and stopping rules, run point by point.

A sweep has four concerns, one module each:

- :mod:`hwsim.engine.config`: the sweep file -- its schema, ``--set`` overrides, the size limits,
  and :class:`~hwsim.engine.config.SweepConfig` with its points and their random streams;
- :mod:`hwsim.engine.folder`: the run folder -- its manifest, its lock, resuming and starting over;
- :mod:`hwsim.engine.executors`: where the points run -- local worker processes, a Dask cluster
  or in-process -- and :func:`~hwsim.engine.executors.run_point`, what each of them runs;
- this module: the run loop, :func:`run_sweep`.

:func:`run_sweep` runs (or resumes) a sweep into a folder: it locks the folder, checks it
against the sweep, computes what every point shares (a learned detector's network: trained
once, in the sweep's own process, saved in ``models/`` and sent to every worker), runs the
points not yet finished, appends each to the journal and rewrites results.csv as it finishes,
then draws the plots. Ctrl-C stops local workers at once; the journal and results.csv then hold
the same finished points, and a training inside a running point (a learned receiver or estimator
trained per point) keeps its state in ``checkpoints/`` after every epoch, so the rerun resumes it from
its last epoch (in-process and on local workers; on a Dask cluster points keep no checkpoint). Progress
goes to stderr: a bar on a terminal, one line per finished point elsewhere.

Every name this module held before it was split is still importable from it
(``from hwsim.engine.sweep import load_config, run_sweep, SweepError``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
import time
from pathlib import Path

from .._files import atomic_write_text
from .._threads import single_threaded  # noqa: F401  (hwsim.engine.sweep.single_threaded, as before)
from .inputs import localize
from .results import append_journal, write_results_csv
from .. import study

# Re-exported: every name of the sweep file, the run folder and the executors that this module held
# before it was split (the CLI, scripts, tests and users import them from here).
from .config import (  # noqa: F401
    CONFIG_DIR, MAX_AXIS_VALUES, MAX_CONFIG_BYTES, MAX_FIGURES, MAX_OVERRIDE_CHARS, MAX_OVERRIDE_DEPTH,
    MAX_POINTS, MaskedSettingWarning, Point, SweepConfig, _FIGURE_NAME, _PLAIN_TYPES, _PLOT, _QUICK, _STOPPING,
    _SUMMARY, _TOP, _axis_values, _check_axis_size, _check_figures, _check_keys, _cli_values, _depth, _set_keys,
    _typed, _warn_masked, apply_overrides, load_config, parse_config, parse_override, shipped_configs)
from .folder import (  # noqa: F401
    CHECKPOINTS_DIR, LOCK_NAME, MANIFEST_FORMAT, MODELS_DIR, SweepError, _DERIVED, _PLOT_SUFFIXES, _clear_models, _clear_sweep,
    _fsync_dir, _git_commit, _holds_other_files, _lock_folder, _new_manifest, _now, _open_folder, _prepare_folder,
    _read_manifest, _sweep_files, _versions)
from .executors import (  # noqa: F401
    NO_WORKERS_TIMEOUT, _PROBE_REQUEST, _Executor, _die_with_parent, _init_worker, _probe_scheduler,
    _sigint_blocked, _sigint_deferred, _split_tcp_address, run_point)

_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG}


def run_sweep(cfg: SweepConfig, out_dir, *, workers: int | None = None, scheduler: str | None = None,
              resume: bool = False, quiet: bool = False, connect_timeout: float = 10.0, plot: bool = True,
              no_workers_timeout: float = NO_WORKERS_TIMEOUT, force: bool = False) -> Path:
    """Run (or resume) ``cfg`` into ``out_dir``; returns the folder (its files: :mod:`hwsim.engine.folder`).

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


def _shared_setups(cfg, todo: list[Point], out: Path, quiet: bool, tty: bool) -> dict:
    """The study's :func:`~hwsim.study.shared_setups`: what every point shares (a learned network, trained
    once here and saved in ``out/models``, where a resumed sweep finds it), by key."""
    t0 = time.monotonic()
    if (out / MODELS_DIR).is_symlink():
        raise SweepError(f"{out / MODELS_DIR} is a symbolic link; a sweep saves its shared set-ups in a folder of its "
                         "own, never through a link (remove the link or choose another --out folder)")
    system = localize(cfg.system, {}, cfg.files)[0]  # once; each point's own keys below
    shared = study.shared_setups(system, [(p.curve, localize({}, p.params, cfg.files)[1]) for p in todo],
                                 out / MODELS_DIR, progress=not quiet and tty, say=lambda text: _say(quiet, text))
    if shared:
        _say(quiet, f"sweep: {len(shared)} shared set-up{'s' if len(shared) > 1 else ''} ready in "
                    f"{time.monotonic() - t0:.1f} s ({out / MODELS_DIR})")
    return shared


def _checkpoints_folder(out: Path) -> None:
    """Create ``out/checkpoints``, where running points keep their trainings' state (a training interrupted
    inside a point resumes from its last epoch: :func:`hwsim.engine.executors.run_point`)."""
    folder = out / CHECKPOINTS_DIR
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise SweepError(f"{folder} is not a folder of the sweep's own; the points keep their trainings' state "
                         "there, never through a link (remove it or choose another --out folder)")
    folder.mkdir(exist_ok=True)


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
    late = f", {res['unconverged']} of {res['solves']} solves unconverged" if res.get("unconverged") else ""
    return shown(f"{head}: {y} {res['estimate']:.3e} [{res['ci_low']:.2e}, {res['ci_high']:.2e}] "
                 f"({res['seconds']:.1f} s{late})")


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
    columns = study.config_columns(cfg.raw)
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
    shared = _shared_setups(cfg, todo, out, quiet, tty) if todo else {}
    bar = tqdm(total=len(points), initial=len(points) - len(todo), unit="point", desc="sweep",
               disable=quiet or not tty or not todo)
    lines = not quiet and not tty  # no terminal (a log file, a pipe, a batch job): one line per point
    executor = _Executor(workers, scheduler, connect_timeout, no_workers_timeout) if todo else None
    if todo and scheduler is None:  # the points' training states (on a Dask cluster the points keep none)
        _checkpoints_folder(out)
    failed = []
    try:
        for k, (p, res) in enumerate(executor.run(cfg, todo, shared, out, say=not quiet) if todo else (),
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
    with contextlib.suppress(OSError):  # empty once every point has its result (a failed point's state stays)
        (out / CHECKPOINTS_DIR).rmdir()
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
    late = [p for p in points if (results.get(p.index) or {}).get("unconverged")]
    if late:
        _say(quiet, f"sweep: {len(late)} point{'s' if len(late) != 1 else ''} had solver problems that reached the "
                    "receiver's iteration limit (their last iterate was used): see the columns unconverged and solves "
                    f"of {out / 'results.csv'}")
    if todo:
        _say(quiet, f"sweep: computed {len(todo)} point{'s' if len(todo) != 1 else ''} in "
                    f"{time.monotonic() - t0:.1f} s" + (f" ({len(done)} were finished before)" if done else ""))
    return out
