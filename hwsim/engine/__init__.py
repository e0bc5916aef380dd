"""The Monte Carlo engine: links in, estimates with honest intervals out.

- :mod:`~hwsim.engine.montecarlo`: tallies, stopping rules, intervals, replicas
- :mod:`~hwsim.engine.stats`: interval formulas and per-point seeds
- :mod:`~hwsim.engine.sweep`: the run loop of a sweep, over :mod:`~hwsim.engine.config` (the sweep file),
  :mod:`~hwsim.engine.folder` (the run folder, its manifest and lock, resume) and
  :mod:`~hwsim.engine.executors` (local workers, Dask or in-process)
- :mod:`~hwsim.engine.results`, :mod:`~hwsim.engine.plotting`: results.csv, summaries and plots

The engine calls the study (:mod:`hwsim.study`) and imports no component.
"""
