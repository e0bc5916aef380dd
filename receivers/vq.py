r"""Vector quantizers as the receivers of a quantization study (source ``gaussian``, metric ``mse``).

The study ``vq_gaussian.toml`` asks how close each quantizer comes to the rate-distortion bound
of a Gaussian source: the "link" is the source, the receiver quantizes each vector and hands back
its reconstruction, and the metric is the MSE per dimension (SNR = -10 log10 MSE for the
unit-variance source).

- ``rd_bound`` (closed form): the distortion-rate function of the source's ``dim``-dimensional
  block at ``rate`` bits per dimension, reverse water-filling on the eigenvalues of its covariance
  (:func:`hwsim.designs.bounds.reverse_water_filling`); :math:`2^{-2R}` for the i.i.d. source.
"""

from __future__ import annotations

import numpy as np

from hwsim import _checks
from hwsim.components import register

from .estimation import Estimator


def _check_gaussian(link, name: str) -> None:
    if link.source.name != "gaussian":
        raise ValueError(f"receiver.type = {name!r} quantizes a gaussian source (source.type = \"gaussian\"), got "
                         f"{link.source.name!r}")


@register("receiver", "rd_bound")
class RDBound(Estimator):
    """The rate-distortion bound of the source at ``rate`` bits per dimension (MSE per dimension)."""

    PARAMS = {"rate": 1.0}

    def __init__(self, **params):
        super().__init__(**params)
        _checks.real("receiver.rate", self.params["rate"], positive=True)

    def check_link(self, link) -> None:
        super().check_link(link)
        _check_gaussian(link, "rd_bound")

    def exact_value(self, link) -> float:
        from hwsim.designs.bounds import reverse_water_filling

        n = link.source.n
        eig = np.linalg.eigvalsh(link.source.covariance())
        total, _ = reverse_water_filling(np.clip(eig, 0.0, None), self.params["rate"] * n)
        return total / n
