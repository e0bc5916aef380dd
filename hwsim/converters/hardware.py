r"""Hardware converter banks: a decision table as converters implement it, usable on any link.

Each bank takes a decision table (``table``: a design, ``uniform`` or ``lloyd_max`` with ``bits`` bits, or a
decision-table file, :func:`hwsim.converters.tables.import_table`) and converts the link's samples behind
the AGC of every bank (``agc`` and ``scale``, :mod:`hwsim.converters.banks`), one real converter per I and
per Q rail of each input (a real link: one per input):

- ``dac_rounded``: the table's thresholds rounded to a ``dac_bits``-bit threshold DAC
  (:func:`hwsim.converters.fixed_point.dac_round`); one table for all converters, so the observation
  carries its cells (``scalar_cells``), as the table banks' does;
- ``impaired``: comparators with static offsets, converter mismatch, gain and offset errors and thermal
  noise (:class:`hwsim.converters.impairments.ImpairedADC`); the static draws come once from
  ``chip_seed`` (the same chip wherever it runs), the thermal noise from the link's stream, after its
  noise (the draw order of :class:`hwsim.pipeline.Pipeline`). Each converter has its own thresholds, so
  the receiver sees the reconstructions only;
- ``measured``: a table from bench-measured transition levels (a JSON list, or one number per line:
  :func:`hwsim.converters.impairments.from_transition_levels`, reconstruction levels at the cell
  mid-points), with its cells;
- ``external``: converters outside the process over the external backend protocol
  (:class:`hwsim.converters.backends.ExternalBackend`): the reference emulator
  (``python -P -m hwsim.converters.emulator``) serving the table, or the program ``command`` (given the
  table file as ``--table PATH``); one process per table and converter count, shared by the points a
  worker runs and closed at exit. What the program does to the codes is its own: no cells.
- ``rtl``: the table exported as Verilog (:func:`hwsim.converters.rtl.rtl_design`, ``form`` flash or
  requantizer, its ``output_code``) and run in the Verilator HDL simulator on every sample
  (:mod:`hwsim.converters.rtl.loop`: the module is compiled once into a cached program that speaks the
  external backend protocol); one process per design and converter count, closed at exit. The flash
  form's codes are the table's exactly; the requantizer's are those of its fixed-point sample word.
  Verilator must be installed (``apt-get install -y verilator``).

The converters of bank ``b`` for ``p`` real converters and a given table are ``b.backend(table, p)`` (an
:class:`~hwsim.converters.backends.ADCBackend`: ``convert(z [B, p]) -> codes [B, p]``); the ``hil`` receiver
(:class:`hwsim.receivers.learned.HardwareInTheLoop`) builds its converters this way, with its learned
table: its ``converters = "dac"``, ``"impaired"``, ``"external"`` and ``"rtl"`` are these banks.

Converter order: the rails of ``y`` [F, L, N] are stacked as ``[Re y_1 .. Re y_N, Im y_1 .. Im y_N]``
(``p = 2N``), or ``[y_1 .. y_N]`` on a real link (``p = N``); converter ``j`` always converts the same rail.
"""

from __future__ import annotations

import functools
import json
import shlex
from typing import Literal

import numpy as np

from .. import _checks
from ..components import FileParam, register
from .banks import AGC, ConverterBank, TableBank, agc_scale, check_agc

#: Table designs a hardware bank names (otherwise ``table`` is a decision-table file).
TABLE_DESIGNS = ("uniform", "lloyd_max")
#: Most bits of a designed table.
MAX_TABLE_BITS = 8


def design_table(table: str, bits: int, default_bits: int):
    """The decision table ``table`` names: a design of ``bits`` bits (:data:`TABLE_DESIGNS`) or a table file
    (then ``bits`` must keep ``default_bits``: the file fixes the levels)."""
    if table in TABLE_DESIGNS:
        bits = _checks.integer("adc.bits", bits, minimum=1, maximum=MAX_TABLE_BITS)
        from hwsim.designs import lloyd_max, uniform_gaussian

        return (uniform_gaussian if table == "uniform" else lloyd_max)(bits)
    if not isinstance(table, str) or not table:
        raise ValueError(f"adc.table must be one of {', '.join(TABLE_DESIGNS)} or a decision-table file, got {table!r}")
    if bits != default_bits:
        raise ValueError(f"adc.bits = {bits!r} sets the bits of a designed table; the table file {table} fixes its "
                         f"levels, so the value would do nothing (leave adc.bits at {default_bits})")
    from .tables import import_table

    return import_table(table)[0]


class HardwareBank(ConverterBank):
    """Base of the hardware banks: the AGC of the table banks, then ``p`` real converters that give codes
    (:meth:`HardwareBank.backend`), reconstructed with the table's levels (see the module text).

    Parameters
    ----------
    table : str
        ``uniform``, ``lloyd_max`` (designs of ``bits`` bits for a unit-variance Gaussian input) or a
        decision-table file.
    bits : int
        Bits of a designed table (1 to 8).
    agc, scale
        As for every table bank (:class:`hwsim.converters.banks.TableBank`).
    """

    FILES = {"table": FileParam(names=TABLE_DESIGNS)}

    def __init__(self, *, table: str = "uniform", bits: int = 3, agc: AGC = "ideal", scale: float = 1.0):
        check_agc(self.params, self.PARAMS["scale"])
        self.table = design_table(self.params["table"], self.params["bits"], self.PARAMS["bits"])
        self._backends: dict = {}

    @property
    def fixed_scale(self) -> float | None:
        """``adc.scale`` under ``agc = "fixed"``; None under an AGC that follows the signal."""
        return float(self.params["scale"]) if self.params["agc"] == "fixed" else None

    def backend(self, table, converters: int):  # pragma: no cover - interface
        """The ``converters`` real converters implementing ``table``: an ADC backend (``convert(z) -> codes``)."""
        raise NotImplementedError

    def codes(self, z: np.ndarray, rng=None) -> np.ndarray:
        """Codes int [B, p] of the rails ``z`` float [B, p] (already divided by the AGC scale)."""
        p = z.shape[1]
        if p not in self._backends:
            self._backends[p] = self.backend(self.table, p)
        return self._backends[p].convert(z)

    def convert(self, y, power=None, rng=None) -> dict:
        real = not np.iscomplexobj(y)
        scale = agc_scale(self.params, y, power)
        a = scale[:, None, :]
        F, L, N = y.shape
        z = y / a
        rails = z if real else np.concatenate([z.real, z.imag], axis=-1)     # [F, L, p]
        codes = self.codes(np.ascontiguousarray(rails.reshape(F * L, -1)), rng).reshape(rails.shape)
        q = self.table.levels[codes]
        r = q * a if real else (q[..., :N] + 1j * q[..., N:]) * a
        return {"r": r, "scale": scale}


@register("adc", "dac_rounded")
class DACRoundedBank(TableBank):
    """The table with its thresholds rounded to a ``dac_bits``-bit threshold DAC (see the module text).

    Parameters
    ----------
    table, bits
        The table (:class:`HardwareBank`).
    dac_bits : int
        Bits of the threshold DAC (1 to 24; at least ``log2`` of the thresholds' count).
    agc, scale
        As for every table bank.
    """

    FILES = {"table": FileParam(names=TABLE_DESIGNS)}

    def __init__(self, *, table: str = "uniform", bits: int = 3, dac_bits: int = 8, agc: AGC = "ideal",
                 scale: float = 1.0):
        _checks.integer("adc.dac_bits", dac_bits, minimum=1, maximum=24)
        super().__init__(agc=agc, scale=scale)

    def make_table(self):
        p = self.params
        return rounded_table(design_table(p["table"], p["bits"], self.PARAMS["bits"]), p["dac_bits"])

    def backend(self, table, converters: int):
        """``converters`` converters of ``table`` rounded to this bank's threshold DAC."""
        from .backends import SimulatedBackend

        bits = self.params["dac_bits"]
        return SimulatedBackend(rounded_table(table, bits), converters, name=f"{bits}-bit DAC table")


def rounded_table(table, dac_bits: int):
    """``table`` with its thresholds rounded to a ``dac_bits``-bit threshold DAC over its default full scale."""
    from .fixed_point import dac_round

    try:
        return dac_round(table, dac_bits).adc
    except ValueError as exc:
        raise ValueError(f"adc.dac_bits = {dac_bits}: {exc}") from None


@register("adc", "impaired")
class ImpairedBank(HardwareBank):
    """Converters with comparator impairments (:class:`hwsim.converters.impairments.ImpairedADC`; module text).

    Parameters
    ----------
    table, bits, agc, scale
        As for every hardware bank (:class:`HardwareBank`).
    offset_lsb : float
        Std of the static comparator offsets, in LSB of the table (>= 0).
    mismatch_lsb : float
        Std of each converter's threshold shift, in LSB (>= 0).
    gain_error : float
        Relative gain error (> -1).
    offset_error : float
        Offset error, in LSB.
    noise_lsb : float
        Std of the input-referred thermal noise, in LSB (>= 0), drawn for every conversion from the link's
        stream.
    chip_seed : int
        Seed of the static offsets and mismatch (drawn once per converter count).
    """

    def __init__(self, *, table: str = "uniform", bits: int = 3, offset_lsb: float = 0.0, mismatch_lsb: float = 0.0,
                 gain_error: float = 0.0, offset_error: float = 0.0, noise_lsb: float = 0.0, chip_seed: int = 1,
                 agc: AGC = "ideal", scale: float = 1.0):
        super().__init__(table=table, bits=bits, agc=agc, scale=scale)
        p = self.params
        for key in ("offset_lsb", "mismatch_lsb", "noise_lsb"):
            _checks.real(f"adc.{key}", p[key], nonnegative=True)
        _checks.real("adc.gain_error", p["gain_error"])
        if p["gain_error"] <= -1:
            raise ValueError(f"adc.gain_error must be > -1 (a positive gain 1 + gain_error), got {p['gain_error']}")
        _checks.real("adc.offset_error", p["offset_error"])
        _checks.integer("adc.chip_seed", p["chip_seed"], minimum=0)

    def chip(self, table, converters: int):
        """The :class:`~hwsim.converters.impairments.ImpairedADC` of ``converters`` converters implementing
        ``table``, its static draws from ``chip_seed``."""
        from .impairments import ImpairedADC

        p = self.params
        return ImpairedADC(table, converters, offset_lsb=p["offset_lsb"], noise_lsb=p["noise_lsb"],
                           gain_error=p["gain_error"], offset_error=p["offset_error"],
                           mismatch_lsb=p["mismatch_lsb"], rng=np.random.default_rng(p["chip_seed"]))

    def backend(self, table, converters: int, rng=None):
        """The chip as an ADC backend (``rng``: its thermal noise, needed when ``noise_lsb`` > 0)."""
        from .backends import SimulatedBackend

        return SimulatedBackend(self.chip(table, converters), converters, rng=rng,
                                name=f"offsets {self.params['offset_lsb']} LSB")

    def codes(self, z, rng=None):
        p = z.shape[1]
        if p not in self._backends:
            self._backends[p] = self.chip(self.table, p)
        if self.params["noise_lsb"] > 0 and rng is None:
            raise ValueError("adc.type = 'impaired' with adc.noise_lsb > 0 draws thermal noise: convert needs the "
                             "link's generator (rng)")
        return self._backends[p].encode(z, rng)


@register("adc", "measured")
class MeasuredBank(TableBank):
    """A table from bench-measured transition levels (see the module text).

    Parameters
    ----------
    path : str
        A file of the measured transition levels, in input units at the AGC's unit scale: a JSON list, or one
        number per line (``#`` starts a comment); strictly increasing, at least 2.
    agc, scale
        As for every table bank.
    """

    FILES = {"path": FileParam()}

    def __init__(self, *, path: str = "", agc: AGC = "ideal", scale: float = 1.0):
        super().__init__(agc=agc, scale=scale)

    def make_table(self):
        from pathlib import Path

        from .impairments import from_transition_levels

        path = self.params["path"]
        if not path or not Path(path).is_file():
            raise ValueError(f"adc.path must name a file of measured transition levels, got {path!r}")
        text = Path(path).read_text()
        try:
            values = json.loads(text) if text.lstrip().startswith("[") else [
                float(line.split("#")[0]) for line in text.splitlines() if line.split("#")[0].strip()]
        except ValueError as exc:
            raise ValueError(f"adc.path = {path}: not a JSON list or one number per line ({exc})") from None
        try:
            return from_transition_levels(values)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"adc.path = {path}: {exc}") from None


@register("adc", "external")
class ExternalBank(HardwareBank):
    """Converters outside the process (the reference emulator, or ``command``; see the module text).

    Parameters
    ----------
    table, bits, agc, scale
        As for every hardware bank (:class:`HardwareBank`).
    command : str
        The program that converts (its arguments split as a shell would, no shell run; ``--table PATH`` is
        appended); empty: the reference emulator of this hwsim.
    """

    def __init__(self, *, table: str = "uniform", bits: int = 3, command: str = "", agc: AGC = "ideal",
                 scale: float = 1.0):
        super().__init__(table=table, bits=bits, agc=agc, scale=scale)
        if not isinstance(self.params["command"], str):
            raise ValueError(f"adc.command must be a string, got {self.params['command']!r}")

    def backend(self, table, converters: int):
        spec = {"thresholds": table.thresholds.tolist(), "levels": table.levels.tolist(), "p": int(converters),
                "command": shlex.split(self.params["command"])}
        return _external(json.dumps(spec))


@functools.lru_cache(maxsize=8)
def _external(key: str):
    """One converter process per table, converter count and command, shared by a worker's points, closed at
    exit (the table in a temporary file, removed at exit)."""
    import atexit
    import shutil
    import tempfile

    from hwsim._process import python_module

    from .adc import ThresholdADC
    from .backends import ExternalBackend
    from .tables import export_table

    spec = json.loads(key)
    table = ThresholdADC(spec["thresholds"], spec["levels"])
    folder = tempfile.mkdtemp(prefix="hwsim-hil-")
    path = f"{folder}/table.json"
    export_table(table, path, "json")
    if spec["command"]:
        argv, env, name = spec["command"], None, None
    else:  # only the installed hwsim runs there, never a hwsim/ folder in the working folder (hwsim._process)
        (argv, env), name = python_module("hwsim.converters.emulator"), "reference emulator"
    backend = ExternalBackend(argv + ["--table", path], spec["p"], table.n_levels, name=name, env=env)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    atexit.register(backend.close)
    return backend


#: Forms of an exported converter the ``rtl`` bank simulates.
RTLForm = Literal["flash", "requantizer"]
#: Output codes of an exported converter (:data:`hwsim.converters.rtl.codes.OUTPUT_CODES`).
RTLOutputCode = Literal["offset_binary", "twos_complement", "gray"]
#: HDL simulators of the ``rtl`` bank (:data:`hwsim.converters.rtl.loop.SIMULATORS`).
RTLSimulator = Literal["verilator"]


@register("adc", "rtl")
class RTLBank(HardwareBank):
    """The table as exported RTL, simulated in Verilator on every sample (see the module text).

    Parameters
    ----------
    table, bits, agc, scale
        As for every hardware bank (:class:`HardwareBank`).
    form : str
        ``flash`` (comparators at the table's thresholds, then the module's thermometer-to-code logic:
        the table's codes exactly) or ``requantizer`` (a fixed-point sample word compared with integer
        thresholds).
    output_code : str
        The module's output code (offset binary, two's complement or Gray), decoded back to code indices.
    input_bits : int
        Bits of the requantizer's sample word (0: the design's default); flash converters take none.
    simulator : str
        The HDL simulator (``verilator``).
    """

    def __init__(self, *, table: str = "uniform", bits: int = 3, form: RTLForm = "flash",
                 output_code: RTLOutputCode = "offset_binary", input_bits: int = 0,
                 simulator: RTLSimulator = "verilator", agc: AGC = "ideal", scale: float = 1.0):
        super().__init__(table=table, bits=bits, agc=agc, scale=scale)
        p = self.params
        _checks.integer("adc.input_bits", p["input_bits"], minimum=0, maximum=62)
        if p["form"] == "flash" and p["input_bits"] != 0:
            raise ValueError(f"adc.input_bits = {p['input_bits']} sets the sample word of the requantizer; a flash "
                             "converter compares the analog sample, so the value would do nothing (set "
                             "adc.form = \"requantizer\" or leave adc.input_bits at 0)")
        if p["form"] == "requantizer" and p["input_bits"] == 1:
            raise ValueError("adc.input_bits must be 0 (the design's default) or at least 2 (a signed sample word), "
                             "got 1")

    def design(self, table):
        """The exported design (:func:`hwsim.converters.rtl.rtl_design`) of ``table`` with this bank's settings."""
        from .rtl import design

        p = self.params
        options = {"form": p["form"], "output_code": p["output_code"], "pipeline": False}
        if p["input_bits"]:
            options["input_format"] = rtl_input_format(table, p["input_bits"])
        return design(table, **options)

    def backend(self, table, converters: int):
        """``converters`` converters of ``table`` as the module simulated in Verilator (an
        :class:`~hwsim.converters.backends.ExternalBackend`, started once per design and converter count)."""
        p = self.params
        spec = {"thresholds": table.thresholds.tolist(), "levels": table.levels.tolist(), "p": int(converters),
                "form": p["form"], "output_code": p["output_code"], "input_bits": p["input_bits"],
                "simulator": p["simulator"]}
        return _rtl(json.dumps(spec, sort_keys=True))


def rtl_input_format(table, word: int):
    """The ``word``-bit signed sample word of a requantizer of ``table``: the word the design takes by default
    with another length (the most fraction bits whose range holds the table's default full scale,
    :func:`hwsim.converters.fixed_point.default_full_scale`)."""
    from hwsim.qformat import QFormat

    from .fixed_point import default_full_scale

    lo, hi = default_full_scale(table)
    return QFormat.covering(max(abs(float(lo)), abs(float(hi))), int(word), signed=True)


@functools.lru_cache(maxsize=8)
def _rtl(key: str):
    """One simulation process per design and converter count, shared by a worker's points, closed at exit."""
    import atexit

    from .adc import ThresholdADC
    from .rtl import loop

    spec = json.loads(key)
    table = ThresholdADC(spec["thresholds"], spec["levels"])
    bank = RTLBank(form=spec["form"], output_code=spec["output_code"], input_bits=spec["input_bits"],
                   simulator=spec["simulator"])
    d = bank.design(table)
    backend = loop.backend(d, spec["p"], simulator=spec["simulator"],
                           name=f"RTL {spec['form']} converters ({spec['output_code']}) in Verilator")
    atexit.register(backend.close)
    return backend


__all__ = ["DACRoundedBank", "ExternalBank", "HardwareBank", "ImpairedBank", "MeasuredBank", "RTLBank",
           "TABLE_DESIGNS", "design_table", "rounded_table", "rtl_input_format"]
