"""The learned detector's training loop (the schedule of :mod:`hwsim.receivers.learned_detector`'s module
text) on :func:`hwsim.training.fit`: data drawn through the link itself every step, Adam with a cosine
learning rate, the hard decisions validated after every epoch and the epoch with the lowest validation
BER kept; inside :func:`hwsim.checkpoint.checkpointing` an interrupted training resumes to the same
network.
"""

from __future__ import annotations

import numpy as np

from .detector_files import TrainedDetector, link_spec
from .detector_network import Arch, forward, inputs, load_torch, network, stack_inputs, target_bits


def _on(b: dict, device) -> dict:
    return {k: (v if k == "quantized" else v.to(device)) for k, v in b.items()}


def draw(link, frames: int, snrs, rng, torch, device="cpu"):
    """``frames`` frames split evenly over ``snrs``: (network inputs, target bits), on ``device``."""
    batches, bits = [], []
    for frames_g, snr in zip(np.array_split(np.arange(frames), len(snrs)), snrs):
        if len(frames_g) == 0:
            continue
        idx, obs = link.observe(len(frames_g), float(snr), rng)
        batches.append(inputs(obs, torch))
        bits.append(target_bits(idx, obs.constellation, torch))
    return _on(stack_inputs(batches, torch), device), torch.cat(bits).to(device)


def train_network(link, p: dict, *, key: str, progress: bool, device) -> TrainedDetector:
    """Train a network for ``link`` with the checked receiver parameters ``p`` (the schedule of
    :mod:`hwsim.receivers.learned_detector`); ``key`` identifies the training in its checkpoint. Runs in the
    caller's torch generator and thread settings (:func:`hwsim.receivers.learned_detector.train_detector`
    forks the generator and runs on one thread)."""
    from hwsim.checkpoint import TORCH_GLOBAL_RNG
    from hwsim.training import Task, fit

    torch, _ = load_torch()
    seed = int(p["train_seed"])
    data_seed, val_seed, init_seed = np.random.SeedSequence(seed).spawn(3)
    torch.manual_seed(int(init_seed.generate_state(1)[0]))
    arch = Arch.for_link(link, p["layers"], p["search"]).check()
    net = network(arch).to(device)
    rng = np.random.default_rng(data_seed)
    val_rng = np.random.default_rng(val_seed)
    lo, hi = p["train_snr_min"], p["train_snr_max"]
    val_snrs = np.linspace(lo, hi, p["val_snrs"]) if p["val_snrs"] > 1 else np.array([0.5 * (lo + hi)])
    val = [draw(link, p["val_frames"], [s], val_rng, torch, device) for s in val_snrs]
    opt = torch.optim.Adam(net.parameters(), lr=p["lr"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=p["epochs"] * p["steps"])
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def step(epoch, i):
        snrs = rng.uniform(lo, hi, p["snr_groups"])
        batch, bits = draw(link, p["batch_frames"], snrs, rng, torch, device)
        opt.zero_grad()
        final, soft = net(batch)
        loss = loss_fn(final, bits) + loss_fn(soft, bits)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        opt.step()
        sched.step()
        return float(loss.detach())

    def validate(epoch):
        """The detector's hard-decision BER per validation SNR; the score is the mean log10 BER."""
        with torch.no_grad():
            bers = [float(((forward(net, vb, torch) > 0).float() != vbits).float().mean()) for vb, vbits in val]
        score = float(np.mean(np.log10(np.maximum(bers, 1e-7))))
        return score, {"val_ber": bers, "val_score": score}

    task = Task(net, step, validate, tracked={"opt": opt, "sched": sched, "data": rng, "torch": TORCH_GLOBAL_RNG},
                show=lambda h: {"loss": f"{h['loss']:.4f}", "validation BER": f"{10 ** h['val_score']:.2e}"})
    fitted = fit(task, what="learned detector", key={"training": key, "device": str(device)},
                 epochs=p["epochs"], steps=p["steps"], progress="train learned detector" if progress else None)
    training = {k: v for k, v in p.items() if k not in ("model", "progress")}
    training["device"] = str(device)
    return TrainedDetector(net=net, arch=arch, link=link_spec(link), training=training, seed=seed,
                           history=fitted.history)


__all__ = ["draw", "train_network"]
