r"""``c`` (``.h``, export only): a C header for firmware.

An include guard, ``#define``\s for the level count and the scaling, ``static const`` arrays of
the threshold DAC codes (``uint32_t``) and the levels in signed fixed point (``int32_t``, ``Q``
format stated in the header). Threshold ``k`` is ``HWSIM_ADC_FS_MIN + code * HWSIM_ADC_LSB``
and a level is ``q / 2**HWSIM_ADC_LEVEL_FRAC_BITS``.

The header needs integer threshold codes (``needs_dac``): unless a ``dac`` is given, export
rounds the thresholds to a :data:`~hwsim.converters.fixed_point.DEFAULT_DAC_BITS`-bit DAC over
the table's full scale. Provenance reaches it only through
:func:`~hwsim.converters.formats.comments.comment_text`, and the rendered text is checked
against its expected structure (``_verify_c``) before anything is written.
"""

from __future__ import annotations

import math
import re

import numpy as np

from ..fixed_point import RoundedTable
from .comments import header_lines, num
from .common import TableFormat

_C_PREFIX = "HWSIM_ADC"


def _level_frac_bits(levels: np.ndarray) -> int:
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
    frac = _level_frac_bits(levels)
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


FORMAT = TableFormat("c", (".h",), write, needs_dac=True)
