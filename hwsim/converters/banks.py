r"""Converter banks of a complex-baseband link: an I and a Q ADC per converter input.

Every bank applies one real decision table (:class:`hwsim.converters.adc.ThresholdADC`, designed for a
unit-variance Gaussian input) to the real and the imaginary part of each input after an
automatic gain control (AGC) scale :math:`\alpha_i`:

.. math:: r_i = \alpha_i \big(Q(\mathrm{Re}\, y_i / \alpha_i) + j\, Q(\mathrm{Im}\, y_i / \alpha_i)\big).

A bank takes the signal it converts and nothing else of the link: ``convert(y, power, rng)``, with
``y`` the converter inputs [F, L, N] (F frames or slots of L samples, N inputs) and ``power`` the
expected power :math:`P_i = E|y_i|^2` of each input per frame, float [F, N], that the link states
(None where it states none), never a channel matrix. AGC modes (``agc``), with
:math:`\alpha_i = \sqrt{P_i / 2}` the standard deviation of :math:`\mathrm{Re}\, y_i` for the power
:math:`P_i` the mode takes:

- ``ideal``: the power the link states. A flat link states the expected power given the channel,
  :math:`P_i = \sum_k |H_{ik}|^2 + N_0` (unit-energy symbols; after a front end, its effective channel
  and the diagonal of its noise covariance: :meth:`hwsim.hooks.ChannelHooks.expected_power`), per frame;
  a wideband (OFDM) link the mean power of :math:`y_i` over the slot (:mod:`hwsim.channels.ofdm`). A link that states no
  power refuses ``ideal`` with a message that names ``measured`` and ``fixed``;
- ``measured``: the power measured from the samples being converted, per input and per frame (per
  slot on an OFDM link), :math:`P_i = \frac{1}{L} \sum_t |y_i[t]|^2` (:func:`measured_power`): what an
  AGC that averages each antenna's power over a frame sets, noise and all;
- ``shared``: one gain for every converter input of the bank (all antennas of the array, or all outputs of
  the front end), set from the power measured over the frame or slot and averaged over the inputs,
  :math:`P_i = \bar P = \frac{1}{N} \sum_{j=1}^{N} \frac{1}{L} \sum_t |y_j[t]|^2` for every :math:`i`
  (:func:`shared_power`). The *slot* is the array's samples of one frame: the ``L`` samples of a frame of
  a flat link (one channel draw), or all time samples of one OFDM slot (cyclic prefixes included) on a
  wideband link. An input weaker than the array's mean then sees a table that is too wide for it and a
  stronger one clips more: beside ``measured`` it shows what per-antenna gain control is worth. With
  equal powers on every input it sets the scale ``measured`` sets;
- ``fixed``: :math:`\alpha_i` = ``scale`` for every input, whatever the signal level.

A real link (seed 001's model) has one converter per input, :math:`P_i = E y_i^2` and
:math:`\alpha_i = \sqrt{P_i}`, the input's own standard deviation.

Banks: ``none`` (unquantized), ``uniform_range`` (seed 001's QMAP converters: uniform levels over
:math:`[-\gamma, \gamma]`), ``uniform`` (the mid-rise uniform quantizer with the MSE-optimal
step for a Gaussian input, :func:`hwsim.designs.uniform_gaussian`), ``lloyd_max``
(:func:`hwsim.designs.lloyd_max`), ``equiprobable`` (quantile thresholds, each cell holding :math:`1/M` of
a Gaussian input, centroid levels: :func:`hwsim.designs.equiprobable`), ``table`` (a decision-table file,
:mod:`hwsim.converters.tables`) and ``vector`` (each I/Q pair quantized by a 2-D vector quantizer,
:mod:`hwsim.quantizers`); the hardware banks (impaired, DAC-rounded and external converters) are in
:mod:`hwsim.converters.hardware`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .. import _checks
from ..components import FileParam, register
from ..hooks import ConverterHooks

#: The AGC modes of a converter bank (``adc.agc``; see the module text).
AGC_MODES = ("ideal", "measured", "fixed", "shared")
#: The annotation of every bank's ``agc`` parameter.
AGC = Literal["ideal", "measured", "fixed", "shared"]
#: Most bits a designed bank may have; table files allow up to :data:`hwsim.converters.adc.MAX_LEVELS` levels.
MAX_DESIGN_BITS = 8


def check_agc(params: dict, default_scale: float) -> None:
    """``adc.scale`` positive, and no scale other than the default under ``agc = "ideal"``, ``"measured"`` or
    ``"shared"`` (which set the scale from the signal: the value would do nothing). ``adc.agc``, one of
    :data:`AGC_MODES`, is checked by the registry before a bank's ``__init__`` runs (its annotation)."""
    _checks.real("adc.scale", params["scale"], positive=True)
    if params["agc"] != "fixed" and params["scale"] != default_scale:
        raise ValueError(f"adc.scale sets the full scale of agc = 'fixed'; with agc = {params['agc']!r} the scale "
                         f"follows the signal and adc.scale = {params['scale']!r} would do nothing (set adc.agc = "
                         "\"fixed\" to use it)")


def measured_power(y: np.ndarray) -> np.ndarray:
    r"""The power of each converter input measured over its frame (or slot), float [F, N]:
    :math:`\frac{1}{L} \sum_t |y_i[t]|^2` of ``y`` [F, L, N] (real or complex)."""
    if np.iscomplexobj(y):
        return np.mean(y.real**2 + y.imag**2, axis=1)
    return np.mean(y**2, axis=1)


def shared_power(y: np.ndarray) -> np.ndarray:
    r"""The power of ``agc = "shared"``: the frame's (slot's) measured power averaged over the converter inputs,
    :math:`\bar P = \frac{1}{N} \sum_j \frac{1}{L} \sum_t |y_j[t]|^2`, the same for every input, float [F, N] of
    ``y`` [F, L, N] (real or complex)."""
    power = measured_power(y)
    return np.broadcast_to(power.mean(axis=1, keepdims=True), power.shape).copy()


def agc_scale(params: dict, y: np.ndarray, power=None) -> np.ndarray:
    r""":math:`\alpha` per frame and input, float [F, N], of a bank with ``params["agc"]`` and
    ``params["scale"]`` converting ``y`` [F, L, N] (see the module text): :math:`\sqrt{P_i/2}` for a complex
    input, :math:`\sqrt{P_i}` for a real one, or the fixed scale."""
    mode = params["agc"]
    if mode == "fixed":
        return np.full((y.shape[0], y.shape[-1]), params["scale"])
    if mode == "measured":
        power = measured_power(y)
    elif mode == "shared":
        power = shared_power(y)
    elif power is None:
        raise ValueError("adc.agc = 'ideal' sets each converter's full scale from the power the link states, and "
                         "this link states none; use adc.agc = \"measured\" (the power of the samples converted, per "
                         "frame) or \"fixed\" with adc.scale")
    else:
        power = np.asarray(power)
        if power.shape != (y.shape[0], y.shape[-1]):
            raise ValueError(f"power has shape {power.shape}; the bank converts {y.shape[0]} frames of "
                             f"{y.shape[-1]} inputs and needs one power per frame and input")
    return np.sqrt(power if not np.iscomplexobj(y) else power / 2)


def require_scalar_cells(link, receiver: str, instead: str) -> None:
    """Refuse a link whose converter bank quantizes without per-axis cells (``scalar_cells``, see
    :class:`ConverterBank`), for ``receiver`` (its ``receiver.type``), suggesting ``instead``."""
    bank = link.adc
    if bank.quantizes and not bank.scalar_cells:
        raise ValueError(f"receiver.type = {receiver!r} needs converters that quantize each I and Q sample with a "
                         f"real decision table (its cells), and adc.type = {bank.name!r} does not give them (its "
                         f"observation holds reconstructions only); use {instead}")


class ConverterBank(ConverterHooks):
    """Base: ``convert(y, power=None, rng=None)`` -> the converter fields of an Observation.

    ``y``: the converter inputs, complex (an I and a Q converter each) or real (one converter each)
    [F, L, N]; ``power``: the expected power of each input per frame the link states, float [F, N], or
    None (see the module text; a bank never sees the channel); ``rng``: a ``numpy.random.Generator`` for a
    bank that draws (thermal noise), None otherwise. The fields: ``r`` [F, L, N] always, and ``adc``,
    ``scale`` [F, N] and the cells ``lower_re``/``upper_re``/``lower_im``/``upper_im`` where the bank gives
    them.

    What a bank gives, for the stages that ask (never its name): ``quantizes`` (False only for ideal
    converters) and ``scalar_cells`` (True where every I and Q sample comes from one real decision table:
    the observation carries ``adc``, ``scale`` and each sample's cell, which Bussgang and likelihood
    receivers need; :func:`require_scalar_cells`); declared in :class:`hwsim.hooks.ConverterHooks`.
    """

    def convert(self, y: np.ndarray, power: np.ndarray | None = None, rng=None) -> dict:  # pragma: no cover
        raise NotImplementedError


@register("adc", "none")
class Unquantized(ConverterBank):
    """Ideal, infinite-resolution converters: the receiver sees ``y``."""

    quantizes = False

    def convert(self, y, power=None, rng=None) -> dict:
        return {"r": y}


class TableBank(ConverterBank):
    """An I/Q pair of one real table per input, behind an AGC (see the module text).

    Parameters
    ----------
    agc : {"ideal", "measured", "fixed", "shared"}
        The AGC mode (:data:`AGC_MODES`, see the module text).
    scale : float
        The full scale :math:`\\alpha` of ``agc = "fixed"`` (> 0); under ``"ideal"``, ``"measured"`` and
        ``"shared"`` only the default is accepted (the scale follows the signal).
    """

    scalar_cells = True

    def __init__(self, *, agc: AGC = "ideal", scale: float = 1.0):
        check_agc(self.params, self.PARAMS["scale"])
        self.table = self.make_table()

    def make_table(self):  # pragma: no cover - interface
        raise NotImplementedError

    def table_for(self, converters: int):
        """The real table each of a bank's ``converters`` real converters applies (one for all sizes here)."""
        return self.table

    @property
    def fixed_scale(self) -> float | None:
        """``adc.scale`` under ``agc = "fixed"``; None under an AGC that follows the signal."""
        return float(self.params["scale"]) if self.params["agc"] == "fixed" else None

    def agc_scale(self, y: np.ndarray, power=None) -> np.ndarray:
        r""":math:`\alpha` per frame and input of ``y`` [F, L, N], float [F, N] (:func:`agc_scale`; for a real
        link the input's own standard deviation)."""
        return agc_scale(self.params, y, power)

    def convert(self, y, power=None, rng=None) -> dict:
        real = not np.iscomplexobj(y)  # a real link (seed 001's model): one converter per input
        table = self.table_for(y.shape[-1] * (1 if real else 2))
        scale = self.agc_scale(y, power)
        # r, and each rail's cell edges (for receivers of the exact quantized likelihood), in one pass
        return {"adc": table, "scale": scale, **table.convert_scaled(y, scale)}


class _DesignedBank(TableBank):
    """A table bank designed for ``bits`` bits per converter.

    Parameters
    ----------
    bits : int
        Bits per I or Q converter (1 to :data:`MAX_DESIGN_BITS`).
    agc, scale
        As for every table bank (:class:`TableBank`).
    """

    def __init__(self, *, bits: int = 3, agc: AGC = "ideal", scale: float = 1.0):
        _checks.integer("adc.bits", bits, minimum=1, maximum=MAX_DESIGN_BITS)
        super().__init__(agc=agc, scale=scale)


@register("adc", "uniform")
class UniformBank(_DesignedBank):
    """Mid-rise uniform I/Q converters with the MSE-optimal step for a Gaussian input."""

    def make_table(self):
        from hwsim.designs import uniform_gaussian

        return uniform_gaussian(self.params["bits"])


@register("adc", "equiprobable")
class EquiprobableBank(_DesignedBank):
    """Equiprobable (quantile) I/Q converters for a Gaussian input: each cell holds 1/M of it, centroid levels."""

    def make_table(self):
        from hwsim.designs import equiprobable

        return equiprobable(self.params["bits"])


@register("adc", "lloyd_max")
class LloydMaxBank(_DesignedBank):
    """Lloyd-Max (MSE-optimal for a Gaussian input) I/Q converters."""

    @classmethod
    def describe(cls, params: dict) -> str:
        return super().describe(params).replace("lloyd_max", "Lloyd-Max")

    def make_table(self):
        from hwsim.designs import lloyd_max

        return lloyd_max(self.params["bits"])


@register("adc", "table")
class FileBank(TableBank):
    """I/Q converters from a decision-table file (JSON, CSV or .mat; :func:`hwsim.converters.tables.import_table`).

    Parameters
    ----------
    path : str
        The decision-table file.
    agc, scale
        As for every table bank (:class:`TableBank`).
    """

    FILES = {"path": FileParam()}

    @classmethod
    def describe(cls, params: dict) -> str:
        import os.path

        return f"ADCs from {os.path.basename(str(params.get('path', ''))) or 'a table file'}"

    def __init__(self, *, path: str = "", agc: AGC = "ideal", scale: float = 1.0):
        super().__init__(agc=agc, scale=scale)

    def make_table(self):
        from .tables import import_table

        if not self.params["path"]:
            raise ValueError("adc.path must name a decision-table file")
        return import_table(self.params["path"])[0]


@register("adc", "uniform_range")
class UniformRangeBank(TableBank):
    r"""Seed 001's converters: ``levels`` uniform levels over :math:`[-\gamma, \gamma]` (``gamma``),
    at a fixed full scale by default (``agc = "fixed"``, ``scale = 1``: ``gamma`` in signal units).

    Give ``levels`` or ``rate``; ``rate`` counts as the paper's Sec. 4.2 does: ``round(rate * n)``
    bits shared by the ``n`` converters, :math:`\lfloor 2^{\text{bits}/n} \rfloor` levels each.

    Parameters
    ----------
    levels : int
        Levels per converter (>= 2; 0: set by ``rate``).
    rate : float
        Bits per converter input, shared as above (> 0; 0: set by ``levels``).
    gamma : float
        The support :math:`\gamma` (> 0), in units of the AGC scale.
    agc, scale
        As for every table bank (:class:`TableBank`), here ``"fixed"`` by default.
    """

    @classmethod
    def describe(cls, params: dict) -> str:
        size = f"{params['levels']}-level" if params.get("levels") else f"rate-{params['rate']:g}"
        return f"{size} uniform ADCs on [-{params['gamma']:g}, {params['gamma']:g}]"

    def __init__(self, *, levels: int = 0, rate: float = 0.0, gamma: float = 2.0,
                 agc: AGC = "fixed", scale: float = 1.0):
        super().__init__(agc=agc, scale=scale)
        if (levels > 0) == (rate > 0):
            raise ValueError("adc.type = 'uniform_range' needs exactly one of adc.levels (>= 2) or adc.rate (> 0)")
        _checks.real("adc.gamma", gamma, positive=True)
        self._tables: dict = {}

    def make_table(self):
        return None  # depends on the number of inputs when set by rate: see table_for

    def levels_for(self, converters: int) -> int:
        """Levels per converter for a bank of ``converters`` real converters (a clear error beyond the limit)."""
        from .adc import MAX_LEVELS
        from .budget import split_budget

        if self.params["levels"]:
            levels = _checks.integer("adc.levels", self.params["levels"], minimum=2)
        else:
            levels = split_budget(converters, self.params["rate"], converters).levels
        if levels > MAX_LEVELS:
            raise ValueError(f"adc: {levels} levels per converter is more than the limit of {MAX_LEVELS} "
                             "(hwsim.converters.adc.MAX_LEVELS)")
        return levels

    def table_for(self, converters: int):
        if converters not in self._tables:
            from .adc import UniformADC

            self._tables[converters] = UniformADC(self.levels_for(converters), self.params["gamma"])
        return self._tables[converters]

    def check_link(self, link) -> None:
        """The levels for the link's converter count stay within the table formats' limit."""
        self.levels_for(link.frontend.outputs(link.channel.antennas) * (1 if link.channel.real else 2))


#: Quantizers a ``vector`` bank designs by name (2-D lattices, or LBG on Gaussian samples).
VECTOR_DESIGNS = ("A2", "Z2", "lbg")


@register("adc", "vector")
class VectorBank(ConverterBank):
    r"""Each input's (I, Q) pair quantized by one 2-D vector quantizer behind the AGC of the table banks:
    :math:`r_i = \alpha_i\, \hat z_i`, :math:`\hat z_i` the reconstruction of
    :math:`(\mathrm{Re}\, y_i, \mathrm{Im}\, y_i) / \alpha_i` (:mod:`hwsim.quantizers`).

    The receiver sees the reconstructions (``adc`` absent from the observation, and ``scalar_cells``
    False: linear receivers treat them as samples; the quantization-aware receivers, which need per-axis
    cells, refuse the link).

    Parameters
    ----------
    quantizer : str
        ``A2`` (the hexagonal lattice) or ``Z2`` (a square grid), their :math:`2^{2R}` smallest points
        scaled for the least MSE of a unit-variance Gaussian pair, ``lbg`` (an LBG codebook of that many
        codewords trained on Gaussian pairs from ``train_seed``), or the path of a 2-D quantizer file
        (:func:`hwsim.quantizers.files.import_quantizer`) with finitely many codewords (a codebook, or a
        lattice with a shaping region; an unbounded lattice is refused).
    rate : float
        Bits per real dimension (4 bits per complex sample at the default 2), at least 0.5 (2 codewords).
        A file fixes the rate: ``rate`` must then ask for the file's number of codewords (it is checked,
        not applied).
    agc : {"ideal", "measured", "fixed", "shared"}
        The AGC mode, as for the table banks (:data:`AGC_MODES`).
    scale : float
        The full scale of ``agc = "fixed"``; under the other modes a scale other than 1 is
        refused (it would do nothing).
    train_seed : int
        Seed of the designs' training samples; with a quantizer file, which needs no training, it must
        keep its default.
    """

    FILES = {"quantizer": FileParam(names=tuple(VECTOR_DESIGNS))}

    def __init__(self, *, quantizer: str = "A2", rate: float = 2.0, agc: AGC = "ideal",
                 scale: float = 1.0, train_seed: int = 0):
        p = self.params
        check_agc(p, self.PARAMS["scale"])
        _checks.real("adc.rate", p["rate"], positive=True)
        _checks.integer("adc.train_seed", p["train_seed"], minimum=0)
        self.quantizer = self._design()

    def _count(self) -> int:
        """Codewords per I/Q pair that ``adc.rate`` asks for, :math:`2^{2R}` rounded (a clear error naming the key)."""
        from hwsim.quantizers import codewords_for

        rate = self.params["rate"]
        try:
            return codewords_for(rate, 2)
        except ValueError as exc:
            raise ValueError(f"adc.rate = {rate!r}: {exc}") from None

    def _design(self):
        p = self.params
        if p["quantizer"] not in VECTOR_DESIGNS:
            return self._from_file(p["quantizer"])
        count = self._count()
        if count < 2:
            raise ValueError(f"adc.rate = {p['rate']} gives {count} codeword per I/Q pair: a converter needs at least "
                             "2 (adc.rate = 0.5 gives 2)")
        if count > 4096:
            raise ValueError(f"adc.rate = {p['rate']} gives {count} codewords per I/Q pair; a vector bank designs at "
                             "most 4096 (rate 6)")
        rng = np.random.default_rng(p["train_seed"])
        samples = rng.standard_normal((20_000, 2))
        if p["quantizer"] == "lbg":
            from hwsim.quantizers import lbg

            return lbg(samples, count, rng)[0]
        from hwsim.quantizers.lattices import gaussian_codebook

        return gaussian_codebook(p["quantizer"], count, samples)

    def _from_file(self, path: str):
        """The quantizer of a file: 2-D, finitely many codewords, and the rate and seed keys consistent with it
        (the file fixes the rate and needs no training, so a differing ``adc.rate`` or a ``adc.train_seed``
        would do nothing)."""
        from pathlib import Path

        from hwsim.quantizers.files import import_quantizer

        p = self.params
        if not Path(path).is_file():
            raise ValueError(f"adc.quantizer must be one of {', '.join(VECTOR_DESIGNS)} or the path of a 2-D "
                             f"quantizer file, got {path!r} (no such file)")
        q, _ = import_quantizer(path)
        if q.dim != 2:
            raise ValueError(f"adc.quantizer: {path} quantizes {q.dim}-dimensional vectors; a vector "
                             "bank needs 2 (an I/Q pair)")
        size = getattr(q, "size", None)  # finitely many codewords (a codebook, a lattice with a shaping region)
        if size is None:
            raise ValueError(f"adc.quantizer: {path} is an unbounded lattice (no shaping region: infinitely many "
                             "points, no overload bound); a converter has finitely many outputs: export the lattice "
                             "bounded (Lattice.bounded(radius=..., codewords=...)) or use a codebook")
        if size < 2:
            raise ValueError(f"adc.quantizer: {path} holds {size} codeword; a converter needs at least 2")
        if self._count() != size:
            raise ValueError(f"adc.rate = {p['rate']!r} asks for {self._count()} codewords per I/Q pair, but the "
                             f"quantizer file {path} holds {size} (rate log2({size}) / 2 = {q.rate:.6g} bits per "
                             f"dimension), and the file fixes the rate: set adc.rate = {q.rate:.6g} (or use a design, "
                             f"adc.quantizer = one of {', '.join(VECTOR_DESIGNS)}, to choose the rate)")
        if p["train_seed"] != self.PARAMS["train_seed"]:
            raise ValueError(f"adc.train_seed = {p['train_seed']} seeds the designs {', '.join(VECTOR_DESIGNS)}; the "
                             f"quantizer file {path} is used as it is, so the seed would do nothing (leave "
                             f"adc.train_seed at {self.PARAMS['train_seed']})")
        return q

    agc_scale = TableBank.agc_scale

    def convert(self, y, power=None, rng=None) -> dict:
        if not np.iscomplexobj(y):
            raise ValueError("adc.type = 'vector' quantizes I/Q pairs of a complex link")
        scale = self.agc_scale(y, power)
        a = scale[:, None, :]
        z = y / a
        pairs = np.stack([z.real.ravel(), z.imag.ravel()], axis=1)
        _, rec = self.quantizer.quantize(pairs)
        r = (rec[:, 0] + 1j * rec[:, 1]).reshape(y.shape) * a
        return {"r": r, "scale": scale}
