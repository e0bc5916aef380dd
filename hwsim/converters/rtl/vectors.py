r"""Golden vectors of an exported converter, drawn from the Python hard path, and their memory file.

:func:`golden_vectors` picks the inputs that test a design hardest and computes what the RTL must
answer with :class:`~hwsim.converters.rtl.rtl_design.RTLDesign`'s own rules:

- flash: the clean thermometer word of every code, reached from float samples on each comparator
  threshold and just below it (``therm(x)`` and ``reference_index(x)``, checked to agree with the
  encoder rule); every single-bubble word (one bit of a clean word flipped: all of them up to
  :data:`MAX_BUBBLES`, else those within two bits of the transition), whose expected code is the
  stated encoder rule, the number of ones (:meth:`~hwsim.converters.rtl.rtl_design.RTLDesign.index_of_therm`);
  the rails (samples far below and above the full scale) and seeded random samples;
- requantizer: for every integer threshold ``thr_k``, the samples ``thr_k - 1`` and ``thr_k``;
  the rails (the word's most negative and most positive sample); float samples on and just below
  each threshold and seeded random samples in the full scale, made integers by
  :meth:`~hwsim.converters.rtl.rtl_design.RTLDesign.sample_ints` (checked against
  :meth:`~hwsim.converters.rtl.rtl_design.RTLDesign.reference_index`); seeded random integers over the word.

The memory file (:func:`memh_text`) holds one vector per line as one hex word, readable by Verilog's
``$readmemh`` and by the VHDL testbench (``hread``): the fields, from the least significant bit, are
the expected ``level`` (requantizer, ``L`` bits, two's complement), the expected ``code`` (``B``
bits) and the input (``therm``, ``M - 1`` bits, or ``sample``, ``N`` bits two's complement), padded
with zeros to a whole number of hex digits. Comment lines start with ``//``; each word is followed
by a comment giving its fields in decimal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .rtl_design import RTLDesign, header_lines

#: Most single-bubble thermometer words a flash vector set holds in full.
MAX_BUBBLES = 4096

#: Random samples per vector set (floats; the requantizer adds as many random integers).
DEFAULT_RANDOM = 64


@dataclass(frozen=True)
class Vectors:
    """Golden vectors of one design.

    Attributes
    ----------
    inputs : list[int]
        Bit pattern of the input port of each vector (unsigned; a sample's two's-complement pattern).
    index : numpy.ndarray
        Expected code index, int64 [n].
    code : numpy.ndarray
        Expected bit pattern on ``code``, int64 [n].
    level : numpy.ndarray or None
        Requantizer: expected integer on ``level``, int64 [n].
    kind : list[str]
        What each vector tests (``"threshold"``, ``"below"``, ``"bubble"``, ``"rail"``, ``"random"``, ...).
    fields : dict
        Field name -> ``(lsb, width)`` in the packed word.
    word_bits : int
        Width of the packed word (a multiple of 4).
    """

    inputs: list
    index: np.ndarray
    code: np.ndarray
    level: np.ndarray | None
    kind: list
    fields: dict
    word_bits: int

    def __len__(self) -> int:
        return len(self.inputs)

    def words(self) -> list[int]:
        """The packed word of each vector."""
        out = []
        for i, x in enumerate(self.inputs):
            w = int(x) << self.fields["input"][0] | int(self.code[i]) << self.fields["code"][0]
            if self.level is not None:
                lsb, width = self.fields["level"]
                w |= (int(self.level[i]) & ((1 << width) - 1)) << lsb
            out.append(w)
        return out


def layout(d: RTLDesign) -> tuple[dict, int]:
    """Fields ``{name: (lsb, width)}`` of ``d``'s vector word and the word's width (a multiple of 4)."""
    fields = {}
    pos = 0
    if d.form == "requantizer":
        fields["level"] = (0, d.level_format.word)
        pos = d.level_format.word
    fields["code"] = (pos, d.code_bits)
    pos += d.code_bits
    fields["input"] = (pos, d.input_bits)
    pos += d.input_bits
    return fields, -(-pos // 4) * 4


def _therm_int(bits_row) -> int:
    return sum(1 << k for k, b in enumerate(bits_row) if b)


def golden_vectors(d: RTLDesign, *, n_random: int = DEFAULT_RANDOM, seed: int = 0) -> Vectors:
    """The golden vectors of ``d`` (module text of :mod:`~hwsim.converters.rtl.vectors`), seeded by ``seed``."""
    rng = np.random.default_rng(seed)
    lo, hi = d.full_scale
    m = d.n_levels
    inputs: list[int] = []
    index: list[int] = []
    kind: list[str] = []
    t = d.comparator_thresholds
    span = hi - lo
    if d.form == "flash":
        on = t
        below = np.nextafter(t, -np.inf)
        rails = np.array([min(lo, t[0]) - span, max(hi, t[-1]) + span])
        rand = rng.uniform(lo, hi, n_random)
        for xs, what in ((on, "threshold"), (below, "below"), (rails, "rail"), (rand, "random")):
            th = d.therm(xs)
            ref = d.reference_index(xs)
            if not np.array_equal(d.index_of_therm(th), ref):   # the two Python paths must agree
                raise RuntimeError("internal error: the flash encoder rule disagrees with the table's hard path")
            for row, c in zip(th, ref):
                inputs.append(_therm_int(row))
                index.append(int(c))
                kind.append(what)
        n = m - 1
        clean = np.tril(np.ones((m, n), dtype=np.uint8), -1)   # row k: k ones at the bottom
        all_flips = m * n <= MAX_BUBBLES
        for k in range(m):
            for j in range(n):
                if not all_flips and abs(j - k) > 2 and abs(j - (k - 1)) > 2:
                    continue
                row = clean[k].copy()
                row[j] ^= 1
                inputs.append(_therm_int(row))
                index.append(int(d.index_of_therm(row)))
                kind.append("bubble")
        idx = np.asarray(index, dtype=np.int64)
        level = None
    else:
        fmt = d.input_format
        ints: list[int] = []
        for thr in d.threshold_ints:
            for s, what in ((int(thr) - 1, "below"), (int(thr), "threshold")):
                if fmt.lo_int <= s <= fmt.hi_int:
                    ints.append(s)
                    kind.append(what)
        ints += [fmt.lo_int, fmt.hi_int]
        kind += ["rail", "rail"]
        xs = np.concatenate((d.thresholds, np.nextafter(d.thresholds, -np.inf), rng.uniform(lo, hi, n_random)))
        from_float = d.sample_ints(xs)
        if not np.array_equal(d.index_of_ints(from_float), d.reference_index(xs)):
            raise RuntimeError("internal error: the requantizer's integer path disagrees with its hard path")
        ints += [int(s) for s in from_float]
        kind += ["float_threshold"] * (m - 1) + ["float_below"] * (m - 1) + ["random"] * n_random
        ints += [int(s) for s in rng.integers(fmt.lo_int, fmt.hi_int, n_random, endpoint=True)]
        kind += ["random_int"] * n_random
        idx = d.index_of_ints(np.asarray(ints, dtype=np.int64))
        inputs = [s & ((1 << fmt.word) - 1) for s in ints]
        level = d.level_ints[idx].astype(np.int64)
    fields, width = layout(d)
    return Vectors(inputs=inputs, index=idx, code=d.pattern_of_index(idx).astype(np.int64), level=level, kind=kind,
                   fields=fields, word_bits=width)


def _field_doc(d: RTLDesign, fields: dict) -> str:
    parts = []
    for name in ("input", "code", "level"):
        if name in fields:
            lsb, width = fields[name]
            port = {"input": "therm" if d.form == "flash" else "sample"}.get(name, name)
            parts.append(f"{port} = bits [{lsb + width - 1}:{lsb}]")
    return ", ".join(parts)


def memh_text(d: RTLDesign, vectors: Vectors) -> str:
    """The memory file of ``vectors`` (format in the module text)."""
    digits = vectors.word_bits // 4
    out = [f"// {line}".rstrip() for line in header_lines(d, f"golden vectors of {d.name} (hwsim RTL export)")]
    out += [f"// {len(vectors)} vectors, one {vectors.word_bits}-bit hex word each: {_field_doc(d, vectors.fields)}",
            "// expected values from the Python hard path (hwsim.converters.rtl.rtl_design.RTLDesign)"]
    for i, w in enumerate(vectors.words()):
        if d.form == "flash":
            shown = f"therm={vectors.inputs[i]:0{d.n_levels - 1}b}"
        else:
            s = vectors.inputs[i]
            word = d.input_format.word
            shown = f"sample={s - (1 << word) if s >> (word - 1) else s}"
        extra = f" level={int(vectors.level[i])}" if vectors.level is not None else ""
        out.append(f"{w:0{digits}x}  // #{i} {vectors.kind[i]} {shown} index={int(vectors.index[i])} "
                   f"code={int(vectors.code[i])}{extra}")
    return "\n".join(out) + "\n"


def read_memh(text: str) -> list[int]:
    """The hex words of a memory file (comments and blank lines skipped)."""
    words = []
    for line in text.splitlines():
        body = line.split("//", 1)[0].strip()
        if body:
            words.append(int(body, 16))
    return words


__all__ = ["DEFAULT_RANDOM", "MAX_BUBBLES", "Vectors", "golden_vectors", "layout", "memh_text", "read_memh"]
