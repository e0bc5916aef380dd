r"""Decision-table export and import: take a learned quantizer to hardware and back.

A table is a :class:`~hwsim.converters.adc.ThresholdADC` (thresholds ``t_1 < ... < t_{M-1}``,
levels ``g_0 .. g_{M-1}``, codes ``0 .. M-1``; code ``c`` covers ``t_c <= x < t_{c+1}``)
plus metadata: the full-scale input range and its units, where the table came from
(provenance) and optionally its rounding to a threshold DAC (:mod:`hwsim.converters.fixed_point`).

This module is the one interface to table files: :func:`export_table` and
:func:`export_from_model` write, :func:`import_table` and :func:`load_any` read, and
:func:`check_table` is the validator both sides share. Each file format is one module of
:mod:`hwsim.converters.formats`, reached through its registry
(:data:`hwsim.converters.formats.FORMATS`), so a new format is one new module there.

The canonical document
----------------------
Every format writes (a view of) one document, built by :func:`table_document` and read back
into the same shape, schema version 1::

    {"format": "hwsim-adc-table", "version": 1,
     "n_levels": M, "bits": log2(M),
     "codes": [0, ..., M-1], "thresholds": [t_1, ..., t_{M-1}], "levels": [g_0, ..., g_{M-1}],
     "full_scale": {"min": lo, "max": hi, "units": "V"},
     "provenance": {"hwsim_version": ..., "created_utc": "YYYY-MM-DDTHH:MM:SSZ",
                    "model_file", "model_sha256", "training_config", "seed" (from a model), ...},
     "dac": {"bits": N, "full_scale": {"min", "max"}, "lsb", "threshold_codes": [M-1 ints],
             "max_error_lsb", "bumped", "clipped"}}          # optional

Formats (``fmt`` / file extension)
----------------------------------
- ``json`` (``.json``, exported and imported): the document itself, floats in shortest
  round-trip form (:mod:`~hwsim.converters.formats.json_table`).
- ``csv`` (``.csv``, exported and imported): one row per code, the input interval
  ``[lower, upper)`` that maps to it and its level, after two ``#`` lines; a plain bench CSV
  without them is imported when its header row names its columns ``threshold`` or
  ``threshold,level`` (:mod:`~hwsim.converters.formats.csv_table`).
- ``mat`` (``.mat``, MATLAB v5 via :func:`scipy.io.savemat`, exported and imported)
  (:mod:`~hwsim.converters.formats.mat`).
- ``c`` (``.h``, exported and imported): a C header of threshold DAC codes and fixed-point levels
  (:mod:`~hwsim.converters.formats.c_header`).
- ``memh`` (``.mem``, ``.memh`` or ``.hex``, exported and imported): a ``$readmemh`` memory file
  for Verilog / SystemVerilog, one hex word (a threshold's DAC code) per line
  (:mod:`~hwsim.converters.formats.memh`).
- ``mif`` (``.mif``) and ``coe`` (``.coe``), exported and imported: the table's ROM image (threshold
  DAC codes, then fixed-point levels) as an Intel Memory Initialization File or a Xilinx coefficient
  file (:mod:`~hwsim.converters.formats.mif`, :mod:`~hwsim.converters.formats.coe`).

Synthesizable RTL of a table (Verilog, VHDL, a SystemVerilog package) is written by
:func:`hwsim.converters.rtl.export_rtl`, and a measured converter's table is derived from a capture
of its raw codes by :mod:`hwsim.converters.measurement` (``hwsim adc measure``).

C headers, memory files and ROM images need integer threshold codes: unless ``dac`` is given, the
thresholds are rounded to a :data:`~hwsim.converters.fixed_point.DEFAULT_DAC_BITS`-bit DAC over the
table's full scale.

Safety: every file is written atomically (temporary name, then rename) and only after all
of it has been built, so a refused export writes nothing. Import never executes code (no
pickle; ``.mat`` files are read with :func:`scipy.io.loadmat`) and reports every problem
as a ValueError naming the file.

- One validator: :func:`check_table` (thresholds, levels, full scale, units) and the DAC
  check serve both export and import, so a table one side refuses the other refuses too.
  Numbers have magnitude at most :data:`MAX_ABS_VALUE`; units are 1 to 32 printable ASCII
  characters without ``/*``, ``*/``, ``\\`` or ``??``
  (:func:`~hwsim.converters.formats.common.check_units`, importable from here too).
- Text in C headers and memory files: provenance strings (model file, SHA-256, seed,
  version, date) go into comments through
  :func:`~hwsim.converters.formats.comments.comment_text` (importable from here too), which
  keeps letters, digits and harmless punctuation and percent-encodes everything else (``/``,
  ``*``, ``?``, ``\\``, quotes, ``%``, control characters, newlines, non-ASCII), so no comment can
  end early, no line can be added and no preprocessor directive can become active. Every
  number is formatted from a float or int computed here, never copied from user text.
  The rendered header and memory file are checked against their expected structure
  before they are written. JSON and CSV carry provenance escaped by :mod:`json` (ASCII only).
- Import refuses, before parsing: files larger than ``max_bytes`` (default
  :data:`MAX_FILE_BYTES`), files whose first bytes are not those of their format (JSON: an
  object ``{``; CSV: the ``# hwsim-adc-table version 1`` line or a plain header row; MAT: the v5 header), JSON
  with more list or object entries than any table needs, CSV with more lines than any table
  needs or characters other than printable ASCII, and number literals longer than
  :data:`~hwsim.converters.formats.bounded_json.MAX_NUMBER_CHARS` characters. Tables above
  :data:`hwsim.converters.adc.MAX_LEVELS` levels are refused before any array is built.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import numbers
from pathlib import Path

import numpy as np

from .. import __version__
from .. import _checks
from .adc import MAX_LEVELS, ThresholdADC
from .fixed_point import (DEFAULT_DAC_BITS, MAX_DAC_BITS, MIN_DAC_BITS, RoundedTable, check_full_scale, dac_round,
                          default_full_scale)
from .formats import FORMATS
from .formats.common import FORMAT_NAME, FORMAT_VERSION, check_count, check_units, src_prefix
# Defined with their formats and importable from here as before (receivers read sidecars with
# parse_json_bytes, hwsim.quantizers.files writes comments with comment_text):
from .formats.comments import comment_text  # noqa: F401
from .formats.common import MAX_UNITS_CHARS  # noqa: F401
from .formats.bounded_json import MAX_JSON_ITEMS, MAX_NUMBER_CHARS, parse_json_bytes  # noqa: F401
from .formats.csv_table import MAX_CSV_LINES  # noqa: F401
from .._files import atomic_write_bytes, atomic_write_text

#: Export formats and the file extensions each accepts (the first is the usual one).
EXTENSIONS = {name: f.suffixes for name, f in FORMATS.items()}
#: Formats :func:`import_table` reads.
IMPORT_FORMATS = tuple(name for name, f in FORMATS.items() if f.importable)

#: Largest table file :func:`import_table` opens by default. A 2**16-level table with
#: full-precision numbers and a DAC section takes about 5.5 MB as JSON or CSV. To read a
#: larger file deliberately pass ``import_table(path, max_bytes=...)``.
MAX_FILE_BYTES = 16 * 2**20

#: Largest magnitude of any number in a table (thresholds, levels, full scale): far beyond any
#: converter in any unit, and small enough that spacings, full scales and LSBs stay finite.
MAX_ABS_VALUE = 1e15

_SNIFF_BYTES = 256


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
def _check_magnitude(src, name: str, values: np.ndarray) -> None:
    big = np.abs(values) > MAX_ABS_VALUE
    if np.any(big):
        i = int(np.argmax(big))
        raise ValueError(f"{src_prefix(src)}{name} must hold numbers of magnitude at most {MAX_ABS_VALUE:g} "
                         f"(hwsim.converters.tables.MAX_ABS_VALUE), but {name}[{i}] = {float(values[i])!r}")


def _check_range(src, name: str, lo, hi) -> tuple[float, float]:
    """A full-scale pair: finite floats, lo < hi, magnitude at most MAX_ABS_VALUE."""
    try:
        lo, hi = check_full_scale(name, (lo, hi))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{src_prefix(src)}{exc}") from None
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
    pre = src_prefix(src)
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
    pre = src_prefix(src)
    if not isinstance(dac, dict):
        raise ValueError(f"{pre}dac must be an object, got {type(dac).__name__}")
    bits = check_count(src, "dac bits", dac.get("bits"), minimum=MIN_DAC_BITS, maximum=MAX_DAC_BITS)
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
                                  require_dac=FORMATS[fmt].needs_dac)
    body = FORMATS[fmt].write(doc, rounded)
    if isinstance(body, bytes):
        atomic_write_bytes(path, body)
    else:
        atomic_write_text(path, body)
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
def _read_limited(path: Path, fmt: str, max_bytes: int) -> bytes:
    """The bytes of a table file: refused on size, then on its first bytes (the format's ``sniff``),
    before the rest is read."""
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
        FORMATS[fmt].sniff(path, head)
        rest = f.read(size + 1 - len(head))   # never a buffer larger than the file itself
    if len(head) + len(rest) > size:   # grew while we looked
        raise ValueError(f"{path} changed while it was being read")
    return head + rest if rest else head


def _number_list(src: str, name: str, value, max_len: int) -> np.ndarray:
    """A JSON list of finite numbers, length checked before any array is made."""
    pre = src_prefix(src)
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
        declared = check_count(src, "n_levels", doc["n_levels"], minimum=2, maximum=MAX_LEVELS)
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
    data = _read_limited(path, fmt, max_bytes)
    return _from_document(str(path), FORMATS[fmt].read(path, data, max_bytes), fmt)


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
