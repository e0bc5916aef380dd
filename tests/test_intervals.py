"""Intervals whose unit is what is independent: replicated (trained) set-ups, workers, shipped links."""

import csv
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from hwsim.engine.montecarlo import Estimate, combine
from hwsim.engine.sweep import parse_config, run_sweep


def _est(value, half, samples=100_000, stop="target_errors"):
    return Estimate("rate", value, value - half, value + half, int(value * samples), samples, 5, 1.0, stop,
                    samples // 4, "wilson (clustered)")


def test_combine_reports_the_mean_its_spread_and_a_t_interval_over_replicas():
    reps = [_est(1e-3, 5e-5), _est(2e-3, 8e-5), _est(1.5e-3, 6e-5)]
    c = combine(reps)
    half = stats.t.ppf(0.975, 2) * np.std([1e-3, 2e-3, 1.5e-3], ddof=1) / np.sqrt(3)
    assert c.estimate == pytest.approx(1.5e-3) and c.replicas == 3
    assert (c.spread_low, c.spread_high) == (1e-3, 2e-3)
    assert c.ci_low == 0.0 or c.ci_low == pytest.approx(1.5e-3 - half)
    assert c.ci_high == pytest.approx(1.5e-3 + half)
    assert c.samples == 300_000 and c.errors == sum(r.errors for r in reps) and c.interval == "t over 3 replicas"
    assert combine([reps[0]]) is reps[0]


def test_combine_is_never_narrower_than_the_test_samples_allow():
    reps = [_est(1e-3, 4e-4), _est(1e-3, 4e-4), _est(1e-3, 4e-4)]  # identical trainings, noisy tests
    c = combine(reps)
    assert c.ci_high - c.estimate == pytest.approx(4e-4 / np.sqrt(3))
    with pytest.raises(ValueError, match="share one metric"):
        combine([reps[0], Estimate("mse", 1.0, 0.9, 1.1, 1.0, 10, 1, 0.1, "max_samples")])


def _tiny_learned(trainings: int) -> dict:
    """Seed 001's link, small: 6 antennas, 2 BPSK users, a hybrid receiver trained on 400 samples."""
    return {
        "study": "link", "seed": 3,
        "source": {"type": "users", "users": 2, "constellation": "bpsk"},
        "channel": {"type": "exponential", "antennas": 6, "frame_len": 50},
        "adc": {"type": "none"},
        "receiver": {"type": "hybrid", "train_samples": 400, "epochs": 3, "hidden": 16, "trainings": trainings},
        "grid": {"snr_db": [4.0]},
        "curves": [{"name": "learned", "receiver.training": "soft_to_hard", "receiver.rate": 1.0},
                   {"name": "MAP CSI", "receiver": "map", "channel.csi_error": 0.2}],
        "stopping": {"target_errors": 200, "min_samples": 4000, "max_samples": 40_000, "batch": 2000},
    }


def _rows(out):
    with open(Path(out) / "results.csv") as f:
        return {r["curve"]: {k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)}


def test_learned_points_average_independent_trainings_identically_for_any_worker_count(tmp_path):
    cfg = parse_config(_tiny_learned(3))
    run_sweep(cfg, tmp_path / "one", workers=1, quiet=True, plot=False)
    run_sweep(cfg, tmp_path / "two", workers=2, quiet=True)
    one, two = _rows(tmp_path / "one"), _rows(tmp_path / "two")
    assert one == two  # new intervals and spreads included
    learned = one["learned"]
    assert learned["replicas"] == "3" and learned["interval"] == "t over 3 replicas"
    lo, hi = float(learned["spread_min"]), float(learned["spread_max"])
    assert lo < float(learned["ber"]) < hi  # three trainings on 400 samples do differ
    assert float(learned["ci_low"]) <= lo and hi <= float(learned["ci_high"])
    csi = one["MAP CSI"]  # frames share a perturbed channel: the frame is the unit
    assert csi["interval"] == "wilson (clustered)" and int(csi["clusters"]) * 50 * 2 == int(csi["bits"])
    assert csi["replicas"] == "1" and csi["spread_min"] == ""
    assert (tmp_path / "two" / "plot.png").stat().st_size > 0

    single = tmp_path / "single"
    run_sweep(parse_config(_tiny_learned(1)), single, workers=1, quiet=True, plot=False)
    first = _rows(single)["learned"]  # with one training the first replica's own interval comes back
    assert first["replicas"] == "1" and first["interval"] == "wilson (clustered)"
