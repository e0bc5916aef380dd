#!/usr/bin/env python
"""Training cost of the learned receivers: time, training samples per second and peak memory.

Prints, measured in this run:

- seconds to train one hybrid receiver of Shlezinger and Eldar (12 x 4 BPSK, R = 1, 12 dB, t = 5000
  samples, default settings) with one torch thread and with all threads (target <= 20 s);
- seconds for the quick Fig. 7 sweep (target <= 120 s) and, with --full, the full one
  (target <= 900 s), each into a temporary folder with all cores as workers;
- one line per learned system -- the Shlezinger-Eldar hybrid receiver above, the learned per-bit
  detector on the massive_mimo system of ``learned_massive.toml`` (64 x 8, 16-QAM, Rayleigh,
  uniform I/Q converters behind ideal AGC) at 1 and at 2 bits, and the learned channel
  estimator of Fig. 5 (R = 1) -- with its training samples per second and its peak memory;
- for the learned detector, how a training step's time splits between drawing the data
  (``link.observe`` and building the network inputs) and the torch step.

A *sample* is one channel use: one received vector over all the antennas of the system (12 real
antenna values for the hybrid receiver, 64 complex ones for the detector; the estimator's
training example is a pilot block of tau_p = 12 channel uses of 10 antennas, counted as 12
samples). Samples per second counts every pass over the training data (epochs x training
set for the hybrid receiver and the estimator, steps x frames x frame length for the detector,
whose data are fresh at every step), on one CPU thread as a sweep worker trains:

- hybrid receiver and estimator: over the whole training call (data drawn once up front and
  the per-epoch validation included: a few per cent of the hybrid receiver's time; for the
  estimator the validation also refits its digital layer on the training set);
- learned detector: over its training steps (data drawing + torch step); its one-off set-up and
  its per-epoch validation (forward passes with the candidate list, 5 x ``val_frames`` frames)
  are timed apart and printed on its split line, since a short schedule would otherwise be
  dominated by them.

Peak memory: each system is measured in a fresh Python subprocess, which reports the peak
resident set size of its whole life (``VmHWM`` of /proc/self/status, read inside it) and its
resident set size just after its imports (numpy, torch, hwsim and the receiver's module);
"above imports" is the difference, i.e. what training adds. For the learned detector the peak
is also split by phase (set-up with the validation data, training steps, validation passes) by
resetting the peak between phases (``/proc/self/clear_refs``, Linux).

The default run takes about 3 minutes on 2 cores (short detector schedule: 1 epoch of 10
steps; estimator: 10 epochs); ``--full`` trains the detector with the config's schedule
(10 epochs of 30 steps), the estimator with Fig. 5's (40 epochs) and also times the full
Fig. 7 sweep.

    python scripts/bench_training.py [--full]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np

#: Shlezinger and Eldar's link (12 antennas, 4 BPSK users, H_ij = exp(-|i-j|)) with the hybrid receiver at its
#: defaults (R = 1, soft-to-hard, trained on the true channel, t = 5000 samples, 60 epochs).
TABLES = {"source": {"type": "users", "users": 4, "constellation": "bpsk"},
          "channel": {"type": "exponential", "antennas": 12, "frame_len": 100},
          "adc": {"type": "none"},
          "receiver": {"type": "hybrid", "rate": 1.0, "training": "soft_to_hard", "trainset": "optimal"}}

#: Where the learned detector's and the estimator's systems come from.
CONFIGS = Path(__file__).resolve().parent.parent / "hwsim" / "configs"
KINDS = ("source", "channel", "frontend", "adc", "receiver")
#: The learned detector's short schedule (default run); --full keeps the config's.
SHORT_DETECTOR = {"epochs": 1, "steps": 10}
#: The estimator's epochs in the default run (Fig. 5 trains 40); its rate (one point of Fig. 5).
SHORT_ESTIMATOR_EPOCHS = 10
ESTIMATOR_RATE = 1.0
SYSTEMS = ("hybrid", "detector1", "detector2", "estimator")


def train_seconds(threads: int) -> tuple[float, float]:
    import torch

    from hwsim.pipeline import Pipeline

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    link = Pipeline.from_tables(TABLES)
    link.check()
    trained = link.receiver.train(link, 12.0, np.random.default_rng(0))  # on the CPU, as a sweep trains
    return time.perf_counter() - t0, min(h["val_error"] for h in trained.history)


def sweep_seconds(quick: bool) -> float:
    from hwsim.engine.sweep import load_config, run_sweep

    cfg = load_config("fig7", quick=quick)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_sweep(cfg, os.path.join(tmp, "fig7"), quiet=True)
        return time.perf_counter() - t0


# ---- one measurement per fresh subprocess ------------------------------------------------------------------------


def _tables(config: str) -> dict:
    """The component tables of a shipped config (its [source], [channel], ... tables)."""
    data = tomllib.loads((CONFIGS / f"{config}.toml").read_text())
    return {kind: dict(data[kind]) for kind in KINDS if kind in data}


def _status_kb(field: str) -> int | None:
    """A memory field of /proc/self/status in KiB (None where there is no /proc)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _rss_bytes() -> int:
    kb = _status_kb("VmRSS")
    if kb is not None:
        return 1024 * kb
    return _maxrss_bytes()  # no /proc: the peak so far stands in for the current size


def _maxrss_bytes() -> int:
    kb = _status_kb("VmHWM")
    if kb is not None:
        return 1024 * kb
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else 1024 * peak  # bytes on macOS, KiB elsewhere


class _Phases:
    """Peak resident set size per phase of a run: at each phase change the peak so far (VmHWM) is charged to
    the phase that ends and reset (``/proc/self/clear_refs``, Linux); ``peak`` is the largest of them."""

    def __init__(self, first: str):
        self.now, self.peaks = first, {}   # the first phase holds the process's life so far (imports too)
        self.ok = _status_kb("VmHWM") is not None and os.access("/proc/self/clear_refs", os.W_OK)

    @staticmethod
    def _reset() -> None:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")

    def enter(self, name: str) -> None:
        if not self.ok or name == self.now:
            return
        self.close()
        try:
            self._reset()
        except OSError:
            self.ok = False
        self.now = name

    def close(self) -> None:
        if self.ok:
            self.peaks[self.now] = max(self.peaks.get(self.now, 0), _maxrss_bytes())


def _measure_hybrid(full: bool) -> dict:
    from hwsim.pipeline import Pipeline

    link = Pipeline.from_tables(TABLES)
    link.check()
    settings = link.receiver.settings()
    t0 = time.perf_counter()
    trained = link.receiver.train(link, 12.0, np.random.default_rng(0))
    seconds = time.perf_counter() - t0
    samples = settings.epochs * settings.train_samples
    return {"samples": samples, "seconds": seconds, "epochs": settings.epochs, "train_samples": settings.train_samples,
            "best": min(h["val_error"] for h in trained.history)}


def _measure_detector(bits: int, full: bool) -> dict:
    """Train the learned detector through :func:`train_detector`, timing its data draws, its network inputs
    and its validation forward passes by wrapping them (the trainer itself is not changed)."""
    from hwsim.pipeline import Pipeline
    from hwsim.receivers import detector_training as dt, learned_detector as ld

    tables = _tables("learned_massive")
    tables["adc"]["bits"] = bits
    link = Pipeline.from_tables(tables)
    link.check()
    params = {k: v for k, v in tables["receiver"].items() if k != "type"}
    if not full:
        params.update(SHORT_DETECTOR)
    acc = {"observe": 0.0, "inputs": 0.0}
    draws, forwards = [], []   # (start, seconds, observe, inputs) per draw call; (start, seconds) per forward

    observe, batch, draw, forward = link.observe, dt.inputs, dt.draw, dt.forward

    def timed_observe(*a, **k):
        t = time.perf_counter()
        try:
            return observe(*a, **k)
        finally:
            acc["observe"] += time.perf_counter() - t

    def timed_batch(*a, **k):
        t = time.perf_counter()
        try:
            return batch(*a, **k)
        finally:
            acc["inputs"] += time.perf_counter() - t

    phases = _Phases("set-up")

    def timed_draw(*a, **k):
        if len(draws) >= params["val_snrs"]:
            phases.enter("steps")
        before = dict(acc)
        t = time.perf_counter()
        out = draw(*a, **k)
        draws.append((t, time.perf_counter() - t, acc["observe"] - before["observe"], acc["inputs"] - before["inputs"]))
        return out

    def timed_forward(*a, **k):
        phases.enter("validation")
        t = time.perf_counter()
        out = forward(*a, **k)
        forwards.append((t, time.perf_counter() - t))
        return out

    link.observe = timed_observe
    dt.inputs, dt.draw, dt.forward = timed_batch, timed_draw, timed_forward
    try:
        t0 = time.perf_counter()
        trained = ld.train_detector(link, **params)
        total = time.perf_counter() - t0
        phases.close()
    finally:
        dt.inputs, dt.draw, dt.forward = batch, draw, forward
        del link.observe
    n_val = params["val_snrs"]
    val_draws, train_draws = draws[:n_val], draws[n_val:]
    steps = params["epochs"] * params["steps"]
    if len(train_draws) != steps or len(forwards) != params["epochs"] * n_val:
        raise RuntimeError(f"the learned detector's trainer changed: {len(draws)} draws and {len(forwards)} "
                           f"validation passes for {steps} steps; update scripts/bench_training.py")
    loop_start = train_draws[0][0]
    loop_end = forwards[-1][0] + forwards[-1][1]
    draw_s = sum(d[1] for d in train_draws)
    val_fwd = sum(f[1] for f in forwards)
    torch_s = (loop_end - loop_start) - draw_s - val_fwd   # forward, backward, clipping, Adam (and the epoch's copy)
    val_draw = sum(d[1] for d in val_draws)
    return {"samples": steps * params["batch_frames"] * link.channel.frame_len, "seconds": draw_s + torch_s,
            "total": total, "steps": steps, "draw": draw_s, "observe": sum(d[2] for d in train_draws),
            "inputs": sum(d[3] for d in train_draws), "torch": torch_s, "validation": val_draw + val_fwd,
            "setup": total - (loop_end - loop_start) - val_draw,   # set-up before the loop, best-epoch restore after
            "best": min(10 ** h["val_score"] for h in trained.history), "phase_peaks": phases.peaks}


def _measure_estimator(full: bool) -> dict:
    from hwsim.pipeline import Pipeline

    tables = _tables("fig5")
    tables["receiver"]["rate"] = ESTIMATOR_RATE
    if not full:
        tables["receiver"]["epochs"] = SHORT_ESTIMATOR_EPOCHS
    link = Pipeline.from_tables(tables)
    link.check()
    p = link.receiver.params
    t0 = time.perf_counter()
    link.receiver.prepare(link, None, np.random.default_rng(0))   # one training, as a point's replica does
    seconds = time.perf_counter() - t0
    tau_p = link.source.params["tau_p"]
    return {"samples": p["epochs"] * p["train_samples"] * tau_p, "seconds": seconds, "epochs": p["epochs"],
            "blocks": p["epochs"] * p["train_samples"]}


def _child(name: str, full: bool) -> None:
    """Run one measurement in this (fresh) process and print it as JSON."""
    import numba  # noqa: F401  (imported by the trainers: part of the baseline)
    import torch
    import tqdm.auto  # noqa: F401

    from hwsim._threads import single_threaded
    from hwsim.pipeline import Pipeline  # noqa: F401
    from hwsim.receivers import estimation, estimator, hybrid, learned, learned_detector  # noqa: F401

    learned_detector._torch()
    base = _rss_bytes()
    with single_threaded():
        threads = torch.get_num_threads()
        if name == "hybrid":
            out = _measure_hybrid(full)
        elif name.startswith("detector"):
            out = _measure_detector(int(name[-1]), full)
        else:
            out = _measure_estimator(full)
    peak = max([_maxrss_bytes(), *out.get("phase_peaks", {}).values()])  # VmHWM may have been reset by _Phases
    out.update(base=base, peak=peak, torch_threads=threads)
    print("BENCH " + json.dumps(out))


def measure(name: str, full: bool) -> dict:
    """One measurement in a fresh subprocess (its own peak memory)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", name] + (["--full"] if full else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"measurement {name!r} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(lines[-1][len("BENCH "):])


def _gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def _line(label: str, m: dict, unit: str) -> str:
    rate = m["samples"] / m["seconds"]
    return (f"{label:<44s} {rate:9.0f} samples/s ({unit})   peak {_gb(m['peak'])} "
            f"({_gb(m['peak'] - m['base'])} above imports)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true",
                    help="full training schedules and the full Fig. 7 sweep (many minutes)")
    ap.add_argument("--child", choices=SYSTEMS, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args.child, args.full)
        return
    cores = os.cpu_count() or 1
    t1, err1 = train_seconds(1)
    tn, _ = train_seconds(cores)
    print(f"cores: {cores}")
    print(f"train one receiver, 1 thread     {t1:7.1f} s   target <= 20   (best hard validation SER {err1:.4f})")
    print(f"train one receiver, {cores} threads    {tn:7.1f} s   target <= 20")
    print(f"Fig. 7 quick sweep               {sweep_seconds(True):7.1f} s   target <= 120")
    if args.full:
        print(f"Fig. 7 full sweep                {sweep_seconds(False):7.1f} s   target <= 900")
    print("training throughput, one thread, each in a fresh process (sample = one channel use, all antennas):")
    m = measure("hybrid", args.full)
    print(_line("train hybrid seed001 12x4 BPSK R=1", m, "channel uses of 12 antennas")
          + f"   [{m['epochs']} epochs x {m['train_samples']}, {m['seconds']:.1f} s]")
    for bits in (1, 2):
        m = measure(f"detector{bits}", args.full)
        print(_line(f"train learned detector 64x8 16-QAM {bits}-bit", m, "channel uses of 64 antennas")
              + f"   [{m['steps']} steps x 800, {m['seconds']:.1f} s]")
        per = 1e3 / m["steps"]
        rest = m["draw"] - m["observe"] - m["inputs"]
        print(f"  split per step {per * m['seconds']:6.1f} ms: data {100 * m['draw'] / m['seconds']:3.0f}% "
              f"(link.observe {per * m['observe']:.1f} ms + network inputs {per * m['inputs']:.1f} ms "
              f"+ bits and stacking {per * rest:.1f} ms), torch step {100 * m['torch'] / m['seconds']:3.0f}% "
              f"({per * m['torch']:.1f} ms)")
        print(f"  not counted above: validation {m['validation']:.1f} s, set-up and wrap-up {m['setup']:.1f} s "
              f"(whole train_detector call {m['total']:.1f} s)")
        if m.get("phase_peaks"):
            print("  peak by phase: " + ", ".join(f"{k} {_gb(v)} ({_gb(v - m['base'])} above imports)"
                                                  for k, v in m["phase_peaks"].items()))
    m = measure("estimator", args.full)
    print(_line(f"train learned estimator fig5 R={ESTIMATOR_RATE:g}", m,
                "channel uses of 10 antennas, 12 per pilot block")
          + f"   [{m['epochs']} epochs x {m['blocks'] // m['epochs']} blocks, {m['seconds']:.1f} s]")


if __name__ == "__main__":
    main()
