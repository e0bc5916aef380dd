"""Sweep outputs on disk: atomic writes, the point journal, results.csv, and curve summaries."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from pathlib import Path

def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp's 0600 would hide results from other users
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path, text: str) -> None:
    """Atomic write of UTF-8 text (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode())


def read_journal(path) -> dict:
    """Finished points of a sweep: ``{point key: result dict}``.

    Lines are appended whole, so a damaged line can only be a last one cut by a crash
    of the machine; it is ignored (that point is simply computed again).
    """
    path = Path(path)
    done = {}
    if not path.exists():
        return done
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
            done[entry["key"]] = entry["result"]
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    return done


def _fmt(value) -> str:
    if isinstance(value, float):
        return repr(value)
    return "" if value is None else str(value)


def write_results_csv(path, points, results: dict, study) -> None:
    """Tidy results: one row per finished point, in the sweep's point order.

    Besides the estimate and its interval: ``interval`` names the interval and
    ``clusters`` counts the independent units behind it (:mod:`hwsim.montecarlo`);
    ``replicas`` is the number of independently set-up (trained) systems averaged, and
    ``spread_min`` / ``spread_max`` their smallest and largest estimates (empty for one).
    """
    param_keys = list(dict.fromkeys(k for p in points for k in p.params))
    header = ["curve", *param_keys, study.ESTIMATE_COLUMN, "ci_low", "ci_high", "interval", "errors",
              study.SAMPLES_COLUMN, "clusters", "replicas", "spread_min", "spread_max", "calls", "seconds", "stop"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for p in points:
        if p.index not in results:
            continue
        r = results[p.index]
        writer.writerow([p.curve, *(_fmt(p.params.get(k)) for k in param_keys), _fmt(r["estimate"]),
                         _fmt(r["ci_low"]), _fmt(r["ci_high"]), r.get("interval", ""), _fmt(r["errors"]),
                         _fmt(r["samples"]), _fmt(r.get("clusters")), _fmt(r.get("replicas", 1)),
                         _fmt(r.get("spread_low")), _fmt(r.get("spread_high")), _fmt(r["calls"]),
                         f"{r['seconds']:.3f}", r["stop"]])
    atomic_write_text(path, buf.getvalue())


def read_results(path) -> list[dict]:
    """Rows of a results.csv as dicts of strings."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def crossing(rows: list[dict], curve: str, x: str, y: str, target: float) -> float | None:
    """First ``x`` where ``curve``'s ``y`` falls to ``target`` (log-linear interpolation), or None.

    A point with no error seen (estimate 0) enters with its interval's upper end, so the
    crossing found is then an upper bound (never an optimistic value).
    """
    pts = sorted((float(r[x]), float(r[y]) or float(r["ci_high"])) for r in rows
                 if r["curve"] == curve and r[x] != "")
    if pts and pts[0][1] <= target:
        return pts[0][0]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if y0 > target >= y1:
            return x0 + (x1 - x0) * (math.log(y0) - math.log(target)) / (math.log(y0) - math.log(y1))
    return None
