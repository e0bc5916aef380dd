"""Complex Gray constellations: energy, labels, slicing, LLR signs, and QAM BER against theory."""

import numpy as np
import pytest

from hwsim.channels.constellations import QAM_NAMES, get_qam


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


def test_one_class_serves_the_complex_and_the_real_form():
    """One constellation class: a users source's complex QAM and seed 001's real alphabet (the axis of that
    QAM) are both Constellation; the real form slices, labels and gives LLRs like the complex one's axis."""
    from hwsim.channels.constellations import Constellation, get_constellation

    q, r = get_qam("qam16"), get_constellation("qam16")
    assert type(q) is type(r) is Constellation and repr(q) == "Constellation.qam(4)"
    np.testing.assert_allclose(q.axis_points, r.points, rtol=0, atol=1e-15)
    idx = np.arange(16)  # the I bits of a complex symbol are the bits of its real part in the axis alphabet
    assert np.array_equal(r.bits(r.hard_decision(q.symbols(idx).real)), q.bits(idx)[:, :2])
    p = get_constellation("pam4")  # a real alphabet without a complex form
    assert np.array_equal(p.hard_decision(p.points + 0.1), np.arange(4))
    assert np.array_equal(p.bits(np.arange(4)), [[0, 0], [0, 1], [1, 1], [1, 0]])
    assert np.array_equal(p.llr(p.points, 0.1) > 0, p.bits(np.arange(4)) == 1)
