"""``csv`` (``.csv``, exported and imported): one row per code::

    # hwsim-adc-table version 1
    # meta: {"n_levels": M, "full_scale": {...}, "provenance": {...}, "dac": {...}}
    code,lower_threshold,upper_threshold,level
    0,-inf,t_1,g_0
    1,t_1,t_2,g_1
    ...
    M-1,t_{M-1},inf,g_{M-1}

Row ``c`` holds the input interval ``[lower, upper)`` that maps to code ``c`` and its level.
The two ``#`` lines come first (pandas: ``read_csv(path, comment="#")`` skips them); the
``meta`` line is JSON, escaped by :mod:`json` (ASCII only).

Import: the first line must be ``# hwsim-adc-table version 1``; the file may hold only
printable ASCII and line ends, at most :data:`MAX_CSV_LINES` lines, and numbers written as
the exporter writes them (at most :data:`~hwsim.converters.formats.bounded_json.MAX_NUMBER_CHARS`
characters).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

from ..adc import MAX_LEVELS
from .common import FORMAT_NAME, FORMAT_VERSION, TableFormat, check_count
from .bounded_json import MAX_NUMBER_CHARS, parse_json_bytes

#: Most lines a CSV table may have: one per code plus the header and a few comment lines.
MAX_CSV_LINES = MAX_LEVELS + 16

_CSV_MAGIC = f"# {FORMAT_NAME} version {FORMAT_VERSION}"
_CSV_HEADER = ["code", "lower_threshold", "upper_threshold", "level"]


def write(doc: dict, rounded=None) -> str:
    """The document as a CSV table (``rounded`` is not used: a DAC section is already in ``doc``)."""
    meta = {k: doc[k] for k in ("n_levels", "full_scale", "provenance", "dac") if k in doc}
    buf = io.StringIO()
    buf.write(_CSV_MAGIC + "\n")
    buf.write("# meta: " + json.dumps(meta, allow_nan=False) + "\n")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(_CSV_HEADER)
    edges = [-math.inf, *doc["thresholds"], math.inf]
    for c, g in enumerate(doc["levels"]):
        w.writerow([c, repr(float(edges[c])), repr(float(edges[c + 1])), repr(float(g))])
    return buf.getvalue()


def sniff(path: Path, head: bytes) -> None:
    """Refuse a file whose first line is not the CSV table's magic line."""
    magic = _CSV_MAGIC.encode()
    if not (head.startswith(magic + b"\n") or head.startswith(magic + b"\r\n")):
        raise ValueError(f"{path} is not an hwsim CSV table: its first line must be {_CSV_MAGIC!r}, but the file "
                         f"starts with {head[:40]!r}")


_CSV_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|-?inf")


def _csv_float(src: str, row: int, col: str, text: str) -> float:
    """A CSV number as the exporter writes it (``repr`` of a float: digits, ``.``, exponent, or ``inf``)."""
    if len(text) > MAX_NUMBER_CHARS or not _CSV_NUMBER.fullmatch(text):
        raise ValueError(f"{src}: row {row} {col} must be a number written like 1.5, -0.25 or 1e-05 (at most "
                         f"{MAX_NUMBER_CHARS} characters, no spaces, underscores or words), got {text[:48]!r}")
    value = float(text)
    if math.isinf(value) and "inf" not in text:
        raise ValueError(f"{src}: row {row} {col} must be a finite number, got {text!r}")
    return value


def read(path: Path, data: bytes, max_bytes: int) -> dict:
    """The canonical document of a CSV table (checked afterwards by :mod:`hwsim.converters.tables`)."""
    src = str(path)
    bad = re.search(rb"[^\x20-\x7e\r\n]|\r(?!\n)", data)
    if bad:
        raise ValueError(f"{path} is not an hwsim CSV table: it holds {data[bad.start():bad.start() + 1]!r} at byte "
                         f"{bad.start()}; table files hold only printable ASCII and line ends")
    n_lines = data.count(b"\n")
    if n_lines > MAX_CSV_LINES:
        raise ValueError(f"{path} is not an hwsim CSV table: it has {n_lines} lines, more than the {MAX_CSV_LINES} "
                         f"of a {MAX_LEVELS}-level table")
    lines = [line[:-1] if line.endswith("\r") else line for line in data.decode("ascii").split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    meta = {}
    i = 1
    while i < len(lines) and lines[i].startswith("#"):
        body = lines[i][1:].strip()
        if body.startswith("meta:"):
            meta = parse_json_bytes(path, body[len("meta:"):].encode())
            if not isinstance(meta, dict):
                raise ValueError(f"{src}: the '# meta:' line must hold a JSON object")
        i += 1
    rows = [r for r in csv.reader(lines[i:]) if r]
    if not rows or [c.strip() for c in rows[0]] != _CSV_HEADER:
        raise ValueError(f"{src}: expected the header row {','.join(_CSV_HEADER)}, got "
                         f"{','.join(rows[0])[:80] if rows else 'nothing'}")
    rows = rows[1:]
    if len(rows) > MAX_LEVELS:
        raise ValueError(f"{src}: more than {MAX_LEVELS} code rows; tables have at most {MAX_LEVELS} levels")
    if "n_levels" in meta:
        declared = check_count(src, "n_levels", meta["n_levels"], minimum=2, maximum=MAX_LEVELS)
        if declared != len(rows):
            raise ValueError(f"{src}: n_levels = {declared} but the file has {len(rows)} code rows")
    lowers, uppers, levels = [], [], []
    for k, r in enumerate(rows):
        if len(r) != 4:
            raise ValueError(f"{src}: row {k} must have 4 columns ({','.join(_CSV_HEADER)}), got {len(r)}")
        if r[0].strip() != str(k):
            raise ValueError(f"{src}: row {k} must have code {k}, got {r[0][:48]!r}")
        lowers.append(_csv_float(src, k, "lower_threshold", r[1]))
        uppers.append(_csv_float(src, k, "upper_threshold", r[2]))
        levels.append(_csv_float(src, k, "level", r[3]))
    if len(rows) < 2:
        raise ValueError(f"{src}: a table needs at least 2 code rows, got {len(rows)}")
    if lowers[0] != -math.inf or uppers[-1] != math.inf:
        raise ValueError(f"{src}: the first row's lower_threshold must be -inf and the last row's "
                         f"upper_threshold inf, got {lowers[0]} and {uppers[-1]}")
    for k in range(1, len(rows)):
        if lowers[k] != uppers[k - 1]:
            raise ValueError(f"{src}: row {k} lower_threshold {lowers[k]!r} differs from row {k - 1} "
                             f"upper_threshold {uppers[k - 1]!r}")
    doc = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "thresholds": lowers[1:], "levels": levels}
    for key in ("full_scale", "provenance", "dac"):
        if key in meta:
            doc[key] = meta[key]
    return doc


FORMAT = TableFormat("csv", (".csv",), write, sniff=sniff, read=read)
