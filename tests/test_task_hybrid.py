"""Seed 001's hybrid at massive-MIMO scale (``receiver.type = "task_hybrid"``, :mod:`hwsim.receivers.task_hybrid`).

Seeded, on the CPU, with short trainings on small links; the margins were measured with these seeds.
"""

import json

import numpy as np
import pytest
import torch

from hwsim.cli.main import main
from hwsim.components import lookup
from hwsim.engine.stats import wilson_interval
from hwsim.pipeline import Pipeline
from hwsim.receivers import task_hybrid as th

SHORT = {"epochs": 3, "steps": 10, "batch_frames": 4, "val_frames": 4, "val_snrs": 2}


def link_of(receiver, *, antennas=32, users=4, frame_len=50, adc=None):
    return Pipeline.from_tables({"source": {"type": "users", "users": users, "constellation": "qam16"},
                                 "channel": {"type": "rayleigh", "antennas": antennas, "frame_len": frame_len},
                                 "adc": adc or {"type": "none"}, "receiver": receiver})


@pytest.fixture(scope="module")
def trained():
    link = link_of({"type": "task_hybrid", "outputs": 4, "bits": 2, **SHORT})
    link.check()
    return link, th.train(link, link.receiver.params)


def test_registered_and_parameters_checked():
    assert lookup("receiver", "task_hybrid") is th.TaskHybrid
    for bad, message in (({"outputs": 0}, "receiver.outputs"), ({"bits": th.MAX_BITS + 1}, "receiver.bits"),
                         ({"gamma": -1.0}, "receiver.gamma"), ({"training": "magic"}, "receiver.training"),
                         ({"train_snr_min": 5.0, "train_snr_max": 0.0}, "must not exceed")):
        with pytest.raises(ValueError, match=message):
            th.TaskHybrid(**bad)


def test_links_it_cannot_serve_are_refused():
    with pytest.raises(ValueError, match="adc.type"):
        link_of({"type": "task_hybrid"}, adc={"type": "uniform", "bits": 2}).check()
    with pytest.raises(ValueError, match="at least as many antennas as users"):
        link_of({"type": "task_hybrid"}, antennas=3, users=4).check()
    with pytest.raises(ValueError, match="complex link"):
        Pipeline.from_tables({"source": {"type": "users", "users": 2, "constellation": "bpsk"},
                              "channel": {"type": "exponential", "antennas": 4}, "adc": {"type": "none"},
                              "receiver": {"type": "task_hybrid"}}).check()


def test_the_ladder_interleaves_one_bit_converters_into_the_decision_boundaries():
    """Three offset copies of 1-bit converters on [-g, g], g = 0.949 + 0.316 (16-QAM's decision regions):
    each axis is compared with -0.632, 0 and 0.632, the 16-QAM boundaries."""
    g = 3 / np.sqrt(10) + 1 / np.sqrt(10)
    a, offset = th._ladder(4, 12, 2, g, torch)
    assert torch.equal(a, torch.cat([torch.eye(4)] * 3))
    # a converter with threshold 0 fires where u_k + bias = 0, i.e. at u_k = offset
    assert np.allclose(sorted(set(np.round(offset.numpy(), 6))), [-2 / np.sqrt(10), 0.0, 2 / np.sqrt(10)])
    a, offset = th._ladder(4, 2, 4, g, torch)  # fewer outputs than unknowns: an orthonormal compression
    assert torch.allclose(a @ a.T, torch.eye(2), atol=1e-6) and torch.all(offset == 0)


def test_two_bits_per_axis_decide_as_unquantized_zero_forcing(trained):
    """2-bit converters on the zero-forcing outputs, thresholds on the 16-QAM boundaries: the BER of
    unquantized zero forcing (the bound this receiver can reach), at 16 bits per channel use here."""
    link, det = trained
    assert det.arch["bits"] == 2 and 2 * det.arch["outputs"] * det.arch["bits"] == 16
    thresholds = det.adc_table().thresholds
    assert np.allclose(thresholds, [-2 / np.sqrt(10), 0.0, 2 / np.sqrt(10)], atol=0.03)
    zf = link_of({"type": "zf"})
    idx, obs = link.observe(40, -4.0, np.random.default_rng(11))
    mine, ref = det.decide(obs).indices, zf.receiver.detect(obs).indices
    qam = obs.constellation
    n = qam.bits(idx).size
    errors = int(np.sum(qam.bits(mine) != qam.bits(idx)))
    lo, hi = wilson_interval(errors, n, 0.999)
    assert lo <= np.mean(qam.bits(ref) != qam.bits(idx)) <= hi and errors > 100


def test_llr_signs_agree_with_the_decisions(trained):
    link, det = trained
    _, obs = link.observe(4, 3.0, np.random.default_rng(2))
    d = det.decide(obs)
    assert d.llr.shape == d.indices.shape + (4,) and np.all(np.isfinite(d.llr))
    assert np.array_equal(obs.constellation.bits(d.indices), (d.llr > 0).astype(np.uint8))


def test_training_is_deterministic():
    link = link_of({"type": "task_hybrid", "outputs": 4, "bits": 1, **SHORT, "epochs": 1})
    a, b = (th.train(link, link.receiver.params) for _ in range(2))
    for k, v in a.net.state_dict().items():
        assert torch.equal(b.net.state_dict()[k], v)


def test_hwsim_train_saves_it_and_a_sweep_loads_it(tmp_path, capsys):
    model = tmp_path / "hy.pt"
    sets = ["grid.snr_db=[6.0]", "receiver.epochs=1", "receiver.steps=3", "receiver.val_frames=1",
            "receiver.val_snrs=1", "channel.frame_len=20"]
    argv = ["train", "learned_massive", "--quick", "--curve", "learned hybrid p=8, 2-bit (32 bits)", "--out",
            str(model), "--quiet", *[x for s in sets for x in ("--set", s)]]
    assert main(argv) == 0
    assert "32 bits per channel use" in capsys.readouterr().out
    side = json.loads((tmp_path / "hy.pt.json").read_text())
    assert side["format"] == th.FORMAT and side["origin"]["curve"] == "learned hybrid p=8, 2-bit (32 bits)"
    link = Pipeline.from_tables({"source": {"type": "users", "users": 8, "constellation": "qam16"},
                                 "channel": {"type": "rayleigh", "antennas": 64, "frame_len": 20},
                                 "adc": {"type": "none"}, "receiver": {"type": "task_hybrid", "model": str(model)}})
    link.check()
    link.prepare(6.0, np.random.default_rng(0))
    _, obs = link.observe(2, 6.0, np.random.default_rng(1))
    assert np.array_equal(link.receiver.detect(obs).indices, th.load(model).decide(obs).indices)
    other = link_of({"type": "task_hybrid", "model": str(model)})
    with pytest.raises(ValueError, match="trained for another link"):
        other.check()
    side["version"] = th.FORMAT_VERSION + 1
    (tmp_path / "hy.pt.json").write_text(json.dumps(side))
    with pytest.raises(ValueError, match="newer hwsim"):
        th.load(model)
