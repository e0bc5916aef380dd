r"""Nearest-codeword RTL of a small vector quantizer (a :class:`~hwsim.quantizers.base.Codebook`: A2 lattice
points, an LBG codebook, ...): Verilog-2005 module, golden vectors and a self-checking testbench.

The module takes an ``n``-dimensional fixed-point vector, one port per component
(``input wire signed [N-1:0] x0 .. x{n-1}``, two's complement in ``input_format``) and puts out the
index of the nearest codeword (``output wire [B-1:0] index``, offset binary,
``B = codes.code_bits(K)``). The codewords are rounded to the same format (to nearest, ties up; a
codeword outside the format's range is refused, as are two codewords that round together), so the
squared distances ``sum_i (x_i - c_ki)^2`` are exact integers (``2N + 2`` bits a term, summed in
``2N + 2 + ceil(log2 n)`` bits) and the module compares them one after another with a strict
``<``: ties go to the lowest index. :meth:`VQDesign.reference_index` is that rule in Python.
The module is combinational.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...qformat import QFormat
from ..formats.comments import comment_text, num
from . import codes as _codes
from .rtl_design import check_name
from .testbench import check_file_name
from .verilog import literal

#: Limits of an exported nearest-codeword module.
MAX_CODEWORDS, MAX_DIM, MAX_INPUT_WORD = 256, 8, 24


@dataclass(frozen=True, eq=False)
class VQDesign:
    """A nearest-codeword module (:func:`vq_design`).

    Attributes
    ----------
    name : str
        Module name.
    codewords : numpy.ndarray
        The codebook, float64 [K, n].
    input_format : QFormat
        Format of every component of the input and of the rounded codewords.
    codeword_ints : numpy.ndarray
        int64 [K, n]: the codewords in ``input_format``.
    index_bits : int
        Width of the ``index`` port.
    provenance : dict
        Where the codebook came from (escaped into the header).
    verilog : str
        The Verilog-2005 module.
    """

    name: str
    codewords: np.ndarray
    input_format: QFormat
    codeword_ints: np.ndarray
    index_bits: int
    provenance: dict = field(default_factory=dict)
    verilog: str = field(default="", repr=False)

    @property
    def dim(self) -> int:
        """Vector dimension n."""
        return self.codewords.shape[1]

    @property
    def size(self) -> int:
        """Codewords K."""
        return self.codewords.shape[0]

    def sample_ints(self, x) -> np.ndarray:
        """Input integers (int64 [..., n]) of float vectors: nearest, saturated."""
        return self.input_format.to_int(x, rounding="nearest", overflow="saturate", name="x")

    def index_of_ints(self, s) -> np.ndarray:
        """Index of the nearest rounded codeword (exact integer squared distance, ties to the lowest index)."""
        s = np.asarray(s, dtype=np.int64)
        if s.shape[-1] != self.dim:
            raise ValueError(f"input vectors must have {self.dim} components, got shape {s.shape}")
        d = ((s[..., None, :] - self.codeword_ints) ** 2).sum(-1)
        return np.argmin(d, axis=-1).astype(np.int64)       # argmin returns the first of equal minima

    def reference_index(self, x) -> np.ndarray:
        """The index the module produces for float vectors ``x`` [..., n]."""
        return self.index_of_ints(self.sample_ints(x))


def vq_design(codebook, name: str = "hwsim_vq", *, input_format=None, provenance=None) -> VQDesign:
    """The nearest-codeword module of ``codebook`` (module text of :mod:`~hwsim.converters.rtl.vq`).

    Parameters
    ----------
    codebook : Codebook or array_like [K, n]
        Codewords (2 to :data:`MAX_CODEWORDS`, dimension 1 to :data:`MAX_DIM`).
    name : str
        Module name (:func:`~hwsim.converters.rtl.rtl_design.check_name`).
    input_format : QFormat, str or None
        Component format; default the 12-bit signed word covering twice the largest ``|codeword|``.
    provenance : dict or None
        Header text (escaped).

    Returns
    -------
    VQDesign
        Its numbers, hard path and Verilog text.
    """
    c = np.array(getattr(codebook, "codewords", codebook), dtype=np.float64)
    if c.ndim != 2 or not 2 <= c.shape[0] <= MAX_CODEWORDS or not 1 <= c.shape[1] <= MAX_DIM:
        raise ValueError(f"codebook must be [K, n] with 2 <= K <= {MAX_CODEWORDS} and 1 <= n <= {MAX_DIM}, got "
                         f"shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise ValueError("codebook holds values that are not finite")
    name = check_name(name)
    if input_format is None:
        fmt = QFormat.covering(2 * float(np.max(np.abs(c))), 12)
    else:
        fmt = input_format if isinstance(input_format, QFormat) else QFormat.parse(input_format)
    if not fmt.signed or fmt.word > MAX_INPUT_WORD:
        raise ValueError(f"input_format must be signed with at most {MAX_INPUT_WORD} bits, got {fmt.describe()}")
    ints = np.floor(np.ldexp(c, fmt.frac) + 0.5)
    if ints.min() < fmt.lo_int or ints.max() > fmt.hi_int:
        raise ValueError(f"input_format {fmt.describe()} cannot hold every codeword (largest |value| "
                         f"{float(np.max(np.abs(c)))!r}); use a wider range")
    ints = ints.astype(np.int64)
    if len(np.unique(ints, axis=0)) != len(ints):
        raise ValueError(f"input_format {fmt.describe()} is too coarse: two codewords round to the same integers")
    for a in (c, ints):
        a.setflags(write=False)
    if provenance is not None and not isinstance(provenance, dict):
        raise ValueError(f"provenance must be a dict or None, got {type(provenance).__name__}")
    d = VQDesign(name=name, codewords=c, input_format=fmt, codeword_ints=ints,
                 index_bits=_codes.code_bits(c.shape[0]), provenance=dict(provenance or {}))
    object.__setattr__(d, "verilog", _module_text(d))
    return d


def _header(d: VQDesign, what: str) -> list[str]:
    from ... import __version__

    f = d.input_format
    lines = [what, f"generated by hwsim {comment_text(__version__)}: nearest-codeword module {d.name}, K = {d.size} "
             f"codewords of dimension {d.dim}",
             f"inputs x0 .. x{d.dim - 1}: {f.describe()}; codewords rounded to the same format (nearest, ties up)",
             "index = argmin_k sum_i (x_i - c_ki)^2 (exact integers), ties to the lowest index; offset binary, "
             "combinational"]
    lines += [f"provenance {comment_text(k, 40)}: {comment_text(v)}" for k, v in d.provenance.items()]
    return [f"// {s}".rstrip() for s in lines]


def _module_text(d: VQDesign) -> str:
    n_bits = d.input_format.word
    p = 2 * n_bits + 2                       # one squared difference
    dw = p + max(0, math.ceil(math.log2(d.dim)))
    b = d.index_bits
    out = _header(d, f"Verilog-2005 module {d.name} (hwsim RTL export of a vector quantizer)")
    ports = [f"    input  wire signed [{n_bits - 1}:0] x{i}" for i in range(d.dim)]
    ports.append(f"    output wire [{b - 1}:0] index")
    out += [f"module {d.name} (", ",\n".join(ports), ");"]
    for i in range(d.dim):
        out.append(f"    wire signed [{p - 1}:0] xe{i} = {{{{{p - n_bits}{{x{i}[{n_bits - 1}]}}}}, x{i}}};")
    for k in range(d.size):
        terms = []
        for i in range(d.dim):
            v = int(d.codeword_ints[k, i])
            out.append(f"    wire signed [{p - 1}:0] e{k}_{i} = xe{i} - {literal(v, p, True)};")
            out.append(f"    wire signed [{p - 1}:0] q{k}_{i} = e{k}_{i} * e{k}_{i};")
            terms.append(f"{{{{{dw - p}{{1'b0}}}}, q{k}_{i}}}" if dw > p else f"q{k}_{i}")
        vals = ", ".join(num(float(x)) for x in d.codewords[k])
        out.append(f"    wire [{dw - 1}:0] d{k} = " + " + ".join(terms) + f";  // c_{k} = ({vals})")
    out += [f"    reg [{dw - 1}:0] best;", f"    reg [{b - 1}:0] best_i;", "    always @* begin",
            "        best = d0;", f"        best_i = {b}'d0;"]
    for k in range(1, d.size):
        out += [f"        if (d{k} < best) begin", f"            best = d{k};", f"            best_i = {b}'d{k};",
                "        end"]
    out += ["    end", "    assign index = best_i;", "endmodule"]
    return "\n".join(out) + "\n"


def vq_vectors(d: VQDesign, *, n_random: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Golden vectors: input integers [V, n] and expected indices [V]: every codeword, the rounded midpoint of
    every pair (ties and near-ties), the rails (all components at the most negative / positive value) and seeded
    random vectors over the word."""
    f = d.input_format
    rng = np.random.default_rng(seed)
    c = d.codeword_ints
    rows = [c]
    a, b = np.triu_indices(d.size, 1)
    mid = c[a] + c[b]
    rows += [mid >> 1, (mid + 1) >> 1]
    rows += [np.full((1, d.dim), f.lo_int), np.full((1, d.dim), f.hi_int)]
    rows.append(rng.integers(f.lo_int, f.hi_int, (n_random, d.dim), endpoint=True))
    s = np.clip(np.concatenate(rows), f.lo_int, f.hi_int).astype(np.int64)
    return s, d.index_of_ints(s)


def vq_files(d: VQDesign, vector_file: str, *, n_random: int = 64, seed: int = 0) -> dict:
    """``{"module": text, "testbench": text, "vectors": text}`` (testbench ``<name>_tb`` reads ``vector_file``)."""
    vector_file = check_file_name(vector_file)
    s, idx = vq_vectors(d, n_random=n_random, seed=seed)
    nb, b = d.input_format.word, d.index_bits
    width = -(-(nb * d.dim + b) // 4) * 4
    lines = _header(d, f"golden vectors of {d.name}")
    lines.append(f"// {len(idx)} vectors of {width} bits: index = bits [{b - 1}:0], x_i = bits "
                 f"[{b} + {nb} (i + 1) - 1 : {b} + {nb} i] (i = 0 .. {d.dim - 1})")
    for row, k in zip(s, idx):
        w = int(k)
        for i, v in enumerate(row):
            w |= (int(v) & ((1 << nb) - 1)) << (b + nb * i)
        lines.append(f"{w:0{width // 4}x}  // x = ({', '.join(str(int(v)) for v in row)}) index={int(k)}")
    tb = _header(d, f"Verilog testbench {d.name}_tb")
    tb += [f"module {d.name}_tb;", f"    reg [{width - 1}:0] vec [0:{len(idx) - 1}];", "    integer i;"]
    tb += [f"    reg signed [{nb - 1}:0] x{i};" for i in range(d.dim)]
    tb += [f"    wire [{b - 1}:0] index;",
           f"    {d.name} dut ({', '.join(f'.x{i}(x{i})' for i in range(d.dim))}, .index(index));",
           "    initial begin", f"        $readmemh(\"{vector_file}\", vec);",
           f"        for (i = 0; i < {len(idx)}; i = i + 1) begin"]
    tb += [f"            x{i} = vec[i][{b + nb * (i + 1) - 1}:{b + nb * i}];" for i in range(d.dim)]
    tb += ["            #1;", f"            if (index !== vec[i][{b - 1}:0]) begin",
           f"                $display(\"MISMATCH {d.name} vector %0d: expected index %0d got %0d\", i, "
           f"vec[i][{b - 1}:0], index);",
           f"                $fatal(1, \"{d.name}: golden vector %0d mismatch\", i);", "            end",
           "            #9;", "        end", f"        $display(\"PASS {d.name}: {len(idx)} vectors\");",
           "        $finish;", "    end", "endmodule"]
    return {"module": d.verilog, "testbench": "\n".join(tb) + "\n", "vectors": "\n".join(lines) + "\n"}


__all__ = ["MAX_CODEWORDS", "MAX_DIM", "MAX_INPUT_WORD", "VQDesign", "vq_design", "vq_files", "vq_vectors"]
