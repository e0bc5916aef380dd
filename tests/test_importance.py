"""Importance sampling of rare error events (hwsim.engine.importance): exactness, honest intervals,
agreement with plain Monte Carlo, the degeneracy fallback, and the sweep's ``estimator`` key."""

import csv
import math
import tomllib
import warnings

import numpy as np
import pytest
from scipy.stats import norm

from hwsim.engine import importance
from hwsim.engine.montecarlo import StoppingRule, estimate
from hwsim.engine.sweep import CONFIG_DIR, parse_config, run_sweep
from hwsim.pipeline import Pipeline

SEED001 = {"source": {"type": "users", "users": 4, "constellation": "bpsk"},
           "channel": {"type": "exponential", "antennas": 12, "frame_len": 100}, "receiver": {"type": "map"}}
QMAP8 = {**SEED001, "receiver": {"type": "qmap"}, "adc": {"type": "uniform_range", "levels": 8, "gamma": 2.0}}
BPSK_AWGN = {"source": {"type": "users", "users": 1, "constellation": "bpsk"},
             "channel": {"type": "awgn", "antennas": 1, "frame_len": 100}, "receiver": {"type": "zf"}}


def _rule(**kw):
    return StoppingRule(**{"max_samples": 10**7, "batch": 10_000, "min_samples": 0, "confidence": 0.999,
                           "rel_halfwidth": 0.05, **kw})


@pytest.mark.parametrize("ber", [1e-6, 1e-9])
def test_bpsk_awgn_matches_the_closed_form(ber):
    """Q(sqrt(2 Es/N0)) inside the 99.9% interval, reached with a few ten thousand channel uses."""
    snr_db = 10 * math.log10(norm.isf(ber) ** 2 / 2)
    e = estimate(Pipeline.from_tables(BPSK_AWGN).link(snr_db, "importance"), np.random.default_rng(5), _rule())
    assert e.ci_low <= ber <= e.ci_high
    assert (e.ci_high - e.ci_low) / 2 <= 0.05 * e.estimate and e.stop == "rel_halfwidth"
    assert e.samples <= 200_000  # plain Monte Carlo would need about 1e12 trials at 1e-9
    assert e.ess > importance.MIN_ESS and "importance" in e.interval


def _agree(a, b):
    """Two estimates' difference lies within their intervals combined as independent errors."""
    half = math.hypot((a.ci_high - a.ci_low) / 2, (b.ci_high - b.ci_low) / 2)
    return abs(a.estimate - b.estimate) <= half


@pytest.mark.parametrize("tables, snr_db", [(SEED001, 10.0), (QMAP8, 12.0)])
def test_seed001_agrees_with_plain_monte_carlo(tables, snr_db):
    p = Pipeline.from_tables(tables)
    weighted = estimate(p.link(snr_db, "importance"), np.random.default_rng(1), _rule())
    plain = estimate(p.link(snr_db), np.random.default_rng(2), _rule(rel_halfwidth=None, target_errors=3000,
                                                                       batch=100_000, max_samples=10**8))
    assert 1e-5 < plain.estimate < 1e-2
    assert _agree(weighted, plain), (weighted, plain)


def test_fading_qam_link_agrees_with_plain_monte_carlo():
    """Complex noise, frames that share a channel draw (clusters), and the users' nearest-neighbour events
    (16-QAM, 3 users: 4095 competing vectors, more than MAX_EVENTS)."""
    tables = {"source": {"type": "users", "users": 3, "constellation": "qam16"},
              "channel": {"type": "rayleigh", "antennas": 8, "frame_len": 50}, "receiver": {"type": "lmmse"}}
    p = Pipeline.from_tables(tables)
    weighted = estimate(p.link(16.0, "importance"), np.random.default_rng(3), _rule(rel_halfwidth=0.1))
    plain = estimate(p.link(16.0), np.random.default_rng(4), _rule(rel_halfwidth=None, target_errors=3000,
                                                                     batch=50_000, max_samples=10**8))
    assert 16**3 - 1 > importance.MAX_EVENTS
    assert _agree(weighted, plain), (weighted, plain)
    assert weighted.clusters * 50 * 3 * 4 == weighted.samples  # clusters are frames


@pytest.mark.parametrize("tables", [SEED001, BPSK_AWGN])
def test_mean_weight_is_one(tables):
    """E_q[p/q] = 1: the weights are exact likelihood ratios of the mixture actually drawn."""
    p = Pipeline.from_tables(tables)
    counts = p.link(9.0, "importance")(np.random.default_rng(0), 200_000)
    mean = counts.weight_sum / counts.samples
    sd = math.sqrt(counts.weight_sq / counts.samples - mean**2) / math.sqrt(counts.samples)
    assert abs(mean - 1) < 5 * sd
    assert counts.weight_sq / counts.samples <= 1 / importance.DEFENSIVE**2  # w <= 1/alpha
    assert importance.mean_weight_check(counts.weight_sum, counts.weight_sq, counts.samples) == ""
    assert importance.mean_weight_check(1.2 * counts.weight_sum, counts.weight_sq, counts.samples) != ""


def test_degenerate_weights_fall_back_to_plain_monte_carlo(monkeypatch):
    """QMAP's high-SNR errors come from the converters, not from noise toward the ML boundaries: the
    weights degenerate, the sampler warns and the point is re-run with plain Monte Carlo."""
    monkeypatch.setattr(importance, "DEGENERATE_HITS", 200)
    p = Pipeline.from_tables(QMAP8)
    with pytest.warns(RuntimeWarning, match="degenerated"):
        e = estimate(p.link(20.0, "importance"), np.random.default_rng(0), _rule(max_samples=400_000))
    assert e.stop.endswith("(plain: importance weights degenerate)") and e.ess is None
    assert e.samples == 400_000 and e.interval.startswith("wilson") and "importance" not in e.interval


def test_zero_errors_give_an_upper_bound_from_the_plain_draws():
    """With no weighted error the upper end is the Clopper-Pearson bound of the clusters that held a plain
    draw (here: single channel uses, about 10% of them)."""
    assert importance.zero_error_upper(0, 0.95) == 1.0
    assert importance.zero_error_upper(1000, 0.95) == pytest.approx(-math.log(0.025) / 1000, rel=2e-3)
    p = Pipeline.from_tables(BPSK_AWGN)
    counts = p.link(30.0, "importance")(np.random.default_rng(0), 20_000)
    assert counts.total == 0.0 and abs(counts.plain_clusters - 2000) < 5 * math.sqrt(2000 * 0.09)
    e = estimate(p.link(30.0, "importance"), np.random.default_rng(0), _rule(max_samples=20_000, batch=20_000))
    # the same draws as above; Q(sqrt(2000)) underflows every weight: no weighted error, the bound of ~2000 plain channel uses
    assert e.estimate == 0.0 and e.ci_low == 0.0
    assert e.ci_high == pytest.approx(importance.zero_error_upper(counts.plain_clusters, 0.999))


def test_sweep_estimator_key_and_results_column(tmp_path):
    """The shipped ber_rare sweep's MAP curves (its QMAP curves degenerate at high SNR: tested above)."""
    data = tomllib.loads((CONFIG_DIR / "ber_rare.toml").read_text())
    data["curves"] = [c for c in data["curves"] if c.get("receiver", "map") == "map"]
    data["quick"]["grid"] = {"snr_db": [10.0, 18.0]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no degeneracy on these points
        run_sweep(parse_config(data, quick=True), tmp_path, workers=1, quiet=True, plot=False)
    rows = {(r["curve"], r["snr_db"]): r for r in csv.DictReader(open(tmp_path / "results.csv"))}
    rare = rows[("MAP, importance sampling", "18.0")]
    assert 1e-16 < float(rare["ber"]) < 1e-12 and float(rare["ess"]) > importance.MIN_ESS
    assert rare["stop"] == "rel_halfwidth" and rare["interval"] == "wilson (importance, effective size)"
    plain = rows[("MAP, plain Monte Carlo", "18.0")]
    assert plain["ber"] == "0.0" and plain["ess"] == ""
    low = [rows[(c, "10.0")] for c in ("MAP, importance sampling", "MAP, plain Monte Carlo")]
    a, b = ((float(r["ber"]), float(r["ci_low"]), float(r["ci_high"])) for r in low)
    assert abs(a[0] - b[0]) <= math.hypot(a[2] - a[1], b[2] - b[1]) / 2


@pytest.mark.parametrize("curve, match", [
    ({"name": "x", "estimator": "weighted"}, "estimator must be one of plain, importance"),
])
def test_bad_estimator_is_refused(curve, match):
    data = {"study": "link", "seed": 1, "grid": {"snr_db": [5.0]}, "curves": [curve]}
    with pytest.raises(ValueError, match=match):
        parse_config(data)


def test_importance_on_an_estimation_link_is_refused():
    data = {"study": "link", "seed": 1, "source": {"type": "gaussian"}, "receiver": {"type": "vq"},
            "metric": {"type": "mse"}, "grid": {"rate": [1.0]}, "curves": [{"name": "x", "estimator": "importance"}]}
    with pytest.raises(ValueError, match="an estimation link has no error events"):
        parse_config(data)


# --------------------------------------------------------------------------- small budgets (issue 29, item 3)
def _small(max_samples):
    return StoppingRule(max_samples=max_samples, batch=100, min_samples=0, rel_halfwidth=0.1)


def test_weighted_errors_too_small_to_square_fall_back_to_plain_monte_carlo():
    """MAP at 30 dB on 4000 bits: every weighted error is about 1e-190, whose square underflows to 0, so the
    spread of the weights is unknown. Before: estimate 1.5e-190 outside its own 'interval' [5.4e-20, 9.6e-4]
    (no spread measured, and Wilson's lower end computed as centre - half, all rounding noise)."""
    link = Pipeline.from_tables(SEED001).link(30.0, "importance")
    with pytest.warns(RuntimeWarning, match="too small to square"):
        e = estimate(link, np.random.default_rng(0), _small(4000))
    assert e.ci_low <= e.estimate <= e.ci_high
    assert e.ess is None and e.stop == "max_samples (plain: importance weights underflow)"
    assert e.interval.startswith("wilson") and "importance" not in e.interval
    assert e.estimate == 0.0 and e.ci_high == pytest.approx(3.69 / 4000, rel=0.05)  # 95% bound of 0 in 4000 bits


def test_one_effective_error_at_max_samples_falls_back_to_plain_monte_carlo():
    """QMAP at 16 dB on 400 bits: one trial's weight carries the estimate (Kish ESS 1.19). Before, the point
    kept it, 1.8e-7 with an interval [3.5e-8, 9.0e-7] that other seeds miss by orders of magnitude."""
    link = Pipeline.from_tables(QMAP8).link(16.0, "importance")
    with pytest.warns(RuntimeWarning, match=r"reached max_samples = 400 with 1\.\d effective error events"):
        e = estimate(link, np.random.default_rng(2), _small(400))
    assert e.ess is None and e.stop == "max_samples (plain: importance weights too few)"
    assert e.ci_low <= e.estimate <= e.ci_high and e.samples == 400


def test_a_healthy_point_that_reaches_max_samples_keeps_its_importance_estimate():
    """MAP at 12 dB on 4000 bits: over a hundred effective error events, so its interval stands."""
    link = Pipeline.from_tables(SEED001).link(12.0, "importance")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e = estimate(link, np.random.default_rng(0), _small(4000))
    assert e.stop == "max_samples" and e.ess > importance.MIN_ESS and "importance" in e.interval
    assert e.ci_low < e.estimate < e.ci_high and 3e-5 < e.estimate < 1.5e-4


def test_a_small_budget_sweep_writes_points_inside_their_intervals_and_plots(tmp_path):
    """The sweep of issue 29: importance sampling at 12, 24 and 30 dB with max_samples = 4000. Before, the
    30 dB row was 1.5e-190 in [5.4e-20, 9.6e-4] (so the plot failed: "'yerr' must not contain negative
    values"), and at 24 dB 6.7e-50 from 26 effective error events."""
    from hwsim.engine.plotting import plot_sweep

    data = {"study": "link", "seed": 11, **SEED001, "grid": {"snr_db": [12.0, 24.0, 30.0]},
            "curves": [{"name": "MAP, importance sampling", "estimator": "importance"}],
            "stopping": {"max_samples": 4000, "batch": 100, "min_samples": 0, "rel_halfwidth": 0.1}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the fallbacks' warnings
        run_sweep(parse_config(data), tmp_path, workers=1, quiet=True, plot=False)
    rows = {r["snr_db"]: r for r in csv.DictReader(open(tmp_path / "results.csv"))}
    for r in rows.values():
        assert float(r["ci_low"]) <= float(r["ber"]) <= float(r["ci_high"]), r
        assert r["ess"] == "" or float(r["ess"]) >= importance.MIN_ESS, r
    assert rows["12.0"]["interval"] == "wilson (importance, effective size)"
    assert rows["30.0"]["stop"].endswith("(plain: importance weights underflow)")
    assert [p.name for p in plot_sweep(tmp_path, formats=("png",))] == ["plot.png"]
