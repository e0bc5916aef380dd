"""The run folder of a sweep: its manifest, its lock, and how a sweep resumes in it or starts it over.

Runs go to a folder holding ``manifest.json`` (config, its hash, versions, git commit,
times, the plugin modules of user components it imports), ``points.jsonl`` (one line appended per finished point: the checkpoint),
``results.csv`` (rewritten atomically after each point), the plots, and ``models/`` where a
stage trains something every point shares (a learned detector's network: trained once, in
the sweep's own process, before the points, and sent to every worker). A killed sweep
started again with ``resume=True`` recomputes only missing points (a finished one is only
summarized again); a changed configuration is refused (:func:`_prepare_folder`). ``force=True``
starts over, removing the earlier sweep's own files in an order that never leaves part of its
results (:func:`_clear_sweep`). The journal and results.csv are written by
:mod:`hwsim.engine.results`; the run loop that fills them is :func:`hwsim.engine.sweep.run_sweep`.

One sweep at a time owns a folder: it holds an exclusive ``flock`` on ``sweep.lock`` in
the folder (the file holds its pid) for its whole life. The operating system drops the
lock when the process ends in any way, SIGKILL included, so a stale lock file is harmless
and is left in place; a second sweep into a locked folder is refused with the holder's pid.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import stat
import subprocess
from pathlib import Path

from .._files import InUseError, take_lock
from .._versions import software_versions as _versions
from .config import SweepConfig
from .results import read_journal, trim_journal

MANIFEST_FORMAT = 1
LOCK_NAME = "sweep.lock"
#: Subfolder of set-ups every point shares (a learned detector's network, trained once per sweep).
MODELS_DIR = "models"
#: Subfolder where a running point keeps the state of its trainings (:func:`point_checkpoint`).
CHECKPOINTS_DIR = "checkpoints"


class SweepError(RuntimeError):
    """A sweep cannot start or go on (folder conflict, changed config, unreachable scheduler)."""


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
           "finished": None, "resumed": 0, "plugins": list(cfg.plugins)}
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


def point_checkpoint(out: Path, key: str) -> Path:
    """Where the point with ``key`` (:attr:`hwsim.engine.config.Point.key`) of the sweep in ``out`` keeps the
    state of its trainings: ``checkpoints/point-HASH`` (16 hex digits of the key's SHA-256: the same file for
    the same point in every run, a safe name whatever the curve is called), with the suffix
    :func:`hwsim.engine.executors.run_point` gives each training."""
    return Path(out) / CHECKPOINTS_DIR / f"point-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def _clear_checkpoints(folder: Path) -> None:
    """Remove the training states points left (``point-*`` and their temporary files), and the folder when
    nothing else is in it."""
    if not folder.is_dir() or folder.is_symlink():
        return
    for path in folder.iterdir():
        if path.name.lstrip(".").startswith("point-") and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()


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
    _clear_checkpoints(out / CHECKPOINTS_DIR)
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
