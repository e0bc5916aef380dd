"""``json`` (``.json``, exported and imported): the canonical table document itself.

The document (schema version 1) is the one :func:`hwsim.converters.tables.table_document`
builds and :mod:`hwsim.converters.tables` describes, written with ``indent=2`` and a final
newline. Floats are written with Python's shortest round-trip representation, so an import
gives bit-identical thresholds and levels; provenance is escaped by :mod:`json` (ASCII only).

Import: the file must start (after white space) with ``{``, and is parsed by
:func:`~hwsim.converters.formats.bounded_json.parse_json_bytes` with the limits of a table file.
"""

from __future__ import annotations

import json
from pathlib import Path

from .common import TableFormat
from .bounded_json import parse_json_bytes


def write(doc: dict, rounded=None) -> str:
    """The document as JSON text (``rounded`` is not used: a DAC section is already in ``doc``)."""
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


def sniff(path: Path, head: bytes) -> None:
    """Refuse a file that does not start with a JSON object."""
    if head.lstrip(b" \t\r\n")[:1] != b"{":
        raise ValueError(f"{path} is not a JSON table file: it must start with '{{' (a JSON object), but starts "
                         f"with {head[:24]!r}")


def read(path: Path, data: bytes, max_bytes: int):
    """The document a JSON table file holds (checked afterwards by :mod:`hwsim.converters.tables`)."""
    return parse_json_bytes(path, data)


FORMAT = TableFormat("json", (".json",), write, sniff=sniff, read=read)
