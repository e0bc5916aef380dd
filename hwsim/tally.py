"""The counts of one link call, as the Monte Carlo engine reads them.

:class:`Tally` lives here, beside the engine rather than in it, because components return it too
(the wideband OFDM link of :mod:`hwsim.channels.ofdm`), and components do not import the engine.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _checks


class Tally(NamedTuple):
    """Counts of one link call whose trials fall into independent clusters of equal size.

    Attributes
    ----------
    total : float
        Errors (rates) or the sum of per-trial squared errors (MSE) over the call.
    trials : int
        Trials of the call (bits, realizations); a multiple of ``clusters``.
    clusters : int
        Independent groups the trials fall into, each of ``trials // clusters`` trials
        (symbol vectors for the bits they carry, frames for samples that share a channel).
    cluster_sq : float
        Sum over clusters of the square of the cluster's total.
    """

    total: float
    trials: int
    clusters: int
    cluster_sq: float

    @classmethod
    def of(cls, cluster_totals, cluster_size: int) -> "Tally":
        """Tally of per-cluster totals ``cluster_totals`` [C], each over ``cluster_size`` trials."""
        t = np.asarray(cluster_totals, dtype=np.float64).reshape(-1)
        size = _checks.integer("cluster_size", cluster_size, minimum=1)
        return cls(float(t.sum()), t.size * size, t.size, float(np.dot(t, t)))


__all__ = ["Tally"]
