r"""Closed-form symbol and bit error rates of BPSK and Gray square QAM on a single-antenna AWGN link.

Model: :math:`z = s + w`, :math:`E|s|^2 = E_s`, :math:`w \sim \mathcal{CN}(0, N_0)`, nearest-point
detection; ``snr`` is :math:`E_s/N_0` (for BPSK the real part carries the symbol and the noise
on it has variance :math:`N_0/2`). With :math:`\gamma = E_s/N_0`, :math:`M = m^2` and
:math:`a = \sqrt{3\gamma / (2(M-1))}` (half the minimum distance over the per-axis noise
standard deviation, divided by :math:`\sqrt 2`):

- BPSK: :math:`P_s = P_b = \tfrac12 \mathrm{erfc}(\sqrt{\gamma})`;
- square QAM, exact SER: :math:`p = (1 - 1/m)\,\mathrm{erfc}(a)` per axis and
  :math:`P_s = 1 - (1 - p)^2`;
- square QAM with binary-reflected Gray labels on each axis (the labelling of
  :mod:`hwsim.channels.constellations`), exact BER (K. Cho and D. Yoon, "On the general BER expression of
  one- and two-dimensional amplitude modulations", IEEE Trans. Commun. 50(7), 2002, eq. (14)):

  .. math::
      P_b = \frac{1}{\log_2 m} \sum_{k=1}^{\log_2 m} \frac1m
      \sum_{i=0}^{(1-2^{-k})m - 1} (-1)^{\lfloor i 2^{k-1}/m \rfloor}
      \Big(2^{k-1} - \Big\lfloor \frac{i 2^{k-1}}{m} + \frac12 \Big\rfloor\Big)\,
      \mathrm{erfc}\big((2i+1)\,a\big).

Gray QPSK has the BER of BPSK at the same :math:`E_b/N_0`.
"""

from __future__ import annotations

import functools
import numbers

import numpy as np
from scipy.special import erfc

from hwsim import _checks

__all__ = ["ser_awgn", "ber_awgn", "ebn0_to_esn0_db", "esn0_to_ebn0_db", "snr_db_to_n0"]

_NAMES = {"bpsk": 2, "qpsk": 4, "qam16": 16, "qam64": 64, "qam256": 256}
#: Largest square-QAM order accepted by order (65536-QAM).
_MAX_ORDER = 4**8


def _order(constellation) -> int:
    """Constellation order M from a name, an order, or an object with ``.order``."""
    if isinstance(constellation, str):
        key = constellation.lower()
        if key not in _NAMES:
            raise ValueError(f"constellation must be one of {', '.join(_NAMES)} or a square order "
                             f"(2, 4, 16, ...), got {constellation!r}")
        return _NAMES[key]
    order = getattr(constellation, "order", constellation)
    if isinstance(order, bool) or not isinstance(order, numbers.Integral):
        raise TypeError(f"constellation must be a name ({', '.join(_NAMES)}), an order or a QAM, "
                        f"got {constellation!r}")
    order = int(order)
    if order == 2:
        return 2
    if order < 4 or order > _MAX_ORDER or order & (order - 1) or (order.bit_length() - 1) % 2:
        raise ValueError(f"constellation order must be 2 (BPSK) or a power of 4 up to {_MAX_ORDER} "
                         f"(square QAM), got {order}")
    return order


def _esn0(snr_db) -> np.ndarray:
    return 10.0 ** (_checks.finite_array("snr_db", snr_db) / 10.0)


def _finish(out: np.ndarray):
    return out[()] if out.ndim == 0 else out


@functools.lru_cache(maxsize=None)
def _gray_ber_weights(m: int) -> np.ndarray:
    """w_i with BER = sum_i w_i erfc((2i+1) a) (Cho and Yoon 2002), i = 0..m-2, for m levels per axis."""
    nbits = m.bit_length() - 1
    w = np.zeros(m - 1)
    for k in range(1, nbits + 1):
        half = 2 ** (k - 1)
        i = np.arange(int((1 - 2.0**-k) * m))
        w[i] += (-1.0) ** ((i * half) // m) * (half - (2 * i * half + m) // (2 * m))
    w /= m * nbits
    w.setflags(write=False)
    return w


def ser_awgn(constellation, snr_db):
    r"""Exact symbol error rate in AWGN at :math:`E_s/N_0` = ``snr_db``.

    Parameters
    ----------
    constellation : str, int or QAM
        ``"bpsk"``, ``"qpsk"``, ``"qam16"``, ``"qam64"``, ``"qam256"``; an order (2 or a power of
        4); or a :class:`hwsim.channels.Constellation` (:func:`~hwsim.channels.get_qam`).
    snr_db : float or array_like
        :math:`E_s/N_0` in dB.

    Returns
    -------
    float or ndarray
        SER, shape of ``snr_db``.
    """
    M = _order(constellation)
    g = _esn0(snr_db)
    if M == 2:
        return _finish(0.5 * erfc(np.sqrt(g)))
    m = int(round(np.sqrt(M)))
    p = (1.0 - 1.0 / m) * erfc(np.sqrt(1.5 * g / (M - 1)))
    return _finish(p * (2.0 - p))


def ber_awgn(constellation, snr_db):
    r"""Exact Gray-labelled bit error rate in AWGN at :math:`E_s/N_0` = ``snr_db`` (Cho and Yoon 2002).

    Parameters and return as :func:`ser_awgn`; the BER averages over all bits of the label.
    """
    M = _order(constellation)
    g = _esn0(snr_db)
    if M == 2:
        return _finish(0.5 * erfc(np.sqrt(g)))
    m = int(round(np.sqrt(M)))
    a = np.sqrt(1.5 * g / (M - 1))
    odd = 2.0 * np.arange(m - 1) + 1.0
    return _finish(erfc(a[..., None] * odd) @ _gray_ber_weights(m))


def _bits_per_symbol(value) -> float:
    return _checks.real("bits_per_symbol", value, positive=True)


def ebn0_to_esn0_db(ebn0_db, bits_per_symbol):
    r""":math:`E_s/N_0 = E_b/N_0 + 10\log_{10} b` in dB (``bits_per_symbol`` b > 0; may include a code rate)."""
    b = _bits_per_symbol(bits_per_symbol)
    return _finish(_checks.finite_array("ebn0_db", ebn0_db) + 10.0 * np.log10(b))


def esn0_to_ebn0_db(esn0_db, bits_per_symbol):
    r""":math:`E_b/N_0 = E_s/N_0 - 10\log_{10} b` in dB (inverse of :func:`ebn0_to_esn0_db`)."""
    b = _bits_per_symbol(bits_per_symbol)
    return _finish(_checks.finite_array("esn0_db", esn0_db) - 10.0 * np.log10(b))


def snr_db_to_n0(snr_db, es: float = 1.0):
    r"""Noise power :math:`N_0 = E_s / 10^{\mathrm{snr}/10}` for :math:`E_s/N_0` = ``snr_db`` (``es`` > 0)."""
    es = _checks.real("es", es, positive=True)
    return _finish(es / _esn0(snr_db))
