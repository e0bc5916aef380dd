import numpy as np
import pytest
from scipy import stats

from hwsim.engine.stats import clopper_pearson_interval, point_seed, wilson_interval


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(10, 100)
    assert np.isclose(lo, 0.05522914, atol=1e-7) and np.isclose(hi, 0.17436566, atol=1e-7)
    assert wilson_interval(0, 1000)[0] == 0.0 and 0 < wilson_interval(0, 1000)[1] < 0.004
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_clopper_pearson_matches_scipy():
    ci = stats.binomtest(7, 250).proportion_ci(0.95, method="exact")
    np.testing.assert_allclose(clopper_pearson_interval(7, 250), (ci.low, ci.high), rtol=1e-10)


def test_wilson_coverage_is_close_to_nominal():
    rng = np.random.default_rng(3)
    p, n, reps = 0.01, 2000, 4000
    k = rng.binomial(n, p, size=reps)
    covered = np.mean([lo <= p <= hi for lo, hi in (wilson_interval(int(e), n) for e in k)])
    assert 0.93 <= covered <= 0.97


def test_interval_arguments_are_checked():
    with pytest.raises(ValueError, match="errors must be <= 10"):
        wilson_interval(11, 10)
    with pytest.raises(ValueError, match="confidence must lie in"):
        wilson_interval(1, 10, confidence=1.0)


def test_point_seed_depends_on_parameters_not_on_order():
    a = np.random.default_rng(point_seed(1, curve="MAP", snr_db=6.0)).random()
    b = np.random.default_rng(point_seed(1, snr_db=6.0, curve="MAP")).random()
    c = np.random.default_rng(point_seed(1, curve="MAP", snr_db=7.0)).random()
    d = np.random.default_rng(point_seed(2, curve="MAP", snr_db=6.0)).random()
    assert a == b and len({a, c, d}) == 3


def test_wilson_lower_end_far_below_one_over_n_does_not_cancel():
    """An importance-sampled rate of 1e-190 in 4000 effective trials: the lower end used to be centre - half,
    which cancels to rounding noise (5.4e-20, far above the estimate); it is the roots' product over the upper
    end, so the estimate lies in its interval."""
    from hwsim.engine.stats import effective_interval

    for p, n in [(1.5e-190, 4000.0), (1e-30, 4000.0), (3e-12, 1e6)]:
        lo, hi = effective_interval(p * n, n)
        assert 0.0 <= lo <= p <= hi
        z2 = stats.norm.ppf(0.975) ** 2
        assert lo == pytest.approx(p * p / ((1 + z2 / n) * hi), rel=1e-9)  # the product of the two roots
    # where nothing cancels, the same as the textbook centre - half (to rounding)
    n, e = 1000, 30
    z = stats.norm.ppf(0.975)
    centre = (e / n + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(e / n * (1 - e / n) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert wilson_interval(e, n) == pytest.approx((centre - half, centre + half), rel=1e-12)
