r"""Reading back the files hwsim writes for hardware tools: the C header, the ``$readmemh`` memory
file, the Intel MIF and the Xilinx COE file.

These files hold integers (threshold DAC codes, fixed-point levels), not the table's floats. What
turns them back into a table is the comment block every one of them begins with
(:func:`~hwsim.converters.formats.comments.header_lines`): the table's full scale and units, the
threshold DAC's bits and range, and where the format states it, the fixed-point format of the
levels. :func:`parse_header` reads that block back; a file without it (not written by hwsim, or
edited) is refused, since nothing else in it says what its integers mean.

Import rebuilds each threshold exactly as :func:`hwsim.converters.fixed_point.dac_round` built the
rounded one, ``min + code * LSB`` with ``LSB = (max - min) / 2**bits`` in float64, so a round trip
gives the DAC-rounded thresholds (``dac_round(...).adc.thresholds``), and the levels to within half
an LSB of their fixed-point format.

Every problem is a ValueError naming the file and the line (1-based).
"""

from __future__ import annotations

import math
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..adc import MAX_LEVELS
from ..fixed_point import MAX_DAC_BITS, MIN_DAC_BITS
from .common import FORMAT_NAME, FORMAT_VERSION, check_units

#: A number as :func:`~hwsim.converters.formats.comments.num` writes it (finite ``repr`` of a float or an int).
NUM = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
#: Most lines a hardware table file may have (two lines per level, the header and a margin).
MAX_HW_LINES = 2 * MAX_LEVELS + 64

#: The first words of every hardware file's first comment line.
TITLE = f"hwsim ADC decision table ({FORMAT_NAME} version {FORMAT_VERSION})"

_PROVENANCE_KEYS = ("model_file", "model_sha256", "seed")


def line_error(path, line: int, message: str) -> ValueError:
    """``ValueError("PATH: line N: message")``."""
    return ValueError(f"{path}: line {line}: {message}")


def sniff_title(path: Path, head: bytes, prefix: str, what: str) -> None:
    """Refuse a file whose first line is not ``prefix`` + the title hwsim writes (``what``: the format's name)."""
    want = f"{prefix} {TITLE}".encode()
    if not head.startswith(want):
        raise ValueError(f"{path} is not {what} written by hwsim: its first line must start with "
                         f"{want.decode()!r} (the comment block that gives the full scale, the DAC and the level "
                         f"format; without it the file's integers have no meaning), but the file starts with "
                         f"{head[:48]!r}")


def text_lines(path: Path, data: bytes, what: str) -> list[str]:
    """The lines of a hardware table file: printable ASCII and line ends only, at most :data:`MAX_HW_LINES`."""
    bad = re.search(rb"[^\x20-\x7e\t\r\n]|\r(?!\n)", data)
    if bad:
        line = data.count(b"\n", 0, bad.start()) + 1
        raise line_error(path, line, f"{what} files hold only printable ASCII and line ends, but byte "
                                     f"{bad.start()} is {data[bad.start():bad.start() + 1]!r}")
    n_lines = data.count(b"\n")
    if n_lines > MAX_HW_LINES:
        raise ValueError(f"{path}: {n_lines} lines, more than the {MAX_HW_LINES} of any {MAX_LEVELS}-level table")
    lines = data.decode("ascii").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def comment_body(line: str, prefix: str) -> str | None:
    """The text of a comment line (``prefix`` and one space removed), or None when it is not one."""
    if not line.startswith(prefix):
        return None
    body = line[len(prefix):]
    return body[1:] if body.startswith(" ") else body


@dataclass
class Header:
    """What the comment block of a hardware table file says (:func:`parse_header`)."""

    n_levels: int
    full_scale: tuple[float, float]
    units: str
    dac_bits: int
    dac_full_scale: tuple[float, float]
    lsb: float
    provenance: dict = field(default_factory=dict)
    end: int = 0        # index (0-based) of the first line after the block

    def thresholds(self, codes) -> list[float]:
        """The thresholds ``min + code * LSB`` of the DAC codes (float64, as dac_round computes them)."""
        c = np.asarray(codes, dtype=np.int64)
        return [float(v) for v in self.dac_full_scale[0] + c * self.lsb]

    def document(self, codes, levels) -> dict:
        """The canonical document of the file (checked afterwards by :mod:`hwsim.converters.tables`)."""
        lo, hi = self.dac_full_scale
        return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "n_levels": self.n_levels,
                "thresholds": self.thresholds(codes), "levels": [float(v) for v in levels],
                "full_scale": {"min": self.full_scale[0], "max": self.full_scale[1], "units": self.units},
                "provenance": self.provenance,
                "dac": {"bits": self.dac_bits, "full_scale": {"min": lo, "max": hi}, "lsb": self.lsb,
                        "threshold_codes": [int(c) for c in codes]}}


def _unquote(text: str) -> str:
    """Undo :func:`~hwsim.converters.formats.comments.comment_text`'s percent-encoding (``%XX``)."""
    return urllib.parse.unquote(text, errors="replace")


def parse_header(path, lines: list[str], prefix: str, *, start: int = 0, pct: str = "%") -> Header:
    """Read the comment block that :func:`~hwsim.converters.formats.comments.header_lines` wrote.

    Parameters
    ----------
    path : str or Path
        The file (named in every message).
    lines : list of str
        The file's lines.
    prefix : str
        The comment marker of the block's lines (``"//"``, ``" *"``, ``"--"``, ``";"``).
    start : int
        Index of the block's first line.
    pct : str
        The character that stands for ``%`` in the percent-encoded provenance (``"*"`` in a MIF file,
        where ``%`` opens a comment).

    Returns
    -------
    Header
    """
    def body(i: int, what: str) -> str:
        if i >= len(lines):
            raise line_error(path, i + 1, f"the file ends inside its header comment block (expected {what})")
        text = comment_body(lines[i], prefix)
        if text is None:
            raise line_error(path, i + 1, f"expected the comment line {prefix} {what}, got {lines[i][:80]!r}")
        return text

    i = start
    first = body(i, TITLE)
    m1 = re.fullmatch(re.escape(TITLE) + r", generated by hwsim (\S+) at (\S+)", first)
    if m1 is None:
        raise line_error(path, i + 1, f"expected '{TITLE}, generated by hwsim VERSION at DATE', got {first[:120]!r}")
    second = body(i + 1, "levels M = ..., full scale [min, max] UNITS")
    m2 = re.fullmatch(rf"levels M = ([0-9]+), thresholds M-1 = ([0-9]+), full scale \[({NUM}), ({NUM})\] (.+)", second)
    if m2 is None:
        raise line_error(path, i + 2, "expected 'levels M = M, thresholds M-1 = M-1, full scale [MIN, MAX] UNITS', "
                                      f"got {second[:120]!r}")
    m = int(m2.group(1)) if len(m2.group(1)) <= 6 else MAX_LEVELS + 1
    if not 2 <= m <= MAX_LEVELS or int(m2.group(2)) != m - 1:
        raise line_error(path, i + 2, f"levels M must lie in [2, {MAX_LEVELS}] with M-1 thresholds, got "
                                      f"{m2.group(1)[:12]} and {m2.group(2)[:12]}")
    try:
        units = check_units(None, m2.group(5))
    except ValueError as exc:
        raise line_error(path, i + 2, str(exc)) from None
    fs = (float(m2.group(3)), float(m2.group(4)))
    third = body(i + 2, "threshold DAC: N bits over [min, max] UNITS, LSB = ...")
    u = re.escape(units)
    m3 = re.fullmatch(rf"threshold DAC: ([0-9]+) bits over \[({NUM}), ({NUM})\] {u}, LSB = \(max - min\) / "
                      rf"2\^([0-9]+) = ({NUM}) {u}", third)
    if m3 is None:
        raise line_error(path, i + 3, "expected 'threshold DAC: N bits over [MIN, MAX] UNITS, LSB = (max - min) / "
                                      f"2^N = LSB UNITS', got {third[:120]!r}")
    bits = int(m3.group(1)) if len(m3.group(1)) <= 3 else 0
    if not MIN_DAC_BITS <= bits <= MAX_DAC_BITS or m3.group(4) != m3.group(1):
        raise line_error(path, i + 3, f"DAC bits must lie in [{MIN_DAC_BITS}, {MAX_DAC_BITS}] (and be the N of "
                                      f"2^N), got {m3.group(1)[:12]}")
    dlo, dhi = float(m3.group(2)), float(m3.group(3))
    if not (math.isfinite(dlo) and math.isfinite(dhi) and dlo < dhi):
        raise line_error(path, i + 3, f"the DAC range must have min < max, got [{dlo!r}, {dhi!r}]")
    lsb = (dhi - dlo) / 2**bits
    if float(m3.group(5)) != lsb:
        raise line_error(path, i + 3, f"LSB = {m3.group(5)} is not (max - min) / 2^{bits} = {lsb!r}: the file was "
                                      "edited; refusing to guess which number is right")
    fourth = body(i + 3, "threshold value = min + code * LSB; ...")
    if not fourth.startswith("threshold value = min + code * LSB;"):
        raise line_error(path, i + 4, f"expected 'threshold value = min + code * LSB; ...', got {fourth[:120]!r}")
    prov = {"hwsim_version": _unquote(m1.group(1)), "created_utc": _unquote(m1.group(2))}
    j = i + 4
    while j < len(lines):
        text = comment_body(lines[j], prefix)
        key = text.split(":", 1)[0] if text and ":" in text else None
        if key not in _PROVENANCE_KEYS:
            break
        value = text.split(":", 1)[1].strip()
        prov[key] = _unquote(value.replace(pct, "%") if pct != "%" else value)
        j += 1
    return Header(n_levels=m, full_scale=fs, units=units, dac_bits=bits, dac_full_scale=(dlo, dhi), lsb=lsb,
                  provenance=prov, end=j)


def check_codes(path, header: Header, codes: list[int], where: list[int]) -> None:
    """Refuse threshold codes that are not M-1 strictly increasing codes of the header's DAC.

    ``where``: the 1-based line of each code (named in the messages).
    """
    m = header.n_levels
    if len(codes) != m - 1:
        raise ValueError(f"{path}: the header says M = {m} levels, so M-1 = {m - 1} threshold codes, but the file "
                         f"holds {len(codes)}")
    top = 2**header.dac_bits - 1
    for k, (c, line) in enumerate(zip(codes, where)):
        if not 0 <= c <= top:
            raise line_error(path, line, f"threshold code {c} of t_{k + 1} is not a code of the {header.dac_bits}-bit "
                                         f"DAC (0 to {top})")
        if k and c <= codes[k - 1]:
            raise line_error(path, line, f"threshold codes must be strictly increasing, but t_{k + 1} has code {c} "
                                         f"<= {codes[k - 1]} of t_{k}")
