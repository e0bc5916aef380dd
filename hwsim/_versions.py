"""The software versions a file records: a sweep's manifest and a saved network's sidecar (no engine import
here, so components may use it)."""

from __future__ import annotations

import sys

from . import __version__

#: The distributions a sweep's manifest records (:mod:`hwsim.engine.folder`), beside Python and hwsim.
SWEEP_DISTS = ("numpy", "scipy", "numba", "torch", "sionna-no-rt", "matplotlib")
#: The distributions a saved network's sidecar records, beside Python and hwsim.
MODEL_DISTS = ("numpy", "torch")


def software_versions(dists=SWEEP_DISTS) -> dict:
    """``{"python": ..., "hwsim": ..., DIST: version, ...}`` for each distribution of ``dists`` that is
    installed (one that is not is left out); hwsim's is the running code's own ``hwsim.__version__``."""
    from importlib import metadata

    out = {"python": sys.version.split()[0], "hwsim": __version__}
    for dist in dists:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out
