"""The Monte Carlo engine: links in, estimates with honest intervals out.

- :mod:`~hwsim.engine.montecarlo`: tallies, stopping rules, intervals, replicas
- :mod:`~hwsim.engine.stats`: interval formulas and per-point seeds
- :mod:`~hwsim.engine.sweep`: configs, workers or Dask, the journal, resume
- :mod:`~hwsim.engine.results`, :mod:`~hwsim.engine.plotting`: results.csv, summaries and plots

The engine knows studies by name (:mod:`hwsim.studies`) and imports no component.
"""
