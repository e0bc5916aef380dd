"""Decision-table file formats, one module each, and the registry :mod:`hwsim.converters.tables`
dispatches through (its :func:`~hwsim.converters.tables.export_table` and
:func:`~hwsim.converters.tables.import_table` are the interface; use those).

- :mod:`~hwsim.converters.formats.json_table`: ``json`` (``.json``), the canonical document; export and import
- :mod:`~hwsim.converters.formats.csv_table`: ``csv`` (``.csv``), one row per code (or a plain CSV of
  thresholds and levels); export and import
- :mod:`~hwsim.converters.formats.c_header`: ``c`` (``.h``), a C header of DAC codes and fixed-point levels;
  export and import
- :mod:`~hwsim.converters.formats.memh`: ``memh`` (``.mem``, ``.memh``, ``.hex``), a ``$readmemh`` file;
  export and import
- :mod:`~hwsim.converters.formats.mat`: ``mat`` (``.mat``), MATLAB v5; export and import
- :mod:`~hwsim.converters.formats.mif`: ``mif`` (``.mif``), an Intel (Quartus) Memory Initialization File of
  the table's ROM image (:mod:`~hwsim.converters.formats.rom`); export and import
- :mod:`~hwsim.converters.formats.coe`: ``coe`` (``.coe``), a Xilinx (Vivado) coefficient file of the same
  ROM image; export and import

Every format hwsim writes imports back. The integer formats (``c``, ``memh``, ``mif``, ``coe``) give
the DAC-rounded thresholds (``min + code * LSB``) and the levels of their fixed-point words, read
with the comment block they begin with (:mod:`~hwsim.converters.formats.hw_text`).

Shared by them: :mod:`~hwsim.converters.formats.common` (the document's name and version, the
units and count checks, :class:`~hwsim.converters.formats.common.TableFormat`),
:mod:`~hwsim.converters.formats.comments` (safe comment text for the C header and the memory
file) and :mod:`~hwsim.converters.formats.bounded_json` (the bounded JSON parser, which the
receivers' sidecars use too).

A new format is one module: give it ``write(doc, rounded)`` (and ``sniff(path, head)`` and
``read(path, data, max_bytes)`` if it is imported), end it with
``FORMAT = TableFormat(name, suffixes, write, ...)`` and add that entry to :data:`FORMATS` below.
What a format reads is a canonical document; :mod:`hwsim.converters.tables` checks it (the one
validator) and builds the table, so a format module never validates a table itself.
"""

from __future__ import annotations

from . import c_header, coe, csv_table, json_table, mat, memh, mif
from .common import TableFormat

#: Format name -> its entry, in the order the formats are listed in messages.
FORMATS: dict[str, TableFormat] = {f.name: f for f in (json_table.FORMAT, csv_table.FORMAT, c_header.FORMAT,
                                                       memh.FORMAT, mat.FORMAT, mif.FORMAT, coe.FORMAT)}

__all__ = ["FORMATS", "TableFormat"]
