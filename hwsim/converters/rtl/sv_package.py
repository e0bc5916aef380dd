"""A SystemVerilog ``package`` of an exported converter's parameters (``<name>_pkg``).

It holds what a hand-written design or a verification environment needs from the table, all as
``localparam``: ``N_LEVELS``, ``CODE_BITS``, ``OUTPUT_CODE`` (a string), the level ROM
(``LEVEL_WORD``, ``LEVEL_FRAC``, ``LEVELS``: signed integers in the level format), the table's
real thresholds and levels (``THRESHOLDS_REAL``, ``LEVELS_REAL``, for reference models), and per form the
integer thresholds: a requantizer's ``INPUT_WORD``, ``INPUT_FRAC`` and ``THRESHOLDS`` (signed
integers of the input format, ``ceil(t_k / LSB)``); a flash design with a threshold DAC its
``DAC_BITS``, ``DAC_CODES`` and
``DAC_THRESHOLDS_REAL``. Every number is formatted from a value computed in
:mod:`~hwsim.converters.rtl.rtl_design`.
"""

from __future__ import annotations

from ..formats.comments import num
from .rtl_design import RTLDesign, header_lines
from .verilog import literal


def _array(kind: str, name: str, values, comments=None) -> list[str]:
    values = list(values)
    lines = [f"    localparam {kind} {name} [0:{len(values) - 1}] = '{{"]
    for i, v in enumerate(values):
        c = f"  // {comments[i]}" if comments else ""
        lines.append(f"        {v}{',' if i < len(values) - 1 else ''}{c}")
    return lines + ["    };"]


def package_text(d: RTLDesign) -> str:
    """The SystemVerilog package ``<name>_pkg`` of design ``d``."""
    pkg = f"{d.name}_pkg"
    out = [f"// {line}".rstrip() for line in header_lines(d, f"SystemVerilog package {pkg} (hwsim RTL export)")]
    lf = d.level_format
    out += [f"package {pkg};",
            f"    localparam int N_LEVELS = {d.n_levels};",
            f"    localparam int CODE_BITS = {d.code_bits};",
            f"    localparam string OUTPUT_CODE = \"{d.output_code}\";",
            f"    localparam string FORM = \"{d.form}\";",
            f"    localparam int PIPELINE_LATENCY = {d.latency};",
            f"    // levels in {lf.name} ({lf.word}-bit signed): value = LEVELS[c] * 2^-LEVEL_FRAC",
            f"    localparam int LEVEL_WORD = {lf.word};",
            f"    localparam int LEVEL_FRAC = {lf.frac};"]
    out += _array(f"logic signed [{lf.word - 1}:0]", "LEVELS", [literal(v, lf.word, True) for v in d.level_ints],
                  [f"g_{k} = {num(float(g))}" for k, g in enumerate(d.levels)])
    if d.form == "requantizer":
        f = d.input_format
        out += [f"    // input sample in {f.name} ({f.word}-bit signed); code index = number of THRESHOLDS <= sample",
                f"    localparam int INPUT_WORD = {f.word};",
                f"    localparam int INPUT_FRAC = {f.frac};"]
        out += _array(f"logic signed [{f.word - 1}:0]", "THRESHOLDS",
                      [literal(v, f.word, True) for v in d.threshold_ints],
                      [f"t_{k + 1} = {num(float(t))}, thr = {int(v)}"
                       for k, (t, v) in enumerate(zip(d.thresholds, d.threshold_ints))])
    elif d.dac_codes is not None:
        w = int(d.dac.bits)
        out += [f"    // threshold DAC: threshold = {num(d.dac.full_scale[0])} + code * {num(d.dac.lsb)}",
                f"    localparam int DAC_BITS = {w};"]
        out += _array(f"logic [{w - 1}:0]", "DAC_CODES", [literal(c, w) for c in d.dac_codes])
        out += _array("real", "DAC_THRESHOLDS_REAL", [num(float(t)) for t in d.comparator_thresholds])
    out += ["    // the table's own thresholds and levels"]
    out += _array("real", "THRESHOLDS_REAL", [num(float(t)) for t in d.thresholds])
    out += _array("real", "LEVELS_REAL", [num(float(g)) for g in d.levels])
    out += [f"endpackage : {pkg}"]
    return "\n".join(out) + "\n"


__all__ = ["package_text"]
