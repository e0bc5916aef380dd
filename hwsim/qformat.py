r"""Binary fixed-point formats: what a number becomes in a register, and the rounding and
saturation rules every fixed-point part of hwsim (RTL export, fixed-point receivers) shares.

A format is a word of ``word`` bits with ``frac`` of them after the binary point; signed words are
two's complement. Its value set is ``{i * 2**-frac : lo <= i <= hi}`` with
``lo, hi = -2**(word-1), 2**(word-1) - 1`` (signed) or ``0, 2**word - 1`` (unsigned).

Names follow the ARM / TI convention ``Qm.n``: ``m`` integer bits *not counting the sign*, ``n``
fraction bits, so a signed ``Qm.n`` word has ``m + n + 1`` bits (``Q3.12`` is 16-bit signed) and an
unsigned one is written ``UQm.n`` (``m + n`` bits). ``m`` may be negative (a word that holds only
small numbers) and so may ``n`` (a coarse grid); :meth:`QFormat.name` writes both, and the word
length is always stated beside the name where hwsim writes one.

Rounding (from real values with :meth:`QFormat.to_int`, or from wider integers with
:func:`shift_round`), ``rounding``:

- ``"floor"``: towards minus infinity (dropping bits of a two's-complement word);
- ``"nearest"``: to the nearest value, ties towards plus infinity (add half an LSB, then floor: what
  one adder does in hardware);
- ``"convergent"``: to the nearest value, ties to the even one (no bias; numpy's ``rint``).

Overflow, ``overflow``: ``"saturate"`` (clamp to ``lo`` / ``hi``), ``"wrap"`` (keep the low ``word``
bits, as a plain adder does) or ``"error"`` (ValueError naming the value that does not fit).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

#: Rounding rules (module text).
ROUNDINGS = ("floor", "nearest", "convergent")
#: Overflow rules (module text).
OVERFLOWS = ("saturate", "wrap", "error")
#: Longest word (the integer arithmetic is int64, and products of two words must fit it).
MAX_WORD = 62

_NAME = re.compile(r"(U?)Q(-?\d+)\.(-?\d+)")


def _choice(name: str, value, allowed) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


@dataclass(frozen=True)
class QFormat:
    """A fixed-point word: ``word`` bits, ``frac`` of them fraction bits, two's complement when ``signed``.

    Parameters
    ----------
    word : int
        Word length in bits (1 to :data:`MAX_WORD`; a signed word needs at least 2).
    frac : int
        Fraction bits (the binary point; may be negative or exceed ``word``).
    signed : bool
        Two's complement (True) or unsigned.
    """

    word: int
    frac: int
    signed: bool = True

    def __post_init__(self):
        for arg in ("word", "frac"):
            v = getattr(self, arg)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ValueError(f"QFormat {arg} must be an integer, got {v!r}")
        if not isinstance(self.signed, (bool, np.bool_)):
            raise ValueError(f"QFormat signed must be True or False, got {self.signed!r}")
        least = 2 if self.signed else 1
        if not least <= self.word <= MAX_WORD:
            raise ValueError(f"QFormat word must lie in [{least}, {MAX_WORD}] bits for a "
                             f"{'signed' if self.signed else 'unsigned'} word, got {self.word}")
        if abs(self.frac) > 4 * MAX_WORD:
            raise ValueError(f"QFormat frac must lie in [{-4 * MAX_WORD}, {4 * MAX_WORD}], got {self.frac}")

    # ------------------------------------------------------------------ description
    @classmethod
    def parse(cls, text: str) -> "QFormat":
        """The format named ``"Qm.n"`` (signed, ``m + n + 1`` bits) or ``"UQm.n"`` (unsigned, ``m + n`` bits)."""
        match = _NAME.fullmatch(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"a fixed-point format is written 'Qm.n' (signed: m integer bits besides the sign, "
                             f"n fraction bits, for example 'Q3.12') or 'UQm.n' (unsigned), got {text!r}")
        unsigned, m, n = match.group(1) == "U", int(match.group(2)), int(match.group(3))
        return cls(word=m + n + (0 if unsigned else 1), frac=n, signed=not unsigned)

    @classmethod
    def covering(cls, peak: float, word: int, *, signed: bool = True) -> "QFormat":
        """The ``word``-bit format with the most fraction bits whose range holds ``[-peak, peak]`` (``[0, peak]``
        unsigned) without saturating."""
        peak = float(peak)
        if not math.isfinite(peak) or peak < 0:
            raise ValueError(f"peak must be finite and >= 0, got {peak!r}")
        probe = cls(word=word, frac=0, signed=signed)
        if peak == 0:
            return cls(word=word, frac=word - (1 if signed else 0), signed=signed)
        top = probe.hi_int            # largest integer of the word
        frac = math.floor(math.log2(top / peak))
        while peak * 2.0 ** frac > top:       # guard the log's rounding
            frac -= 1
        while peak * 2.0 ** (frac + 1) <= top:
            frac += 1
        return cls(word=word, frac=frac, signed=signed)

    @property
    def name(self) -> str:
        """``Qm.n`` (signed) or ``UQm.n`` (unsigned); the word length is ``m + n (+ 1)``."""
        m = self.word - self.frac - (1 if self.signed else 0)
        return f"{'' if self.signed else 'U'}Q{m}.{self.frac}"

    def describe(self) -> str:
        """The name with the word length and the range, for comments and messages."""
        return (f"{self.name} ({self.word}-bit {'signed' if self.signed else 'unsigned'}, LSB 2^{-self.frac}, "
                f"range [{self.min:.10g}, {self.max:.10g}])")

    def __str__(self) -> str:
        return self.name

    @property
    def lsb(self) -> float:
        """The value of one LSB, ``2**-frac``."""
        return math.ldexp(1.0, -self.frac)

    @property
    def lo_int(self) -> int:
        """Smallest integer of the word."""
        return -(1 << (self.word - 1)) if self.signed else 0

    @property
    def hi_int(self) -> int:
        """Largest integer of the word."""
        return (1 << (self.word - 1)) - 1 if self.signed else (1 << self.word) - 1

    @property
    def min(self) -> float:
        """Smallest value."""
        return math.ldexp(float(self.lo_int), -self.frac)

    @property
    def max(self) -> float:
        """Largest value."""
        return math.ldexp(float(self.hi_int), -self.frac)

    # ------------------------------------------------------------------ conversion
    def to_int(self, x, *, rounding: str = "nearest", overflow: str = "saturate", name: str = "x") -> np.ndarray:
        """Integers (int64, same shape) of the real values ``x`` in this format (module text for the rules).

        NaN is refused; ``name`` names ``x`` in the messages.
        """
        _choice("rounding", rounding, ROUNDINGS)
        _choice("overflow", overflow, OVERFLOWS)
        v = np.asarray(x, dtype=np.float64)
        if np.isnan(v).any():
            raise ValueError(f"{name} holds NaN, which has no fixed-point value")
        scaled = np.ldexp(v, self.frac)
        if rounding == "floor":
            r = np.floor(scaled)
        elif rounding == "nearest":
            r = np.floor(scaled + 0.5)
        else:
            r = np.rint(scaled)
        # Clamp in float first, so that huge values and infinities do not overflow int64.
        limit = float(1 << 62)
        if overflow == "error":
            bad = (r < self.lo_int) | (r > self.hi_int)
            if bad.any():
                i = np.flatnonzero(bad.ravel())[0]
                raise ValueError(f"{name} = {v.ravel()[i]!r} does not fit {self.describe()}")
            return r.astype(np.int64)
        if overflow == "saturate":
            return np.clip(r, self.lo_int, self.hi_int).astype(np.int64)
        if not np.isfinite(r).all() or (np.abs(r) >= limit).any():
            raise ValueError(f"{name} holds values beyond 2^62 LSB, which cannot wrap meaningfully into "
                             f"{self.describe()}")
        return self.wrap(r.astype(np.int64))

    def to_float(self, i) -> np.ndarray:
        """The real values of the integers ``i`` of this format."""
        return np.ldexp(np.asarray(i, dtype=np.float64), -self.frac)

    def quantize(self, x, *, rounding: str = "nearest", overflow: str = "saturate", name: str = "x") -> np.ndarray:
        """``x`` rounded to this format, as real values (``to_float(to_int(x))``)."""
        return self.to_float(self.to_int(x, rounding=rounding, overflow=overflow, name=name))

    # ------------------------------------------------------------------ integer rules
    def saturate(self, i) -> np.ndarray:
        """Integers ``i`` clamped to the word's range."""
        return np.clip(np.asarray(i, dtype=np.int64), self.lo_int, self.hi_int)

    def wrap(self, i) -> np.ndarray:
        """The low ``word`` bits of the integers ``i``, read as this word (two's complement when signed)."""
        i = np.asarray(i, dtype=np.int64)
        mask = (1 << self.word) - 1
        u = i & mask
        if self.signed:
            u = np.where(u > self.hi_int, u - (1 << self.word), u)
        return u.astype(np.int64)

    def fit(self, i, overflow: str = "saturate", name: str = "value") -> np.ndarray:
        """Integers ``i`` made to fit the word by the rule ``overflow``."""
        _choice("overflow", overflow, OVERFLOWS)
        i = np.asarray(i, dtype=np.int64)
        if overflow == "saturate":
            return self.saturate(i)
        if overflow == "wrap":
            return self.wrap(i)
        bad = (i < self.lo_int) | (i > self.hi_int)
        if bad.any():
            k = np.flatnonzero(bad.ravel())[0]
            raise ValueError(f"{name}: the integer {int(i.ravel()[k])} does not fit {self.describe()}")
        return i


def shift_round(i, shift: int, rounding: str = "nearest") -> np.ndarray:
    """Integers ``i`` (int64) divided by ``2**shift`` and rounded by ``rounding`` (an arithmetic right shift that
    drops ``shift`` fraction bits; ``shift <= 0`` multiplies exactly).

    ``floor`` is the plain arithmetic shift ``i >> shift``; ``nearest`` is ``(i + 2**(shift-1)) >> shift``;
    ``convergent`` rounds ties to the even result. This is the rule an HDL or C reference implements
    with one adder and a shift, so numpy and the reference agree bit for bit.
    """
    _choice("rounding", rounding, ROUNDINGS)
    i = np.asarray(i, dtype=np.int64)
    shift = int(shift)
    if shift <= 0:
        return i << (-shift)
    if rounding == "floor":
        return i >> shift
    half = np.int64(1) << (shift - 1)
    if rounding == "nearest":
        return (i + half) >> shift
    q = i >> shift
    rem = i - (q << shift)
    up = (rem > half) | ((rem == half) & ((q & 1) == 1))
    return q + up.astype(np.int64)


__all__ = ["MAX_WORD", "OVERFLOWS", "QFormat", "ROUNDINGS", "shift_round"]
