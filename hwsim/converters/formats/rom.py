r"""The FPGA ROM image of a decision table that the MIF (:mod:`~hwsim.converters.formats.mif`) and
COE (:mod:`~hwsim.converters.formats.coe`) files hold: one memory of ``2M - 1`` words of
``WIDTH`` bits.

Address map (``M`` levels, ``N``-bit threshold DAC):

- words ``0 .. M-2``: word ``k`` is the DAC code of threshold ``t_{k+1}`` (unsigned, zero-extended
  to ``WIDTH`` bits): the comparator references, loaded into the DAC registers at start-up;
- words ``M-1 .. 2M-2``: word ``M-1+c`` is the reconstruction level of code ``c`` in signed fixed
  point ``Qm.n`` (``WIDTH``-bit two's complement): the look-up table a received code addresses
  (offset ``M-1``).

``WIDTH = max(N, 18)`` (18 bits: the natural width of an FPGA block RAM, Intel M9K/M20K and
Xilinx RAMB18, and of the DSP multipliers), and ``Qm.n`` is the ``WIDTH``-bit signed format with
the most fraction bits that holds every level without saturating
(:meth:`hwsim.qformat.QFormat.covering`); levels are rounded to nearest, so each is off by at most
half its LSB ``2**-n``. Words are written in hexadecimal, ``ceil(WIDTH / 4)`` digits each. The
comment block before the data states all of this (:func:`layout_lines`); import reads it back
from there (the ``level format:`` line).
"""

from __future__ import annotations

import re

import numpy as np

from ...qformat import QFormat
from ..fixed_point import RoundedTable
from .comments import num
from .hw_text import Header, check_codes, line_error

#: Narrowest ROM word.
MIN_ROM_WIDTH = 18

_FORMAT_LINE = re.compile(r"level format: (Q-?[0-9]+\.-?[0-9]+) \(([0-9]+)-bit two's complement\), "
                          r"level = q \* 2\^\((-?[0-9]+)\)")


def level_format(levels, width: int) -> QFormat:
    """The ``width``-bit signed format with the most fraction bits that holds every level."""
    peak = float(np.max(np.abs(levels)))
    try:
        return QFormat.covering(peak, width, signed=True)
    except ValueError as exc:
        raise ValueError(f"levels up to {peak:g} have no {width}-bit fixed-point format ({exc})") from None


def image(doc: dict, rounded: RoundedTable) -> tuple[int, QFormat, list[int], list[str]]:
    """``(WIDTH, level format, words as unsigned WIDTH-bit patterns, a description of each word)``."""
    width = max(int(rounded.bits), MIN_ROM_WIDTH)
    levels = np.asarray(doc["levels"], dtype=np.float64)
    q = level_format(levels, width)
    ints = q.to_int(levels, rounding="nearest", overflow="error", name="levels")
    mask = (1 << width) - 1
    words = [int(c) for c in rounded.codes] + [int(v) & mask for v in ints]
    notes = [f"t_{k + 1} = {num(t)}" for k, t in enumerate(doc["thresholds"])]
    notes += [f"level of code {c} = {num(g)}" for c, g in enumerate(levels)]
    return width, q, words, notes


def layout_lines(m: int, width: int, q: QFormat) -> list[str]:
    """Comment lines (without the marker) that state the address map and the level format."""
    return [f"ROM of {2 * m - 1} words of {width} bits (hexadecimal):",
            f"  words 0 .. {m - 2}: word k = DAC code of threshold t_(k+1) (unsigned, zero-extended)",
            f"  words {m - 1} .. {2 * m - 2}: word {m - 1} + c = reconstruction level of code c",
            f"level format: {q.name} ({width}-bit two's complement), level = q * 2^({-q.frac})"]


def parse_level_format(path, lines: list[str], comments: dict[int, str]) -> tuple[int, int, int]:
    """``(WIDTH, frac, line)`` from the ``level format:`` comment (``comments``: line index -> comment text)."""
    for i, text in comments.items():
        if text.startswith("level format:"):
            m = _FORMAT_LINE.fullmatch(text)
            if m is None:
                raise line_error(path, i + 1, "expected 'level format: Qm.n (W-bit two's complement), level = q * "
                                              f"2^(-n)', got {text[:100]!r}")
            width, frac = int(m.group(2)), -int(m.group(3))
            try:
                q = QFormat.parse(m.group(1))
            except ValueError as exc:
                raise line_error(path, i + 1, str(exc)) from None
            if q.word != width or q.frac != frac:
                raise line_error(path, i + 1, f"{m.group(1)} is not a {width}-bit format with level = q * "
                                              f"2^({-frac}): the line contradicts itself")
            return width, frac, i + 1
    raise ValueError(f"{path}: no 'level format: ...' comment line, so the level words have no meaning (a ROM file "
                     "not written by hwsim, or edited)")


def document(path, header: Header, width: int, frac: int, words: list[int], where: list[int]) -> dict:
    """The canonical document of a ROM image (words as unsigned patterns, ``where`` their 1-based lines)."""
    m = header.n_levels
    if len(words) != 2 * m - 1:
        raise ValueError(f"{path}: the header says M = {m} levels, so a ROM of 2M-1 = {2 * m - 1} words, but the "
                         f"file holds {len(words)}")
    for w, line in zip(words, where):
        if not 0 <= w < 1 << width:
            raise line_error(path, line, f"word {w:x} does not fit {width} bits")
    codes = words[:m - 1]
    check_codes(path, header, codes, where[:m - 1])
    signed = [w - (1 << width) if w >> (width - 1) else w for w in words[m - 1:]]
    q = QFormat(width, frac, True)
    levels = q.to_float(np.array(signed, dtype=np.int64))
    return header.document(codes, levels)
