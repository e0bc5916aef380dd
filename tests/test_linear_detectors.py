"""Linear detectors (MRC, ZF, LMMSE, BLMMSE) and the quantization-aware near-ML detector.

Every statistical test is seeded (deterministic); the margins quoted were measured with these
seeds and sit far inside the asserted bounds.
"""

import dataclasses

import numpy as np
import pytest
from scipy.special import erfc
from scipy.stats import binomtest

from hwsim.converters.adc import ThresholdADC, UniformADC
from hwsim.channels.constellations import get_qam
from hwsim.components import lookup
from hwsim.receivers.base import Observation
from hwsim.receivers.linear import BLMMSE, LMMSE, MRC, ZF, LinearDetector
from hwsim.receivers.map import log_prob_interval
from hwsim.receivers.onebit import NearML, cell_score
from hwsim.engine.stats import wilson_interval

ONE_BIT = ThresholdADC([0.0], [-np.sqrt(2 / np.pi), np.sqrt(2 / np.pi)])
LINEAR = (MRC, ZF, LMMSE, BLMMSE)


def _rayleigh(rng, F, N, K):
    return (rng.standard_normal((F, N, K)) + 1j * rng.standard_normal((F, N, K))) / np.sqrt(2)


def observe(seed, F, L, N, K, const="qpsk", snr_db=10.0, adc=None, H=None):
    """Draw symbols and noise, pass ``y = H s + n`` through ideal-AGC I/Q converters (if ``adc``).

    Returns the observation and the transmitted indices [F, L, K].
    """
    rng = np.random.default_rng(seed)
    c = get_qam(const)
    H = _rayleigh(rng, F, N, K) if H is None else np.asarray(H, dtype=np.complex128)
    idx = c.draw((F, L, K), rng)
    n0 = 10 ** (-snr_db / 10)
    n = np.sqrt(n0 / 2) * (rng.standard_normal((F, L, N)) + 1j * rng.standard_normal((F, L, N)))
    y = np.einsum("fnk,flk->fln", H, c.symbols(idx)) + n
    if adc is None:
        return Observation(r=y, H=H, noise_var=n0, constellation=c), idx
    alpha = np.sqrt((np.sum(np.abs(H) ** 2, axis=2) + n0) / 2)  # ideal AGC, [F, N]
    a = alpha[:, None, :]
    edges = adc.cell_edges
    parts, cells = [], []
    for p in (y.real, y.imag):
        codes = np.asarray(adc.encode(np.ascontiguousarray(p / a)))
        parts.append(adc.levels[codes] * a)
        cells += [edges[codes] * a, edges[codes + 1] * a]
    obs = Observation(r=parts[0] + 1j * parts[1], H=H, noise_var=n0, constellation=c, adc=adc, scale=alpha,
                      lower_re=cells[0], upper_re=cells[1], lower_im=cells[2], upper_im=cells[3])
    return obs, idx


def test_registration_and_repr():
    for name, cls in [("mrc", MRC), ("zf", ZF), ("lmmse", LMMSE), ("blmmse", BLMMSE), ("nml", NearML)]:
        assert lookup("receiver", name) is cls
    assert repr(LMMSE(llr=False)) == "LMMSE(llr=False, precision='float64', device='cpu')"
    assert "iterations=20" in repr(NearML())
    with pytest.raises(ValueError, match="iterations"):
        NearML(iterations=-1)
    with pytest.raises(ValueError, match="step"):
        NearML(step=2.5)


def test_blmmse_without_converters_is_lmmse_exactly():
    obs, _ = observe(1, 6, 40, 8, 3, "qam16", 12.0)
    WL, WB = LMMSE().filter(obs), BLMMSE().filter(obs)
    assert np.array_equal(WL, WB)
    dl, db = LMMSE().detect(obs), BLMMSE().detect(obs)
    assert np.array_equal(dl.indices, db.indices) and np.array_equal(dl.llr, db.llr)


def test_blmmse_with_a_fine_quantizer_matches_lmmse():
    # 10-bit uniform table over +-4 sigma: Bussgang gain ~ 1, distortion ~ 1e-5 of the power.
    adc = UniformADC(1024, 4.0)
    obs_q, idx = observe(7, 20, 200, 8, 4, "qam16", 15.0, adc)
    obs_y, _ = observe(7, 20, 200, 8, 4, "qam16", 15.0)
    WB, WL = BLMMSE().filter(obs_q), LMMSE().filter(obs_y)
    assert np.linalg.norm(WB - WL) / np.linalg.norm(WL) < 5e-3  # measured 4.0e-4
    dB, dL = BLMMSE().detect(obs_q).indices, LMMSE().detect(obs_y).indices
    assert np.mean(dB == dL) > 0.999  # measured 0.99994 (1 of 16000 differs)
    assert np.mean(dB == idx) > 0.99


def test_zf_refuses_fewer_antennas_than_users_and_rank_deficient_channels():
    obs, _ = observe(2, 2, 10, 3, 4)
    with pytest.raises(ValueError, match="N >= K"):
        ZF().detect(obs)
    H = _rayleigh(np.random.default_rng(0), 2, 6, 3)
    H[1, :, 2] = 2 * H[1, :, 0]
    obs, _ = observe(2, 2, 10, 6, 3, H=H)
    with pytest.raises(ValueError, match=r"rank deficient .*frame\(s\) \[1\]"):
        ZF().detect(obs)


def test_zf_inverts_a_noiseless_square_channel():
    rng = np.random.default_rng(5)
    c = get_qam("qam64")
    H = _rayleigh(rng, 5, 4, 4)
    idx = c.draw((5, 30, 4), rng)
    s = c.symbols(idx)
    obs = Observation(r=np.einsum("fnk,flk->fln", H, s), H=H, noise_var=0.0, constellation=c)
    z, var = ZF().equalize(obs)
    assert np.max(np.abs(z - s)) < 1e-9
    assert np.max(var) < 1e-20
    d = ZF().detect(obs)
    assert np.array_equal(d.indices, idx)
    assert np.all(np.isfinite(d.llr)) and np.array_equal(d.llr > 0, c.bits(idx).astype(bool))


@pytest.mark.parametrize("adc", [None, ONE_BIT, UniformADC(4, 2.0)], ids=["unquantized", "1bit", "2bit"])
@pytest.mark.parametrize("cls", LINEAR, ids=lambda c: c.name)
def test_llr_signs_agree_with_hard_decisions(cls, adc):
    obs, _ = observe(3, 8, 100, 16, 4, "qam16", 8.0, adc)
    d = cls().detect(obs)
    c = obs.constellation
    assert d.indices.shape == (8, 100, 4) and d.indices.dtype == np.int64
    assert d.llr.shape == (8, 100, 4, 4) and np.all(np.isfinite(d.llr))
    assert np.count_nonzero(d.llr == 0) == 0
    assert np.array_equal(d.llr > 0, c.bits(d.indices).astype(bool))
    assert cls(llr=False).detect(obs).llr is None


def test_unbiased_variance_matches_the_empirical_error_unquantized():
    obs, idx = observe(4, 40, 500, 8, 4, "qpsk", 5.0)
    s = obs.constellation.symbols(idx)
    for cls in LINEAR:
        z, var = cls().equalize(obs)
        ratio = np.mean(np.abs(z - s) ** 2, axis=1) / var  # [F, K], each from 500 samples
        assert abs(np.mean(ratio) - 1) < 0.03, cls.name  # measured within 0.007


def _q(x):
    return 0.5 * erfc(x / np.sqrt(2))


@pytest.mark.parametrize("const, snr_db", [("qpsk", 5.0), ("qam16", 12.0)])
def test_lmmse_ber_of_an_awgn_link_matches_theory(const, snr_db):
    F, L = 4, 50_000
    obs, idx = observe(11, F, L, 1, 1, const, snr_db, H=np.ones((F, 1, 1)))
    c = obs.constellation
    errors = int(np.sum(c.bits(LMMSE().detect(obs).indices) != c.bits(idx)))
    trials = idx.size * c.bits_per_symbol
    snr = 10 ** (snr_db / 10)
    if const == "qpsk":
        theory = _q(np.sqrt(snr))
    else:  # Gray 16-QAM: per axis 4-PAM with half-spacing d = 1/sqrt(10), noise std sqrt(N0/2)
        x = np.sqrt(2 * snr / 10)
        theory = (3 * _q(x) + 2 * _q(3 * x) - _q(5 * x)) / 4
    try:  # the shared closed forms, where present, must agree with the direct formula
        from hwsim.channels.theory import ber_awgn
    except ImportError:  # pragma: no cover
        pass
    else:
        assert ber_awgn(const, snr_db) == pytest.approx(theory, rel=1e-12)
    lo, hi = wilson_interval(errors, trials, confidence=0.999999)
    # measured: qpsk 0.03708 vs 0.03768, qam16 0.02786 vs 0.02813 (theory); intervals about +-4 %
    assert lo <= theory <= hi, (errors / trials, theory)


def test_cell_score_is_the_derivative_of_the_log_cell_probability():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 15, 4000)
    b = a + np.exp(rng.uniform(-9, 3, 4000))
    a[:600] = -np.inf
    b[600:1200] = np.inf
    eps = 1e-6
    fd = -(log_prob_interval(a + eps, b + eps) - log_prob_interval(a - eps, b - eps)) / (2 * eps)
    h = cell_score(a, b)
    assert np.max(np.abs(h - fd) / np.maximum(1, np.abs(h))) < 1e-5
    assert cell_score(-np.inf, np.inf) == 0
    assert cell_score(-np.inf, -60.0) == pytest.approx(-60.0166, abs=1e-3)  # -phi/Phi ~ b + 1/b


def test_nml_gradient_matches_finite_differences():
    obs, _ = observe(6, 2, 3, 5, 2, "qpsk", 3.0, UniformADC(4, 2.0))
    det = NearML()
    x = np.random.default_rng(1).standard_normal((2, 3, 2)) * 0.5 + 0.3j

    def loglik(x):
        m = np.einsum("fnk,flk->fln", obs.H, x)
        sig = np.sqrt(obs.noise_var / 2)
        return (np.sum(log_prob_interval((obs.lower_re - m.real) / sig, (obs.upper_re - m.real) / sig))
                + np.sum(log_prob_interval((obs.lower_im - m.imag) / sig, (obs.upper_im - m.imag) / sig)))

    g = det.gradient(obs, x)
    e = np.zeros_like(x)
    e[1, 2, 0] = 1e-6
    assert g[1, 2, 0].real == pytest.approx((loglik(x + e) - loglik(x - e)) / 2e-6, rel=1e-5)
    assert g[1, 2, 0].imag == pytest.approx((loglik(x + 1j * e) - loglik(x - 1j * e)) / 2e-6, rel=1e-5)


def test_nml_beats_blmmse_on_one_bit_massive_mimo():
    # 32 x 4 QPSK, one-bit, 10 dB, 40 000 received vectors
    obs, idx = observe(10, 1000, 40, 32, 4, "qpsk", 10.0, ONE_BIT)
    wrong_b = np.any(BLMMSE(llr=False).detect(obs).indices != idx, axis=-1)
    d = NearML(iterations=10).detect(obs)
    assert d.llr is None and d.indices.shape == idx.shape
    wrong_n = np.any(d.indices != idx, axis=-1)
    # measured: BLMMSE 53 wrong vectors, nML 7; 46 fixed by nML, 0 broken
    assert wrong_n.sum() * 3 <= wrong_b.sum()
    fixed, broken = int(np.sum(wrong_b & ~wrong_n)), int(np.sum(wrong_n & ~wrong_b))
    assert binomtest(broken, fixed + broken, 0.5, alternative="less").pvalue < 1e-6  # paired (McNemar) test


def test_nml_handles_multibit_and_unquantized_observations():
    for adc in (UniformADC(4, 2.0), None):
        obs, idx = observe(8, 20, 50, 16, 4, "qam16", 12.0, adc)
        nml = NearML().detect(obs).indices
        lin = BLMMSE(llr=False).detect(obs).indices
        assert np.sum(nml != idx) <= np.sum(lin != idx)  # measured 2-bit: 110 vs 195 symbol errors; unquantized 0 vs 0
    obs, _ = observe(8, 2, 5, 4, 2, "qpsk", 10.0, ONE_BIT)
    cells = dataclasses.replace(obs, lower_re=None, upper_re=None, lower_im=None, upper_im=None)
    assert np.array_equal(NearML().estimate(obs), NearML().estimate(cells))  # cells re-derived from r
    with pytest.raises(ValueError, match="positive noise variance"):
        NearML().detect(dataclasses.replace(obs, noise_var=0.0))


def test_linear_detectors_check_shapes():
    obs, _ = observe(1, 2, 5, 4, 2)
    with pytest.raises(ValueError, match="obs.H must be"):
        LMMSE().detect(dataclasses.replace(obs, H=obs.H[:, :3]))
    assert issubclass(BLMMSE, LinearDetector)
