"""RTL for decision tables: synthesizable converter logic exported from a table, its golden vectors and
testbenches, and the HDL simulators that run it (in the Monte Carlo loop too).

- :mod:`~hwsim.converters.rtl.codes`: the output codes a module can emit (offset binary, two's
  complement, Gray) and their inverse.
- :mod:`~hwsim.converters.rtl.design`: :func:`design` and :class:`RTLDesign`, the numbers of an exported
  converter (flash encoder or fixed-point requantizer), its Python hard path
  (:meth:`RTLDesign.reference_index`) and its HDL text.
- :mod:`~hwsim.converters.rtl.verilog`, :mod:`~hwsim.converters.rtl.vhdl`: the Verilog-2005 module and the
  VHDL-2008 entity of a design.
"""

from .design import FORMS, RTLDesign, check_name, design

__all__ = ["FORMS", "RTLDesign", "check_name", "design"]
