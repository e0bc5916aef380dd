"""Hardware converter banks on any link (hwsim.converters.hardware, issue 26 item 4): DAC-rounded, impaired,
measured and external converters as ``adc`` components, and the hil receiver's converters built from them."""

import numpy as np
import pytest

from hwsim.components import build
from hwsim.converters.adc import ThresholdADC
from hwsim.pipeline import Pipeline


def bank(**table):
    return build("adc", table)


def rails(seed=0, F=2, L=4000, N=3):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((F, L, N)) + 1j * rng.standard_normal((F, L, N))) / np.sqrt(2)


def test_without_impairments_the_hardware_banks_are_the_table_bank():
    y = rails()
    power = np.ones((2, 3))
    want = bank(type="uniform", bits=3).convert(y, power)
    for spec in ({"type": "impaired"}, {"type": "external"}, {"type": "dac_rounded", "dac_bits": 24}):
        got = bank(**spec).convert(y, power, np.random.default_rng(1))
        np.testing.assert_allclose(got["r"], want["r"], rtol=0, atol=1e-6 if spec["type"] == "dac_rounded" else 0)
        np.testing.assert_array_equal(got["scale"], want["scale"])
    exact = bank(type="impaired").convert(y, power)
    np.testing.assert_array_equal(exact["r"], want["r"])       # bit for bit: the same codes, the same levels


def test_an_impaired_bank_moves_the_thresholds_of_each_converter_and_draws_them_once():
    y = rails(1)
    ideal = bank(type="uniform", bits=3).convert(y, np.ones((2, 3)))["r"]
    a = bank(type="impaired", offset_lsb=0.3, chip_seed=4)
    b = bank(type="impaired", offset_lsb=0.3, chip_seed=4)
    ra, rb = a.convert(y, np.ones((2, 3)))["r"], b.convert(y, np.ones((2, 3)))["r"]
    np.testing.assert_array_equal(ra, rb)                       # the same chip from the same seed
    changed = np.mean(ra != ideal)
    assert 0.01 < changed < 0.5, changed                          # offsets of 0.3 LSB move some decisions
    refs = a._backends[6].references                              # 3 antennas x (I, Q): 6 converters
    assert refs.shape == (6, 7) and len({tuple(r) for r in refs}) == 6
    noisy = bank(type="impaired", noise_lsb=0.5)
    with pytest.raises(ValueError, match=r"noise_lsb > 0 draws thermal noise"):
        noisy.convert(y, np.ones((2, 3)))
    n1 = noisy.convert(y, np.ones((2, 3)), np.random.default_rng(2))["r"]
    n2 = noisy.convert(y, np.ones((2, 3)), np.random.default_rng(2))["r"]
    np.testing.assert_array_equal(n1, n2)                        # the noise comes from the link's stream
    with pytest.raises(ValueError, match=r"adc.gain_error must be > -1"):
        bank(type="impaired", gain_error=-1.0)
    with pytest.raises(ValueError, match=r"adc.bits = 4 sets the bits of a designed table"):
        bank(type="impaired", table=__file__, bits=4)


def test_a_dac_rounded_bank_gives_cells_and_a_measured_bank_reads_transition_levels(tmp_path):
    d = bank(type="dac_rounded", table="lloyd_max", bits=3, dac_bits=4)
    assert d.scalar_cells and d.table.n_levels == 8
    base = bank(type="lloyd_max", bits=3).table
    moved = np.max(np.abs(d.table.thresholds - base.thresholds))
    assert 0 < moved <= (base.thresholds[-1] - base.thresholds[0]) / 15   # half a step of a 4-bit DAC at most
    with pytest.raises(ValueError, match=r"adc.dac_bits = 2"):
        bank(type="dac_rounded", bits=3, dac_bits=2)                       # 7 thresholds need 8 DAC codes
    f = tmp_path / "bench.txt"
    f.write_text("# measured on the bench\n-1.02\n0.01\n0.98\n")
    m = bank(type="measured", path=str(f))
    np.testing.assert_array_equal(m.table.thresholds, [-1.02, 0.01, 0.98])
    assert m.scalar_cells and m.table.n_levels == 4
    (tmp_path / "bench.json").write_text("[-0.5, 0.5]")
    assert bank(type="measured", path=str(tmp_path / "bench.json")).table.n_levels == 3
    (tmp_path / "bad.txt").write_text("1.0\n0.5\n")
    with pytest.raises(ValueError, match=r"adc.path = .*strictly increasing"):
        bank(type="measured", path=str(tmp_path / "bad.txt"))


@pytest.mark.parametrize("spec", [{"type": "impaired", "offset_lsb": 0.2, "noise_lsb": 0.1},
                                  {"type": "dac_rounded", "dac_bits": 6}, {"type": "external", "bits": 2}])
def test_a_hardware_bank_runs_on_a_narrowband_link(spec):
    """Massive MIMO, 16-QAM, 3-bit converters (2-bit external): the impaired and DAC-rounded banks detect about
    as well as the ideal table, the external one exactly as well (LMMSE on the reconstructions), and the link
    repeats from its seed."""
    tables = {"source": {"type": "users", "users": 4, "constellation": "qam16"},
              "channel": {"type": "rayleigh", "antennas": 32, "frame_len": 50}, "receiver": {"type": "lmmse"},
              "metric": {"type": "ser"}}
    hw = Pipeline.from_tables({**tables, "adc": spec})
    # the same table without impairments, seen the same way (reconstructions, no cells)
    ideal = Pipeline.from_tables({**tables, "adc": {"type": "impaired", "bits": spec.get("bits", 3)}})
    hw.check()
    t = hw.link(15.0)(np.random.default_rng(3), 5000)
    assert t == hw.link(15.0)(np.random.default_rng(3), 5000)
    t0 = ideal.link(15.0)(np.random.default_rng(3), 5000)
    assert t.total <= 1.5 * t0.total + 20, (t, t0)
    if spec["type"] == "external":
        assert t == t0


def test_a_hardware_bank_runs_on_a_real_link():
    link = Pipeline.from_tables({"source": {"type": "users", "users": 2, "constellation": "bpsk"},
                                 "channel": {"type": "exponential", "antennas": 6, "frame_len": 20},
                                 "adc": {"type": "impaired", "bits": 2, "offset_lsb": 0.2}, "receiver": {"type": "lmmse"}})
    _, obs = link.observe(3, 8.0, np.random.default_rng(0))
    assert not np.iscomplexobj(obs.r) and obs.r.shape == (3, 20, 6) and obs.adc is None


def test_an_impaired_bank_runs_on_the_ofdm_link():
    from test_ofdm import link as ofdm_link

    p = ofdm_link(adc={"type": "impaired", "offset_lsb": 0.3, "noise_lsb": 0.1}, receiver={"csi": "blmmse"})
    q = ofdm_link(adc={"type": "uniform", "bits": 3}, receiver={"csi": "blmmse"})
    t = p.link(6.0)(np.random.default_rng(4), 24)
    t0 = q.link(6.0)(np.random.default_rng(4), 24)
    assert t.trials == 24 and t.total <= t0.total + 2, (t, t0)
    _, obs = p.observe(1, 6.0, np.random.default_rng(4))
    assert obs.adc is None and obs.scale.shape == (1, 8)                 # reconstructions only, per-antenna AGC
    gain, no = p.receiver.bussgang(obs)                                   # the calibrated Bussgang model
    assert np.all(gain > 0.9) and np.all(no > obs.noise_var)


def test_the_hil_receiver_builds_its_converters_from_the_banks():
    from hwsim.converters.hardware import DACRoundedBank, ExternalBank, ImpairedBank
    from hwsim.converters.impairments import ImpairedADC
    from hwsim.receivers.learned import HardwareInTheLoop

    kinds = {"dac": DACRoundedBank, "impaired": ImpairedBank, "external": ExternalBank}
    table = ThresholdADC([-1.0, 0.0, 1.0], [-1.5, -0.5, 0.5, 1.5])
    z = np.random.default_rng(0).normal(size=(500, 3))
    for converters, cls in kinds.items():
        rx = HardwareInTheLoop(converters=converters, dac_bits=8, offset_lsb=0.3)
        bank = rx.converter_bank()
        assert isinstance(bank, cls)
        codes = bank.backend(table, 3).convert(z)
        if converters == "impaired":   # what the hil receiver drew before it used the bank: the same chip
            np.testing.assert_array_equal(codes, ImpairedADC(table, 3, offset_lsb=0.3,
                                                             rng=np.random.default_rng(1)).encode(z))
        elif converters == "external":
            np.testing.assert_array_equal(codes, table.encode(z))
    assert HardwareInTheLoop(converters="ideal").converter_bank() is None
