"""Measured converters back in (hwsim.converters.measurement, hwsim.cli.adc_measure; issue 28 items 5 and 7):
the IEEE 1241 code-density test recovers known tables from simulated captures within its stated uncertainty,
the spectrum gives the ENOB of an ideal converter and a worse THD for a bowed one, missing codes are reported,
capture files are read with bounds and clear errors, and a derived table runs in a link."""

import argparse
import hashlib
import math
import subprocess
import sys

import numpy as np
import pytest

from hwsim.converters.adc import ThresholdADC, UniformADC
from hwsim.converters.measurement import analyze_capture, analyze_codes, noise_bias, read_capture, sine_spectrum
from hwsim.designs import lloyd_max

N_SINE = 2**20          # samples of the code-density captures
J_SINE = 100_003        # cycles: odd, so coprime with N (every phase visited once)


def sine(n, cycles, amplitude, offset, *, phase=0.3, noise=0.0, rng=None):
    x = offset + amplitude * np.sin(2 * np.pi * cycles * np.arange(n) / n + phase)
    return x + noise * rng.standard_normal(n) if noise else x


def perturbed_lloyd_max(seed=1, spread=0.05):
    base = lloyd_max(3)
    rng = np.random.default_rng(seed)
    return ThresholdADC(base.thresholds + rng.uniform(-spread, spread, 7), base.levels), base


def test_code_density_recovers_a_perturbed_lloyd_max_table_from_a_noisy_sine():
    """Every |T_hat - T| < 4 sigma_k + 2 |noise bias|, on a coherent noisy sine; the same capture read with a
    linear (ramp) density misses by hundreds of sigma, so the check can fail."""
    true, nominal = perturbed_lloyd_max()
    rng = np.random.default_rng(7)
    a, c, sn = 2.3, 0.05, 0.01
    codes = true.encode(sine(N_SINE, J_SINE, a, c, noise=sn, rng=rng))
    r = analyze_codes(codes, 8, stimulus="sine", amplitude=a, offset=c, cycles=J_SINE)
    err = r.transition_levels - true.thresholds
    bound = 4 * r.transition_std + 2 * np.abs(noise_bias(true.thresholds, a, c, sn))
    assert np.all(np.abs(err) < bound), (err, bound)
    assert np.all((r.transition_std > 1e-3) & (r.transition_std < 5e-3))        # ~ pi A sqrt(p(1-p)/N)
    # the perturbation (up to 0.05) is resolved: the estimate is far closer to the truth than to the design
    assert np.max(np.abs(err)) < 0.1 * np.max(np.abs(true.thresholds - nominal.thresholds))
    assert r.missing_codes == () and r.table.n_levels == 8
    np.testing.assert_allclose(r.table.thresholds, r.transition_levels, rtol=0, atol=0)
    wrong = analyze_codes(codes, 8, stimulus="ramp", amplitude=a, offset=c)
    assert np.max(np.abs(wrong.transition_levels - true.thresholds) / wrong.transition_std) > 100


def test_the_stated_sigma_is_the_scatter_for_random_phases():
    """Independent random phases (the binomial model's assumption): z = (T_hat - T) / sigma has RMS ~ 1."""
    true, _ = perturbed_lloyd_max(2)
    z = []
    for seed in range(6):
        rng = np.random.default_rng(100 + seed)
        x = 0.1 + 2.2 * np.sin(rng.uniform(0, 2 * np.pi, 2**18))
        r = analyze_codes(true.encode(x), 8, stimulus="sine", amplitude=2.2, offset=0.1)
        z.extend((r.transition_levels - true.thresholds) / r.transition_std)
    rms = float(np.sqrt(np.mean(np.square(z))))
    assert 0.6 < rms < 1.5, rms


def test_a_uniform_table_from_a_ramp_and_from_a_sine_with_fitted_amplitude():
    true = UniformADC(16, 1.0)
    n = 2**18
    ramp = -1.2 + 2.4 * (np.arange(n) + 0.5) / n                     # a linear ramp over [C - A, C + A]
    r = analyze_codes(true.encode(ramp), 16, stimulus="ramp", amplitude=1.2, offset=0.0)
    assert np.all(np.abs(r.transition_levels - true.thresholds) < 4 * r.transition_std + 2.4 / n)
    assert np.max(np.abs(r.inl_endpoint)) < 1e-3 and np.max(np.abs(r.dnl)) < 1e-3
    assert r.sinad_db is None and "ramp" in r.method
    # amplitude and offset not given: fitted to the uniform converter over the full scale (said so)
    x = sine(n, 40_001, 1.15, 0.02)
    fit = analyze_codes(true.encode(x), 16, stimulus="sine", full_scale=(-1.0, 1.0), cycles=40_001)
    assert fit.amplitude_source.startswith("fitted")
    assert abs(fit.amplitude - 1.15) < 2e-3 and abs(fit.offset - 0.02) < 2e-3
    assert np.all(np.abs(fit.transition_levels - true.thresholds) < 4 * fit.transition_std)
    with pytest.raises(ValueError, match="a histogram alone does not determine them"):
        analyze_codes(true.encode(x), 16, stimulus="sine")
    with pytest.raises(ValueError, match="amplitude and offset together"):
        analyze_codes(true.encode(x), 16, stimulus="sine", amplitude=1.0)


@pytest.mark.parametrize("bits", [4, 8])
def test_enob_of_an_ideal_uniform_converter_on_a_full_scale_coherent_sine(bits):
    """ENOB = (SINAD - 1.76) / 6.02 of the output codes, coherent (rectangular) and windowed, within 0.2 bits."""
    m = 2**bits
    n, j = 2**16, 4099
    codes = UniformADC(m, 1.0).encode(sine(n, j, 1.0 - 1e-9, 0.0, phase=0.1))
    coherent = sine_spectrum(codes, cycles=j)
    windowed = sine_spectrum(codes)
    for s in (coherent, windowed):
        assert abs(s["enob"] - bits) < 0.2, (bits, s["enob"], s["method"])
        assert s["thd_db"] < -20 and s["sfdr_db"] > 20
    assert abs(coherent["amplitude_codes"] - m / 2) < 0.01 * m
    assert "rectangular" in coherent["method"] and "Blackman-Harris" in windowed["method"]
    assert abs(windowed["fundamental_bin"] - j) < 0.05
    with pytest.raises(ValueError, match="not coherent"):
        sine_spectrum(codes, cycles=j + 2)


def test_an_inl_bow_makes_thd_worse():
    """A 1-LSB parabolic bow of the transition levels (even-order distortion) raises THD by far more than 6 dB."""
    ideal = UniformADC(64, 1.0)
    lsb = 2.0 / 64
    u = np.arange(1, 64) / 64
    bowed = ThresholdADC(ideal.thresholds + lsb * 4 * u * (1 - u), ideal.levels)
    n, j = 2**16, 4099
    x = sine(n, j, 1.0 - 1e-9, 0.0)
    a = analyze_codes(ideal.encode(x), 64, stimulus="sine", amplitude=1.0, offset=0.0, cycles=j)
    b = analyze_codes(bowed.encode(x), 64, stimulus="sine", amplitude=1.0, offset=0.0, cycles=j)
    assert b.thd_db > a.thd_db + 6, (a.thd_db, b.thd_db)
    assert b.enob < a.enob
    assert 0.8 < np.nanmax(b.inl_endpoint) < 1.2                           # the bow, measured back
    assert b.spectrum["harmonic_bins"][2] == pytest.approx(2 * j)


def test_missing_codes_are_reported_and_merged_not_a_crash():
    true = UniformADC(8, 1.0)
    n = 2**18
    x = sine(n, 10_001, 1.2, 0.0)
    codes = true.encode(x)
    codes[codes == 5] = 4                        # code 5 never comes out: T_5 moved up onto T_6
    r = analyze_codes(codes, 8, stimulus="sine", amplitude=1.2, offset=0.0, cycles=10_001)
    assert r.missing_codes == (5,) and r.merged_codes == (5,)
    assert r.dnl[4] == pytest.approx(-1.0)                                    # a code of zero width
    assert r.transition_levels[4] == r.transition_levels[5]
    assert r.table.n_levels == 7
    np.testing.assert_allclose(r.table.thresholds, np.delete(true.thresholds, 4), atol=5e-3)
    text = r.summary()
    assert "missing codes: 5" in text and "merged" in text and "SINAD" in text
    # a stimulus that does not overdrive: the end codes never occur, their transitions are not measured
    small = analyze_codes(true.encode(sine(n, 10_001, 0.7, 0.0)), 8, stimulus="sine", amplitude=0.7, offset=0.0)
    assert small.missing_codes == (0, 7)
    assert np.isnan(small.transition_levels[[0, 6]]).all() and np.isfinite(small.transition_levels[1:6]).all()
    assert small.table.n_levels == 6 and "did not overdrive" in small.summary()
    # a single code: reported, no table
    one = analyze_codes(np.full(100, 3), 8, stimulus="sine", amplitude=1.0, offset=0.0)
    assert one.table is None and len(one.missing_codes) == 7
    with pytest.raises(ValueError, match="no table"):
        one.export("unused.json")


def test_capture_files_csv_and_npy(tmp_path):
    rng = np.random.default_rng(3)
    true, _ = perturbed_lloyd_max(4)
    n = 20_000
    x0 = sine(n, 1_001, 2.3, 0.0)
    x1 = sine(n, 1_001, 2.3, 0.0, phase=1.0)
    c0, c1 = true.encode(x0), true.encode(x1)
    order = rng.permutation(2 * n)                                            # rows in any order
    rows = [(i, 0, c) for i, c in enumerate(c0)] + [(i, 1, c) for i, c in enumerate(c1)]
    text = "sample,converter,code\n" + "".join(f"{rows[k][0]},{rows[k][1]},{rows[k][2]}\n" for k in order)
    path = tmp_path / "cap.csv"
    path.write_text(text)
    cap = read_capture(path, 8)
    assert cap.converters == ("0", "1") or set(cap.converters) == {"0", "1"}
    np.testing.assert_array_equal(cap.codes["0"], c0)
    np.testing.assert_array_equal(cap.codes["1"], c1)
    assert cap.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ValueError, match="holds 2 converters"):
        analyze_capture(path, 8, stimulus="sine", amplitude=2.3, offset=0.0)
    r = analyze_capture(path, 8, stimulus="sine", amplitude=2.3, offset=0.0, converter=1, cycles=1_001)
    assert r.source == {"capture_file": "cap.csv", "capture_sha256": cap.sha256, "converter": "1"}
    assert np.all(np.abs(r.transition_levels - true.thresholds) < 4 * r.transition_std)
    np.save(tmp_path / "cap.npy", np.stack([c0, c1], axis=1).astype(np.int16))
    np.testing.assert_array_equal(read_capture(tmp_path / "cap.npy", 8).codes["1"], c1)
    np.save(tmp_path / "one.npy", c0.astype(np.uint8))
    assert analyze_capture(tmp_path / "one.npy", 8, stimulus="sine", amplitude=2.3, offset=0.0).n_samples == n
    # a gap in the sample column: no spectrum, said so
    (tmp_path / "gap.csv").write_text("sample,code\n" + "".join(f"{2 * i},{c}\n" for i, c in enumerate(c0)))
    g = analyze_capture(tmp_path / "gap.csv", 8, stimulus="sine", amplitude=2.3, offset=0.0)
    assert g.sinad_db is None and any("not consecutive" in s for s in g.notes)
    # plain single column, Windows line ends
    (tmp_path / "plain.csv").write_bytes(b"code\r\n" + b"".join(b"%d\r\n" % c for c in c0))
    np.testing.assert_array_equal(read_capture(tmp_path / "plain.csv", 8).codes["0"], c0)


@pytest.mark.parametrize("name, content, match", [
    ("bad.csv", "code\n1\n2\n9\n3\n", r"bad.csv: line 4: code 9 is outside \[0, 7\]"),
    ("bad.csv", "code\n1\n-1\n", r"line 3: code -1 is outside"),
    ("bad.csv", "code\n1\n2.5\n", r"line 3: code must be a whole decimal number"),
    ("bad.csv", "codes\n1\n", r"line 1: the header row must name a 'code' column"),
    ("bad.csv", "code,volts\n1,0.2\n", r"line 1: the header row"),
    ("bad.csv", "code,sample\n1,0\n2,0\n", r"lines 2 and 3: converter 0 has sample 0 twice"),
    ("bad.csv", "code\n1\n2,3\n", r"line 3: expected 1 cells"),
    ("bad.csv", "code\n1\n\x1b[2J\n", r"line 3: a capture CSV holds only printable ASCII"),
    ("bad.csv", "code\n", r"no codes"),
    ("bad.txt", "code\n1\n", r"a .csv or a .npy file"),
])
def test_bad_capture_files_are_clear_value_errors(tmp_path, name, content, match):
    (tmp_path / name).write_text(content)
    with pytest.raises(ValueError, match=match):
        read_capture(tmp_path / name, 8)


def test_capture_bounds_and_bad_npy(tmp_path):
    np.save(tmp_path / "big.npy", np.zeros(1000, dtype=np.int16))
    with pytest.raises(ValueError, match="max_samples = 999"):
        read_capture(tmp_path / "big.npy", 8, max_samples=999)
    with pytest.raises(ValueError, match="at most max_bytes = 100"):
        read_capture(tmp_path / "big.npy", 8, max_bytes=100)
    (tmp_path / "big.csv").write_text("code\n" + "1\n" * 1000)
    with pytest.raises(ValueError, match="more than max_samples = 10 rows"):
        read_capture(tmp_path / "big.csv", 8, max_samples=10)
    np.save(tmp_path / "f.npy", np.zeros(10))
    with pytest.raises(ValueError, match="integer codes, but the array's dtype is float64"):
        read_capture(tmp_path / "f.npy", 8)
    np.save(tmp_path / "o.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="integer codes"):
        read_capture(tmp_path / "o.npy", 8)
    a = np.zeros((5, 3), dtype=np.int32)
    a[4, 2] = 8
    np.save(tmp_path / "r.npy", a)
    with pytest.raises(ValueError, match=r"sample 4, converter 2 \(index \[4, 2\]\): code 8 is outside"):
        read_capture(tmp_path / "r.npy", 8)
    (tmp_path / "t.npy").write_bytes(np.lib.format.magic(1, 0) + b"junk")
    with pytest.raises(ValueError, match="not a readable .npy"):
        read_capture(tmp_path / "t.npy", 8)
    np.save(tmp_path / "cut.npy", np.zeros(100, dtype=np.int16))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "cut.npy").read_bytes()[:-10])
    with pytest.raises(ValueError, match="promises 100 values"):
        read_capture(tmp_path / "cut.npy", 8)
    with pytest.raises(ValueError, match="no such capture file"):
        read_capture(tmp_path / "missing.npy", 8)


def test_a_derived_table_goes_straight_into_a_link(tmp_path):
    """Capture -> table -> export_table JSON (provenance: capture, SHA-256, stimulus, method) -> a DAC-rounded
    bank of a link -> a finite BER."""
    import hwsim
    from hwsim.converters.tables import import_table

    true, nominal = perturbed_lloyd_max(5)
    codes = true.encode(sine(2**18, 30_001, 2.4, 0.0, noise=0.005, rng=np.random.default_rng(0)))
    np.save(tmp_path / "bench.npy", codes.astype(np.int16))
    r = analyze_capture(tmp_path / "bench.npy", 8, stimulus="sine", amplitude=2.4, offset=0.0, nominal=nominal,
                        full_scale=(-2.5, 2.5), cycles=30_001)
    np.testing.assert_array_equal(r.table.levels, nominal.levels)           # the nominal table's levels
    doc = r.export(tmp_path / "measured.json")
    table, meta = import_table(tmp_path / "measured.json")
    np.testing.assert_array_equal(table.thresholds, r.table.thresholds)
    prov = meta["provenance"]
    assert prov["capture_file"] == "bench.npy"
    assert prov["capture_sha256"] == hashlib.sha256((tmp_path / "bench.npy").read_bytes()).hexdigest()
    assert prov["stimulus"] == {"type": "sine", "amplitude": 2.4, "offset": 0.0, "amplitude_source": "given",
                                "cycles": 30_001}
    assert "code-density" in prov["method"] and "arcsine" in prov["method"]
    assert doc["full_scale"]["min"] == -2.5
    q_nom = (nominal.thresholds[-1] - nominal.thresholds[0]) / 6                 # its mean inner code width
    np.testing.assert_allclose(r.deviation_lsb, (true.thresholds - nominal.thresholds) / q_nom, rtol=0, atol=0.05)
    link = hwsim.Link(source={"type": "users", "users": 2, "constellation": "qpsk"},
                      channel={"type": "rayleigh", "antennas": 8, "frame_len": 50},
                      adc={"type": "dac_rounded", "table": str(tmp_path / "measured.json"), "dac_bits": 10},
                      receiver="lmmse")
    est = hwsim.simulate(link, snr_db=0.0, stopping=hwsim.Stopping(max_samples=20_000, target_errors=None,
                                                                   min_samples=1_000, batch=2_000), seed=1)
    assert math.isfinite(est.estimate) and 0 < est.estimate < 0.5 and est.samples >= 20_000


def _measure(*argv):
    from hwsim.cli.adc_measure import add_measure_parser

    parser = argparse.ArgumentParser(prog="hwsim adc")
    add_measure_parser(parser.add_subparsers(dest="adc_command", required=True))
    args = parser.parse_args(["measure", *map(str, argv)])
    return args.func(args)


def test_cli_measure_prints_the_figures_and_writes_the_table_and_plot(tmp_path, capsys):
    from hwsim.converters.tables import import_table

    true = UniformADC(16, 1.0)
    codes = true.encode(sine(2**16, 4099, 1.1, 0.0))
    np.save(tmp_path / "cap.npy", codes.astype(np.int16))
    assert _measure(tmp_path / "cap.npy", "--stimulus", "sine", "--levels", 16, "--amplitude", 1.1, "--offset", 0,
                    "--full-scale", -1, 1, "--cycles", 4099, "--out", tmp_path / "t.json") == 0
    out = capsys.readouterr().out
    for word in ("DNL (LSB)", "INL end-point", "INL best fit", "missing codes: none", "SINAD", "SFDR", "THD",
                 "ENOB", f"wrote {tmp_path / 't.json'} (json)", "plot:"):
        assert word in out, word
    table, meta = import_table(tmp_path / "t.json")
    np.testing.assert_allclose(table.thresholds, true.thresholds, atol=0.01)
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # amplitude fitted to the uniform converter over the full scale; a MIF table and a named plot
    assert _measure(tmp_path / "cap.npy", "--stimulus", "sine", "--levels", 16, "--full-scale", -1, 1,
                    "--out", tmp_path / "t.mif", "--png", tmp_path / "p.png") == 0
    assert "fitted" in capsys.readouterr().out
    assert import_table(tmp_path / "t.mif")[0].n_levels == 16 and (tmp_path / "p.png").is_file()
    with pytest.raises(ValueError, match="unknown table extension"):
        _measure(tmp_path / "cap.npy", "--stimulus", "sine", "--levels", 16, "--out", tmp_path / "t.txt")
    with pytest.raises(ValueError, match="--amplitude and --offset together"):
        _measure(tmp_path / "cap.npy", "--stimulus", "sine", "--levels", 16, "--amplitude", 1,
                 "--out", tmp_path / "u.json")
    with pytest.raises(ValueError, match=r"cap.npy: sample 0: code 10 is outside \[0, 7\]"):
        _measure(tmp_path / "cap.npy", "--stimulus", "sine", "--levels", 8, "--amplitude", 1, "--offset", 0,
                 "--out", tmp_path / "u.json")
    assert not (tmp_path / "u.json").exists()


def test_cli_module_import_is_light():
    code = ("import sys, hwsim.cli.adc_measure; "
            "print(any(m in sys.modules for m in ('torch', 'numba', 'scipy', 'matplotlib')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_hwsim_adc_measure_is_a_subcommand_of_the_cli(tmp_path, capsys):
    """``hwsim adc measure`` through the command line's own parser, straight into a table file."""
    from hwsim.cli.main import main
    from hwsim.converters.tables import import_table

    codes = UniformADC(8, 1.0).encode(sine(2**14, 1021, 1.1, 0.0))
    np.save(tmp_path / "cap.npy", codes.astype(np.int16))
    assert main(["adc", "measure", str(tmp_path / "cap.npy"), "--stimulus", "sine", "--levels", "8",
                 "--full-scale", "-1", "1", "--out", str(tmp_path / "t.csv")]) == 0
    assert "ENOB" in capsys.readouterr().out
    assert import_table(tmp_path / "t.csv")[0].n_levels == 8
