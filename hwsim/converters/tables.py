r"""Decision-table export and import: take a learned quantizer to hardware and back.

A table is a :class:`~hwsim.converters.adc.ThresholdADC` (thresholds ``t_1 < ... < t_{M-1}``,
levels ``g_0 .. g_{M-1}``, codes ``0 .. M-1``; code ``c`` covers ``t_c <= x < t_{c+1}``)
plus metadata: the full-scale input range and its units, where the table came from
(provenance) and optionally its rounding to a threshold DAC (:mod:`hwsim.converters.fixed_point`).

Formats (``fmt`` / file extension)
----------------------------------
``json`` (``.json``, canonical, exported and imported), schema version 1::

    {"format": "hwsim-adc-table", "version": 1,
     "n_levels": M, "bits": log2(M),
     "codes": [0, ..., M-1], "thresholds": [t_1, ..., t_{M-1}], "levels": [g_0, ..., g_{M-1}],
     "full_scale": {"min": lo, "max": hi, "units": "V"},
     "provenance": {"hwsim_version": ..., "created_utc": "YYYY-MM-DDTHH:MM:SSZ",
                    "model_file", "model_sha256", "training_config", "seed" (from a model), ...},
     "dac": {"bits": N, "full_scale": {"min", "max"}, "lsb", "threshold_codes": [M-1 ints],
             "max_error_lsb", "bumped", "clipped"}}          # optional

Floats are written with Python's shortest round-trip representation, so an import gives
bit-identical thresholds and levels.

``csv`` (``.csv``, exported and imported)::

    # hwsim-adc-table version 1
    # meta: {"n_levels": M, "full_scale": {...}, "provenance": {...}, "dac": {...}}
    code,lower_threshold,upper_threshold,level
    0,-inf,t_1,g_0
    1,t_1,t_2,g_1
    ...
    M-1,t_{M-1},inf,g_{M-1}

One row per code: the input interval ``[lower, upper)`` that maps to it and its level.
The two ``#`` lines come first (pandas: ``read_csv(path, comment="#")`` skips them).

``mat`` (``.mat``, MATLAB v5 via :func:`scipy.io.savemat`, exported and imported):
variables ``format`` (char), ``version``, ``n_levels``, ``bits``, ``thresholds``
[1 x M-1], ``levels`` [1 x M], ``codes`` [1 x M] (int32), ``full_scale`` [1 x 2], ``units``
(char) and ``metadata`` (char: JSON with ``provenance`` and ``dac``; ``jsondecode`` it).

``c`` (``.h``, export only): a C header with an include guard, ``#define``\s for the
level count and the scaling, ``static const`` arrays of the threshold DAC codes
(``uint32_t``) and the levels in signed fixed point (``int32_t``, ``Q`` format stated in
the header). Threshold ``k`` is ``HWSIM_ADC_FS_MIN + code * HWSIM_ADC_LSB`` and a level
is ``q / 2**HWSIM_ADC_LEVEL_FRAC_BITS``.

``memh`` (``.mem``, ``.memh`` or ``.hex``, export only): a ``$readmemh`` memory file for
Verilog / SystemVerilog: one hex word per line, word ``k`` being the DAC code of
threshold ``t_{k+1}``, with ``//`` comments (header and the threshold value of each word).

C headers and memory files need integer threshold codes: unless ``dac`` is given, the
thresholds are rounded to a :data:`~hwsim.converters.fixed_point.DEFAULT_DAC_BITS`-bit DAC over the
table's full scale.

Safety: every file is written atomically (temporary name, then rename) and only after all
of it has been built, so a refused export writes nothing. Import never executes code (no
pickle; ``.mat`` files are read with :func:`scipy.io.loadmat`) and reports every problem
as a ValueError naming the file.

- One validator: :func:`check_table` (thresholds, levels, full scale, units) and the DAC
  check serve both export and import, so a table one side refuses the other refuses too.
  Numbers have magnitude at most :data:`MAX_ABS_VALUE`; units are 1 to 32 printable ASCII
  characters without ``/*``, ``*/``, ``\\`` or ``??``.
- Text in C headers and memory files: provenance strings (model file, SHA-256, seed,
  version, date) go into comments through :func:`comment_text`, which keeps letters,
  digits and harmless punctuation and percent-encodes everything else (``/``, ``*``,
  ``?``, ``\\``, quotes, ``%``, control characters, newlines, non-ASCII), so no comment can
  end early, no line can be added and no preprocessor directive can become active. Every
  number is formatted from a float or int computed here, never copied from user text.
  The rendered header and memory file are checked against their expected structure
  before they are written. JSON and CSV carry provenance escaped by :mod:`json` (ASCII only).
- Import refuses, before parsing: files larger than ``max_bytes`` (default
  :data:`MAX_FILE_BYTES`), files whose first bytes are not those of their format (JSON: an
  object ``{``; CSV: the ``# hwsim-adc-table version 1`` line; MAT: the v5 header), JSON
  with more list or object entries than any table needs, CSV with more lines than any table
  needs or characters other than printable ASCII, and number literals longer than
  :data:`MAX_NUMBER_CHARS` characters. Tables above :data:`hwsim.converters.adc.MAX_LEVELS` levels are
  refused before any array is built.
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import io
import json
import math
import numbers
import re
import struct
import zlib
from pathlib import Path

import numpy as np

from .. import __version__
from .. import _checks
from .adc import MAX_LEVELS, ThresholdADC
from .fixed_point import (DEFAULT_DAC_BITS, MAX_DAC_BITS, MIN_DAC_BITS, RoundedTable, check_full_scale, dac_round,
                          default_full_scale)
from .._files import atomic_write_bytes, atomic_write_text

FORMAT_NAME = "hwsim-adc-table"
FORMAT_VERSION = 1

#: Export formats and the file extensions each accepts (the first is the usual one).
EXTENSIONS = {"json": (".json",), "csv": (".csv",), "c": (".h",), "memh": (".mem", ".memh", ".hex"),
              "mat": (".mat",)}
#: Formats :func:`import_table` reads.
IMPORT_FORMATS = ("json", "csv", "mat")

#: Largest table file :func:`import_table` opens by default. A 2**16-level table with
#: full-precision numbers and a DAC section takes about 5.5 MB as JSON or CSV. To read a
#: larger file deliberately pass ``import_table(path, max_bytes=...)``.
MAX_FILE_BYTES = 16 * 2**20

#: Largest magnitude of any number in a table (thresholds, levels, full scale): far beyond any
#: converter in any unit, and small enough that spacings, full scales and LSBs stay finite.
MAX_ABS_VALUE = 1e15

#: Longest number literal accepted in a table file (a float's shortest repr has at most 24).
MAX_NUMBER_CHARS = 40

#: Largest number of list/object entries (commas) in a JSON table or ``.mat`` metadata:
#: four lists of M numbers plus provenance.
MAX_JSON_ITEMS = 8 * MAX_LEVELS + 4096

#: Most lines a CSV table may have: one per code plus the header and a few comment lines.
MAX_CSV_LINES = MAX_LEVELS + 16

MAX_UNITS_CHARS = 32

_SNIFF_BYTES = 256

_CSV_MAGIC = f"# {FORMAT_NAME} version {FORMAT_VERSION}"
_CSV_HEADER = ["code", "lower_threshold", "upper_threshold", "level"]
_C_PREFIX = "HWSIM_ADC"


# ====================================================================== helpers
def _fmt_from_path(path: Path, allowed) -> str:
    suffix = path.suffix.lower()
    for fmt in allowed:
        if suffix in EXTENSIONS[fmt]:
            return fmt
    exts = ", ".join(e for f in allowed for e in EXTENSIONS[f])
    raise ValueError(f"{path}: unknown table file extension {path.suffix!r}; allowed: {exts}")


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def sha256_file(path) -> str:
    """Hex SHA-256 of a file's bytes (read in chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _json_ready(name: str, value) -> dict:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be JSON-serialisable with finite numbers ({exc}), got {value!r}") from None


def _resolve_dac(adc: ThresholdADC, dac, full_scale, *, required: bool) -> RoundedTable | None:
    """``dac`` (None, an int number of bits or a RoundedTable) as a RoundedTable (or None).

    A given RoundedTable is recomputed from its bits and full scale (checked as numbers) and
    must give the same codes: what is written comes from this computation, not from the
    fields of an object the caller built.
    """
    if dac is None:
        return dac_round(adc, DEFAULT_DAC_BITS, full_scale) if required else None
    if isinstance(dac, RoundedTable):
        bits = _checks.integer("dac.bits", dac.bits, minimum=MIN_DAC_BITS, maximum=MAX_DAC_BITS)
        fresh = dac_round(adc, bits, check_full_scale("dac.full_scale", dac.full_scale))
        codes = np.asarray(dac.codes)
        if codes.shape != fresh.codes.shape or not np.array_equal(codes, fresh.codes) \
                or not np.array_equal(np.asarray(dac.adc.levels), adc.levels):
            raise ValueError(f"dac must be the rounding of this table (hwsim.converters.fixed_point.dac_round(adc, {bits}, "
                             "full_scale)), got a different one")
        return fresh
    if isinstance(dac, numbers.Integral) and not isinstance(dac, bool):
        return dac_round(adc, int(dac), full_scale)
    raise TypeError(f"dac must be None, a number of DAC bits ({MIN_DAC_BITS}..{MAX_DAC_BITS}) or a "
                    f"hwsim.converters.fixed_point.RoundedTable, got {dac!r}")


# ====================================================================== the one validator
_UNSAFE_TEXT = re.compile(r"[^\x20-\x7e]|/\*|\*/|\\|\?\?")


def _prefix(src) -> str:
    return f"{src}: " if src else ""


def check_units(src, units) -> str:
    """``units`` if it is 1 to 32 printable ASCII characters, not blank, without ``/*``, ``*/``, ``\\`` or ``??``.

    ``src``: the file being read (named in the message), or None for an argument.
    """
    if not isinstance(units, str) or not units.strip() or len(units) > MAX_UNITS_CHARS \
            or _UNSAFE_TEXT.search(units):
        raise ValueError(f"{_prefix(src)}units must be 1 to {MAX_UNITS_CHARS} printable ASCII characters, not blank, "
                         "without '/*', '*/', a backslash or '??' (for example 'V' or 'mV'), got "
                         f"{units if not isinstance(units, str) else units[:80]!r}")
    return units


def _check_magnitude(src, name: str, values: np.ndarray) -> None:
    big = np.abs(values) > MAX_ABS_VALUE
    if np.any(big):
        i = int(np.argmax(big))
        raise ValueError(f"{_prefix(src)}{name} must hold numbers of magnitude at most {MAX_ABS_VALUE:g} "
                         f"(hwsim.converters.tables.MAX_ABS_VALUE), but {name}[{i}] = {float(values[i])!r}")


def _check_range(src, name: str, lo, hi) -> tuple[float, float]:
    """A full-scale pair: finite floats, lo < hi, magnitude at most MAX_ABS_VALUE."""
    try:
        lo, hi = check_full_scale(name, (lo, hi))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{_prefix(src)}{exc}") from None
    _check_magnitude(src, name, np.array([lo, hi]))
    return lo, hi


def check_table(src, thresholds, levels, full_scale=None, units="V", *, natural=None):
    """The validator that export and import share: refuse what either side would refuse.

    Parameters
    ----------
    src : str or None
        The file being read (every message names it), or None when checking export arguments.
    thresholds : array-like, shape [M-1]
        Strictly increasing finite numbers.
    levels : array-like, shape [M]
        Finite numbers, ``2 <= M <= MAX_LEVELS``.
    full_scale : (lo, hi) or None
        Must contain every threshold; None: :func:`hwsim.converters.fixed_point.default_full_scale` of
        ``natural`` (or of the table).
    units : str
        See :func:`check_units`.

    Returns
    -------
    tuple
        ``(ThresholdADC, (lo, hi), units)``.

    Notes
    -----
    Every number (thresholds, levels, full scale) must have magnitude at most :data:`MAX_ABS_VALUE`.
    """
    pre = _prefix(src)
    t = np.asarray(thresholds, dtype=np.float64)
    g = np.asarray(levels, dtype=np.float64)
    if g.ndim != 1 or t.ndim != 1:
        raise ValueError(f"{pre}thresholds and levels must be 1-D lists of numbers")
    if not 2 <= g.size <= MAX_LEVELS:
        raise ValueError(f"{pre}levels must hold 2 to {MAX_LEVELS} entries, got {g.size}")
    if t.size != g.size - 1:
        raise ValueError(f"{pre}thresholds must hold len(levels) - 1 = {g.size - 1} entries, got {t.size}")
    for name, v in (("thresholds", t), ("levels", g)):
        if not np.all(np.isfinite(v)):
            bad = int(np.flatnonzero(~np.isfinite(v))[0])
            raise ValueError(f"{pre}{name} must hold only finite numbers, but {name}[{bad}] = {v[bad]}")
        _check_magnitude(src, name, v)
    diffs = np.diff(t)
    if np.any(diffs <= 0):
        bad = int(np.argmax(diffs <= 0))
        raise ValueError(f"{pre}thresholds must be strictly increasing, but thresholds[{bad}] = "
                         f"{t[bad]!r} >= thresholds[{bad + 1}] = {t[bad + 1]!r}")
    adc = ThresholdADC(t, g)
    if full_scale is None:
        lo, hi = default_full_scale(natural if natural is not None else adc)
        name = "the default full_scale (one threshold spacing beyond the outer thresholds; give full_scale)"
    else:
        if isinstance(full_scale, (str, bytes)) or not hasattr(full_scale, "__len__") or len(full_scale) != 2:
            raise ValueError(f"{pre}full_scale must be a pair (lo, hi), got {full_scale!r}")
        lo, hi = full_scale
        name = "full_scale"
    lo, hi = _check_range(src, name, lo, hi)
    if t[0] < lo or t[-1] > hi:
        raise ValueError(f"{pre}full_scale ({lo!r}, {hi!r}) must contain every threshold, but the thresholds "
                         f"span [{t[0]!r}, {t[-1]!r}]")
    return adc, (lo, hi), check_units(src, units)


def _check_dac(src, dac, n_levels: int) -> dict:
    """The ``dac`` section (export: built here; import: read from the file), checked the same way."""
    pre = _prefix(src)
    if not isinstance(dac, dict):
        raise ValueError(f"{pre}dac must be an object, got {type(dac).__name__}")
    bits = _count(src, "dac bits", dac.get("bits"), minimum=MIN_DAC_BITS, maximum=MAX_DAC_BITS)
    fs = dac.get("full_scale")
    if not isinstance(fs, dict):
        raise ValueError(f"{pre}dac full_scale must be an object with min and max, got {fs!r}")
    lo, hi = _check_range(src, "dac full_scale", fs.get("min"), fs.get("max"))
    codes = _number_list(src, "dac threshold_codes", dac.get("threshold_codes"), MAX_LEVELS - 1)
    if codes.size != n_levels - 1:
        raise ValueError(f"{pre}dac threshold_codes must hold M-1 = {n_levels - 1} codes, got {codes.size}")
    if np.any(codes != np.round(codes)) or np.any(codes < 0) or np.any(codes > 2**bits - 1):
        raise ValueError(f"{pre}dac threshold_codes must be integers in [0, {2**bits - 1}]")
    if np.any(np.diff(codes) <= 0):
        raise ValueError(f"{pre}dac threshold_codes must be strictly increasing")
    out = dict(dac)
    out.update(bits=bits, full_scale={"min": lo, "max": hi}, threshold_codes=[int(c) for c in codes])
    return out


# ====================================================================== export
def table_document(adc: ThresholdADC, *, full_scale=None, units: str = "V", provenance=None,
                   dac=None, require_dac: bool = False) -> tuple[dict, RoundedTable | None]:
    """The canonical JSON document (a dict) for ``adc`` and its DAC rounding (None when not asked for).

    Arguments as for :func:`export_table`; ``require_dac`` rounds to the default DAC when
    ``dac`` is None. Validates everything and writes nothing.
    """
    if not isinstance(adc, ThresholdADC):
        raise TypeError(f"adc must be a hwsim.converters.adc.ThresholdADC, got {type(adc).__name__}")
    if full_scale is not None:
        check_full_scale("full_scale", full_scale)   # TypeError for non-numbers, as before
    with np.errstate(over="ignore", invalid="ignore"):
        _, (lo, hi), units = check_table(None, adc.thresholds, adc.levels, full_scale, units, natural=adc)
    t = adc.thresholds
    prov = {"hwsim_version": __version__, "created_utc": _utc_now()}
    if provenance is not None:
        if not isinstance(provenance, dict):
            raise TypeError(f"provenance must be a dict, got {type(provenance).__name__}")
        prov.update(_json_ready("provenance", provenance))
    rounded = _resolve_dac(adc, dac, (lo, hi), required=require_dac)
    dac_section = None if rounded is None else _check_dac(None, rounded.to_dict(), adc.n_levels)
    doc = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "n_levels": adc.n_levels, "bits": adc.bits,
           "codes": list(range(adc.n_levels)),
           "thresholds": [float(v) for v in t], "levels": [float(v) for v in adc.levels],
           "full_scale": {"min": lo, "max": hi, "units": units}, "provenance": prov}
    if dac_section is not None:
        doc["dac"] = dac_section
    return doc, rounded


def _render_json(doc: dict) -> str:
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


def _render_csv(doc: dict) -> str:
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


def _level_frac_bits(levels: np.ndarray) -> int:
    """Fraction bits of a signed 32-bit fixed-point format that holds every level (at most 16)."""
    peak = float(np.max(np.abs(levels)))
    int_bits = max(0, math.floor(math.log2(peak)) + 1) if peak > 0 else 0
    frac = min(16, 31 - int_bits - 1)
    if frac < 0:
        raise ValueError(f"levels up to {peak:g} do not fit a signed 32-bit fixed-point format")
    return frac


#: Characters :func:`comment_text` keeps as they are; everything else is percent-encoded.
_COMMENT_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 -_.,:;=+@#()[]{}<>!~^&|$'")


def comment_text(value, max_chars: int = 160) -> str:
    """``value`` as text that is safe inside a C ``/* */`` comment and a ``//`` comment line.

    Integers and floats are formatted (``int``, shortest ``repr``); strings (anything else:
    its JSON form) keep letters, digits, spaces and ``-_.,:;=+@#()[]{}<>!~^&|$'``, and every
    other character is percent-encoded as its UTF-8 bytes (``/`` -> ``%2F``, newline ->
    ``%0A``), so the result is printable ASCII without ``/``, ``*``, ``?`` or a backslash:
    it cannot close or open a comment, splice or add a line, or form a trigraph. Longer
    results are cut to ``max_chars`` and end in ``...``.
    """
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, numbers.Integral):
        text = str(int(value))
    elif isinstance(value, numbers.Real) and math.isfinite(float(value)):
        text = repr(float(value))
    else:
        if not isinstance(value, str):
            try:
                value = json.dumps(value, sort_keys=True, default=repr)
            except (TypeError, ValueError):
                value = repr(value)
        text = "".join(c if c in _COMMENT_SAFE else "".join(f"%{b:02X}" for b in c.encode("utf-8", "replace"))
                       for c in value[: 4 * max_chars])
    return text if len(text) <= max_chars else text[: max_chars - 3] + "..."


def _num(x) -> str:
    """A number computed here, formatted (shortest round-trip repr for floats)."""
    if isinstance(x, numbers.Integral) and not isinstance(x, bool):
        return str(int(x))
    v = float(x)
    if not math.isfinite(v):
        raise ValueError(f"internal error: non-finite number {v} in an exported file")
    return repr(v)


def _header_lines(doc: dict, rounded: RoundedTable, comment: str) -> list[str]:
    fs = doc["full_scale"]
    units = check_units(None, fs["units"])
    prov = doc["provenance"]
    m = int(doc["n_levels"])
    bumped = [int(i) for i in rounded.bumped]
    lines = [f"hwsim ADC decision table ({FORMAT_NAME} version {FORMAT_VERSION}), "
             f"generated by hwsim {comment_text(prov.get('hwsim_version'))} at "
             f"{comment_text(prov.get('created_utc'))}",
             f"levels M = {m}, thresholds M-1 = {m - 1}, full scale [{_num(fs['min'])}, {_num(fs['max'])}] {units}",
             f"threshold DAC: {int(rounded.bits)} bits over [{_num(rounded.full_scale[0])}, "
             f"{_num(rounded.full_scale[1])}] {units}, LSB = (max - min) / 2^{int(rounded.bits)} = "
             f"{_num(rounded.lsb)} {units}",
             "threshold value = min + code * LSB; worst rounding error "
             f"{float(rounded.max_error_lsb):.4f} LSB" + (f"; thresholds {bumped} bumped up one code to stay "
                                                          "distinct" if bumped else "")]
    for key in ("model_file", "model_sha256", "seed"):
        if key in prov:
            lines.append(f"{key}: {comment_text(prov[key])}")
    return [f"{comment} {s}".rstrip() for s in lines]


def _render_c(doc: dict, rounded: RoundedTable) -> str:
    levels = np.asarray(doc["levels"])
    frac = _level_frac_bits(levels)
    q = np.rint(levels * 2.0**frac).astype(np.int64)
    m = doc["n_levels"]
    p = _C_PREFIX
    guard = f"{p}_TABLE_H"
    out = ["/*"]
    out += _header_lines(doc, rounded, " *")
    out += [" *",
            f" * {p.lower()}_threshold_codes[k] (k = 0..M-2) is the DAC code of threshold t_(k+1): the",
            f" *   input x gets code c = number of k with x >= {p}_FS_MIN + {p.lower()}_threshold_codes[k] * {p}_LSB.",
            f" * {p.lower()}_levels_q[c] (c = 0..M-1) is the reconstruction level of code c in signed fixed",
            f" *   point Q{31 - frac}.{frac}: level = {p.lower()}_levels_q[c] / 2^{p}_LEVEL_FRAC_BITS"
            f" (error <= 2^-{frac + 1}).",
            " */",
            f"#ifndef {guard}", f"#define {guard}", "", "#include <stdint.h>", "",
            f"#define {p}_N_LEVELS {int(m)}",
            f"#define {p}_N_THRESHOLDS {int(m) - 1}",
            f"#define {p}_DAC_BITS {int(rounded.bits)}",
            f"#define {p}_FS_MIN ({_num(rounded.full_scale[0])})",
            f"#define {p}_FS_MAX ({_num(rounded.full_scale[1])})",
            f"#define {p}_LSB ({_num(rounded.lsb)})  /* ({p}_FS_MAX - {p}_FS_MIN) / 2^{p}_DAC_BITS */",
            f"#define {p}_LEVEL_FRAC_BITS {frac}",
            "",
            f"static const uint32_t {p.lower()}_threshold_codes[{p}_N_THRESHOLDS] = {{"]
    for k, (c, t) in enumerate(zip(rounded.codes, doc["thresholds"])):
        out.append(f"    {int(c)}u{',' if k < m - 2 else ''}  /* t_{k + 1} = {_num(t)} */")
    out += ["};", "", f"static const int32_t {p.lower()}_levels_q[{p}_N_LEVELS] = {{"]
    for c, (v, g) in enumerate(zip(q, levels)):
        out.append(f"    {int(v)}{',' if c < m - 1 else ''}  /* code {c}: {_num(g)} */")
    out += ["};", "", f"#endif /* {guard} */", ""]
    text = "\n".join(out)
    _verify_c(text, m)
    return text


_C_DIRECTIVE = re.compile(rf"#(ifndef|define|endif|include <stdint\.h>)( {_C_PREFIX}_\w+( \(?-?[0-9.e+-]+\)?)?)?")


def _verify_c(text: str, m: int) -> None:
    """Refuse (internal error) a rendered header whose structure is not the expected one.

    Comments: exactly one ``/*`` and one ``*/`` per comment written (header, LSB define,
    one per threshold and level, the guard); outside comments: only printable ASCII, and
    only the expected preprocessor lines.
    """
    expected = 1 + 1 + (m - 1) + m + 1
    if not re.fullmatch(r"[\x20-\x7e\n]*", text) or text.count("/*") != expected or text.count("*/") != expected:
        raise RuntimeError("internal error: the rendered C header has unexpected comments or characters; "
                           "nothing was written")
    code = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    for line in code.split("\n"):
        line = line.strip()
        if line.startswith("#") and not _C_DIRECTIVE.fullmatch(line):
            raise RuntimeError(f"internal error: unexpected preprocessor line {line!r} in the rendered C header; "
                               "nothing was written")


def _render_memh(doc: dict, rounded: RoundedTable) -> str:
    width = -(-rounded.bits // 4)
    out = _header_lines(doc, rounded, "//")
    out += [f"// {doc['n_levels'] - 1} words of {width} hex digits: word k = DAC code of threshold t_(k+1);",
            "// load with $readmemh(\"<this file>\", mem) into mem[0:M-2]"]
    for k, (c, t) in enumerate(zip(rounded.codes, doc["thresholds"])):
        out.append(f"{int(c):0{width}x}  // t_{k + 1} = {_num(t)}")
    text = "\n".join(out) + "\n"
    _verify_memh(text, [int(c) for c in rounded.codes], width)
    return text


def _verify_memh(text: str, codes: list, width: int) -> None:
    """Refuse (internal error) a rendered memory file that a strict $readmemh reader would not read as ``codes``."""
    words = []
    ok = re.fullmatch(r"[\x20-\x7e\n]*", text) is not None and "/*" not in text and "*/" not in text
    for line in text.split("\n"):
        body = line.split("//", 1)[0].strip()
        if body:
            if not re.fullmatch(f"[0-9a-f]{{{width}}}", body):
                ok = False
                break
            words.append(int(body, 16))
    if not ok or words != codes:
        raise RuntimeError("internal error: the rendered memory file does not hold exactly the threshold codes; "
                           "nothing was written")


def _render_mat(doc: dict) -> bytes:
    from scipy.io import savemat

    meta = {k: doc[k] for k in ("provenance", "dac") if k in doc}
    data = {"format": FORMAT_NAME, "version": float(FORMAT_VERSION), "n_levels": float(doc["n_levels"]),
            "bits": float(doc["bits"]),
            "thresholds": np.asarray(doc["thresholds"], dtype=np.float64)[None, :],
            "levels": np.asarray(doc["levels"], dtype=np.float64)[None, :],
            "codes": np.arange(doc["n_levels"], dtype=np.int32)[None, :],
            "full_scale": np.array([[doc["full_scale"]["min"], doc["full_scale"]["max"]]]),
            "units": doc["full_scale"]["units"],
            "metadata": json.dumps(meta, allow_nan=False)}
    buf = io.BytesIO()
    savemat(buf, data, format="5", do_compression=False, oned_as="row")
    return buf.getvalue()


def export_table(adc: ThresholdADC, path, fmt: str | None = None, *, full_scale=None, units: str = "V",
                 provenance: dict | None = None, dac=None) -> dict:
    """Write ``adc`` to ``path`` in format ``fmt`` (see the module docstring).

    Parameters
    ----------
    adc : ThresholdADC
        The table (M levels).
    path : str or Path
        Output file; its extension must be one of ``EXTENSIONS[fmt]``.
    fmt : {"json", "csv", "c", "memh", "mat"} or None
        Format; None takes it from the extension.
    full_scale : (lo, hi) or None
        Input range (must contain every threshold); None: :func:`hwsim.converters.fixed_point.default_full_scale`.
    units : str
        Units of thresholds, levels and full scale (default ``"V"``).
    provenance : dict or None
        Extra JSON-serialisable provenance, merged over the automatic ``hwsim_version`` and ``created_utc``.
    dac : None, int or RoundedTable
        Threshold DAC rounding: a number of bits (over ``full_scale``) or a ready
        :func:`~hwsim.converters.fixed_point.dac_round` result. Needed by ``c`` and ``memh`` (default
        :data:`~hwsim.converters.fixed_point.DEFAULT_DAC_BITS` bits); optional elsewhere.

    Returns
    -------
    dict
        The canonical JSON document of what was written.
    """
    path = Path(path)
    if fmt is None:
        fmt = _fmt_from_path(path, tuple(EXTENSIONS))
    if fmt not in EXTENSIONS:
        raise ValueError(f"fmt must be one of {', '.join(EXTENSIONS)}, got {fmt!r}")
    if path.suffix.lower() not in EXTENSIONS[fmt]:
        raise ValueError(f"path {str(path)!r} must end in {' or '.join(EXTENSIONS[fmt])} for fmt {fmt!r}")
    if not path.parent.is_dir():
        raise ValueError(f"path {str(path)!r}: folder {str(path.parent)!r} does not exist")
    doc, rounded = table_document(adc, full_scale=full_scale, units=units, provenance=provenance, dac=dac,
                                  require_dac=fmt in ("c", "memh"))
    if fmt == "json":
        atomic_write_text(path, _render_json(doc))
    elif fmt == "csv":
        atomic_write_text(path, _render_csv(doc))
    elif fmt == "c":
        atomic_write_text(path, _render_c(doc, rounded))
    elif fmt == "memh":
        atomic_write_text(path, _render_memh(doc, rounded))
    else:
        atomic_write_bytes(path, _render_mat(doc))
    return doc


def export_from_model(model_path, path, fmt: str | None = None, *, full_scale=None, units: str = "V",
                      dac=None, provenance: dict | None = None) -> dict:
    """Export the hard ADC table of a trained receiver (``.pt`` + ``.pt.json`` sidecar).

    Provenance records the model file name, its SHA-256, the training configuration and
    seed (plus ``provenance``, if given). Other arguments as for :func:`export_table`.
    """
    from hwsim.receivers.hybrid import TrainedReceiver

    model_path = Path(model_path)
    if not model_path.is_file():
        raise ValueError(f"model_path {str(model_path)!r} is not a file")
    trained = TrainedReceiver.load(model_path)
    prov = {"model_file": model_path.name, "model_sha256": sha256_file(model_path),
            "training_config": trained.config, "seed": trained.seed}
    if provenance is not None:
        if not isinstance(provenance, dict):
            raise TypeError(f"provenance must be a dict, got {type(provenance).__name__}")
        prov.update(provenance)
    return export_table(trained.model.adc_table(), path, fmt, full_scale=full_scale, units=units, provenance=prov,
                        dac=dac)


# ====================================================================== import
def _sniff(path: Path, fmt: str, head: bytes) -> None:
    """Refuse a file whose first bytes are not those of ``fmt`` (before reading the rest)."""
    if fmt == "json":
        if head.lstrip(b" \t\r\n")[:1] != b"{":
            raise ValueError(f"{path} is not a JSON table file: it must start with '{{' (a JSON object), but starts "
                             f"with {head[:24]!r}")
    elif fmt == "csv":
        magic = _CSV_MAGIC.encode()
        if not (head.startswith(magic + b"\n") or head.startswith(magic + b"\r\n")):
            raise ValueError(f"{path} is not an hwsim CSV table: its first line must be {_CSV_MAGIC!r}, but the file "
                             f"starts with {head[:40]!r}")
    elif fmt == "mat":
        if not head.startswith(b"MATLAB 5.0 MAT-file"):
            raise ValueError(f"{path} is not a MATLAB v5 .mat file (its header does not start with "
                             "'MATLAB 5.0 MAT-file')")


def _read_limited(path: Path, fmt: str, max_bytes: int) -> bytes:
    """The bytes of a table file: refused on size, then on its first bytes, before the rest is read."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    if not path.is_file():
        raise ValueError(f"{path} is not a regular file")
    if size > max_bytes:
        raise ValueError(f"{path} holds {size} bytes; a table file may hold at most {max_bytes} bytes (a "
                         f"{MAX_LEVELS}-level table needs about 6 MB). To read a larger file deliberately, pass "
                         "import_table(path, max_bytes=N) or raise hwsim.converters.tables.MAX_FILE_BYTES")
    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES)
        _sniff(path, fmt, head)
        rest = f.read(size + 1 - len(head))   # never a buffer larger than the file itself
    if len(head) + len(rest) > size:   # grew while we looked
        raise ValueError(f"{path} changed while it was being read")
    return head + rest if rest else head


def _count(src: str, name: str, value, *, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or not float(value).is_integer():
        raise ValueError(f"{_prefix(src)}{name} must be a whole number, got {value!r}")
    value = int(value)
    if not minimum <= value <= maximum:
        raise ValueError(f"{_prefix(src)}{name} must lie in [{minimum}, {maximum}], got {value}")
    return value


def _number_list(src: str, name: str, value, max_len: int) -> np.ndarray:
    """A JSON list of finite numbers, length checked before any array is made."""
    pre = _prefix(src)
    if not isinstance(value, list):
        raise ValueError(f"{pre}{name} must be a list of numbers, got {type(value).__name__}")
    if len(value) > max_len:
        raise ValueError(f"{pre}{name} holds {len(value)} entries; at most {max_len} allowed "
                         f"(tables have at most {MAX_LEVELS} levels)")
    for i, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"{pre}{name}[{i}] must be a number, got {v!r}")
    try:
        arr = np.array(value, dtype=np.float64)
    except OverflowError:
        raise ValueError(f"{pre}{name} holds a number too large for float64") from None
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(f"{pre}{name} must hold only finite numbers, but {name}[{bad}] = {arr[bad]}")
    return arr


def _from_document(src: str, doc, source_format: str) -> tuple[ThresholdADC, dict]:
    """Check a canonical document's structure, then the table with :func:`check_table`, and build it."""
    if not isinstance(doc, dict):
        raise ValueError(f"{src}: expected a JSON object with \"format\": \"{FORMAT_NAME}\", got "
                         f"{type(doc).__name__}")
    fmt = doc.get("format")
    if fmt != FORMAT_NAME:
        hint = " (a trained receiver's sidecar: export its .pt with `hwsim adc export`)" \
            if fmt == "hwsim-hybrid-receiver" else ""
        raise ValueError(f"{src}: format must be {FORMAT_NAME!r}, got {fmt!r}{hint}")
    version = doc.get("version")
    if isinstance(version, bool) or version != FORMAT_VERSION:
        raise ValueError(f"{src}: version must be {FORMAT_VERSION} (this hwsim reads version {FORMAT_VERSION}), "
                         f"got {version!r}")
    # Declared sizes first: refuse absurd tables before anything is built from them.
    declared = None
    if "n_levels" in doc:
        declared = _count(src, "n_levels", doc["n_levels"], minimum=2, maximum=MAX_LEVELS)
    if "bits" in doc:
        b = doc["bits"]
        if isinstance(b, bool) or not isinstance(b, (int, float)) or not math.isfinite(b) \
                or not 1 <= b <= math.log2(MAX_LEVELS):
            raise ValueError(f"{src}: bits must be log2(n_levels) in [1, {int(math.log2(MAX_LEVELS))}], got {b!r}")
    for key in ("thresholds", "levels"):
        if key not in doc:
            raise ValueError(f"{src}: {key} is missing")
    levels = _number_list(src, "levels", doc["levels"], MAX_LEVELS)
    thresholds = _number_list(src, "thresholds", doc["thresholds"], MAX_LEVELS - 1)
    m = levels.size
    if declared is not None and declared != m:
        raise ValueError(f"{src}: n_levels = {declared} but levels holds {m} entries")
    if m < 2:
        raise ValueError(f"{src}: levels must hold at least 2 entries, got {m}")
    if thresholds.size != m - 1:
        raise ValueError(f"{src}: thresholds must hold len(levels) - 1 = {m - 1} entries, got {thresholds.size}")
    if "bits" in doc and abs(float(doc["bits"]) - math.log2(m)) > 1e-9:
        raise ValueError(f"{src}: bits = {doc['bits']!r} but log2 of {m} levels is {math.log2(m)!r}")
    if "codes" in doc:
        codes = _number_list(src, "codes", doc["codes"], MAX_LEVELS)
        if not np.array_equal(codes, np.arange(m)):
            raise ValueError(f"{src}: codes must be 0, 1, ..., {m - 1} in order")
    full_scale, units = None, "V"
    if "full_scale" in doc:
        fs = doc["full_scale"]
        if not isinstance(fs, dict):
            raise ValueError(f"{src}: full_scale must be an object with min, max and units, got {fs!r}")
        full_scale, units = (fs.get("min"), fs.get("max")), fs.get("units")
    adc, (lo, hi), units = check_table(src, thresholds, levels, full_scale, units)
    meta = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "source_format": source_format, "n_levels": m,
            "full_scale": {"min": lo, "max": hi, "units": units}}
    prov = doc.get("provenance", {})
    if not isinstance(prov, dict):
        raise ValueError(f"{src}: provenance must be an object, got {type(prov).__name__}")
    meta["provenance"] = prov
    meta["dac"] = _check_dac(src, doc["dac"], m) if doc.get("dac") is not None else None
    return adc, meta


def _bounded_number(src):
    def parse(text: str):
        if len(text) > MAX_NUMBER_CHARS:
            raise ValueError(f"{src}: a number is written with {len(text)} digits or characters "
                             f"({text[:12]}...); numbers in a table file have at most {MAX_NUMBER_CHARS}")
        return float(text) if any(c in text for c in ".eE") else int(text)
    return parse


def parse_json_bytes(src, data: bytes, what: str = "a JSON table file"):
    """Parse JSON ``data`` from file ``src`` with the limits of a table file; every error names ``src``.

    Refuses: text that is not UTF-8, more than :data:`MAX_JSON_ITEMS` list or object entries
    (counted before parsing), number literals longer than :data:`MAX_NUMBER_CHARS` and
    nesting too deep for the parser.
    """
    items = data.count(b",")
    if items > MAX_JSON_ITEMS:
        raise ValueError(f"{src} is not {what}: it holds about {items} list or object entries, more than the "
                         f"{MAX_JSON_ITEMS} any {MAX_LEVELS}-level table needs")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{src} is not {what} (not UTF-8 text)") from None
    number = _bounded_number(src)
    try:
        return json.loads(text, parse_int=number, parse_float=number)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{src} is not valid JSON ({exc})") from None
    except RecursionError:
        raise ValueError(f"{src} is not {what} (JSON nested too deeply)") from None
    except ValueError as exc:   # from the number hook (or the interpreter's own digit limit)
        text = str(exc)
        raise ValueError(text if text.startswith(f"{src}:") else f"{src}: {text}") from None


def _parse_json(path: Path, data: bytes):
    return parse_json_bytes(path, data)


def _import_json(path: Path, max_bytes: int) -> tuple[ThresholdADC, dict]:
    return _from_document(str(path), _parse_json(path, _read_limited(path, "json", max_bytes)), "json")


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


def _import_csv(path: Path, max_bytes: int) -> tuple[ThresholdADC, dict]:
    src = str(path)
    data = _read_limited(path, "csv", max_bytes)
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
            meta = _parse_json(path, body[len("meta:"):].encode())
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
        declared = _count(src, "n_levels", meta["n_levels"], minimum=2, maximum=MAX_LEVELS)
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
    return _from_document(src, doc, "csv")


def _check_mat_inflation(src: str, data: bytes, max_bytes: int) -> None:
    """Refuse a v5 .mat file whose elements would inflate beyond ``max_bytes`` (a zip bomb).

    Walks the top-level elements (8-byte tag: type, byte count; uncompressed data padded
    to 8 bytes; ``miCOMPRESSED`` = 15 data is a zlib stream) and inflates each compressed
    one at most to the remaining budget.
    """
    order = {b"IM": "<", b"MI": ">"}.get(data[126:128])
    if len(data) < 128 or order is None:
        raise ValueError(f"{src} is not a readable .mat file (damaged header)")
    tag = struct.Struct(order + "II")
    pos, total = 128, 0
    while pos + 8 <= len(data):
        dtype, nbytes = tag.unpack_from(data, pos)
        if dtype >> 16:          # small data element: type and size share the first word
            total += dtype >> 16
            pos += 8
            continue
        body = pos + 8
        if dtype == 15:
            try:
                total += len(zlib.decompressobj().decompress(data[body:body + nbytes], max_bytes - total + 1))
            except zlib.error as exc:
                raise ValueError(f"{src} is not a readable .mat file (damaged compressed data: {exc})") from None
            pos = body + nbytes
        else:
            total += nbytes
            pos = body + nbytes + (-nbytes % 8)
        if total > max_bytes:
            raise ValueError(f"{src} would inflate to more than {max_bytes} bytes; a table file may hold at "
                             f"most that much (a {MAX_LEVELS}-level table needs far less; to read a larger file "
                             "deliberately pass import_table(path, max_bytes=N))")


def _import_mat(path: Path, max_bytes: int) -> tuple[ThresholdADC, dict]:
    src = str(path)
    data = _read_limited(path, "mat", max_bytes)
    _check_mat_inflation(src, data, max_bytes)
    from scipy.io import loadmat, whosmat   # only for a file that passed the cheap checks
    wanted = {"format", "version", "n_levels", "bits", "thresholds", "levels", "codes", "full_scale", "units",
              "metadata"}
    try:
        shapes = {name: (shape, cls) for name, shape, cls in whosmat(io.BytesIO(data))}
    except Exception as exc:  # scipy raises several kinds for damaged files
        raise ValueError(f"{path} is not a readable .mat file ({type(exc).__name__}: {exc})") from None
    for name in wanted & shapes.keys():
        shape, cls = shapes[name]
        n = math.prod(shape)
        limit = max_bytes if name == "metadata" else MAX_LEVELS
        if n > limit:
            raise ValueError(f"{src}: variable {name} has shape {shape}; at most {limit} entries allowed")
    try:
        mat = loadmat(io.BytesIO(data), variable_names=sorted(wanted & shapes.keys()), squeeze_me=False,
                      chars_as_strings=True, mat_dtype=False)
    except Exception as exc:
        raise ValueError(f"{path} is not a readable .mat file ({type(exc).__name__}: {exc})") from None

    def text(name):
        v = mat.get(name)
        if v is None:
            return None
        if not isinstance(v, np.ndarray) or v.dtype.kind != "U" or v.size != 1:
            raise ValueError(f"{src}: variable {name} must be a character string")
        return str(v.reshape(-1)[0])

    def numbers_of(name):
        v = mat.get(name)
        if v is None:
            return None
        if not isinstance(v, np.ndarray) or v.dtype.kind not in "iuf" or v.ndim > 2 or \
                (v.ndim == 2 and min(v.shape) > 1):
            raise ValueError(f"{src}: variable {name} must be a numeric vector")
        return [float(x) for x in v.reshape(-1)]

    def scalar(name):
        v = numbers_of(name)
        if v is None:
            return None
        if len(v) != 1:
            raise ValueError(f"{src}: variable {name} must be a scalar")
        return v[0]

    doc = {"format": text("format"), "version": scalar("version")}
    if doc["version"] is not None and float(doc["version"]).is_integer():
        doc["version"] = int(doc["version"])
    for key in ("thresholds", "levels", "codes"):
        v = numbers_of(key)
        if v is not None:
            doc[key] = v
    for key in ("n_levels", "bits"):
        v = scalar(key)
        if v is not None:
            doc[key] = v
    fs = numbers_of("full_scale")
    if fs is not None:
        if len(fs) != 2:
            raise ValueError(f"{src}: variable full_scale must hold [min max]")
        doc["full_scale"] = {"min": fs[0], "max": fs[1], "units": text("units") or "V"}
    meta_text = text("metadata")
    if meta_text is not None:
        meta = _parse_json(path, meta_text.encode())
        if not isinstance(meta, dict):
            raise ValueError(f"{src}: variable metadata must hold a JSON object")
        for key in ("provenance", "dac"):
            if key in meta:
                doc[key] = meta[key]
    return _from_document(src, doc, "mat")


def import_table(path, *, max_bytes: int | None = None) -> tuple[ThresholdADC, dict]:
    """Read a table written by :func:`export_table` (json, csv or mat, by extension).

    ``max_bytes``: largest file accepted (None: :data:`MAX_FILE_BYTES`, read at each call,
    well above any 2**16-level table); raise it deliberately to read a larger file.

    Returns
    -------
    adc : ThresholdADC
        Bit-identical thresholds and levels.
    metadata : dict
        ``format``, ``version``, ``source_format``, ``n_levels``, ``full_scale``
        (``min``, ``max``, ``units``), ``provenance`` (dict) and ``dac`` (dict or None).

    Raises
    ------
    ValueError
        Unknown extension, content that is not what the extension says, a wrong format
        or version, or an invalid table; the message names the file.
    """
    path = Path(path)
    max_bytes = _checks.integer("max_bytes", MAX_FILE_BYTES if max_bytes is None else max_bytes, minimum=1)
    fmt = _fmt_from_path(path, IMPORT_FORMATS)
    return {"json": _import_json, "csv": _import_csv, "mat": _import_mat}[fmt](path, max_bytes)


def load_any(path) -> tuple[ThresholdADC, dict]:
    """A table from a table file (json/csv/mat) or from a trained receiver ``.pt`` (its hard table)."""
    path = Path(path)
    if path.suffix.lower() != ".pt":
        return import_table(path)
    from hwsim.receivers.hybrid import TrainedReceiver

    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    trained = TrainedReceiver.load(path)
    adc = trained.model.adc_table()
    lo, hi = default_full_scale(adc)
    meta = {"format": "hwsim-hybrid-receiver", "version": None, "source_format": "pt", "n_levels": adc.n_levels,
            "full_scale": {"min": lo, "max": hi, "units": "V"},
            "provenance": {"model_file": path.name, "model_sha256": sha256_file(path),
                           "training_config": trained.config, "seed": trained.seed},
            "dac": None}
    return adc, meta
