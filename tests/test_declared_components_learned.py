"""The learned receivers (learned, task_hybrid, learned_detector, qcs) declare their parameters by the
signature of ``__init__`` (hwsim.components), and the declarations say what the hand-written checks
said before."""

from __future__ import annotations

import inspect
import typing

import pytest

from _declared import declared_init, receivers_of
from hwsim import components

#: The modules whose registered receivers are declared by signature.
MODULES = ("learned", "task_hybrid", "learned_detector", "qcs")


def _receivers():
    return receivers_of(MODULES)


def test_the_receivers_of_these_modules_are_all_there():
    assert {cls.name for cls in _receivers()} == {"hybrid", "hil", "task_hybrid", "learned", "ce_usq_omp",
                                                  "ce_usq_l1", "ce_sq_l1", "deepqcs", "ce_decnet"}


@pytest.mark.parametrize("cls", _receivers(), ids=lambda c: c.name)
def test_every_receiver_is_declared_by_its_signature(cls):
    assert declared_init(cls) is not None, f"{cls.__qualname__} takes **params"
    assert list(inspect.signature(cls).parameters) == list(cls.PARAMS)
    assert set(cls.TYPES) == set(cls.PARAMS)
    for p in inspect.signature(cls).parameters.values():
        assert p.kind is inspect.Parameter.KEYWORD_ONLY and p.default == cls.PARAMS[p.name]
        assert cls.TYPES[p.name] is not typing.Any, f"{cls.__qualname__}.{p.name} has no annotation"
    made = cls()
    assert made.get_params() == cls.PARAMS and type(made)(**made.get_params()).params == made.params


def test_the_parameters_and_defaults_are_the_ones_configs_and_sidecars_know():
    """Names, defaults and their order (the order of ``self.params``, which sidecars record) as before."""
    from hwsim.receivers.learned import HardwareInTheLoop, Hybrid
    from hwsim.receivers.learned_detector import LearnedDetector
    from hwsim.receivers.qcs import DEFAULT_STEPS, TRAIN_PARAMS, CEDecNet, CEUSQOMP, DeepQCS
    from hwsim.receivers.task_hybrid import TaskHybrid

    hybrid = {"rate": 1.0, "training": "soft_to_hard", "trainset": "optimal", "csi_error": 0.2, "gamma": 2.0,
              "train_samples": 5000, "epochs": 60, "batch_size": 64, "lr": 1e-2, "hidden": 64, "sharpness": 6.0,
              "anneal_to": 0.0, "trainings": 3}
    train = {"steps": DEFAULT_STEPS, "batch": 100, "lr": 1e-2, "lr_min": 3e-3, "lr_levels": 1e-3,
             "lr_levels_min": 1e-5, "h_init": 5.0, "h_max": 300.0, "anneal": 0.8, "learn_thresholds": False,
             "trainings": 1, "steepness": "ramp"}  # steepness: added by issue 31 item 3, after the earlier ones
    expected = {
        Hybrid: hybrid,
        HardwareInTheLoop: {**hybrid, "trainings": 1, "model": "", "train_snr_db": 12.0, "train_seed": 0,
                            "converters": "ideal", "dac_bits": 0, "offset_lsb": 0.0, "chip_seed": 1},
        TaskHybrid: {"outputs": 8, "bits": 2, "training": "soft_to_hard", "train_snr_min": -10.0,
                     "train_snr_max": 14.0, "epochs": 20, "steps": 40, "batch_frames": 16, "lr": 0.01,
                     "sharpness": 6.0, "anneal_to": 60.0, "gamma": 0.0, "val_frames": 16, "val_snrs": 4,
                     "train_seed": 0, "model": ""},
        LearnedDetector: {"layers": 10, "search": 1, "train_snr_min": -10.0, "train_snr_max": 12.0, "epochs": 10,
                          "steps": 30, "batch_frames": 8, "snr_groups": 4, "lr": 0.01, "val_frames": 16,
                          "val_snrs": 5, "train_seed": 0, "model": "", "progress": False},
        CEUSQOMP: {"rate": 1.0},
        CEDecNet: {"rate": 1.0, **train, "grid": "paper"},
        DeepQCS: {"rate": 1.0, **train, "k": 0},
    }
    for cls, params in expected.items():
        assert list(cls.PARAMS.items()) == list(params.items()), cls.__qualname__
        assert all(type(cls.PARAMS[k]) is type(v) for k, v in params.items()), cls.__qualname__
    assert TRAIN_PARAMS == train


def test_the_literals_are_the_modules_tables():
    from hwsim.converters.learned_adc import MODES
    from hwsim.receivers import learned, task_hybrid

    for cls in (learned.Hybrid, learned.HardwareInTheLoop, task_hybrid.TaskHybrid):
        assert typing.get_args(cls.TYPES["training"]) == learned.TRAININGS == MODES
    for cls in (learned.Hybrid, learned.HardwareInTheLoop):
        assert typing.get_args(cls.TYPES["trainset"]) == learned.TRAINSETS
    assert typing.get_args(learned.HardwareInTheLoop.TYPES["converters"]) == learned.CONVERTERS


@pytest.mark.parametrize("table, said", [
    ({"type": "hybrid", "training": "slow"}, "receiver.training must be one of soft_to_hard, uniform_soft_to_hard, "
                                             "passing_gradient, clipped_passing_gradient, ste, got 'slow'"),
    ({"type": "hybrid", "trainset": "snr"}, "receiver.trainset must be one of optimal, csi, got 'snr'"),
    ({"type": "hil", "converters": "fpga"}, "receiver.converters must be one of ideal, dac, impaired, external, "
                                            "rtl, got 'fpga'"),
    ({"type": "hil", "converters": "dac"}, "receiver.dac_bits must be >= 1"),
    ({"type": "task_hybrid", "training": "slow"}, "receiver.training must be one of soft_to_hard, "),
    ({"type": "learned", "snr_groups": 9}, r"receiver.snr_groups \(9\) must not exceed receiver.batch_frames"),
    ({"type": "learned", "progress": 1}, "receiver.progress must be a boolean, got 1"),
    ({"type": "deepqcs", "k": -1}, "receiver.k must be >= 0"),
    ({"type": "ce_decnet", "h_max": 1.0}, "receiver.h_max must be >= receiver.h_init"),
    ({"type": "ce_sq_l1", "rate": "one"}, "receiver.rate must be a number, got 'one'"),
    ({"type": "ce_usq_omp", "bits": 2}, r"receiver.bits is not a parameter of receiver 'ce_usq_omp' "
                                        r"\(its parameters: rate\)"),
])
def test_a_config_with_a_bad_value_is_refused_naming_its_key(table, said):
    with pytest.raises(ValueError, match=said):
        components.build("receiver", table)


def test_values_are_coerced_as_before():
    from hwsim.receivers.learned import HardwareInTheLoop
    from hwsim.receivers.qcs import DeepQCS

    hil = HardwareInTheLoop(epochs=4.0, lr=1, converters="dac", dac_bits=8)
    assert hil.params["epochs"] == 4 and type(hil.params["epochs"]) is int and type(hil.params["lr"]) is float
    assert hil.params["trainings"] == 1 and hil.replicas == 1 and hil.backend is None and hil.model is None
    deep = DeepQCS(k=5, rate=2)
    assert deep.params["k"] == 5 and deep.params["rate"] == 2.0 and deep.model is None


@pytest.mark.parametrize("name", ["ce_usq_omp", "ce_usq_l1", "ce_sq_l1", "ce_decnet"])
def test_a_qcs_receiver_built_directly_names_its_key_when_it_inherits_its_init(name):
    cls = components.lookup("receiver", name)
    with pytest.raises(ValueError, match=r"receiver.rate must be a number, got 'one'"):
        cls(rate="one")
    with pytest.raises(ValueError, match=rf"receiver.bits is not a parameter of receiver '{name}'"):
        cls(bits=2)
