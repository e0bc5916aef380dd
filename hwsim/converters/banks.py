r"""Converter banks of a complex-baseband link: an I and a Q ADC per converter input.

Every bank applies one real decision table (:class:`hwsim.converters.adc.ThresholdADC`, designed for a
unit-variance Gaussian input) to the real and the imaginary part of each input after an
automatic gain control (AGC) scale :math:`\alpha_i`:

.. math:: r_i = \alpha_i \big(Q(\mathrm{Re}\, y_i / \alpha_i) + j\, Q(\mathrm{Im}\, y_i / \alpha_i)\big).

AGC modes (``agc``):

- ``ideal``: :math:`\alpha_i` is the standard deviation of :math:`\mathrm{Re}\, y_i` given the
  channel, :math:`\sqrt{(\sum_k |H_{ik}|^2 + N_0)/2}` (unit-energy symbols), per frame;
- ``fixed``: :math:`\alpha_i` = ``scale`` for every input, whatever the signal level.

A real link (seed 001's model) has one converter per input and :math:`\alpha_i` the input's
own standard deviation under ``ideal``.

Banks: ``none`` (unquantized), ``uniform_range`` (seed 001's QMAP converters: uniform levels over
:math:`[-\gamma, \gamma]`), ``uniform`` (the mid-rise uniform quantizer with the MSE-optimal
step for a Gaussian input, :func:`hwsim.designs.uniform_gaussian`), ``lloyd_max``
(:func:`hwsim.designs.lloyd_max`), ``table`` (a decision-table file, :mod:`hwsim.converters.tables`)
and ``vector`` (each I/Q pair quantized by a 2-D vector quantizer, :mod:`hwsim.quantizers`).
"""

from __future__ import annotations

import numpy as np

from .. import _checks
from ..components import Component, FileParam, register

AGC_MODES = ("ideal", "fixed")
#: Most bits a designed bank may have; table files allow up to :data:`hwsim.converters.adc.MAX_LEVELS` levels.
MAX_DESIGN_BITS = 8


class ConverterBank(Component):
    """Base: ``convert(y, H, noise_var, noise_cov)`` -> the converter fields of an Observation."""

    def convert(self, y: np.ndarray, H: np.ndarray, noise_var: float, noise_cov=None) -> dict:  # pragma: no cover
        raise NotImplementedError


@register("adc", "none")
class Unquantized(ConverterBank):
    """Ideal, infinite-resolution converters: the receiver sees ``y``."""

    def convert(self, y, H, noise_var, noise_cov=None) -> dict:
        return {"r": y}


class TableBank(ConverterBank):
    """An I/Q pair of one real table per input, behind an AGC (see the module text)."""

    PARAMS = {"agc": "ideal", "scale": 1.0}

    def __init__(self, **params):
        super().__init__(**params)
        if self.params["agc"] not in AGC_MODES:
            raise ValueError(f"adc.agc must be one of {', '.join(AGC_MODES)}, got {self.params['agc']!r}")
        _checks.real("adc.scale", self.params["scale"], positive=True)
        if self.params["agc"] == "ideal" and self.params["scale"] != self.PARAMS["scale"]:
            raise ValueError("adc.scale sets the full scale of agc = 'fixed'; with agc = 'ideal' the scale follows "
                             "the signal (set adc.agc = \"fixed\" to use it)")
        self.table = self.make_table()

    def make_table(self):  # pragma: no cover - interface
        raise NotImplementedError

    def table_for(self, converters: int):
        """The real table each of a bank's ``converters`` real converters applies (one for all sizes here)."""
        return self.table

    def agc_scale(self, H: np.ndarray, noise_var: float, noise_cov=None, *, real: bool = False) -> np.ndarray:
        r""":math:`\alpha` per frame and input, float [F, N] (for a real link the input's own standard deviation)."""
        if self.params["agc"] == "fixed":
            return np.full(H.shape[:2], self.params["scale"])
        if H is None:
            raise ValueError("adc.agc = 'ideal' needs the channel's statistics (H), which this link does not "
                             "provide; use agc = 'fixed' with a scale")
        noise = np.real(np.diagonal(noise_cov, axis1=-2, axis2=-1)) if noise_cov is not None else noise_var
        power = np.sum(np.abs(H) ** 2, axis=2) + noise
        return np.sqrt(power if real else power / 2)

    def convert(self, y, H, noise_var, noise_cov=None) -> dict:
        real = not np.iscomplexobj(y)  # a real link (seed 001's model): one converter per input
        table = self.table_for(y.shape[-1] * (1 if real else 2))
        scale = self.agc_scale(H, noise_var, noise_cov, real=real)
        a = scale[:, None, :]
        edges = table.cell_edges
        levels = table.levels
        out = {"adc": table, "scale": scale}
        parts = []
        for name, part in (("re", y),) if real else (("re", y.real), ("im", y.imag)):
            codes = table.encode(np.ascontiguousarray(part / a))
            parts.append(levels[codes] * a)
            out[f"lower_{name}"] = edges[codes] * a
            out[f"upper_{name}"] = edges[codes + 1] * a
        out["r"] = parts[0] if real else parts[0] + 1j * parts[1]
        return out


class _DesignedBank(TableBank):
    PARAMS = {"bits": 3, **TableBank.PARAMS}

    def __init__(self, **params):
        bits = params.get("bits", self.PARAMS["bits"])
        _checks.integer("adc.bits", bits, minimum=1, maximum=MAX_DESIGN_BITS)
        super().__init__(**params)


@register("adc", "uniform")
class UniformBank(_DesignedBank):
    """Mid-rise uniform I/Q converters with the MSE-optimal step for a Gaussian input."""

    def make_table(self):
        from hwsim.designs import uniform_gaussian

        return uniform_gaussian(self.params["bits"])


@register("adc", "lloyd_max")
class LloydMaxBank(_DesignedBank):
    """Lloyd-Max (MSE-optimal for a Gaussian input) I/Q converters."""

    def make_table(self):
        from hwsim.designs import lloyd_max

        return lloyd_max(self.params["bits"])


@register("adc", "table")
class FileBank(TableBank):
    """I/Q converters from a decision-table file (JSON, CSV or .mat; :func:`hwsim.converters.tables.import_table`)."""

    PARAMS = {"path": "", **TableBank.PARAMS}
    FILES = {"path": FileParam()}

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
    """

    PARAMS = {"levels": 0, "rate": 0.0, "gamma": 2.0, "agc": "fixed", "scale": 1.0}

    def __init__(self, **params):
        super().__init__(**params)
        if (self.params["levels"] > 0) == (self.params["rate"] > 0):
            raise ValueError("adc.type = 'uniform_range' needs exactly one of adc.levels (>= 2) or adc.rate (> 0)")
        _checks.real("adc.gamma", self.params["gamma"], positive=True)
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

    ``quantizer``: ``A2`` (the hexagonal lattice) or ``Z2`` (a square grid), their
    :math:`2^{2R}` smallest points scaled for the least MSE of a unit-variance Gaussian pair, ``lbg``
    (an LBG codebook of that many codewords trained on Gaussian pairs from ``train_seed``), or the
    path of a 2-D quantizer file (:func:`hwsim.quantizers.files.import_quantizer`). ``rate``: bits
    per real dimension (4 bits per complex sample at the default 2). The receiver sees the
    reconstructions (``adc`` absent from the observation: linear receivers treat them as samples;
    the quantization-aware detectors, which need per-axis cells, do not apply).
    """

    PARAMS = {"quantizer": "A2", "rate": 2.0, "agc": "ideal", "scale": 1.0, "train_seed": 0}
    FILES = {"quantizer": FileParam(names=tuple(VECTOR_DESIGNS))}

    def __init__(self, **params):
        super().__init__(**params)
        p = self.params
        if p["agc"] not in AGC_MODES:
            raise ValueError(f"adc.agc must be one of {', '.join(AGC_MODES)}, got {p['agc']!r}")
        _checks.real("adc.scale", p["scale"], positive=True)
        _checks.real("adc.rate", p["rate"], positive=True)
        _checks.integer("adc.train_seed", p["train_seed"], minimum=0)
        self.quantizer = self._design()

    def _design(self):
        from hwsim.quantizers import codewords_for

        p = self.params
        if p["quantizer"] not in VECTOR_DESIGNS:
            from pathlib import Path

            from hwsim.quantizers.files import import_quantizer

            if not Path(p["quantizer"]).is_file():
                raise ValueError(f"adc.quantizer must be one of {', '.join(VECTOR_DESIGNS)} or the path of a 2-D "
                                 f"quantizer file, got {p['quantizer']!r} (no such file)")
            q, _ = import_quantizer(p["quantizer"])
            if q.dim != 2:
                raise ValueError(f"adc.quantizer: {p['quantizer']} quantizes {q.dim}-dimensional vectors; a vector "
                                 "bank needs 2 (an I/Q pair)")
            return q
        count = codewords_for(p["rate"], 2)
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

    agc_scale = TableBank.agc_scale

    def convert(self, y, H, noise_var, noise_cov=None) -> dict:
        if not np.iscomplexobj(y):
            raise ValueError("adc.type = 'vector' quantizes I/Q pairs of a complex link")
        scale = self.agc_scale(H, noise_var, noise_cov)
        a = scale[:, None, :]
        z = y / a
        pairs = np.stack([z.real.ravel(), z.imag.ravel()], axis=1)
        _, rec = self.quantizer.quantize(pairs)
        r = (rec[:, 0] + 1j * rec[:, 1]).reshape(y.shape) * a
        return {"r": r, "scale": scale}
