import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hwsim.channels import SymbolChannel, exponential_channel
from hwsim.receivers.hybrid import TrainedReceiver, TrainSettings, train_hybrid
from hwsim.engine.stats import wilson_interval

ROOT = Path(__file__).resolve().parents[1]
FAST = TrainSettings(train_samples=3000, val_samples=2000, epochs=15)


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    ch = SymbolChannel(exponential_channel())
    return ch, train_hybrid(ch, 12.0, 4, 8, "soft_to_hard", np.random.default_rng(3), settings=FAST)


def _ber(ch, model, snr, n=40_000, seed=9):
    fr = ch.sample(1, n, snr, np.random.default_rng(seed))
    idx = ch.constellation.hypothesis_indices(ch.k)[model.detect_index(fr.x)]
    return ch.constellation.bit_errors(fr.indices, idx), fr.indices.size


def test_labels_follow_the_hypothesis_order():
    const = SymbolChannel(exponential_channel()).constellation
    np.testing.assert_array_equal(const.labels(const.hypothesis_indices(4)), np.arange(16))
    table = const.bit_error_table(4)
    assert table[0, 15] == 4 and table[5, 5] == 0 and table[0b0101, 0b0110] == 2


def test_training_learns_to_detect_and_is_repeatable(trained):
    ch, tr = trained
    errors, bits = _ber(ch, tr.model, 12.0)
    assert wilson_interval(errors, bits, 0.999)[1] < 0.01  # far below chance (0.5) and QMAP R=1 (~2.6e-2)
    again = train_hybrid(ch, 12.0, 4, 8, "soft_to_hard", np.random.default_rng(3), settings=FAST)
    assert again.history == tr.history and again.seed == tr.seed
    for a, b in zip(again.model.state_dict().values(), tr.model.state_dict().values()):
        assert torch.equal(a, b)
    # the kept epoch is the best hard validation error
    assert len(tr.history) == 15


def test_hard_table_has_the_budgeted_levels(trained):
    _, tr = trained
    table = tr.model.adc_table()
    assert table.n_levels <= 8 and np.all(np.diff(table.thresholds) > 0)


def test_save_and_load_round_trip(trained, tmp_path):
    ch, tr = trained
    path = tmp_path / "rx.pt"
    tr.save(path)
    side = json.loads((tmp_path / "rx.pt.json").read_text())
    assert side["seed"] == tr.seed and side["version"] == 1
    assert side["adc_table"]["thresholds"] == tr.model.adc_table().thresholds.tolist()
    back = TrainedReceiver.load(path)
    x = ch.sample(1, 5000, 10.0, np.random.default_rng(1)).x
    np.testing.assert_array_equal(back.model.detect_index(x), tr.model.detect_index(x))
    assert not list(tmp_path.glob(".*"))  # nothing temporary left


def test_loading_bad_files_gives_clear_errors(trained, tmp_path):
    _, tr = trained
    path = tmp_path / "rx.pt"
    tr.save(path)
    side = Path(str(path) + ".json")
    good = side.read_text()
    side.write_text(good.replace('"version": 1', '"version": 99'))
    with pytest.raises(ValueError, match="format version 99"):
        TrainedReceiver.load(path)
    side.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        TrainedReceiver.load(path)
    side.write_text(good)
    path.write_bytes(b"garbage" * 10)
    with pytest.raises(ValueError, match="not a readable receiver weight file"):
        TrainedReceiver.load(path)
    side.unlink()
    with pytest.raises(ValueError, match="sidecar"):
        TrainedReceiver.load(path)


def test_train_cli_writes_a_receiver(tmp_path):
    out = tmp_path / "m.pt"
    r = subprocess.run([sys.executable, "-m", "hwsim.cli", "train", "--snr", "10", "--rate", "1", "--out", str(out),
                        "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "p=4 ADCs of 8 levels" in r.stdout and out.exists()
    assert TrainedReceiver.load(out).config["mode"] == "soft_to_hard"
    r = subprocess.run([sys.executable, "-m", "hwsim.cli", "train", "--snr", "10", "--rate", "0.2", "--out",
                        str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "p = floor(k*rate) = 0" in r.stderr


def test_fig7_quick_reproduces_the_orderings(tmp_path):
    r = subprocess.run([sys.executable, "-m", "hwsim.cli", "sweep", "fig7", "--quick", "--quiet", "--out",
                        str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    from hwsim.engine.results import read_results

    ber = {(row["curve"], float(row["snr_db"])): float(row["ber"]) for row in read_results(tmp_path / "results.csv")}
    # seed 001 Sec. 4.2 orderings at R = 1
    assert ber["soft-to-hard", 14.0] < 2e-3 and ber["soft-to-hard", 14.0] < ber["QMAP", 14.0] / 10
    assert ber["soft-to-hard", 14.0] < ber["passing gradient", 14.0] / 10
    assert ber["soft-to-hard (CSI uncertainty)", 14.0] < ber["MAP (CSI uncertainty)", 14.0]
    assert ber["MAP", 10.0] < ber["soft-to-hard", 10.0]


def test_hardware_in_the_loop_backends_reproduce_the_learned_table(trained, tmp_path):
    from hwsim.converters.backends import ExternalBackend, SimulatedBackend
    from hwsim.converters.tables import export_table

    ch, tr = trained
    model = tr.model
    table = model.adc_table()
    x = ch.sample(1, 20_000, 10.0, np.random.default_rng(4)).x
    expected = model.detect_index(x)
    np.testing.assert_array_equal(model.detect_index_via(x, SimulatedBackend(table, 4)), expected)
    export_table(table, tmp_path / "t.json", "json")
    with ExternalBackend([sys.executable, "-m", "hwsim.converters.emulator", "--table", str(tmp_path / "t.json")], 4,
                         table.n_levels, name="emulator") as ext:
        np.testing.assert_array_equal(model.detect_index_via(x, ext), expected)


def test_hil_sweep_quick(tmp_path):
    """The hil study's quick run; its RTL curve needs Verilator, and without it that curve's points fail
    with the package to install while the others are saved."""
    import os
    import shutil

    rtl = shutil.which("verilator") is not None
    env = {**os.environ, "HWSIM_RTL_CACHE": str(tmp_path / "rtl-cache")}
    r = subprocess.run([sys.executable, "-m", "hwsim.cli", "sweep", "hil", "--quick", "--quiet", "--out",
                        str(tmp_path / "run")], cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    if rtl:
        assert r.returncode == 0, r.stderr
    else:
        assert r.returncode != 0 and "apt-get install -y verilator" in r.stderr, r.stderr
    from hwsim.engine.results import read_results

    rows = read_results(tmp_path / "run" / "results.csv")
    rows = [row for row in rows if row["ber"] != ""]
    assert {row["curve"] for row in rows} == {"ideal learned table", "8-bit threshold DAC", "10-bit threshold DAC",
                                            "comparator offsets 0.1 LSB", "comparator offsets 0.3 LSB",
                                            "external emulator"} | ({"RTL (Verilator)"} if rtl else set())
    ber = {(row["curve"], float(row["snr_db"])): float(row["ber"]) for row in rows}
    assert all(ber[c, 14.0] < 1e-3 for c, _ in ber)


# ------------------------------------------------------------------ tampered sidecars (bounded before allocating)
_LOAD_MEASURED = r"""
import resource, sys, time
from hwsim.receivers.hybrid import TrainedReceiver
resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))   # a guard for the machine if a bound is missing
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
try:
    TrainedReceiver.load(sys.argv[1])
    msg = "LOADED"
except ValueError as exc:
    msg = str(exc)
print(repr((msg, time.perf_counter() - t0, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024)))
"""


def _tiny_saved(path):
    from hwsim.receivers.hybrid import HybridReceiver

    torch.manual_seed(0)
    TrainedReceiver(model=HybridReceiver(4, 2, 4, 16, hidden=4), config={"note": "tiny"}, seed=5).save(path)
    side = Path(str(path) + ".json")
    return side, json.loads(side.read_text())


@pytest.mark.parametrize("key, value, match", [
    ("hidden", 10**8, "hidden"),
    ("n", 10**9, r"\bn\b"),
    ("p", 10**7, r"\bp\b"),
    ("n_classes", 10**9, "n_classes"),
    ("n_levels", 10**9, "n_levels"),
    ("hidden", 2.5, "hidden"),
    ("hidden", -3, "hidden"),
    ("gamma", 1e309, "gamma"),
])
def test_tampered_sidecar_sizes_are_refused_fast_before_allocating(tmp_path, key, value, match):
    side, doc = _tiny_saved(tmp_path / "rx.pt")
    doc["arch"][key] = value
    side.write_text(json.dumps(doc).replace("Infinity", "1e999"))
    out = subprocess.run([sys.executable, "-c", _LOAD_MEASURED, str(tmp_path / "rx.pt")], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    msg, elapsed, grew = eval(out.stdout.strip().splitlines()[-1])
    assert msg != "LOADED"
    assert re.search(match, msg) and str(side) in msg, msg
    if isinstance(value, int) and value > 0:      # the message gives the bound and how to raise it
        assert "at most" in msg and ("max_parameters" in msg or key == "n_levels"), msg
    assert elapsed < 60.0 and grew < 100 * 2**20, (msg, elapsed, grew)  # the memory bound is the real check


def test_sidecar_bound_can_be_raised_deliberately(tmp_path):
    from hwsim.receivers.hybrid import HybridReceiver

    path = tmp_path / "rx.pt"
    TrainedReceiver(model=HybridReceiver(4, 2, 4, 16, hidden=64), config={}, seed=1).save(path)
    n_params = sum(p.numel() for p in TrainedReceiver.load(path).model.parameters())
    with pytest.raises(ValueError, match=f"{n_params} parameters.*at most {n_params - 1}.*max_parameters"):
        TrainedReceiver.load(path, max_parameters=n_params - 1)
    assert TrainedReceiver.load(path, max_parameters=n_params).seed == 1


def test_sidecar_junk_is_refused_with_its_file_name(tmp_path):
    side, doc = _tiny_saved(tmp_path / "rx.pt")
    good = json.dumps(doc)
    side.write_text(good.replace('"seed": 5', '"seed": ' + "9" * 5000))     # a 5000-digit number
    with pytest.raises(ValueError, match="digits") as info:
        TrainedReceiver.load(tmp_path / "rx.pt")
    assert str(side) in str(info.value)
    side.write_text(good.replace('"arch": {', '"arch": {"extra": 1, '))
    with pytest.raises(ValueError, match="extra"):
        TrainedReceiver.load(tmp_path / "rx.pt")
    with open(side, "wb") as f:                       # sparse: no disk used
        f.truncate(64 * 2**20)
    with pytest.raises(ValueError, match="at most"):
        TrainedReceiver.load(tmp_path / "rx.pt")
    side.write_text(good)
    with open(tmp_path / "rx.pt", "r+b") as f:        # a weight file far larger than its sidecar's model
        f.truncate(512 * 2**20)
    with pytest.raises(ValueError, match="bytes") as info:
        TrainedReceiver.load(tmp_path / "rx.pt")
    assert str(tmp_path / "rx.pt") in str(info.value)


def test_hil_trains_one_receiver_per_sweep_and_its_workers_load_it(tmp_path, monkeypatch):
    """A sweep trains the hil receiver once (``shared_setup``), saves it in its folder, loads it when resumed,
    and every worker's ``prepare`` loads that receiver instead of training one: the receiver a point
    would train by itself, weight for weight."""
    from hwsim.pipeline import Pipeline
    from hwsim.receivers import learned

    link = Pipeline.from_tables({"source": {"type": "users", "users": 4, "constellation": "bpsk"},
                                 "channel": {"type": "exponential", "antennas": 12, "frame_len": 100},
                                 "receiver": {"type": "hil", "train_samples": 600, "epochs": 2,
                                              "converters": "dac", "dac_bits": 8}})
    key, said = link.receiver.shared_key(link), []
    files = link.receiver.shared_setup(link, tmp_path, say=said.append)
    assert said[0].startswith("training the hil receiver (trained at 12.0 dB) once for the whole sweep")
    assert link.receiver.shared_setup(link, tmp_path, say=said.append) == files
    assert said[-1].startswith("loaded the hil receiver (trained at 12.0 dB) trained by an earlier run")
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".pt"]

    def no_training(*args, **kw):
        raise AssertionError("a worker trained instead of loading the sweep's receiver")

    learned._own_receiver.cache_clear()
    with monkeypatch.context() as m:
        m.setattr(learned, "_trained_receiver", no_training)
        link.prepare(10.0, np.random.default_rng(0), shared={key: files})  # what a sweep hands every point
    learned._own_receiver.cache_clear()
    alone = learned._trained_receiver(key).model.state_dict()
    loaded = link.receiver.model.state_dict()
    assert alone.keys() == loaded.keys() and all(torch.equal(alone[k], loaded[k]) for k in alone)
    assert link.receiver.backend is not None
