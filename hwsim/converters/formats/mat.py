"""``mat`` (``.mat``, exported and imported): MATLAB v5, written by :func:`scipy.io.savemat`.

Variables ``format`` (char), ``version``, ``n_levels``, ``bits``, ``thresholds`` [1 x M-1],
``levels`` [1 x M], ``codes`` [1 x M] (int32), ``full_scale`` [1 x 2], ``units`` (char) and
``metadata`` (char: JSON with ``provenance`` and ``dac``; ``jsondecode`` it).

Import never executes code: the file must start with the v5 header, its elements may not
inflate beyond ``max_bytes`` (``_check_mat_inflation``, before scipy sees the file), no
variable may hold more entries than a table needs (checked with :func:`scipy.io.whosmat`), and
only then is it read with :func:`scipy.io.loadmat`; the ``metadata`` JSON is parsed by
:func:`~hwsim.converters.formats.bounded_json.parse_json_bytes`.
"""

from __future__ import annotations

import io
import json
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from ..adc import MAX_LEVELS
from .common import FORMAT_NAME, FORMAT_VERSION, TableFormat
from .bounded_json import parse_json_bytes


def write(doc: dict, rounded=None) -> bytes:
    """The document as MATLAB v5 bytes (``rounded`` is not used: a DAC section is already in ``doc``)."""
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


def sniff(path: Path, head: bytes) -> None:
    """Refuse a file without the MATLAB v5 header."""
    if not head.startswith(b"MATLAB 5.0 MAT-file"):
        raise ValueError(f"{path} is not a MATLAB v5 .mat file (its header does not start with "
                         "'MATLAB 5.0 MAT-file')")


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


def read(path: Path, data: bytes, max_bytes: int) -> dict:
    """The canonical document of a ``.mat`` table (checked afterwards by :mod:`hwsim.converters.tables`)."""
    src = str(path)
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
        meta = parse_json_bytes(path, meta_text.encode())
        if not isinstance(meta, dict):
            raise ValueError(f"{src}: variable metadata must hold a JSON object")
        for key in ("provenance", "dac"):
            if key in meta:
                doc[key] = meta[key]
    return doc


FORMAT = TableFormat("mat", (".mat",), write, sniff=sniff, read=read)
