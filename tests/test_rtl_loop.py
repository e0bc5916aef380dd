"""The RTL in the loop (issue 28, item 3): the exported converter module run in Verilator on the Monte
Carlo samples (hwsim.converters.rtl.loop, the ``rtl`` bank, the hil receiver's ``converters = "rtl"``).

Skipped where Verilator is not installed, unless ``HWSIM_REQUIRE_HDL=1``, which makes its absence a
failure (tests/_hdl.py). Every distinct design is compiled once, in one cache folder for the module."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from hwsim.converters.adc import ThresholdADC
from hwsim.converters.rtl import design, loop
from hwsim.designs import lloyd_max, uniform_gaussian

from _hdl import need_tool


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One cache folder for the module's builds, named to every bank through HWSIM_RTL_CACHE."""
    need_tool("verilator", "g++", "make")
    folder = tmp_path_factory.mktemp("rtl-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HWSIM_RTL_CACHE", str(folder))
        yield folder


def samples(adc, n, seed):
    """``n`` Gaussian samples over the table's range, with the values where decisions change: every threshold,
    its neighbours one ulp away, zeros of both signs, infinities and huge values."""
    t = np.asarray(adc.thresholds)
    edges = np.concatenate([t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf),
                            [0.0, -0.0, np.inf, -np.inf, 1e300, -1e300, 5e-324, -5e-324]])
    return np.concatenate([np.random.default_rng(seed).normal(size=n) * 1.3 * np.max(np.abs(t)), edges])


def grid(x, p):
    """``x`` as [rows, p] (the tail dropped)."""
    return x[: x.size // p * p].reshape(-1, p)


# ------------------------------------------------------------------ bit-exact codes
@pytest.mark.parametrize("table, code", [(uniform_gaussian(3), "offset_binary"),
                                         (uniform_gaussian(3), "twos_complement"), (lloyd_max(2), "gray")])
def test_the_rtl_banks_flash_codes_equal_the_python_tables_on_1e5_samples(cache, table, code):
    from hwsim.converters.hardware import RTLBank

    bank = RTLBank(output_code=code)
    z = grid(samples(table, 100_000, 1), 4)
    codes = bank.backend(table, 4).convert(z)
    assert codes.dtype == np.int32 and codes.shape == z.shape
    np.testing.assert_array_equal(codes, table.encode(z))
    assert len(set(codes.ravel().tolist())) == table.n_levels          # every code was reached


@pytest.mark.parametrize("table, code, input_bits", [(uniform_gaussian(3), "twos_complement", 0),
                                                     (lloyd_max(3), "gray", 8)])
def test_the_rtl_banks_requantizer_codes_equal_the_designs_hard_path(cache, table, code, input_bits):
    """The sample word's rounding and saturation in the harness are the Python rule's, ties and out-of-range
    samples included; the codes are the design's reference indices (not the table's: the sample is rounded)."""
    from hwsim.converters.hardware import RTLBank

    bank = RTLBank(form="requantizer", output_code=code, input_bits=input_bits)
    d = bank.design(table)
    fmt = d.input_format
    assert fmt.word == (input_bits or 12)
    k = np.arange(fmt.lo_int - 3, fmt.hi_int + 4, max(1, (fmt.hi_int - fmt.lo_int) // 500))
    ties = np.concatenate([(k + 0.5) * fmt.lsb, np.nextafter((k + 0.5) * fmt.lsb, np.inf),
                           np.nextafter((k + 0.5) * fmt.lsb, -np.inf), k * fmt.lsb, d.comparator_thresholds])
    z = grid(np.concatenate([samples(table, 100_000, 2), ties]), 3)
    got = bank.backend(table, 3).convert(z)
    np.testing.assert_array_equal(got, d.reference_index(z))
    # it decides as the table does except within an LSB of a threshold (where the rounded sample crosses it)
    other = got != table.encode(z)
    near = np.min(np.abs(z[..., None] - table.thresholds), axis=-1) <= fmt.lsb
    assert other.any() and not (other & ~near).any()


def test_the_simulation_is_built_once_and_two_processes_building_together_share_one_program(cache, tmp_path):
    d = design(uniform_gaussian(3), output_code="gray")
    first = loop.build(d)
    again = loop.build(d)
    assert again.cached and again.executable == first.executable and again.key == first.key
    # two processes build a new design into an empty cache at once: one build, one complete folder
    script = textwrap.dedent(f"""
        import json, sys
        from hwsim.converters.rtl import design, loop
        from hwsim.designs import uniform_gaussian
        b = loop.build(design(uniform_gaussian(2), output_code="twos_complement"), cache_dir={str(tmp_path)!r})
        print(json.dumps([str(b.executable), b.cached]))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    out = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in out]
    (exe1, cached1), (exe2, cached2) = (json.loads(o) for o, _ in out)
    assert exe1 == exe2 and sorted([cached1, cached2]) == [False, True]
    folders = [f for f in tmp_path.iterdir() if f.is_dir()]
    assert len(folders) == 1 and sorted(f.name for f in folders[0].iterdir()) == [
        "build.log", "harness.cpp", "manifest.json", "module.v", "sim"]


def test_a_module_that_puts_no_code_on_its_port_stops_the_backend_with_its_message(cache):
    """The harness decodes what the module outputs; a pattern that is no code of the converter (here a 5-level
    design whose Verilog was altered to output 7) is an error quoting the harness's message."""
    import dataclasses

    from hwsim.converters.backends import BackendError

    d = design(ThresholdADC([-1.5, -0.5, 0.5, 1.5], [-2, -1, 0, 1, 2]))
    bad = dataclasses.replace(d, verilog=f"module {d.name} (input wire [3:0] therm, output wire [2:0] code);\n"
                                         "  assign code = therm[3] ? 3'd7 : 3'd0;\nendmodule\n")
    b = loop.backend(bad, 1)
    np.testing.assert_array_equal(b.convert(np.array([[0.0], [-3.0]])), [[0], [0]])
    with pytest.raises(BackendError, match=r"the module's code 7 is no code of a 5-level converter"):
        b.convert(np.array([[2.0]]))


# ------------------------------------------------------------------ inside a link and a sweep
def test_an_rtl_bank_on_a_link_gives_the_ideal_tables_errors_exactly(cache):
    from hwsim.pipeline import Pipeline

    tables = {"source": {"type": "users", "users": 4, "constellation": "qam16"},
              "channel": {"type": "rayleigh", "antennas": 16, "frame_len": 50}, "receiver": {"type": "lmmse"},
              "metric": {"type": "ser"}}
    rtl = Pipeline.from_tables({**tables, "adc": {"type": "rtl", "bits": 3}})
    ideal = Pipeline.from_tables({**tables, "adc": {"type": "impaired", "bits": 3}})   # reconstructions, no cells
    t = rtl.link(12.0)(np.random.default_rng(5), 4000)
    assert t == ideal.link(12.0)(np.random.default_rng(5), 4000) and t.total > 0


def test_the_hil_studys_rtl_curve_counts_the_same_errors_as_the_ideal_table(cache, tmp_path):
    """The hil sweep's ideal and RTL curves on common random numbers: the same errors in the same samples."""
    import tomllib

    from hwsim.engine.results import read_results
    from hwsim.engine.sweep import CONFIG_DIR, parse_config, run_sweep

    cfg = tomllib.loads((CONFIG_DIR / "hil.toml").read_text())
    names = {c["name"]: c for c in cfg["curves"]}
    assert names["RTL (Verilator)"]["receiver.converters"] == "rtl"
    cfg["curves"] = [names["ideal learned table"], names["RTL (Verilator)"]]
    cfg["receiver"].update(train_samples=400, epochs=2, hidden=8)
    cfg["channel"]["frame_len"] = 20
    cfg["grid"] = {"snr_db": [4.0, 8.0]}
    cfg["stopping"] = {"target_errors": 50, "min_samples": 4000, "max_samples": 8000, "batch": 2000}
    run_sweep(parse_config(cfg), tmp_path / "run", workers=1, quiet=True, plot=False)
    rows = read_results(tmp_path / "run" / "results.csv")
    by = {(r["curve"], float(r["snr_db"])): r for r in rows}
    for snr in (4.0, 8.0):
        ideal, rtl = by["ideal learned table", snr], by["RTL (Verilator)", snr]
        assert int(ideal["errors"]) > 0
        assert (rtl["errors"], rtl["ber"]) == (ideal["errors"], ideal["ber"]), (ideal, rtl)


# ------------------------------------------------------------------ no simulator
def test_without_verilator_the_bank_says_which_package_to_install(tmp_path):
    """A real process whose PATH holds no verilator (only a folder of its own): the message names the package."""
    script = ("from hwsim.components import build\n"
              "bank = build('adc', {'type': 'rtl'})\n"
              "bank.backend(bank.table, 2)\n")
    env = {**os.environ, "PATH": str(tmp_path), "HWSIM_RTL_CACHE": str(tmp_path / "cache")}
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "HDLSimulatorMissing: the RTL in the loop needs the Verilator HDL simulator" in r.stderr, r.stderr
    assert "apt-get install -y verilator" in r.stderr
    assert not (tmp_path / "cache").exists()       # nothing was built or written


def test_the_rtl_bank_refuses_a_word_for_a_flash_converter_and_an_unknown_simulator():
    from hwsim.components import build

    with pytest.raises(ValueError, match=r"adc.input_bits = 8 sets the sample word of the requantizer"):
        build("adc", {"type": "rtl", "input_bits": 8})
    with pytest.raises(ValueError, match=r"adc.simulator must be one of verilator, got 'icarus'"):
        build("adc", {"type": "rtl", "simulator": "icarus"})
    with pytest.raises(ValueError, match=r"adc.form must be one of flash, requantizer"):
        build("adc", {"type": "rtl", "form": "sar"})
