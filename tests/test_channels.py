import numpy as np
import pytest

from hwsim.channels import (MAX_HYPOTHESES, PilotChannel, RayleighFading, SymbolChannel, exponential_channel,
                            get_constellation, noise_std, perturb_channel)

Z = 5.0


def test_exponential_channel_and_snr_convention():
    H = exponential_channel(12, 4)
    assert H.shape == (12, 4)
    assert H[0, 0] == 1.0 and np.isclose(H[5, 2], np.exp(-3))
    assert np.isclose(noise_std(10.0) ** 2, 0.1)
    with pytest.raises(ValueError, match="snr_db must be finite"):
        noise_std(float("nan"))


@pytest.mark.parametrize("name, size, complex_symbols, energy", [
    ("bpsk", 2, False, 1.0), ("pam4", 4, False, 1.0), ("qpsk", 2, True, 0.5), ("qam16", 4, True, 0.5)])
def test_constellations(name, size, complex_symbols, energy):
    c = get_constellation(name)
    assert c.size == size and c.complex_symbols == complex_symbols
    assert np.isclose(np.mean(c.points**2), energy)
    # Gray labels: neighbours differ in one bit
    assert all(bin(a ^ b).count("1") == 1 for a, b in zip(c.gray, c.gray[1:]))
    assert c.real_dims(3) == (6 if complex_symbols else 3)


def test_hypotheses_enumerate_every_vector_and_limit_is_stated():
    c = get_constellation("bpsk")
    hyp = c.hypotheses(4)
    assert hyp.shape == (16, 4) and len({tuple(r) for r in hyp}) == 16
    np.testing.assert_array_equal(hyp[5], [-1, 1, -1, 1])  # base-2 digits of 5
    with pytest.raises(ValueError, match=f"exceeds the limit of {MAX_HYPOTHESES}"):
        c.hypotheses(13)
    with pytest.raises(ValueError, match="constellation must be one of"):
        get_constellation("8psk")


def test_symbol_channel_shapes_noise_and_reproducibility():
    ch = SymbolChannel()
    a = ch.sample(40, 500, 6.0, np.random.default_rng(1))
    b = ch.sample(40, 500, 6.0, np.random.default_rng(1))
    np.testing.assert_array_equal(a.x, b.x)
    assert a.x.shape == (40, 500, 12) and a.s.shape == (40, 500, 4) and a.H.shape == (40, 12, 4)
    assert a.x.dtype == np.float64 and a.n_samples == 20_000
    w = a.x - np.einsum("fnk,flk->fln", a.H, a.s)
    var, n = w.var(), w.size
    assert abs(var - 10 ** -0.6) < Z * np.sqrt(2 / n) * 10 ** -0.6
    assert set(np.unique(a.s)) == {-1.0, 1.0}


def test_csi_uncertainty_has_variance_proportional_to_entry_magnitude():
    H = exponential_channel(12, 4)
    F = 20_000
    E = perturb_channel(H, np.random.default_rng(2), F) - H
    var = E.var(axis=0)
    target = 0.2 * np.abs(H)
    np.testing.assert_array_less(np.abs(var - target), Z * np.sqrt(2 / F) * target + 1e-12)
    assert np.allclose(E.mean(axis=0), 0, atol=Z * np.sqrt(target.max() / F))
    # training under CSI uncertainty: each frame draws its own channel, constant within the frame
    fr = SymbolChannel(H, csi_error=0.2).sample(3, 50, 10.0, np.random.default_rng(3))
    assert not np.allclose(fr.H[0], fr.H[1]) and not np.allclose(fr.H[0], H)


def test_time_variation_scales_the_channel_over_a_frame():
    ch = SymbolChannel(time_varying=True)
    g = ch.gain(8)
    np.testing.assert_allclose(g, 1 + 0.5 * np.cos(2 * np.pi * np.arange(8) / 8))
    fr = ch.sample(2, 8, 200.0, np.random.default_rng(4))  # essentially noiseless
    np.testing.assert_allclose(fr.x, g[None, :, None] * np.einsum("fnk,flk->fln", fr.H, fr.s), atol=1e-8)


def test_symbol_channel_rejects_bad_input():
    with pytest.raises(ValueError, match="H must hold only finite"):
        SymbolChannel(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="csi_error must be >= 0"):
        SymbolChannel(csi_error=-0.1)
    with pytest.raises(ValueError, match="snr_db must be finite"):
        SymbolChannel().sample(1, 1, float("nan"), np.random.default_rng(0))
    with pytest.raises(ValueError, match="even number"):
        SymbolChannel(np.ones((4, 3)), constellation="qpsk")


# --------------------------------------------------------------------------- eq. (6)
def test_pilot_model_statistics_match_the_paper():
    ch = PilotChannel(n_t=10, n_u=4, tau_p=12, P=4.0)
    assert (ch.n, ch.k) == (240, 80)
    np.testing.assert_allclose(ch.pilots.conj().T @ ch.pilots, 12 * np.eye(4), atol=1e-9)
    st = ch.stats()
    assert np.isclose(st.mmse, ch.mmse_closed_form()) and np.isclose(st.mmse, 1 / (2 * 49))
    # Monte Carlo: the LMMSE estimate attains the MMSE, within a CLT interval
    s, x, P = ch.sample(4000, np.random.default_rng(5))
    err = ((s - x @ st.gamma.T) ** 2).mean(axis=1)
    assert abs(err.mean() - st.mmse) < Z * err.std() / np.sqrt(len(err))
    # sample covariance of x agrees with Sigma_x on the diagonal
    np.testing.assert_allclose(np.var(x, axis=0), np.diag(st.sigma_x), rtol=Z * np.sqrt(2 / 4000))


def test_pilot_model_snr_uncertainty():
    ch = PilotChannel(snr_uncertainty=True)
    s, x, P = ch.sample(20_000, np.random.default_rng(6))
    assert P.min() >= 1 and P.max() <= 10 and abs(P.mean() - 5.5) < 0.1
    st = ch.stats()
    err = ((s - x @ st.gamma.T) ** 2).mean(axis=1)
    assert abs(err.mean() - st.mmse) < Z * err.std() / np.sqrt(len(err))


def test_pilot_model_rejects_bad_input():
    with pytest.raises(ValueError, match="tau_p must be >= n_u"):
        PilotChannel(n_u=4, tau_p=3)
    with pytest.raises(ValueError, match="P must be > 0"):
        PilotChannel(P=0.0)


# --------------------------------------------------------------------------- Sionna
def test_sionna_rayleigh_is_seeded_and_has_unit_variance():
    src = RayleighFading(4, 2)
    a = src.draw(5000, np.random.default_rng(7))
    b = src.draw(5000, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (5000, 8, 2) and a.dtype == np.float64
    assert abs(a.var() - 0.5) < Z * np.sqrt(2 / a.size) * 0.5
    assert RayleighFading(4, 2, complex_symbols=True).draw(3, np.random.default_rng(0)).shape == (3, 8, 4)


def test_sionna_kronecker_correlation_matches_exponential_model():
    src = RayleighFading(4, 2, rx_correlation=0.7)
    Hc = src.draw_complex(20_000, np.random.default_rng(8))
    R = np.einsum("bik,bjk->ij", Hc, Hc.conj()) / (len(Hc) * 2)
    i, j = np.indices((4, 4))
    np.testing.assert_allclose(R.real, 0.7 ** np.abs(i - j), atol=0.03)
    with pytest.raises(ValueError, match=r"rx_correlation must lie in \[0, 1\)"):
        RayleighFading(4, 2, rx_correlation=1.0)
