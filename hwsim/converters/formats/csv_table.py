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

Plain CSV tables (import only), for a table typed in or written by another tool: no ``#`` lines,
the first line is a header row naming the columns, one of

- ``threshold``: ``M-1`` rows, the thresholds ``t_1 < ... < t_{M-1}``; the levels are the cell
  mid-points, the outer cells extended by half the neighbouring width
  (:func:`hwsim.converters.impairments.from_transition_levels`; needs ``M >= 3``);
- ``threshold,level`` (either order): ``M`` rows, row ``c`` holding the level of code ``c`` and the
  threshold above it, ``t_{c+1}``; the last row's threshold cell is empty::

      threshold,level
      -0.5,-1.0
      0.5,0.0
      ,1.0

Header names are matched without regard to case or surrounding spaces; a UTF-8 byte-order mark
before the header is skipped. A plain table has no metadata: its full scale is the default one
(:func:`hwsim.converters.fixed_point.default_full_scale`), its units ``V``.

The exported layout (``code,lower_threshold,upper_threshold,level``) always starts with the magic
line: without it such a file is refused before the rest is read, like any file whose first line is
neither the magic line nor a plain header row.

Import: the first line must be ``# hwsim-adc-table version 1`` or one of the header rows above; the
file may hold only printable ASCII and line ends, at most :data:`MAX_CSV_LINES` lines, and numbers
written like ``1.5``, ``-0.25`` or ``1e-05`` (at most
:data:`~hwsim.converters.formats.bounded_json.MAX_NUMBER_CHARS` characters). Every error names the
file and the line.
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


_BOM = b"\xef\xbb\xbf"
_PLAIN_COLUMNS = ({"threshold"}, {"threshold", "level"})


def _header_cells(line: str) -> list[str]:
    return [c.strip().lower() for c in line.split(",")]


def _is_plain_header(line: str) -> bool:
    cells = _header_cells(line)
    return len(cells) == len(set(cells)) and set(cells) in _PLAIN_COLUMNS


def sniff(path: Path, head: bytes) -> None:
    """Refuse a file whose first line is neither the CSV table's magic line nor a plain table's header row."""
    magic = _CSV_MAGIC.encode()
    if head.startswith(magic + b"\n") or head.startswith(magic + b"\r\n"):
        return
    first = head[len(_BOM):] if head.startswith(_BOM) else head
    line = first.split(b"\n", 1)[0].rstrip(b"\r")
    if b"\n" in first and re.fullmatch(rb"[\x20-\x7e]*", line) and _is_plain_header(line.decode("ascii")):
        return
    raise ValueError(f"{path} is not an hwsim CSV table: its first line must be {_CSV_MAGIC!r} (an exported table) "
                     f"or a header row 'threshold' or 'threshold,level' (a plain table, see "
                     "hwsim.converters.formats.csv_table), but the file starts with {head[:40]!r}")


_CSV_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|-?inf")


def _csv_float(where: str, col: str, text: str) -> float:
    """A CSV number as the exporter writes it (``repr`` of a float: digits, ``.``, exponent, or ``inf``);
    ``where`` starts the message (file, line and row)."""
    if len(text) > MAX_NUMBER_CHARS or not _CSV_NUMBER.fullmatch(text):
        raise ValueError(f"{where} {col} must be a number written like 1.5, -0.25 or 1e-05 (at most "
                         f"{MAX_NUMBER_CHARS} characters, no spaces, underscores or words), got {text[:48]!r}")
    value = float(text)
    if math.isinf(value) and "inf" not in text:
        raise ValueError(f"{where} {col} must be a finite number, got {text!r}")
    return value


def _csv_rows(src: str, lines: list[str], first: int) -> list[list[str]]:
    """The CSV rows of ``lines``, one per line (a quoted field may not span lines); ``first``: the
    0-based index of ``lines[0]`` in the file (for the messages)."""
    rows = []
    for n, line in enumerate(lines):
        try:
            row = next(csv.reader([line]), [])
        except csv.Error as exc:
            raise ValueError(f"{src}: line {first + n + 1}: not a CSV row ({exc})") from None
        rows.append(row)
    return rows


def read(path: Path, data: bytes, max_bytes: int) -> dict:
    """The canonical document of a CSV table, exported or plain (checked afterwards by
    :mod:`hwsim.converters.tables`)."""
    src = str(path)
    plain = not data.startswith(_CSV_MAGIC.encode())
    if plain and data.startswith(_BOM):
        data = data[len(_BOM):]
    bad = re.search(rb"[^\x20-\x7e\r\n]|\r(?!\n)", data)
    if bad:
        line = data.count(b"\n", 0, bad.start()) + 1
        raise ValueError(f"{path} is not an hwsim CSV table: it holds {data[bad.start():bad.start() + 1]!r} at byte "
                         f"{bad.start()} (line {line}); table files hold only printable ASCII and line ends")
    n_lines = data.count(b"\n")
    if n_lines > MAX_CSV_LINES:
        raise ValueError(f"{path} is not an hwsim CSV table: it has {n_lines} lines, more than the {MAX_CSV_LINES} "
                         f"of a {MAX_LEVELS}-level table")
    lines = [line[:-1] if line.endswith("\r") else line for line in data.decode("ascii").split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    if plain:
        return _read_plain(src, lines)
    meta = {}
    i = 1
    while i < len(lines) and lines[i].startswith("#"):
        body = lines[i][1:].strip()
        if body.startswith("meta:"):
            meta = parse_json_bytes(path, body[len("meta:"):].encode())
            if not isinstance(meta, dict):
                raise ValueError(f"{src}: line {i + 1}: the '# meta:' line must hold a JSON object")
        i += 1
    numbered = [(n + 1, r) for n, r in enumerate(_csv_rows(src, lines[i:], i), start=i) if r]
    if not numbered or [c.strip() for c in numbered[0][1]] != _CSV_HEADER:
        raise ValueError(f"{src}: line {numbered[0][0] if numbered else i + 1}: expected the header row "
                         f"{','.join(_CSV_HEADER)}, got {','.join(numbered[0][1])[:80] if numbered else 'nothing'}")
    numbered = numbered[1:]
    if len(numbered) > MAX_LEVELS:
        raise ValueError(f"{src}: more than {MAX_LEVELS} code rows; tables have at most {MAX_LEVELS} levels")
    if "n_levels" in meta:
        declared = check_count(src, "n_levels", meta["n_levels"], minimum=2, maximum=MAX_LEVELS)
        if declared != len(numbered):
            raise ValueError(f"{src}: n_levels = {declared} but the file has {len(numbered)} code rows")
    lowers, uppers, levels = [], [], []
    for k, (ln, r) in enumerate(numbered):
        where = f"{src}: line {ln}: row {k}"
        if len(r) != 4:
            raise ValueError(f"{where} must have 4 columns ({','.join(_CSV_HEADER)}), got {len(r)}")
        if r[0].strip() != str(k):
            raise ValueError(f"{where} must have code {k}, got {r[0][:48]!r}")
        lowers.append(_csv_float(where, "lower_threshold", r[1]))
        uppers.append(_csv_float(where, "upper_threshold", r[2]))
        levels.append(_csv_float(where, "level", r[3]))
    if len(numbered) < 2:
        raise ValueError(f"{src}: a table needs at least 2 code rows, got {len(numbered)}")
    if lowers[0] != -math.inf or uppers[-1] != math.inf:
        raise ValueError(f"{src}: the first row's lower_threshold must be -inf and the last row's "
                         f"upper_threshold inf, got {lowers[0]} and {uppers[-1]}")
    for k in range(1, len(numbered)):
        if lowers[k] != uppers[k - 1]:
            raise ValueError(f"{src}: line {numbered[k][0]}: row {k} lower_threshold {lowers[k]!r} differs from row "
                             f"{k - 1} upper_threshold {uppers[k - 1]!r}")
    doc = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "thresholds": lowers[1:], "levels": levels}
    for key in ("full_scale", "provenance", "dac"):
        if key in meta:
            doc[key] = meta[key]
    return doc


def _read_plain(src: str, lines: list[str]) -> dict:
    """A plain table with a ``threshold`` (and optionally a ``level``) column (module text)."""
    cells = _header_cells(lines[0])
    t_col = cells.index("threshold")
    g_col = cells.index("level") if "level" in cells else None
    numbered = [(n + 1, r) for n, r in enumerate(_csv_rows(src, lines[1:], 1), start=1)
                if r and any(c.strip() for c in r)]
    if len(numbered) > MAX_LEVELS:
        raise ValueError(f"{src}: more than {MAX_LEVELS} rows; tables have at most {MAX_LEVELS} levels")
    thresholds, levels = [], []
    for k, (ln, r) in enumerate(numbered):
        where = f"{src}: line {ln}:"
        if len(r) != len(cells):
            raise ValueError(f"{where} the row must have {len(cells)} column{'s' if len(cells) > 1 else ''} "
                             f"({','.join(cells)}), got {len(r)}")
        t = r[t_col].strip()
        last = k == len(numbered) - 1
        if g_col is not None and last:
            if t:
                raise ValueError(f"{where} the last row's threshold must be empty (M rows of levels hold the M-1 "
                                 f"thresholds between them: row c holds t_(c+1), the threshold above code c), got "
                                 f"{t[:48]!r}")
        else:
            value = _csv_float(where, "threshold", t)
            if math.isinf(value):
                raise ValueError(f"{where} threshold must be a finite number, got {t!r}")
            thresholds.append(value)
        if g_col is not None:
            levels.append(_csv_float(where, "level", r[g_col].strip()))
    if g_col is not None and len(numbered) < 2:
        raise ValueError(f"{src}: a plain table with levels needs at least 2 rows (2 levels), got {len(numbered)}")
    if g_col is None and len(thresholds) < 2:
        raise ValueError(f"{src}: a plain table of thresholds only needs at least 2 thresholds (3 levels; its outer "
                         f"levels are extrapolated from the neighbouring cell widths), got {len(thresholds)}; add a "
                         "level column to give the levels")
    for k in range(1, len(thresholds)):
        if thresholds[k] <= thresholds[k - 1]:
            raise ValueError(f"{src}: line {numbered[k][0]}: thresholds must be strictly increasing, but "
                             f"{thresholds[k]!r} follows {thresholds[k - 1]!r} (line {numbered[k - 1][0]})")
    if g_col is None:
        from ..impairments import from_transition_levels

        levels = [float(v) for v in from_transition_levels(thresholds).levels]
    doc = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "thresholds": thresholds, "levels": levels,
           "provenance": {"plain_csv": ",".join(cells),
                          "levels": "from the file" if g_col is not None else
                          "cell mid-points (outer cells extended by half the neighbouring width)"}}
    return doc


FORMAT = TableFormat("csv", (".csv",), write, sniff=sniff, read=read)
