"""RTL export of decision tables (issue 28): the design's numbers and hard path, lint of every module
variant, golden vectors through Icarus, Verilator and GHDL, failing runs on corrupted vectors, the
files and the CLI, and the refusals (short words, hostile names and provenance)."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest
import torch

import hwsim.designs as designs
from hwsim.converters import fixed_point
from hwsim.converters.adc import ThresholdADC
from hwsim.converters.learned_adc import LearnedADC
from hwsim.converters.rtl import codes, design, export_rtl
from hwsim.converters.rtl import simulators as sims
from hwsim.converters.rtl.testbench import verilog_testbench, vhdl_testbench
from hwsim.converters.rtl.vectors import golden_vectors, memh_text, read_memh
from tests._hdl import need_tool


def _learned() -> ThresholdADC:
    layer = LearnedADC(8, "soft_to_hard")
    with torch.no_grad():
        layer.b.add_(torch.linspace(-0.3, 0.4, 7) * layer.c)
    return layer.to_table()


TABLES = {"uniform": designs.uniform_gaussian(3), "lloyd": designs.lloyd_max(3), "learned": _learned(),
          "dac": fixed_point.dac_round(designs.lloyd_max(3), 8).adc}
FORMS = ("flash", "requantizer")
VARIANTS = [(t, f, c) for t in TABLES for f in FORMS for c in codes.OUTPUT_CODES]


def _design(table, form, code, **kw):
    # Every variant gets a unique module name; half are pipelined, so both timings run everywhere.
    pipe = (list(TABLES).index(table) + codes.OUTPUT_CODES.index(code)) % 2 == 1
    kw.setdefault("pipeline", pipe)
    name = f"t_{table}_{form[0]}_{code[0]}{'_p' if kw['pipeline'] else ''}"
    return design(TABLES[table], form, code, name, **kw)


@pytest.fixture(scope="module")
def bank():
    """All tables x forms x output codes (and a flash design with a threshold-DAC ROM): designs, vectors,
    sources and vector files, and a testbench checking all of them in one top module."""
    ds = [_design(*v) for v in VARIANTS] + [design(TABLES["lloyd"], "flash", "gray", "t_lloyd_dac", dac=6)]
    entries, sources, data = [], [], []
    for d in ds:
        v = golden_vectors(d, seed=7)
        fname = f"{d.name}_vectors.memh"
        entries.append((d, v, fname))
        sources.append((f"{d.name}.v", d.verilog))
        data.append((fname, memh_text(d, v)))
    sources.append(("bank_tb.v", verilog_testbench(entries, "bank_tb")))
    return {"designs": ds, "entries": entries, "sources": sources, "data": data}


def _corrupt(data, which: int, vector: int, entries):
    """The vector files with one expected code bit flipped (design ``which``, vector ``vector``)."""
    d, v, fname = entries[which]
    lsb, _ = v.fields["code"]
    name, text = data[which]
    lines = text.split("\n")
    seen = -1
    for i, line in enumerate(lines):
        body = line.split("//", 1)[0].strip()
        if body:
            seen += 1
            if seen == vector:
                flipped = int(body, 16) ^ (1 << lsb)
                lines[i] = f"{flipped:0{len(body)}x}" + line[len(body):]
                break
    out = list(data)
    out[which] = (name, "\n".join(lines))
    return out


# ---------------------------------------------------------------------- the Python side
@pytest.mark.parametrize("table", list(TABLES))
def test_hard_path_is_the_table(table):
    adc = TABLES[table]
    x = np.random.default_rng(1).normal(size=4000) * 1.5
    x = np.concatenate((x, adc.thresholds, np.nextafter(adc.thresholds, -np.inf)))
    flash = design(adc, "flash", "gray")
    np.testing.assert_array_equal(flash.reference_index(x), adc.encode(x))
    np.testing.assert_array_equal(flash.index_of_therm(flash.therm(x)), adc.encode(x))
    np.testing.assert_array_equal(codes.decode(flash.reference_pattern(x), adc.n_levels, "gray"), adc.encode(x))
    req = design(adc, "requantizer")
    q = req.input_format.to_float(req.sample_ints(x))     # the quantized sample decides exactly as the table
    np.testing.assert_array_equal(req.reference_index(x), adc.encode(q))
    s = np.arange(req.input_format.lo_int, req.input_format.hi_int + 1)
    np.testing.assert_array_equal(req.index_of_ints(s), adc.encode(req.input_format.to_float(s)))


def test_dac_design_compares_with_rounded_thresholds():
    adc = TABLES["lloyd"]
    d = design(adc, "flash", dac=5)
    r = fixed_point.dac_round(adc, 5)
    np.testing.assert_array_equal(d.dac_codes, r.codes)
    np.testing.assert_allclose(d.comparator_thresholds, r.adc.thresholds, rtol=0, atol=1e-15)
    assert "t_lloyd" not in d.dac_rom_verilog and "module hwsim_adc_dac_rom" in d.dac_rom_verilog


def test_vectors_cover_thresholds_rails_and_bubbles():
    d = _design("lloyd", "requantizer", "offset_binary")
    v = golden_vectors(d)
    s = [x - (1 << 12) if x >> 11 else x for x in v.inputs]
    for thr in d.threshold_ints:
        assert thr in s and thr - 1 in s
    assert d.input_format.lo_int in s and d.input_format.hi_int in s
    f = _design("lloyd", "flash", "offset_binary")
    vf = golden_vectors(f)
    m = f.n_levels
    clean = {(1 << k) - 1 for k in range(m)}
    assert clean <= set(vf.inputs)
    bubbles = [(x, c) for x, c, k in zip(vf.inputs, vf.index, vf.kind) if k == "bubble"]
    assert len(bubbles) == m * (m - 1)
    assert all(c == bin(x).count("1") for x, c in bubbles)        # the stated rule: the number of ones
    words = read_memh(memh_text(f, vf))
    assert words == vf.words()


# ---------------------------------------------------------------------- lint and analysis
def test_every_variant_lints_clean(bank):
    need_tool("verilator")
    for d in bank["designs"]:
        ok, log = sims.lint_verilator(d.verilog, d.name)
        assert ok, log
        if d.dac_rom_verilog:
            ok, log = sims.lint_verilator(d.dac_rom_verilog, f"{d.name}_dac_rom")
            assert ok, log
    for d in bank["designs"][:6]:
        from hwsim.converters.rtl.sv_package import package_text

        ok, log = sims.lint_verilator_package(package_text(d), f"{d.name}_pkg")
        assert ok, log


def test_every_variant_analyses_in_ghdl(bank):
    need_tool("ghdl")
    for d in bank["designs"][::5] + bank["designs"][-1:]:
        ok, log = sims.analyse_ghdl(d.vhdl, d.name)
        assert ok, log
        if d.dac_rom_vhdl:
            ok, log = sims.analyse_ghdl(d.dac_rom_vhdl, f"{d.name}_dac_rom")
            assert ok, log


# ---------------------------------------------------------------------- simulations
def test_icarus_passes_and_fails_on_a_corrupted_vector(bank):
    need_tool("iverilog", "vvp")
    r = sims.run_icarus(bank["sources"], "bank_tb", bank["data"])
    assert r.passed, r.log
    total = sum(len(v) for _, v, _ in bank["entries"])
    assert f"PASS all: {total} vectors of {len(bank['designs'])} designs" in r.log
    bad = _corrupt(bank["data"], 9, 5, bank["entries"])
    r = sims.run_icarus(bank["sources"], "bank_tb", bad)
    assert not r.passed and r.returncode != 0 and r.stage == "run"
    name = bank["designs"][9].name
    assert re.search(rf"MISMATCH {name} vector 5: input", r.log), r.log


def test_verilator_passes_and_fails_on_a_corrupted_vector(bank):
    need_tool("verilator", "g++")
    with sims.build_verilator(bank["sources"], "bank_tb") as build:
        assert build.ok, build.log[-3000:]
        r = build.run(bank["data"])
        assert r.passed, r.log[-3000:]
        assert "%Warning" not in build.log, build.log[-3000:]
        bad = _corrupt(bank["data"], 16, 0, bank["entries"])
        r = build.run(bad)
    assert not r.passed and r.returncode != 0 and r.stage == "run"
    assert f"MISMATCH {bank['designs'][16].name} vector 0" in r.log


@pytest.mark.parametrize("which", [0, 10, 17])
def test_ghdl_passes_and_fails_on_a_corrupted_vector(bank, which):
    need_tool("ghdl")
    d, v, fname = bank["entries"][which]
    files = [(f"{d.name}.vhd", d.vhdl), (f"{d.name}_tb.vhd", vhdl_testbench(d, v, fname))]
    r = sims.run_ghdl(files, f"{d.name}_tb", [bank["data"][which]])
    assert r.passed, r.log
    assert f"PASS {d.name}: {len(v)} vectors" in r.log
    bad = _corrupt(bank["data"], which, 3, bank["entries"])
    r = sims.run_ghdl(files, f"{d.name}_tb", [bad[which]])
    assert not r.passed and r.returncode != 0 and f"MISMATCH {d.name} vector 3" in r.log


# ---------------------------------------------------------------------- files and CLI
def test_export_writes_files_that_run_where_they_are(tmp_path):
    need_tool("iverilog", "vvp", "ghdl")
    res = export_rtl(TABLES["learned"], tmp_path / "learned8.v", form="requantizer", output_code="twos_complement",
                     pipeline=True, provenance={"model": "x"})
    assert res["design"].name == "learned8"
    assert {p.name for p in tmp_path.iterdir()} == {"learned8.v", "learned8_tb.v", "learned8_vectors.memh"}
    cmd = "iverilog -g2005 -o tb.vvp learned8.v learned8_tb.v && vvp -n tb.vvp"
    p = subprocess.run(cmd, shell=True, cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 0 and "PASS learned8:" in p.stdout, p.stdout + p.stderr
    res = export_rtl(TABLES["lloyd"], tmp_path / "lm.vhd", "vhdl", form="flash", dac=7)
    assert res["dac_rom"].name == "lm_dac_rom.vhd"
    cmd = "ghdl -a --std=08 lm.vhd lm_dac_rom.vhd lm_tb.vhd && ghdl -r --std=08 lm_tb"
    p = subprocess.run(cmd, shell=True, cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 0 and "PASS lm:" in p.stdout + p.stderr, p.stdout + p.stderr
    res = export_rtl(TABLES["lloyd"], tmp_path / "lm_params.sv", "sv-package", form="requantizer")
    text = res["package"].read_text()
    assert "package lm_params_pkg;" in text and "localparam int N_LEVELS = 8;" in text
    res = export_rtl(TABLES["lloyd"], tmp_path / "lm_pkg.sv", "sv-package")  # the file names the package
    assert "package lm_pkg;" in res["package"].read_text()


def test_export_is_all_or_nothing(tmp_path):
    (tmp_path / "x_tb.v").mkdir()          # the testbench's path is taken by a folder
    with pytest.raises(ValueError, match="not a file"):
        export_rtl(TABLES["uniform"], tmp_path / "x.v")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x_tb.v"]
    with pytest.raises(ValueError, match="must end in"):
        export_rtl(TABLES["uniform"], tmp_path / "x.vhd", "verilog")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x_tb.v"]


def test_cli_exports_rtl(tmp_path, capsys):
    from hwsim.cli.main import main
    from hwsim.converters.tables import export_table

    export_table(TABLES["lloyd"], tmp_path / "t.json")
    rc = main(["adc", "export", str(tmp_path / "t.json"), "--format", "verilog", "--out", str(tmp_path / "q.v"),
               "--form", "requantizer", "--output-code", "gray", "--pipeline", "--input-format", "Q3.8",
               "--level-format", "Q2.13", "--name", "lm_q"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "requantizer converter lm_q" in out and "input Q3.8 (12 bits)" in out
    text = (tmp_path / "q.v").read_text()
    assert "module lm_q (" in text and "input  wire clk" in text and "input  wire signed [11:0] sample" in text
    assert "source_table_sha256" in text
    rc = main(["adc", "export", str(tmp_path / "t.json"), "--out", str(tmp_path / "t.csv"), "--pipeline"])
    assert rc == 2 and "--pipeline" in capsys.readouterr().err
    rc = main(["adc", "export", str(tmp_path / "t.json"), "--out", str(tmp_path / "bad.v"), "--name", "wire"])
    assert rc == 2 and "reserved word" in capsys.readouterr().err
    assert not (tmp_path / "bad.v").exists()


# ---------------------------------------------------------------------- refusals
def test_too_short_input_word_names_the_colliding_thresholds():
    with pytest.raises(ValueError) as exc:
        design(TABLES["lloyd"], "requantizer", input_format="Q2.0")
    msg = str(exc.value)
    assert "Q2.0 (3-bit signed" in msg and "t_1 = -1.74" in msg and "t_2 = -1.04" in msg
    assert "4 bits (Q2.1, 1 more fraction bits) would separate them" in msg
    with pytest.raises(ValueError, match="t_6 = 1.04.* lies above the largest sample"):
        design(TABLES["lloyd"], "requantizer", input_format="Q0.3")
    with pytest.raises(ValueError, match="cannot hold level g_0"):
        design(TABLES["lloyd"], "requantizer", level_format="Q0.15")
    with pytest.raises(ValueError, match="code_bits = 2 is too small: a 8-level table needs 3 bits"):
        design(TABLES["lloyd"], code_bits=2)
    with pytest.raises(ValueError, match="input_format applies to the requantizer"):
        design(TABLES["lloyd"], "flash", input_format="Q3.8")


@pytest.mark.parametrize("name", ['a"; $finish; //', "x\nmodule evil", "9lives", "_x", "a__b", "end_", "wire",
                                  "Entity", "LOGIC", "signal", "therm", "", "a" * 41, "caf\u00e9"])
def test_hostile_or_reserved_module_names_are_refused(name):
    with pytest.raises(ValueError, match="plain identifier|reserved word"):
        design(TABLES["uniform"], name=name)


def test_hostile_provenance_stays_in_its_comment(tmp_path):
    evil = {"k */\nmodule evil;": "v\n endmodule // */ \r\n-- x\n`define X \\", "seed": 3}
    d = design(TABLES["uniform"], "requantizer", name="prov", provenance=evil)
    for text, prefix in ((d.verilog, "// "), (d.vhdl, "-- ")):
        hits = [line for line in text.split("\n") if "evil" in line or "define" in line or "endmodule //" in line]
        assert len(hits) == 1 and hits[0].startswith(prefix + "provenance k %2A%2F%0Amodule evil;: v%0A endmodule")
        assert "\r" not in text and "\\" not in text and "`" not in text
        assert prefix + "provenance seed: 3" in text
    assert d.verilog.count("module ") - d.verilog.count("(hwsim RTL export") == 1 + d.verilog.count("endmodule")
    if sims.have("verilator"):
        ok, log = sims.lint_verilator(d.verilog, d.name)
        assert ok, log
    if sims.have("ghdl"):
        ok, log = sims.analyse_ghdl(d.vhdl, d.name)
        assert ok, log


def test_missing_simulator_names_the_package(monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(sims.SimulatorMissing, match="Debian package iverilog .*apt-get install -y iverilog verilator "
                                                     "ghdl"):
        sims.run_icarus([("a.v", "module a; endmodule\n")], "a")


# ---------------------------------------------------------------------- vector quantizers
def _vq_codebooks():
    from hwsim.quantizers.vq import lbg

    rng = np.random.default_rng(0)
    lbg16, _ = lbg(rng.normal(size=(1000, 2)), 16, rng, iters=10)
    ang = np.arange(6) * np.pi / 3
    a2 = np.vstack(([0.0, 0.0], np.c_[np.cos(ang), np.sin(ang)]))        # A2 lattice points around the origin
    return {"vq_lbg16": lbg16, "vq_a2": a2}


def test_vq_nearest_codeword_module_lints_and_passes_its_vectors():
    from hwsim.converters.rtl.vq import vq_design, vq_files

    need_tool("verilator", "iverilog", "vvp")
    for name, cb in _vq_codebooks().items():
        d = vq_design(cb, name)
        ok, log = sims.lint_verilator(d.verilog, name)
        assert ok, log
        f = vq_files(d, f"{name}_vectors.memh")
        src = [(f"{name}.v", f["module"]), (f"{name}_tb.v", f["testbench"])]
        r = sims.run_icarus(src, f"{name}_tb", [(f"{name}_vectors.memh", f["vectors"])])
        assert r.passed, r.log
        lines = f["vectors"].split("\n")
        k = next(i for i, line in enumerate(lines) if line and not line.startswith("//"))
        lines[k] = f"{int(lines[k].split()[0], 16) ^ 1:0{len(lines[k].split()[0])}x}"
        r = sims.run_icarus(src, f"{name}_tb", [(f"{name}_vectors.memh", "\n".join(lines))])
        assert not r.passed and r.returncode != 0 and f"MISMATCH {name} vector 0" in r.log


def test_vq_reference_is_exact_nearest_with_ties_to_the_lowest_index():
    from hwsim.converters.rtl.vq import vq_design

    d = vq_design(_vq_codebooks()["vq_a2"], "vq_a2", input_format="Q3.8")
    c = d.codeword_ints
    s = np.random.default_rng(2).integers(-600, 600, (3000, 2))
    dist = ((s[:, None, :] - c[None]) ** 2).sum(-1)
    idx = d.index_of_ints(s)
    np.testing.assert_array_equal(dist[np.arange(len(s)), idx], dist.min(1))
    first = np.array([np.flatnonzero(row == row.min())[0] for row in dist])
    np.testing.assert_array_equal(idx, first)
    pair = vq_design([[2.0, 0.0], [0.0, 0.0], [-2.0, 0.0]], "vq_pair", input_format="Q3.8")
    np.testing.assert_array_equal(pair.index_of_ints([[256, 0], [-256, 5], [-256, -5], [0, 0]]), [0, 1, 1, 1])
