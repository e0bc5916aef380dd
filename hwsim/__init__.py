"""hwsim: a hardware-in-the-loop simulator for receivers with low-resolution ADCs.

A link is a chain of registered components (:mod:`hwsim.components`, :mod:`hwsim.pipeline`):
source -> channel -> analog front end -> converter bank -> receiver -> metric. Where things live:

- :mod:`hwsim.channels`: sources, constellations (real PAM and complex Gray QAM), Shlezinger and Eldar's
  MIMO and pilot models, block-fading and Sionna channels, closed-form AWGN error rates;
- :mod:`hwsim.designs`: model-based designs -- front ends, Theorem 3, Lloyd-Max and Gaussian
  quantizer statistics (Bussgang), rate-distortion bounds, the converter power model;
- :mod:`hwsim.converters`: ADC models (decision tables, uniform, dithered, learned, impaired),
  I/Q converter banks, bit budgets, table files and external converters;
- :mod:`hwsim.receivers`: detectors (linear, Bussgang, near-ML, Sionna's, exhaustive MAP/QMAP),
  channel estimators, Shlezinger and Eldar's learned receivers and the learned per-bit detector;
- :mod:`hwsim.metrics`: BER and SER;
- :mod:`hwsim.engine`: Monte Carlo with honest intervals, sweeps, results and plots;
- :mod:`hwsim.study`: what a sweep simulates (``study = "link"``: any link of the pipeline);
- :mod:`hwsim.cli.train`: ``hwsim train CONFIG``, a config's learned receiver trained once and saved;
- :mod:`hwsim.cli`: the ``hwsim`` command;
- :mod:`hwsim.api`: the Python API, exported here: :class:`hwsim.Link` (a link composed in Python),
  :func:`hwsim.simulate` (one point to its stopping rule, :class:`hwsim.Stopping`) and
  :func:`hwsim.sweep` (a whole sweep, as a table).

Dependencies point one way: components import neither the engine nor each other's internals;
the engine meets the components only through :mod:`hwsim.study`. Importing :mod:`hwsim` is light: torch and sionna
load only where they are used.
"""

__version__ = "0.1.0"

#: The Python API, served on first use (``import hwsim`` stays light): name -> (module, attribute).
_API = {"Link": ("hwsim.pipeline", "Link"), "Stopping": ("hwsim.engine.montecarlo", "StoppingRule"),
        "Estimate": ("hwsim.engine.montecarlo", "Estimate"), "simulate": ("hwsim.api", "simulate"),
        "sweep": ("hwsim.api", "sweep")}

__all__ = ["__version__", *_API]


def __getattr__(name):
    if name in _API:
        import importlib

        module, attribute = _API[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'hwsim' has no attribute {name!r}")
