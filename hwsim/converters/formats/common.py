"""What every table file format shares: the document's name and version, the units rule, the
whole-number check, and :class:`TableFormat`, the entry a format module registers.

The registry itself is :data:`hwsim.converters.formats.FORMATS`;
:mod:`hwsim.converters.tables` dispatches through it.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

FORMAT_NAME = "hwsim-adc-table"
FORMAT_VERSION = 1

MAX_UNITS_CHARS = 32

_UNSAFE_TEXT = re.compile(r"[^\x20-\x7e]|/\*|\*/|\\|\?\?")


@dataclass(frozen=True)
class TableFormat:
    """One table file format, as a format module registers it.

    Attributes
    ----------
    name : str
        The ``fmt`` of :func:`~hwsim.converters.tables.export_table` (``"json"``, ``"csv"``, ...).
    suffixes : tuple of str
        File extensions, lower case with the dot; the first is the usual one.
    write : callable
        ``write(doc, rounded) -> str | bytes``: the file's content for the canonical document
        ``doc`` (:func:`~hwsim.converters.tables.table_document`) and its DAC rounding
        ``rounded`` (a :class:`~hwsim.converters.fixed_point.RoundedTable`, or None unless
        ``needs_dac``). Text is written as UTF-8, bytes as they are; nothing is written when it raises.
    needs_dac : bool
        The format holds integer threshold codes: export rounds to the default DAC when none is given.
    sniff : callable or None
        ``sniff(path, head)``: raise ValueError naming ``path`` when the file's first bytes
        ``head`` are not those of this format (called before the rest is read).
    read : callable or None
        ``read(path, data, max_bytes) -> document``: the file's bytes (already bounded by
        ``max_bytes`` and sniffed) as a canonical document, which
        :func:`~hwsim.converters.tables.import_table` then checks; None for an export-only format.
    """

    name: str
    suffixes: tuple[str, ...]
    write: Callable[..., str | bytes]
    needs_dac: bool = False
    sniff: Callable[[Path, bytes], None] | None = None
    read: Callable[[Path, bytes, int], object] | None = None

    @property
    def importable(self) -> bool:
        return self.read is not None


def src_prefix(src) -> str:
    """``"SRC: "`` to start a message about file ``src``, or nothing when ``src`` is None (an argument)."""
    return f"{src}: " if src else ""


def check_units(src, units) -> str:
    """``units`` if it is 1 to 32 printable ASCII characters, not blank, without ``/*``, ``*/``, ``\\`` or ``??``.

    ``src``: the file being read (named in the message), or None for an argument.
    """
    if not isinstance(units, str) or not units.strip() or len(units) > MAX_UNITS_CHARS \
            or _UNSAFE_TEXT.search(units):
        raise ValueError(f"{src_prefix(src)}units must be 1 to {MAX_UNITS_CHARS} printable ASCII characters, not "
                         "blank, without '/*', '*/', a backslash or '??' (for example 'V' or 'mV'), got "
                         f"{units if not isinstance(units, str) else units[:80]!r}")
    return units


def check_count(src: str, name: str, value, *, minimum: int, maximum: int) -> int:
    """``value`` as an int if it is a whole number in ``[minimum, maximum]`` (a count read from a file)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or not float(value).is_integer():
        raise ValueError(f"{src_prefix(src)}{name} must be a whole number, got {value!r}")
    value = int(value)
    if not minimum <= value <= maximum:
        raise ValueError(f"{src_prefix(src)}{name} must lie in [{minimum}, {maximum}], got {value}")
    return value
