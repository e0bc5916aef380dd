"""Complex Gray constellations: energy, labels, slicing, LLR signs, and QAM BER against theory."""

import numpy as np
import pytest

from hwsim.channels.qam import QAM_NAMES, get_qam


@pytest.mark.parametrize("name", QAM_NAMES)
def test_unit_energy_gray_neighbours_and_slicing(name):
    c = get_qam(name)
    assert np.mean(np.abs(c.points) ** 2) == pytest.approx(1.0)
    assert c.hard_decision(c.points).tolist() == list(range(c.order))
    d = np.abs(c.points[:, None] - c.points[None, :])
    nearest = d[d > 1e-12].min()
    for a, b in np.argwhere(np.abs(d - nearest) < 1e-9):
        assert bin(a ^ b).count("1") == 1  # nearest neighbours differ in one bit
    assert (c.bits(np.arange(c.order)) == ((np.arange(c.order)[:, None] >> np.arange(c.bits_per_symbol)[::-1]) & 1)).all()


@pytest.mark.parametrize("name", ["qpsk", "qam16", "qam64"])
def test_llr_signs_agree_with_the_nearest_point(name):
    c = get_qam(name)
    rng = np.random.default_rng(3)
    z = rng.standard_normal(20_000) * 1.2 + 1j * rng.standard_normal(20_000) * 1.2
    llr = c.llr(z, 0.1)
    assert ((llr > 0) == c.bits(c.hard_decision(z))).all()


def test_llr_is_exact_for_bpsk():
    c = get_qam("bpsk")
    z = np.array([0.3 + 5j, -1.2])
    # ln P(b=1)/P(b=0) for z = s + N(0, var/2) on the real axis, s = -1 (label 0) or +1 (label 1)
    assert c.llr(z, 0.5)[:, 0] == pytest.approx(4 * z.real / 0.5)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="constellation must be one of"):
        get_qam("qam32")
    with pytest.raises(ValueError, match="noise_var must be positive"):
        get_qam("qpsk").llr(np.zeros(3), 0.0)
