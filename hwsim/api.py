"""The Python API: run a link composed in Python to its stopping rule, or a whole sweep, and get numbers.

::

    import hwsim
    from hwsim.channels import IIDRayleigh, Users
    from hwsim.converters import UniformBank
    from hwsim.receivers import BLMMSE

    link = hwsim.Link(source=Users(users=8, constellation="qam16"), channel=IIDRayleigh(antennas=64),
                      adc=UniformBank(bits=3), receiver=BLMMSE())
    est = hwsim.simulate(link, snr_db=10.0, stopping=hwsim.Stopping(target_errors=200), seed=1)
    print(est.estimate, est.ci_low, est.ci_high)

    rows = hwsim.sweep("ber_snr", quick=True)            # a shipped config, a TOML file or a parsed table

Components of your own work the same way: a :class:`hwsim.Link` takes instances of any registered
class (or their registered type names once the module that registers them is imported), and
``hwsim.sweep(..., plugins=["my_components"])`` imports such modules for a sweep and its workers
(:mod:`hwsim.plugins`).

:func:`simulate` runs the very point a sweep runs (:func:`hwsim.engine.executors.run_point`: the same
checks, replicas, set-up and test streams), so a link given a sweep point's stream
(:meth:`hwsim.engine.config.SweepConfig.point_seed`) gives that point's numbers bit for bit.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from . import _checks


def simulate(link, snr_db: float | None = None, *, stopping=None, seed=0, estimator: str = "plain"):
    """Run ``link`` (a :class:`hwsim.Link` or :class:`hwsim.pipeline.Pipeline`) at ``snr_db`` until
    ``stopping`` (a :class:`hwsim.Stopping`; its defaults when None) stops it.

    Parameters
    ----------
    link : hwsim.Link
        The components. A learned stage is trained on the point's set-up stream, as in a sweep.
    snr_db : float
        :math:`10 \\log_{10}(1/N_0)` of a detection link; None for an estimation link (its SNR is the
        source's).
    stopping : hwsim.Stopping, optional
    seed : int or numpy.random.SeedSequence
        The point's random stream (a sweep point's own stream gives that point's numbers).
    estimator : {"plain", "importance"}
        Plain Monte Carlo, or importance sampling of the noise (rare error rates).

    Returns
    -------
    hwsim.engine.montecarlo.Estimate
        ``estimate`` with its interval ``ci_low`` .. ``ci_high``, the samples and errors behind it and
        why it stopped.
    """
    from .engine.montecarlo import Estimate, StoppingRule
    from .engine.executors import run_point
    from .pipeline import Pipeline
    from . import study

    if not isinstance(link, Pipeline):
        raise TypeError(f"link must be a hwsim.Link (or a Pipeline), got {type(link).__name__}")
    rule = StoppingRule() if stopping is None else stopping
    if not isinstance(rule, StoppingRule):
        raise TypeError(f"stopping must be a hwsim.Stopping, got {type(rule).__name__}")
    if not isinstance(seed, np.random.SeedSequence):
        seed = np.random.SeedSequence(_checks.integer("seed", seed, minimum=0))
    tables = link.to_config()
    point = {"estimator": estimator}
    if snr_db is not None:
        point["snr_db"] = _checks.real("snr_db", snr_db)
    study.validate(tables, point)  # what a sweep checks of each point, with the same messages
    return Estimate(**run_point("link", tables, point, rule, seed))


def sweep(config, out=None, *, quick: bool = False, overrides=(), workers: int = 1, resume: bool = True,
          plot: bool = True, quiet: bool = True, plugins=()):
    """Run a sweep from Python: ``config`` is a shipped config's name, a TOML file or a parsed table
    (a dict, as :func:`tomllib.load` gives). Returns its results.csv as records (a list of dicts, numbers
    as floats), or a ``pandas.DataFrame`` where pandas is installed.

    ``out``: the run folder to write, the same folder ``hwsim sweep --out`` writes (resumed when it holds
    this sweep); None runs in a temporary folder that is removed afterwards. ``overrides``:
    ``"dotted.key=TOML_VALUE"`` strings as ``hwsim sweep --set`` takes; ``quick`` applies the config's
    ``[quick]`` section; ``workers`` local processes. ``plugins``: import names of modules that register
    components of your own (``hwsim sweep --plugin``; :mod:`hwsim.plugins`), imported before the config is
    read and by every worker: with ``workers > 1`` a component must live in such a module (a class
    defined in ``__main__`` or a notebook is known to this process only).
    """
    from .engine.config import load_config, parse_config, parse_override
    from .engine.sweep import run_sweep

    if isinstance(config, dict):
        cfg = parse_config(config, quick=quick, overrides=[parse_override(o) for o in overrides], plugins=plugins,
                           plugin_option="plugins entry")
    elif isinstance(config, (str, Path)):
        cfg = load_config(config, quick=quick, overrides=overrides, plugins=plugins, plugin_option="plugins entry")
    else:
        raise TypeError(f"config must be a shipped config's name, a TOML path or a dict, got {type(config).__name__}")
    if out is None:
        with tempfile.TemporaryDirectory(prefix="hwsim-sweep-") as folder:
            run_sweep(cfg, Path(folder) / "run", workers=workers, quiet=quiet, plot=False)
            return _table(Path(folder) / "run" / "results.csv")
    run_sweep(cfg, Path(out), workers=workers, quiet=quiet, plot=plot, resume=resume)
    return _table(Path(out) / "results.csv")


def _table(path: Path):
    """results.csv as records with numbers as floats (a DataFrame where pandas is installed)."""
    from .engine.results import read_results

    def value(text: str):
        try:
            return float(text)
        except ValueError:
            return text

    rows = [{k: v if k == "curve" else value(v) for k, v in row.items()} for row in read_results(path)]
    try:
        import pandas
    except ImportError:
        return rows
    return pandas.DataFrame(rows)
