r"""Analog front ends: what sits between the antennas and the converters.

A front end maps the antenna signal :math:`y = H s + n` to the converters' inputs
:math:`W y`; the link then hands the receiver the effective channel :math:`W H` and the noise
covariance :math:`N_0 W W^H`.
"""

from __future__ import annotations

import numpy as np

from hwsim.components import Component, register


@register("frontend", "identity")
class Identity(Component):
    """No combining: one converter pair per antenna."""

    def outputs(self, antennas: int) -> int:
        return antennas

    def apply(self, y: np.ndarray, H: np.ndarray, noise_var: float):
        """``(y, H, noise_cov)`` at the converters; ``noise_cov`` None means white :math:`N_0 I`."""
        return y, H, None
