r"""Wideband OFDM links: Sionna's OFDM chain, 3GPP TDL channels and hwsim's converters on the time-domain samples.

One *slot* (the Monte Carlo cluster) is ``source.ofdm_symbols`` OFDM symbols of ``source.fft_size``
subcarriers sent by ``K = source.users`` single-antenna users to ``N_r = channel.antennas`` receive
antennas over a channel that is static over the slot and redrawn for every slot:

.. math:: y_i[t] = \sum_{k=1}^{K} \sum_{\ell = L_\min}^{L_\max} h_{ik}[\ell]\, x_k[t - \ell] + n_i[t],
          \qquad n_i[t] \sim \mathcal{CN}(0, N_0),

with :math:`x_k[t]` the time-domain OFDM signal of user ``k`` (cyclic prefix included, unitary IFFT)
and SNR :math:`= E|X|^2 / N_0 = 1/N_0` per resource element. The converter bank (any ``adc`` of the
pipeline, :mod:`hwsim.converters.banks`) quantizes :math:`y_i[t]`, one I and one Q converter per
antenna, *before* the FFT: its distortion spreads over every subcarrier and its full scale has to
accommodate the peak-to-average power ratio (PAPR) of :math:`y_i`. The channel states each antenna's
power over the slot, :math:`P_i` the mean of :math:`|y_i[t]|^2` (:meth:`WidebandChannel.expected_power`):
the bank's ``agc = "ideal"`` sets :math:`\alpha_i = \sqrt{P_i/2}` from it, ``agc = "measured"`` measures the
same power from the samples it converts (the same numbers), ``agc = "fixed"`` keeps ``adc.scale``.

The link is the pipeline's one chain (:class:`hwsim.pipeline.Pipeline`), each stage one component: the
source (:class:`OFDMSource`) draws the bits, encodes, maps and OFDM-modulates them (the time-domain
signal :math:`x_k[t]`, [S, T, K]); the channel draws the taps and :meth:`WidebandChannel.receive` convolves
and adds the noise (:math:`y_i[t]`, [S, T', N_r]); the converter bank converts :math:`y` like any other
samples; the receiver (:mod:`hwsim.receivers.ofdm`) demodulates, estimates, equalises, demaps and decodes.
The Sionna blocks of the grid (:class:`OFDMChain`) are built once per link when its stages are checked or
prepared. What the link scores: the information bits after decoding for ``bler`` and ``coded_ber``
(sent indices [S, blocks per slot, k]), the coded bits for the uncoded ``ber`` ([S, 1, coded bits per slot]).

Oversampling (``channel.oversampling = os``): the ``fft_size`` used subcarriers sit in the middle of
an ``os * fft_size`` FFT (guard carriers on both sides), the cyclic prefix is ``os * cp_length``
samples, and the ADCs run at ``os`` times the symbol rate; the channel delays do not change.

Channels:

- ``tdl``: 3GPP TR 38.901 TDL-A ... TDL-E (Sionna's :class:`sionna.phy.channel.tr38901.TDL`, static
  within the slot) with ``delay_spread``, turned into discrete taps at the ADC rate by
  :func:`sionna.phy.channel.cir_to_time_channel` (sinc interpolation, lags from
  :func:`sionna.phy.channel.time_lag_discrete_time_channel`), normalised to
  :math:`E \sum_\ell |h_{ik}[\ell]|^2 = 1`. The sinc taps reach from lag -6 to 6 samples past the last
  path; the part of those tails that the cyclic prefix does not hold (about -25 dB and below) leaks between
  OFDM symbols, which matters only at SNRs far above the ones the study uses. A last *path* beyond the cyclic
  prefix draws a warning (:meth:`WidebandChannel.check_link`);
- ``rayleigh_taps``: ``taps`` i.i.d. :math:`\mathcal{CN}` taps at symbol-rate spacing with an
  exponential power profile (``decay_db`` per tap, 0 for a uniform one), total mean power 1.

The code (``source.code``): each user's data resource elements carry ``blocks`` codewords of ``block_len``
coded bits, Gray QAM (Sionna's mapper); the rest of the slot's data bits are filler. ``code = "ldpc"`` (the
default): 5G NR LDPC codewords (:class:`sionna.phy.fec.ldpc.LDPC5GEncoder`, belief-propagation decoding)
with ``k = round(code_rate * block_len)`` information bits. ``code = "conv"``: the 802.11 convolutional code
of constraint length 7, generators (133, 171) octal, terminated and punctured to ``code_rate`` = 1/2, 2/3,
3/4 or 5/6 (written 0.5, 0.6667, 0.75, 0.8333), with ``k = code_rate * block_len - 6`` information bits (6
tail bits) and Sionna's Viterbi or BCJR decoder (``conv_decoder``; :mod:`hwsim.channels.conv_code`). One
codeword per user and slot (``blocks = 1``, ``block_len`` the user's data bits of the slot, a multiple of the
puncturing period's coded bits) is one packet, as in 802.11; the ``per`` metric counts a user's packet of a
slot wrong when any of its information bits is, whatever the code.

Tone map and training (``source.tone_map``, ``null_tones``, ``pilot_tones``, ``training``): by default every one of
the ``fft_size`` subcarriers carries data and the OFDM symbols ``pilot_symbols`` carry Sionna's Kronecker pilots.
A tone map makes ``fft_size`` the FFT size (at the symbol rate) and leaves some of its subcarriers without data:
the null tones carry nothing, the pilot tones carry known BPSK symbols in the data OFDM symbols; the named map
``"80211n_40mhz"`` is 802.11n's 40 MHz map of a 128-point FFT (108 data, 6 pilot, 14 null tones;
:func:`tone_map_tones`). Hadamard training (``training = "hadamard"``, which a tone map needs) makes the
``pilot_symbols`` (T of them, a power of 2, at least K) orthogonal training symbols: user k sends
:math:`\Phi_{kt} L_m` on every used tone m of the t-th (:func:`training_grid`; :math:`\Phi` the Sylvester
Hadamard matrix, :math:`L_m = \pm 1` a fixed sequence that keeps the training symbols' peak-to-average ratio
that of data). The receivers estimate the channel from it by LS over the code, or Bussgang LMMSE
(:class:`hwsim.receivers.ofdm.TrainingEstimator`). Null and pilot tones are entries of a custom Sionna
:class:`~sionna.phy.ofdm.PilotPattern` (zero-valued on the null tones), so Sionna's mapper and equaliser place
and skip them; guard carriers of Sionna's grid serve oversampling only.

SNR (``channel.snr_mode``): ``"per_user"`` (the default), :math:`1/N_0` with each user received at unit power per
antenna, so each user's :math:`E_s/N_0`; ``"total"``, the total received SNR per antenna with all users (Studer
and Durisi's axis), each user's taps scaled by :math:`1/\sqrt K`: the per-user SNR is
:math:`\mathrm{SNR} - 10\log_{10} K` (:func:`per_user_snr_db`, :func:`total_snr_db`).

A cyclic prefix shorter than the channel (its last path or tap beyond ``cp_length`` samples) draws a warning that
names the inter-symbol interference it causes (:meth:`WidebandChannel.check_link`); the link still runs.

The link's ``batch`` counts code blocks and is rounded up to whole slots (the channel's ``frame_len`` is the
code blocks of a slot); its tally's clusters are the slots (their blocks share a channel draw).

Randomness: bits, noise and the Rayleigh taps are drawn from the caller's ``numpy.random.Generator``,
the TDL coefficients from a ``torch.Generator`` seeded from it (never Sionna's global state). Draw
order per call: information bits (and filler), channel, noise.
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import numpy as np

from hwsim import _checks
from hwsim.components import register
from hwsim.hooks import ChannelHooks, SourceHooks

#: Constellations of an OFDM source and their bits per symbol (Sionna's Gray QAM).
OFDM_CONSTELLATIONS = {"qpsk": 2, "qam16": 4, "qam64": 6, "qam256": 8}
#: Channel codes of an OFDM source (``source.code``): 5G NR LDPC, the 802.11 convolutional code.
OFDM_CODES = ("ldpc", "conv")
#: Named tone maps of an OFDM source (``source.tone_map``; "none": every subcarrier of the FFT is used).
TONE_MAPS = ("none", "80211n_40mhz")
#: Training of an OFDM source (``source.training``): Sionna's Kronecker pilots, or Hadamard-coded symbols.
TRAININGS = ("kronecker", "hadamard")
#: What a wideband channel's ``snr_db`` means (``channel.snr_mode``): 1/N0 per user, or all users' total.
SNR_MODES = ("per_user", "total")
#: Seed of the known BPSK symbols on the pilot tones of the data OFDM symbols.
PILOT_TONE_SEED = 80211
#: Seed of the BPSK sequence over the subcarriers of the Hadamard training symbols (:func:`training_sequence`).
TRAINING_SEED = 80212
#: TDL models a ``tdl`` channel offers (3GPP TR 38.901 Tables 7.7.2-1 to 7.7.2-5).
TDL_MODELS = ("A", "B", "C", "D", "E")
#: 5G NR LDPC limits (3GPP TS 38.212, as Sionna's encoder implements them).
LDPC_K_MIN, LDPC_K_MAX, LDPC_RATE_MIN, LDPC_RATE_MAX = 12, 8448, 1 / 5, 948 / 1024
#: Guard against slots that exhaust memory (time samples x antennas per slot).
MAX_SLOT_VALUES = 2**22
#: Most time samples x antennas one pass of the link draws: a larger batch (up to
#: :data:`hwsim.engine.montecarlo.MAX_BATCH` code blocks) runs in passes of whole slots.
MAX_CALL_VALUES = 2**22
#: Subcarrier spacings an OFDM source accepts (Hz): every standard's, with room on both sides.
MIN_SPACING, MAX_SPACING = 1e3, 1e7
#: Sionna's precision for the OFDM chain (float64, the project's default for simulation).
PRECISION = "double"
#: Seed of the pilots' QPSK phases (the same pilots in every link).
PILOT_SEED = 38211
#: The LDPC decoder's precision: float32 (belief propagation on LLRs; about twice as fast as float64).
DECODER_PRECISION = "single"


def tone_map_tones(name: str) -> tuple[list[int], list[int], int]:
    """``(null tones, pilot tones, FFT size)`` of a named tone map (:data:`TONE_MAPS`), centred subcarrier indices
    (DC at 0). ``"80211n_40mhz"``: the 802.11n 40 MHz (HT40) map of a 128-point FFT: 14 null tones (the guard
    bands -64 ... -59 and 59 ... 63, the DC tones -1, 0, 1), 6 pilot tones at -53, -25, -11, 11, 25, 53, and
    the other 108 tones carry data."""
    if name == "80211n_40mhz":
        nulls = list(range(-64, -58)) + [-1, 0, 1] + list(range(59, 64))
        return nulls, [-53, -25, -11, 11, 25, 53], 128
    raise ValueError(f"source.tone_map must be one of {', '.join(TONE_MAPS)}, got {name!r}")


def hadamard(order: int) -> np.ndarray:
    """The Sylvester Hadamard matrix of ``order`` (a power of 2), entries +-1, rows orthogonal."""
    h = np.ones((1, 1))
    while h.shape[0] < order:
        h = np.block([[h, h], [h, -h]])
    return h


@register("source", "ofdm")
class OFDMSource(SourceHooks):
    r"""``users`` single-antenna users sending 5G-LDPC-coded Gray QAM on an OFDM resource grid.

    Parameters
    ----------
    users : int
        K, the users (1 to 64).
    constellation : {"qpsk", "qam16", "qam64", "qam256"}
        Sionna's Gray QAM (:data:`OFDM_CONSTELLATIONS`).
    fft_size : int
        Used subcarriers; the FFT is ``channel.oversampling`` times larger.
    subcarrier_spacing : float
        In Hz.
    cp_length : int
        Cyclic prefix in samples at the symbol rate (0 to ``fft_size``).
    ofdm_symbols : int
        OFDM symbols per slot.
    pilot_symbols : list of int
        Indices of the OFDM symbols that carry Sionna's Kronecker pilots, each user on its own comb of
        subcarriers.
    code_rate : float
        Information bits per coded bit of the 5G LDPC code.
    block_len : int
        Coded bits per 5G LDPC codeword.
    blocks : int
        Codewords per user and slot (0: as many as fit).
    code : {"ldpc", "conv"}
        The channel code: 5G NR LDPC, or the punctured K = 7 (133, 171) convolutional code (see the module
        text and :mod:`hwsim.channels.conv_code`).
    conv_decoder : {"viterbi", "bcjr"}
        The convolutional code's decoder (Sionna's); only the default is accepted with ``code = "ldpc"``.
    tone_map : {"none", "80211n_40mhz"}
        A named tone map (:func:`tone_map_tones`): its null and pilot tones; ``fft_size`` must be its FFT size.
        "none": the tones ``null_tones`` and ``pilot_tones`` give (by default every subcarrier carries data).
    null_tones : list of int
        Subcarriers (centred indices, DC at 0, from ``-fft_size // 2``) that carry nothing: guard bands, DC.
    pilot_tones : list of int
        Subcarriers that carry known BPSK symbols (unit power, fixed seed) in every data OFDM symbol (802.11's
        pilot tones; the receivers here do not use them, no phase tracking being needed), not data.
    training : {"kronecker", "hadamard"}
        The pilots in the OFDM symbols ``pilot_symbols``: Sionna's Kronecker pilots (each user its own comb of
        subcarriers), or orthogonal Hadamard training: user k sends :math:`\Phi_{k t}` (row k of the
        Sylvester Hadamard matrix of order T = ``len(pilot_symbols)``, a power of 2 at least ``users``) on
        every used tone (data and pilot tones) of the t-th training symbol. A tone map (null or pilot tones)
        needs ``"hadamard"``.
    """

    task = "detection"
    time_domain = True

    @classmethod
    def describe(cls, params: dict) -> str:
        return cls._words(params, cls._code_words(params))

    @classmethod
    def describe_scored(cls, params: dict, decoded: bool) -> str:
        """The code is named where a metric decodes it; a metric of the bits as sent (``ber``) says "uncoded"."""
        return cls._words(params, cls._code_words(params) if decoded else "uncoded")

    @staticmethod
    def _code_words(params: dict) -> str:
        if params.get("code", "ldpc") == "conv":
            from .conv_code import RATES, RATE_TOLERANCE

            rate = next((name for name, value in RATES.items() if abs(params["code_rate"] - value) <= RATE_TOLERANCE),
                        f"{params['code_rate']:g}")
            return f"conv K=7 r={rate}" + (" BCJR" if params.get("conv_decoder") == "bcjr" else "")
        return f"LDPC r={params['code_rate']:g}"

    @staticmethod
    def _words(params: dict, code: str) -> str:
        from .sources import constellation_label

        tones = f"OFDM {params['fft_size']} subcarriers"
        if params.get("tone_map", "none") == "80211n_40mhz":
            tones = f"OFDM {params['fft_size']}-point FFT, 802.11n 40 MHz tone map"
        elif params.get("null_tones") or params.get("pilot_tones"):
            nulls, pilots = len(params.get("null_tones") or []), len(params.get("pilot_tones") or [])
            tones = (f"OFDM {params['fft_size']}-point FFT, {params['fft_size'] - nulls - pilots} data tones"
                     + (f", {pilots} pilot tones" if pilots else ""))
        if params.get("training", "kronecker") == "hadamard":
            tones += f", {len(params['pilot_symbols'])} Hadamard training symbols"
        return f"K={params['users']}, {constellation_label(params['constellation'])}, {code}, {tones}"

    @classmethod
    def information_bits(cls, params: dict) -> float | None:
        from .sources import CONSTELLATION_LABELS

        bits = CONSTELLATION_LABELS.get(params["constellation"], (None, None))[1]
        if bits is None:
            return None
        if params.get("code", "ldpc") == "conv":  # k / n exactly: the tail bits cost rate
            from .conv_code import info_bits, rate_name

            try:
                n = int(params["block_len"])
                return bits * info_bits(rate_name(params["code_rate"]), n) / n
            except (TypeError, ValueError):
                pass  # refused when the source is built; here the nominal rate
        return bits * float(params["code_rate"])

    def __init__(self, *, users: int = 2, constellation: Literal["qpsk", "qam16", "qam64", "qam256"] = "qam16",
                 fft_size: int = 128, subcarrier_spacing: float = 30e3, cp_length: int = 9, ofdm_symbols: int = 14,
                 pilot_symbols: list = [2, 11], code_rate: float = 0.5, block_len: int = 1536, blocks: int = 0,
                 code: Literal["ldpc", "conv"] = "ldpc", conv_decoder: Literal["viterbi", "bcjr"] = "viterbi",
                 tone_map: Literal["none", "80211n_40mhz"] = "none", null_tones: list = [], pilot_tones: list = [],
                 training: Literal["kronecker", "hadamard"] = "kronecker"):
        p = self.params
        self.users = _checks.integer("source.users", p["users"], minimum=1, maximum=64)
        from .constellations import get_qam

        self.constellation = get_qam(p["constellation"])
        self.bits_per_symbol = OFDM_CONSTELLATIONS[p["constellation"]]
        self.fft_size = _checks.integer("source.fft_size", p["fft_size"], minimum=1)
        self.training = p["training"]
        self._tone_map(p)
        if self.training == "kronecker" and self.fft_size < 2 * self.users:
            raise ValueError(f"source.fft_size = {self.fft_size} is too small for the Kronecker pilots of "
                             f"{self.users} users (each needs its own subcarriers): use at least {2 * self.users}")
        self.cp_length = _checks.integer("source.cp_length", p["cp_length"], minimum=0)
        if self.cp_length > self.fft_size:
            raise ValueError(f"source.cp_length = {self.cp_length} samples is longer than the OFDM symbol "
                             f"(source.fft_size = {self.fft_size}); the resource grid allows 0 <= cp_length <= fft_size")
        spacing = _checks.real("source.subcarrier_spacing", p["subcarrier_spacing"], positive=True)
        if not MIN_SPACING <= spacing <= MAX_SPACING:
            raise ValueError(f"source.subcarrier_spacing must be between {MIN_SPACING:g} and {MAX_SPACING:g} Hz (5G NR "
                             f"uses 15-960 kHz, 802.11 312.5 kHz), got {spacing:g}")
        self.ofdm_symbols = _checks.integer("source.ofdm_symbols", p["ofdm_symbols"], minimum=1, maximum=1000)
        pilots = p["pilot_symbols"]
        if not isinstance(pilots, list) or not pilots:
            raise ValueError(f"source.pilot_symbols must be a non-empty list of OFDM symbol indices, got {pilots!r}")
        for i in pilots:
            _checks.integer("source.pilot_symbols[]", i, minimum=0, maximum=self.ofdm_symbols - 1)
        if len(set(pilots)) != len(pilots) or len(pilots) >= self.ofdm_symbols:
            raise ValueError(f"source.pilot_symbols = {pilots} must be distinct indices that leave at least one of the "
                             f"{self.ofdm_symbols} OFDM symbols for data")
        self.pilot_symbols = sorted(int(i) for i in pilots)
        self.training_code = None  # [K, T] +-1: the Hadamard code of training = "hadamard"
        if self.training == "hadamard":
            T = len(self.pilot_symbols)
            if T < self.users:
                raise ValueError(f"source.pilot_symbols holds {T} training symbols, too few for {self.users} users: "
                                 f"orthogonal (Hadamard) training needs at least one training symbol per user "
                                 f"(source.users = {self.users}); list at least {self.users} OFDM symbols")
            if T & (T - 1):
                raise ValueError(f"source.pilot_symbols holds {T} training symbols; the Sylvester Hadamard code "
                                 f"needs a power of 2 (e.g. {1 << T.bit_length()}) with source.training = \"hadamard\"")
            self.training_code = hadamard(T)[:self.users]
        self.n = _checks.integer("source.block_len", p["block_len"], minimum=1)
        rate = _checks.real("source.code_rate", p["code_rate"], positive=True)
        if rate > 1:
            raise ValueError(f"source.code_rate must be in (0, 1] (information bits per coded bit), got {rate:g}")
        self.code = p["code"]
        self.conv_rate = None
        if self.code == "conv":
            from .conv_code import info_bits, rate_name

            self.conv_rate = rate_name(rate, "source.code_rate")
            try:
                self.k = info_bits(self.conv_rate, self.n)
            except ValueError as exc:
                raise ValueError(f"source.block_len = {self.n} with source.code = \"conv\": {exc}") from None
        else:
            if p["conv_decoder"] != self.PARAMS["conv_decoder"]:
                raise ValueError(f"source.conv_decoder = {p['conv_decoder']!r} picks the decoder of source.code = "
                                 "\"conv\"; with the 5G LDPC code (source.code = \"ldpc\") it would do nothing")
            self.k = int(round(rate * self.n))
        problem = None
        if self.code == "conv":
            pass  # the convolutional code's sizes are checked above
        elif not LDPC_K_MIN <= self.k <= LDPC_K_MAX:
            problem = f"k = {self.k} information bits (the code needs {LDPC_K_MIN} <= k <= {LDPC_K_MAX})"
        elif not LDPC_RATE_MIN <= self.k / self.n <= LDPC_RATE_MAX:
            problem = (f"rate k/n = {self.k}/{self.n} = {self.k / self.n:.4f} (the code realises "
                       f"1/5 <= k/n <= 948/1024 = {LDPC_RATE_MAX:.4f})")
        if problem is not None:
            raise ValueError(f"source.code_rate = {rate} with source.block_len = {self.n} gives {problem}, which the "
                             "5G NR LDPC code cannot realise; change source.code_rate or source.block_len")
        self.data_bits = (self.ofdm_symbols - len(self.pilot_symbols)) * self.data_tones * self.bits_per_symbol
        fit = self.data_bits // self.n
        blocks = _checks.integer("source.blocks", p["blocks"], minimum=0)
        if fit < 1 or blocks > fit:
            raise ValueError(f"a user's slot carries {self.data_bits} coded bits ({self.ofdm_symbols - len(self.pilot_symbols)} "
                             f"data OFDM symbols x {self.data_tones} data subcarriers x {self.bits_per_symbol} bits), "
                             "room for "
                             f"{fit} codewords of source.block_len = {self.n}; asked for "
                             f"{blocks or 'at least 1'}: lower source.block_len or source.blocks")
        self.blocks = blocks or fit

    chain = None  # the link's Sionna blocks, once bound (bind)

    def _tone_map(self, p: dict) -> None:
        """The null, pilot and data tones (centred indices) from ``tone_map``, ``null_tones``, ``pilot_tones``."""
        N = self.fft_size
        if p["tone_map"] != "none":
            if p["null_tones"] or p["pilot_tones"]:
                raise ValueError(f"source.tone_map = {p['tone_map']!r} gives the null and pilot tones itself: leave "
                                 "source.null_tones and source.pilot_tones empty (or set tone_map = \"none\" and list "
                                 "them)")
            nulls, pilot_tones, size = tone_map_tones(p["tone_map"])
            if N != size:
                raise ValueError(f"source.tone_map = {p['tone_map']!r} is the map of a {size}-point FFT "
                                 f"({size - len(nulls)} used tones); source.fft_size = {N} cannot hold it: set "
                                 f"source.fft_size = {size}")
        else:
            nulls, pilot_tones = p["null_tones"], p["pilot_tones"]
        lo, hi = -(N // 2), N - N // 2 - 1
        for key, tones in (("source.null_tones", nulls), ("source.pilot_tones", pilot_tones)):
            if not isinstance(tones, list):
                raise ValueError(f"{key} must be a list of subcarrier indices, got {tones!r}")
            for t in tones:
                _checks.integer(f"{key}[]", t, minimum=lo, maximum=hi)
            if len(set(tones)) != len(tones):
                raise ValueError(f"{key} = {tones} lists a subcarrier twice")
        both = sorted(set(nulls) & set(pilot_tones))
        if both:
            raise ValueError(f"subcarriers {both} are in both source.null_tones and source.pilot_tones")
        used = N - len(nulls)
        if used - len(pilot_tones) < 1:
            raise ValueError(f"source.null_tones ({len(nulls)}) and source.pilot_tones ({len(pilot_tones)}) leave no "
                             f"data tone of the {N} subcarriers (source.fft_size)")
        if (nulls or pilot_tones) and self.training != "hadamard":
            raise ValueError("a tone map (source.tone_map, source.null_tones or source.pilot_tones) needs "
                             "source.training = \"hadamard\": Sionna's Kronecker pilots would sit on the null and "
                             "pilot tones")
        tone = np.arange(N) - N // 2
        self.null_tones = np.isin(tone, nulls)             # [N] over centred indices -N//2 ...
        self.pilot_tones = np.isin(tone, pilot_tones)
        self.data_tones = int(N - self.null_tones.sum() - self.pilot_tones.sum())
        self.used_tones = int(N - self.null_tones.sum())

    @property
    def blocks_per_slot(self) -> int:
        """Code blocks of one slot, all users."""
        return self.users * self.blocks

    def bind(self, link) -> "OFDMChain":
        """The link's :class:`OFDMChain` (the grid at the channel's ADC rate and the Sionna blocks), built once
        per channel and scoring (refusing what Sionna's resource grid or the 5G code refuse, with the keys)."""
        channel, decoded = link.channel, link.metric.scores_decoded
        chain = self.chain
        if chain is None or chain.channel is not channel or chain.decoded != decoded:
            self.chain = OFDMChain(self, channel, decoded=decoded)
        return self.chain

    def check_link(self, link) -> None:
        """An OFDM source needs a wideband channel (time-domain samples); binds the link's chain."""
        if not link.channel.time_domain:
            raise ValueError(f"source.type = {self.name!r} sends time-domain OFDM signals: it needs a wideband "
                             f"channel (channel.type = \"tdl\" or \"rayleigh_taps\"), got {link.channel.name!r}")
        self.bind(link)

    def prepare(self, link, snr_db, rng) -> None:
        """Bind the link's chain (nothing is drawn)."""
        self.bind(link)

    def draw(self, n_frames: int, frame_len: int, rng: np.random.Generator):
        """``n_frames`` slots (``frame_len``, the channel's code blocks per slot, is the slot's own): the sent
        indices the link scores and the time-domain signal complex [S, T, K] (see the module text).

        Draws the information bits [S, K, blocks, k], then the filler bits [S, K, filler]."""
        import torch

        chain = self._bound()
        slots = int(n_frames)
        info = rng.integers(0, 2, size=(slots, self.users, self.blocks, self.k)).astype(np.float64)
        filler = self.data_bits - self.blocks * self.n
        pad = rng.integers(0, 2, size=(slots, self.users, filler)).astype(np.float64)
        coded = chain.encoder(torch.from_numpy(info)).reshape(slots, self.users, self.blocks * self.n)
        sent = (info.reshape(slots, self.blocks_per_slot, self.k) if chain.decoded
                else coded.numpy().reshape(slots, 1, -1)).astype(np.int8)
        coded = torch.cat([coded, torch.from_numpy(pad).to(coded.dtype)], dim=-1)
        x = chain.mapper(coded[:, None])                                   # [S, 1, K, D/bps]
        x_time = chain.modulator(chain.rg_mapper(x))[:, 0].numpy()         # [S, K, T]
        return sent, np.swapaxes(x_time, 1, 2)                             # [S, T, K] (a view)

    def _bound(self) -> "OFDMChain":
        if self.chain is None:
            raise RuntimeError("an OFDM link builds its Sionna chain when its stages are checked or prepared: call "
                               "Pipeline.check() or Pipeline.prepare(...) first")
        return self.chain

    @property
    def bits_per_sample(self) -> int:
        """Coded bits per slot, all users (the trials of the uncoded ``ber`` metric)."""
        return self.users * self.blocks * self.n


class WidebandChannel(ChannelHooks):
    r"""Base of the OFDM channels: taps per slot, convolved with the time-domain signal (:meth:`receive`).

    Parameters
    ----------
    antennas : int
        :math:`N_r`, the receive antennas (1 to 1024).
    oversampling : int
        The ADC rate in multiples of the symbol rate (1 to 16, see the module text).
    snr_mode : {"per_user", "total"}
        What ``snr_db`` means (:data:`SNR_MODES`): ``"per_user"``, :math:`1/N_0` with every user received
        at unit power per antenna (:math:`E_s/N_0` of each user); ``"total"``, the total received SNR per
        antenna of all K users together (Studer and Durisi's): each user's taps scaled by
        :math:`1/\sqrt K`, so :math:`E \sum_k |h_{ik}|^2 = 1` and the per-user SNR is
        :math:`\mathrm{SNR} - 10 \log_{10} K` (:func:`per_user_snr_db`). :math:`N_0 = 10^{-\mathrm{SNR}/10}`
        either way.
    """

    real = False
    random = True
    time_domain = True

    @classmethod
    def snr_definition(cls, params: dict) -> str:
        if params.get("snr_mode", "per_user") == "total":
            return "SNR = all users' received power / N0 per receive antenna"
        return "SNR = 1/N0 per resource element and receive antenna"

    @classmethod
    def esn0_db(cls, snr_db: float, params: dict) -> float:
        r"""Each user's :math:`E_s/N_0` at ``snr_db``: the SNR itself with ``snr_mode = "per_user"``; with
        ``"total"`` it is :math:`\mathrm{SNR} - 10\log_{10} K`, and K (``source.users``) is not the channel's
        to know, so an :math:`E_b/N_0` axis is refused there."""
        if params.get("snr_mode", "per_user") == "total":
            raise ValueError("channel.snr_mode = \"total\": each user's Es/N0 is the SNR less 10 log10(source.users), "
                             "which the channel does not know; draw an Eb/N0 axis with channel.snr_mode = \"per_user\"")
        return float(snr_db)

    def __init__(self, *, antennas: int = 16, oversampling: int = 1, snr_mode: str = "per_user"):
        if snr_mode not in SNR_MODES:
            raise ValueError(f"channel.snr_mode must be one of {', '.join(SNR_MODES)}, got {snr_mode!r}")
        self.snr_mode = snr_mode
        self.antennas = _checks.integer("channel.antennas", antennas, minimum=1, maximum=1024)
        self.oversampling = _checks.integer("channel.oversampling", oversampling, minimum=1, maximum=16)
        self.frame_len = 1  # code blocks per slot once a link binds it (check_link, prepare)
        self.chain = None

    # -- what a subclass provides
    def lags(self, sample_rate: float) -> tuple[int, int]:  # pragma: no cover - interface
        """(L_min, L_max) of the discrete taps at ``sample_rate``."""
        raise NotImplementedError

    def tap_covariance(self, sample_rate: float) -> np.ndarray:  # pragma: no cover - interface
        """:math:`E[h[\\ell] h[\\ell']^*]` of one antenna pair's taps, [L, L] (L = L_max - L_min + 1)."""
        raise NotImplementedError

    def draw_taps(self, slots: int, users: int, sample_rate: float, rng: np.random.Generator) -> np.ndarray:
        """Taps complex [slots, N_r, K, L] of lags L_min..L_max."""  # pragma: no cover - interface
        raise NotImplementedError

    def last_delay(self) -> float:  # pragma: no cover - interface
        """Delay of the last path [s]."""
        raise NotImplementedError

    # -- the link
    def check_users(self, *, users: int) -> None:
        """Nothing beyond the parameters (the grid is checked with the source in :meth:`check_link`)."""

    def check_link(self, link) -> None:
        """Refuse what an OFDM link cannot run; warn when the channel outlasts the cyclic prefix."""
        from hwsim.components import lookup, names

        src = link.source
        if not src.time_domain:
            ok = [n for n in names("source") if lookup("source", n).time_domain]
            raise ValueError(f"channel.type = {self.name!r} is a wideband OFDM channel: it needs a source of "
                             f"time-domain OFDM signals (source.type = one of {', '.join(ok)}), got {src.name!r}")
        if not (link.metric.scores_decoded or link.metric.counts_bits):
            ok = [n for n in names("metric") if lookup("metric", n).scores_decoded or lookup("metric", n).counts_bits]
            raise ValueError(f"an OFDM link is scored by metric.type = one of {', '.join(ok)}, "
                             f"got {link.metric.name!r}")
        if not link.receiver.time_domain:
            ok = [n for n in names("receiver") if lookup("receiver", n).time_domain]
            raise ValueError(f"receiver.type = {link.receiver.name!r} does not serve an OFDM link; use one of "
                             f"{', '.join(ok)}")
        if link.frontend.combines:
            raise ValueError(f"an OFDM link has no analog front end (frontend.type = \"identity\"), got "
                             f"{link.frontend.name!r}")
        samples = self.slot_samples(src)
        if samples * self.antennas > MAX_SLOT_VALUES:
            raise ValueError(f"a slot holds {samples} time samples x {self.antennas} antennas, more than the limit of "
                             f"{MAX_SLOT_VALUES} (channel.ofdm.MAX_SLOT_VALUES): fewer symbols, subcarriers or antennas")
        self.bind(link)  # the grid and the code: refuses what Sionna refuses, with the keys to change
        cp_time = src.cp_length / (src.fft_size * src.params["subcarrier_spacing"])
        if self.last_delay() > cp_time:
            warnings.warn(f"channel: the last path arrives {self.last_delay() * 1e9:.0f} ns after the first, longer than "
                          f"the cyclic prefix ({src.cp_length} samples = {cp_time * 1e9:.0f} ns): consecutive OFDM "
                          "symbols overlap (inter-symbol and inter-carrier interference), which no receiver here "
                          "models; expect an error floor. Lower channel.delay_spread or raise source.cp_length",
                          UserWarning, stacklevel=2)

    def slot_samples(self, source: OFDMSource) -> int:
        """Time samples of one slot at the ADC rate (cyclic prefixes included)."""
        return source.ofdm_symbols * self.oversampling * (source.fft_size + source.cp_length)

    def frames_per_pass(self, source) -> int:
        """Slots one pass of the link holds: at most :data:`MAX_CALL_VALUES` samples x antennas."""
        return max(1, MAX_CALL_VALUES // (self.slot_samples(source) * self.antennas))

    def bind(self, link) -> None:
        """Take the link's chain (:meth:`OFDMSource.bind`) and its slot: ``frame_len`` = the code blocks of a slot."""
        self.chain = link.source.bind(link)
        self.frame_len = link.source.blocks_per_slot

    def prepare(self, link, snr_db, rng) -> None:
        """Bind the link's chain and slot, and refuse what the link cannot run (:meth:`check_link`)."""
        self.check_link(link)

    def power_scale(self, users: int) -> float:
        """Each user's received power per antenna relative to :meth:`draw_taps`'s: 1, or 1/K with
        ``snr_mode = "total"``."""
        return 1.0 / users if self.snr_mode == "total" else 1.0

    def draw(self, n_frames: int, users: int, rng: np.random.Generator) -> np.ndarray:
        r"""The taps of ``n_frames`` slots, complex [S, N_r, K, L] of lags L_min..L_max at the ADC rate (scaled
        by :math:`1/\sqrt K` with ``snr_mode = "total"``)."""
        h = self.draw_taps(n_frames, users, self._chain().sample_rate, rng)
        if self.snr_mode == "total":
            h *= math.sqrt(1.0 / users)
        return h

    def receive(self, s, H, snr_db: float, rng, noise=None):
        r"""The antenna signals :math:`y_i[t]`, complex [S, T + L - 1, N_r] (index 0 is lag ``l_min``), of the
        time-domain signal ``s`` [S, T, K] through the taps ``H`` [S, N_r, K, L], plus noise
        :math:`\mathcal{CN}(0, N_0)` drawn from ``rng`` (as [S, N_r, T + L - 1]); a given ``noise`` is refused
        (importance sampling of a wideband link is not supported)."""
        if noise is not None:
            raise ValueError(f"channel.type = {self.name!r} draws its own noise (estimator = \"plain\" only)")
        x_time = np.swapaxes(s, 1, 2)                                    # [S, K, T]
        n0 = 10.0 ** (-float(snr_db) / 10)
        shape = (x_time.shape[0], self.antennas, x_time.shape[-1] + H.shape[-1] - 1)
        y = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * math.sqrt(n0 / 2)
        T = x_time.shape[-1]
        for j in range(H.shape[-1]):
            y[..., j:j + T] += H[..., j] @ x_time
        return np.ascontiguousarray(np.swapaxes(y, 1, 2))

    def receiver_csi(self, H: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """What the receiver knows of the channel: the frequency response of the taps on the used subcarriers,
        complex [S, N_r, K, M] (:func:`frequency_response`; the ``perfect`` CSI of the receivers)."""
        chain = self._chain()
        return frequency_response(H, chain.l_min, chain.fft_size, chain.used)

    def expected_power(self, y, H, noise_var: float, noise_cov=None):
        r"""The power each antenna's converters see over the slot, :math:`P_i = \overline{|y_i[t]|^2}`, float
        [S, N_r] (the slot's samples ``y`` [S, T', N_r]; what an AGC that averages over the slot knows)."""
        return np.mean(y.real**2 + y.imag**2, axis=1)

    def _chain(self) -> "OFDMChain":
        if self.chain is None:
            raise RuntimeError("a wideband channel is bound to its OFDM link when the link's stages are checked or "
                               "prepared: call Pipeline.check() or Pipeline.prepare(...) first")
        return self.chain

    def _normalise(self, cov: np.ndarray) -> np.ndarray:
        return cov / np.real(np.trace(cov))


@register("channel", "tdl")
class TDLChannel(WidebandChannel):
    r"""3GPP TDL channel (``model`` A-E, ``delay_spread`` [s]) per user and receive antenna, static over a slot.

    Antenna pairs fade independently (no spatial correlation). ``carrier_frequency`` [Hz] is refused at any
    value but its default: Sionna's TDL uses the carrier frequency only for the Doppler of a moving user
    (:math:`\omega_d = 2\pi v f_c / c`, with ``min_speed``/``max_speed``), and this channel has no mobility
    (speed 0, static over a slot, redrawn per slot; no speed parameter exists), so another value would
    change nothing. The key stays, at 3.5 GHz, to record the carrier the profile stands for.

    Parameters
    ----------
    model : {"A", "B", "C", "D", "E"}
        The TDL profile (:data:`TDL_MODELS`).
    delay_spread : float
        RMS delay spread in seconds (nominal values 10e-9 to 1000e-9).
    antennas, oversampling : int
        As for every wideband channel (:class:`WidebandChannel`).
    snr_mode : {"per_user", "total"}
        What ``snr_db`` means (:class:`WidebandChannel`).
    carrier_frequency : float
        In Hz; only its default is accepted (see above).
    """

    @classmethod
    def describe(cls, params: dict) -> str:
        return f"N_r={params['antennas']}, TDL-{params['model']} {params['delay_spread'] * 1e9:g} ns"

    def __init__(self, *, model: Literal["A", "B", "C", "D", "E"] = "C", delay_spread: float = 100e-9,
                 antennas: int = 16, oversampling: int = 1, carrier_frequency: float = 3.5e9,
                 snr_mode: Literal["per_user", "total"] = "per_user"):
        super().__init__(antennas=antennas, oversampling=oversampling, snr_mode=snr_mode)
        _checks.real("channel.delay_spread", self.params["delay_spread"], positive=True)
        if self.params["delay_spread"] > 1e-5:
            raise ValueError(f"channel.delay_spread is in seconds; {self.params['delay_spread']} s is beyond any TDL "
                             "profile (nominal values: 10e-9 to 1000e-9)")
        _checks.real("channel.carrier_frequency", self.params["carrier_frequency"], positive=True)
        default = self.PARAMS["carrier_frequency"]
        if self.params["carrier_frequency"] != default:
            raise ValueError(f"channel.carrier_frequency = {self.params['carrier_frequency']!r} would change nothing: "
                             "the carrier frequency enters Sionna's TDL only through the Doppler of a moving user, and "
                             f"this channel is static over a slot (no mobility); leave it at {default:g} Hz")
        self._tdl = {}

    def _model(self, users: int):
        if users not in self._tdl:
            from sionna.phy.channel.tr38901 import TDL

            class _Seeded(TDL):
                generator = None

                @property
                def torch_rng(self):
                    return self.generator

            self._tdl[users] = _Seeded(self.params["model"], self.params["delay_spread"],
                                       self.params["carrier_frequency"], min_speed=0.0, max_speed=0.0,
                                       num_rx_ant=self.antennas, num_tx_ant=users, precision=PRECISION)
        return self._tdl[users]

    def _profile(self):
        tdl = self._model(1)
        return tdl.delays.cpu().numpy().astype(np.float64), tdl.mean_powers.cpu().numpy().astype(np.float64)

    def last_delay(self) -> float:
        return float(self._profile()[0].max())

    def lags(self, sample_rate):
        from sionna.phy.channel import time_lag_discrete_time_channel

        return time_lag_discrete_time_channel(sample_rate, self.last_delay())

    def tap_covariance(self, sample_rate):
        r""":math:`\sum_p P_p\, \mathrm{sinc}(\ell - \tau_p W)\,\mathrm{sinc}(\ell' - \tau_p W)` (the sinc taps of
        :func:`~sionna.phy.channel.cir_to_time_channel`), normalised to trace 1."""
        l_min, l_max = self.lags(sample_rate)
        tau, power = self._profile()
        lag = np.arange(l_min, l_max + 1)
        s = np.sinc(lag[:, None] - tau[None, :] * sample_rate)  # [L, P]
        return self._normalise((s * power) @ s.T + 0j)

    def draw_taps(self, slots, users, sample_rate, rng):
        import torch
        from sionna.phy.channel import cir_to_time_channel

        tdl = self._model(users)
        gen = torch.Generator()
        gen.manual_seed(int(rng.integers(2**62)))
        tdl.generator = gen
        a, tau = tdl(slots, 1, sample_rate)  # a [S, 1, N_r, 1, K, P, 1], tau [S, 1, 1, P]
        l_min, l_max = self.lags(sample_rate)
        h = cir_to_time_channel(sample_rate, a, tau, l_min, l_max, normalize=False)  # [S, 1, N_r, 1, K, 1, L]
        h = h[:, 0, :, 0, :, 0, :].cpu().numpy().astype(np.complex128)
        total = np.real(np.trace(self._unnormalised(sample_rate)))
        return h / np.sqrt(total)

    def _unnormalised(self, sample_rate):
        l_min, l_max = self.lags(sample_rate)
        tau, power = self._profile()
        s = np.sinc(np.arange(l_min, l_max + 1)[:, None] - tau[None, :] * sample_rate)
        return (s * power) @ s.T


@register("channel", "rayleigh_taps")
class RayleighTaps(WidebandChannel):
    r"""``taps`` independent :math:`\mathcal{CN}(0, p_\ell)` taps at symbol-rate spacing (lags
    :math:`\ell \cdot` ``oversampling`` at the ADC rate), :math:`p_\ell \propto 10^{-\ell\, d/10}` with
    ``decay_db`` = d, :math:`\sum_\ell p_\ell = 1`; one tap is flat Rayleigh fading per subcarrier.

    Parameters
    ----------
    taps : int
        Taps at symbol-rate spacing (1 to 256).
    decay_db : float
        Power decay per tap in dB (>= 0; 0: a uniform profile).
    antennas, oversampling : int
        As for every wideband channel (:class:`WidebandChannel`).
    snr_mode : {"per_user", "total"}
        What ``snr_db`` means (:class:`WidebandChannel`).
    """

    @classmethod
    def describe(cls, params: dict) -> str:
        return (f"N_r={params['antennas']}, {params['taps']}-tap Rayleigh"
                + (f" ({params['decay_db']:g} dB per tap)" if params["decay_db"] else ""))

    def __init__(self, *, taps: int = 4, decay_db: float = 0.0, antennas: int = 16, oversampling: int = 1,
                 snr_mode: Literal["per_user", "total"] = "per_user"):
        super().__init__(antennas=antennas, oversampling=oversampling, snr_mode=snr_mode)
        self.taps = _checks.integer("channel.taps", taps, minimum=1, maximum=256)
        _checks.real("channel.decay_db", decay_db, nonnegative=True)
        p = 10.0 ** (-np.arange(self.taps) * self.params["decay_db"] / 10)
        self.powers = p / p.sum()

    def last_delay(self) -> float:
        return (self.taps - 1) / self._symbol_rate if self._symbol_rate else 0.0

    _symbol_rate = 0.0

    def check_link(self, link) -> None:
        src = link.source
        if src.time_domain:
            self._symbol_rate = src.fft_size * src.params["subcarrier_spacing"]
        super().check_link(link)

    def lags(self, sample_rate):
        return 0, (self.taps - 1) * self.oversampling

    def tap_covariance(self, sample_rate):
        cov = np.zeros((self.lags(sample_rate)[1] + 1,) * 2, dtype=np.complex128)
        idx = np.arange(self.taps) * self.oversampling
        cov[idx, idx] = self.powers
        return cov

    def draw_taps(self, slots, users, sample_rate, rng):
        shape = (slots, self.antennas, users, self.taps)
        g = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * np.sqrt(self.powers / 2)
        h = np.zeros((slots, self.antennas, users, self.lags(sample_rate)[1] + 1), dtype=np.complex128)
        h[..., ::self.oversampling] = g
        return h


# ---------------------------------------------------------------------------------------------- the chain
def make_grid(source: OFDMSource, channel: WidebandChannel):
    """Sionna's :class:`~sionna.phy.ofdm.ResourceGrid` of the link (guard carriers for oversampling)."""
    from sionna.phy.ofdm import ResourceGrid

    os_ = channel.oversampling
    guard = (os_ - 1) * source.fft_size
    pattern = "kronecker" if source.training == "kronecker" else training_pattern(source)
    try:
        rg = ResourceGrid(num_ofdm_symbols=source.ofdm_symbols, fft_size=os_ * source.fft_size,
                            subcarrier_spacing=float(source.params["subcarrier_spacing"]), num_tx=1,
                            num_streams_per_tx=source.users, cyclic_prefix_length=os_ * source.cp_length,
                            num_guard_carriers=(guard // 2, guard - guard // 2), dc_null=False,
                            pilot_pattern=pattern, pilot_ofdm_symbol_indices=source.pilot_symbols,
                            precision=PRECISION)
    except (ValueError, AssertionError) as exc:
        raise ValueError(f"the resource grid (source.fft_size = {source.fft_size}, source.cp_length = "
                         f"{source.cp_length}, source.ofdm_symbols = {source.ofdm_symbols}, source.pilot_symbols = "
                         f"{source.pilot_symbols}, channel.oversampling = {os_}) is refused by Sionna: {exc}") from exc
    if source.training != "kronecker":
        return rg
    # Sionna draws the Kronecker pilots' QPSK phases from its global generator; fix them (same support and
    # modulus) so that every link, worker and run sends the same pilots
    old = np.asarray(rg.pilot_pattern.pilots)
    phase = np.random.default_rng(PILOT_SEED).integers(0, 4, size=old.shape)
    rg.pilot_pattern.pilots = np.abs(old) * np.exp(1j * np.pi * (0.25 + 0.5 * phase))
    return rg


def training_grid(source: OFDMSource) -> tuple[np.ndarray, np.ndarray]:
    r"""``(mask, values)`` of the non-data resource elements of a source with ``training = "hadamard"``, bool and
    complex [K, syms, N] (N = ``fft_size`` subcarriers from index ``-N // 2``): every subcarrier of the training
    symbols (``pilot_symbols``), and the null and pilot tones of the other symbols. Values: user k sends the
    Hadamard code's :math:`\Phi_{k t} L_m` on every used tone m of the t-th training symbol
    (:func:`training_sequence`), 0 on the null tones,
    and a known BPSK symbol (seed :data:`PILOT_TONE_SEED`) on each pilot tone of a data symbol."""
    K, syms, N = source.users, source.ofdm_symbols, source.fft_size
    mask = np.zeros((K, syms, N), dtype=bool)
    mask[:, :, source.null_tones | source.pilot_tones] = True
    mask[:, source.pilot_symbols, :] = True
    values = np.zeros((K, syms, N), dtype=np.complex128)
    bpsk = 1.0 - 2.0 * np.random.default_rng(PILOT_TONE_SEED).integers(0, 2, size=(K, syms, N))
    values[:, :, source.pilot_tones] = bpsk[:, :, source.pilot_tones]
    values[:, source.pilot_symbols, :] = source.training_code[:, :, None] * training_sequence(source.fft_size)
    values[:, :, source.null_tones] = 0.0
    return mask, values


def training_sequence(fft_size: int) -> np.ndarray:
    r"""The BPSK sequence :math:`L_m = \pm 1` over the ``fft_size`` subcarriers that every user's training symbols
    carry, times the user's Hadamard code (seed :data:`TRAINING_SEED`): the same value on every tone would make
    each training symbol an impulse in time (a peak-to-average ratio of about ``fft_size``, which converters
    whose full scale follows the slot's mean power clip); a random sign per tone keeps it near a data symbol's."""
    return 1.0 - 2.0 * np.random.default_rng(TRAINING_SEED).integers(0, 2, size=fft_size)


def training_pattern(source: OFDMSource):
    """Sionna's :class:`~sionna.phy.ofdm.PilotPattern` of :func:`training_grid` (one transmitter, a stream per
    user; pilots listed row-major over the mask, as Sionna maps them)."""
    from sionna.phy.ofdm import PilotPattern

    mask, values = training_grid(source)
    pilots = np.stack([values[k][mask[k]] for k in range(source.users)])
    return PilotPattern(mask[None].astype(np.int32), pilots[None], precision=PRECISION)


def _encoder(source: OFDMSource):
    from sionna.phy.fec.ldpc import LDPC5GEncoder

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return LDPC5GEncoder(source.k, source.n, precision=PRECISION)
    except (ValueError, UserWarning) as exc:
        raise ValueError(f"source.code_rate = {source.params['code_rate']} with source.block_len = {source.n} "
                         f"(k = {source.k}): the 5G NR LDPC code cannot realise it ({exc})") from exc


def frequency_response(h: np.ndarray, l_min: int, fft_size: int, used: np.ndarray) -> np.ndarray:
    r""":math:`H[m] = \sum_\ell h[\ell]\, e^{-j 2\pi m \ell / N_\mathrm{FFT}}` on the used subcarriers ``used``
    (centred indices, DC at 0), for taps ``h`` [..., L] of lags ``l_min`` ...; returns [..., M]."""
    lag = l_min + np.arange(h.shape[-1])
    phase = np.exp(-2j * np.pi * np.outer(lag, used) / fft_size)  # [L, M]
    return h @ phase


def per_user_snr_db(snr_db, users: int, snr_mode: str = "total"):
    r"""Each user's SNR (:math:`E_s/N_0` per receive antenna) in dB at ``snr_db`` of ``snr_mode``: the SNR itself
    for ``"per_user"``, :math:`\mathrm{SNR} - 10\log_{10} K` for ``"total"`` (K = ``users`` of equal power)."""
    if snr_mode not in SNR_MODES:
        raise ValueError(f"snr_mode must be one of {', '.join(SNR_MODES)}, got {snr_mode!r}")
    users = _checks.integer("users", users, minimum=1)
    return np.asarray(snr_db, dtype=np.float64) - (10 * math.log10(users) if snr_mode == "total" else 0.0)


def total_snr_db(snr_db, users: int):
    r"""The total received SNR per antenna of ``users`` equal-power users whose per-user SNR is ``snr_db``:
    :math:`\mathrm{SNR}_\text{user} + 10\log_{10} K` (the inverse of :func:`per_user_snr_db`)."""
    users = _checks.integer("users", users, minimum=1)
    return np.asarray(snr_db, dtype=np.float64) + 10 * math.log10(users)


def papr_db(x: np.ndarray, axis=-1) -> np.ndarray:
    r"""Peak-to-average power ratio :math:`10 \log_{10} \max|x|^2 / \overline{|x|^2}` along ``axis``, in dB."""
    p = np.abs(x) ** 2
    return 10 * np.log10(p.max(axis=axis) / p.mean(axis=axis))


class OFDMChain:
    """The Sionna blocks of one OFDM link, shared by its stages (built by :meth:`OFDMSource.bind`): the grid
    at the channel's ADC rate, the code, mapper and modulator the source uses, the lags the channel uses,
    and the demodulator, demapper and decoder the receiver uses. ``encoder`` maps information bits [..., k]
    to codewords [..., n] and ``decoder`` LLRs [..., n] to hard information bits [..., k], for either code
    (``code``: the :class:`hwsim.channels.conv_code.ConvCode` of ``source.code = "conv"``, else None).

    ``decoded``: the link scores the information bits after decoding (``link.metric.scores_decoded``).
    """

    def __init__(self, source: OFDMSource, channel: "WidebandChannel", decoded: bool = True):
        from sionna.phy.mapping import Demapper, Mapper
        from sionna.phy.mimo import StreamManagement
        from sionna.phy.ofdm import OFDMDemodulator, OFDMModulator, ResourceGridMapper

        self.source, self.channel, self.decoded = source, channel, bool(decoded)
        self.rg = make_grid(source, channel)
        self.code = None  # the convolutional code (hwsim.channels.conv_code.ConvCode) of source.code = "conv"
        if source.code == "conv":
            from .conv_code import ConvCode

            self.code = ConvCode(source.conv_rate, source.params["conv_decoder"], precision=DECODER_PRECISION)
            self.encoder = self.code
        else:
            self.encoder = _encoder(source)
        self.sm = StreamManagement(np.ones((1, 1), dtype=int), source.users)
        self.fft_size = channel.oversampling * source.fft_size
        self.sample_rate = self.fft_size * source.params["subcarrier_spacing"]
        self.l_min, self.l_max = channel.lags(self.sample_rate)
        self.used = (np.arange(self.fft_size) - self.fft_size // 2)[np.asarray(self.rg.effective_subcarrier_ind)]
        cp = channel.oversampling * source.cp_length
        self.mapper = Mapper("qam", source.bits_per_symbol, precision=PRECISION)
        self.demapper = Demapper("app", "qam", source.bits_per_symbol, precision=PRECISION)
        self.rg_mapper = ResourceGridMapper(self.rg, precision=PRECISION)
        self.modulator = OFDMModulator(cp, precision=PRECISION)
        self.demodulator = OFDMDemodulator(self.fft_size, self.l_min, cp, precision=PRECISION)
        if self.code is not None:
            self.decoder = self.code.decode  # LLRs [..., n] -> information bits [..., k], as the LDPC decoder
        else:
            from sionna.phy.fec.ldpc import LDPC5GDecoder

            self.decoder = LDPC5GDecoder(self.encoder, hard_out=True, precision=DECODER_PRECISION)

    def freq_covariance(self) -> np.ndarray:
        """Covariance of one antenna pair's frequency response over the used subcarriers, [M, M]."""
        cov = self.channel.tap_covariance(self.sample_rate)
        if self.channel.snr_mode == "total":
            cov = cov * self.channel.power_scale(self.source.users)
        lag = self.l_min + np.arange(cov.shape[0])
        F = np.exp(-2j * np.pi * np.outer(self.used, lag) / self.fft_size)  # [M, L]
        return F @ cov @ F.conj().T


__all__ = ["OFDMSource", "TDLChannel", "RayleighTaps", "OFDMChain", "make_grid", "frequency_response", "papr_db",
           "tone_map_tones", "hadamard", "training_grid", "training_sequence", "training_pattern", "per_user_snr_db",
           "total_snr_db", "OFDM_CONSTELLATIONS", "OFDM_CODES", "TDL_MODELS", "TONE_MAPS", "TRAININGS", "SNR_MODES",
           "PILOT_TONE_SEED", "TRAINING_SEED"]
