"""The sources, channels, front ends, converter banks and metrics are declared by the signature of their
``__init__`` (issue 26, item 1): the registry derives PARAMS, the types and the checks from it, and ``help``
shows the parameters (hwsim.components)."""

from __future__ import annotations

import inspect
import typing

import numpy as np
import pytest

from hwsim.components import Component, build, lookup, names

KINDS = ("source", "channel", "frontend", "adc", "metric")


def _own_classes():
    for kind in KINDS:
        for name in names(kind):
            cls = lookup(kind, name)
            if cls.__module__.startswith("hwsim."):  # not a class a test or a plugin registered
                yield kind, name, cls


def _declaring(cls):
    """The class whose ``__init__`` ``cls`` uses (its own or the nearest base's)."""
    return next(c for c in cls.__mro__ if "__init__" in c.__dict__)


@pytest.mark.parametrize("kind,name,cls", list(_own_classes()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_component_is_declared_by_its_signature(kind, name, cls):
    owner = _declaring(cls)
    if owner is Component:  # no parameter at all: the base's __init__ (which also serves hand-written PARAMS)
        assert cls.PARAMS == {} and cls.TYPES == {}, (kind, name)
        return
    assert getattr(cls.__init__, "__hwsim_declared__", False), f"{kind} {name!r} ({cls.__qualname__}) takes **params"
    assert "PARAMS" in owner.__dict__ and "TYPES" in owner.__dict__, (kind, name)  # derived, not inherited by hand
    shown = inspect.signature(cls)
    assert list(shown.parameters) == list(cls.PARAMS), (kind, name)
    for p in shown.parameters.values():
        assert p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is cls.PARAMS[p.name], (kind, name, p)
        assert p.annotation is not inspect.Parameter.empty, (kind, name, p.name)
    assert set(cls.TYPES) == set(cls.PARAMS) and typing.Any not in cls.TYPES.values(), (kind, name)


def test_the_allowed_values_are_the_ones_the_code_uses():
    """Each Literal annotation lists exactly the module's table of allowed values (no drift between the two)."""
    from hwsim.channels.conv_code import DECODERS
    from hwsim.channels.ofdm import OFDM_CODES, OFDM_CONSTELLATIONS, SNR_MODES, TDL_MODELS, TONE_MAPS, TRAININGS
    from hwsim.channels.constellations import QAM_NAMES
    from hwsim.channels.sparse import NORMALIZATIONS
    from hwsim.converters.banks import AGC_MODES
    from hwsim.designs.task_based import ROTATIONS

    allowed = {("source", "users", "constellation"): QAM_NAMES,
               ("source", "ofdm", "constellation"): tuple(OFDM_CONSTELLATIONS),
               ("source", "ofdm", "code"): OFDM_CODES, ("source", "ofdm", "conv_decoder"): DECODERS,
               ("source", "sparse", "normalize"): NORMALIZATIONS,
               ("source", "ofdm", "tone_map"): TONE_MAPS, ("source", "ofdm", "training"): TRAININGS,
               ("channel", "tdl", "model"): TDL_MODELS,
               ("channel", "tdl", "snr_mode"): SNR_MODES, ("channel", "rayleigh_taps", "snr_mode"): SNR_MODES,
               ("frontend", "theorem3", "rotation"): ROTATIONS}
    for bank in ("uniform", "lloyd_max", "equiprobable", "table", "uniform_range", "vector"):
        allowed["adc", bank, "agc"] = AGC_MODES
    for (kind, name, key), values in allowed.items():
        assert typing.get_args(lookup(kind, name).TYPES[key]) == tuple(values), (kind, name, key)


@pytest.mark.parametrize("kind,table,message", [
    ("source", {"type": "users", "constellation": "qam32"},
     "source.constellation must be one of bpsk, qpsk, qam16, qam64, qam256, got 'qam32'"),
    ("source", {"type": "ofdm", "constellation": "bpsk"},
     "source.constellation must be one of qpsk, qam16, qam64, qam256, got 'bpsk'"),
    ("source", {"type": "sparse", "normalize": "rows"}, "source.normalize must be one of columns, none, got 'rows'"),
    ("source", {"type": "pilots", "tau_p": "12"}, "source.tau_p must be an integer, got '12'"),
    ("source", {"type": "ofdm", "pilot_symbols": 2}, "source.pilot_symbols must be a list, got 2"),
    ("channel", {"type": "tdl", "model": "F"}, "channel.model must be one of A, B, C, D, E, got 'F'"),
    ("channel", {"type": "rayleigh", "antennas": 2.5}, "channel.antennas must be an integer, got 2.5"),
    ("channel", {"type": "awgn", "fading": True},
     r"channel.fading is not a parameter of channel 'awgn' \(its parameters: antennas, frame_len\)"),
    ("frontend", {"type": "theorem3", "rotation": "householder"},
     "frontend.rotation must be one of dft, givens, got 'householder'"),
    ("frontend", {"type": "combiner", "matrix": "eye"}, "frontend.matrix must be a list, got 'eye'"),
    ("adc", {"type": "uniform", "agc": "slow"}, "adc.agc must be one of ideal, measured, fixed, shared, got 'slow'"),
    ("adc", {"type": "uniform_range", "levels": 4, "agc": "auto"},
     "adc.agc must be one of ideal, measured, fixed, shared, got 'auto'"),
    ("adc", {"type": "vector", "train_seed": True}, "adc.train_seed must be an integer, got True"),
    ("adc", {"type": "table", "path": 3}, "adc.path must be a string, got 3"),
    ("metric", {"type": "ber", "bits": 2}, r"metric.bits is not a parameter of metric 'ber' \(its parameters: none\)"),
    ("metric", {"type": "nmse", "db": True}, r"metric.db is not a parameter of metric 'nmse'"),
])
def test_a_bad_value_is_refused_with_its_key_and_what_is_allowed(kind, table, message):
    with pytest.raises(ValueError, match=message):
        build(kind, table)


def test_a_subclass_keeps_its_own_defaults_and_its_base_checks():
    """Subclasses repeat their base's parameters (with their own defaults) and pass them up; the base's checks
    still run on the outermost values."""
    awgn, rayleigh = build("channel", {"type": "awgn"}), build("channel", {"type": "rayleigh", "antennas": 4})
    assert awgn.params == {"antennas": 1, "frame_len": 100} and awgn.antennas == 1
    assert rayleigh.params == {"antennas": 4, "frame_len": 100} and rayleigh.antennas == 4
    exp = build("channel", {"type": "exponential", "csi_error": 0.2, "antennas": 6})
    assert exp.params == {"antennas": 6, "frame_len": 100, "csi_error": 0.2} and exp.antennas == 6 and exp.random
    taps = build("channel", {"type": "rayleigh_taps", "taps": 2, "oversampling": 2})
    assert (taps.antennas, taps.oversampling, taps.taps) == (16, 2, 2)
    bank = build("adc", {"type": "uniform_range", "rate": 2})
    assert bank.params == {"levels": 0, "rate": 2.0, "gamma": 2.0, "agc": "fixed", "scale": 1.0}
    assert isinstance(bank.params["rate"], float)
    assert build("adc", {"type": "lloyd_max", "bits": 2.0}).table.n_levels == 4  # 2.0 written for 2
    with pytest.raises(ValueError, match="adc.scale sets the full scale of agc = 'fixed'"):
        build("adc", {"type": "uniform", "scale": 2.0})  # TableBank's check, reached through super().__init__
    with pytest.raises(ValueError, match="adc.bits must be <= 8"):
        build("adc", {"type": "uniform", "bits": 9})
    with pytest.raises(ValueError, match="channel.antennas must be >= 1"):
        build("channel", {"type": "tdl", "antennas": 0})  # WidebandChannel's check
    with pytest.raises(ValueError, match="adc.path must name a decision-table file"):
        build("adc", {"type": "table"})


def test_get_params_rebuilds_the_same_component():
    for kind, table in [("source", {"type": "sparse", "n": 16, "m": 8, "normalize": "none"}),
                        ("source", {"type": "ofdm", "constellation": "qpsk", "pilot_symbols": [2]}),
                        ("frontend", {"type": "combiner", "matrix": [[1.0, 0.0]], "imag": [[0.0, 1.0]]}),
                        ("adc", {"type": "vector", "quantizer": "Z2", "rate": 1.0})]:
        first = build(kind, table)
        again = type(first)(**first.get_params())
        assert again.params == first.params and repr(again) == repr(first)
    a, b = build("source", {"type": "sparse", "n": 16, "m": 8}), build("source", {"type": "sparse", "n": 16, "m": 8})
    assert np.array_equal(a.sample(5, np.random.default_rng(3))[1], b.sample(5, np.random.default_rng(3))[1])
