r"""Vector-quantizer files: a codebook or a lattice generator as JSON (exported and imported) or a C header.

The decision-table family of :mod:`hwsim.converters.tables` for vector quantizers. JSON, format
``hwsim-vector-quantizer``, version 1 (:data:`SCHEMA` is its JSON Schema)::

    {"format": "hwsim-vector-quantizer", "version": 1, "kind": "codebook", "dim": 2, "rate": 2.0,
     "codewords": [[-1.2, 0.3], ...], "provenance": {...}}
    {"format": "hwsim-vector-quantizer", "version": 1, "kind": "lattice", "dim": 2,
     "generator": [[1.0, 0.0], [0.5, 0.866...]], "shaping": null | {...}, "rate": null | 2.0, "provenance": {...}}

A lattice's points are ``u @ generator`` for integer row vectors ``u`` (rows of the generator are the
basis vectors); ``shaping`` is what the lattice module's ``export()`` writes for a bounded
codebook. The C header (``.h``) holds the same numbers as ``static const double`` arrays with
exact (shortest round-trip) decimal values, and the provenance as a comment whose text is escaped
(:func:`hwsim.converters.tables.comment_text`); it is written, not read back.

Import (:func:`import_quantizer`) reads JSON only. It refuses a file larger than
:data:`MAX_FILE_BYTES` before reading it, and, before parsing it, a file with more list or object
entries than the largest quantizer needs (:data:`MAX_JSON_ENTRIES`, :data:`MAX_JSON_CONTAINERS`):
parsed JSON takes up to 30 times its size in memory, so a 60 MB file of empty lists would take
1.7 GB; with these bounds no accepted file takes much more than the largest legitimate one (a
:data:`hwsim.quantizers.base.MAX_CODEWORDS`-codeword codebook of pairs, 55 MB, about 300 MB parsed).
Then it checks everything before building a quantizer: format and version, the kind, the dimension,
the number of codewords (:data:`hwsim.quantizers.base.MAX_CODEWORDS`) against the file's own counts
before any array is made, finite numbers, distinct codewords, a square nonsingular generator, and a
declared ``rate`` that is the rate of the codewords (:math:`\log_2(M)/n`; ``null`` only for an
unbounded lattice). Files are written atomically.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .base import MAX_CODEWORDS, MAX_DIM, Codebook

FORMAT = "hwsim-vector-quantizer"
VERSION = 1
#: Largest vector-quantizer file :func:`import_quantizer` reads (a codebook of
#: :data:`~hwsim.quantizers.base.MAX_CODEWORDS` pairs at full precision takes 55 MB).
MAX_FILE_BYTES = 64 * 2**20
#: Most list or object entries (commas, counted before parsing) in a vector-quantizer file: the numbers of a
#: codebook of :data:`~hwsim.quantizers.base.MAX_CODEWORDS` pairs and the commas between its rows, with room
#: for the provenance.
MAX_JSON_ENTRIES = 4 * MAX_CODEWORDS + 4096
#: Most lists and objects (``[`` and ``{``, counted before parsing) in a vector-quantizer file: one per codeword.
MAX_JSON_CONTAINERS = MAX_CODEWORDS + 4096
#: Largest difference between a file's declared ``rate`` and the rate of its codewords (rounding of the decimal).
RATE_TOLERANCE = 1e-9
KINDS = ("codebook", "lattice")

#: The JSON Schema of the JSON form (draft 2020-12).
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "hwsim vector quantizer",
    "type": "object",
    "required": ["format", "version", "kind", "dim"],
    "properties": {
        "format": {"const": FORMAT},
        "version": {"const": VERSION},
        "kind": {"enum": list(KINDS)},
        "dim": {"type": "integer", "minimum": 1, "maximum": MAX_DIM},
        "rate": {"type": ["number", "null"], "description": "bits per dimension (null: an unbounded lattice)"},
        "codewords": {"type": "array", "maxItems": MAX_CODEWORDS,
                      "items": {"type": "array", "items": {"type": "number"}}},
        "generator": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
        "shaping": {"type": ["object", "null"]},
        "provenance": {"type": "object"},
    },
    "allOf": [
        {"if": {"properties": {"kind": {"const": "codebook"}}}, "then": {"required": ["codewords"]}},
        {"if": {"properties": {"kind": {"const": "lattice"}}}, "then": {"required": ["generator"]}},
    ],
}


def quantizer_document(vq, provenance: dict | None = None) -> dict:
    """The JSON document of a vector quantizer (its ``export()`` with the format fields and provenance)."""
    doc = dict(vq.export())
    kind = doc.get("kind")
    if kind not in KINDS:
        raise ValueError(f"the quantizer exports kind {kind!r}; files hold {', '.join(KINDS)}")
    rate = vq.rate if kind == "codebook" else doc.get("rate")
    if rate is not None and not math.isfinite(rate):
        rate = None
    out = {"format": FORMAT, "version": VERSION, **doc, "rate": rate}
    if provenance:
        out["provenance"] = provenance
    return out


def export_quantizer(vq, path, fmt: str | None = None, *, provenance: dict | None = None) -> Path:
    """Write ``vq`` to ``path`` as ``json`` or ``c`` (default: from the suffix, .json or .h), atomically."""
    from hwsim._files import atomic_write_text

    path = Path(path)
    fmt = fmt or {".json": "json", ".h": "c"}.get(path.suffix.lower())
    if fmt not in ("json", "c"):
        raise ValueError(f"fmt must be 'json' or 'c' (or a path ending in .json or .h), got {fmt or path.suffix!r}")
    doc = quantizer_document(vq, provenance)
    text = json.dumps(doc, indent=1) + "\n" if fmt == "json" else _render_c(doc)
    atomic_write_text(path, text)
    return path


def _render_c(doc: dict) -> str:
    from hwsim.converters.tables import comment_text

    dim = doc["dim"]
    rows = doc["codewords"] if doc["kind"] == "codebook" else doc["generator"]
    what = (f"codebook, {len(rows)} codewords of dimension {dim}" if doc["kind"] == "codebook"
            else f"lattice generator {dim} x {dim} (points u @ G for integer row vectors u)")
    lines = [f"/* hwsim vector quantizer ({FORMAT} version {VERSION}): {comment_text(what)} */"]
    if doc.get("rate") is not None:
        lines.append(f"/* rate: {comment_text(doc['rate'])} bits per dimension */")
    for key, value in (doc.get("provenance") or {}).items():
        lines.append(f"/* {comment_text(key, 40)}: {comment_text(value)} */")
    if doc["kind"] == "lattice" and doc.get("shaping"):
        lines.append(f"/* shaping: {comment_text(doc['shaping'])} */")
    lines += ["#ifndef HWSIM_VQ_H", "#define HWSIM_VQ_H", f"#define HWSIM_VQ_DIM {dim}"]
    if doc["kind"] == "codebook":
        lines.append(f"#define HWSIM_VQ_SIZE {len(rows)}")
        lines.append("static const double hwsim_vq_codewords[HWSIM_VQ_SIZE][HWSIM_VQ_DIM] = {")
    else:
        lines.append("static const double hwsim_vq_generator[HWSIM_VQ_DIM][HWSIM_VQ_DIM] = {")
    lines += ["    {" + ", ".join(repr(float(v)) for v in row) + "}," for row in rows]
    lines += ["};", "#endif", ""]
    return "\n".join(lines)


def import_quantizer(path, *, max_bytes: int | None = None):
    """Read a JSON vector-quantizer file: ``(quantizer, document)`` (a :class:`Codebook`, or a lattice
    built by :func:`hwsim.quantizers.lattices.from_export`); a clear ValueError for anything wrong."""
    path = Path(path)
    limit = MAX_FILE_BYTES if max_bytes is None else int(max_bytes)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    if not path.is_file():
        raise ValueError(f"{path} is not a file")
    if size > limit:
        raise ValueError(f"{path} holds {size} bytes, more than the limit of {limit} for a vector-quantizer file "
                         "(hwsim.quantizers.files.MAX_FILE_BYTES; pass max_bytes to read a larger one)")
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path} grew past the limit of {limit} bytes for a vector-quantizer file while it was read")
    if data[:1] != b"{":
        raise ValueError(f"{path} is not a JSON vector-quantizer file (it does not start with '{{')")
    _check_entries(path, data, max(1.0, limit / MAX_FILE_BYTES))
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: bad JSON or a huge integer
        raise ValueError(f"{path} is not valid JSON ({type(exc).__name__})") from None
    return from_document(doc, str(path)), doc


def _check_entries(path, data: bytes, factor: float = 1.0) -> None:
    """Refuse, before parsing, JSON with more entries or containers than any quantizer file needs (see the
    module text: parsing takes many times the file's size); ``factor`` scales the bounds for a file read
    deliberately with a larger ``max_bytes``."""
    entries = data.count(b",")
    containers = data.count(b"[") + data.count(b"{")
    for count, bound, what in ((entries, MAX_JSON_ENTRIES, "list or object entries"),
                               (containers, MAX_JSON_CONTAINERS, "lists and objects")):
        limit = int(bound * factor)
        if count > limit:
            raise ValueError(f"{path} ({len(data)} bytes) holds about {count} {what}, more than the {limit} that "
                             f"the largest vector-quantizer file needs ({MAX_CODEWORDS} codewords of dimension 2; "
                             "hwsim.quantizers.files.MAX_JSON_ENTRIES, MAX_JSON_CONTAINERS); refused before parsing")


def _check_rate(src: str, doc: dict, quantizer) -> None:
    """A declared ``rate`` must be the quantizer's: log2(M)/n for M codewords, null for an unbounded lattice."""
    if "rate" not in doc:
        return
    declared = doc["rate"]
    if declared is not None and (isinstance(declared, bool) or not isinstance(declared, (int, float))
                                 or not math.isfinite(declared)):
        raise ValueError(f"{src}: rate must be a finite number of bits per dimension or null, got {declared!r}")
    size = getattr(quantizer, "size", None)
    if size is None:
        if declared is not None:
            raise ValueError(f"{src}: rate = {declared!r} bits per dimension, but the file describes an unbounded "
                             "lattice (shaping null: infinitely many points, rate null)")
        return
    actual = math.log2(size) / quantizer.dim
    if declared is None or abs(float(declared) - actual) > RATE_TOLERANCE * max(1.0, actual):
        raise ValueError(f"{src}: rate = {declared!r} bits per dimension, but its {size} codewords of dimension "
                         f"{quantizer.dim} give log2({size}) / {quantizer.dim} = {actual!r}")


def from_document(doc, src: str = "the document"):
    """A quantizer from a document of :func:`quantizer_document` (checked, see the module text)."""
    from hwsim._files import check_format

    check_format(doc, src, FORMAT, VERSION, "an hwsim vector quantizer")
    kind = doc.get("kind")
    if kind not in KINDS:
        raise ValueError(f"{src}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    dim = doc.get("dim")
    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= MAX_DIM:
        raise ValueError(f"{src}: dim must be a whole number in [1, {MAX_DIM}], got {dim!r}")
    key = "codewords" if kind == "codebook" else "generator"
    rows = doc.get(key)
    count_limit = MAX_CODEWORDS if kind == "codebook" else dim
    if not isinstance(rows, list) or not rows or len(rows) > count_limit:
        raise ValueError(f"{src}: {key} must be a list of 1 to {count_limit} rows, got "
                         f"{len(rows) if isinstance(rows, list) else type(rows).__name__}")
    if not all(isinstance(r, list) and len(r) == dim for r in rows):
        raise ValueError(f"{src}: every row of {key} must hold dim = {dim} numbers")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for r in rows for v in r):
        raise ValueError(f"{src}: {key} must hold numbers only")
    values = np.asarray(rows, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{src}: {key} holds values that are not finite")
    try:
        if kind == "codebook":
            quantizer = Codebook(values)
        else:
            from .lattices import from_export

            quantizer = from_export(doc)
    except ValueError as exc:
        raise ValueError(f"{src}: {exc}") from None
    _check_rate(src, doc, quantizer)
    return quantizer


__all__ = ["FORMAT", "MAX_FILE_BYTES", "MAX_JSON_CONTAINERS", "MAX_JSON_ENTRIES", "SCHEMA", "VERSION",
           "export_quantizer", "from_document", "import_quantizer", "quantizer_document"]
