r"""The IEEE 802.11 convolutional code: constraint length 7, generators (133, 171) octal, punctured to
rate 2/3, 3/4 or 5/6, decoded by Sionna's Viterbi or BCJR decoder (``sionna.phy.fec.conv``).

The mother code is the rate-1/2 feed-forward code of constraint length :math:`K = 7` (memory 6) with
generators :math:`g_A = 133_8 = 1011011_2` and :math:`g_B = 171_8 = 1111001_2` (the leftmost tap on the
current input bit), free distance 10: :math:`A_t = u_t \oplus u_{t-2} \oplus u_{t-3} \oplus u_{t-5} \oplus
u_{t-6}` and :math:`B_t = u_t \oplus u_{t-1} \oplus u_{t-2} \oplus u_{t-3} \oplus u_{t-6}`, sent in the order
:math:`A_1 B_1 A_2 B_2 \dots` (``sionna.phy.fec.conv.ConvEncoder``). Every codeword is terminated: the
:math:`k` information bits are followed by 6 zero tail bits that return the encoder to the zero state, so the
mother codeword has :math:`2(k + 6)` bits.

Puncturing (IEEE 802.11-2020, 17.3.5.7): over a period of :math:`p` input bits the mother bits
:math:`A_1 B_1 \dots A_p B_p` are kept where the pattern has a 1 (:data:`PUNCTURING`):

=====  ===========  ===========  ===================
rate   :math:`A`    :math:`B`    sent per period
=====  ===========  ===========  ===================
1/2    1            1            A1 B1
2/3    1 1          1 0          A1 B1 A2
3/4    1 1 0        1 0 1        A1 B1 A2 B3
5/6    1 1 0 1 0    1 0 1 0 1    A1 B1 A2 B3 A4 B5
=====  ===========  ===========  ===================

The tail bits are punctured with the rest, as in 802.11. A codeword of :math:`n` coded bits at rate
:math:`r = p/q` therefore carries :math:`k = r n - 6` information bits (:meth:`ConvCode.info_bits`; :math:`r n`
must be a whole number of puncturing periods, i.e. :math:`n` a multiple of :math:`q`), and the code's true
rate :math:`k/n` is slightly below :math:`r`. Decoding first depunctures: the removed positions get the LLR 0
(an erasure, no information), then Sionna's decoder runs on the :math:`2(k + 6)` mother LLRs:

- ``viterbi``: ``sionna.phy.fec.conv.ViterbiDecoder`` on the soft LLRs, with traceback over the whole
  terminated block: the maximum-likelihood codeword (least packet errors);
- ``bcjr``: ``sionna.phy.fec.conv.BCJRDecoder`` in the log domain (``algorithm = "log"``, exact MAP):
  the a-posteriori most likely value of every information bit (least bit errors).

LLRs follow Sionna's sign convention, :math:`\log P(b = 1) / P(b = 0)` (what its demappers give).

Reference curve (rate 1/2, BPSK over AWGN, soft decisions): the union bound on the bit error rate of the
maximum-likelihood decoder, :math:`P_b \le \sum_{d \ge 10} c_d\, Q(\sqrt{2 d r E_b/N_0})`
(:func:`union_bound`), with the code's information-weight spectrum :math:`c_d` (:data:`WEIGHT_SPECTRUM`:
36, 211, 1404, 11633, 77433, ... for d = 10, 12, 14, ...; Proakis, *Digital Communications*, and the
tables of Conan, IEEE Trans. Commun. 1984). It is tight at :math:`P_b \lesssim 10^{-4}` and gives
:math:`P_b \approx 10^{-5}` near :math:`E_b/N_0` = 4.2 dB.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

#: Constraint length of the 802.11 code.
CONSTRAINT_LENGTH = 7
#: Its generators (133, 171) octal, as Sionna's ConvEncoder takes them (leftmost tap: the current input).
GENERATORS = ("1011011", "1111001")
#: Tail bits that terminate a codeword (the encoder's memory).
TAIL_BITS = CONSTRAINT_LENGTH - 1
#: Rate -> (pattern of the A stream, pattern of the B stream) over one puncturing period (802.11).
PUNCTURING = {"1/2": ((1,), (1,)), "2/3": ((1, 1), (1, 0)), "3/4": ((1, 1, 0), (1, 0, 1)),
              "5/6": ((1, 1, 0, 1, 0), (1, 0, 1, 0, 1))}
#: The rates as numbers.
RATES = {"1/2": 1 / 2, "2/3": 2 / 3, "3/4": 3 / 4, "5/6": 5 / 6}
#: Decoders of the code (Sionna's).
DECODERS = ("viterbi", "bcjr")
#: Information-weight spectrum :math:`c_d` of the rate-1/2 mother code for d = 10, 11, ..., 26 (odd weights
#: do not occur): the total number of information-bit errors of the error events of output weight d.
WEIGHT_SPECTRUM = {10: 36, 12: 211, 14: 1404, 16: 11633, 18: 77433, 20: 502690, 22: 3322763, 24: 21292910,
                   26: 134365911}
#: How close a ``code_rate`` must be to one of :data:`RATES` to name it (0.8333 names 5/6).
RATE_TOLERANCE = 1e-3


def rate_name(rate: float, key: str = "code_rate") -> str:
    """The puncturing rate ``rate`` names (``"5/6"`` for 0.8333...), within :data:`RATE_TOLERANCE`; a clear
    error naming ``key`` and the rates there are otherwise."""
    for name, value in RATES.items():
        if abs(float(rate) - value) <= RATE_TOLERANCE:
            return name
    allowed = ", ".join(f"{name} ({value:.4g})" for name, value in RATES.items())
    raise ValueError(f"{key} = {rate!r}: the punctured convolutional code has the rates {allowed}")


def info_bits(rate: str, n: int) -> int:
    r"""Information bits :math:`k = r n - 6` of a codeword of ``n`` coded bits at the puncturing rate ``rate``
    (one of :data:`PUNCTURING`); a clear error where ``n`` is not a whole number of puncturing periods or leaves
    no information bit."""
    if rate not in PUNCTURING:
        raise ValueError(f"rate must be one of {', '.join(PUNCTURING)}, got {rate!r}")
    period, sent = len(PUNCTURING[rate][0]), sum(PUNCTURING[rate][0]) + sum(PUNCTURING[rate][1])
    n = int(n)
    if n % sent:
        raise ValueError(f"a rate-{rate} codeword has a multiple of {sent} coded bits (its puncturing period sends "
                         f"{sent} bits for {period} input bits), got {n}")
    k = n // sent * period - TAIL_BITS
    if k < 1:
        raise ValueError(f"a codeword of {n} coded bits at rate {rate} has room for the {TAIL_BITS} tail bits only "
                         "(no information bit): use a longer codeword")
    return k


def union_bound(ebn0_db, terms: int = len(WEIGHT_SPECTRUM)):
    r"""The union bound on the bit error rate of maximum-likelihood (soft-decision Viterbi) decoding of the
    unpunctured rate-1/2 code with BPSK (or Gray QPSK) over AWGN, :math:`\sum_d c_d\, Q(\sqrt{d\, E_b/N_0})`
    over the first ``terms`` weights of :data:`WEIGHT_SPECTRUM` (``2 d r`` = ``d`` at rate 1/2).

    Parameters
    ----------
    ebn0_db : float or array_like
        :math:`E_b/N_0` per information bit, in dB.
    terms : int
        How many weights of the spectrum to sum (1 to 9; the first term alone is the free-distance
        approximation).

    Returns
    -------
    float or ndarray
        The bound, shape of ``ebn0_db``.
    """
    from scipy.special import ndtr

    if not (isinstance(terms, int) and 1 <= terms <= len(WEIGHT_SPECTRUM)):
        raise ValueError(f"terms must be an integer from 1 to {len(WEIGHT_SPECTRUM)}, got {terms!r}")
    ebn0 = 10.0 ** (np.asarray(ebn0_db, dtype=np.float64) / 10)
    total = sum(c * ndtr(-np.sqrt(d * ebn0)) for d, c in list(WEIGHT_SPECTRUM.items())[:terms])
    return total[()] if np.ndim(total) == 0 else total


class ConvCode:
    r"""The K = 7 (133, 171) code, terminated and punctured to ``rate``, with Sionna's encoder and decoder.

    Parameters
    ----------
    rate : {"1/2", "2/3", "3/4", "5/6"}
        The puncturing rate (:data:`PUNCTURING`).
    decoder : {"viterbi", "bcjr"}
        Sionna's decoder (see the module text).
    precision : {"single", "double"}
        Sionna's precision of the decoder (the encoder gives the dtype of its input bits).

    Notes
    -----
    ``encode(bits)`` takes information bits, a torch tensor [..., k], and gives the punctured codeword
    [..., n]; ``decode(llr)`` takes the LLRs of the sent bits [..., n] and gives the hard decisions on the
    information bits [..., k] (0/1, the decoder's precision). Both work on any ``k`` (``n``) the puncturing
    period allows (:meth:`info_bits`, :meth:`coded_bits`).
    """

    def __init__(self, rate: Literal["1/2", "2/3", "3/4", "5/6"] = "1/2",
                 decoder: Literal["viterbi", "bcjr"] = "viterbi", precision: str = "single"):
        if rate not in PUNCTURING:
            raise ValueError(f"rate must be one of {', '.join(PUNCTURING)}, got {rate!r}")
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")
        if precision not in ("single", "double"):
            raise ValueError(f"precision must be 'single' or 'double', got {precision!r}")
        from sionna.phy.fec.conv import BCJRDecoder, ConvEncoder, ViterbiDecoder

        self.rate_name, self.decoder_name, self.precision = rate, decoder, precision
        a, b = PUNCTURING[rate]
        self.period = len(a)                                       # input bits per puncturing period
        keep = np.empty(2 * self.period, dtype=bool)               # over A1 B1 A2 B2 ... of one period
        keep[0::2], keep[1::2] = a, b
        self.keep = keep
        self.sent_per_period = int(keep.sum())
        self.rate = self.period / self.sent_per_period
        self._encoder = ConvEncoder(gen_poly=GENERATORS, terminate=True, precision="double")  # exact 0/1 either way
        if decoder == "viterbi":
            self._decoder = ViterbiDecoder(encoder=self._encoder, method="soft_llr", precision=precision)
        else:
            self._decoder = BCJRDecoder(encoder=self._encoder, hard_out=True, algorithm="log", precision=precision)
        self._positions: dict[int, np.ndarray] = {}

    def __repr__(self) -> str:
        return f"ConvCode(rate={self.rate_name!r}, decoder={self.decoder_name!r})"

    # -- sizes
    def info_bits(self, n: int) -> int:
        r"""Information bits :math:`k = r n - 6` of a codeword of ``n`` coded bits (:func:`info_bits`)."""
        return info_bits(self.rate_name, n)

    def coded_bits(self, k: int) -> int:
        """Coded bits ``n`` of a codeword of ``k`` information bits (``k + 6`` a multiple of the period)."""
        k = int(k)
        if k < 1 or (k + TAIL_BITS) % self.period:
            raise ValueError(f"at rate {self.rate_name}, k + {TAIL_BITS} tail bits must be a positive multiple of "
                             f"{self.period}, got k = {k}")
        return (k + TAIL_BITS) // self.period * self.sent_per_period

    def _kept(self, k: int) -> np.ndarray:
        """Indices of the sent bits among the 2 (k + 6) mother bits."""
        if k not in self._positions:
            periods = (k + TAIL_BITS) // self.period
            self._positions[k] = np.flatnonzero(np.tile(self.keep, periods))
        return self._positions[k]

    # -- encoding and decoding
    def encode(self, bits):
        """The punctured codewords [..., n] of the information bits ``bits`` [..., k] (a torch tensor of 0/1)."""
        import torch

        k = bits.shape[-1]
        self.coded_bits(k)  # checks k
        mother = self._encoder(bits)                               # [..., 2 (k + 6)]
        coded = mother[..., torch.from_numpy(self._kept(k))]
        return coded.to(bits.dtype) if bits.dtype.is_floating_point else coded

    __call__ = encode

    def decode(self, llr):
        """Hard decisions [..., k] on the information bits from the LLRs [..., n] of the sent bits (a torch
        tensor, Sionna's sign convention): depunctured with LLR 0 at the removed positions, then decoded."""
        import torch

        n = llr.shape[-1]
        k = self.info_bits(n)
        dtype = torch.float32 if self.precision == "single" else torch.float64
        full = torch.zeros(*llr.shape[:-1], 2 * (k + TAIL_BITS), dtype=dtype)
        full[..., torch.from_numpy(self._kept(k))] = llr.to(dtype)
        return self._decoder(full)


__all__ = ["CONSTRAINT_LENGTH", "GENERATORS", "TAIL_BITS", "PUNCTURING", "RATES", "DECODERS", "WEIGHT_SPECTRUM",
           "RATE_TOLERANCE", "ConvCode", "info_bits", "rate_name", "union_bound"]
