r"""Fixed-point view of a decision table: thresholds rounded to the codes of a threshold DAC.

A hardware flash converter sets each comparator's reference with an ``N``-bit DAC (or a
resistor ladder tapped at ``2**N`` points) over a full-scale range ``[lo, hi]``:

.. math::

    \mathrm{LSB} = \frac{hi - lo}{2^N}, \qquad
    c_k = \operatorname{clip}\Big(\operatorname{round}\Big(\frac{t_k - lo}{\mathrm{LSB}}\Big), 0, 2^N - 1\Big),
    \qquad \hat t_k = lo + c_k \cdot \mathrm{LSB}.

``round`` is round-half-to-even (numpy's). The rounded table keeps the reconstruction
levels unchanged (they are digital). Two thresholds closer than an LSB can round to the
same code; the converter would then lose a code, so the later one is moved up by one
code (cascading if needed) and the move is reported in :attr:`RoundedTable.bumped`; when
that would run past the top code ``2**N - 1`` the rounding is refused (ValueError).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _checks
from .adc import ThresholdADC

#: Allowed threshold-DAC resolutions.
MIN_DAC_BITS, MAX_DAC_BITS = 1, 24

#: Threshold-DAC resolution used when the caller gives none (C header, memory file).
DEFAULT_DAC_BITS = 12


@dataclass(frozen=True)
class RoundedTable:
    """Result of :func:`dac_round`.

    Attributes
    ----------
    adc : ThresholdADC
        The converter with thresholds ``lo + codes * lsb`` (shape [M-1]) and the original levels [M].
    codes : numpy.ndarray, int64, shape [M-1]
        Threshold DAC codes, strictly increasing, in ``[0, 2**bits - 1]``.
    bits : int
        DAC resolution N.
    full_scale : tuple[float, float]
        ``(lo, hi)`` of the DAC.
    lsb : float
        ``(hi - lo) / 2**bits``.
    errors_lsb : numpy.ndarray, float64, shape [M-1]
        ``(t_rounded - t) / lsb`` for each threshold (after clipping and bumping).
    max_error_lsb : float
        ``max |errors_lsb|``: 0.5 at most unless a threshold was clipped or bumped.
    bumped : tuple[int, ...]
        Indices of thresholds moved up by one or more codes to stay strictly increasing.
    clipped : tuple[int, ...]
        Indices of thresholds outside the DAC range (their codes were clipped to 0 or 2**N - 1).
    """

    adc: ThresholdADC
    codes: np.ndarray
    bits: int
    full_scale: tuple[float, float]
    lsb: float
    errors_lsb: np.ndarray
    max_error_lsb: float
    bumped: tuple[int, ...]
    clipped: tuple[int, ...]

    def to_dict(self) -> dict:
        """JSON-ready description (the ``"dac"`` section of a table file)."""
        return {"bits": self.bits,
                "full_scale": {"min": self.full_scale[0], "max": self.full_scale[1]},
                "lsb": self.lsb,
                "threshold_codes": [int(c) for c in self.codes],
                "max_error_lsb": self.max_error_lsb,
                "bumped": list(self.bumped),
                "clipped": list(self.clipped)}


def check_full_scale(name: str, full_scale) -> tuple[float, float]:
    """``full_scale`` as a ``(lo, hi)`` pair of finite floats with ``lo < hi``."""
    if isinstance(full_scale, (str, bytes)) or not hasattr(full_scale, "__len__") or len(full_scale) != 2:
        raise ValueError(f"{name} must be a pair (lo, hi), got {full_scale!r}")
    lo = _checks.real(f"{name}[0]", full_scale[0])
    hi = _checks.real(f"{name}[1]", full_scale[1])
    if not lo < hi:
        raise ValueError(f"{name} must have lo < hi, got ({lo}, {hi})")
    return lo, hi


def default_full_scale(adc: ThresholdADC) -> tuple[float, float]:
    r"""Natural input range of a table: one mean threshold spacing beyond the outer thresholds.

    With ``s = (t_{M-1} - t_1) / (M - 2)`` (``M >= 3``) the range is ``[t_1 - s, t_{M-1} + s]``,
    so its width is ``M s``; for a :class:`~hwsim.converters.adc.UniformADC` this is exactly
    ``[-gamma, gamma]`` (returned as such). For ``M = 2`` the spacing is the distance
    between the two levels (1.0 if they coincide). The range is widened where needed to contain
    every level too (an outer level of a learned table may lie further out).
    """
    if not isinstance(adc, ThresholdADC):
        raise TypeError(f"adc must be a hwsim.converters.adc.ThresholdADC, got {type(adc).__name__}")
    gamma = getattr(adc, "gamma", None)
    if gamma is not None:
        return -float(gamma), float(gamma)
    t = adc.thresholds
    if adc.n_levels >= 3:
        s = (t[-1] - t[0]) / (adc.n_levels - 2)
    else:
        s = float(np.ptp(adc.levels)) or 1.0
    return float(min(t[0] - s, adc.levels.min())), float(max(t[-1] + s, adc.levels.max()))


def dac_round(adc: ThresholdADC, bits: int = DEFAULT_DAC_BITS, full_scale=None) -> RoundedTable:
    """Round ``adc``'s thresholds to an ``bits``-bit threshold DAC over ``full_scale``.

    Parameters
    ----------
    adc : ThresholdADC
        Table with M levels (thresholds [M-1]).
    bits : int
        DAC resolution N, 1..24; needs ``2**N >= M - 1`` codes.
    full_scale : (lo, hi) or None
        DAC range; None takes :func:`default_full_scale`.

    Returns
    -------
    RoundedTable
        See the module docstring for the equations.

    Raises
    ------
    ValueError
        Bad ``bits`` or range, or thresholds that cannot get distinct codes.
    """
    if not isinstance(adc, ThresholdADC):
        raise TypeError(f"adc must be a hwsim.converters.adc.ThresholdADC, got {type(adc).__name__}")
    bits = _checks.integer("bits", bits, minimum=MIN_DAC_BITS, maximum=MAX_DAC_BITS)
    lo, hi = default_full_scale(adc) if full_scale is None else check_full_scale("full_scale", full_scale)
    n_codes = 2**bits
    t = adc.thresholds
    if t.size > n_codes:
        raise ValueError(f"bits = {bits} gives {n_codes} DAC codes, too few for the {t.size} distinct thresholds "
                         f"of a {adc.n_levels}-level table; use bits >= {int(np.ceil(np.log2(t.size)))}")
    lsb = (hi - lo) / n_codes
    if not (np.isfinite(lsb) and lsb >= np.finfo(np.float64).tiny):
        raise ValueError(f"full_scale ({lo!r}, {hi!r}) gives a {bits}-bit DAC an LSB of {lsb!r}, which is not a "
                         "positive normal float; use a full scale whose width is finite and not vanishingly small")
    raw = np.rint((t - lo) / lsb)
    clipped = tuple(int(i) for i in np.flatnonzero((raw < 0) | (raw > n_codes - 1)))
    codes = np.clip(raw, 0, n_codes - 1).astype(np.int64)
    bumped = []
    for i in range(1, codes.size):
        if codes[i] <= codes[i - 1]:
            codes[i] = codes[i - 1] + 1
            bumped.append(i)
    if codes.size and codes[-1] > n_codes - 1:
        raise ValueError(f"the {t.size} thresholds in [{t[0]:.6g}, {t[-1]:.6g}] cannot get distinct codes of a "
                         f"{bits}-bit DAC over "
                         f"[{lo}, {hi}] (LSB {lsb:.6g}): they crowd against the top code {n_codes - 1}; "
                         "use more bits or a wider full_scale")
    rounded = lo + codes * lsb
    errors = (rounded - t) / lsb
    codes.setflags(write=False)
    errors.setflags(write=False)
    return RoundedTable(adc=ThresholdADC(rounded, adc.levels), codes=codes, bits=bits, full_scale=(lo, hi), lsb=lsb,
                        errors_lsb=errors, max_error_lsb=float(np.max(np.abs(errors))) if errors.size else 0.0,
                        bumped=tuple(bumped), clipped=clipped)
