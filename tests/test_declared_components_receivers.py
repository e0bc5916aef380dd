"""The receivers of linear, map, sionna_detectors, estimation, vq, rdp, onebit, ofdm, ofdm_quantized and fixed_point
declare their
parameters by the signature of ``__init__`` (hwsim.components), and the declarations say what the
hand-written checks said before."""

from __future__ import annotations

import inspect
import typing

import pytest

from _declared import declared_init, receivers_of
from hwsim import components

#: The modules whose registered receivers are declared by signature.
MODULES = ("linear", "blmmse", "map", "sionna_detectors", "estimation", "vq", "rdp", "onebit", "ofdm", "base",
           "fixed_point", "ofdm_quantized", "flat_quantized")


def _receivers():
    return receivers_of(MODULES)


def test_the_receivers_of_these_modules_are_many():
    names = {cls.name for cls in _receivers()}
    assert {"mrc", "zf", "lmmse", "blmmse", "map", "qmap", "nml", "kbest", "ep", "mmse_pic", "vq", "rd_bound",
            "rdp", "rdp_bound", "thm3", "learned_estimator", "ofdm_lmmse", "mmse", "ofdm_qml", "ofdm_qwls", "qml", "qwls"} <= names


@pytest.mark.parametrize("cls", _receivers(), ids=lambda c: c.name)
def test_every_receiver_is_declared_by_its_signature(cls):
    assert declared_init(cls) is not None, f"{cls.__qualname__} takes **params"
    assert list(inspect.signature(cls).parameters) == list(cls.PARAMS)
    assert set(cls.TYPES) == set(cls.PARAMS)
    for p in inspect.signature(cls).parameters.values():
        assert p.kind is inspect.Parameter.KEYWORD_ONLY and p.default == cls.PARAMS[p.name]
    made = cls()
    assert made.get_params() == cls.PARAMS and type(made)(**made.get_params()).params == made.params


def _allowed(cls, key):
    return typing.get_args(cls.TYPES[key])


def test_the_literals_are_the_modules_tables():
    from hwsim.receivers import estimation, linear, ofdm, ofdm_quantized, rdp, sionna_detectors, vq

    for cls in (linear.MRC, linear.ZF, linear.LMMSE, linear.BLMMSE):
        assert set(_allowed(cls, "precision")) == set(linear.PRECISIONS)
    for cls in (sionna_detectors.KBest, sionna_detectors.EP, sionna_detectors.MMSEPIC):
        assert set(_allowed(cls, "precision")) == set(sionna_detectors._PRECISIONS)
    assert _allowed(sionna_detectors.MMSEPIC, "demapping") == ("maxlog", "app")
    assert _allowed(estimation.Theorem3, "snr") == estimation.Theorem3.SNR_MODES
    assert _allowed(estimation.LearnedEstimator, "trainset") == estimation.LearnedEstimator.TRAINSETS
    assert _allowed(vq.VQ, "method") == _allowed(rdp.RDP, "method") == vq.METHODS
    assert _allowed(rdp.RDP, "measure") == _allowed(rdp.RDPBound, "measure") == rdp.MEASURES
    assert _allowed(rdp.RDPBound, "limit") == rdp.LIMITS
    assert _allowed(ofdm.OFDMLMMSE, "csi") == ofdm.CSI_MODES
    for cls in (ofdm_quantized.OFDMQML, ofdm_quantized.OFDMQWLS):
        assert _allowed(cls, "csi") == ofdm_quantized.CSI_MODES


def test_subclasses_repeat_their_bases_parameters():
    from hwsim.receivers.linear import BLMMSE, LinearDetector
    from hwsim.receivers.rdp import RDP
    from hwsim.receivers.sionna_detectors import EP, KBest, MMSEPIC, SionnaDetector
    from hwsim.receivers.vq import VQ

    for cls in (KBest, EP, MMSEPIC):
        assert set(SionnaDetector.PARAMS.items()) <= set(cls.PARAMS.items())
    assert BLMMSE.PARAMS == LinearDetector.PARAMS and "__init__" not in BLMMSE.__dict__
    assert set(RDP.PARAMS) >= set(VQ.PARAMS) and RDP.PARAMS["method"] == "lloyd_max" != VQ.PARAMS["method"]
    r = RDP(method="lbg", rate=2, perception=0.5)
    assert r.params == {**RDP.PARAMS, "method": "lbg", "rate": 2.0, "perception": 0.5}
    k = KBest(list_size=4, llr=False, chunk=16.0)
    assert k.params["chunk"] == 16 and isinstance(k.params["chunk"], int) and not k.params["llr"]


@pytest.mark.parametrize("table, said", [
    ({"type": "lmmse", "precision": "half"}, "receiver.precision must be one of float64, float32, got 'half'"),
    ({"type": "kbest", "precision": "float32"}, "receiver.precision must be one of double, single, got 'float32'"),
    ({"type": "mmse_pic", "demapping": "exact"}, "receiver.demapping must be one of maxlog, app, got 'exact'"),
    ({"type": "thm3", "snr": "guessed"}, "receiver.snr must be one of known, noisy, got 'guessed'"),
    ({"type": "learned_estimator", "trainset": "csi"}, "receiver.trainset must be one of optimal, snr, got 'csi'"),
    ({"type": "vq", "method": "magic"}, "receiver.method must be one of lloyd_max, lattice, lbg, nsvq, rvq, pvq, "
                                        "avq, learned_lattice, learned_lattice_source, got 'magic'"),
    ({"type": "rdp", "measure": "both"}, "receiver.measure must be one of distortion, perception, got 'both'"),
    ({"type": "rdp_bound", "limit": "exact"}, "receiver.limit must be one of lloyd_max, shannon, got 'exact'"),
    ({"type": "ofdm_lmmse", "csi": "genie"}, "receiver.csi must be one of perfect, ls, blmmse, got 'genie'"),
    ({"type": "ofdm_qml", "csi": "ls"}, "receiver.csi must be one of perfect, blmmse, qml, got 'ls'"),
    ({"type": "ofdm_qwls", "tol": 0.0}, r"receiver.tol must be a number in \(0, 1\)"),
    ({"type": "nml", "iterations": 2.5}, "receiver.iterations must be an integer, got 2.5"),
    ({"type": "nml", "step": 2.0}, r"receiver.step must lie in \(0, 2\)"),
    ({"type": "zf", "llr": 1}, "receiver.llr must be a boolean, got 1"),
    ({"type": "map", "llr": True}, r"receiver.llr is not a parameter of receiver 'map' \(its parameters: none\)"),
    ({"type": "ep", "beta": 2}, r"receiver.beta must lie in \[0, 1\], got 2.0"),
    ({"type": "rdp", "pool": 0}, "receiver.pool must be"),
    ({"type": "rdp_bound", "rate": 1.5}, "receiver.rate must be a whole number of bits in 1..8"),
])
def test_bad_values_are_refused_with_their_key(table, said):
    with pytest.raises(ValueError, match=said):
        components.build("receiver", table)


def test_a_receiver_built_directly_names_its_key_when_it_inherits_its_init():
    from hwsim.receivers.linear import LMMSE

    with pytest.raises(ValueError, match=r"receiver.precision must be one of float64, float32, got 'half'"):
        LMMSE(precision="half")
    with pytest.raises(ValueError, match=r"receiver.foo is not a parameter of receiver 'lmmse'"):
        LMMSE(foo=1)
