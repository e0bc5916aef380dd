"""The one training loop (:func:`hwsim.training.fit`): best-epoch selection, early stopping, the history,
and resumption: a training interrupted by a Ctrl-C (a real ``KeyboardInterrupt`` raised after epoch k, from
the progress callback or from the task's own hook) and run again inside the same
:func:`hwsim.checkpoint.checkpointing` ends with what an uninterrupted one trains, bit for bit.
"""

import copy

import numpy as np
import pytest
import torch

from hwsim import checkpoint as ck
from hwsim._progress import EpochProgress
from hwsim.training import Carried, Task, chunked, fit

# ---- a tiny task ------------------------------------------------------------------------------------------------


def _tiny(scores=None, stop_at=None, seen=None):
    """A line fitted to noisy points, one Adam step per batch drawn from a torch generator, a learning rate
    halved every 2 epochs. The score is the MSE on all points, or ``scores[epoch]`` when given (a list, or a
    dict that also scores the start, -1); ``seen`` gets each validated epoch's state; ``before_epoch``
    raises KeyboardInterrupt at epoch ``stop_at``."""
    torch.manual_seed(0)
    net = torch.nn.Linear(1, 1)
    gen = torch.Generator().manual_seed(1)
    x = torch.linspace(-1, 1, 64)[:, None]
    y = 3 * x + 0.5 + 0.1 * torch.randn(64, 1, generator=torch.Generator().manual_seed(2))
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    sched = torch.optim.lr_scheduler.StepLR(opt, 2, 0.5)
    states = {} if seen is None else seen

    def before_epoch(epoch):
        if epoch == stop_at:
            raise KeyboardInterrupt  # a Ctrl-C after epoch `stop_at - 1` was saved

    def step(epoch, i):
        idx = torch.randint(0, 64, (8 + i,), generator=gen)
        opt.zero_grad()
        loss = ((net(x[idx]) - y[idx]) ** 2).mean()
        loss.backward()
        opt.step()
        return float(loss.detach()), len(idx)

    def validate(epoch):
        states[epoch] = copy.deepcopy(net.state_dict())
        with torch.no_grad():
            mse = float(((net(x) - y) ** 2).mean())
        score = mse if scores is None else scores[epoch]
        return score, {"val_mse": mse}

    return Task(net, step, validate, before_epoch, after_epoch=lambda e: sched.step(),
                tracked={"opt": opt, "sched": sched, "batches": gen})


def _fit(task, epochs=6, **kw):
    return fit(task, what="tiny task", key={"seed": 0}, epochs=epochs, steps=3, **kw)


def _same_state(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_the_history_holds_each_epochs_weighted_mean_loss_and_metrics_and_every_steps_loss():
    task = _tiny()
    fitted = _fit(task)
    assert [h["epoch"] for h in fitted.history] == list(range(6))
    assert list(fitted.history[0]) == ["epoch", "loss", "val_mse"]
    assert len(fitted.losses) == 18
    for e, h in enumerate(fitted.history):  # steps draw 8, 9, 10 points: the mean is weighted by them
        step = fitted.losses[3 * e:3 * e + 3]
        assert h["loss"] == pytest.approx(sum(v * w for v, w in zip(step, (8, 9, 10))) / 27, rel=1e-12)
    assert not task.model.training and next(task.model.parameters()).device.type == "cpu"


@pytest.mark.parametrize("ties,kept", [("later", 3), ("earlier", 1)])
def test_the_kept_epoch_has_the_lowest_score_and_ties_keep_the_later_or_the_earlier_one(ties, kept):
    seen = {}
    task = _tiny(scores=[3.0, 1.0, 2.0, 1.0, 5.0, 4.0], seen=seen)
    fitted = _fit(task, ties=ties)
    assert (fitted.best_epoch, fitted.best_score) == (kept, 1.0)
    _same_state(task.model.state_dict(), seen[kept])  # the model holds the kept epoch, not the last one
    _same_state(fitted.best_state, seen[kept])
    assert len(fitted.history) == 6 and not fitted.stopped_early


def test_the_start_is_kept_when_no_epoch_validates_better_with_validate_start():
    seen = {}
    task = _tiny(scores={-1: 0.5, **{e: 1.0 for e in range(6)}}, seen=seen)
    fitted = _fit(task, validate_start=True)
    assert fitted.best_epoch == -1 and len(fitted.history) == 6  # the start is not in the history
    _same_state(task.model.state_dict(), seen[-1])


def test_early_stopping_ends_after_patience_epochs_without_a_kept_one_and_is_off_by_default():
    scores = [3.0, 1.0, 2.0, 2.0, 0.0, 0.0]
    fitted = _fit(_tiny(scores=scores), patience=2)
    assert fitted.stopped_early and len(fitted.history) == 4 and fitted.best_epoch == 1
    assert len(fitted.losses) == 12
    assert _fit(_tiny(scores=scores), patience=3).best_epoch == 5  # epoch 4 came in time; 5 ties it
    plain = _fit(_tiny(scores=scores))
    assert not plain.stopped_early and len(plain.history) == 6


@pytest.mark.parametrize("stop", [1, 4])
def test_an_interrupted_fit_resumes_to_the_same_model_history_and_generators(tmp_path, stop):
    plain_task = _tiny()
    plain = _fit(plain_task)
    path, said = tmp_path / "tiny.partial", []
    with pytest.raises(KeyboardInterrupt), ck.checkpointing(path, say=said.append):
        _fit(_tiny(stop_at=stop))
    assert path.is_file() and said == []
    task = _tiny()
    with ck.checkpointing(path, say=said.append):
        resumed = _fit(task)
    assert said == [f"resuming the tiny task after epoch {stop} from {path}"]
    _same_state(task.model.state_dict(), plain_task.model.state_dict())
    assert resumed.history == plain.history and resumed.losses == plain.losses
    assert resumed.best_epoch == plain.best_epoch
    assert torch.equal(task.tracked["batches"].get_state(), plain_task.tracked["batches"].get_state())
    assert task.tracked["opt"].param_groups[0]["lr"] == plain_task.tracked["opt"].param_groups[0]["lr"] == 0.05 / 8


def test_a_fit_that_stopped_early_resumes_as_stopped(tmp_path):
    scores = [3.0, 1.0, 2.0, 2.0, 0.0, 0.0]
    plain = _fit(_tiny(scores=scores), patience=2)
    path = tmp_path / "tiny.partial"
    with pytest.raises(RuntimeError), ck.checkpointing(path):  # the caller fails after the training
        _fit(_tiny(scores=scores), patience=2)
        raise RuntimeError("could not save the network")
    steps = []
    task = _tiny(scores=scores)
    step = task.step
    task.step = lambda e, i: steps.append(e) or step(e, i)
    with ck.checkpointing(path):
        again = _fit(task, patience=2)
    assert steps == [] and again.stopped_early and again.history == plain.history
    assert again.best_epoch == plain.best_epoch == 1


def test_a_checkpoint_of_other_fit_settings_is_not_used(tmp_path):
    path, said = tmp_path / "tiny.partial", []
    with pytest.raises(KeyboardInterrupt), ck.checkpointing(path):
        _fit(_tiny(stop_at=2))
    with ck.checkpointing(path, say=said.append):
        _fit(_tiny(), epochs=7)
    assert len(said) == 1 and "holds the state of another training" in said[0]


def test_steps_per_epoch_chunks_and_carried_variables():
    assert chunked(157) == [8] * 17 + [7] * 3 and sum(chunked(157)) == 157
    assert chunked(5) == [1] * 5 and chunked(40, 4) == [10] * 4
    with pytest.raises(ValueError, match="steps"):
        fit(_tiny(), what="x", key={}, epochs=3, steps=[1, 2])
    with pytest.raises(ValueError, match="ties"):
        fit(_tiny(), what="x", key={}, epochs=1, steps=1, ties="first")
    carried = Carried(order=np.arange(5), pos=3, none=None)
    state = copy.deepcopy(carried.state_dict())
    carried.order, carried.pos = np.zeros(2), 0
    carried.load_state_dict(state)
    assert isinstance(carried.order, np.ndarray) and carried.order.tolist() == [0, 1, 2, 3, 4] and carried.pos == 3
    with pytest.raises(ValueError, match="saved variables"):
        Carried(other=1).load_state_dict(state)


# ---- the loops that became resumable ----------------------------------------------------------------------------


def _interrupt_after_epoch(monkeypatch, epoch: int):
    """A Ctrl-C right after epoch ``epoch`` (from 0) finished, before its state is saved: raised from the
    progress callback every loop of :func:`fit` calls (also when it shows nothing)."""
    shown = EpochProgress.epoch

    def epoch_then_stop(self, e, figures=None):
        shown(self, e, figures)
        if e == epoch:
            raise KeyboardInterrupt

    monkeypatch.setattr(EpochProgress, "epoch", epoch_then_stop)


def _interrupted_then_resumed(tmp_path, monkeypatch, train, epoch, what):
    path, said = tmp_path / "t.partial", []
    with monkeypatch.context() as m:
        _interrupt_after_epoch(m, epoch)
        with pytest.raises(KeyboardInterrupt), ck.checkpointing(path, say=said.append):
            train()
    assert path.is_file() and said == []
    with ck.checkpointing(path, say=said.append):
        out = train()
    assert not path.exists()
    assert len(said) == 1 and said[0].startswith(f"resuming the {what}") and f"after epoch {epoch} from" in said[0]
    return out


def _estimator(mode="soft_to_hard", **kw):
    from hwsim.channels.pilots import PilotChannel
    from hwsim.receivers.estimator import train_estimator

    return train_estimator(PilotChannel(10, 4, 12, 4.0), 16, 4, np.random.default_rng(2), train_samples=600,
                           val_samples=128, epochs=5, mode=mode, **kw)


@pytest.mark.parametrize("mode,kw", [("soft_to_hard", {}), ("passing_gradient", {"init": "random", "refit": False})])
def test_an_interrupted_estimator_training_resumes_to_the_same_estimator(tmp_path, monkeypatch, mode, kw):
    model, history = _estimator(mode, **kw)
    again, again_history = _interrupted_then_resumed(tmp_path, monkeypatch, lambda: _estimator(mode, **kw), 2,
                                                     f"learned estimator ({mode})")
    _same_state(again.state_dict(), model.state_dict())
    assert again_history == history


def _vq(method):
    from hwsim.quantizers.learned_vq import train_vq

    x = np.random.default_rng(1).standard_normal((2000, 2))
    return train_vq(x, 8, method, np.random.default_rng(4), steps=157, batch=64, lr=0.02, patience=10)


@pytest.mark.parametrize("method", ["ema", "nsvq", "ste"])
def test_an_interrupted_vq_training_resumes_to_the_same_codebook(tmp_path, monkeypatch, method):
    book, history = _vq(method)
    again, again_history = _interrupted_then_resumed(tmp_path, monkeypatch, lambda: _vq(method), 6,
                                                     f"learned VQ codebook ({method})")
    assert np.array_equal(again.codewords, book.codewords)
    assert np.array_equal(again_history, history) and len(history) == 157


def _lattice(kind):
    from hwsim.quantizers.learned_lattice import train_lattice

    data = np.random.default_rng(3).standard_normal((300, 2))
    kw = {"uniform": dict(data=None, dim=2, rounding="nearest", prior="direct"),
          "data": dict(data=data, gamma=2.5, rounding="phi", batch=64)}[kind]
    res = train_lattice(steps=45, seed=7, lr=0.02, **kw)
    return res, torch.get_rng_state()


@pytest.mark.parametrize("kind", ["uniform", "data"])
def test_an_interrupted_lattice_training_resumes_to_the_same_generator(tmp_path, monkeypatch, kind):
    (res, torch_rng) = _lattice(kind)
    again, again_rng = _interrupted_then_resumed(tmp_path, monkeypatch, lambda: _lattice(kind), 9,
                                                 "learned lattice")
    assert np.array_equal(again.generator, res.generator) and again.history == res.history
    assert torch.equal(again_rng, torch_rng)
    if res.quantizer is not None:  # its dither generator is the training's: in the same state
        assert np.array_equal(again.quantizer.codewords, res.quantizer.codewords)
        assert np.array_equal(again.quantizer._rng.random(3), res.quantizer._rng.random(3))


def _users_link(receiver, adc=None):
    from hwsim.pipeline import Pipeline

    return Pipeline.from_tables({"source": {"type": "users", "users": 3, "constellation": "qam16"},
                                 "channel": {"type": "rayleigh", "antennas": 16, "frame_len": 20},
                                 "adc": adc or {"type": "uniform", "bits": 2, "agc": "ideal"}, "receiver": receiver})


def _task_hybrid(training):
    from hwsim.receivers import task_hybrid as th

    link = _users_link({"type": "task_hybrid", "outputs": 4, "bits": 2, "training": training, "epochs": 4,
                        "steps": 3, "batch_frames": 4, "val_frames": 4, "val_snrs": 2}, adc={"type": "none"})
    return th.train(link, link.receiver.params)


@pytest.mark.parametrize("training", ["soft_to_hard", "passing_gradient"])
def test_an_interrupted_task_hybrid_training_resumes_to_the_same_receiver(tmp_path, monkeypatch, training):
    plain = _task_hybrid(training)
    again = _interrupted_then_resumed(tmp_path, monkeypatch, lambda: _task_hybrid(training), 1,
                                      "task_hybrid receiver")
    _same_state(again.net.state_dict(), plain.net.state_dict())
    assert again.history == plain.history and again.residual == plain.residual


def _detector(adc):
    from hwsim.receivers.learned_detector import train_detector

    return train_detector(_users_link({"type": "learned", "layers": 3, "search": 1, "epochs": 4, "steps": 3,
                                       "batch_frames": 4, "snr_groups": 2, "val_frames": 2, "val_snrs": 2,
                                       "train_snr_min": 0.0, "train_snr_max": 10.0}, adc=adc))


@pytest.mark.parametrize("adc", [{"type": "uniform", "bits": 1, "agc": "ideal"}, {"type": "none"}],
                         ids=["1-bit", "unquantized"])
def test_an_interrupted_learned_detector_training_resumes_to_the_same_network(tmp_path, monkeypatch, adc):
    plain = _detector(adc)
    again = _interrupted_then_resumed(tmp_path, monkeypatch, lambda: _detector(adc), 2, "learned detector")
    _same_state(again.net.state_dict(), plain.net.state_dict())
    assert again.history == plain.history


def _qcs(encoder):
    from hwsim.channels.sparse import SparseSource
    from hwsim.receivers.qcs import train_qcs

    rng = np.random.default_rng(7)
    net = train_qcs(SparseSource(n=20, m=10, s=2), 2, rng, encoder=encoder, steps=130, batch=50, checks=7,
                    val_samples=300)
    return net, rng.random(3), torch.get_rng_state()


@pytest.mark.parametrize("encoder", [True, False], ids=["deepqcs", "ce_decnet"])
def test_an_interrupted_qcs_training_resumes_to_the_same_network(tmp_path, monkeypatch, encoder):
    """Checks every 18 of 130 steps (8 epochs, the last of 4 steps); the batches are drawn 64 at a time, so
    the state it resumes from (after 2 epochs, step 36) lies inside a drawn chunk, which the checkpoint
    carries."""
    net, after, torch_rng = _qcs(encoder)
    (again, again_after, again_rng) = _interrupted_then_resumed(
        tmp_path, monkeypatch, lambda: _qcs(encoder), 2, "DeepQCS network" if encoder else "CE-DecNet network")
    for (w, b), (w2, b2) in zip((net.encoder or []) + net.decoder, (again.encoder or []) + again.decoder):
        assert np.array_equal(w, w2) and np.array_equal(b, b2)
    assert (again.encoder is None) == (net.encoder is None) == (not encoder)
    assert np.array_equal(again.table.thresholds, net.table.thresholds)
    assert np.array_equal(again.table.levels, net.table.levels)
    assert again.history == net.history and len(net.history) == 8 and net.history[-1][0] == 130
    assert np.array_equal(again_after, after) and torch.equal(again_rng, torch_rng)
