"""The linear detectors' ``precision`` option: complex64 filters decide as complex128 ones do (BER within the
intervals), the filter is applied as one matrix product per frame, and a wrong value is refused by name."""

import numpy as np
import pytest

from hwsim.engine.montecarlo import StoppingRule, estimate
from hwsim.engine.sweep import single_threaded
from hwsim.pipeline import Pipeline
from hwsim.receivers.linear import BLMMSE, LMMSE, _apply


def _tables(receiver: str, precision: str, adc: dict) -> dict:
    return {"source": {"type": "users", "users": 4, "constellation": "qam16"},
            "channel": {"type": "rayleigh", "antennas": 16, "frame_len": 50},
            "adc": adc, "receiver": {"type": receiver, "llr": False, "precision": precision},
            "metric": {"type": "ber"}}


@pytest.mark.parametrize("receiver, adc", [("blmmse", {"type": "uniform", "bits": 3, "agc": "ideal"}),
                                           ("lmmse", {"type": "none"}), ("zf", {"type": "none"}),
                                           ("mrc", {"type": "uniform", "bits": 2, "agc": "ideal"})])
def test_float32_ber_matches_float64_within_the_intervals(receiver, adc):
    rule = StoppingRule(max_samples=120_000, target_errors=None, min_samples=0, batch=1000)
    out = {}
    with single_threaded():
        for precision in ("float64", "float32"):
            link = Pipeline.from_tables(_tables(receiver, precision, adc)).link(6.0)
            out[precision] = estimate(link, np.random.default_rng(4), rule)  # the same draws for both
    e64, e32 = out["float64"], out["float32"]
    assert e64.errors > 100
    assert e64.ci_low <= e32.estimate <= e64.ci_high
    # on the same draws the two precisions disagree on almost no bit
    assert abs(e32.errors - e64.errors) <= max(3, 0.01 * e64.errors)


def test_float32_outputs_are_single_precision_and_close_to_float64():
    p = Pipeline.from_tables(_tables("blmmse", "float64", {"type": "uniform", "bits": 3, "agc": "ideal"}))
    _, obs = p.observe(3, 8.0, np.random.default_rng(1))
    z64, v64 = BLMMSE(precision="float64").equalize(obs)
    z32, v32 = BLMMSE(precision="float32").equalize(obs)
    assert z64.dtype == np.complex128 and z32.dtype == np.complex64 and v32.dtype == np.float32
    assert np.max(np.abs(z32 - z64)) < 1e-4 * np.max(np.abs(z64))
    np.testing.assert_allclose(v32, v64, rtol=1e-3)
    d = BLMMSE(precision="float32").detect(obs)
    assert d.indices.dtype == np.int64 and d.llr is not None and d.llr.dtype == np.float64


def test_the_filter_is_applied_as_one_product_per_frame():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, 4, 16)) + 1j * rng.standard_normal((3, 4, 16))
    r = rng.standard_normal((3, 50, 16)) + 1j * rng.standard_normal((3, 50, 16))
    np.testing.assert_allclose(_apply(W, r), np.einsum("fkn,fln->flk", W, r), rtol=1e-12, atol=1e-12)


def test_a_wrong_precision_is_refused_by_name():
    with pytest.raises(ValueError, match=r"precision must be one of float64, float32, got 'half'"):
        LMMSE(precision="half")  # the key's "receiver." prefix: tests/test_declared_components_receivers.py
    with pytest.raises(ValueError, match="receiver.precision must be one of float64, float32, got 32"):
        Pipeline.from_tables(_tables("lmmse", 32, {"type": "none"}))


@pytest.mark.parametrize("receiver", ["blmmse", "lmmse", "zf", "mrc"])
@pytest.mark.parametrize("adc", [{"type": "uniform", "bits": 3, "agc": "ideal"}, {"type": "lloyd_max", "bits": 2,
                                                                                  "agc": "ideal"}, {"type": "none"}])
def test_the_diagonal_model_gives_the_dense_models_filter_statistics_and_decisions(receiver, adc):
    from hwsim.receivers.linear import diagonal_model, linear_model, stream_statistics

    p = Pipeline.from_tables(_tables(receiver, "float64", adc))
    _, obs = p.observe(4, 3.0, np.random.default_rng(2))
    fast, dense = diagonal_model(obs), linear_model(obs)
    assert fast is not None and fast.C_rr is None and fast.C_e is None
    np.testing.assert_allclose(fast.d_e, np.real(np.diagonal(dense.C_e, axis1=1, axis2=2)), rtol=1e-10)
    det = p.receiver
    W_fast, W_dense = det.filter(obs, fast), det.filter(obs, dense)
    np.testing.assert_allclose(W_fast, W_dense, rtol=1e-8, atol=1e-12 * np.max(np.abs(W_dense)))
    for a, b in zip(stream_statistics(W_fast, fast), stream_statistics(W_dense, dense)):
        np.testing.assert_allclose(a, b, rtol=1e-8)
    z = det.equalize(obs)[0]
    gain, _ = stream_statistics(W_dense, dense)
    z_dense = np.einsum("fkn,fln->flk", W_dense, obs.r) / gain[:, None, :]
    np.testing.assert_allclose(z, z_dense, rtol=1e-8, atol=1e-10)


def test_the_one_bit_sign_and_coloured_noise_keep_the_dense_model():
    from hwsim.receivers.linear import diagonal_model

    p = Pipeline.from_tables(_tables("blmmse", "float64", {"type": "uniform", "bits": 1, "agc": "ideal"}))
    _, obs = p.observe(2, 3.0, np.random.default_rng(2))
    assert diagonal_model(obs) is None  # the arcsine law's covariance is not diagonal
    p = Pipeline.from_tables(_tables("lmmse", "float64", {"type": "none"}))
    _, obs = p.observe(2, 3.0, np.random.default_rng(2))
    obs.noise_cov = np.eye(16) * obs.noise_var
    assert diagonal_model(obs) is None
