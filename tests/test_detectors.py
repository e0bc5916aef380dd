import mpmath
import numpy as np
import pytest
from scipy import stats

from hwsim.converters.adc import UniformADC
from hwsim.channels import RayleighFading, SymbolChannel, exponential_channel, perturb_channel
from hwsim.receivers import MAPDetector, QMAPDetector, log_prob_interval, qmap_direct
from hwsim.engine.stats import wilson_interval

CONF = 0.999


def _ber(channel, detect, snr_db, n_frames, frame_len, seed):
    fr = channel.sample(n_frames, frame_len, snr_db, np.random.default_rng(seed))
    idx = detect(fr)
    return channel.constellation.bit_errors(fr.indices, idx), fr.indices.size


@pytest.mark.parametrize("snr_db", [0.0, 4.0, 7.0])
def test_map_single_user_matches_closed_form_bpsk(snr_db):
    h = np.array([[0.9], [0.5], [-0.3]])
    ch = SymbolChannel(h)
    errors, bits = _ber(ch, lambda fr: MAPDetector(h, fr.noise_std).detect(fr.x), snr_db, 1, 400_000, 11)
    exact = stats.norm.sf(np.linalg.norm(h) / 10 ** (-snr_db / 20))
    lo, hi = wilson_interval(errors, bits, CONF)
    assert lo <= exact <= hi


def test_map_over_sionna_rayleigh_matches_closed_form():
    # BPSK, one complex receive antenna: BER = (1 - sqrt(g / (1 + g))) / 2 with g = E|h|^2 / (2 sigma^2)
    ch = SymbolChannel(RayleighFading(1, 1))
    snr_db = 6.0
    errors, bits = _ber(ch, lambda fr: MAPDetector(fr.H, fr.noise_std).detect(fr.x), snr_db, 100_000, 4, 12)
    g = 1 / (2 * 10 ** (-snr_db / 10))
    exact = 0.5 * (1 - np.sqrt(g / (1 + g)))
    lo, hi = wilson_interval(errors, bits, CONF)
    assert lo <= exact <= hi


def test_map_log_likelihoods_are_gaussian_log_densities():
    H = exponential_channel(5, 2)
    det = MAPDetector(H, 0.7)
    x = np.random.default_rng(13).normal(size=(6, 5))
    ll = det.log_likelihoods(x)
    ref = np.array([[stats.multivariate_normal(H @ s, 0.49 * np.eye(5)).logpdf(xi) for s in det.hypotheses]
                    for xi in x])
    np.testing.assert_allclose(ll, ref, rtol=1e-10)
    np.testing.assert_array_equal(det.detect_index(x), ref.argmax(axis=1))


def test_qmap_kernel_equals_plain_numpy_reference():
    H = exponential_channel(12, 4)
    adc = UniformADC(8, 2.0)
    fr = SymbolChannel(H).sample(1, 20_000, 8.0, np.random.default_rng(14))
    codes = adc.encode(fr.x.reshape(-1, 12))
    det = QMAPDetector(H, fr.noise_std, adc)
    np.testing.assert_array_equal(det.detect_index(codes), qmap_direct(codes, H, fr.noise_std, adc))
    ll = det.log_likelihoods(codes[:50])
    assert ll.shape == (50, 16) and np.all(np.isfinite(ll))
    np.testing.assert_array_equal(ll.argmax(axis=1), det.detect_index(codes[:50]))


def test_qmap_with_many_levels_approaches_map():
    H = exponential_channel(12, 4)
    ch = SymbolChannel(H)
    fr = ch.sample(1, 200_000, 8.0, np.random.default_rng(15))
    fine = UniformADC(512, 6.0)
    q = QMAPDetector(H, fr.noise_std, fine).detect(fine.encode(fr.x))
    m = MAPDetector(H, fr.noise_std).detect(fr.x)
    e_q = ch.constellation.bit_errors(fr.indices, q)
    e_m = ch.constellation.bit_errors(fr.indices, m)
    assert np.mean(np.all(q == m, axis=-1)) > 0.999
    lo, hi = wilson_interval(e_m, fr.indices.size, CONF)
    assert lo <= e_q / fr.indices.size <= hi
    # and a coarse converter is measurably worse (the comparison can fail)
    coarse = UniformADC(2, 2.0)
    e_c = ch.constellation.bit_errors(fr.indices, QMAPDetector(H, fr.noise_std, coarse).detect(coarse.encode(fr.x)))
    assert e_c > 2 * e_m


def test_log_prob_interval_is_accurate_far_in_the_tails():
    mpmath.mp.dps = 60
    cases = [(-np.inf, 0.0), (0.0, np.inf), (-1.0, 1.0), (35.0, 35.5), (-60.0, -59.0), (-np.inf, -45.0),
             (40.0, np.inf), (2.0, 2.0 + 1e-9), (-3.0, 8.0), (-1e6, -1e6 + 1)]
    for lo, hi in cases:
        ref = float(mpmath.log(mpmath.ncdf(hi) - mpmath.ncdf(lo)))
        got = float(log_prob_interval(lo, hi))
        assert np.isfinite(got)
        assert abs(got - ref) <= 1e-9 * max(1.0, abs(ref)), (lo, hi, got, ref)


def test_qmap_at_very_high_snr_has_no_underflow():
    H = exponential_channel(12, 4)
    adc = UniformADC(4, 2.0)
    fr = SymbolChannel(H).sample(1, 2000, 80.0, np.random.default_rng(16))
    det = QMAPDetector(H, fr.noise_std, adc)
    assert np.all(np.isfinite(det.table))
    assert det.table.min() < -1e6  # far-away cells are very unlikely, yet finite
    np.testing.assert_array_equal(det.detect(adc.encode(fr.x)), fr.indices)


def test_mismatched_detectors_use_per_frame_channels():
    H = exponential_channel(12, 4)
    ch = SymbolChannel(H)
    rng = np.random.default_rng(17)
    fr = ch.sample(200, 50, 14.0, rng)
    H_hat = perturb_channel(H, rng, 200)
    adc = UniformADC(8, 2.0)
    ber = {}
    for name, idx in {
        "map": MAPDetector(H, fr.noise_std).detect(fr.x),
        "map_mismatched": MAPDetector(H_hat, fr.noise_std).detect(fr.x),
        "qmap_mismatched": QMAPDetector(H_hat, fr.noise_std, adc).detect(adc.encode(fr.x)),
    }.items():
        ber[name] = ch.constellation.bit_errors(fr.indices, idx) / fr.indices.size
    assert ber["map_mismatched"] > 10 * max(ber["map"], 1e-5)
    assert ber["qmap_mismatched"] > 10 * max(ber["map"], 1e-5)
    # per-frame detectors match frame-by-frame single-matrix detectors exactly
    det = QMAPDetector(H_hat, fr.noise_std, adc)
    codes = adc.encode(fr.x)
    for f in (0, 57, 199):
        np.testing.assert_array_equal(det.detect_index(codes)[f],
                                      QMAPDetector(H_hat[f], fr.noise_std, adc).detect_index(codes[f]))


def test_detectors_reject_bad_input():
    H = exponential_channel(12, 4)
    adc = UniformADC(4, 2.0)
    with pytest.raises(ValueError, match=r"x must have shape \[..., n=12\]"):
        MAPDetector(H, 0.1).detect(np.zeros((3, 11)))
    with pytest.raises(ValueError, match="per-frame H of 2 frames"):
        MAPDetector(np.stack([H, H]), 0.1).detect(np.zeros((3, 5, 12)))
    with pytest.raises(ValueError, match=r"codes must lie in \[0, 3\]"):
        QMAPDetector(H, 0.1, adc).detect(np.full((2, 12), 4))
    with pytest.raises(TypeError, match="codes must be integers"):
        QMAPDetector(H, 0.1, adc).detect(np.zeros((2, 12)))
    with pytest.raises(ValueError, match="noise_std must be > 0"):
        MAPDetector(H, 0.0)
    with pytest.raises(ValueError, match="exceeds the limit"):
        MAPDetector(np.ones((16, 13)), 0.1)
    with pytest.raises(TypeError, match="adc must be a ThresholdADC"):
        QMAPDetector(H, 0.1, "uniform")


@pytest.mark.parametrize("constellation, levels", [("bpsk", 8), ("pam4", 4), ("bpsk", 64)])
def test_fused_qmap_error_count_equals_detect_then_count(constellation, levels):
    from hwsim.receivers import qmap_bit_errors

    H = exponential_channel(8, 3)
    ch = SymbolChannel(H, constellation=constellation)
    fr = ch.sample(3, 4000, 9.0, np.random.default_rng(21))
    adc = UniformADC(levels, 2.0)
    det = QMAPDetector(H, fr.noise_std, adc, constellation)
    const = ch.constellation
    per_sample = const.sample_bit_errors(fr.indices, det.detect(adc.encode(fr.x)))
    got = qmap_bit_errors(det, fr.x, const.labels(fr.indices), const.bit_error_table(3))
    assert got == (per_sample.sum(), (per_sample**2).sum()) and got[0] > 0
    assert per_sample.sum() == const.bit_errors(fr.indices, det.detect(adc.encode(fr.x)))
    with pytest.raises(ValueError, match="one entry per sample"):
        qmap_bit_errors(det, fr.x, const.labels(fr.indices).ravel()[:5], const.bit_error_table(3))
