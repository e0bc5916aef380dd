"""RTL for decision tables: synthesizable converter logic exported from a table, its golden vectors and
testbenches, and the HDL simulators that run it (in the Monte Carlo loop too).

- :mod:`~hwsim.converters.rtl.codes`: the output codes a module can emit (offset binary, two's
  complement, Gray) and their inverse.
"""
