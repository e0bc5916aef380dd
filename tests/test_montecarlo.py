import numpy as np
import pytest

from hwsim.engine.montecarlo import StoppingRule, Tally, estimate
from hwsim.engine.stats import clopper_pearson_interval, wilson_interval


def bernoulli_link(p):
    def link(rng, batch):
        return int(rng.binomial(batch, p)), batch
    return link


def test_stops_at_target_errors_after_min_samples():
    rule = StoppingRule(max_samples=10**8, target_errors=100, min_samples=50_000, batch=1000)
    est = estimate(bernoulli_link(0.01), np.random.default_rng(1), rule)
    assert est.stop == "target_errors" and est.errors >= 100 and est.samples >= 50_000
    assert est.samples < 60_000  # stopped as soon as both rules allowed
    assert est.ci_low <= 0.01 <= est.ci_high and est.ci_low < est.estimate < est.ci_high


def test_stops_at_max_samples_and_reports_zero_errors_honestly():
    rule = StoppingRule(max_samples=20_000, target_errors=10, min_samples=0, batch=3000)
    est = estimate(bernoulli_link(0.0), np.random.default_rng(2), rule)
    assert est.stop == "max_samples" and est.errors == 0 and est.samples == 21_000
    assert est.ci_low == 0.0 and 0 < est.ci_high < 3.7 / 20_000


def test_relative_half_width_rule():
    rule = StoppingRule(max_samples=10**8, target_errors=None, rel_halfwidth=0.05, min_samples=0, batch=2000,
                        interval="clopper-pearson")
    est = estimate(bernoulli_link(0.02), np.random.default_rng(3), rule)
    assert est.stop == "rel_halfwidth"
    assert (est.ci_high - est.ci_low) / 2 <= 0.05 * est.estimate


@pytest.mark.parametrize("per_trial", [True, False])
def test_mse_interval_covers_the_true_mean(per_trial):
    def link(rng, batch):
        e = rng.standard_normal(batch) ** 2  # mean 1, variance 2
        return (e.sum(), (e**2).sum(), batch) if per_trial else (e.sum(), batch)

    rule = StoppingRule(max_samples=20_000, target_errors=None, min_samples=0, batch=1000)
    rng = np.random.default_rng(4)
    covered = [(lambda r: r.ci_low <= 1.0 <= r.ci_high)(estimate(link, rng, rule, "mse")) for _ in range(300)]
    assert 0.91 <= np.mean(covered) <= 0.985  # nominal 95%; 300 runs: +-3.8 sigma band


def test_mse_relative_half_width_waits_for_enough_batches():
    def link(rng, batch):
        e = rng.standard_normal(batch) ** 2
        return e.sum(), batch

    rule = StoppingRule(max_samples=10**7, target_errors=None, rel_halfwidth=0.5, min_samples=0, batch=10_000,
                        min_batches=10)
    est = estimate(link, np.random.default_rng(5), rule, "mse")
    assert est.stop == "rel_halfwidth" and est.calls == 10


def test_bad_links_and_rules_are_reported():
    rule = StoppingRule(max_samples=10, min_samples=0, batch=5)
    with pytest.raises(ValueError, match="0 <= errors <= trials"):
        estimate(lambda rng, b: (6, 5), np.random.default_rng(0), rule)
    with pytest.raises(ValueError, match=r"\(sum, count\), \(sum, sum_sq, count\) or a Tally"):
        estimate(lambda rng, b: (1.0,), np.random.default_rng(0), rule, "mse")
    with pytest.raises(ValueError, match="metric must be one of"):
        estimate(lambda rng, b: (0, 1), np.random.default_rng(0), rule, "ber")
    with pytest.raises(ValueError, match="min_samples must be <= 10"):
        StoppingRule(max_samples=10, min_samples=11)
    with pytest.raises(ValueError, match="interval must be one of"):
        StoppingRule(interval="normal")


def test_a_rate_link_without_trials_is_refused():
    with pytest.raises(ValueError, match="trials > 0"):
        estimate(lambda rng, b: (0, 0), np.random.default_rng(0), StoppingRule(max_samples=10, min_samples=0))


# --------------------------------------------------------------------- clustered intervals
SNR = 10.0  # linear Es/N0 of the Rayleigh-faded BPSK link below
RAYLEIGH_BER = 0.5 * (1 - np.sqrt(SNR / (1 + SNR)))  # closed form, coherent BPSK over flat Rayleigh fading


def rayleigh_frames_link(frame_len=100):
    """BPSK whose frames of ``frame_len`` bits share one Rayleigh gain: bits of a frame are not independent."""
    def link(rng, batch):
        frames = -(-batch // frame_len)
        gain = np.sqrt(rng.exponential(size=(frames, 1)))
        noise = rng.standard_normal((frames, frame_len)) / np.sqrt(2 * SNR)
        errors = (gain + noise < 0).sum(axis=1)  # all-ones symbols: by symmetry the BER is the same
        return Tally.of(errors, frame_len)
    return link


def test_clustered_interval_covers_the_closed_form_and_the_per_bit_one_does_not():
    rule = StoppingRule(max_samples=40_000, target_errors=None, min_samples=0, batch=4000)
    rng = np.random.default_rng(2024)
    ests = [estimate(rayleigh_frames_link(), rng, rule) for _ in range(200)]
    covered = np.mean([e.ci_low <= RAYLEIGH_BER <= e.ci_high for e in ests])
    per_bit = np.mean([(lambda lo, hi: lo <= RAYLEIGH_BER <= hi)(*wilson_interval(e.errors, e.samples))
                       for e in ests])
    assert all(e.interval == "wilson (clustered)" and e.clusters == 400 for e in ests)
    assert 0.90 <= covered <= 0.98, covered
    assert per_bit < 0.80, per_bit  # what the per-bit Wilson interval claimed before


def test_clustered_stopping_rule_uses_the_clustered_interval():
    rule = StoppingRule(max_samples=10**7, target_errors=None, rel_halfwidth=0.1, min_samples=0, batch=2000)
    est = estimate(rayleigh_frames_link(), np.random.default_rng(5), rule)
    assert est.stop == "rel_halfwidth" and (est.ci_high - est.ci_low) / 2 <= 0.1 * est.estimate
    lo, hi = wilson_interval(est.errors, est.samples)
    assert hi - lo < (est.ci_high - est.ci_low) / 3  # the per-bit interval would have stopped far earlier


@pytest.mark.parametrize("kind, fn", [("wilson", wilson_interval), ("clopper-pearson", clopper_pearson_interval)])
def test_independent_bernoulli_trials_keep_their_exact_interval(kind, fn):
    rule = StoppingRule(max_samples=50_000, target_errors=None, min_samples=0, batch=5000, interval=kind)
    est = estimate(bernoulli_link(0.003), np.random.default_rng(8), rule)
    assert (est.ci_low, est.ci_high) == fn(est.errors, est.samples)
    assert est.interval == kind and est.clusters == est.samples

    def clustered(rng, batch):  # the same trials reported as clusters of one: the design effect stays 1
        e = rng.binomial(1, 0.003, size=batch)
        return Tally.of(e, 1)

    c = estimate(clustered, np.random.default_rng(8), rule)
    lo, hi = fn(c.errors, c.samples)
    assert c.ci_low == pytest.approx(lo, rel=1e-3) and c.ci_high == pytest.approx(hi, rel=1e-3)


def test_a_rate_with_no_error_keeps_the_independent_bound_and_bad_tallies_are_refused():
    rule = StoppingRule(max_samples=10_000, target_errors=None, min_samples=0, batch=1000)
    est = estimate(lambda rng, b: Tally.of(np.zeros(10), 100), np.random.default_rng(0), rule)
    assert est.ci_low == 0.0 and est.ci_high == wilson_interval(0, 10_000)[1]
    with pytest.raises(ValueError, match="equal size"):
        estimate(lambda rng, b: Tally(1.0, 10, 3, 1.0), np.random.default_rng(0), rule)
    with pytest.raises(ValueError, match="0 <= errors <= trials"):
        estimate(lambda rng, b: Tally(11.0, 10, 2, 61.0), np.random.default_rng(0), rule)
    with pytest.raises(ValueError, match="same kind of counts"):
        calls = iter([(1, 10), Tally(1.0, 10, 2, 1.0)])
        estimate(lambda rng, b: next(calls), np.random.default_rng(0), rule)


def test_batch_is_bounded_and_every_shipped_config_stays_within_the_bound():
    """stopping.batch = 1e10 used to reach a 149 GiB allocation; it is refused when the rule is made,
    naming the key, the value and the limit."""
    import tomllib

    from hwsim.engine.montecarlo import MAX_BATCH
    from hwsim.engine.sweep import CONFIG_DIR, parse_config

    assert StoppingRule(batch=MAX_BATCH).batch == MAX_BATCH
    with pytest.raises(ValueError, match=rf"stopping\.batch = 10000000000 is more than the limit of {MAX_BATCH}"):
        StoppingRule(batch=10**10)
    data = tomllib.loads((CONFIG_DIR / "ber_snr.toml").read_text())
    data["stopping"]["batch"] = 1e10
    with pytest.raises(ValueError, match=r"stopping\.batch = 10000000000 .*MAX_BATCH"):
        parse_config(data)
    for path in sorted(CONFIG_DIR.glob("*.toml")):
        data = tomllib.loads(path.read_text())
        for table in (data.get("stopping", {}), data.get("quick", {}).get("stopping", {})):
            assert table.get("batch", StoppingRule().batch) <= MAX_BATCH, path.name
