r"""Self-checking testbenches of exported converters (Verilog and VHDL-2008).

A testbench reads a design's golden-vector file (:func:`~hwsim.converters.rtl.vectors.memh_text`),
applies each vector to the module, waits for the output (a combinational design: one time unit;
a pipelined one: one rising edge of ``clk``, its latency of one cycle), and compares ``code`` (and
``level``) with the expected values. On the first mismatch it prints one line

``MISMATCH <name> vector <i>: input <hex> expected code <hex> [level <hex>] got code <hex> [level <hex>]``

and stops with a failure: Verilog ``$fatal(1, ...)`` (Icarus 11's ``vvp`` then exits with status 1,
a Verilator binary aborts with a non-zero status), VHDL ``report ... severity failure`` (``ghdl -r``
exits non-zero). A testbench that got through every vector prints
``PASS <name>: <n> vectors`` and ends normally (status 0). The VHDL testbench also fails when the
file holds a different number of vectors than it was generated with.

:func:`verilog_testbench` can check several designs in one top module (one after another), so one
Verilator build covers many exported modules; each design keeps its own vector file.

File names inside a testbench are plain names (letters, digits, ``_``, ``-``, ``.``, ``+``;
:func:`check_file_name`), read from the simulator's working folder.
"""

from __future__ import annotations

import re

from .rtl_design import RTLDesign, check_name, header_lines
from .vectors import Vectors

_FILE_NAME = re.compile(r"[A-Za-z0-9_+][A-Za-z0-9_.+-]{0,127}")


def check_file_name(name: str, what: str = "vector file name") -> str:
    """``name`` if it can stand inside an HDL string literal as it is (no quotes, backslashes, slashes,
    spaces or control characters)."""
    if not isinstance(name, str) or _FILE_NAME.fullmatch(name) is None:
        raise ValueError(f"{what} must be a plain file name (letters, digits, '_', '+', '-', '.', not starting with "
                         f"'.' or '-', at most 128 characters) so that a testbench can name it, got {name!r}")
    return name


def _hdl_fields(v: Vectors) -> dict:
    return {k: (lsb + width - 1, lsb) for k, (lsb, width) in v.fields.items()}


def verilog_testbench(entries, top: str) -> str:
    """A Verilog testbench module ``top`` checking each ``(design, vectors, vector_file_name)`` of ``entries``."""
    top = check_name(top, "testbench name")
    entries = list(entries)
    if not entries:
        raise ValueError("verilog_testbench needs at least one design")
    names = [d.name for d, _, _ in entries]
    if len(set(n.lower() for n in names)) != len(names) or top.lower() in {n.lower() for n in names}:
        raise ValueError(f"the designs of one testbench need distinct module names (and a different top name), got "
                         f"{names} and top {top!r}")
    piped = any(d.pipeline for d, _, _ in entries)
    out = [f"// {line}".rstrip() for line in header_lines(entries[0][0], f"Verilog testbench {top} (hwsim RTL export)")]
    if len(entries) > 1:
        out.append(f"// checks {len(entries)} designs: " + ", ".join(names))
    out += ["// prints MISMATCH and stops with $fatal(1) on the first wrong output; prints PASS lines otherwise",
            f"module {top};"]
    if piped:
        out.append("    reg clk;")
    out.append("    integer i;")
    body = ["    initial begin"]
    if piped:
        body.append("        clk = 1'b0;")
    total = 0
    for j, (d, v, fname) in enumerate(entries):
        fname = check_file_name(fname)
        f = _hdl_fields(v)
        n = len(v)
        total += n
        sig = " signed" if d.form == "requantizer" else ""
        port = "therm" if d.form == "flash" else "sample"
        timing = "pipelined" if d.pipeline else "combinational"
        out += [f"    // design {j}: {d.name} ({d.form}, {d.output_code}, {timing})",
                f"    reg [{v.word_bits - 1}:0] vec{j} [0:{n - 1}];",
                f"    reg{sig} [{d.input_bits - 1}:0] in{j};",
                f"    wire [{d.code_bits - 1}:0] code{j};"]
        conns = ([".clk(clk)"] if d.pipeline else []) + [f".{port}(in{j})", f".code(code{j})"]
        if d.form == "requantizer":
            out.append(f"    wire signed [{d.level_format.word - 1}:0] level{j};")
            conns.append(f".level(level{j})")
        out.append(f"    {d.name} dut{j} ({', '.join(conns)});")
        ih, il = f["input"]
        ch, cl = f["code"]
        bad = f"code{j} !== vec{j}[i][{ch}:{cl}]"
        exp = "expected code %h"
        got = "got code %h"
        args_exp = [f"vec{j}[i][{ch}:{cl}]"]
        args_got = [f"code{j}"]
        if d.form == "requantizer":
            lh, ll = f["level"]
            bad += f" || level{j} !== vec{j}[i][{lh}:{ll}]"
            exp += " level %h"
            got += " level %h"
            args_exp.append(f"vec{j}[i][{lh}:{ll}]")
            args_got.append(f"level{j}")
        body += [f"        in{j} = {d.input_bits}'d0;",
                 f"        $readmemh(\"{fname}\", vec{j});",
                 f"        for (i = 0; i < {n}; i = i + 1) begin",
                 f"            in{j} = vec{j}[i][{ih}:{il}];"]
        if d.pipeline:
            body += ["            #5 clk = 1'b1;", "            #1;"]
        else:
            body += ["            #1;"]
        body += [f"            if ({bad}) begin",
                 f"                $display(\"MISMATCH {d.name} vector %0d: input %h {exp} {got}\", i, in{j}, "
                 + ", ".join(args_exp + args_got) + ");",
                 f"                $fatal(1, \"{d.name}: golden vector %0d mismatch\", i);",
                 "            end"]
        body += ["            #4 clk = 1'b0;" if d.pipeline else "            #9;", "        end",
                 f"        $display(\"PASS {d.name}: {n} vectors\");"]
    if len(entries) > 1:
        body.append(f"        $display(\"PASS all: {total} vectors of {len(entries)} designs\");")
    body += ["        $finish;", "    end"]
    return "\n".join(out + body + ["endmodule"]) + "\n"


def vhdl_testbench(d: RTLDesign, v: Vectors, vector_file: str, top: str | None = None) -> str:
    """A VHDL-2008 testbench entity (default ``<name>_tb``) checking design ``d`` against ``vectors``."""
    top = check_name(top or f"{d.name}_tb", "testbench name")
    fname = check_file_name(vector_file)
    f = _hdl_fields(v)
    n = len(v)
    w = v.word_bits
    ih, il = f["input"]
    ch, cl = f["code"]
    req = d.form == "requantizer"
    out = [f"-- {line}".rstrip() for line in header_lines(d, f"VHDL-2008 testbench {top} (hwsim RTL export)")]
    out += ["-- reports MISMATCH with severity failure on the first wrong output; reports PASS otherwise", "",
            "library ieee;", "use ieee.std_logic_1164.all;", "use ieee.numeric_std.all;", "use std.textio.all;", "",
            f"entity {top} is", f"end entity {top};", "", f"architecture sim of {top} is"]
    if d.pipeline:
        out.append("  signal clk : std_logic := '0';")
    if req:
        out += [f"  signal sample : signed({d.input_format.word - 1} downto 0) := (others => '0');",
                f"  signal level : signed({d.level_format.word - 1} downto 0);"]
    else:
        out.append(f"  signal therm : std_logic_vector({d.n_levels - 2} downto 0) := (others => '0');")
    out += [f"  signal code : std_logic_vector({d.code_bits - 1} downto 0);", "begin"]
    conns = (["clk => clk"] if d.pipeline else []) + (["sample => sample", "code => code", "level => level"] if req
                                                       else ["therm => therm", "code => code"])
    out += [f"  dut : entity work.{d.name} port map ({', '.join(conns)});", "",
            "  stim : process",
            f"    file vf : text open read_mode is \"{fname}\";",
            "    variable l : line;",
            f"    variable word : std_logic_vector({w - 1} downto 0);",
            "    variable good : boolean;",
            "    variable i : natural := 0;",
            "    variable wrong : boolean;",
            "  begin",
            "    while not endfile(vf) loop",
            "      readline(vf, l);",
            "      if l'length > 0 then",
            "        if l(l'low) /= '/' then",
            "          hread(l, word, good);",
            "          assert good report \"unreadable vector line \" & integer'image(i) severity failure;",
            (f"          sample <= signed(word({ih} downto {il}));" if req
             else f"          therm <= word({ih} downto {il});")]
    if d.pipeline:
        out += ["          wait for 5 ns;", "          clk <= '1';", "          wait for 1 ns;"]
    else:
        out += ["          wait for 1 ns;"]
    out.append(f"          wrong := code /= word({ch} downto {cl});")
    msg = (f"\"MISMATCH {d.name} vector \" & integer'image(i) & \": input \" & to_hstring(word({ih} downto {il})) & "
           f"\" expected code \" & to_hstring(word({ch} downto {cl}))")
    if req:
        lh, ll = f["level"]
        out.append(f"          wrong := wrong or std_logic_vector(level) /= word({lh} downto {ll});")
        msg += f" & \" level \" & to_hstring(word({lh} downto {ll}))"
    msg += " & \" got code \" & to_hstring(code)"
    if req:
        msg += " & \" level \" & to_hstring(std_logic_vector(level))"
    out += ["          if wrong then",
            f"            report {msg} severity failure;",
            "          end if;",
            "          wait for 4 ns;" if d.pipeline else "          wait for 9 ns;"]
    if d.pipeline:
        out.append("          clk <= '0';")
    out += ["          i := i + 1;", "        end if;", "      end if;", "    end loop;",
            f"    if i /= {n} then",
            f"      report \"{d.name}: read \" & integer'image(i) & \" vectors, expected {n}\" severity failure;",
            "    end if;",
            f"    report \"PASS {d.name}: \" & integer'image(i) & \" vectors\";",
            "    std.env.finish;",
            "    wait;",
            "  end process stim;",
            "end architecture sim;"]
    return "\n".join(out) + "\n"


__all__ = ["check_file_name", "verilog_testbench", "vhdl_testbench"]
