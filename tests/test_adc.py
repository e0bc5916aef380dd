import numpy as np
import pytest
import torch

from hwsim.converters.adc import DitheredADC, ThresholdADC, UniformADC

RNG_SEED = 20261123


def test_uniform_adc_table_matches_mid_rise_formula():
    adc = UniformADC(4, 2.0)
    np.testing.assert_allclose(adc.thresholds, [-1.0, 0.0, 1.0])
    np.testing.assert_allclose(adc.levels, [-1.5, -0.5, 0.5, 1.5])
    assert adc.step == 1.0 and adc.n_levels == 4 and adc.bits == 2.0
    # clipping beyond the support, a value on a threshold goes up
    np.testing.assert_allclose(adc.quantize(np.array([-9.0, -1.0, 0.0, 0.99, 1e9])), [-1.5, -0.5, 0.5, 0.5, 1.5])


def test_one_bit_is_sign():
    adc = UniformADC(2, 3.0)
    x = np.array([-2.0, -1e-12, 0.0, 4.0])
    np.testing.assert_array_equal(adc.encode(x), [0, 0, 1, 1])
    np.testing.assert_allclose(adc.quantize(x), [-1.5, -1.5, 1.5, 1.5])


@pytest.mark.parametrize("n_thresholds", [1, 15, 200])  # linear count and binary search paths
def test_encode_equals_searchsorted_and_round_trips(n_thresholds):
    rng = np.random.default_rng(RNG_SEED)
    t = np.sort(rng.normal(size=n_thresholds))
    adc = ThresholdADC(t, np.arange(n_thresholds + 1.0))
    x = np.concatenate([rng.normal(scale=2, size=(1000, 7)).ravel(), t, [-np.inf, np.inf]])
    codes = adc.encode(x)
    np.testing.assert_array_equal(codes, np.searchsorted(t, x, side="right"))
    assert codes.dtype == np.int32
    np.testing.assert_array_equal(adc.decode(codes), codes.astype(float))
    assert adc.encode(np.zeros((3, 4, 5))).shape == (3, 4, 5)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_torch_and_numpy_paths_give_identical_codes(dtype):
    rng = np.random.default_rng(RNG_SEED + 1)
    adc = ThresholdADC(np.sort(rng.uniform(-2, 2, size=31)), rng.normal(size=32))
    x_t = torch.from_numpy(rng.normal(scale=1.5, size=(4000, 12))).to(dtype)
    x_t[0, :] = torch.tensor(adc.thresholds[:12], dtype=dtype)  # values on (rounded) thresholds
    codes_t = adc.encode(x_t)
    codes_np = adc.encode(x_t.numpy())
    np.testing.assert_array_equal(codes_t.numpy(), codes_np)
    np.testing.assert_array_equal(adc.quantize(x_t).numpy(), adc.quantize(x_t.numpy()).astype(x_t.numpy().dtype))
    np.testing.assert_array_equal(adc.decode(codes_t).numpy(), adc.decode(codes_np))


@pytest.mark.parametrize("kwargs, match", [
    (dict(thresholds=[0.0], levels=[1.0]), "at least 2"),
    (dict(thresholds=[1.0, 0.0], levels=[0, 1, 2]), "strictly increasing"),
    (dict(thresholds=[0.0, 0.0], levels=[0, 1, 2]), "strictly increasing"),
    (dict(thresholds=[0.0, np.nan], levels=[0, 1, 2]), "finite"),
    (dict(thresholds=[0.0, np.inf], levels=[0, 1, 2]), "finite"),
    (dict(thresholds=[0.0], levels=[0, 1, 2]), "len\\(levels\\) - 1"),
    (dict(thresholds=[[0.0]], levels=[0, 1]), "dimensions"),
])
def test_threshold_adc_rejects_bad_tables(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ThresholdADC(**kwargs)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="n_levels must be >= 2"):
        UniformADC(1, 2.0)
    with pytest.raises(ValueError, match="gamma must be > 0"):
        UniformADC(4, 0.0)
    with pytest.raises(ValueError, match="gamma must be finite"):
        UniformADC(4, float("nan"))
    with pytest.raises(TypeError, match="n_levels must be an integer"):
        UniformADC(4.0, 1.0)
    adc = UniformADC(4, 1.0)
    with pytest.raises(ValueError, match="NaN"):
        adc.encode(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="NaN"):
        adc.encode(torch.tensor([np.nan]))
    with pytest.raises(ValueError, match=r"codes must lie in \[0, 3\]"):
        adc.decode(np.array([0, 4]))
    with pytest.raises(ValueError, match=r"codes must lie in \[0, 3\]"):
        adc.decode(np.array([-1]))
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        DitheredADC(4, 1.0).quantize(np.zeros(3), rng=1)


# --------------------------------------------------------------------------- dither statistics
# Inputs stay inside the support minus half a step, where the dither theorems hold.
N = 400_000
Z = 5.0  # two-sided ~ 6e-7 false-alarm per check with a fixed seed: deterministic, and able to fail


def _inputs(adc, rng):
    half = adc.step / 2
    return rng.uniform(-adc.adc.gamma + half, adc.adc.gamma - half, size=N)


def test_non_subtractive_dither_error_has_zero_mean_and_no_correlation_with_input():
    rng = np.random.default_rng(RNG_SEED + 2)
    adc = DitheredADC(8, 2.0)
    x = _inputs(adc, rng)
    e = adc.quantize(x, rng) - x
    assert abs(e.mean()) < Z * e.std() / np.sqrt(N)
    assert abs(np.corrcoef(e, x)[0, 1]) < Z / np.sqrt(N)
    # mean-square error: rounding D^2/12 plus dither D^2/12 (DESIGN.md, Lemma 2 noise term)
    D2 = adc.step**2
    se = (e**2).std() / np.sqrt(N)
    assert abs((e**2).mean() - D2 / 6) < Z * se
    # the same input always gets a zero-mean error (first moment independent of x)
    for x0 in (-1.3, 0.0, 0.37):
        e0 = adc.quantize(np.full(N // 4, x0), rng) - x0
        assert abs(e0.mean()) < Z * max(e0.std(), 1e-12) / np.sqrt(N // 4)


def test_without_dither_the_error_is_input_dependent():
    # Sanity check that the statistics above can fail: plain rounding of a constant.
    adc = UniformADC(8, 2.0)
    assert abs(adc.quantize(np.full(10, 0.37)) - 0.37).mean() > 0.05


def test_subtractive_dither_error_is_uniform_and_independent_of_input():
    from scipy import stats

    rng = np.random.default_rng(RNG_SEED + 3)
    adc = DitheredADC(8, 2.0, subtractive=True)
    x = _inputs(adc, rng)
    e = adc.quantize(x, rng) - x
    half = adc.step / 2
    assert np.all(np.abs(e) <= half + 1e-12)
    assert stats.kstest(e, stats.uniform(loc=-half, scale=2 * half).cdf).pvalue > 1e-4
    assert abs(np.corrcoef(e, x)[0, 1]) < Z / np.sqrt(N)
    assert abs(np.corrcoef(e**2, x)[0, 1]) < Z / np.sqrt(N)
    # conditional distribution: the error for a fixed input is uniform too
    for x0 in (-1.3, 0.0, 0.37):
        e0 = adc.quantize(np.full(N // 4, x0), rng) - x0
        assert stats.kstest(e0, stats.uniform(loc=-half, scale=2 * half).cdf).pvalue > 1e-4


def test_dither_is_reproducible_and_apply_accepts_torch():
    adc = DitheredADC(4, 1.0, subtractive=True)
    x = np.linspace(-0.7, 0.7, 11)
    a = adc.quantize(x, np.random.default_rng(5))
    b = adc.quantize(x, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    u = adc.draw_dither(x.shape, np.random.default_rng(5))
    np.testing.assert_array_equal(adc.apply(torch.from_numpy(x), torch.from_numpy(u)).numpy(), a)
    with pytest.raises(ValueError, match="dither must have the shape"):
        adc.apply(x, u[:3])
