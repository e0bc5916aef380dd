"""Converter impairments, measured tables and IEEE 1241 figures of merit (hwsim.converters.impairments); fixed seeds."""

import math

import numpy as np
import pytest
from scipy.stats import norm

from hwsim.converters.adc import ThresholdADC, UniformADC
from hwsim.converters.impairments import ImpairedADC, dnl_inl, from_transition_levels, sine_test, table_lsb

SEED = 20261125


def _table(m=16, seed=SEED):
    rng = np.random.default_rng(seed)
    return ThresholdADC(np.sort(rng.uniform(-2, 2, size=m - 1)), rng.normal(size=m))


# ------------------------------------------------------------------ the ideal case
@pytest.mark.parametrize("make", [lambda: UniformADC(8, 2.0), lambda: _table(16), lambda: _table(300)])
def test_no_impairment_gives_exactly_the_ideal_codes(make):
    table = make()
    rng = np.random.default_rng(SEED)
    z = rng.normal(scale=2.0, size=(50_000, 5))
    z[: table.n_levels - 1, 0] = table.thresholds                        # on a threshold: the upper cell
    z[: table.n_levels - 1, 1] = np.nextafter(table.thresholds, -np.inf)  # just below
    z[0, 2], z[1, 2] = -np.inf, np.inf
    for adc in (ImpairedADC(table, 5), ImpairedADC(table, 5, rng=np.random.default_rng(1))):
        codes = adc.encode(z, np.random.default_rng(2))
        assert codes.dtype == np.int32 and codes.shape == z.shape
        np.testing.assert_array_equal(codes, table.encode(z))
        np.testing.assert_array_equal(adc.decode(codes), table.quantize(z))
        np.testing.assert_array_equal(adc.quantize(z), table.quantize(z))
        np.testing.assert_array_equal(adc.transition_levels, np.broadcast_to(table.thresholds, (5, table.n_levels - 1)))


def test_lsb_definition():
    assert table_lsb(UniformADC(8, 2.0)) == 0.5
    t = ThresholdADC([0.0, 1.0, 3.0], [0, 1, 2, 3])     # mean spacing (3 - 0) / 2
    assert table_lsb(t) == pytest.approx(1.5)
    assert ImpairedADC(t, 1).lsb == pytest.approx(1.5)
    assert ImpairedADC(t, 1, lsb=0.1).lsb == 0.1
    assert table_lsb(t, full_scale=(-4.0, 4.0)) == 2.0


# ------------------------------------------------------------------ static impairments
def test_gain_and_offset_error_move_the_transition_levels():
    table = UniformADC(16, 1.0)
    lsb = table.step
    adc = ImpairedADC(table, 2, gain_error=0.05, offset_error=0.3)
    expected = (table.thresholds - 0.3 * lsb) / 1.05
    np.testing.assert_allclose(adc.transition_levels, np.broadcast_to(expected, (2, 15)), rtol=0, atol=1e-12)
    eps = 1e-9
    above = adc.encode(np.repeat((expected + eps)[:, None], 2, axis=1))
    below = adc.encode(np.repeat((expected - eps)[:, None], 2, axis=1))
    np.testing.assert_array_equal(above[:, 0], np.arange(1, 16))
    np.testing.assert_array_equal(below[:, 0], np.arange(0, 15))
    dnl, inl = dnl_inl(adc.converter_table(0))
    np.testing.assert_allclose(dnl, 0, atol=1e-9)           # gain and offset are linear: no DNL, no INL
    np.testing.assert_allclose(inl, 0, atol=1e-9)


def test_comparator_offsets_make_dnl_non_zero_with_the_expected_spread():
    table = UniformADC(256, 1.0)
    sigma = 0.2
    adc = ImpairedADC(table, 3, offset_lsb=sigma, rng=np.random.default_rng(SEED))
    assert not np.array_equal(adc.transition_levels[0], adc.transition_levels[1])   # per converter
    for j in range(3):
        dnl, inl = dnl_inl(adc.converter_table(j))
        assert dnl.shape == (254,) and inl.shape == (255,)
        # a code width is the difference of two independent offsets: DNL std ~ sqrt(2) sigma
        assert 0.8 * math.sqrt(2) * sigma < dnl.std() < 1.2 * math.sqrt(2) * sigma
        assert abs(inl[0]) < 1e-12 and abs(inl[-1]) < 1e-12
        np.testing.assert_allclose(np.cumsum(dnl), inl[1:], atol=1e-9)
    # static: drawn once at construction; the same seed gives the same converter
    again = ImpairedADC(table, 3, offset_lsb=sigma, rng=np.random.default_rng(SEED))
    np.testing.assert_array_equal(again.transition_levels, adc.transition_levels)


def test_offsets_that_reorder_comparators_count_the_comparators_that_fire():
    table = ThresholdADC([0.0, 0.01, 0.02], [0, 1, 2, 3])
    adc = ImpairedADC(table, 1, offset_lsb=5.0, rng=np.random.default_rng(3), lsb=0.01)
    refs = adc.references[0]
    x = np.linspace(-0.2, 0.2, 4001)
    expected = (x[:, None] >= refs[None, :]).sum(1)
    np.testing.assert_array_equal(adc.encode(x[:, None])[:, 0], expected)
    assert np.all(np.diff(adc.encode(x[:, None])[:, 0]) >= 0)   # a monotone transfer curve


def test_mismatch_shifts_each_converter_as_a_whole():
    table = UniformADC(32, 1.0)
    lsb = table.step
    adc = ImpairedADC(table, 400, mismatch_lsb=0.5, rng=np.random.default_rng(SEED))
    shift = (adc.transition_levels - table.thresholds) / lsb          # [p, M-1]
    np.testing.assert_allclose(shift, np.broadcast_to(shift[:, :1], shift.shape), atol=1e-9)
    # 400 draws: the sample std is within +-15 % of 0.5 with overwhelming probability (sd ~3.5 %)
    assert 0.425 < shift[:, 0].std() < 0.575
    assert abs(shift[:, 0].mean()) < 5 * 0.5 / math.sqrt(400)


# ------------------------------------------------------------------ thermal noise
def test_thermal_noise_has_the_stated_sigma():
    table = UniformADC(8, 2.0)
    lsb = table.step
    sigma = 0.4
    adc = ImpairedADC(table, 2, noise_lsb=sigma)
    n = 200_000
    t = table.thresholds[3]
    # converter 0 at the threshold, converter 1 one noise sigma above it
    z = np.tile([t, t + sigma * lsb], (n, 1))
    codes = adc.encode(z, np.random.default_rng(SEED))
    frac_up = (codes >= 4).mean(axis=0)
    for got, p in zip(frac_up, (0.5, norm.cdf(1.0))):
        assert abs(got - p) < 5 * math.sqrt(p * (1 - p) / n)
    # fresh noise per conversion, reproducible with the same generator
    np.testing.assert_array_equal(codes, adc.encode(z, np.random.default_rng(SEED)))
    assert not np.array_equal(codes, adc.encode(z, np.random.default_rng(SEED + 1)))


def test_thermal_noise_lowers_enob():
    table = UniformADC(256, 1.0)
    clean = sine_test(table, amplitude=0.99, rng=np.random.default_rng(SEED))
    noisy = sine_test(ImpairedADC(table, 1, noise_lsb=1.0), amplitude=0.99, rng=np.random.default_rng(SEED))
    # noise of 1 LSB adds 12x the quantization noise power: ENOB drops by log2(sqrt(13)) ~ 1.85 bits
    assert 1.5 < clean["enob"] - noisy["enob"] < 2.2


# ------------------------------------------------------------------ measured tables, DNL/INL, sine test
def test_from_transition_levels():
    adc = from_transition_levels([0.0, 1.0, 3.0], [10, 20, 30, 40])
    np.testing.assert_array_equal(adc.thresholds, [0.0, 1.0, 3.0])
    np.testing.assert_array_equal(adc.levels, [10, 20, 30, 40])
    mid = from_transition_levels([0.0, 1.0, 3.0])
    np.testing.assert_allclose(mid.levels, [-0.5, 0.5, 2.0, 4.0])
    with pytest.raises(ValueError, match="strictly increasing.*missing or reordered code"):
        from_transition_levels([0.0, 2.0, 1.0], [0, 1, 2, 3])
    with pytest.raises(ValueError, match="finite"):
        from_transition_levels([0.0, np.nan], [0, 1, 2])
    with pytest.raises(ValueError, match="len\\(levels\\) - 1"):
        from_transition_levels([0.0, 1.0], [0, 1])
    with pytest.raises(ValueError, match="dimensions"):
        from_transition_levels([[0.0, 1.0]], [0, 1, 2])
    with pytest.raises(ValueError, match="levels must be given"):
        from_transition_levels([0.0])


def test_dnl_inl_known_values():
    dnl, inl = dnl_inl(ThresholdADC([0.0, 1.0, 3.0, 4.0], [0, 1, 2, 3, 4]))
    np.testing.assert_allclose(dnl, [-0.25, 0.5, -0.25])          # widths 1, 2, 1 over Q = 4/3
    np.testing.assert_allclose(inl, [0.0, -0.25, 0.25, 0.0], atol=1e-15)
    d2, i2 = dnl_inl(np.array([0.0, 1.0, 3.0, 4.0]))               # transition levels directly
    np.testing.assert_array_equal(d2, dnl)
    np.testing.assert_array_equal(i2, inl)
    dnl, inl = dnl_inl(UniformADC(8, 2.0))
    assert dnl.shape == (6,) and inl.shape == (7,)
    np.testing.assert_allclose(dnl, 0, atol=1e-12)
    np.testing.assert_allclose(inl, 0, atol=1e-12)
    with pytest.raises(ValueError, match="at least 3 levels"):
        dnl_inl(UniformADC(2, 1.0))


def test_sine_test_of_an_ideal_3_bit_converter():
    r = sine_test(UniformADC(8, 2.0), amplitude=1.99, n_samples=4096, cycles=67, rng=np.random.default_rng(SEED))
    assert 2.85 < r["enob"] < 3.15 and 2.85 < r["enob_ieee1241"] < 3.15
    assert r["sinad_db"] == pytest.approx(6.02 * r["enob"] + 1.76)
    assert r["fitted_amplitude"] == pytest.approx(1.99, rel=0.06) and abs(r["fitted_offset"]) < 0.02


@pytest.mark.parametrize("seed", range(3))
def test_sine_test_of_an_ideal_10_bit_converter(seed):
    r = sine_test(UniformADC(1024, 1.0), amplitude=0.999, n_samples=8192, cycles=1031,
                  rng=np.random.default_rng(seed))
    assert 9.95 < r["enob"] < 10.05
    # the ideal SINAD of a full-scale sine is 6.02 N + 1.76 dB
    assert r["sinad_db"] == pytest.approx(6.02 * 10 + 1.76, abs=0.3)


def test_sine_test_sees_comparator_offsets():
    table = UniformADC(64, 1.0)
    ideal = sine_test(table, amplitude=0.99, rng=np.random.default_rng(SEED))["enob"]
    bad = ImpairedADC(table, 1, offset_lsb=0.5, rng=np.random.default_rng(SEED))
    assert sine_test(bad.converter_table(0), amplitude=0.99, rng=np.random.default_rng(SEED))["enob"] < ideal - 0.2


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(amplitude=0.0), ValueError, "amplitude must be > 0"),
    (dict(amplitude=1.0, n_samples=4096, cycles=64), ValueError, "coprime"),
    (dict(amplitude=1.0, n_samples=100, cycles=51), ValueError, "Nyquist"),
    (dict(amplitude=1.0, n_samples=8), ValueError, "n_samples must be >= 16"),
    (dict(amplitude=1.0, cycles=0), ValueError, "cycles must be >= 1"),
    (dict(amplitude=1.0, rng=0), TypeError, "rng must be a numpy.random.Generator"),
])
def test_sine_test_validates(kwargs, exc, match):
    kwargs.setdefault("rng", np.random.default_rng(0))
    with pytest.raises(exc, match=match):
        sine_test(UniformADC(8, 1.0), **kwargs)
    with pytest.raises(TypeError, match="adc must be"):
        sine_test([1, 2], amplitude=1.0, rng=np.random.default_rng(0))


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(n_converters=0), ValueError, "n_converters must be >= 1"),
    (dict(offset_lsb=-0.1), ValueError, "offset_lsb must be >= 0"),
    (dict(noise_lsb=float("nan")), ValueError, "noise_lsb must be finite"),
    (dict(gain_error=-1.0), ValueError, "gain_error must be > -1"),
    (dict(mismatch_lsb=-1.0), ValueError, "mismatch_lsb must be >= 0"),
    (dict(offset_lsb=0.1), TypeError, "rng must be a numpy.random.Generator"),
    (dict(offset_lsb=0.1, rng=42), TypeError, "rng must be a numpy.random.Generator"),
    (dict(lsb=0.0), ValueError, "lsb must be > 0"),
])
def test_impaired_adc_validates(kwargs, exc, match):
    kwargs.setdefault("n_converters", 2)
    with pytest.raises(exc, match=match):
        ImpairedADC(UniformADC(8, 1.0), **kwargs)
    with pytest.raises(TypeError, match="table must be"):
        ImpairedADC(np.zeros(3), 2)


def test_encode_validates():
    adc = ImpairedADC(UniformADC(8, 1.0), 2, noise_lsb=0.1)
    with pytest.raises(ValueError, match=r"shape \[B, 2\]"):
        adc.encode(np.zeros((4, 3)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="NaN"):
        adc.encode(np.full((1, 2), np.nan), np.random.default_rng(0))
    with pytest.raises(TypeError, match="rng must be"):
        adc.encode(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="j must be <= 1"):
        adc.converter_table(2)
