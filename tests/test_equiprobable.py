"""Equiprobable (quantile) converters and the shared-gain AGC (issue 27, item 3): ``hwsim.designs.equiprobable``
puts 1/M of a Gaussian's mass in each cell with the cells' centroids as levels, ``adc.type = "equiprobable"``
converts with that table, and ``agc = "shared"`` sets one gain for all antennas of the array from the frame's
(slot's) power averaged over the antennas, beside the per-antenna ``measured`` AGC."""

import math

import numpy as np
import pytest
from scipy import integrate
from scipy.special import ndtr

from hwsim.components import build
from hwsim.converters.banks import measured_power, shared_power
from hwsim.designs import equiprobable, gaussian_mse, lloyd_max
from hwsim.pipeline import Pipeline


# ------------------------------------------------------------------ the design
@pytest.mark.parametrize("bits", range(1, 9))
def test_every_cell_holds_one_mth_of_the_gaussian_mass(bits):
    adc = equiprobable(bits)
    m = 2**bits
    assert adc.n_levels == m and np.all(np.diff(adc.thresholds) > 0)
    mass = np.diff(ndtr(adc.cell_edges))                                  # exact: the normal distribution
    np.testing.assert_allclose(mass, 1.0 / m, rtol=0, atol=1e-12)
    # odd about 0, the middle threshold at 0
    np.testing.assert_allclose(adc.thresholds, -adc.thresholds[::-1], rtol=0, atol=1e-15)
    np.testing.assert_allclose(adc.levels, -adc.levels[::-1], rtol=0, atol=1e-15)
    assert adc.thresholds[m // 2 - 1] == 0.0


def test_sampled_codes_are_equally_likely():
    """One million N(0, 1) samples through the 3-bit table: each of the 8 codes is drawn 125 000 times up to
    the binomial spread (standard deviation sqrt(N p (1 - p)) = 331; tolerance 5 of them)."""
    adc = equiprobable(3)
    x = np.random.default_rng(7).standard_normal(1_000_000)
    counts = np.bincount(adc.encode(x), minlength=8)
    sd = math.sqrt(x.size * (1 / 8) * (7 / 8))
    assert np.all(np.abs(counts - x.size / 8) < 5 * sd), counts


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_the_levels_are_the_cells_centroids(bits):
    """Each level is E[x | cell] of N(0, 1), checked by numerical quadrature (an independent computation)."""
    adc = equiprobable(bits)
    edges = adc.cell_edges
    pdf = lambda x: math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)  # noqa: E731
    for j, level in enumerate(adc.levels):
        a, b = edges[j], edges[j + 1]
        mean = integrate.quad(lambda x: x * pdf(x), a, b, epsabs=1e-13)[0]
        mass = integrate.quad(pdf, a, b, epsabs=1e-13)[0]
        assert level == pytest.approx(mean / mass, abs=1e-9), (bits, j)


def test_known_values_and_the_relation_to_lloyd_max():
    # 1 bit: the sign quantizer with levels +-sqrt(2/pi), the same table as Lloyd-Max's
    one = equiprobable(1)
    np.testing.assert_allclose(one.levels, [-math.sqrt(2 / math.pi), math.sqrt(2 / math.pi)], rtol=1e-14)
    assert float(gaussian_mse(one)) == pytest.approx(float(gaussian_mse(lloyd_max(1))), rel=1e-12)
    # 2 bits: thresholds at the quartiles +-0.6744898 (Phi^-1(3/4)) and 0
    np.testing.assert_allclose(equiprobable(2).thresholds, [-0.6744897501960817, 0.0, 0.6744897501960817],
                               rtol=1e-13)
    for bits, mse in [(2, 0.13944), (3, 0.054966), (4, 0.022225)]:   # the docstring's values
        e = float(gaussian_mse(equiprobable(bits)))
        assert e == pytest.approx(mse, rel=1e-4)
        assert e > float(gaussian_mse(lloyd_max(bits)))          # Lloyd-Max is the MSE optimum
        levels = equiprobable(bits).levels                        # MSE of centroid levels: 1 - mean of q^2
        assert e == pytest.approx(1 - np.mean(levels**2), rel=1e-10)
    with pytest.raises(ValueError, match="bits must be <= 8"):
        equiprobable(9)


# ------------------------------------------------------------------ the bank
def test_the_bank_converts_with_the_equiprobable_table():
    bank = build("adc", {"type": "equiprobable", "bits": 3, "agc": "fixed", "scale": 0.5})
    table = equiprobable(3)
    np.testing.assert_array_equal(bank.table.thresholds, table.thresholds)
    np.testing.assert_array_equal(bank.table.levels, table.levels)
    rng = np.random.default_rng(1)
    y = (rng.standard_normal((2, 300, 4)) + 1j * rng.standard_normal((2, 300, 4))) * 0.4
    out = bank.convert(y)
    for part, lower in ((np.real, "lower_re"), (np.imag, "lower_im")):
        codes = np.searchsorted(table.thresholds, part(y) / 0.5, side="right")  # thresholds <= x
        np.testing.assert_array_equal(bank.table.encode(part(y) / 0.5), codes)
        np.testing.assert_allclose(part(out["r"]), 0.5 * table.levels[codes], rtol=0, atol=1e-15)
        np.testing.assert_allclose(out[lower], 0.5 * table.cell_edges[codes], rtol=0, atol=1e-15)
    assert bank.scalar_cells and bank.quantizes
    assert "3-bit" in bank.describe(bank.params)


def test_behind_the_measured_agc_every_code_is_equally_likely_at_any_antenna_power():
    """Complex Gaussian inputs of powers 0.01 to 100 on four antennas: the per-antenna AGC scales each rail to
    unit variance, so each of the 4 codes of the 2-bit bank is drawn a quarter of the time on every antenna
    (L = 50 000 samples per rail: binomial standard deviation 0.0019 of the share; the AGC's measured power
    adds about as much; tolerance 0.01)."""
    rng = np.random.default_rng(5)
    P = np.array([0.01, 1.0, 7.0, 100.0])
    y = (rng.standard_normal((1, 50_000, 4)) + 1j * rng.standard_normal((1, 50_000, 4))) * np.sqrt(P / 2)
    bank = build("adc", {"type": "equiprobable", "bits": 2, "agc": "measured"})
    out = bank.convert(y)
    for n in range(4):
        for part in (y.real, y.imag):
            codes = bank.table.encode(part[0, :, n] / out["scale"][0, n])
            np.testing.assert_allclose(np.bincount(codes, minlength=4) / codes.size, 0.25, atol=0.01)


# ------------------------------------------------------------------ the shared AGC
def _array(powers, L=4000, seed=2):
    rng = np.random.default_rng(seed)
    powers = np.asarray(powers, dtype=float)
    F, N = powers.shape
    return (rng.standard_normal((F, L, N)) + 1j * rng.standard_normal((F, L, N))) * np.sqrt(powers[:, None, :] / 2)


def test_the_shared_agc_sets_one_gain_for_the_array_from_its_mean_power():
    y = _array([[0.1, 1.0, 4.0, 10.0], [2.0, 2.0, 0.5, 0.5]])
    shared = build("adc", {"type": "uniform", "bits": 3, "agc": "shared"})
    out = shared.convert(y)
    mean_power = np.mean(np.abs(y) ** 2, axis=(1, 2))                      # the slot's power over antennas
    np.testing.assert_allclose(out["scale"], np.sqrt(mean_power / 2)[:, None] * np.ones(4), rtol=1e-12)
    assert np.all(out["scale"] == out["scale"][:, :1])                     # one gain per frame for the array
    np.testing.assert_allclose(shared_power(y), measured_power(y).mean(axis=1, keepdims=True) * np.ones(4),
                               rtol=1e-12)
    # it differs from the per-antenna AGC when the antennas' powers differ, and so do the outputs
    measured = build("adc", {"type": "uniform", "bits": 3, "agc": "measured"}).convert(y)
    assert np.max(np.abs(np.log(out["scale"] / measured["scale"]))) > 0.5
    assert not np.allclose(out["r"], measured["r"])
    # a stated power does not change it (it measures), and a real input's scale is the RMS itself
    np.testing.assert_array_equal(shared.convert(y, np.ones((2, 4)))["scale"], out["scale"])
    x = np.random.default_rng(3).standard_normal((2, 5000, 3)) * np.array([0.5, 1.0, 2.0])
    real = build("adc", {"type": "uniform_range", "levels": 4, "agc": "shared"}).convert(x)
    np.testing.assert_allclose(real["scale"], np.sqrt(np.mean(x**2, axis=(1, 2)))[:, None] * np.ones(3), rtol=1e-12)


def test_with_equal_antenna_powers_the_shared_agc_is_the_per_antenna_one():
    """Unit-modulus samples: every antenna's measured power is exactly 1, so the shared and per-antenna gains
    agree (to rounding) and the converters give the same samples."""
    rng = np.random.default_rng(4)
    y = 1.7 * np.exp(2j * np.pi * rng.random((3, 500, 6)))
    shared = build("adc", {"type": "lloyd_max", "bits": 2, "agc": "shared"}).convert(y)
    measured = build("adc", {"type": "lloyd_max", "bits": 2, "agc": "measured"}).convert(y)
    np.testing.assert_allclose(shared["scale"], measured["scale"], rtol=1e-12)
    np.testing.assert_allclose(shared["r"], measured["r"], rtol=1e-12)


def test_the_shared_agc_refuses_a_scale_and_serves_every_bank():
    with pytest.raises(ValueError, match=r"with agc = 'shared' the scale follows the signal"):
        build("adc", {"type": "uniform", "agc": "shared", "scale": 2.0})
    y = _array([[0.5, 2.0]], L=2000)
    for table in ({"type": "equiprobable", "bits": 2}, {"type": "vector", "quantizer": "A2", "rate": 1.0}):
        out = build("adc", {**table, "agc": "shared"}).convert(y)
        np.testing.assert_allclose(out["scale"], np.sqrt(np.mean(np.abs(y) ** 2) / 2) * np.ones((1, 2)), rtol=1e-12)


def test_the_shared_agc_on_a_flat_link_uses_each_frame_of_the_array():
    tables = {"source": {"type": "users", "users": 2, "constellation": "qpsk"},
              "channel": {"type": "rayleigh", "antennas": 8, "frame_len": 40},
              "adc": {"type": "uniform", "bits": 2, "agc": "shared"}, "receiver": {"type": "lmmse"}}
    link = Pipeline.from_tables(tables)
    link.check()
    _, y, _ = link.transmit(5, 4.0, np.random.default_rng(9))
    _, obs = link.observe(5, 4.0, np.random.default_rng(9))
    np.testing.assert_allclose(obs.scale, np.sqrt(np.mean(np.abs(y) ** 2, axis=(1, 2)) / 2)[:, None] * np.ones(8),
                               rtol=1e-12)


def test_the_shared_agc_on_an_ofdm_link_uses_the_slots_samples_of_every_antenna():
    """On the wideband link the frame is the slot: every time sample of the slot (cyclic prefixes included) of
    every antenna; the channel's stated per-antenna power is the slot's mean power, so the shared gain is
    sqrt(mean over antennas of that power / 2), and the link decodes behind it."""
    source = {"type": "ofdm", "users": 2, "constellation": "qpsk", "fft_size": 32, "cp_length": 16,
              "ofdm_symbols": 6, "pilot_symbols": [1, 4], "block_len": 128, "code_rate": 0.5}
    link = Pipeline.from_tables({"source": source, "channel": {"type": "tdl", "model": "C", "antennas": 8},
                                 "adc": {"type": "uniform", "bits": 3, "agc": "shared"},
                                 "receiver": {"type": "ofdm_lmmse", "csi": "perfect"}, "metric": {"type": "bler"}})
    link.check()
    _, y, _ = link.transmit(2, 15.0, np.random.default_rng(3))
    _, obs = link.observe(2, 15.0, np.random.default_rng(3))
    assert y.shape[1] >= 6 * (32 + 16)                                     # the slot's samples
    expected = np.sqrt(np.mean(np.abs(y) ** 2, axis=(1, 2)) / 2)
    np.testing.assert_allclose(obs.scale, expected[:, None] * np.ones(8), rtol=1e-12)
    np.testing.assert_allclose(obs.scale[:, 0], np.sqrt(obs.power.mean(axis=1) / 2), rtol=1e-12)
    tally = link.link(15.0)(np.random.default_rng(3), 16)
    assert tally.trials == 16 and tally.total <= 1
