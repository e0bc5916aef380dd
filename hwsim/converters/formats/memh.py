r"""``memh`` (``.mem``, ``.memh`` or ``.hex``, export only): a ``$readmemh`` memory file for
Verilog / SystemVerilog.

One hex word per line, word ``k`` being the DAC code of threshold ``t_{k+1}``, with ``//``
comments (the header block of :func:`~hwsim.converters.formats.comments.header_lines` and the
threshold value of each word).

The file needs integer threshold codes (``needs_dac``): unless a ``dac`` is given, export rounds
the thresholds to a :data:`~hwsim.converters.fixed_point.DEFAULT_DAC_BITS`-bit DAC over the
table's full scale. The rendered text is checked (``_verify_memh``) to hold exactly the
threshold codes for a strict ``$readmemh`` reader before anything is written.
"""

from __future__ import annotations

import re

from ..fixed_point import RoundedTable
from .comments import header_lines, num
from .common import TableFormat


def write(doc: dict, rounded: RoundedTable) -> str:
    """The DAC rounding of the document as a ``$readmemh`` memory file."""
    width = -(-rounded.bits // 4)
    out = header_lines(doc, rounded, "//")
    out += [f"// {doc['n_levels'] - 1} words of {width} hex digits: word k = DAC code of threshold t_(k+1);",
            "// load with $readmemh(\"<this file>\", mem) into mem[0:M-2]"]
    for k, (c, t) in enumerate(zip(rounded.codes, doc["thresholds"])):
        out.append(f"{int(c):0{width}x}  // t_{k + 1} = {num(t)}")
    text = "\n".join(out) + "\n"
    _verify_memh(text, [int(c) for c in rounded.codes], width)
    return text


def _verify_memh(text: str, codes: list, width: int) -> None:
    """Refuse (internal error) a rendered memory file that a strict $readmemh reader would not read as ``codes``."""
    words = []
    ok = re.fullmatch(r"[\x20-\x7e\n]*", text) is not None and "/*" not in text and "*/" not in text
    for line in text.split("\n"):
        body = line.split("//", 1)[0].strip()
        if body:
            if not re.fullmatch(f"[0-9a-f]{{{width}}}", body):
                ok = False
                break
            words.append(int(body, 16))
    if not ok or words != codes:
        raise RuntimeError("internal error: the rendered memory file does not hold exactly the threshold codes; "
                           "nothing was written")


FORMAT = TableFormat("memh", (".mem", ".memh", ".hex"), write, needs_dac=True)
