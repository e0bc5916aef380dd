r"""Converter impairments on a hard decision table, measured tables, and IEEE Std 1241 figures of merit.

The LSB
-------
Impairments are given in LSB of the table. For a table with M levels and full-scale
range ``[lo, hi]`` (by default :func:`hwsim.converters.fixed_point.default_full_scale`: one mean
threshold spacing beyond the outer thresholds),

.. math:: \mathrm{LSB} = (hi - lo) / M,

which for ``M >= 3`` is the mean threshold spacing :math:`(t_{M-1} - t_1)/(M-2)` and for
a :class:`~hwsim.converters.adc.UniformADC` is its step :math:`2\gamma/M`.

Impairment model (:class:`ImpairedADC`)
---------------------------------------
Converter :math:`j` (of ``p``) compares the signal seen by its comparators

.. math:: u = (1 + \epsilon_g)\, x + \epsilon_o \mathrm{LSB} + n, \qquad n \sim \mathcal N(0, (\sigma_n \mathrm{LSB})^2)

(gain error :math:`\epsilon_g`, offset error :math:`\epsilon_o` in LSB, input-referred
thermal noise drawn afresh for every conversion) with the comparator references

.. math:: T_{jk} = t_k + O_{jk} + S_j, \qquad O_{jk} \sim \mathcal N(0, (\sigma_O \mathrm{LSB})^2),\;
          S_j \sim \mathcal N(0, (\sigma_S \mathrm{LSB})^2),

static comparator offsets :math:`O` (per converter and threshold) and converter
mismatch :math:`S` (one shift per converter), drawn once at construction. The output
code is the number of comparators that fire (a ones-counting encoder),
:math:`c = \#\{k : u \ge T_{jk}\}`, which stays defined when offsets reorder the
references. With every impairment zero, :math:`u = x` and :math:`T_{jk} = t_k`, so the
codes are exactly the ideal table's.

Figures of merit (IEEE Std 1241-2010)
-------------------------------------
:func:`dnl_inl`: from the transition levels :math:`T_1 < \dots < T_{M-1}`, the end-point
fit code width :math:`Q = (T_{M-1} - T_1)/(M-2)`,
:math:`\mathrm{DNL}_k = (T_{k+1} - T_k)/Q - 1` for the inner codes :math:`k = 1..M-2` and
:math:`\mathrm{INL}_k = (T_k - T_1 - (k-1) Q)/Q` for :math:`k = 1..M-1`, both in LSB
(so :math:`\mathrm{INL}_1 = \mathrm{INL}_{M-1} = 0`).

:func:`sine_test`: a coherently sampled sine, a three-parameter least-squares sine fit
at the known frequency (IEEE 1241 Sec. 4.1.3.1), :math:`\mathrm{SINAD} = 10 \log_{10}
(P_\text{signal} / P_\text{NAD})` with :math:`P_\text{signal} = (a^2 + b^2)/2` of the
fitted sine and :math:`P_\text{NAD}` the mean square residual, and
:math:`\mathrm{ENOB} = (\mathrm{SINAD} - 1.76)/6.02` (the usual datasheet definition, equal
to IEEE 1241's for a full-scale sine); IEEE 1241's
:math:`\log_2(\mathrm{FSR} / (\sqrt{12}\,\mathrm{rms}_\text{NAD}))` is reported beside it.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _checks
from .adc import ThresholdADC
from .fixed_point import check_full_scale, default_full_scale


def table_lsb(adc: ThresholdADC, full_scale=None) -> float:
    """LSB of a table: full-scale width / M (see the module docstring)."""
    if not isinstance(adc, ThresholdADC):
        raise TypeError(f"adc must be a hwsim.converters.adc.ThresholdADC, got {type(adc).__name__}")
    lo, hi = default_full_scale(adc) if full_scale is None else check_full_scale("full_scale", full_scale)
    return (hi - lo) / adc.n_levels


class ImpairedADC:
    r"""``p`` converters implementing one table with static and dynamic impairments.

    Parameters
    ----------
    table : ThresholdADC
        The ideal table (M levels).
    n_converters : int
        Number of converters p (>= 1).
    offset_lsb : float
        Std of the static comparator offsets :math:`O_{jk}`, in LSB (>= 0).
    noise_lsb : float
        Std of the input-referred thermal noise, in LSB, drawn in every :meth:`encode` (>= 0).
    gain_error : float
        Relative gain error :math:`\epsilon_g` (> -1; 0.01 is +1 %).
    offset_error : float
        Offset error :math:`\epsilon_o`, in LSB.
    mismatch_lsb : float
        Std of the per-converter threshold shift :math:`S_j`, in LSB (>= 0).
    rng : numpy.random.Generator or None
        Draws the static offsets and mismatch once; may be None only when both are zero.
    lsb : float or None
        Override of the LSB in input units (default :func:`table_lsb`).
    """

    def __init__(self, table: ThresholdADC, n_converters: int, *, offset_lsb: float = 0.0, noise_lsb: float = 0.0,
                 gain_error: float = 0.0, offset_error: float = 0.0, mismatch_lsb: float = 0.0, rng=None,
                 lsb: float | None = None):
        if not isinstance(table, ThresholdADC):
            raise TypeError(f"table must be a hwsim.converters.adc.ThresholdADC, got {type(table).__name__}")
        self.table = table
        self.n_converters = _checks.integer("n_converters", n_converters, minimum=1)
        self.offset_lsb = _checks.real("offset_lsb", offset_lsb, nonnegative=True)
        self.noise_lsb = _checks.real("noise_lsb", noise_lsb, nonnegative=True)
        self.gain_error = _checks.real("gain_error", gain_error)
        if self.gain_error <= -1.0:
            raise ValueError(f"gain_error must be > -1 (a positive gain 1 + gain_error), got {self.gain_error}")
        self.offset_error = _checks.real("offset_error", offset_error)
        self.mismatch_lsb = _checks.real("mismatch_lsb", mismatch_lsb, nonnegative=True)
        self.lsb = table_lsb(table) if lsb is None else _checks.real("lsb", lsb, positive=True)
        p, m1 = self.n_converters, table.n_levels - 1
        refs = np.broadcast_to(table.thresholds, (p, m1)).copy()
        if self.offset_lsb > 0 or self.mismatch_lsb > 0:
            if rng is None:
                raise TypeError("rng must be a numpy.random.Generator when offset_lsb or mismatch_lsb is non-zero")
            _checks.generator("rng", rng)
            if self.offset_lsb > 0:
                refs += rng.normal(0.0, self.offset_lsb * self.lsb, size=(p, m1))
            if self.mismatch_lsb > 0:
                refs += rng.normal(0.0, self.mismatch_lsb * self.lsb, size=(p, 1))
        elif rng is not None:
            _checks.generator("rng", rng)
        # Ones counting equals a search in the sorted references.
        self._refs = np.sort(refs, axis=1)
        self._refs.setflags(write=False)

    @property
    def n_levels(self) -> int:
        """Number of codes M."""
        return self.table.n_levels

    @property
    def references(self) -> np.ndarray:
        """Comparator references :math:`T_{jk}` sorted per converter, shape [p, M-1] (in ``u`` units)."""
        return self._refs

    @property
    def transition_levels(self) -> np.ndarray:
        r"""Static input transition levels of each converter (noise aside), shape [p, M-1]:
        :math:`(T_{jk} - \epsilon_o \mathrm{LSB}) / (1 + \epsilon_g)`, sorted."""
        return (self._refs - self.offset_error * self.lsb) / (1.0 + self.gain_error)

    def converter_table(self, j: int) -> ThresholdADC:
        """Static (noise-free) table of converter ``j``: its transition levels with the ideal levels."""
        j = _checks.integer("j", j, minimum=0, maximum=self.n_converters - 1)
        return ThresholdADC(self.transition_levels[j], self.table.levels)

    def encode(self, z, rng=None) -> np.ndarray:
        """Codes of ``z`` (float64 [B, p]) as int32 [B, p].

        ``rng`` draws the thermal noise (required when noise_lsb > 0, unused otherwise).
        """
        z = np.asarray(z, dtype=np.float64)
        if z.ndim != 2 or z.shape[1] != self.n_converters:
            raise ValueError(f"z must have shape [B, {self.n_converters}] (one column per converter), got {z.shape}")
        if np.isnan(z).any():
            raise ValueError("z must not contain NaN (an ADC has no code for it)")
        u = z
        if self.gain_error != 0.0:
            u = (1.0 + self.gain_error) * u
        if self.offset_error != 0.0:
            u = u + self.offset_error * self.lsb
        if self.noise_lsb > 0.0:
            if rng is None:
                raise TypeError("rng must be a numpy.random.Generator when noise_lsb > 0 (it draws the thermal noise)")
            _checks.generator("rng", rng)
            u = u + rng.normal(0.0, self.noise_lsb * self.lsb, size=u.shape)
        out = np.empty(u.shape, dtype=np.int32)
        for j in range(self.n_converters):
            out[:, j] = np.searchsorted(self._refs[j], u[:, j], side="right")
        return out

    def decode(self, codes) -> np.ndarray:
        """Ideal table levels of integer ``codes``; shape as ``codes``."""
        return self.table.decode(codes)

    def quantize(self, z, rng=None) -> np.ndarray:
        """``decode(encode(z, rng))``, float64 [B, p]."""
        return self.decode(self.encode(z, rng))

    def __repr__(self) -> str:
        return (f"ImpairedADC(n_levels={self.n_levels}, n_converters={self.n_converters}, "
                f"offset_lsb={self.offset_lsb}, noise_lsb={self.noise_lsb}, gain_error={self.gain_error}, "
                f"offset_error={self.offset_error}, mismatch_lsb={self.mismatch_lsb}, lsb={self.lsb:.6g})")


def from_transition_levels(transition_levels, levels=None) -> ThresholdADC:
    """A table from bench-measured transition levels (the input where the code steps from k-1 to k).

    Parameters
    ----------
    transition_levels : array_like, shape [M-1]
        Measured transition levels :math:`T_1 .. T_{M-1}`, finite and strictly increasing
        (a non-increasing pair means a missing code, which a table cannot represent).
    levels : array_like, shape [M], or None
        Reconstruction levels; None takes the cell mid-points, the outer cells extended by
        half the neighbouring width (needs M >= 3).
    """
    t = _checks.finite_array("transition_levels", transition_levels, ndim=1)
    if t.size < 1:
        raise ValueError("transition_levels must hold at least 1 value (2 codes), got 0")
    d = np.diff(t)
    if np.any(d <= 0):
        bad = int(np.argmax(d <= 0))
        raise ValueError(f"transition_levels must be strictly increasing, but transition_levels[{bad}] = {t[bad]} >= "
                         f"transition_levels[{bad + 1}] = {t[bad + 1]} (a missing or reordered code)")
    if levels is None:
        if t.size < 2:
            raise ValueError("levels must be given for a 2-code converter (no cell width to extrapolate)")
        mids = (t[:-1] + t[1:]) / 2
        levels = np.concatenate(([t[0] - d[0] / 2], mids, [t[-1] + d[-1] / 2]))
    return ThresholdADC(t, levels)


def dnl_inl(adc) -> tuple[np.ndarray, np.ndarray]:
    """Differential and integral nonlinearity in LSB (end-point fit; module docstring).

    Parameters
    ----------
    adc : ThresholdADC or array_like [M-1]
        A table, or its transition levels directly. Needs M >= 3.

    Returns
    -------
    dnl : float64 [M-2]
        Inner code widths over the end-point LSB, minus 1.
    inl : float64 [M-1]
        Transition-level deviations from the end-point line, in LSB.
    """
    t = adc.thresholds if isinstance(adc, ThresholdADC) else _checks.finite_array("adc", adc, ndim=1)
    if t.size < 2:
        raise ValueError(f"DNL and INL need at least 3 levels (2 transition levels), got {t.size + 1} levels")
    if np.any(np.diff(t) <= 0):
        raise ValueError("transition levels must be strictly increasing")
    q = (t[-1] - t[0]) / (t.size - 1)
    dnl = np.diff(t) / q - 1.0
    inl = (t - t[0] - q * np.arange(t.size)) / q
    return dnl, inl


def sine_test(adc, *, amplitude: float, n_samples: int = 4096, cycles: int = 67, rng: np.random.Generator,
              offset: float = 0.0, full_scale=None) -> dict:
    r"""Simulated coherent sine-wave test (IEEE Std 1241): SINAD and ENOB.

    The input is :math:`x_n = \text{offset} + A \sin(2\pi J n / N + \phi)`, ``n = 0..N-1``,
    with ``J = cycles`` and ``N = n_samples`` coprime (every code phase visited once) and
    the phase :math:`\phi` uniform from ``rng``. The output is ``adc.quantize(x)`` (for an
    :class:`ImpairedADC`, converter 0 with its noise from ``rng``); a three-parameter
    least-squares fit :math:`a\cos + b\sin + c` at the known frequency gives the residual.

    Parameters
    ----------
    adc : ThresholdADC or ImpairedADC
    amplitude : float
        Sine amplitude A (> 0), in input units.
    n_samples, cycles : int
        Record length N >= 16 and whole cycles J, ``1 <= J < N/2``, ``gcd(J, N) = 1``.
    rng : numpy.random.Generator
    offset : float
        DC offset of the sine.
    full_scale : (lo, hi) or None
        Range for the IEEE ENOB's FSR (default :func:`hwsim.converters.fixed_point.default_full_scale`).

    Returns
    -------
    dict
        ``sinad_db``, ``enob`` ((SINAD - 1.76)/6.02), ``enob_ieee1241``
        (:math:`\log_2(\mathrm{FSR}/(\sqrt{12}\,\mathrm{rms}_\text{NAD}))`), ``fitted_amplitude``,
        ``fitted_offset``, ``nad_rms``, ``signal_power``, ``amplitude``, ``n_samples``, ``cycles``.
    """
    impaired = isinstance(adc, ImpairedADC)
    table = adc.table if impaired else adc
    if not isinstance(table, ThresholdADC):
        raise TypeError(f"adc must be a ThresholdADC or an ImpairedADC, got {type(adc).__name__}")
    amplitude = _checks.real("amplitude", amplitude, positive=True)
    offset = _checks.real("offset", offset)
    n = _checks.integer("n_samples", n_samples, minimum=16, maximum=2**26)
    j = _checks.integer("cycles", cycles, minimum=1)
    if not 2 * j < n:
        raise ValueError(f"cycles must be < n_samples / 2 = {n / 2} (below Nyquist), got {j}")
    if math.gcd(j, n) != 1:
        raise ValueError(f"cycles ({j}) and n_samples ({n}) must be coprime for coherent sampling, "
                         f"but share the factor {math.gcd(j, n)}")
    _checks.generator("rng", rng)
    lo, hi = default_full_scale(table) if full_scale is None else check_full_scale("full_scale", full_scale)
    phase = rng.uniform(0.0, 2.0 * np.pi)
    w = 2.0 * np.pi * j * np.arange(n) / n + phase
    x = offset + amplitude * np.sin(w)
    if impaired:
        z = np.repeat(x[:, None], adc.n_converters, axis=1)
        y = adc.quantize(z, rng)[:, 0]
    else:
        y = table.quantize(x)
    basis = np.stack([np.cos(w), np.sin(w), np.ones(n)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
    residual = y - basis @ coef
    p_signal = float(coef[0] ** 2 + coef[1] ** 2) / 2.0
    p_nad = float(np.mean(residual**2))
    if p_nad == 0.0:
        sinad = math.inf
        enob_ieee = math.inf
    else:
        sinad = 10.0 * math.log10(p_signal / p_nad) if p_signal > 0 else -math.inf
        enob_ieee = math.log2((hi - lo) / (math.sqrt(12.0) * math.sqrt(p_nad)))
    return {"sinad_db": sinad, "enob": (sinad - 1.76) / 6.02, "enob_ieee1241": enob_ieee,
            "fitted_amplitude": math.hypot(coef[0], coef[1]), "fitted_offset": float(coef[2]),
            "nad_rms": math.sqrt(p_nad), "signal_power": p_signal, "amplitude": amplitude, "n_samples": n,
            "cycles": j}
