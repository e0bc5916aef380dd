"""``hwsim train CONFIG`` and the sweep's once-per-sweep training of learned detectors.

Networks here train for a few steps on shrunk links (seconds); the checks are about which network
is trained, saved, shared and loaded, and about the errors, not about how well it detects.
"""

import json

import numpy as np
import pytest
import torch

from hwsim.cli.main import main
from hwsim.engine.sweep import load_config, run_sweep
from hwsim.pipeline import Pipeline
from hwsim.receivers import learned_detector as ld
from hwsim.receivers.hybrid import TrainedReceiver

#: learned_massive shrunk to seconds: one SNR, a two-step training, 20-symbol frames, 640 bits per point.
SHRINK = ["grid.snr_db=[8.0]", "receiver.epochs=1", "receiver.steps=2", "receiver.val_frames=1",
          "receiver.val_snrs=1", "channel.frame_len=20", "stopping.min_samples=640", "stopping.max_samples=640",
          "stopping.batch=20", "stopping.target_errors=1"]
LEARNED = ["learned, 1-bit", "learned, 2-bit"]


def shrunk(*extra):
    return load_config("learned_massive", quick=True, overrides=[*SHRINK, *extra])


def only_learned(cfg):
    cfg.curves = [c for c in cfg.curves if c["name"] in LEARNED]
    return cfg


def rows(folder):
    """(curve, snr_db) -> the estimate and its interval, from results.csv."""
    import csv

    with open(folder / "results.csv") as fh:
        return {(r["curve"], r["snr_db"]): (r["ber"], r["ci_low"], r["ci_high"]) for r in csv.DictReader(fh)}


@pytest.fixture(autouse=True)
def fresh_caches():
    ld._own_detector.cache_clear()
    yield
    ld._own_detector.cache_clear()


def test_a_sweep_trains_each_network_once_saves_it_and_a_resume_loads_it(tmp_path, monkeypatch):
    out = tmp_path / "run"
    calls = []
    real = ld._train
    monkeypatch.setattr(ld, "_train", lambda *a, **k: calls.append(1) or real(*a, **k))
    run_sweep(only_learned(shrunk("grid.snr_db=[4.0, 8.0]")), out, workers=1, quiet=True, plot=False)
    assert len(calls) == 2  # one network per converter resolution, for both SNRs
    saved = sorted(p.name for p in (out / "models").iterdir())
    assert len(saved) == 4 and all(n.startswith("learned-") for n in saved)
    first = rows(out)
    # drop the last finished point and resume: the networks come from models/, nothing trains
    journal = out / "points.jsonl"
    journal.write_text("".join(journal.read_text().splitlines(keepends=True)[:-1]))
    ld._own_detector.cache_clear()
    monkeypatch.setattr(ld, "_train", lambda *a, **k: pytest.fail("a resumed sweep trained again"))
    run_sweep(only_learned(shrunk("grid.snr_db=[4.0, 8.0]")), out, workers=1, quiet=True, plot=False, resume=True)
    assert rows(out) == first
    # --force starts over: the saved networks go too (and are trained again)
    monkeypatch.setattr(ld, "_train", real)
    run_sweep(only_learned(shrunk("grid.snr_db=[4.0, 8.0]")), out, workers=1, quiet=True, plot=False, force=True)
    assert sorted(p.name for p in (out / "models").iterdir()) == saved


def test_workers_use_the_network_the_sweep_sends_them():
    """prepare() takes the network the sweep hands it (link.shared, under its key) instead of training."""
    cfg = shrunk()
    from hwsim.study import pipeline

    link = pipeline(cfg.system, {"adc.bits": 1, "snr_db": 8.0})
    other = ld.train_detector(link, **{**link.receiver.params, "train_seed": 5, "model": ""})
    link.prepare(8.0, np.random.default_rng(0), shared={link.receiver.shared_key(link): ld.detector_files(other)})
    for k, v in other.net.state_dict().items():
        assert torch.equal(link.receiver.net.net.state_dict()[k], v)


def test_two_workers_give_the_results_of_one(tmp_path):
    run_sweep(shrunk(), tmp_path / "one", workers=1, quiet=True, plot=False)
    run_sweep(shrunk(), tmp_path / "two", workers=2, quiet=True, plot=False)
    a, b = rows(tmp_path / "one"), rows(tmp_path / "two")
    assert a == b and len(a) == 12


def test_train_a_config_then_sweep_the_saved_model(tmp_path, capsys):
    model = tmp_path / "m.pt"
    sets = [x for s in SHRINK for x in ("--set", s)]
    assert main(["train", "learned_massive", "--quick", *sets, "--curve", "learned, 2-bit", "--out", str(model),
                 "--quiet"]) == 0
    said = capsys.readouterr().out
    assert "curve 'learned, 2-bit'" in said and "hard validation BER" in said and 'receiver.model = "' in said
    side = json.loads((tmp_path / "m.pt.json").read_text())
    assert side["origin"]["curve"] == "learned, 2-bit" and side["origin"]["config"] == "learned_massive"
    assert side["origin"]["config_hash"] == shrunk().hash and side["origin"]["quick"] is True
    assert side["link"]["adc"]["bits"] == 2 and side["training"]["device"] == "cpu" and "torch" in side["versions"]
    # the file holds the network a sweep trains for that curve: sweeping it gives the same numbers
    run_sweep(only_learned(shrunk()), tmp_path / "trained", workers=1, quiet=True, plot=False)
    cfg = shrunk()
    cfg.curves = [{"name": "learned, 2-bit", "receiver": "learned", "adc.bits": 2, "receiver.model": str(model)}]
    run_sweep(cfg, tmp_path / "loaded", workers=1, quiet=True, plot=False)
    key = ("learned, 2-bit", "8.0")
    assert rows(tmp_path / "loaded")[key] == rows(tmp_path / "trained")[key]
    assert not (tmp_path / "loaded" / "models").exists()  # nothing trained
    # ... and a curve of another system refuses it when the config loads, naming the difference
    with pytest.raises(ValueError, match=r"'learned, 1-bit': .* trained for another link \(adc.bits: model 2, this "
                                         r"link 1"):
        shrunk(f'receiver.model="{model}"')


def test_train_a_hybrid_config_and_load_it_as_hil(tmp_path, capsys):
    model = tmp_path / "hy.pt"
    tiny = ["--set", "receiver.train_samples=400", "--set", "receiver.epochs=2", "--set", "receiver.trainings=1"]
    assert main(["train", "fig7", "--quick", *tiny, "--curve", "soft-to-hard", "--snr", "10", "--out", str(model),
                 "--quiet"]) == 0
    assert "kept epoch" in capsys.readouterr().out
    trained = TrainedReceiver.load(model)
    assert trained.config["snr_db"] == 10.0
    # the record states the settings used, once each (issue 28 item 6): no sweep-level count of trainings,
    # hyper-parameters only under "training", csi_error only as the value the training set used
    rx = trained.config["receiver"]
    assert "trainings" not in rx and "epochs" not in rx and "csi_error" not in rx, rx
    assert trained.config["training"]["epochs"] == 2 and trained.config["training"]["train_samples"] == 400
    assert trained.config["csi_error"] == 0.0 and rx["trainset"] != "csi"
    from hwsim.converters.tables import export_from_model, import_table

    export_from_model(model, tmp_path / "hy.json", "json")
    prov = import_table(tmp_path / "hy.json")[1]["provenance"]["training_config"]
    flat = json.dumps(prov)
    assert '"trainings"' not in flat and flat.count('"epochs"') == 1 and "csi_error" not in prov["receiver"]
    assert prov["csi_error"] == 0.0  # the training set's (the channel's own csi_error is the link's, under channel)
    tables = {"source": {"type": "users", "users": 4, "constellation": "bpsk"},
              "channel": {"type": "exponential", "antennas": 12, "frame_len": 50}, "adc": {"type": "none"},
              "receiver": {"type": "hil", "model": str(model)}}
    link = Pipeline.from_tables(tables)
    link.check()
    link.prepare(10.0, np.random.default_rng(0))
    idx, obs = link.observe(2, 10.0, np.random.default_rng(1))
    assert np.array_equal(link.receiver.detect(obs).indices,
                          link.receiver.detect(obs).indices)  # deterministic
    want = trained.model.detect_index(obs.r)
    from hwsim.channels import get_constellation

    assert np.array_equal(link.receiver.detect(obs).indices, get_constellation("bpsk").hypothesis_indices(4)[want])
    tables["channel"]["antennas"] = 10
    with pytest.raises(ValueError, match="trained for 12 antennas"):
        Pipeline.from_tables(tables).check()


@pytest.mark.parametrize("argv, message", [
    (["ber_snr"], "nothing learnable in this config"),
    (["learned_massive", "--quick"], "several curves have a learnable receiver; choose one with --curve"),
    (["learned_massive", "--quick", "--curve", "BLMMSE, 1-bit"], "has no learnable receiver"),
    (["learned_massive", "--quick", "--curve", "nope"], "is not a curve of this config"),
    (["learned_massive", "--quick", "--curve", "learned, 1-bit", "--at", "rate=1"], "have no 'rate'"),
    (["learned_massive", "--quick", "--curve", "learned, 1-bit", "--at", "snr_db=3"], "has no point there"),
    (["learned_massive", "--quick", "--curve", "learned, 1-bit", "--at", "snr_db"], "--at takes AXIS=VALUE"),
    (["fig7", "--quick", "--curve", "soft-to-hard"], "trains 3 different models over snr_db"),
    (["fig7", "--rate", "2"], "with a CONFIG use --set"),
    (["--quick"], "give a CONFIG"),
    (["--snr", "4", "--curve", "x"], "apply to a CONFIG"),
    (["learned_massive", "--quick", "--curve", "learned, 1-bit", "--set",
      'receiver.model="x.pt"'], "receiver.model = 'x.pt': no such file"),
])
def test_train_refuses_with_a_clear_error(tmp_path, capsys, argv, message):
    assert main(["train", *argv, "--out", str(tmp_path / "m.pt"), "--quiet"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message where no GPU is present")
def test_cuda_where_absent_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "learned_massive", "--quick", "--curve", "learned, 1-bit", "--device", "cuda",
                 "--out", str(tmp_path / "m.pt"), "--quiet"]) == 2
    assert "torch sees no CUDA GPU here" in capsys.readouterr().err


def test_a_model_from_a_newer_hwsim_says_so(tmp_path):
    link = Pipeline.from_tables({"source": {"type": "users", "users": 2, "constellation": "qpsk"},
                                 "channel": {"type": "rayleigh", "antennas": 4, "frame_len": 5},
                                 "adc": {"type": "uniform", "bits": 1}, "receiver": {"type": "blmmse"}})
    det = ld.train_detector(link, layers=2, epochs=1, steps=1, batch_frames=2, snr_groups=1, val_frames=1, val_snrs=1)
    ld.save_detector(det, tmp_path / "d.pt")
    side = json.loads((tmp_path / "d.pt.json").read_text())
    side["version"] = ld.FORMAT_VERSION + 1
    (tmp_path / "d.pt.json").write_text(json.dumps(side))
    with pytest.raises(ValueError, match="comes from a newer hwsim: upgrade hwsim"):
        ld.load_detector(tmp_path / "d.pt", link)
