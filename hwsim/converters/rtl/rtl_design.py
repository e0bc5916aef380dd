r"""The RTL design of a decision table: what an exported converter module computes, in Python first.

:func:`design` takes a :class:`~hwsim.converters.adc.ThresholdADC` and fixes every number the RTL
holds (the comparator thresholds, the integer thresholds and levels of a fixed-point requantizer,
the threshold-DAC codes) and the Python hard path the RTL must reproduce bit for bit
(:meth:`RTLDesign.reference_index`). The Verilog and VHDL texts are built from the same numbers.

Two forms:

``flash``
    The digital back end of a flash converter. ``M - 1`` comparators (analog, outside the module)
    compare the input with the thresholds :attr:`RTLDesign.comparator_thresholds` (the table's, or
    their threshold-DAC rounding when ``dac`` is given); the module takes their outputs as a
    thermometer word ``therm[M-2:0]`` (bit ``k-1`` is comparator ``k``: 1 when the input is at or
    above threshold ``t_k``) and encodes it. **Encoder rule (bubble-tolerant):** the code index is
    the number of comparators at 1 (a ones counter). For a clean thermometer word that is the
    number of thresholds at or below the input, the table's own code; a single bubble (one
    comparator wrong) moves the index by at most one code, never to a far code as a priority
    encoder or an XOR one-hot decoder would. :meth:`RTLDesign.index_of_therm` is that rule.

``requantizer``
    A digital requantizer: the input is a fixed-point sample (``input_format``, two's complement)
    and the module compares it with integer thresholds ``threshold_ints`` and reads the
    reconstruction level from a ROM (``level_format``). With ``lsb = 2**-frac`` of the input word,
    ``thr_k = ceil(t_k / lsb)``, so for every integer sample ``s``,
    ``s >= thr_k  <=>  s * lsb >= t_k``: the module decides exactly as the table does on the
    quantized sample. A threshold at or below the word's smallest value saturates to it (its
    comparator is always 1, which is exact); a threshold above the word's largest value is refused
    (its code could never be reached). Two thresholds on the same integer are refused (ValueError
    naming them, the format, and the input word that would separate them). Samples reach the word
    by :meth:`RTLDesign.sample_ints`: ``input_format.to_int(x, rounding, overflow)`` (defaults
    ``"nearest"``, ties towards plus infinity, and ``"saturate"``).

Both forms emit the code index on a ``B``-bit port ``code`` (``B = codes.code_bits(M)``) in one of
:data:`~hwsim.converters.rtl.codes.OUTPUT_CODES`; with ``pipeline=True`` the outputs are registered
on the rising edge of ``clk`` (one cycle of latency) and without it the module is combinational
and has no clock.

Names: a module name is a plain identifier (a letter, then letters, digits and single
underscores, not ending in one, at most :data:`MAX_NAME_CHARS` characters) that is no keyword of
Verilog-2005, SystemVerilog or VHDL-2008 (compared case-insensitively, as VHDL does), so one name
serves every language; anything else is refused (:func:`check_name`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

import numpy as np

from ...qformat import OVERFLOWS, ROUNDINGS, QFormat
from ..adc import ThresholdADC
from . import codes as _codes

#: Forms of an exported converter (module text).
FORMS = ("flash", "requantizer")

#: Longest module name (the generated files add suffixes such as ``_dac_rom``, ``_tb``, ``_pkg``).
MAX_NAME_CHARS = 40

#: Most levels of a flash design (its thermometer port has ``M - 1`` bits).
MAX_FLASH_LEVELS = 1024

#: Most levels of a requantizer design (its level ROM has ``M`` words).
MAX_REQUANTIZER_LEVELS = 4096

#: Default word lengths: the requantizer's input sample and the level ROM.
DEFAULT_INPUT_WORD = 12
DEFAULT_LEVEL_WORD = 16

_IDENT = re.compile(r"[A-Za-z](?:_?[A-Za-z0-9])*")

_VERILOG_KEYWORDS = """always and assign automatic begin buf bufif0 bufif1 case casex casez cell cmos config deassign
default defparam design disable edge else end endcase endconfig endfunction endgenerate endmodule endprimitive
endspecify endtable endtask event for force forever fork function generate genvar highz0 highz1 if ifnone incdir
include initial inout input instance integer join large liblist library localparam macromodule medium module nand
negedge nmos nor noshowcancelled not notif0 notif1 or output parameter pmos posedge primitive pull0 pull1 pulldown
pullup pulsestyle_onevent pulsestyle_ondetect rcmos real realtime reg release repeat rnmos rpmos rtran rtranif0
rtranif1 scalared showcancelled signed small specify specparam strong0 strong1 supply0 supply1 table task time tran
tranif0 tranif1 tri tri0 tri1 triand trior trireg unsigned use uwire vectored wait wand weak0 weak1 while wire wor
xnor xor"""

_SV_KEYWORDS = """accept_on alias always_comb always_ff always_latch assert assume before bind bins binsof bit break
byte chandle checker class clocking const constraint context continue cover covergroup coverpoint cross dist do
endchecker endclass endclocking endgroup endinterface endpackage endprogram endproperty endsequence enum eventually
expect export extends extern final first_match foreach forkjoin global iff ignore_bins illegal_bins implements
implies import inside int interconnect interface intersect join_any join_none let local logic longint matches
modport nettype new nexttime null package packed priority program property protected pure rand randc randcase
randsequence ref reject_on restrict return s_always s_eventually s_nexttime s_until s_until_with sequence shortint
shortreal soft solve static string strong struct super sync_accept_on sync_reject_on tagged this throughout
timeprecision timeunit type typedef union unique unique0 until until_with untyped var virtual void wait_order weak
wildcard with within"""

_VHDL_KEYWORDS = """abs access after alias all and architecture array assert assume assume_guarantee attribute begin
block body buffer bus case component configuration constant context cover default disconnect downto else elsif end
entity exit fairness file for force function generate generic group guarded if impure in inertial inout is label
library linkage literal loop map mod nand new next nor not null of on open or others out package parameter port
postponed procedure process property protected pure range record register reject release rem report restrict
restrict_guarantee return rol ror select sequence severity shared signal sla sll sra srl strong subtype then to
transport type unaffected units until use variable vmode vprop vunit wait when while with xnor xor"""

#: Reserved words of Verilog-2005, SystemVerilog-2017 and VHDL-2008 (lower case), refused as names.
KEYWORDS = frozenset((_VERILOG_KEYWORDS + " " + _SV_KEYWORDS + " " + _VHDL_KEYWORDS).split())

#: Names the generated code uses inside a module, refused as module names (they would shadow).
_INTERNAL = frozenset({"therm", "code", "sample", "level", "clk", "index", "ge", "addr", "dac_code", "std",
                       "ieee", "work", "std_logic_1164", "numeric_std", "textio"})


def check_name(name, what: str = "name") -> str:
    """``name`` if it is a plain identifier usable as a module / entity name in every exported language.

    Raises ValueError saying what is allowed otherwise (``what`` names the argument).
    """
    if not isinstance(name, str):
        raise ValueError(f"{what} must be a string (a plain identifier), got {type(name).__name__}")
    if not name or len(name) > MAX_NAME_CHARS or _IDENT.fullmatch(name) is None:
        shown = repr(name) if len(name) <= 60 else repr(name[:57]) + "..."
        raise ValueError(f"{what} must be a plain identifier of 1 to {MAX_NAME_CHARS} characters: an ASCII letter, "
                         "then letters, digits and single underscores, not ending in an underscore (a name that "
                         f"Verilog and VHDL both accept), got {shown}")
    if name.lower() in KEYWORDS or name.lower() in _INTERNAL:
        raise ValueError(f"{what} {name!r} is a reserved word of Verilog, SystemVerilog or VHDL (or a name the "
                         "generated code uses inside the module); choose another name")
    return name


@dataclass(frozen=True, eq=False)
class RTLDesign:
    """An exported converter: its numbers, its Python hard path and its HDL text (built by :func:`design`).

    Attributes
    ----------
    name : str
        Module / entity name.
    form : str
        ``"flash"`` or ``"requantizer"`` (module text of :mod:`~hwsim.converters.rtl.rtl_design`).
    n_levels : int
        Levels M.
    code_bits : int
        Bits B of the output port ``code``.
    output_code : str
        One of :data:`~hwsim.converters.rtl.codes.OUTPUT_CODES`.
    pipeline : bool
        Registered outputs (one clock of latency, port ``clk``).
    thresholds : numpy.ndarray
        The table's thresholds, float64 [M-1].
    levels : numpy.ndarray
        The table's levels, float64 [M].
    comparator_thresholds : numpy.ndarray
        What the flash comparators compare the input with, float64 [M-1] (the DAC-rounded thresholds
        when a DAC is given; the table's thresholds otherwise; for a requantizer, the thresholds
        its integers stand for, ``threshold_ints * lsb``).
    input_format : QFormat or None
        The requantizer's sample word (None for flash).
    threshold_ints : numpy.ndarray or None
        Requantizer: int64 [M-1] integer thresholds in ``input_format``.
    level_format : QFormat
        The level ROM's word.
    level_ints : numpy.ndarray
        int64 [M]: the levels in ``level_format`` (rounded to nearest).
    dac_codes : numpy.ndarray or None
        Flash: int64 [M-1] threshold-DAC codes, or None without a DAC.
    dac : RoundedTable or None
        The DAC rounding the codes come from.
    rounding, overflow : str
        How :meth:`sample_ints` makes a float sample an input integer.
    full_scale : tuple[float, float]
        Input range (for the default input format and random vectors).
    units : str
        Units of the input.
    provenance : dict
        Where the table came from (written, escaped, into every file's header).
    verilog : str
        The Verilog-2005 module.
    vhdl : str
        The VHDL-2008 entity and architecture.
    dac_rom_verilog, dac_rom_vhdl : str or None
        Flash with a DAC: the ROM of threshold-DAC codes, module / entity ``<name>_dac_rom``.
    """

    name: str
    form: str
    n_levels: int
    code_bits: int
    output_code: str
    pipeline: bool
    thresholds: np.ndarray
    levels: np.ndarray
    comparator_thresholds: np.ndarray
    input_format: QFormat | None
    threshold_ints: np.ndarray | None
    level_format: QFormat
    level_ints: np.ndarray
    dac_codes: np.ndarray | None
    dac: object = field(repr=False)
    rounding: str
    overflow: str
    full_scale: tuple
    units: str
    provenance: dict = field(default_factory=dict)
    verilog: str = field(default="", repr=False)
    vhdl: str = field(default="", repr=False)
    dac_rom_verilog: str | None = field(default=None, repr=False)
    dac_rom_vhdl: str | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ the hard path
    def sample_ints(self, x) -> np.ndarray:
        """Requantizer: the input integers (int64) of float samples ``x`` (``input_format.to_int`` with
        :attr:`rounding` and :attr:`overflow`)."""
        if self.input_format is None:
            raise ValueError(f"sample_ints: design {self.name!r} is a flash design, whose input is a thermometer "
                             "word (see therm)")
        return self.input_format.to_int(x, rounding=self.rounding, overflow=self.overflow, name="x")

    def therm(self, x) -> np.ndarray:
        """Flash: comparator outputs, uint8 [..., M-1]; bit ``k-1`` is ``x >= comparator_thresholds[k-1]``."""
        if self.form != "flash":
            raise ValueError(f"therm: design {self.name!r} is a requantizer, whose input is a sample word "
                             "(see sample_ints)")
        v = _real_samples(x)
        return (v[..., None] >= self.comparator_thresholds).astype(np.uint8)

    def index_of_therm(self, therm) -> np.ndarray:
        """Flash: the encoder rule on thermometer words (any bit pattern, bubbles included): the code index
        is the number of ones (int64, shape ``therm.shape[:-1]``)."""
        t = np.asarray(therm)
        if t.ndim < 1 or t.shape[-1] != self.n_levels - 1:
            raise ValueError(f"therm must have a last axis of M - 1 = {self.n_levels - 1} bits, got shape {t.shape}")
        if t.size and (t.min() < 0 or t.max() > 1):
            raise ValueError("therm must hold bits 0 and 1")
        return t.astype(np.int64).sum(axis=-1)

    def index_of_ints(self, s) -> np.ndarray:
        """Requantizer: code index (int64) of input integers ``s``: the number of ``threshold_ints`` <= s."""
        if self.threshold_ints is None:
            raise ValueError(f"index_of_ints: design {self.name!r} is a flash design")
        s = np.asarray(s, dtype=np.int64)
        fmt = self.input_format
        if s.size and (s.min() < fmt.lo_int or s.max() > fmt.hi_int):
            raise ValueError(f"input integers must lie in [{fmt.lo_int}, {fmt.hi_int}] ({fmt.describe()})")
        return np.searchsorted(self.threshold_ints, s, side="right").astype(np.int64)

    def reference_index(self, x) -> np.ndarray:
        """The code index (int64) the RTL produces for float samples ``x``.

        Flash: the number of :attr:`comparator_thresholds` at or below ``x``; requantizer: the number of
        :attr:`threshold_ints` at or below ``sample_ints(x)``.
        """
        if self.form == "flash":
            v = _real_samples(x)
            return np.searchsorted(self.comparator_thresholds, v, side="right").astype(np.int64)
        return self.index_of_ints(self.sample_ints(x))

    def reference_pattern(self, x) -> np.ndarray:
        """Bit patterns (int64) on the ``code`` port for float samples ``x`` (:func:`codes.encode` of
        :meth:`reference_index`)."""
        return _codes.encode(self.reference_index(x), self.n_levels, self.output_code)

    def pattern_of_index(self, index) -> np.ndarray:
        """Bit patterns (int64) of code indices in :attr:`output_code`."""
        return _codes.encode(index, self.n_levels, self.output_code)

    def reference_level_ints(self, x) -> np.ndarray:
        """The integers (int64) on the requantizer's ``level`` port for float samples ``x``."""
        if self.form != "requantizer":
            raise ValueError(f"reference_level_ints: design {self.name!r} is a flash design (no level port)")
        return self.level_ints[self.reference_index(x)]

    @property
    def latency(self) -> int:
        """Clock cycles from input to output (1 when pipelined, else 0)."""
        return 1 if self.pipeline else 0

    @property
    def input_bits(self) -> int:
        """Width of the input port: ``M - 1`` (flash ``therm``) or the sample word (requantizer)."""
        return self.n_levels - 1 if self.form == "flash" else self.input_format.word


def _real_samples(x) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64)
    if np.isnan(v).any():
        raise ValueError("x holds NaN, which no converter input can be")
    return v


def _format(value, what: str) -> QFormat | None:
    if value is None or isinstance(value, QFormat):
        return value
    if isinstance(value, str):
        return QFormat.parse(value)
    raise ValueError(f"{what} must be a QFormat, a name such as 'Q3.8', or None, got {value!r}")


def _separating_word(t: np.ndarray, fmt: QFormat) -> QFormat | None:
    """The narrowest signed format with ``fmt``'s range whose integers separate every threshold, if any."""
    for extra in range(1, 64):
        if fmt.word + extra > 62:
            return None
        wider = QFormat(fmt.word + extra, fmt.frac + extra, fmt.signed)
        ints = np.maximum(np.ceil(np.ldexp(t, wider.frac)), wider.lo_int)
        if np.all(np.diff(ints) > 0):
            return wider
    return None


def _threshold_ints(t: np.ndarray, fmt: QFormat) -> np.ndarray:
    scaled = np.ceil(np.ldexp(t, fmt.frac))
    above = np.flatnonzero(scaled > fmt.hi_int)
    if above.size:
        k = int(above[0])
        raise ValueError(f"input_format {fmt.describe()}: threshold t_{k + 1} = {float(t[k])!r} lies above the largest "
                         f"sample {fmt.max!r}, so code {k + 1} could never be reached; use an input format with a "
                         "wider range (fewer fraction bits or a longer word) or a full_scale that holds every "
                         "threshold")
    ints = np.maximum(scaled, fmt.lo_int).astype(np.int64)
    same = np.flatnonzero(np.diff(ints) <= 0)
    if same.size:
        pairs = ", ".join(f"t_{k + 1} = {float(t[k])!r} and t_{k + 2} = {float(t[k + 1])!r} (both {int(ints[k])})"
                          for k in same[:4]) + (f" and {same.size - 4} more pairs" if same.size > 4 else "")
        wider = _separating_word(t, fmt)
        hint = (f"; an input word of {wider.word} bits ({wider.name}, {wider.word - fmt.word} more fraction bits) "
                "would separate them" if wider is not None else "; no word up to 62 bits separates them")
        raise ValueError(f"input_format {fmt.describe()} is too short: thresholds {pairs} land on the same integer "
                         f"threshold (LSB {fmt.lsb!r}){hint}")
    return ints


def _level_ints(g: np.ndarray, fmt: QFormat) -> np.ndarray:
    ints = np.floor(np.ldexp(g, fmt.frac) + 0.5)
    bad = np.flatnonzero((ints < fmt.lo_int) | (ints > fmt.hi_int))
    if bad.size:
        k = int(bad[0])
        raise ValueError(f"level_format {fmt.describe()} cannot hold level g_{k} = {float(g[k])!r} (it would "
                         "saturate); "
                         "use a level format with a wider range")
    return ints.astype(np.int64)


def _readonly(a):
    if a is not None:
        a = np.array(a)
        a.setflags(write=False)
    return a


def design(adc, form: str = "flash", output_code: str = "offset_binary", name: str = "hwsim_adc", *,
           pipeline: bool = False, input_format=None, level_format=None, dac=None, full_scale=None,
           units: str = "V", provenance=None, code_bits=None, rounding: str = "nearest",
           overflow: str = "saturate") -> RTLDesign:
    """The RTL design of decision table ``adc`` (module text of :mod:`~hwsim.converters.rtl.rtl_design`).

    Parameters
    ----------
    adc : ThresholdADC
        The decision table (M levels).
    form : str
        ``"flash"`` (thermometer-code encoder) or ``"requantizer"`` (fixed-point sample in).
    output_code : str
        Code on the ``code`` port, one of :data:`~hwsim.converters.rtl.codes.OUTPUT_CODES`.
    name : str
        Module name (:func:`check_name`).
    pipeline : bool
        Register the outputs on ``clk`` (one cycle of latency).
    input_format : QFormat, str or None
        Requantizer sample word; default: the 12-bit signed word covering the full scale
        (``QFormat.covering(max(|lo|, |hi|), 12)``). Refused for flash.
    level_format : QFormat, str or None
        Level ROM word; default: the 16-bit signed word covering the largest ``|level|``.
    dac : int, RoundedTable or None
        Flash only: threshold-DAC resolution in bits (the thresholds are rounded with
        :func:`~hwsim.converters.fixed_point.dac_round` over ``full_scale``) or a ready rounding.
    full_scale : (lo, hi) or None
        Input range; default :func:`~hwsim.converters.fixed_point.default_full_scale`.
    units : str
        Units of the input (header comments).
    provenance : dict or None
        Where the table came from (header comments, escaped).
    code_bits : int or None
        Width of the ``code`` port; None takes ``codes.code_bits(M)``, the only width allowed.
    rounding, overflow : str
        Requantizer: how float samples become input integers (:meth:`RTLDesign.sample_ints`).

    Returns
    -------
    RTLDesign
        Its numbers, hard path and Verilog / VHDL text.

    Raises
    ------
    ValueError
        Bad arguments, a name that is no plain identifier or a reserved word, an input word too
        short to separate the thresholds, a level word too narrow for the levels, a code width
        other than the one M levels need.
    """
    from .. import fixed_point
    from ..formats.common import check_units

    if not isinstance(adc, ThresholdADC):
        raise ValueError(f"adc must be a hwsim.converters.adc.ThresholdADC (a decision table), got "
                         f"{type(adc).__name__}")
    if form not in FORMS:
        raise ValueError(f"form must be one of {', '.join(FORMS)}, got {form!r}")
    _codes.check_code(output_code)
    name = check_name(name)
    if not isinstance(pipeline, (bool, np.bool_)):
        raise ValueError(f"pipeline must be True or False, got {pipeline!r}")
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {', '.join(ROUNDINGS)}, got {rounding!r}")
    if overflow not in OVERFLOWS:
        raise ValueError(f"overflow must be one of {', '.join(OVERFLOWS)}, got {overflow!r}")
    m = adc.n_levels
    limit = MAX_FLASH_LEVELS if form == "flash" else MAX_REQUANTIZER_LEVELS
    if m > limit:
        raise ValueError(f"a {form} design has at most {limit} levels, got a {m}-level table")
    bits = _codes.code_bits(m)
    if code_bits is not None:
        if isinstance(code_bits, bool) or not isinstance(code_bits, (int, np.integer)):
            raise ValueError(f"code_bits must be an integer or None, got {code_bits!r}")
        if code_bits < bits:
            raise ValueError(f"code_bits = {code_bits} is too small: a {m}-level table needs {bits} bits on the "
                             "code port")
        if code_bits != bits:
            raise ValueError(f"code_bits = {code_bits}: the code port of a {m}-level table is exactly {bits} bits "
                             "wide (wider words are not exported)")
    units = check_units(None, units)
    lo, hi = (fixed_point.default_full_scale(adc) if full_scale is None
              else fixed_point.check_full_scale("full_scale", full_scale))
    if provenance is None:
        provenance = {}
    if not isinstance(provenance, dict):
        raise ValueError(f"provenance must be a dict or None, got {type(provenance).__name__}")
    t = np.asarray(adc.thresholds, dtype=np.float64)
    g = np.asarray(adc.levels, dtype=np.float64)

    rounded = None
    dac_codes = None
    in_fmt = _format(input_format, "input_format")
    lvl_fmt = _format(level_format, "level_format")
    thr_ints = None
    if form == "flash":
        if in_fmt is not None:
            raise ValueError("input_format applies to the requantizer form only (a flash design's input is the "
                             "comparators' thermometer word)")
        if dac is not None:
            if isinstance(dac, fixed_point.RoundedTable):
                rounded = dac
                if rounded.codes.size != t.size:
                    raise ValueError(f"dac: a rounding of {rounded.codes.size + 1} levels does not fit a {m}-level "
                                     "table")
            else:
                rounded = fixed_point.dac_round(adc, dac, (lo, hi))
            dac_codes = np.asarray(rounded.codes, dtype=np.int64)
            comparator = np.asarray(rounded.adc.thresholds, dtype=np.float64)
        else:
            comparator = t
    else:
        if dac is not None:
            raise ValueError("dac applies to the flash form only (a requantizer compares integer thresholds "
                             "in its input format; round a table first with fixed_point.dac_round(adc, bits).adc "
                             "to requantize DAC-rounded thresholds)")
        if in_fmt is None:
            in_fmt = QFormat.covering(max(abs(lo), abs(hi)), DEFAULT_INPUT_WORD)
        if not in_fmt.signed:
            raise ValueError(f"input_format must be signed (two's complement), got {in_fmt.name}")
        thr_ints = _threshold_ints(t, in_fmt)
        comparator = in_fmt.to_float(thr_ints)
    if lvl_fmt is None:
        lvl_fmt = QFormat.covering(float(np.max(np.abs(g))), DEFAULT_LEVEL_WORD)
    if not lvl_fmt.signed:
        raise ValueError(f"level_format must be signed (two's complement), got {lvl_fmt.name}")
    lvl_ints = _level_ints(g, lvl_fmt)

    d = RTLDesign(name=name, form=form, n_levels=m, code_bits=bits, output_code=output_code, pipeline=bool(pipeline),
                  thresholds=_readonly(t), levels=_readonly(g), comparator_thresholds=_readonly(comparator),
                  input_format=in_fmt, threshold_ints=_readonly(thr_ints), level_format=lvl_fmt,
                  level_ints=_readonly(lvl_ints), dac_codes=_readonly(dac_codes), dac=rounded, rounding=rounding,
                  overflow=overflow, full_scale=(float(lo), float(hi)), units=units, provenance=dict(provenance))
    from . import verilog, vhdl

    return replace(d, verilog=verilog.module_text(d), vhdl=vhdl.entity_text(d),
                   dac_rom_verilog=verilog.dac_rom_text(d) if rounded is not None else None,
                   dac_rom_vhdl=vhdl.dac_rom_text(d) if rounded is not None else None)


def header_lines(d: RTLDesign, what: str) -> list[str]:
    """The comment lines every exported file begins with (text only; the caller adds ``//`` or ``--``).

    Every number is formatted from a value computed here; names are checked identifiers; provenance
    keys and values go through :func:`~hwsim.converters.formats.comments.comment_text`.
    """
    from ... import __version__
    from ..formats.comments import comment_text, num

    m, b = d.n_levels, d.code_bits
    lines = [f"{what}",
             f"generated by hwsim {comment_text(__version__)}: {d.form} converter {d.name}, M = {m} levels, "
             f"{m - 1} thresholds",
             f"full scale [{num(d.full_scale[0])}, {num(d.full_scale[1])}] {comment_text(d.units)}",
             f"output code: {d.output_code} on a {b}-bit port (code index c = number of thresholds at or below "
             "the input; " + {"offset_binary": "the port carries c",
                              "twos_complement": f"the port carries c - 2^{b - 1} in two's complement",
                              "gray": "the port carries c xor (c >> 1)"}[d.output_code] + ")",
             ("timing: outputs registered on the rising edge of clk, latency 1 cycle, no reset"
              if d.pipeline else "timing: combinational, no clock")]
    if d.form == "flash":
        lines += [f"input: therm[{m - 2}:0], bit k-1 = comparator k = 1 when the input is at or above threshold k",
                  "encoder: ones counter, code index = number of comparators at 1 (bubble-tolerant: one wrong "
                  "comparator moves the index by one code at most)"]
        if d.dac is not None:
            r = d.dac
            lines += [f"threshold DAC: {int(r.bits)} bits over [{num(r.full_scale[0])}, {num(r.full_scale[1])}] "
                      f"{comment_text(d.units)}, LSB = {num(r.lsb)}, threshold = min + code * LSB (code rounded "
                      f"half to even, worst error {float(r.max_error_lsb):.4f} LSB); ROM module {d.name}_dac_rom"]
    else:
        f = d.input_format
        lines += [f"input: sample, {f.describe()}",
                  f"samples reach the word by rounding {d.rounding!r} and overflow {d.overflow!r} "
                  "(hwsim.qformat rules)",
                  "integer thresholds thr_k = ceil(t_k / LSB_in) (saturated to the word), so sample >= thr_k "
                  "exactly when sample * LSB_in >= t_k"]
    lines.append(f"levels: {d.level_format.describe()}, rounded to nearest (ties up), no saturation")
    for key, value in d.provenance.items():
        lines.append(f"provenance {comment_text(key, 40)}: {comment_text(value)}")
    return lines


def ceil_log2(n: int) -> int:
    """Bits of an address into ``n`` words (at least 1)."""
    return max(1, math.ceil(math.log2(n))) if n > 1 else 1


__all__ = ["FORMS", "KEYWORDS", "MAX_NAME_CHARS", "RTLDesign", "check_name", "design", "header_lines"]
