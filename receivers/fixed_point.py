r"""Fixed-point linear detectors: the float filter of :mod:`~hwsim.receivers.linear` run in integer arithmetic.

A digital receiver behind low-resolution converters applies its filter :math:`z = W r` in a fixed-point
datapath. :class:`FixedPoint` (``receiver.type = "fixed_point"``) designs the filter in floating point, as
the float detector named by ``detector`` does (BLMMSE, LMMSE, ZF or MRC), and then applies it the way such
a datapath does:

1. **Input.** Each I and Q sample enters as an integer :math:`x`. With ``input_bits = 0`` it is the
   converter's code read as a signed integer: a table of :math:`M` equally spaced levels mirrored about 0
   has levels :math:`u\,x` with :math:`x = 2c - (M - 1)` (:math:`M` even, unit :math:`u` half the level
   spacing; :math:`x = c - (M-1)/2` and :math:`u` the spacing for odd :math:`M`), so the input is exact in
   :math:`\lceil\log_2 M\rceil + 1` bits (4 bits for a 3-bit converter). Any other table needs
   ``input_bits > 0``: its levels are rounded (``rounding``) to the signed ``input_bits``-bit format with
   the most fraction bits that holds the largest level (:meth:`hwsim.qformat.QFormat.covering`), a
   look-up table from code to level.
2. **Coefficients.** The converter gain (AGC scale :math:`\alpha_n` per antenna and frame, analog, ahead
   of the converter) and the input unit are folded into the coefficients, :math:`W'_{kn} = W_{kn}
   \alpha_n u`, so that :math:`z = W' x`. Their real and imaginary parts are rounded to a signed
   ``coef_bits``-bit word whose binary point is set per frame so that the frame's largest part fits
   (block floating point: one exponent per frame, as when a host computes the filter and loads it with its
   shift into the datapath); they never saturate.
3. **Products.** Each complex product :math:`a x` is formed exactly, its real part :math:`a_r x_r - a_i
   x_i` and imaginary part :math:`a_r x_i + a_i x_r` in ``coef_bits + input word + 1`` bits (the full
   product word). ``prod_bits > 0`` keeps its ``prod_bits`` most significant bits: the low bits are
   dropped by :func:`hwsim.qformat.shift_round` with ``rounding`` and the result made to fit the
   ``prod_bits`` word by ``overflow`` (only a rounding up at the top can overflow it).
4. **Accumulation.** The products of antennas ``0, 1, ..., N-1`` are added in that order into an
   ``acc_bits``-bit accumulator with the products' LSB (no rounding); after every addition the partial
   sum is made to fit the accumulator by ``overflow``: ``"saturate"`` clamps it (a saturating adder, so
   the order matters and is part of the definition), ``"wrap"`` keeps its low bits (a plain adder).
   The accumulator must be at least as wide as the product word.
5. **Output.** ``out_bits > 0`` keeps the accumulator's ``out_bits`` most significant bits (shift by
   ``acc_bits - out_bits`` with ``rounding``, then ``overflow``); ``out_bits = 0`` keeps the accumulator.
6. **Decision.** The output integers times their LSB (:math:`2^{-e}`, ``e`` the frame's coefficient
   exponent less the bits dropped) are the fixed-point :math:`z`; decisions and max-log LLRs are those of
   the float detector (:class:`hwsim.receivers.linear.LinearDetector`): the unbiased :math:`z_k / b_k`
   with the float design's gain :math:`b_k` and noise-plus-interference variance.

Steps 3-5 are :meth:`Datapath.apply`, integers only; :func:`export_c` writes them with one frame's
coefficients as a self-contained C99 file (integer arithmetic only), which agrees with
:meth:`Datapath.apply` bit for bit (``tests/test_fixed_point.py`` compiles it and compares). The words are
:class:`hwsim.qformat.QFormat` words and the rounding and overflow rules those of :mod:`hwsim.qformat`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from hwsim.components import register
from hwsim.qformat import MAX_WORD, ROUNDINGS, QFormat, shift_round

from .base import Decision, Detector, Observation
from .linear import BLMMSE, LMMSE, MRC, ZF, decide, diagonal_model, linear_model, stream_statistics

#: ``detector`` -> the float detector whose filter the fixed-point datapath applies.
DETECTORS = {"blmmse": BLMMSE, "lmmse": LMMSE, "zf": ZF, "mrc": MRC}
#: Overflow rules of the datapath (``hwsim.qformat.OVERFLOWS`` without ``"error"``: a receiver in a sweep
#: does what its hardware would, it does not stop).
DATAPATH_OVERFLOWS = ("saturate", "wrap")
#: Longest coefficient word and longest input word.
MAX_COEF_BITS = 32
MAX_INPUT_BITS = 24
#: Relative tolerance for reading levels as integers of the input unit.
_LEVEL_TOL = 1e-9


def _word(name: str, value: int, lo: int, hi: int, *, zero: bool = False) -> int:
    if (zero and value == 0) or lo <= value <= hi:
        return int(value)
    extra = "0 (see the module text) or " if zero else ""
    raise ValueError(f"{name} must be {extra}an integer in [{lo}, {hi}], got {value!r}")


@dataclass(frozen=True)
class Datapath:
    """The integer arithmetic of steps 3-5 of the module text: products, accumulation and output.

    Parameters
    ----------
    coef_bits : int
        Coefficient word (signed, 2 to 32 bits).
    input_bits : int
        Input word (signed, 2 to 24 bits).
    prod_bits : int
        Product word, or 0 for the full product word ``coef_bits + input_bits + 1``; a wider one than the
        full word keeps the full word.
    acc_bits : int
        Accumulator word, at least the product word, at most 62 (``hwsim.qformat.MAX_WORD``).
    out_bits : int
        Output word (the accumulator's most significant bits), or 0 for the whole accumulator.
    rounding : {"floor", "nearest", "convergent"}
        Rounding of the dropped product and output bits.
    overflow : {"saturate", "wrap"}
        What a product, partial sum or output that does not fit its word becomes.
    """

    coef_bits: int
    input_bits: int
    prod_bits: int = 0
    acc_bits: int = 40
    out_bits: int = 0
    rounding: str = "nearest"
    overflow: str = "saturate"

    def __post_init__(self):
        _word("coef_bits", self.coef_bits, 2, MAX_COEF_BITS)
        _word("input_bits", self.input_bits, 2, MAX_INPUT_BITS)
        _word("prod_bits", self.prod_bits, 2, MAX_WORD, zero=True)
        _word("acc_bits", self.acc_bits, 2, MAX_WORD)
        _word("out_bits", self.out_bits, 2, MAX_WORD, zero=True)
        if self.rounding not in ROUNDINGS:
            raise ValueError(f"rounding must be one of {', '.join(map(repr, ROUNDINGS))}, got {self.rounding!r}")
        if self.overflow not in DATAPATH_OVERFLOWS:
            raise ValueError(f"overflow must be one of {', '.join(map(repr, DATAPATH_OVERFLOWS))}, "
                             f"got {self.overflow!r}")
        if self.full_product_bits > MAX_WORD:
            raise ValueError(f"coef_bits + input_bits + 1 = {self.full_product_bits} exceeds the {MAX_WORD}-bit "
                             "integers of the datapath")
        if self.acc_bits < self.product_bits:
            how = (f"prod_bits = {self.prod_bits}" if self.prod_bits else
                   f"the full product word, coef_bits + input word + 1 = {self.coef_bits} + {self.input_bits} + 1")
            raise ValueError(f"acc_bits = {self.acc_bits} is narrower than the products it adds ({how} = "
                             f"{self.product_bits} bits); give acc_bits >= {self.product_bits}"
                             + ("" if self.prod_bits else " or round the products to prod_bits <= acc_bits"))
        if self.out_bits > self.acc_bits:
            raise ValueError(f"out_bits = {self.out_bits} exceeds acc_bits = {self.acc_bits} (the output keeps the "
                             "accumulator's most significant bits); give out_bits <= acc_bits, or 0")

    @property
    def full_product_bits(self) -> int:
        """Word of an exact complex product part, ``coef_bits + input_bits + 1``."""
        return self.coef_bits + self.input_bits + 1

    @property
    def product_bits(self) -> int:
        """Word of a product as the accumulator receives it."""
        full = self.full_product_bits
        return min(self.prod_bits, full) if self.prod_bits else full

    @property
    def product_shift(self) -> int:
        """Low bits dropped from each product."""
        return self.full_product_bits - self.product_bits

    @property
    def output_bits(self) -> int:
        """Word of the output."""
        return self.out_bits or self.acc_bits

    @property
    def output_shift(self) -> int:
        """Low bits dropped from the accumulator for the output."""
        return self.acc_bits - self.output_bits

    @property
    def dropped(self) -> int:
        """Bits dropped in all: the output's LSB is ``2**dropped`` product LSBs of the exact product."""
        return self.product_shift + self.output_shift

    def formats(self, coef_frac: int = 0) -> dict[str, QFormat]:
        """The words of the datapath as :class:`~hwsim.qformat.QFormat` (fraction bits relative to a
        coefficient format with ``coef_frac`` fraction bits and an integer input)."""
        p = coef_frac - self.product_shift
        return {"coefficient": QFormat(self.coef_bits, coef_frac), "input": QFormat(self.input_bits, 0),
                "product": QFormat(self.product_bits, p), "accumulator": QFormat(self.acc_bits, p),
                "output": QFormat(self.output_bits, p - self.output_shift)}

    def apply(self, a_re, a_im, x_re, x_im) -> tuple[np.ndarray, np.ndarray]:
        """Outputs (integers, int64 [..., L, K]) of coefficients ``a`` [..., K, N] on inputs ``x`` [..., L, N].

        The leading axes (frames) broadcast; every integer must fit its word (ValueError otherwise).
        """
        a_re, a_im, x_re, x_im = (np.asarray(v) for v in (a_re, a_im, x_re, x_im))
        for name, v, fmt in (("a_re", a_re, QFormat(self.coef_bits, 0)), ("a_im", a_im, QFormat(self.coef_bits, 0)),
                             ("x_re", x_re, QFormat(self.input_bits, 0)), ("x_im", x_im, QFormat(self.input_bits, 0))):
            if v.ndim < 2 or not np.issubdtype(v.dtype, np.integer):
                raise ValueError(f"{name} must be an integer array [..., rows, N], got {v.dtype} {v.shape}")
            fmt.fit(v, "error", name=name)
        if a_re.shape != a_im.shape or x_re.shape != x_im.shape or a_re.shape[-1] != x_re.shape[-1]:
            raise ValueError(f"a_re, a_im must be [..., K, N] and x_re, x_im [..., L, N] with one N, got "
                             f"{a_re.shape}, {a_im.shape}, {x_re.shape}, {x_im.shape}")
        a_re, a_im = a_re.astype(np.int64)[..., None, :, :], a_im.astype(np.int64)[..., None, :, :]  # [.., 1, K, N]
        x_re, x_im = x_re.astype(np.int64)[..., :, None, :], x_im.astype(np.int64)[..., :, None, :]  # [.., L, 1, N]
        prod = QFormat(self.product_bits, 0)
        acc_fmt = QFormat(self.acc_bits, 0)
        shape = np.broadcast_shapes(a_re.shape[:-1], x_re.shape[:-1])
        acc_re = np.zeros(shape, dtype=np.int64)
        acc_im = np.zeros(shape, dtype=np.int64)
        for n in range(a_re.shape[-1]):  # antenna by antenna: a saturating accumulator depends on the order
            ar, ai, xr, xi = a_re[..., n], a_im[..., n], x_re[..., n], x_im[..., n]
            p_re = prod.fit(shift_round(ar * xr - ai * xi, self.product_shift, self.rounding), self.overflow)
            p_im = prod.fit(shift_round(ar * xi + ai * xr, self.product_shift, self.rounding), self.overflow)
            acc_re = acc_fmt.fit(acc_re + p_re, self.overflow)
            acc_im = acc_fmt.fit(acc_im + p_im, self.overflow)
        out = QFormat(self.output_bits, 0)
        z_re = out.fit(shift_round(acc_re, self.output_shift, self.rounding), self.overflow)
        z_im = out.fit(shift_round(acc_im, self.output_shift, self.rounding), self.overflow)
        return z_re, z_im


def input_unit(adc, input_bits: int = 0, rounding: str = "nearest") -> tuple[float, int, np.ndarray]:
    """How the levels of the converter table ``adc`` enter the datapath (step 1 of the module text).

    Returns
    -------
    unit : float
        The real value of one input LSB (:math:`u`).
    word : int
        The input word in bits.
    codes : int64 [M]
        The input integer of each level (``adc.levels / unit``, exact for ``input_bits = 0``).
    """
    levels = np.asarray(adc.levels, dtype=np.float64)
    m = levels.size
    if input_bits:
        fmt = QFormat.covering(float(np.max(np.abs(levels))), _word("input_bits", input_bits, 2, MAX_INPUT_BITS))
        return fmt.lsb, fmt.word, fmt.to_int(levels, rounding=rounding, overflow="saturate", name="adc.levels")
    s = np.sort(levels)
    step = np.diff(s)
    scale = float(np.max(np.abs(s)))
    spaced = np.allclose(step, step[0], rtol=_LEVEL_TOL, atol=_LEVEL_TOL * scale)
    mirrored = np.allclose(s, -s[::-1], rtol=0, atol=_LEVEL_TOL * scale)
    if not (spaced and mirrored and step[0] > 0):
        raise ValueError("receiver.input_bits = 0 reads the converter's codes as exact integers, which needs a table "
                         "of equally spaced levels mirrored about 0 (a uniform converter); this table's levels are "
                         "not: give receiver.input_bits > 0 (its levels then enter rounded to that word)")
    unit = float(step[0]) / (2.0 if m % 2 == 0 else 1.0)
    ints = levels / unit
    codes = np.rint(ints).astype(np.int64)
    top = int(np.max(np.abs(codes)))
    return unit, top.bit_length() + 1, codes


@dataclass
class FixedFilter:
    """One batch's filter in integers: what :class:`FixedPoint` applies (and :func:`export_c` writes).

    Attributes
    ----------
    datapath : Datapath
    coef_re, coef_im : int64 [F, K, N]
        Coefficient integers; the value of one is ``2**-coef_frac[f]``.
    coef_frac : int64 [F]
        Fraction bits (block exponent) of each frame's coefficients.
    x_re, x_im : int64 [F, L, N]
        Input integers (value ``unit`` each).
    unit : float
        The input unit :math:`u` (folded into the coefficients).
    W : complex [F, K, N]
        The float filter (applied to ``obs.r``).
    W_codes : complex [F, K, N]
        The float filter on the input integers, :math:`W'` (before rounding).
    gain : complex [F, K]
        The float design's effective gain per stream.
    var : float [F, K]
        The float design's noise-plus-interference variance per stream.
    """

    datapath: Datapath
    coef_re: np.ndarray
    coef_im: np.ndarray
    coef_frac: np.ndarray
    x_re: np.ndarray
    x_im: np.ndarray
    unit: float
    W: np.ndarray
    W_codes: np.ndarray
    gain: np.ndarray
    var: np.ndarray

    @property
    def output_lsb(self) -> np.ndarray:
        """Real value of one output integer per frame, float [F]."""
        return np.ldexp(1.0, -(self.coef_frac - self.datapath.dropped).astype(np.int64))

    def run(self) -> tuple[np.ndarray, np.ndarray]:
        """The datapath's output integers, int64 [F, L, K] each."""
        return self.datapath.apply(self.coef_re, self.coef_im, self.x_re, self.x_im)

    def output(self) -> np.ndarray:
        """The fixed-point filter output :math:`z` (biased, as :math:`W r` is), complex [F, L, K]."""
        z_re, z_im = self.run()
        lsb = self.output_lsb[:, None, None]
        return (z_re * lsb) + 1j * (z_im * lsb)


@register("receiver", "fixed_point")
class FixedPoint(Detector):
    """A linear detector (BLMMSE, LMMSE, ZF or MRC) applied in fixed-point integer arithmetic.

    The filter is designed in floating point as ``detector``'s; its application follows the module text:
    the converter's codes as exact integers (or rounded to ``input_bits``), coefficients rounded to
    ``coef_bits`` with one exponent per frame, products rounded to ``prod_bits``, an ``acc_bits``
    accumulator and an ``out_bits`` output, with ``rounding`` and ``overflow``; then the float
    detector's decisions and LLRs. It needs quantizing converters with a real table per I and Q sample.

    Parameters
    ----------
    detector : {"blmmse", "lmmse", "zf", "mrc"}
        The float design (:mod:`hwsim.receivers.linear`).
    coef_bits : int
        Coefficient word, 2 to 32 bits.
    input_bits : int
        0: the converter's codes as exact integers (a uniform table); else the input word, 2 to 24 bits.
    prod_bits : int
        Product word (its most significant bits kept), 0 for the full product.
    acc_bits : int
        Accumulator word, 2 to 62 bits, at least the product word.
    out_bits : int
        Output word (the accumulator's most significant bits), 0 for the whole accumulator.
    rounding : {"floor", "nearest", "convergent"}
        Rounding of coefficients, products and output (:mod:`hwsim.qformat`).
    overflow : {"saturate", "wrap"}
        Overflow of products, partial sums and output.
    llr : bool
        Compute max-log LLRs (default True).
    """

    error_directions = "linear"

    def __init__(self, *, detector: Literal["blmmse", "lmmse", "zf", "mrc"] = "blmmse", coef_bits: int = 16,
                 input_bits: int = 0, prod_bits: int = 0, acc_bits: int = 40, out_bits: int = 0,
                 rounding: Literal["floor", "nearest", "convergent"] = "nearest",
                 overflow: Literal["saturate", "wrap"] = "saturate", llr: bool = True):
        super().__init__()
        for key, lo, hi, zero in (("coef_bits", 2, MAX_COEF_BITS, False), ("input_bits", 2, MAX_INPUT_BITS, True),
                                  ("prod_bits", 2, MAX_WORD, True), ("acc_bits", 2, MAX_WORD, False),
                                  ("out_bits", 2, MAX_WORD, True)):
            _word(f"receiver.{key}", self.params[key], lo, hi, zero=zero)
        if prod_bits and acc_bits < prod_bits:
            raise ValueError(f"receiver.acc_bits = {acc_bits} is narrower than receiver.prod_bits = {prod_bits} (the "
                             "accumulator adds the products); give acc_bits >= prod_bits")
        if out_bits > acc_bits:
            raise ValueError(f"receiver.out_bits = {out_bits} exceeds receiver.acc_bits = {acc_bits} (the output keeps "
                             "the accumulator's most significant bits); give out_bits <= acc_bits, or 0")
        self._float = DETECTORS[detector](llr=llr)

    @classmethod
    def describe(cls, params: dict) -> str:
        """The float design and the coefficient and accumulator words."""
        return f"fixed-point {params.get('detector', 'blmmse').upper()}, {params.get('coef_bits', 16)}-bit coefficients"

    def check_dimensions(self, *, users: int, inputs: int, constellation) -> None:
        """What the float design refuses (ZF: fewer inputs than users)."""
        self._float.check_dimensions(users=users, inputs=inputs, constellation=constellation)

    def check_link(self, link) -> None:
        """Refuse ideal converters (there are no codes to compute on) and banks without per-axis cells."""
        from hwsim.converters.banks import require_scalar_cells

        if not link.adc.quantizes:
            raise ValueError("receiver.type = 'fixed_point' computes on the converters' codes, and adc.type = 'none' "
                             "gives none; use a quantizing adc, or the float receiver (receiver.type = "
                             f"{self.params['detector']!r}) for the unquantized reference")
        require_scalar_cells(link, self.name, f"receiver.type = {self.params['detector']!r} in floating point")

    def datapath(self, input_word: int) -> Datapath:
        """The datapath of this receiver's words for inputs of ``input_word`` bits."""
        p = self.params
        try:
            return Datapath(coef_bits=p["coef_bits"], input_bits=input_word, prod_bits=p["prod_bits"],
                            acc_bits=p["acc_bits"], out_bits=p["out_bits"], rounding=p["rounding"],
                            overflow=p["overflow"])
        except ValueError as exc:
            raise ValueError(f"receiver: {exc}") from None

    def fixed_filter(self, obs: Observation) -> FixedFilter:
        """The batch's filter and inputs in integers (steps 1-2 of the module text)."""
        if obs.adc is None or obs.scale is None:
            raise ValueError("obs.adc and obs.scale are required: the fixed-point receiver computes on the "
                             "converters' codes (a quantized observation)")
        p = self.params
        unit, word, _ = input_unit(obs.adc, p["input_bits"], p["rounding"])
        path = self.datapath(word)
        model = diagonal_model(obs)
        model = model if model is not None else linear_model(obs)
        W = self._float.filter(obs, model)
        gain, var = stream_statistics(W, model)
        alpha = np.asarray(obs.scale, dtype=np.float64)                  # [F, N]
        # the input integers: each sample's level over the unit (exact codes, or the levels' look-up table)
        v = np.asarray(obs.r, dtype=np.complex128) / alpha[:, None, :]
        if p["input_bits"]:
            fmt = QFormat(word, -int(np.round(np.log2(unit))))
            x_re = fmt.to_int(v.real, rounding=p["rounding"], overflow="saturate", name="obs.r")
            x_im = fmt.to_int(v.imag, rounding=p["rounding"], overflow="saturate", name="obs.r")
        else:
            x_re, x_im = np.rint(v.real / unit), np.rint(v.imag / unit)
            off = max(float(np.max(np.abs(v.real / unit - x_re), initial=0.0)),
                      float(np.max(np.abs(v.imag / unit - x_im), initial=0.0)))
            if off > 1e-6:
                raise ValueError(f"obs.r is not the converter's levels times obs.scale (a sample lies {off:.3g} input "
                                 "units off the nearest level)")
            x_re, x_im = x_re.astype(np.int64), x_im.astype(np.int64)
        Wc = W * (alpha * unit)[:, None, :]                                # W' = W diag(alpha) u
        peak = np.maximum(np.abs(Wc.real), np.abs(Wc.imag)).max(axis=(1, 2))  # [F]
        frac = np.array([QFormat.covering(float(pk), path.coef_bits).frac for pk in peak], dtype=np.int64)
        scaled = Wc * np.ldexp(1.0, frac)[:, None, None]
        coef = QFormat(path.coef_bits, 0)
        a_re = coef.to_int(scaled.real, rounding=p["rounding"], overflow="saturate", name="coefficients")
        a_im = coef.to_int(scaled.imag, rounding=p["rounding"], overflow="saturate", name="coefficients")
        return FixedFilter(datapath=path, coef_re=a_re, coef_im=a_im, coef_frac=frac, x_re=x_re, x_im=x_im,
                           unit=unit, W=W, W_codes=Wc, gain=gain, var=var)

    def equalize(self, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        """Unbiased fixed-point outputs complex [F, L, K] and the float design's variances float [F, K]."""
        f = self.fixed_filter(obs)
        z = f.output()
        safe = np.where(f.gain != 0, f.gain, 1.0)
        return z / safe[:, None, :], f.var

    def detect(self, obs: Observation) -> Decision:
        z, var = self.equalize(obs)
        return decide(z, var, obs.constellation, self.params["llr"])


# ---------------------------------------------------------------------------------------------- C reference
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

_C_SHIFT = {
    "floor": """static int64_t hw_floor_shift(int64_t v, int s)
{
    /* floor(v / 2^s) without shifting a negative number (implementation-defined in C99) */
    if (s <= 0) return v;
    if (v >= 0) return v >> s;
    return -(((-v) + (((int64_t)1 << s) - 1)) >> s);
}

static int64_t hw_shift_round(int64_t v, int s)
{
    return hw_floor_shift(v, s);
}
""",
    "nearest": """static int64_t hw_floor_shift(int64_t v, int s)
{
    /* floor(v / 2^s) without shifting a negative number (implementation-defined in C99) */
    if (s <= 0) return v;
    if (v >= 0) return v >> s;
    return -(((-v) + (((int64_t)1 << s) - 1)) >> s);
}

static int64_t hw_shift_round(int64_t v, int s)
{
    /* to nearest, ties up: add half an LSB, then floor */
    if (s <= 0) return v;
    return hw_floor_shift(v + ((int64_t)1 << (s - 1)), s);
}
""",
    "convergent": """static int64_t hw_floor_shift(int64_t v, int s)
{
    /* floor(v / 2^s) without shifting a negative number (implementation-defined in C99) */
    if (s <= 0) return v;
    if (v >= 0) return v >> s;
    return -(((-v) + (((int64_t)1 << s) - 1)) >> s);
}

static int64_t hw_shift_round(int64_t v, int s)
{
    /* to nearest, ties to even */
    int64_t q, rem, half;
    if (s <= 0) return v;
    q = hw_floor_shift(v, s);
    rem = v - q * ((int64_t)1 << s);
    half = (int64_t)1 << (s - 1);
    if (rem > half || (rem == half && (q % 2) != 0)) q += 1;
    return q;
}
""",
}

_C_FIT = {
    "saturate": """static int64_t hw_fit(int64_t v, int word)
{
    /* clamp to the signed word */
    const int64_t hi = ((int64_t)1 << (word - 1)) - 1;
    const int64_t lo = -hi - 1;
    return v > hi ? hi : (v < lo ? lo : v);
}
""",
    "wrap": """static int64_t hw_fit(int64_t v, int word)
{
    /* keep the low word bits, read as a signed word (two's complement) */
    const uint64_t mask = (((uint64_t)1) << word) - 1u;
    const uint64_t u = ((uint64_t)v) & mask;
    if (u >> (word - 1)) return -(int64_t)((((uint64_t)1) << word) - u);
    return (int64_t)u;
}
""",
}


def _c_array(name: str, values: np.ndarray) -> list[str]:
    rows = [", ".join(str(int(v)) for v in row) for row in values]
    k, n = values.shape
    out = [f"static const int64_t {name}[{k}][{n}] = {{"]
    out += [f"    {{{row}}}," for row in rows]
    out.append("};")
    return out


def export_c(datapath: Datapath, coef_re, coef_im, *, name: str = "hwsim_fixed_filter", provenance: dict | None = None,
             main: bool = True) -> str:
    """One frame's fixed-point filter as a self-contained C99 file: integer arithmetic only.

    The file defines ``void NAME(const int64_t x_re[N], const int64_t x_im[N], int64_t z_re[K], int64_t z_im[K])``,
    which computes :meth:`Datapath.apply` for one input vector (one channel use) with the coefficients
    ``coef_re``, ``coef_im`` [K, N] compiled in. With ``main`` it also holds a ``main`` (compiled only with
    ``-DHWSIM_FIXED_MAIN``) that reads whitespace-separated integers from standard input, ``N`` real parts and
    ``N`` imaginary parts per vector, and writes each vector's ``K`` real and ``K`` imaginary outputs on one
    line. ``provenance`` (a table of names and values) goes into the opening comment, escaped
    (:func:`hwsim.converters.formats.comments.comment_text`).

    Parameters
    ----------
    datapath : Datapath
    coef_re, coef_im : int [K, N]
        One frame's coefficient integers (frame ``f`` of ``FixedFilter.coef_re`` and ``coef_im``).
    name : str
        The function's name, a C identifier.
    provenance : dict or None
        What the file records of its origin (text is escaped).
    main : bool
        Include the test driver.

    Returns
    -------
    str
        The C source.
    """
    from hwsim import __version__
    from hwsim.converters.formats.comments import comment_text

    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"name must be a C identifier (letters, digits and _, not starting with a digit, at most 63 "
                         f"characters), got {name!r}")
    if provenance is not None and not isinstance(provenance, dict):
        raise ValueError(f"provenance must be a table of names and values or None, got {type(provenance).__name__}")
    a_re, a_im = np.asarray(coef_re), np.asarray(coef_im)
    if a_re.ndim != 2 or a_re.shape != a_im.shape or not np.issubdtype(a_re.dtype, np.integer) \
            or not np.issubdtype(a_im.dtype, np.integer):
        raise ValueError(f"coef_re and coef_im must be integer arrays [K, N] of one shape, got {a_re.dtype} "
                         f"{a_re.shape} and {a_im.dtype} {a_im.shape}")
    word = QFormat(datapath.coef_bits, 0)
    word.fit(a_re, "error", name="coef_re")
    word.fit(a_im, "error", name="coef_im")
    k, n = a_re.shape
    d = datapath
    lines = ["/*",
             " * hwsim fixed-point linear filter (C99 reference, integer arithmetic only), "
             f"hwsim {comment_text(__version__)}",
             f" * z[k] = sum over n = 0 .. {n - 1} (in that order) of a[k][n] * x[n], K = {k} outputs, N = {n} inputs",
             f" * coefficients: {d.coef_bits}-bit signed; inputs: {d.input_bits}-bit signed",
             f" * products: exact in {d.full_product_bits} bits, {d.product_shift} low bits dropped, "
             f"{d.product_bits}-bit word",
             f" * accumulator: {d.acc_bits}-bit, the products' LSB; output: {d.output_shift} low bits dropped, "
             f"{d.output_bits}-bit word",
             f" * rounding: {d.rounding}; overflow: {d.overflow} (after every product, addition and the output shift)"]
    for key, value in (provenance or {}).items():
        lines.append(f" * {comment_text(key, 40)}: {comment_text(value)}")
    lines += [" */", "", "#include <stdint.h>"]
    if main:
        lines += ["#ifdef HWSIM_FIXED_MAIN", "#include <inttypes.h>", "#include <stdio.h>", "#endif"]
    lines += ["", f"#define HW_K {k}", f"#define HW_N {n}", f"#define HW_PROD_SHIFT {d.product_shift}",
              f"#define HW_PROD_BITS {d.product_bits}", f"#define HW_ACC_BITS {d.acc_bits}",
              f"#define HW_OUT_SHIFT {d.output_shift}", f"#define HW_OUT_BITS {d.output_bits}", ""]
    lines += _c_array("HW_COEF_RE", a_re) + [""] + _c_array("HW_COEF_IM", a_im) + [""]
    lines += [_C_SHIFT[d.rounding], _C_FIT[d.overflow]]
    lines += [f"void {name}(const int64_t x_re[HW_N], const int64_t x_im[HW_N], int64_t z_re[HW_K], "
              "int64_t z_im[HW_K])",
              "{",
              "    int k, n;",
              "    for (k = 0; k < HW_K; ++k) {",
              "        int64_t acc_re = 0, acc_im = 0;",
              "        for (n = 0; n < HW_N; ++n) {",
              "            const int64_t ar = HW_COEF_RE[k][n], ai = HW_COEF_IM[k][n];",
              "            const int64_t p_re = hw_fit(hw_shift_round(ar * x_re[n] - ai * x_im[n], HW_PROD_SHIFT), "
              "HW_PROD_BITS);",
              "            const int64_t p_im = hw_fit(hw_shift_round(ar * x_im[n] + ai * x_re[n], HW_PROD_SHIFT), "
              "HW_PROD_BITS);",
              "            acc_re = hw_fit(acc_re + p_re, HW_ACC_BITS);",
              "            acc_im = hw_fit(acc_im + p_im, HW_ACC_BITS);",
              "        }",
              "        z_re[k] = hw_fit(hw_shift_round(acc_re, HW_OUT_SHIFT), HW_OUT_BITS);",
              "        z_im[k] = hw_fit(hw_shift_round(acc_im, HW_OUT_SHIFT), HW_OUT_BITS);",
              "    }",
              "}"]
    if main:
        lines += ["", "#ifdef HWSIM_FIXED_MAIN",
                  "int main(void)",
                  "{",
                  "    int64_t x_re[HW_N], x_im[HW_N], z_re[HW_K], z_im[HW_K];",
                  "    int n, k;",
                  "    for (;;) {",
                  "        for (n = 0; n < HW_N; ++n)",
                  "            if (scanf(\"%\" SCNd64, &x_re[n]) != 1) return n == 0 ? 0 : 1;",
                  "        for (n = 0; n < HW_N; ++n)",
                  "            if (scanf(\"%\" SCNd64, &x_im[n]) != 1) return 1;",
                  f"        {name}(x_re, x_im, z_re, z_im);",
                  "        for (k = 0; k < HW_K; ++k) printf(\"%\" PRId64 \" \", z_re[k]);",
                  "        for (k = 0; k < HW_K; ++k)",
                  "            printf(\"%\" PRId64 \"%s\", z_im[k], k + 1 < HW_K ? \" \" : \"\\n\");",
                  "    }",
                  "}",
                  "#endif"]
    return "\n".join(lines) + "\n"


def write_c(path, datapath: Datapath, coef_re, coef_im, **kwargs) -> Path:
    """:func:`export_c` written to ``path`` atomically; returns the path."""
    from hwsim._files import atomic_write_text

    text = export_c(datapath, coef_re, coef_im, **kwargs)
    path = Path(path)
    atomic_write_text(path, text)
    return path


__all__ = ["DATAPATH_OVERFLOWS", "DETECTORS", "Datapath", "FixedFilter", "FixedPoint", "export_c", "input_unit",
           "write_c"]
