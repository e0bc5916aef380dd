import numpy as np
import pytest

from hwsim.montecarlo import StoppingRule, estimate


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
    with pytest.raises(ValueError, match=r"\(sum, count\) or \(sum, sum_sq, count\)"):
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
