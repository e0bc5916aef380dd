"""Converter banks take the power of what they convert, never the channel (issue 26, item 4):
``convert(y, power, rng)``, with ``agc`` = ideal (the power the link states), measured (the power of the
samples converted, per input and frame) or fixed (a given full scale)."""

import inspect

import numpy as np
import pytest

from hwsim.components import build, lookup, names
from hwsim.converters.banks import AGC_MODES, measured_power


def test_no_bank_takes_the_channel():
    for name in names("adc"):
        cls = lookup("adc", name)
        if not cls.__module__.startswith("hwsim."):
            continue  # registered by another test module
        params = list(inspect.signature(cls.convert).parameters)
        assert params[:3] == ["self", "y", "power"], (name, params)
        assert not {"H", "noise_var", "noise_cov"} & set(params), (name, params)
    assert AGC_MODES == ("ideal", "measured", "fixed", "shared")


def test_the_measured_agc_sets_the_rms_of_each_antenna_and_frame():
    """A known signal: antenna i of frame f is CN(0, P_fi); the measured scale is sqrt(P_fi / 2) within the
    sample mean's spread (L = 20000 samples: relative standard error of the power 1/sqrt(L) = 0.7 %, of its
    square root 0.35 %; the tolerance is 2 %), and exactly the sample RMS of each rail pair."""
    rng = np.random.default_rng(3)
    F, L, N = 3, 20_000, 4
    P = np.array([[0.5, 1.0, 2.0, 8.0], [0.01, 0.1, 1.0, 100.0], [3.0, 3.0, 3.0, 3.0]])
    y = (rng.standard_normal((F, L, N)) + 1j * rng.standard_normal((F, L, N))) * np.sqrt(P[:, None, :] / 2)
    bank = build("adc", {"type": "uniform", "bits": 3, "agc": "measured"})
    out = bank.convert(y)                      # no power stated: the bank measures it
    np.testing.assert_allclose(out["scale"], np.sqrt(P / 2), rtol=0.02)
    np.testing.assert_allclose(out["scale"], np.sqrt(np.mean(np.abs(y) ** 2, axis=1) / 2), rtol=1e-12)
    # a stated power does not change what the measured AGC does
    np.testing.assert_array_equal(bank.convert(y, np.ones((F, N)))["scale"], out["scale"])
    # the quantizer then sees a unit-variance rail: the 3-bit MSE-optimal uniform quantizer's distortion
    z = out["r"] / out["scale"][:, None, :]
    u = y / out["scale"][:, None, :]
    assert np.mean(np.abs(z - u) ** 2) / 2 == pytest.approx(0.03744, rel=0.05)
    # a real input: the scale is the RMS itself (one converter per input)
    x = rng.standard_normal((2, 10_000, 3)) * np.array([0.5, 1.0, 4.0])
    real = build("adc", {"type": "uniform_range", "levels": 4, "agc": "measured"})
    np.testing.assert_allclose(real.convert(x)["scale"], [[0.5, 1.0, 4.0]] * 2, rtol=0.03)


def test_ideal_takes_the_stated_power_and_fixed_the_scale():
    rng = np.random.default_rng(0)
    y = rng.standard_normal((2, 50, 3)) + 1j * rng.standard_normal((2, 50, 3))
    power = np.array([[1.0, 4.0, 9.0], [2.0, 2.0, 2.0]])
    ideal = build("adc", {"type": "lloyd_max", "bits": 2})
    np.testing.assert_array_equal(ideal.convert(y, power)["scale"], np.sqrt(power / 2))
    with pytest.raises(ValueError, match=r"adc.agc = 'ideal' .* states none; use adc.agc = \"measured\""):
        ideal.convert(y)
    with pytest.raises(ValueError, match=r"power has shape \(3,\)"):
        ideal.convert(y, np.ones(3))
    fixed = build("adc", {"type": "uniform", "bits": 2, "agc": "fixed", "scale": 0.7})
    np.testing.assert_array_equal(fixed.convert(y)["scale"], np.full((2, 3), 0.7))
    with pytest.raises(ValueError, match=r"with agc = 'measured' the scale follows the signal"):
        build("adc", {"type": "uniform", "agc": "measured", "scale": 2.0})
    vector = build("adc", {"type": "vector", "agc": "measured"})
    np.testing.assert_allclose(vector.convert(y)["scale"], np.sqrt(measured_power(y) / 2))


def test_a_flat_link_states_the_power_the_ideal_agc_had_from_the_channel():
    """The flat channel's statement is what the bank's agc_scale computed from H before: sum_k |H_ik|^2 + N0 (or
    the diagonal of the front end's noise covariance), bit for bit."""
    from hwsim.pipeline import Pipeline

    link = Pipeline.from_tables({"source": {"type": "users", "users": 3}, "channel": {"type": "rayleigh", "antennas": 5,
                                 "frame_len": 7}, "adc": {"type": "uniform", "bits": 2}})
    _, obs = link.observe(4, 3.0, np.random.default_rng(1))
    n0 = 10 ** -0.3
    want = np.sum(np.abs(obs.H) ** 2, axis=2) + n0
    np.testing.assert_array_equal(obs.power, want)
    np.testing.assert_array_equal(obs.scale, np.sqrt(want / 2))
    cov = np.diag([1.0, 2.0, 3.0, 4.0, 5.0]).astype(complex)
    np.testing.assert_array_equal(link.channel.expected_power(obs.r, obs.H, n0, cov),
                                  np.sum(np.abs(obs.H) ** 2, axis=2) + [1, 2, 3, 4, 5])


def test_measured_agc_runs_a_link_near_the_ideal_one():
    """On a massive-MIMO link with frames of 200 samples the measured AGC's scale is within a few per cent
    of the ideal one (the sample power of 200 samples: relative spread about 1/sqrt(200 K / (K+1))), so the
    symbol error rate barely moves."""
    from hwsim.pipeline import Pipeline

    tables = {"source": {"type": "users", "users": 4, "constellation": "qam16"},
              "channel": {"type": "rayleigh", "antennas": 32, "frame_len": 200},
              "adc": {"type": "uniform", "bits": 3}, "receiver": {"type": "blmmse"}, "metric": {"type": "ser"}}
    ideal = Pipeline.from_tables(tables)
    measured = Pipeline.from_tables({**tables, "adc": {"type": "uniform", "bits": 3, "agc": "measured"}})
    _, a = ideal.observe(20, 10.0, np.random.default_rng(5))
    _, b = measured.observe(20, 10.0, np.random.default_rng(5))
    np.testing.assert_allclose(b.scale / a.scale, 1.0, atol=0.25)
    assert np.mean(np.abs(b.scale / a.scale - 1)) < 0.05
    errs = [p.link(10.0)(np.random.default_rng(9), 20_000).total for p in (ideal, measured)]
    assert errs[1] == pytest.approx(errs[0], rel=0.3, abs=30), errs
