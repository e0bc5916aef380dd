"""Model-based designs and bounds.

- :mod:`~hwsim.designs.task_based`: Lemma 2 and Theorem 3 of the task-based quantization survey
  (linear tasks, uniform scalar ADCs), real and complex baseband;
- :mod:`~hwsim.designs.frontends`: the link's analog front ends (``identity``, a fixed
  ``combiner``, the per-frame Theorem 3 combiner ``theorem3``);
- :mod:`~hwsim.designs.bounds`: Gaussian rate-distortion limits, the indirect bound and Shlezinger and Eldar eq. (7);
- :mod:`~hwsim.designs.scalar`: Lloyd-Max, MSE-optimal uniform and equiprobable tables for a Gaussian input, their
  exact MSE, Bussgang gain, output power and distortion factor, and the Bussgang linearization of
  an I/Q converter bank;
- :mod:`~hwsim.designs.quadratic`: Theorem 4, quadratic tasks through the lifted vector and Theorem 3;
- :mod:`~hwsim.designs.rdp`: rate-distortion-perception (eqs. 13-16), squared error and W2^2 perception;
- :mod:`~hwsim.designs.power`: the Walden figure-of-merit converter power model and energy per bit.
"""

from .power import WALDEN_FOM, ConverterPower, energy_per_bit, walden_power
from .scalar import (bussgang_gain, bussgang_linearization, distortion_factor, equiprobable, gaussian_mse,
                     lloyd_max, output_power, uniform_gaussian)
from .task_based import lemma2, theorem3
from .quadratic import theorem4  # noqa: E402
from .rdp import (distortion_perception, gaussian_distortion_perception,  # noqa: E402
                  gaussian_distortion_perception_common_randomness, interpolated_distortion)
from .frontends import Combiner, Identity, Theorem3Combiner  # noqa: E402  (the front-end components)

__all__ = ["WALDEN_FOM", "ConverterPower", "energy_per_bit", "walden_power",
           "bussgang_gain", "bussgang_linearization", "distortion_factor", "equiprobable", "gaussian_mse", "lloyd_max",
           "output_power", "uniform_gaussian", "lemma2", "theorem3", "theorem4", "distortion_perception",
           "gaussian_distortion_perception", "gaussian_distortion_perception_common_randomness",
           "interpolated_distortion",
           "Identity", "Combiner", "Theorem3Combiner"]
