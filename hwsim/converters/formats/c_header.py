r"""``c`` (``.h``, exported and imported): a C header for firmware.

An include guard, ``#define``\s for the level count and the scaling, ``static const`` arrays of
the threshold DAC codes (``uint32_t``) and the levels in signed fixed point (``int32_t``, ``Q``
format stated in the header). Threshold ``k`` is ``HWSIM_ADC_FS_MIN + code * HWSIM_ADC_LSB``
and a level is ``q / 2**HWSIM_ADC_LEVEL_FRAC_BITS``.

The header needs integer threshold codes (``needs_dac``): unless a ``dac`` is given, export
rounds the thresholds to a :data:`~hwsim.converters.fixed_point.DEFAULT_DAC_BITS`-bit DAC over
the table's full scale. Provenance reaches it only through
:func:`~hwsim.converters.formats.comments.comment_text`, and the rendered text is checked
against its expected structure (``_verify_c``) before anything is written.

Import (:func:`read`) needs the comment block hwsim writes first
(:func:`~hwsim.converters.formats.hw_text.parse_header`) and the ``#define``\s and the two arrays
laid out as export writes them (a header edited by hand or written by another tool is refused with
the line that differs): the thresholds are ``HWSIM_ADC_FS_MIN + code * HWSIM_ADC_LSB`` (the
DAC-rounded ones, not the ``t_k = ...`` values of the comments), the levels
``q / 2**HWSIM_ADC_LEVEL_FRAC_BITS``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from ..fixed_point import RoundedTable
from .comments import header_lines, num
from .common import TableFormat
from .hw_text import NUM, check_codes, line_error, parse_header, sniff_title, text_lines

_C_PREFIX = "HWSIM_ADC"


def level_frac_bits(levels: np.ndarray) -> int:
    """Fraction bits of a signed 32-bit fixed-point format that holds every level (at most 16)."""
    peak = float(np.max(np.abs(levels)))
    int_bits = max(0, math.floor(math.log2(peak)) + 1) if peak > 0 else 0
    frac = min(16, 31 - int_bits - 1)
    if frac < 0:
        raise ValueError(f"levels up to {peak:g} do not fit a signed 32-bit fixed-point format")
    return frac


def write(doc: dict, rounded: RoundedTable) -> str:
    """The document and its DAC rounding as a C header."""
    levels = np.asarray(doc["levels"])
    frac = level_frac_bits(levels)
    q = np.rint(levels * 2.0**frac).astype(np.int64)
    m = doc["n_levels"]
    p = _C_PREFIX
    guard = f"{p}_TABLE_H"
    out = ["/*"]
    out += header_lines(doc, rounded, " *")
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
            f"#define {p}_FS_MIN ({num(rounded.full_scale[0])})",
            f"#define {p}_FS_MAX ({num(rounded.full_scale[1])})",
            f"#define {p}_LSB ({num(rounded.lsb)})  /* ({p}_FS_MAX - {p}_FS_MIN) / 2^{p}_DAC_BITS */",
            f"#define {p}_LEVEL_FRAC_BITS {frac}",
            "",
            f"static const uint32_t {p.lower()}_threshold_codes[{p}_N_THRESHOLDS] = {{"]
    for k, (c, t) in enumerate(zip(rounded.codes, doc["thresholds"])):
        out.append(f"    {int(c)}u{',' if k < m - 2 else ''}  /* t_{k + 1} = {num(t)} */")
    out += ["};", "", f"static const int32_t {p.lower()}_levels_q[{p}_N_LEVELS] = {{"]
    for c, (v, g) in enumerate(zip(q, levels)):
        out.append(f"    {int(v)}{',' if c < m - 1 else ''}  /* code {c}: {num(g)} */")
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


def sniff(path: Path, head: bytes) -> None:
    """Refuse a file that does not begin with the comment block hwsim writes."""
    if not head.startswith(b"/*\n") and not head.startswith(b"/*\r\n"):
        raise ValueError(f"{path} is not a C header table written by hwsim: its first line must be '/*' (the "
                         "comment block that gives the full scale, the DAC and the level format), but the file "
                         f"starts with {head[:48]!r}")
    sniff_title(path, head.split(b"\n", 1)[1], " *", "a C header table")


_DEFINE = re.compile(rf"#define {_C_PREFIX}_([A-Z_]+) \(?({NUM})\)?(?:  /\*.*\*/)?")
_OPEN = re.compile(rf"static const (uint32_t|int32_t) {_C_PREFIX.lower()}_(threshold_codes|levels_q)"
                   rf"\[{_C_PREFIX}_(N_THRESHOLDS|N_LEVELS)\] = \{{")
_ENTRY = {"threshold_codes": re.compile(r"([0-9]{1,10})u,?  /\* t_[0-9]+ = .* \*/"),
          "levels_q": re.compile(r"(-?[0-9]{1,10}),?  /\* code [0-9]+: .* \*/")}


def read(path: Path, data: bytes, max_bytes: int) -> dict:
    """The canonical document of a C header hwsim wrote (checked afterwards by :mod:`hwsim.converters.tables`)."""
    lines = text_lines(path, data, "C header")
    header = parse_header(path, lines, " *", start=1)
    i = header.end
    while i < len(lines) and lines[i].strip() != "*/":
        i += 1
    if i == len(lines):
        raise line_error(path, i, "the header comment block is never closed with ' */'")
    defines, arrays, current = {}, {"threshold_codes": [], "levels_q": []}, None
    where = {"threshold_codes": []}
    for n in range(i + 1, len(lines)):
        line = lines[n].strip()
        if current is not None:
            if line == "};":
                current = None
                continue
            m = _ENTRY[current].fullmatch(line)
            if m is None:
                raise line_error(path, n + 1, f"expected one entry of {_C_PREFIX.lower()}_{current} as hwsim writes "
                                              f"it, or '}};', got {lines[n][:80]!r}")
            arrays[current].append(int(m.group(1)))
            if current == "threshold_codes":
                where[current].append(n + 1)
            continue
        if not line or line.startswith(("#ifndef ", "#include ", "#endif ")) or line == f"#define {_C_PREFIX}_TABLE_H":
            continue
        m = _DEFINE.fullmatch(line)
        if m:
            if m.group(1) in defines:
                raise line_error(path, n + 1, f"{_C_PREFIX}_{m.group(1)} is defined twice")
            defines[m.group(1)] = (m.group(2), n + 1)
            continue
        m = _OPEN.fullmatch(line)
        if m:
            current = m.group(2)
            if arrays[current]:
                raise line_error(path, n + 1, f"{_C_PREFIX.lower()}_{current} is defined twice")
            continue
        raise line_error(path, n + 1, f"unexpected line {lines[n][:80]!r} (a C header table holds the #defines and "
                                      "the two arrays hwsim writes, nothing else)")
    if current is not None:
        raise ValueError(f"{path}: the array {_C_PREFIX.lower()}_{current} is never closed with '}};'")

    def define(name: str, want=None):
        if name not in defines:
            raise ValueError(f"{path}: #define {_C_PREFIX}_{name} is missing")
        text, line = defines[name]
        value = float(text)
        if want is not None and value != want:
            raise line_error(path, line, f"{_C_PREFIX}_{name} = {text} contradicts the header comment block "
                                         f"({want!r}): the file was edited; refusing to guess which is right")
        return value

    define("N_LEVELS", header.n_levels)
    define("N_THRESHOLDS", header.n_levels - 1)
    define("DAC_BITS", header.dac_bits)
    define("FS_MIN", header.dac_full_scale[0])
    define("FS_MAX", header.dac_full_scale[1])
    define("LSB", header.lsb)
    frac = define("LEVEL_FRAC_BITS")
    if not frac.is_integer() or not 0 <= frac <= 30:
        raise line_error(path, defines["LEVEL_FRAC_BITS"][1], f"{_C_PREFIX}_LEVEL_FRAC_BITS must be a whole number "
                                                              f"in [0, 30], got {defines['LEVEL_FRAC_BITS'][0]}")
    codes, q = arrays["threshold_codes"], arrays["levels_q"]
    check_codes(path, header, codes, where["threshold_codes"])
    if len(q) != header.n_levels:
        raise ValueError(f"{path}: {_C_PREFIX.lower()}_levels_q must hold M = {header.n_levels} levels, got {len(q)}")
    return header.document(codes, [v / 2.0 ** int(frac) for v in q])


FORMAT = TableFormat("c", (".h",), write, needs_dac=True, sniff=sniff, read=read)
