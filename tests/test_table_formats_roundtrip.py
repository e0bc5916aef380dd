"""Every table format hwsim writes imports back (issue 28 item 5): json, csv and mat bit for bit; the integer
formats (C header, $readmemh, Intel MIF, Xilinx COE) to the DAC-rounded thresholds and the levels of their
fixed-point words; plain CSV tables without the magic line; bad files give ValueErrors naming file and line."""

import re
import shutil
import subprocess

import numpy as np
import pytest

from hwsim.converters.adc import ThresholdADC, UniformADC
from hwsim.converters.fixed_point import dac_round
from hwsim.converters.formats import memh
from hwsim.converters.tables import EXTENSIONS, IMPORT_FORMATS, export_table, import_table
from hwsim.designs import lloyd_max
from hwsim.qformat import QFormat

EXT = {"json": "json", "csv": "csv", "mat": "mat", "c": "h", "memh": "mem", "mif": "mif", "coe": "coe"}
INTEGER = ("c", "memh", "mif", "coe")


def random_table(seed, m):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(-2.5, 2.5, m - 1))
    g = np.concatenate(([t[0] - 0.3], (t[:-1] + t[1:]) / 2, [t[-1] + 0.4]))
    return ThresholdADC(t, g)


def level_lsb(fmt, text, levels):
    """Half the LSB of the fixed-point levels the file states."""
    if fmt == "c":
        frac = int(re.search(r"#define HWSIM_ADC_LEVEL_FRAC_BITS ([0-9]+)", text).group(1))
    elif fmt == "memh":
        frac = int(re.search(r"level = level_q / 2\^([0-9]+)", text).group(1))
    else:
        frac = -int(re.search(r"level = q \* 2\^\((-?[0-9]+)\)", text).group(1))
    return 2.0 ** -(frac + 1)


def test_every_exported_format_is_importable():
    assert set(IMPORT_FORMATS) == set(EXTENSIONS) == set(EXT)


@pytest.mark.parametrize("fmt", list(EXT))
@pytest.mark.parametrize("case", ["lloyd_max", "random32", "uniform", "tiny_levels"])
def test_round_trip(tmp_path, fmt, case):
    adc, fs, bits = {"lloyd_max": (lloyd_max(3), (-2.5, 2.5), 10),
                     "random32": (random_table(1, 32), (-3.0, 3.0), 12),
                     "uniform": (UniformADC(16, 1.0), None, 8),
                     "tiny_levels": (ThresholdADC([-1e-3, 0.0, 1e-3], [-2e-3, -5e-4, 5e-4, 2e-3]), None, 14)}[case]
    path = tmp_path / f"t.{EXT[fmt]}"
    export_table(adc, path, fmt, full_scale=fs, dac=bits, provenance={"model_file": "rx/a%b 1.pt", "seed": 7})
    back, meta = import_table(path)
    assert meta["source_format"] == fmt and back.n_levels == adc.n_levels
    rounded = dac_round(adc, bits, fs)
    if fmt in INTEGER:
        np.testing.assert_allclose(back.thresholds, rounded.adc.thresholds, rtol=1e-12, atol=0)
        assert meta["dac"]["threshold_codes"] == rounded.codes.tolist() and meta["dac"]["bits"] == bits
        tol = level_lsb(fmt, path.read_text(), adc.levels)
        assert np.all(np.abs(back.levels - adc.levels) <= tol * (1 + 1e-12)), (back.levels - adc.levels, tol)
        if fmt in ("mif", "coe") or case != "tiny_levels":      # (the C header's levels keep <= 16 fraction bits)
            assert tol < 1e-3 * np.max(np.abs(adc.levels))      # the words are fine enough to matter
    else:
        np.testing.assert_array_equal(back.thresholds, adc.thresholds)
        np.testing.assert_array_equal(back.levels, adc.levels)
    want_fs = fs if fs is not None else rounded.full_scale
    assert (meta["full_scale"]["min"], meta["full_scale"]["max"]) == tuple(want_fs)
    assert meta["full_scale"]["units"] == "V"
    assert meta["provenance"]["model_file"] == "rx/a%b 1.pt" and str(meta["provenance"]["seed"]) == "7"
    # a second export of the imported table gives the same integer words: import is the inverse of export
    if fmt in INTEGER:
        again = tmp_path / f"again.{EXT[fmt]}"
        export_table(back, again, fmt, full_scale=tuple(want_fs), dac=bits)
        back2, meta2 = import_table(again)
        assert meta2["dac"]["threshold_codes"] == meta["dac"]["threshold_codes"]
        np.testing.assert_array_equal(back2.levels, back.levels)
        np.testing.assert_array_equal(back2.thresholds, back.thresholds)


def test_default_dac_and_units(tmp_path):
    adc = lloyd_max(2)
    for fmt in INTEGER:
        path = tmp_path / f"d.{EXT[fmt]}"
        export_table(adc, path, fmt, full_scale=(-2.0, 2.0), units="mV")
        back, meta = import_table(path)
        np.testing.assert_allclose(back.thresholds, dac_round(adc, 12, (-2.0, 2.0)).adc.thresholds, rtol=1e-12)
        assert meta["dac"]["bits"] == 12 and meta["full_scale"]["units"] == "mV"


def test_rom_files_have_the_stated_layout(tmp_path):
    """MIF: WIDTH/DEPTH/radices, addresses 0..2M-2, no '%'; COE: radix, vector, ';' at the end; the words are the
    DAC codes, then the levels in the stated two's-complement Qm.n."""
    adc = random_table(2, 8)
    export_table(adc, tmp_path / "t.mif", "mif", dac=12, full_scale=(-3.0, 3.0),
                 provenance={"model_file": "a%b/c\n-- END;"})
    text = (tmp_path / "t.mif").read_text()
    assert "%" not in text
    assert re.search(r"^WIDTH=18;\nDEPTH=15;\nADDRESS_RADIX=UNS;\nDATA_RADIX=HEX;\nCONTENT BEGIN\n", text, re.M)
    body = [line.split("--")[0].strip() for line in text.splitlines()]
    entries = [b for b in body if re.fullmatch(r"[0-9]+ : [0-9a-f]{5};", b)]
    assert [int(e.split(":")[0]) for e in entries] == list(range(15))
    words = [int(e.split(":")[1].strip(" ;"), 16) for e in entries]
    assert words[:7] == dac_round(adc, 12, (-3.0, 3.0)).codes.tolist()
    q = QFormat.parse(re.search(r"level format: (Q[0-9]+\.[0-9]+)", text).group(1))
    assert q.word == 18
    signed = [w - (1 << 18) if w >> 17 else w for w in words[7:]]
    np.testing.assert_allclose(q.to_float(signed), adc.levels, atol=q.lsb / 2)
    assert body.count("END;") == 1 and text.rstrip().endswith("END;")
    assert import_table(tmp_path / "t.mif")[1]["provenance"]["model_file"] == "a%b/c\n-- END;"

    export_table(adc, tmp_path / "t.coe", "coe", dac=12, full_scale=(-3.0, 3.0))
    lines = (tmp_path / "t.coe").read_text().splitlines()
    i = lines.index("memory_initialization_radix=16;")
    assert all(line.startswith(";") for line in lines[:i])
    assert lines[i + 1] == "memory_initialization_vector="
    vec = lines[i + 2:]
    assert len(vec) == 15 and all(v.endswith(",") for v in vec[:-1]) and vec[-1].endswith(";")
    assert [int(v[:-1], 16) for v in vec] == words


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="no iverilog")
def test_readmemh_loads_only_the_threshold_codes(tmp_path):
    """The level lines of a memory file are comments to a real $readmemh (Icarus Verilog)."""
    adc = lloyd_max(3)
    export_table(adc, tmp_path / "t.mem", "memh", dac=10, full_scale=(-2.5, 2.5))
    (tmp_path / "tb.v").write_text(
        'module tb; reg [9:0] mem [0:7]; integer k;\n'
        'initial begin for (k = 0; k < 8; k = k + 1) mem[k] = 10\'h3ff; $readmemh("t.mem", mem, 0, 6);\n'
        'for (k = 0; k < 8; k = k + 1) $display("%0d", mem[k]); $finish; end endmodule\n')
    subprocess.run(["iverilog", "-o", "tb", "tb.v"], cwd=tmp_path, check=True, capture_output=True, timeout=60)
    out = subprocess.run(["vvp", "-n", "tb"], cwd=tmp_path, check=True, capture_output=True, text=True, timeout=60)
    got = [int(v) for v in out.stdout.split() if v.isdigit()]
    assert got == dac_round(adc, 10, (-2.5, 2.5)).codes.tolist() + [1023]
    assert "warning" not in (out.stdout + out.stderr).lower()


def test_plain_csv_tables_import(tmp_path):
    (tmp_path / "a.csv").write_text("threshold,level\n-0.5,-1.0\n0.5,0.0\n,1.0\n")
    adc, meta = import_table(tmp_path / "a.csv")
    np.testing.assert_array_equal(adc.thresholds, [-0.5, 0.5])
    np.testing.assert_array_equal(adc.levels, [-1.0, 0.0, 1.0])
    assert meta["provenance"]["plain_csv"] == "threshold,level"
    (tmp_path / "b.csv").write_bytes(b"\xef\xbb\xbf Level , THRESHOLD\r\n-1.5,-1\r\n-0.5,0\r\n0.5,1\r\n1.5,\r\n")
    adc, _ = import_table(tmp_path / "b.csv")
    np.testing.assert_array_equal(adc.thresholds, [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(adc.levels, [-1.5, -0.5, 0.5, 1.5])
    (tmp_path / "c.csv").write_text("threshold\n-1\n0\n1\n")
    adc, meta = import_table(tmp_path / "c.csv")
    np.testing.assert_array_equal(adc.levels, [-1.5, -0.5, 0.5, 1.5])                # cell mid-points
    assert "mid-points" in meta["provenance"]["levels"]
    # and it runs in a bank
    from hwsim.components import build

    assert build("adc", {"type": "dac_rounded", "table": str(tmp_path / "c.csv"), "dac_bits": 8}).table.n_levels == 4


@pytest.mark.parametrize("content, match", [
    ("threshold\n-1\n0x\n1\n", r"p.csv: line 3: threshold must be a number"),
    ("threshold\n-1\n1\n0\n", r"p.csv: line 4: thresholds must be strictly increasing.*line 3"),
    ("threshold\n0\n", r"at least 2 thresholds"),
    ("threshold,level\n-1,0\n1,1\n", r"p.csv: line 3: the last row's threshold must be empty"),
    ("threshold,level\n-1,0\n,1,2\n", r"p.csv: line 3: the row must have 2 columns"),
    ("threshold,level\n-1,x\n,1\n", r"p.csv: line 2: level must be a number"),
    ("threshold,level\ninf,0\n,1\n", r"p.csv: line 2: threshold must be a finite number"),
    ("thresholds\n-1\n1\n", r"p.csv is not an hwsim CSV table: its first line must be"),
    ("code,lower_threshold,upper_threshold,level\n0,-inf,0,1\n1,0,inf,2\n", r"not an hwsim CSV table"),
    ("threshold,threshold\n1,2\n", r"not an hwsim CSV table"),
])
def test_bad_plain_csv_names_the_file_and_line(tmp_path, content, match):
    (tmp_path / "p.csv").write_text(content)
    with pytest.raises(ValueError, match=match):
        import_table(tmp_path / "p.csv")


def _edit(path, old, new, count=1):
    """Replace the first ``old`` (a regular expression when it starts with ``re:``) by ``new``."""
    text = path.read_text()
    if old.startswith("re:"):
        edited = re.sub(old[3:], new, text, count=count, flags=re.M)
        assert edited != text, old
        path.write_text(edited)
        return
    assert old in text, old
    path.write_text(text.replace(old, new, count))


@pytest.fixture
def files(tmp_path):
    adc = lloyd_max(3)
    for fmt in INTEGER:
        export_table(adc, tmp_path / f"t.{EXT[fmt]}", fmt, dac=10, full_scale=(-2.5, 2.5))
    return tmp_path


@pytest.mark.parametrize("name, old, new, match", [
    ("t.mem", r"re:^[0-9a-f]{3}  //", "2g8  //", r"t.mem: line [0-9]+: expected one threshold code of 3 hex digits"),
    ("t.mem", "// level_q[7]", "// level_q[6]", r"level_q\[6\] is given twice"),
    ("t.mem", "full scale [-2.5, 2.5]", "full scale [-2.5 2.5]", r"t.mem: line 2: expected 'levels M = M"),
    ("t.mem", "LSB = (max - min) / 2^10 = 0.0048828125", "LSB = (max - min) / 2^10 = 0.005",
     r"t.mem: line 3: LSB = 0.005 is not"),
    ("t.mem", "// hwsim ADC decision table", "// some table", r"not a \$readmemh table file written by hwsim"),
    ("t.h", "#define HWSIM_ADC_DAC_BITS 10", "#define HWSIM_ADC_DAC_BITS 11",
     r"t.h: line [0-9]+: HWSIM_ADC_DAC_BITS = 11 contradicts the header comment block"),
    ("t.h", "};", "}; int evil;", r"t.h: line [0-9]+: expected one entry of hwsim_adc_threshold_codes|unexpected line"),
    ("t.h", "#include <stdint.h>", "#include <stdint.h>\nint x;", r"t.h: line [0-9]+: unexpected line 'int x;'"),
    ("t.h", "/*\n * hwsim", "/*\n * other", r"not a C header table written by hwsim"),
    ("t.mif", "DEPTH=15;", "DEPTH=16;", r"t.mif: line [0-9]+: DEPTH=16 but the content holds 15 words"),
    ("t.mif", "DATA_RADIX=HEX;", "DATA_RADIX=BIN;", r"t.mif: line [0-9]+: DATA_RADIX must be HEX"),
    ("t.mif", "    3 : ", "    4 : ", r"t.mif: line [0-9]+: expected address 3"),
    ("t.mif", "-- ROM of", "% block %\n-- ROM of", r"t.mif: line [0-9]+: '%' \(a block comment\)"),
    ("t.mif", "END;", "", r"t.mif: the file ends before END;"),
    ("t.mif", "level format: Q2.15", "level format: Q3.15", r"t.mif: line [0-9]+: Q3.15 is not a 18-bit format"),
    ("t.coe", "memory_initialization_radix=16;", "memory_initialization_radix=10;",
     r"t.coe: line [0-9]+: expected 'memory_initialization_radix=16;'"),
    ("t.coe", r"re:^0([0-9a-f]{4}),$", r"\1,", r"t.coe: line [0-9]+: expected one word of 5 hex digits"),
    ("t.coe", r"re:;\n\Z", ",\n", r"t.coe: the file ends before the memory_initialization_vector is closed"),
    ("t.coe", "; level format:", "; lvl format:", r"t.coe: no 'level format: \.\.\.' comment line"),
])
def test_bad_integer_files_name_the_file_and_line(files, name, old, new, match):
    _edit(files / name, old, new)
    with pytest.raises(ValueError, match=match):
        import_table(files / name)


def test_codes_that_are_not_strictly_increasing_or_beyond_the_dac(files):
    text = (files / "t.mif").read_text()
    words = re.findall(r"^    ([0-9]+) : ([0-9a-f]+);", text, re.M)
    (files / "t.mif").write_text(text.replace(f"    1 : {words[1][1]};", f"    1 : {words[0][1]};"))
    with pytest.raises(ValueError, match=r"t.mif: line [0-9]+: threshold codes must be strictly increasing"):
        import_table(files / "t.mif")
    _edit(files / "t.coe", r"re:^[0-9a-f]{5},$", "00400,")          # code 1024 of a 10-bit DAC
    with pytest.raises(ValueError, match=r"t.coe: line [0-9]+: threshold code 1024 of t_1 is not a code of the "
                                         r"10-bit DAC"):
        import_table(files / "t.coe")


def test_a_memory_file_without_levels_says_what_to_pass(files):
    text = (files / "t.mem").read_text()
    bare = "\n".join(line for line in text.splitlines() if "level_q" not in line) + "\n"
    (files / "bare.mem").write_text(bare)
    with pytest.raises(ValueError, match=r"bare.mem holds the 7 threshold DAC codes but no reconstruction levels.*"
                                         r"read_thresholds\(path\)\[0\], levels\)"):
        import_table(files / "bare.mem")
    thresholds, header = memh.read_thresholds(files / "bare.mem")
    np.testing.assert_allclose(thresholds, dac_round(lloyd_max(3), 10, (-2.5, 2.5)).adc.thresholds, rtol=1e-12)
    assert header.n_levels == 8 and header.dac_bits == 10
    adc = ThresholdADC(thresholds, lloyd_max(3).levels)
    assert adc.n_levels == 8
    (files / "hand.mem").write_text("0a0\n1b0\n")
    with pytest.raises(ValueError, match=r"hand.mem is not a \$readmemh table file written by hwsim"):
        import_table(files / "hand.mem")


def test_non_ascii_and_oversized_hardware_files(files):
    (files / "t.coe").write_bytes((files / "t.coe").read_bytes().replace(b"; level format", b"; \xff level format"))
    with pytest.raises(ValueError, match=r"t.coe: line [0-9]+: COE files hold only printable ASCII"):
        import_table(files / "t.coe")
    size = (files / "t.mif").stat().st_size
    with pytest.raises(ValueError, match=r"at most 100 bytes"):
        import_table(files / "t.mif", max_bytes=100)
    assert size > 100
