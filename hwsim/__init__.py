"""hwsim: a hardware-in-the-loop simulator for receivers with low-resolution ADCs.

The package is organised as

- ``hwsim`` (this folder): hardware models and the engine -- scalar ADCs
  (:mod:`hwsim.adc`), bit budgets (:mod:`hwsim.budget`), Monte Carlo helpers
  (:mod:`hwsim.stats`), studies and the command line (:mod:`hwsim.cli`);
- :mod:`hwsim.channels`: constellations, the seed paper's MIMO models and Sionna channels;
- :mod:`hwsim.receivers`: digital back-ends (MAP, QMAP, ...);
- :mod:`hwsim.designs`: model-based designs and bounds.

Importing :mod:`hwsim` is light: torch and sionna load only where they are used.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
