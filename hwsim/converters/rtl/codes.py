"""Output codes of an exported converter: how code index ``c`` (from 0 to ``M-1``, the number of thresholds at
or below the input) appears on the module's ``B``-bit output, ``B = max(1, ceil(log2 M))``.

- ``offset_binary``: ``c`` itself (code 0 for the lowest cell);
- ``twos_complement``: ``c - 2**(B-1)`` as a ``B``-bit two's-complement word (the lowest cell reads
  ``-2**(B-1)``); its bit pattern is ``c`` with the top bit inverted;
- ``gray``: the reflected binary code ``c ^ (c >> 1)`` (neighbouring cells differ in one bit).

Every function here works on bit patterns (unsigned integers below ``2**B``), which is what the RTL's
output port carries and what golden vectors store.
"""

from __future__ import annotations

import numpy as np

#: Output codes, in the order messages list them.
OUTPUT_CODES = ("offset_binary", "twos_complement", "gray")


def check_code(code: str) -> str:
    """``code`` if it is one of :data:`OUTPUT_CODES` (ValueError otherwise)."""
    if code not in OUTPUT_CODES:
        raise ValueError(f"output code must be one of {', '.join(OUTPUT_CODES)}, got {code!r}")
    return code


def code_bits(n_levels: int) -> int:
    """Bits ``B`` of the output word of an ``n_levels``-level converter."""
    n = int(n_levels)
    if n < 2:
        raise ValueError(f"a converter has at least 2 levels, got {n_levels!r}")
    return max(1, (n - 1).bit_length())


def encode(index, n_levels: int, code: str) -> np.ndarray:
    """Bit patterns (int64) of the code indices ``index`` in output code ``code``."""
    check_code(code)
    b = code_bits(n_levels)
    c = np.asarray(index, dtype=np.int64)
    if c.size and (c.min() < 0 or c.max() >= n_levels):
        raise ValueError(f"code indices must lie in [0, {n_levels - 1}], got {int(c.min())} .. {int(c.max())}")
    if code == "offset_binary":
        return c.copy()
    if code == "twos_complement":
        return c ^ (1 << (b - 1))
    return c ^ (c >> 1)


def decode(pattern, n_levels: int, code: str) -> np.ndarray:
    """Code indices (int64) of the bit patterns ``pattern`` of output code ``code`` (inverse of :func:`encode`);
    a pattern that is no index of an ``n_levels``-level converter is refused."""
    check_code(code)
    b = code_bits(n_levels)
    w = np.asarray(pattern, dtype=np.int64)
    if w.size and (w.min() < 0 or w.max() >= (1 << b)):
        raise ValueError(f"bit patterns of a {b}-bit word lie in [0, {(1 << b) - 1}], got {int(w.min())} .. "
                         f"{int(w.max())}")
    if code == "offset_binary":
        c = w.copy()
    elif code == "twos_complement":
        c = w ^ (1 << (b - 1))
    else:
        c = w.copy()
        shift = 1
        while shift < b:
            c ^= c >> shift
            shift <<= 1
    if c.size and c.max() >= n_levels:
        raise ValueError(f"bit pattern {int(w.ravel()[np.argmax(c.ravel() >= n_levels)])} is not a code of a "
                         f"{n_levels}-level converter in {code}")
    return c
