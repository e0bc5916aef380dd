r"""Bit budgets: how ``log2 M`` total bits are shared by ``p`` scalar ADCs.

Shlezinger and Eldar Sec. 2.2: ``p`` identical scalar quantizers with
:math:`\tilde M = \lfloor M^{1/p} \rfloor` levels each, so that
:math:`p \log_2 \tilde M \le \log_2 M`. The rate is :math:`R = \log_2(M)/n` bits per
input sample. Sec. 4.2 uses :math:`p = \lfloor kR \rfloor` ADCs.

Rates are bit budgets: the total bit count is the nearest integer to ``R n`` and the
levels are computed from that integer exactly, with integer arithmetic. A figure's
"R = 0.33" over ``n = 240`` inputs is 80 bits, i.e. ``rate=1/3`` (``0.33*240`` rounds to 79).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import _checks

#: Most bits a budget may hold (``round(rate * n)``): far above any study, low enough that the exact
#: integer arithmetic stays instant. A guard against configs such as ``rate = 1e9``; raise it in code
#: if you really mean it.
MAX_TOTAL_BITS = 4096


def _check_bits(bits: int, what: str) -> None:
    if bits > MAX_TOTAL_BITS:
        raise ValueError(f"{what} = {bits} bits is more than the limit of {MAX_TOTAL_BITS} "
                         "(hwsim.converters.budget.MAX_TOTAL_BITS, a guard against configs that exhaust memory; raise it "
                         "in code if you really mean it)")


def total_bits(n: int, rate: float) -> int:
    """Total bit count ``log2 M`` for ``n`` inputs at ``rate`` bits per input (nearest integer)."""
    n = _checks.integer("n", n, minimum=1)
    rate = _checks.real("rate", rate, positive=True)
    product = rate * n
    if not product <= MAX_TOTAL_BITS:  # checked as a float first: rate = 1e308 overflows int()
        _check_bits(math.inf if math.isinf(product) else int(round(product)), "rate * n")
    bits = int(round(product))
    _check_bits(bits, "rate * n")
    return bits


def levels_per_adc(bits: int, p: int) -> int:
    r"""Largest integer :math:`\tilde M` with :math:`\tilde M^p \le 2^{bits}`, i.e. floor(2**(bits/p))."""
    bits = _checks.integer("bits", bits, minimum=0)
    p = _checks.integer("p", p, minimum=1)
    _check_bits(bits, "bits")
    lo, hi = 1 << (bits // p), 1 << (bits // p + 1)  # lo**p <= 2**bits < hi**p
    while hi - lo > 1:  # integer bisection: exact for any size
        mid = (lo + hi) // 2
        if mid ** p <= 2 ** bits:
            lo = mid
        else:
            hi = mid
    return lo


def check_budget(p: int, levels: int, bits: int) -> None:
    """Raise ``ValueError`` unless ``p`` ADCs with ``levels`` levels fit in ``bits`` bits."""
    p = _checks.integer("p", p, minimum=1)
    levels = _checks.integer("levels", levels, minimum=2)
    bits = _checks.integer("bits", bits, minimum=0)
    _check_bits(bits, "bits")
    if p * math.log2(levels) > bits + 1 or levels ** p > 2 ** bits:
        raise ValueError(f"(p, levels) = ({p}, {levels}) needs p*log2(levels) = "
                         f"{p * math.log2(levels):.3f} bits, more than the budget of {bits} bits")


@dataclass(frozen=True)
class BitBudget:
    """A resolved bit budget: ``p`` ADCs with ``levels`` levels each out of ``bits`` total."""

    n: int
    bits: int
    p: int
    levels: int

    @property
    def rate(self) -> float:
        """Nominal rate ``bits / n``."""
        return self.bits / self.n

    @property
    def used_bits(self) -> float:
        """Bits actually used, ``p * log2(levels)`` (<= ``bits``)."""
        return self.p * math.log2(self.levels)


def split_budget(n: int, rate: float, p: int) -> BitBudget:
    """Budget of ``n`` inputs at ``rate`` shared by ``p`` ADCs; needs at least 2 levels each."""
    bits = total_bits(n, rate)
    p = _checks.integer("p", p, minimum=1)
    levels = levels_per_adc(bits, p)
    if levels < 2:
        raise ValueError(f"rate={rate} gives {bits} bits for n={n} inputs, i.e. {levels} level(s) for each "
                         f"of p={p} ADCs; at least 2 levels are needed (raise the rate or lower p)")
    return BitBudget(n=n, bits=bits, p=p, levels=levels)


def bit_budget(n: int, k: int, rate: float) -> BitBudget:
    r"""Shlezinger-Eldar Sec. 4.2 bookkeeping: :math:`p = \lfloor kR \rfloor`, :math:`\tilde M = \lfloor 2^{Rn/p} \rfloor`.

    >>> bit_budget(12, 4, 1.0)
    BitBudget(n=12, bits=12, p=4, levels=8)
    >>> bit_budget(12, 4, 2.0)
    BitBudget(n=12, bits=24, p=8, levels=8)
    """
    k = _checks.integer("k", k, minimum=1)
    total_bits(n, rate)  # refuses a rate whose bit count is beyond any budget before it is used below
    p = math.floor(k * rate + 1e-9)
    if p < 1:
        raise ValueError(f"rate={rate} with k={k} gives p = floor(k*rate) = 0 ADCs; need rate >= {1 / k:.4g}")
    return split_budget(n, rate, p)
