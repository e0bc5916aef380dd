"""Studies: the systems a sweep can simulate, each a module with a small fixed interface.

A study module defines

- ``METRIC``: ``"rate"`` (error counts) or ``"mse"``, or ``metric(system)`` when it depends on the config;
- ``ESTIMATE_COLUMN`` / ``SAMPLES_COLUMN``: names of those columns in results.csv (e.g. ``"ber"``, ``"bits"``),
  or ``columns(system)`` when they depend on the config;
- ``SYSTEM``: the ``[system]`` keys with their defaults (the type of the default is the allowed type);
- ``POINT_KEYS``: keys a ``[[curves]]`` entry or a ``[grid]`` axis may set, with their types
  (or ``point_keys(system)`` when they depend on the config);
- optionally ``COMPONENTS``: top-level tables of the sweep file (``[channel]``, ``[adc]``, ...)
  that the engine passes on as ``system[table]`` (the pipeline study, :mod:`.link`);
- ``REQUIRED``: point keys every point must have once curve and grid are merged;
- ``validate(system, point)``: raise ``ValueError`` for a bad combination;
- optionally ``exact_value(system, point)``: a closed-form value (no Monte Carlo) or None;
- ``make_link(system, point, rng)``: return the Monte Carlo link ``link(rng, batch) -> counts``
  (see :mod:`hwsim.engine.montecarlo`: a :class:`~hwsim.tally.Tally` whenever trials share
  randomness); ``rng`` (a child stream of the point's seed) is for set-up such as training;
- optionally ``resolved(system)``: the system with every default filled in, for the config hash;
- optionally ``files(system, point)``: the files a point reads, ``(KEY, value as written, companion
  suffixes)`` each (:mod:`hwsim.engine.inputs` reads, hashes and ships them);
- optionally ``unused_keys(system, point)``: point keys that change nothing of that point (kept out of
  its random stream, so the point draws the same numbers whatever their value);
- optionally ``replicas(system, point)``: how many independently set-up links (e.g. receivers
  trained with different seeds) a point averages (:func:`hwsim.engine.montecarlo.combine`); default 1.

The sweep engine finds studies by name here and imports the module only when it runs.
"""

from __future__ import annotations

import importlib

#: Study name -> module path.
STUDIES = {
    "link": "hwsim.studies.link",
}


def load_study(name: str):
    """Import the study module called ``name`` (one of :data:`STUDIES`)."""
    if name not in STUDIES:
        raise ValueError(f"study must be one of {', '.join(sorted(STUDIES))}, got {name!r}")
    return importlib.import_module(STUDIES[name])


def study_metric(study, config: dict) -> str:
    """The engine's metric kind (``"rate"`` or ``"mse"``) of a study for its (raw or parsed) sweep config."""
    if hasattr(study, "metric"):
        return study.metric({k: config[k] for k in getattr(study, "COMPONENTS", ()) if k in config})
    return study.METRIC


def result_columns(study, config: dict) -> tuple[str, str]:
    """results.csv names of a study's estimate and sample count, for its (raw) sweep config."""
    if hasattr(study, "columns"):
        return study.columns({k: config[k] for k in getattr(study, "COMPONENTS", ()) if k in config})
    return study.ESTIMATE_COLUMN, study.SAMPLES_COLUMN
