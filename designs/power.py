r"""Converter power: the Walden figure-of-merit model and energy per information bit.

A Nyquist ADC with ``b`` bits (or an effective number of bits, ENOB) sampling at ``fs``
dissipates about

.. math:: P = \mathrm{FOM} \cdot f_s \cdot 2^{b}

(R. H. Walden, "Analog-to-digital converter survey and analysis", IEEE JSAC 17(4), 1999: the
figure of merit is the energy per conversion step, :math:`\mathrm{FOM} = P / (f_s 2^{\mathrm{ENOB}})`).
The default :data:`WALDEN_FOM` = 494 fJ per conversion step is the value used in the
low-resolution receiver literature for a mid-range converter of the Murmann ADC survey, e.g.
J. Mo, A. Alkhateeb, S. Abu-Surra and R. W. Heath, "Hybrid architectures with few-bit ADC
receivers: achievable rates and energy-rate tradeoffs", IEEE Trans. Wireless Commun. 2017
(and Roth and Nossek, IEEE JSAC 2017). State-of-the-art converters reach a few fJ per step;
pass ``fom`` to model them. An I/Q receiver with ``N`` antennas has ``2 N`` converters.

- :func:`walden_power`: watts of one converter;
- :func:`energy_per_bit`: joules per information bit, ``power / throughput``;
- :class:`ConverterPower`: a bank of identical converters (power and energy per bit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim import _checks

__all__ = ["WALDEN_FOM", "walden_power", "energy_per_bit", "ConverterPower"]

#: Default Walden figure of merit in joules per conversion step (494 fJ; see the module text).
WALDEN_FOM = 494e-15


def _positive_array(name: str, value, *, allow_zero: bool = False) -> np.ndarray:
    arr = _checks.finite_array(name, value)
    bad = arr < 0 if allow_zero else arr <= 0
    if np.any(bad):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got minimum {arr.min()}")
    return arr


def _finish(out: np.ndarray):
    return out[()] if out.ndim == 0 else out


def walden_power(bits, fs, fom: float = WALDEN_FOM):
    r"""Power of one converter, :math:`P = \mathrm{FOM}\, f_s\, 2^{b}` in watts.

    Parameters
    ----------
    bits : float or array_like
        Resolution (or ENOB) in bits, >= 0.
    fs : float or array_like
        Sampling rate in samples per second, > 0. Broadcast with ``bits``.
    fom : float
        Walden figure of merit in joules per conversion step, > 0 (default :data:`WALDEN_FOM`).

    Returns
    -------
    float or ndarray
        Watts, the broadcast shape of ``bits`` and ``fs``.
    """
    b = _positive_array("bits", bits, allow_zero=True)
    f = _positive_array("fs", fs)
    fom = _checks.real("fom", fom, positive=True)
    return _finish(np.asarray(fom * f * np.exp2(b)))


def energy_per_bit(power, throughput):
    r"""Energy per information bit, :math:`E_b = P / R` in joules per bit.

    Parameters
    ----------
    power : float or array_like
        Power in watts, >= 0 (e.g. :func:`walden_power` times the number of converters).
    throughput : float or array_like
        Information rate in bits per second, > 0 (e.g. bandwidth times spectral efficiency).

    Returns
    -------
    float or ndarray
        Joules per bit, the broadcast shape of the inputs.
    """
    p = _positive_array("power", power, allow_zero=True)
    r = _positive_array("throughput", throughput)
    return _finish(np.asarray(p / r))


@dataclass(frozen=True)
class ConverterPower:
    """A bank of ``n_converters`` identical converters under the Walden model.

    Parameters
    ----------
    bits : float
        Resolution (or ENOB) of each converter, >= 0.
    fs : float
        Sampling rate of each converter in samples per second, > 0.
    n_converters : int
        Number of converters (2 per antenna for I/Q), >= 1.
    fom : float
        Walden figure of merit in joules per conversion step (default :data:`WALDEN_FOM`).
    """

    bits: float
    fs: float
    n_converters: int = 1
    fom: float = WALDEN_FOM

    def __post_init__(self):
        _checks.real("bits", self.bits, nonnegative=True)
        _checks.real("fs", self.fs, positive=True)
        _checks.integer("n_converters", self.n_converters, minimum=1)
        _checks.real("fom", self.fom, positive=True)

    @property
    def per_converter(self) -> float:
        """Watts of one converter."""
        return float(walden_power(self.bits, self.fs, self.fom))

    @property
    def total(self) -> float:
        """Watts of the whole bank."""
        return self.n_converters * self.per_converter

    def energy_per_bit(self, throughput):
        """Joules per information bit of the bank at ``throughput`` bits per second (array allowed)."""
        return energy_per_bit(self.total, throughput)

    def __str__(self) -> str:
        return (f"{self.n_converters} x {self.bits:g}-bit ADC at {self.fs:.4g} S/s "
                f"(FOM {self.fom * 1e15:g} fJ/step): {self.total:.4g} W")
