"""VHDL-2008 text of an :class:`~hwsim.converters.rtl.rtl_design.RTLDesign`: the converter entity and the
threshold-DAC ROM of a flash design (``ieee.numeric_std``; analyses with ``ghdl -a --std=08``).

Ports mirror the Verilog module: ``therm : in std_logic_vector(M-2 downto 0)`` (flash) or
``sample : in signed(N-1 downto 0)`` (requantizer), ``code : out std_logic_vector(B-1 downto 0)``,
``level : out signed(L-1 downto 0)`` (requantizer) and ``clk : in std_logic`` when pipelined.
Constants are binary string literals of integers computed in :mod:`~hwsim.converters.rtl.rtl_design`
(no VHDL ``integer`` arithmetic, so words up to 62 bits work).
"""

from __future__ import annotations

from ..formats.comments import num
from .rtl_design import RTLDesign, ceil_log2, header_lines


def bits(value: int, width: int) -> str:
    """The ``width``-bit two's-complement pattern of ``value`` as a VHDL bit-string literal."""
    pattern = int(value) & ((1 << width) - 1)
    return '"' + format(pattern, f"0{width}b") + '"'


def _aggregate(items) -> list[str]:
    """Lines of a named aggregate from ``(element, comment)`` pairs, commas before the comments."""
    items = list(items)
    return [f"    {e}{',' if i < len(items) - 1 else ''}" + (f"  -- {c}" if c else "")
            for i, (e, c) in enumerate(items)]


def _comment_block(d: RTLDesign, what: str) -> list[str]:
    return [f"-- {line}".rstrip() for line in header_lines(d, what)]


_LIBS = ["library ieee;", "use ieee.std_logic_1164.all;", "use ieee.numeric_std.all;", ""]


def _encode(d: RTLDesign) -> list[str]:
    b = d.code_bits
    if d.output_code == "offset_binary":
        return ["  code_c <= std_logic_vector(index);"]
    if d.output_code == "twos_complement":
        if b == 1:
            return ["  code_c(0) <= not index(0);"]
        return [f"  code_c({b - 1}) <= not index({b - 1});",
                f"  code_c({b - 2} downto 0) <= std_logic_vector(index({b - 2} downto 0));"]
    return ["  code_c <= std_logic_vector(index xor shift_right(index, 1));"]


def entity_text(d: RTLDesign) -> str:
    """The converter entity ``d.name`` and its architecture ``rtl``."""
    m, b = d.n_levels, d.code_bits
    out = _comment_block(d, f"VHDL-2008 entity {d.name} (hwsim RTL export of a decision table)") + [""] + _LIBS
    ports = ["    clk   : in  std_logic"] if d.pipeline else []
    if d.form == "flash":
        ports += [f"    therm : in  std_logic_vector({m - 2} downto 0)",
                  f"    code  : out std_logic_vector({b - 1} downto 0)"]
    else:
        ports += [f"    sample : in  signed({d.input_format.word - 1} downto 0)",
                  f"    code   : out std_logic_vector({b - 1} downto 0)",
                  f"    level  : out signed({d.level_format.word - 1} downto 0)"]
    out += [f"entity {d.name} is", "  port (", ";\n".join(ports), "  );", f"end entity {d.name};", "",
            f"architecture rtl of {d.name} is"]
    if d.form == "requantizer":
        n, lw = d.input_format.word, d.level_format.word
        out += [f"  type thr_array is array (0 to {m - 2}) of signed({n - 1} downto 0);",
                f"  -- integer thresholds thr_k = ceil(t_k / 2^-{d.input_format.frac}) ({d.input_format.name})",
                "  constant THR : thr_array := ("]
        out += _aggregate((f"{k} => {bits(v, n)}", f"t_{k + 1} = {num(float(t))}, thr = {int(v)}")
                          for k, (v, t) in enumerate(zip(d.threshold_ints, d.thresholds)))
        out += ["  );", f"  type level_array is array (0 to {m - 1}) of signed({lw - 1} downto 0);",
                f"  -- level ROM ({d.level_format.name}, {lw} bits)", "  constant LVL : level_array := ("]
        out += _aggregate((f"{k} => {bits(v, lw)}", f"g_{k} = {num(float(g))}")
                          for k, (v, g) in enumerate(zip(d.level_ints, d.levels)))
        out += ["  );", f"  signal level_c : signed({lw - 1} downto 0);"]
    out += [f"  signal index  : unsigned({b - 1} downto 0);",
            f"  signal code_c : std_logic_vector({b - 1} downto 0);",
            "begin"]
    if d.form == "flash":
        out += ["  -- ones counter: code index = number of comparators at 1 (bubble-tolerant)",
                "  count : process (therm)",
                f"    variable n : natural range 0 to {m - 1};",
                "  begin",
                "    n := 0;",
                "    for k in therm'range loop",
                "      if therm(k) = '1' then",
                "        n := n + 1;",
                "      end if;",
                "    end loop;",
                f"    index <= to_unsigned(n, {b});",
                "  end process count;"]
    else:
        out += ["  -- comparators sample >= thr_k, counted: code index = number of thresholds at or below the sample",
                "  count : process (sample)",
                f"    variable n : natural range 0 to {m - 1};",
                "  begin",
                "    n := 0;",
                f"    for k in 0 to {m - 2} loop",
                "      if sample >= THR(k) then",
                "        n := n + 1;",
                "      end if;",
                "    end loop;",
                f"    index <= to_unsigned(n, {b});",
                "  end process count;",
                "  level_c <= LVL(to_integer(index));"]
    out += _encode(d)
    if d.pipeline:
        out += ["  regs : process (clk)", "  begin", "    if rising_edge(clk) then", "      code <= code_c;"]
        if d.form == "requantizer":
            out += ["      level <= level_c;"]
        out += ["    end if;", "  end process regs;"]
    else:
        out += ["  code <= code_c;"]
        if d.form == "requantizer":
            out += ["  level <= level_c;"]
    out += ["end architecture rtl;"]
    return "\n".join(out) + "\n"


def dac_rom_text(d: RTLDesign) -> str:
    """The ROM entity ``<name>_dac_rom`` of a flash design's threshold-DAC codes (``addr`` ``k-1`` reads the
    code of threshold ``k``; addresses past the last threshold read 0)."""
    if d.dac_codes is None:
        raise ValueError(f"design {d.name!r} has no threshold DAC")
    n = d.dac_codes.size
    a = ceil_log2(n)
    w = int(d.dac.bits)
    rom = f"{d.name}_dac_rom"
    out = _comment_block(d, f"VHDL-2008 entity {rom}: threshold-DAC codes of {d.name}") + [""] + _LIBS
    out += [f"entity {rom} is", "  port (", f"    addr     : in  unsigned({a - 1} downto 0);",
            f"    dac_code : out std_logic_vector({w - 1} downto 0)", "  );", f"end entity {rom};", "",
            f"architecture rtl of {rom} is",
            f"  type rom_array is array (0 to {(1 << a) - 1}) of std_logic_vector({w - 1} downto 0);",
            "  constant ROM : rom_array := ("]
    items = [(f"{k} => {bits(c, w)}", f"t_{k + 1} = {num(float(t))}")
             for k, (c, t) in enumerate(zip(d.dac_codes, d.comparator_thresholds))]
    if n < (1 << a):
        items.append((f"others => {bits(0, w)}", ""))
    out += _aggregate(items) + ["  );", "begin", "  dac_code <= ROM(to_integer(addr));", "end architecture rtl;"]
    return "\n".join(out) + "\n"


__all__ = ["bits", "dac_rom_text", "entity_text"]
