"""Verilog-2005 text of an :class:`~hwsim.converters.rtl.rtl_design.RTLDesign`: the converter module and the
threshold-DAC ROM of a flash design.

The text is plain synthesizable Verilog-2005 (``wire``/``reg``, ``always @*``, ``always @(posedge clk)``,
``case``, a ``for`` loop over a constant range) and lints clean with ``verilator --lint-only -Wall``
when the file is named after the module (Verilator's DECLFILENAME rule). Every literal is formatted
from an integer computed in :mod:`~hwsim.converters.rtl.rtl_design`; the module name is a checked
identifier; provenance reaches the header only through ``comment_text``.
"""

from __future__ import annotations

from ..formats.comments import num
from .rtl_design import RTLDesign, ceil_log2, header_lines


def literal(value: int, width: int, signed: bool = False) -> str:
    """A sized hex literal of the ``width``-bit two's-complement pattern of ``value``."""
    pattern = int(value) & ((1 << width) - 1)
    return f"{width}'{'s' if signed else ''}h{pattern:x}"


def _comment_block(d: RTLDesign, what: str) -> list[str]:
    return [f"// {line}".rstrip() for line in header_lines(d, what)]


def _ones_counter(src: str, n_in: int, b: int) -> list[str]:
    """Lines counting the ones of ``src`` (``n_in`` bits) into ``reg [b-1:0] index``."""
    one = f"{src}[k]" if b == 1 else f"{{{{{b - 1}{{1'b0}}}}, {src}[k]}}"
    return ["    // Ones counter: code index = number of bits of " + src + " at 1.",
            f"    reg [{b - 1}:0] index;",
            "    integer k;",
            "    always @* begin",
            f"        index = {b}'d0;",
            f"        for (k = 0; k < {n_in}; k = k + 1)",
            f"            index = index + {one};",
            "    end"]


def _encode(d: RTLDesign) -> list[str]:
    b = d.code_bits
    if d.output_code == "offset_binary":
        expr = "index"
    elif d.output_code == "twos_complement":
        expr = "~index" if b == 1 else f"{{~index[{b - 1}], index[{b - 2}:0]}}"
    else:
        expr = "index" if b == 1 else "index ^ (index >> 1)"
    return [f"    // Output code: {d.output_code}.",
            f"    wire [{b - 1}:0] code_c;",
            f"    assign code_c = {expr};"]


def _outputs(d: RTLDesign) -> list[str]:
    b = d.code_bits
    lines = []
    if d.pipeline:
        lines += [f"    reg [{b - 1}:0] code_q;"]
        if d.form == "requantizer":
            lines += [f"    reg signed [{d.level_format.word - 1}:0] level_q;"]
        lines += ["    always @(posedge clk) begin", "        code_q <= code_c;"]
        if d.form == "requantizer":
            lines += ["        level_q <= level_c;"]
        lines += ["    end", "    assign code = code_q;"]
        if d.form == "requantizer":
            lines += ["    assign level = level_q;"]
    else:
        lines += ["    assign code = code_c;"]
        if d.form == "requantizer":
            lines += ["    assign level = level_c;"]
    return lines


def module_text(d: RTLDesign) -> str:
    """The converter module ``d.name`` (ports: see :mod:`~hwsim.converters.rtl.rtl_design`)."""
    m, b = d.n_levels, d.code_bits
    out = _comment_block(d, f"Verilog-2005 module {d.name} (hwsim RTL export of a decision table)")
    ports = ["    input  wire clk"] if d.pipeline else []
    if d.form == "flash":
        ports += [f"    input  wire [{m - 2}:0] therm", f"    output wire [{b - 1}:0] code"]
    else:
        ports += [f"    input  wire signed [{d.input_format.word - 1}:0] sample", f"    output wire [{b - 1}:0] code",
                  f"    output wire signed [{d.level_format.word - 1}:0] level"]
    if d.form == "flash" and d.dac_codes is not None:
        out += ["// threshold-DAC codes (ROM module " + d.name + "_dac_rom): "
                + ", ".join(f"t_{k + 1}: {int(c)}" for k, c in enumerate(d.dac_codes[:64]))
                + (" ..." if d.dac_codes.size > 64 else "")]
    out += [f"module {d.name} (", ",\n".join(ports), ");"]
    if d.form == "flash":
        out += _ones_counter("therm", m - 1, b)
    else:
        n = d.input_format.word
        out += [f"    // Comparators: ge[k-1] = (sample >= thr_k), thr_k = ceil(t_k / 2^-{d.input_format.frac}).",
                f"    wire [{m - 2}:0] ge;"]
        for k, (thr, t) in enumerate(zip(d.threshold_ints, d.thresholds)):
            out.append(f"    assign ge[{k}] = (sample >= {literal(thr, n, True)});  // t_{k + 1} = {num(float(t))}, "
                       f"thr = {int(thr)}")
        out += _ones_counter("ge", m - 1, b)
        lw = d.level_format.word
        out += [f"    // Level ROM ({d.level_format.name}, {lw} bits): level = g_index.",
                f"    reg signed [{lw - 1}:0] level_c;",
                "    always @* begin",
                "        case (index)"]
        for k, (li, g) in enumerate(zip(d.level_ints, d.levels)):
            out.append(f"            {b}'d{k}: level_c = {literal(li, lw, True)};  // g_{k} = {num(float(g))}")
        out += [f"            default: level_c = {literal(0, lw, True)};", "        endcase", "    end"]
    out += _encode(d) + _outputs(d) + ["endmodule"]
    return "\n".join(out) + "\n"


def dac_rom_text(d: RTLDesign) -> str:
    """The ROM ``<name>_dac_rom`` of a flash design's threshold-DAC codes: ``addr`` ``k-1`` reads the code of
    threshold ``k``; addresses past the last threshold read 0."""
    if d.dac_codes is None:
        raise ValueError(f"design {d.name!r} has no threshold DAC")
    n = d.dac_codes.size
    a = ceil_log2(n)
    w = int(d.dac.bits)
    out = _comment_block(d, f"Verilog-2005 module {d.name}_dac_rom: threshold-DAC codes of {d.name}")
    out += [f"module {d.name}_dac_rom (",
            f"    input  wire [{a - 1}:0] addr,",
            f"    output reg  [{w - 1}:0] dac_code",
            ");",
            "    always @* begin",
            "        case (addr)"]
    for k, (c, t) in enumerate(zip(d.dac_codes, d.comparator_thresholds)):
        out.append(f"            {a}'d{k}: dac_code = {literal(c, w)};  // t_{k + 1} = {num(float(t))}")
    out += [f"            default: dac_code = {literal(0, w)};", "        endcase", "    end", "endmodule"]
    return "\n".join(out) + "\n"


__all__ = ["dac_rom_text", "literal", "module_text"]
