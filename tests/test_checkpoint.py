"""Resumable training (:mod:`hwsim.checkpoint`): an interrupted training resumes from its last finished
epoch and ends with the network an uninterrupted one trains, bit for bit on the CPU.

The interruption is a real ``KeyboardInterrupt`` raised inside the training loop right after an epoch's
state was saved (the moment a Ctrl-C loses the least), and, for ``hwsim train``, a real SIGINT sent
to the command while it trains.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from _procs import interrupt, with_ctrl_c
from hwsim import checkpoint as ck
from hwsim.channels import SymbolChannel, exponential_channel
from hwsim.pipeline import Pipeline
from hwsim.receivers import learned_detector as ld, task_hybrid as th
from hwsim.receivers.hybrid import TrainSettings, train_hybrid
from hwsim.receivers.learned_detector import load_detector, train_detector

ROOT = Path(__file__).resolve().parents[1]
DETECTOR = {"type": "learned", "layers": 3, "search": 1, "epochs": 4, "steps": 3, "batch_frames": 4, "snr_groups": 2,
            "val_frames": 2, "val_snrs": 2, "train_snr_min": 0.0, "train_snr_max": 10.0}
TASK = {"type": "task_hybrid", "outputs": 4, "bits": 2, "epochs": 4, "steps": 4, "batch_frames": 4, "val_frames": 4,
        "val_snrs": 2}


def _link(receiver, frame_len=20):
    return Pipeline.from_tables({"source": {"type": "users", "users": 3, "constellation": "qam16"},
                                 "channel": {"type": "rayleigh", "antennas": 16, "frame_len": frame_len},
                                 "adc": {"type": "uniform", "bits": 2, "agc": "ideal"}, "receiver": receiver})


def _detector():
    link = _link(DETECTOR)
    return train_detector(link)


def _task_hybrid():
    link = _link(TASK)
    return th.train(link, link.receiver.params)


def _hybrid(mode="soft_to_hard"):
    settings = TrainSettings(train_samples=600, val_samples=400, epochs=4, anneal_to=8.0)
    trained = train_hybrid(SymbolChannel(exponential_channel()), 8.0, 4, 4, mode, np.random.default_rng(5),
                           settings=settings)
    trained.net = trained.model
    return trained


#: passing_gradient draws its noise from torch's global generator: the state must hold that generator too
TRAININGS = {"learned detector": _detector, "task_hybrid": _task_hybrid, "hybrid": _hybrid,
             "hybrid, passing gradient": lambda: _hybrid("passing_gradient")}


class _CtrlC(Exception):
    pass


def _interrupt_after(monkeypatch, epochs: int):
    """Raise KeyboardInterrupt inside the loop right after the state of epoch ``epochs`` was saved."""
    save = ck.Checkpoint.save

    def save_then_stop(self, done, **extra):
        save(self, done, **extra)
        if done == epochs:
            raise KeyboardInterrupt

    monkeypatch.setattr(ck.Checkpoint, "save", save_then_stop)


def _same_network(a, b):
    sa, sb = a.net.state_dict(), b.net.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    assert a.history == b.history


@pytest.mark.parametrize("name,stop", [(name, 2) for name in TRAININGS] + [("learned detector", 4)])
def test_an_interrupted_training_resumes_to_the_same_network(tmp_path, monkeypatch, name, stop):
    make = TRAININGS[name]
    plain = make()
    path, said = tmp_path / "model.pt.partial", []
    with monkeypatch.context() as m:
        _interrupt_after(m, stop)
        with pytest.raises(KeyboardInterrupt), ck.checkpointing(path, say=said.append):
            make()
    assert path.is_file() and said == []  # the state after `stop` of 4 epochs is kept
    with ck.checkpointing(path, say=said.append):
        resumed = make()
        assert path.is_file()  # until the block ends without an exception
    assert not path.exists()
    assert len(said) == 1 and said[0].startswith("resuming the ") and f"after epoch {stop} from" in said[0], said
    _same_network(plain, resumed)


def test_a_sweep_interrupted_while_it_trains_its_shared_network_resumes_the_training(tmp_path, monkeypatch):
    link = _link(DETECTOR)
    with monkeypatch.context() as m:
        _interrupt_after(m, 3)
        with pytest.raises(KeyboardInterrupt):
            link.receiver.shared_setup(link, tmp_path)
    assert [p.name.endswith(".pt.partial") for p in tmp_path.iterdir()] == [True]
    said = []
    weights, sidecar = link.receiver.shared_setup(link, tmp_path, say=said.append)
    assert any("resuming the learned detector after epoch 3" in line for line in said), said
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".pt"]  # the network, no partial state
    _same_network(_detector(), ld._from_files(weights, json.loads(sidecar), "the sweep's network"))


@pytest.mark.parametrize("other", [{"train_seed": 7}, {"frame_len": 10}], ids=["seed", "frame_len"])
def test_a_checkpoint_of_another_training_or_a_damaged_one_is_not_used(tmp_path, monkeypatch, other):
    path, said = tmp_path / "x.partial", []
    plain = _detector()
    with monkeypatch.context() as m:
        _interrupt_after(m, 1)
        with pytest.raises(KeyboardInterrupt), ck.checkpointing(path):
            if "frame_len" in other:  # the frame length shapes the training data, though not the network
                train_detector(_link(DETECTOR, frame_len=other["frame_len"]))
            else:
                train_detector(_link({**DETECTOR, **other}))
    with ck.checkpointing(path, say=said.append):
        _same_network(plain, _detector())
    assert len(said) == 1 and "holds the state of another training" in said[0] and "from the start" in said[0]
    for junk in (b"not a checkpoint", b"PK\x03\x04" + bytes(100)):
        path.write_bytes(junk)
        said.clear()
        with ck.checkpointing(path, say=said.append):
            _same_network(plain, _detector())
        assert len(said) == 1 and "not a usable checkpoint" in said[0] and "from the start" in said[0], said
        assert not path.exists()


def test_a_checkpoint_that_does_not_fit_the_network_is_not_used_and_changes_nothing(tmp_path, monkeypatch):
    """A state with the right key whose parts do not fit (a network changed by another hwsim, a file edited
    by hand): the training starts from the start, with nothing half restored."""
    path, said = tmp_path / "x.partial", []
    plain = _detector()
    with monkeypatch.context() as m:
        _interrupt_after(m, 2)
        with pytest.raises(KeyboardInterrupt), ck.checkpointing(path):
            _detector()
    state = torch.load(path, weights_only=True)
    state["objects"]["data"] = "not a generator state"  # restored after the network and the optimizer
    torch.save(state, path)
    with ck.checkpointing(path, say=said.append):
        _same_network(plain, _detector())
    assert len(said) == 1 and "not a usable checkpoint" in said[0] and "from the start" in said[0], said


def test_outside_checkpointing_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _detector()
    assert list(tmp_path.iterdir()) == []
    assert "path=None" in repr(ck.checkpoint("x", {}))


def test_ctrl_c_stops_hwsim_train_at_once_and_the_same_command_resumes(tmp_path):
    """A real SIGINT to ``hwsim train`` after its first epoch; the rerun ends with the network of an
    uninterrupted run."""
    out, ref = tmp_path / "m.pt", tmp_path / "ref.pt"
    sets = ["channel.antennas=16", "source.users=3", "channel.frame_len=20", "receiver.layers=3", "receiver.epochs=20",
            "receiver.steps=3", "receiver.val_frames=2", "receiver.val_snrs=2"]
    cmd = [sys.executable, "-m", "hwsim.cli", "train", "learned_massive", "--quick", "--curve", "learned, 2-bit"]
    cmd += [a for s in sets for a in ("--set", s)]
    proc = subprocess.Popen(cmd + ["--out", str(out)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, preexec_fn=with_ctrl_c)
    partial = Path(f"{out}.partial")
    try:
        deadline = time.monotonic() + 240
        while not partial.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert partial.exists(), proc.communicate()[1] if proc.poll() is not None else "no epoch finished"
        time.sleep(0.3)  # inside a later epoch
        seconds = interrupt(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    _, err = proc.communicate()
    assert seconds < 10.0, f"hwsim train took {seconds:.1f} s to stop"  # under a second idle; room for load
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == (f"hwsim train: interrupted; the finished epochs are kept in {partial} "
                                            "(run the same command again to resume)")
    assert partial.is_file() and not out.exists()
    again = subprocess.run(cmd + ["--out", str(out), "--quiet"], cwd=tmp_path, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stderr
    assert "hwsim train: resuming the learned detector after epoch" in again.stderr, again.stderr
    assert out.is_file() and not partial.exists()
    plain = subprocess.run(cmd + ["--out", str(ref), "--quiet"], cwd=tmp_path, capture_output=True, text=True,
                           timeout=600)
    assert plain.returncode == 0, plain.stderr
    _same_network(load_detector(out), load_detector(ref))


def test_a_second_hwsim_train_with_the_same_out_is_refused_naming_the_first(tmp_path):
    """Two ``hwsim train`` runs into one --out would share one OUT.partial and both say "saved": the second
    is refused at once, naming the first one's pid and its lock file, and the first trains on."""
    out = tmp_path / "m.pt"
    sets = ["channel.antennas=16", "source.users=3", "channel.frame_len=20", "receiver.layers=3",
            "receiver.epochs=100000", "receiver.steps=3", "receiver.val_frames=2", "receiver.val_snrs=2"]
    cmd = [sys.executable, "-m", "hwsim.cli", "train", "learned_massive", "--quick", "--curve", "learned, 2-bit",
           "--quiet", "--out", str(out)] + [a for s in sets for a in ("--set", s)]
    lock, partial = Path(f"{out}.lock"), Path(f"{out}.partial")
    first = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not partial.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.poll() is None and partial.exists(), first.communicate()[1] if first.poll() is not None \
            else "no epoch finished"
        # the first one trains (it has finished an epoch): the second must not train beside it
        second = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)  # refused at once
        assert lock.read_text().strip() == str(first.pid)
        assert second.returncode == 2 and "Traceback" not in second.stderr, second.stderr
        assert second.stderr.strip().splitlines() == [
            f"hwsim train: error: {out} is being trained by another hwsim train (pid {first.pid}, which holds "
            f"{lock}); wait for it to finish, stop it, or choose another --out"], second.stderr
        assert "saved" not in second.stdout
        assert first.poll() is None, "the first training ended"
    finally:
        first.kill()
        first.communicate()
    assert not out.exists()


def test_a_train_lock_is_removed_on_release_and_a_killed_holders_lock_does_not_block(tmp_path):
    from hwsim._files import release_lock, take_lock

    lock = tmp_path / "m.pt.lock"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from hwsim._files import take_lock; "
                               "take_lock(sys.argv[1]); print('held', flush=True); time.sleep(600)", str(lock)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RuntimeError, match=rf"{lock} is held by another process \(pid {holder.pid}\)"):
            take_lock(lock)
    finally:
        holder.kill()
        holder.communicate()
    fd = take_lock(lock)  # the killed holder's file is there, its lock is gone
    assert lock.read_text().strip() == str(os.getpid())
    release_lock(lock, fd)
    assert not lock.exists()


# A sweep whose points train (Shlezinger and Eldar's learned estimator of fig5, small): 12 short epochs per
# training, so a Ctrl-C after the first saved epoch lands inside the training.
POINT_TRAINING = """\
study = "link"
seed = 3
[source]
type = "pilots"
antennas = 10
users = 4
tau_p = 12
P = 4.0
[receiver]
type = "learned_estimator"
train_samples = 4096
epochs = 12
trainings = {trainings}
[metric]
type = "mse"
[grid]
rate = {rates}
[[curves]]
name = "soft-to-hard"
[stopping]
min_samples = 256
max_samples = 256
"""


def _numbers(out: Path) -> list:
    """results.csv without its seconds column (the wall time of a run)."""
    rows = [line.split(",") for line in (out / "results.csv").read_text().splitlines()]
    drop = rows[0].index("seconds")
    return [row[:drop] + row[drop + 1:] for row in rows]


@pytest.mark.parametrize("workers,trainings,rates,wait_for", [
    (1, 2, [1.0], "point-*.1.partial"),    # in-process, inside the second replica's training
    (2, 1, [0.5, 1.0], "point-*.partial"),  # two local workers, one point each
], ids=["in-process", "local-workers"])
def test_ctrl_c_inside_a_points_training_resumes_it_from_its_last_epoch(tmp_path, workers, trainings, rates,
                                                                         wait_for):
    """A real SIGINT to ``hwsim sweep`` once a point's training has saved an epoch; the same command
    resumes that training from its last epoch (a replica that had finished, at its end) and gives the
    numbers of an uninterrupted sweep; no training state is left behind."""
    config = tmp_path / "train.toml"
    config.write_text(POINT_TRAINING.format(trainings=trainings, rates=rates))
    cmd = [sys.executable, "-m", "hwsim.cli", "sweep", str(config), "--workers", str(workers)]
    out, ref = tmp_path / "run", tmp_path / "ref"
    proc = subprocess.Popen(cmd + ["--out", str(out)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, preexec_fn=with_ctrl_c)
    try:
        deadline = time.monotonic() + 240
        while not list(out.glob(f"checkpoints/{wait_for}")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert list(out.glob(f"checkpoints/{wait_for}")), (proc.communicate()[1] if proc.poll() is not None
                                                           else "no epoch finished")
        interrupt(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    _, err = proc.communicate()
    assert proc.returncode == 130 and "Traceback" not in err, err
    kept = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert kept and all(name.startswith("point-") and name.endswith(".partial") for name in kept), kept
    again = subprocess.run(cmd + ["--out", str(out)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    resumed = [line for line in again.stderr.splitlines() if line.startswith("sweep: resuming the learned estimator")]
    assert resumed and all(" after epoch " in line and "/checkpoints/point-" in line for line in resumed), again.stderr
    epochs = [int(line.split(" after epoch ")[1].split()[0]) for line in resumed]
    assert any(1 <= n < 12 for n in epochs), resumed        # the interrupted training went on from its epoch
    if trainings > 1:
        assert 12 in epochs, resumed                       # the finished replica was not trained again
    assert not (out / "checkpoints").exists()               # every point has its result: no state is left
    plain = subprocess.run(cmd + ["--out", str(ref), "--quiet"], cwd=tmp_path, capture_output=True, text=True,
                           timeout=600)
    assert plain.returncode == 0, plain.stderr
    assert _numbers(out) == _numbers(ref)


def test_a_points_checkpoint_has_a_stable_safe_name_and_force_removes_it(tmp_path):
    import re

    from hwsim.engine.config import Point
    from hwsim.engine.folder import CHECKPOINTS_DIR, _clear_sweep, point_checkpoint

    key = Point(0, "a/b\n../c", {"rate": 1.0}).key
    stem = point_checkpoint(tmp_path, key)
    assert stem.parent == tmp_path / CHECKPOINTS_DIR and re.fullmatch(r"point-[0-9a-f]{16}", stem.name)
    assert point_checkpoint(tmp_path, key) == stem != point_checkpoint(tmp_path, Point(0, "a", {"rate": 1.0}).key)
    (tmp_path / "manifest.json").write_text("{}")
    stem.parent.mkdir()
    for name in (f"{stem.name}.partial", f"{stem.name}.1.partial", f".{stem.name}.partial.ab12.tmp"):
        (stem.parent / name).write_bytes(b"state")
    _clear_sweep(tmp_path)  # --force: the old sweep's training states go with its points
    assert not stem.parent.exists()
