"""Random numbers drawn inside numba kernels: NumPy's own numbers, and results that depend only on the seed.

The fused QMAP link (``QMAP.fused_link``, :func:`hwsim.receivers.map.qmap_link_errors`) draws its symbols
and noise per sample inside one kernel from the point's ``numpy.random.Generator``. These tests check
that those draws are exactly NumPy's (same numbers, same final generator state), that the kernel counts
what the component's own detector counts on the same draws, that its results do not depend on the batch
size of the calls nor on the number of workers, and that it simulates the same link as the earlier
vectorised-NumPy path (equal BER within the intervals).
"""

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from numba import njit

from hwsim.channels.constellations import get_constellation
from hwsim.engine.sweep import parse_config, run_sweep, single_threaded
from hwsim.pipeline import Pipeline
from hwsim.receivers.map import QMAPDetector, qmap_link_errors

TABLES = {"source": {"type": "users", "users": 4, "constellation": "bpsk"},
          "channel": {"type": "exponential", "antennas": 12, "frame_len": 100},
          "adc": {"type": "uniform_range", "levels": 8, "gamma": 2.0, "agc": "fixed"},
          "receiver": {"type": "qmap"}, "metric": {"type": "ber"}}


@njit(cache=True)
def _interleaved(rng, n_samples, n):
    """Per sample: one rng.random() then n rng.standard_normal(), as the fused link draws."""
    out = np.empty((n_samples, n + 1))
    for i in range(n_samples):
        out[i, 0] = rng.random()
        for a in range(n):
            out[i, a + 1] = rng.standard_normal()
    return out


def _same_state(a, b) -> bool:
    """Equal generator states (Philox keeps arrays in its state dict)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    return bool(np.array_equal(a, b)) if isinstance(a, np.ndarray) else a == b


@pytest.mark.parametrize("bitgen", [np.random.PCG64, np.random.Philox, np.random.SFC64])
def test_in_kernel_draws_are_numpys_numbers_and_advance_the_same_state(bitgen):
    seed = np.random.SeedSequence(2024)
    kernel_rng, numpy_rng = np.random.Generator(bitgen(seed)), np.random.Generator(bitgen(seed))
    got = _interleaved(kernel_rng, 1000, 12)
    want = np.array([np.concatenate(([numpy_rng.random()], numpy_rng.standard_normal(12))) for _ in range(1000)])
    assert np.array_equal(got, want)
    assert _same_state(kernel_rng.bit_generator.state, numpy_rng.bit_generator.state)
    # the Generator goes on from where the kernel left it, in NumPy too
    assert np.array_equal(kernel_rng.standard_normal(5), numpy_rng.standard_normal(5))


def _oracle(detector, rng, n_samples, error_table):
    """The fused link's draws made one NumPy call at a time, then the detector's own detect and a count."""
    means = detector.means[0]  # [n, Q]
    q = np.empty(n_samples, dtype=np.int64)
    x = np.empty((n_samples, detector.n))
    for i in range(n_samples):
        q[i] = int(rng.random() * detector.n_hypotheses)
        x[i] = means[:, q[i]] + detector.noise_std * rng.standard_normal(detector.n)
    decided = detector.detect_index(detector.adc.encode(x))
    e = error_table[q, decided].astype(np.int64)
    return int(e.sum()), int(np.dot(e, e))


@pytest.mark.parametrize("users, antennas, levels, snr_db", [(4, 12, 8, 4.0), (3, 5, 4, 2.0), (2, 7, 16, 6.0)])
def test_fused_kernel_counts_what_the_detector_counts_on_the_same_draws(users, antennas, levels, snr_db):
    p = Pipeline.from_tables({**TABLES, "source": {"type": "users", "users": users, "constellation": "bpsk"},
                              "channel": {"type": "exponential", "antennas": antennas},
                              "adc": {"type": "uniform_range", "levels": levels, "agc": "fixed"}})
    const = get_constellation("bpsk")
    detector = QMAPDetector(p.channel.draw(1, users, None)[0], 10 ** (-snr_db / 20), p.adc.table_for(antennas),
                            const)
    table = const.bit_error_table(users)
    a, b = np.random.default_rng(11), np.random.default_rng(11)
    got = qmap_link_errors(detector, a, 4000, table)
    assert got == _oracle(detector, b, 4000, table)
    assert got[0] > 50  # enough errors for the comparison to mean something
    assert a.bit_generator.state == b.bit_generator.state


def test_results_do_not_depend_on_the_batch_size_of_the_calls():
    link = Pipeline.from_tables(TABLES).link(3.0)
    one = link(np.random.default_rng(5), 6000)
    rng = np.random.default_rng(5)
    parts = [link(rng, b) for b in (1000, 200, 2800, 2000)]
    assert tuple(one) == tuple(sum(t[i] for t in parts) for i in range(4))
    rng_one = np.random.default_rng(5)
    link(rng_one, 6000)
    assert rng_one.bit_generator.state == rng.bit_generator.state


def test_bad_arguments_are_refused_with_their_names():
    detector = QMAPDetector(np.eye(3, 2), 0.5, Pipeline.from_tables(TABLES).adc.table_for(3))
    table = get_constellation("bpsk").bit_error_table(2)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        qmap_link_errors(detector, np.random.RandomState(0), 10, table)
    with pytest.raises(ValueError, match="n_samples must be >= 0"):
        qmap_link_errors(detector, np.random.default_rng(0), -1, table)
    with pytest.raises(ValueError, match=r"error_table must be \[Q, Q\] = \[4, 4\]"):
        qmap_link_errors(detector, np.random.default_rng(0), 10, table[:2])
    p = Pipeline.from_tables(TABLES)
    with pytest.raises(ValueError, match="draws must be 'kernel' or 'numpy'"):
        p.receiver.fused_link(p, 3.0, draws="torch")


def test_kernel_and_numpy_paths_simulate_the_same_link():
    """Same model, different draws: the two BER estimates agree within their 99.9% intervals (each sample,
    with its 4 bits decided together, is one cluster)."""
    p = Pipeline.from_tables(TABLES)
    rates = []
    for draws, seed in (("kernel", 1), ("numpy", 2)):
        run = p.receiver.fused_link(p, 2.0, draws=draws)
        e, bits, c, sq = run(np.random.default_rng(seed), 200_000)
        ber = e / bits
        var = c / (c - 1) * (sq - 2 * ber * 4 * e + ber**2 * 16 * c) / bits**2  # cluster-robust variance
        rates.append((ber, var))
    (p1, v1), (p2, v2) = rates
    assert p1 > 1e-3
    assert abs(p1 - p2) < 3.29 * math.sqrt(v1 + v2)


def _config():
    return {"study": "link", "seed": 3, **{k: v for k, v in TABLES.items() if k != "receiver"},
            "receiver": {"type": "qmap"},
            "grid": {"snr_db": [1.0, 4.0]},
            "curves": [{"name": "QMAP 8", "adc.levels": 8}, {"name": "QMAP 4", "adc.levels": 4}],
            "stopping": {"target_errors": 400, "min_samples": 5000, "max_samples": 60_000, "batch": 3000}}


def test_sweep_results_are_identical_for_one_and_two_workers(tmp_path):
    cfg = parse_config(_config())
    rows = []
    for workers in (1, 2):
        out = run_sweep(cfg, tmp_path / str(workers), workers=workers, quiet=True, plot=False)
        with open(Path(out) / "results.csv") as f:
            rows.append([{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)])
    assert rows[0] == rows[1] and len(rows[0]) == 4


def test_a_single_threaded_worker_gets_the_same_counts():
    link = Pipeline.from_tables(TABLES).link(3.0)
    free = link(np.random.default_rng(9), 3000)
    with single_threaded():
        assert tuple(link(np.random.default_rng(9), 3000)) == tuple(free)
