"""Sweep outputs on disk: the point journal, results.csv, and curve summaries (atomic writes: hwsim._files)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

from .._files import atomic_write_text, open_own

#: Keys every journaled result must carry (those results.csv is made of).
JOURNAL_RESULT_KEYS = ("estimate", "ci_low", "ci_high", "errors", "samples", "calls", "seconds", "stop")


def _journal_entry(raw: bytes):
    """The (key, config hash, result) of one journal line, or None if the line is not a well-formed entry."""
    try:
        entry = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not (isinstance(entry, dict) and isinstance(entry.get("key"), str) and isinstance(entry.get("result"), dict)
            and isinstance(entry.get("config", ""), str)
            and all(k in entry["result"] for k in JOURNAL_RESULT_KEYS)):
        return None
    return entry["key"], entry.get("config"), entry["result"]


def _scan_journal(path: Path, config_hash: str | None) -> tuple[dict, int]:
    """``({key: result}, byte length of the sound part)`` of a journal; see :func:`read_journal`."""
    done: dict = {}
    if path.is_symlink():
        raise ValueError(f"{path} is a symbolic link; a sweep reads and writes its own journal only, never through "
                         "a link (remove the link or choose another --out folder)")
    if not path.exists():
        return done, 0
    if not path.is_file():
        raise ValueError(f"{path} is not a regular file (a sweep journal is one)")
    data = path.read_bytes()
    lines = data.split(b"\n")  # the last item is what follows the final newline: b"" or a cut line
    sound = 0       # byte offset just after the last good line
    bad = None      # line number of the first damaged line after it
    pos = 0
    for number, raw in enumerate(lines, start=1):
        whole = number < len(lines)  # ends in a newline
        if not whole and not raw:
            break
        pos += len(raw) + 1
        entry = _journal_entry(raw) if whole else None
        if entry is None:
            bad = bad or number
            continue
        if bad is not None:
            raise ValueError(f"{path} line {bad} is damaged but later lines are whole: a journal is only ever "
                             "appended to, so it was edited or two writers mixed; move the folder aside and run "
                             "the sweep again (or delete that line to recompute its point)")
        key, config, result = entry
        if config is not None and config_hash is not None and config != config_hash:
            raise ValueError(f"{path} line {number} belongs to another sweep (config hash {config}, this folder's "
                             f"is {config_hash}); results of two sweeps must not be mixed: choose another --out "
                             "folder")
        done[key] = result
        sound = pos
    return done, sound


def read_journal(path, config_hash: str | None = None) -> dict:
    """Finished points of a sweep: ``{point key: result dict}``.

    Each line is one JSON object ``{"key": ..., "config": <config hash>, "result": {...}}``
    appended whole (see :func:`append_journal`), so damage from a crash can only sit at the
    end: a damaged *tail* -- a last line cut mid-write, or bytes that are not UTF-8 JSON,
    such as the zero or garbage blocks a file system may leave after a power cut -- is
    ignored, and those points are simply computed again (:func:`trim_journal` cuts it off
    before new lines are appended). A damaged line *followed by good lines* cannot come from
    a crash; it raises ``ValueError`` naming the file and line, rather than silently
    recomputing (and so hiding) whatever edited the file.

    ``config_hash``: a whole line carrying another config hash raises ``ValueError``, so
    results of two sweeps can never be read back as one. Lines without a hash (journals
    written before hashes were recorded) are accepted; the folder's manifest still vouches
    for them.
    """
    return _scan_journal(Path(path), config_hash)[0]


def trim_journal(path, config_hash: str | None = None) -> None:
    """Cut a damaged tail off a journal (see :func:`read_journal`) so appended lines stay whole."""
    path = Path(path)
    _, sound = _scan_journal(path, config_hash)
    if path.exists() and path.stat().st_size > sound:
        fd = open_own(path, os.O_RDWR)
        try:
            os.ftruncate(fd, sound)
            os.fsync(fd)
        finally:
            os.close(fd)


def append_journal(path, key: str, result: dict, config_hash: str) -> None:
    """Append one finished point to a journal and force it to disk (one ``write`` of one line)."""
    line = json.dumps({"key": key, "config": config_hash, "result": result}) + "\n"
    with os.fdopen(open_own(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT), "ab") as f:
        f.write(line.encode())
        f.flush()
        os.fsync(f.fileno())


def _fmt(value) -> str:
    if isinstance(value, float):
        return repr(value)
    return "" if value is None else str(value)


def write_results_csv(path, points, results: dict, columns: tuple[str, str]) -> None:
    """Tidy results: one row per finished point, in the sweep's point order.

    ``columns``: the names of the estimate and sample-count columns (``("ber", "bits")``).
    Besides the estimate and its interval: ``interval`` names the interval and
    ``clusters`` counts the independent units behind it (:mod:`hwsim.engine.montecarlo`);
    ``replicas`` is the number of independently set-up (trained) systems averaged, and
    ``spread_min`` / ``spread_max`` their smallest and largest estimates (empty for one); ``ess`` is
    the effective sample size of an importance-sampled point's error contributions
    (:mod:`hwsim.engine.importance`; empty for plain Monte Carlo); ``solves`` and ``unconverged`` are the
    problems an iterative receiver solved for the point and those that reached its iteration limit (empty for
    a receiver without a solver; :meth:`hwsim.hooks.ReceiverHooks.solver_counts`).
    """
    param_keys = list(dict.fromkeys(k for p in points for k in p.params))
    header = ["curve", *param_keys, columns[0], "ci_low", "ci_high", "interval", "errors",
              columns[1], "clusters", "replicas", "spread_min", "spread_max", "ess", "solves", "unconverged", "calls",
              "seconds", "stop"]
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
                         _fmt(r.get("spread_low")), _fmt(r.get("spread_high")), _fmt(r.get("ess")),
                         _fmt(r.get("solves")), _fmt(r.get("unconverged")), _fmt(r["calls"]),
                         f"{r['seconds']:.3f}", r["stop"]])
    atomic_write_text(path, buf.getvalue())


def read_results(path) -> list[dict]:
    """Rows of a results.csv as dicts of strings (unchecked: :func:`load_results` checks them)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


#: Largest manifest.json and results.csv that :func:`read_manifest` and :func:`load_results` read (a manifest
#: holds a config of at most a few MiB, a results.csv at most ``MAX_POINTS`` rows of a few hundred bytes).
MAX_MANIFEST_BYTES = 64 * 2**20
MAX_RESULTS_BYTES = 256 * 2**20
#: results.csv columns every row has (besides the estimate, the column before ``ci_low``, and the sample
#: count, the one after ``errors``).
RESULT_COLUMNS = ("curve", "ci_low", "ci_high", "errors", "stop")
#: Columns that hold a number when not empty.
_NUMERIC_OPTIONAL = ("clusters", "replicas", "spread_min", "spread_max", "ess", "solves", "unconverged", "calls",
                     "seconds")


def _read_bounded(path: Path, limit: int, what: str) -> bytes:
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path} is larger than {limit // 2**20} MiB: not a {what} hwsim wrote")
    return data


def read_manifest(path) -> dict:
    """A run folder's ``manifest.json``, checked: ``ValueError`` naming the file when it is not UTF-8
    JSON, not an object, or has no ``config`` table (damaged or not written by hwsim)."""
    path = Path(path)
    try:
        manifest = json.loads(_read_bounded(path, MAX_MANIFEST_BYTES, "manifest").decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is damaged: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is damaged: not JSON ({exc.msg}, line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise ValueError(f"{path} is damaged: JSON nested too deeply") from None
    if not isinstance(manifest, dict):
        raise ValueError(f"{path} is damaged: not a JSON object")
    if not isinstance(manifest.get("config"), dict):
        raise ValueError(f"{path} is damaged: it has no config table (every manifest hwsim writes has one)")
    for key in ("settings",):
        if manifest.get(key) is not None and not isinstance(manifest[key], dict):
            raise ValueError(f"{path} is damaged: its {key} is not a table")
    return manifest


def result_layout(header: list[str]) -> tuple[str, str, list[str]] | None:
    """``(estimate column, sample-count column, parameter columns)`` of a results.csv header, or None when the
    header is not one hwsim writes."""
    if (not set(RESULT_COLUMNS) <= set(header) or header[0] != "curve" or header.index("ci_low") < 2
            or header.index("errors") + 1 >= len(header) or len(set(header)) != len(header)):
        return None
    y = header[header.index("ci_low") - 1]
    return y, header[header.index("errors") + 1], header[1:header.index(y)]


def load_results(path, journal=None) -> list[dict]:
    """Rows of a results.csv as dicts of strings, checked for damage: ``ValueError`` naming the file and
    the line when the header is not hwsim's, a row has more or fewer cells than the header, the file does
    not end with a newline (its last row was cut), or a number column holds something that is not a number
    (the estimate, ``ci_low``, ``ci_high``, ``errors`` and the sample count always hold one; ``clusters``,
    ``replicas``, ``spread_min``, ``spread_max``, ``ess``, ``solves``, ``unconverged``, ``calls`` and ``seconds``
    hold one or nothing).
    A missing or empty file has no rows.

    ``journal``: the folder's ``points.jsonl``; a results.csv with fewer rows than the journal has finished
    points was cut at a line end (a sweep writes the journal line, then the whole results.csv), which the
    file alone cannot show.
    """
    path = Path(path)
    if not path.exists():
        return []
    try:
        text = _read_bounded(path, MAX_RESULTS_BYTES, "results.csv").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is damaged: not UTF-8 text (byte {exc.start})") from None
    if not text:
        return []
    if not text.endswith("\n"):
        raise ValueError(f"{path} line {text.count(chr(10)) + 1} is cut short (the file does not end with a newline, "
                         "as every results.csv hwsim writes does): the file was cut or edited")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
        layout = result_layout(header)
        if layout is None:
            raise ValueError(f"{path} line 1 is not the header of a results.csv of hwsim (it needs the columns "
                             f"curve, the estimate, {', '.join(RESULT_COLUMNS[1:])} and the sample count)")
        y, samples, _ = layout
        required = (y, "ci_low", "ci_high", "errors", samples)
        optional = [c for c in _NUMERIC_OPTIONAL if c in header]
        rows = []
        for cells in reader:
            line = reader.line_num
            if len(cells) != len(header):
                raise ValueError(f"{path} line {line} has {len(cells)} cells, the header {len(header)}: the row was "
                                 "cut or edited")
            row = dict(zip(header, cells))
            for column in (*required, *optional):
                value = row[column]
                if value == "" and column not in required:
                    continue
                try:
                    float(value)
                except ValueError:
                    shown = value if len(value) <= 40 else value[:40] + "..."
                    raise ValueError(f"{path} line {line}: {column} = {shown!r} is not a number") from None
            if not row["curve"]:
                raise ValueError(f"{path} line {line} has no curve name")
            rows.append(row)
    except csv.Error as exc:
        raise ValueError(f"{path} line {reader.line_num} is damaged ({exc})") from None
    if journal is not None:
        try:  # a damaged journal is the sweep's concern (the rows may still be whole): no check then
            big = Path(journal).is_file() and Path(journal).stat().st_size > MAX_RESULTS_BYTES
            finished = None if big else len(read_journal(journal))
        except (OSError, ValueError):
            finished = None
        if finished is not None and len(rows) < finished:
            raise ValueError(f"{path} ends at line {reader.line_num} with {len(rows)} rows but {Path(journal).name} "
                             f"holds {finished} finished points: the rows of {finished - len(rows)} were cut off "
                             "(the same `hwsim sweep` into the folder again rewrites it from the journal)")
    return rows


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
