"""RTL for decision tables: synthesizable converter logic exported from a table, its golden vectors and
testbenches, and the HDL simulators that run it (in the Monte Carlo loop too).

- :mod:`~hwsim.converters.rtl.codes`: the output codes a module can emit (offset binary, two's
  complement, Gray) and their inverse.
- :mod:`~hwsim.converters.rtl.rtl_design`: :func:`design` and :class:`RTLDesign`, the numbers of an exported
  converter (a flash encoder with a bubble-tolerant ones counter, or a fixed-point requantizer with
  exact integer thresholds and a level ROM), its Python hard path (:meth:`RTLDesign.reference_index`,
  what the RTL must produce bit for bit) and its HDL text; the port contract is stated there.
- :mod:`~hwsim.converters.rtl.verilog`, :mod:`~hwsim.converters.rtl.vhdl`,
  :mod:`~hwsim.converters.rtl.sv_package`: the Verilog-2005 module, the VHDL-2008 entity and the
  SystemVerilog package of a design.
- :mod:`~hwsim.converters.rtl.vectors`, :mod:`~hwsim.converters.rtl.testbench`: golden vectors from the
  Python hard path and the self-checking testbenches that read them.
- :mod:`~hwsim.converters.rtl.export`: :func:`export_rtl`, all files of one export, all or nothing
  (the CLI's ``hwsim adc export --format verilog|vhdl|sv-package``).
- :mod:`~hwsim.converters.rtl.simulators`: run a testbench in Icarus Verilog, Verilator or GHDL.
- :mod:`~hwsim.converters.rtl.vq`: the nearest-codeword module of a small vector quantizer's codebook
  (Verilog, golden vectors, testbench).
"""

from .rtl_design import FORMS, RTLDesign, check_name, design
from .export import LANGUAGES, export_rtl

__all__ = ["FORMS", "LANGUAGES", "RTLDesign", "check_name", "design", "export_rtl"]
