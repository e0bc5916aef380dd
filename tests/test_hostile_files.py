"""Hostile input that reaches exported or imported table files (hwsim.converters.tables, hwsim.cli.adc).

- Provenance and units must not inject code into C headers or data words into $readmemh
  files (checked with gcc and with a strict memory-file parser written here).
- Import and export agree on one validator.
- Junk files are refused on size and first bytes, quickly and with bounded memory.
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from hwsim.converters.adc import ThresholdADC, UniformADC
from hwsim.converters.fixed_point import dac_round
from hwsim.converters.tables import export_from_model, export_table, import_table

GCC = shutil.which("gcc")
NM = shutil.which("nm")

#: Strings an attacker controls: a provenance field, an imported table's provenance, a model file name.
INCLUDE_PASSWD = 'x */ #include "/etc/passwd" /*'


def _hostile_provenance(tmp_path):
    evil = tmp_path / "evil.h"
    evil.write_text("int evil_symbol_from_include = 42;\n")
    return {
        "model_file": INCLUDE_PASSWD,
        "model_sha256": f'abc\n#include "{evil}"\n/*',
        "seed": "7 */ int injected_seed_symbol = 7; /*",
        "hwsim_version": "0.1 */\n#define HWSIM_ADC_N_LEVELS 999\n/*",
        "created_utc": "now\r\n0fff\r\n@0 ffff",
        "note": "\x1b[31m\u2028\x00 */",
    }


def _cli(*argv):
    from hwsim.cli.adc import add_adc_parser

    parser = argparse.ArgumentParser(prog="hwsim")
    add_adc_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["adc", *map(str, argv)])
    return args.func(args)


def _gcc(*args, cwd):
    return subprocess.run([GCC, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120)


def _check_header_with_gcc(header, adc, rounded):
    """Compile ``header`` and check that it declares exactly the expected macros and symbols."""
    if GCC is None:
        pytest.skip("gcc is not installed (needed to compile the exported C header)")
    folder = header.parent
    # 1. Preprocess: no file other than stdint's chain may be included (-H lists every include).
    pre = _gcc("-std=c99", "-E", "-H", header.name, cwd=folder)
    assert pre.returncode == 0, pre.stderr
    included = [line.lstrip(". ").strip() for line in pre.stderr.splitlines() if line.startswith(".")]
    assert not [p for p in included if "passwd" in p or "evil" in p], included
    assert "root:" not in pre.stdout and "evil_symbol" not in pre.stdout and "injected" not in pre.stdout
    # 2. Macros: exactly ours on top of <stdint.h>.
    (folder / "base.c").write_text("#include <stdint.h>\n")
    (folder / "with.c").write_text(f'#include <stdint.h>\n#include "{header.name}"\n')
    base = set(_gcc("-std=c99", "-dM", "-E", "base.c", cwd=folder).stdout.splitlines())
    macros = set(_gcc("-std=c99", "-dM", "-E", "with.c", cwd=folder).stdout.splitlines()) - base
    names = {m.split()[1] for m in macros}
    assert names == {"HWSIM_ADC_TABLE_H", "HWSIM_ADC_N_LEVELS", "HWSIM_ADC_N_THRESHOLDS", "HWSIM_ADC_DAC_BITS",
                     "HWSIM_ADC_FS_MIN", "HWSIM_ADC_FS_MAX", "HWSIM_ADC_LSB", "HWSIM_ADC_LEVEL_FRAC_BITS"}, macros
    # 3. Symbols: exactly the two tables (static consts are kept at -O0).
    obj = _gcc("-std=c99", "-Wall", "-Werror", "-O0", "-c", "with.c", "-o", "with.o", cwd=folder)
    assert obj.returncode == 0, obj.stderr
    if NM is not None:
        nm = subprocess.run([NM, "with.o"], cwd=folder, capture_output=True, text=True, check=True).stdout
        symbols = {line.split()[-1] for line in nm.splitlines() if line.strip()}
        assert symbols == {"hwsim_adc_threshold_codes", "hwsim_adc_levels_q"}, symbols
    # 4. Values: run a program that prints them.
    (folder / "main.c").write_text(textwrap.dedent(f"""\
        #include <stdio.h>
        #include "{header.name}"
        int main(void) {{
          printf("%d %d\\n", HWSIM_ADC_N_LEVELS, HWSIM_ADC_DAC_BITS);
          for (int k = 0; k < HWSIM_ADC_N_THRESHOLDS; k++) printf("%u\\n", hwsim_adc_threshold_codes[k]);
          return 0;
        }}
        """))
    built = _gcc("-std=c99", "-Wall", "-Werror", "-o", "main", "main.c", cwd=folder)
    assert built.returncode == 0, built.stderr
    out = subprocess.run([str(folder / "main")], capture_output=True, text=True, check=True).stdout.split()
    assert [int(v) for v in out[:2]] == [adc.n_levels, rounded.bits]
    assert [int(v) for v in out[2:]] == rounded.codes.tolist()


def _strict_readmemh(text, width):
    """A strict $readmemh reader: only ``//`` comments and hex words of exactly ``width`` digits.

    No block comments, no ``@address`` lines, no control characters other than newline.
    Returns the words as ints.
    """
    assert re.fullmatch(r"[\x20-\x7e\n]*", text), "control or non-ASCII characters in a memory file"
    assert "/*" not in text and "*/" not in text
    words = []
    for n, line in enumerate(text.split("\n")):
        body = line.split("//", 1)[0].strip()
        if not body:
            continue
        assert re.fullmatch(f"[0-9a-fA-F]{{{width}}}", body), f"line {n}: {line!r} is not one {width}-digit word"
        words.append(int(body, 16))
    return words


# ================================================================== item 2: injection into exported files
def test_hostile_provenance_cannot_inject_into_the_c_header(tmp_path):
    adc = UniformADC(8, 2.0)
    prov = _hostile_provenance(tmp_path)
    export_table(adc, tmp_path / "adc.h", "c", provenance=prov, dac=8)
    _check_header_with_gcc(tmp_path / "adc.h", adc, dac_round(adc, 8))


def test_hostile_provenance_of_an_imported_table_cannot_inject_via_the_cli(tmp_path):
    adc = UniformADC(4, 1.0)
    export_table(adc, tmp_path / "in.json", "json")
    doc = json.loads((tmp_path / "in.json").read_text())
    doc["provenance"].update(_hostile_provenance(tmp_path))   # a table file received from elsewhere
    (tmp_path / "in.json").write_text(json.dumps(doc))
    (tmp_path / "out").mkdir()
    assert _cli("export", tmp_path / "in.json", "--out", tmp_path / "out" / "adc.h", "--dac-bits", "6") == 0
    _check_header_with_gcc(tmp_path / "out" / "adc.h", adc, dac_round(adc, 6))
    assert _cli("export", tmp_path / "in.json", "--out", tmp_path / "out" / "adc.mem", "--dac-bits", "6") == 0
    words = _strict_readmemh((tmp_path / "out" / "adc.mem").read_text(), 2)
    assert words == dac_round(adc, 6).codes.tolist()


def test_hostile_provenance_cannot_add_words_to_a_memh_file(tmp_path):
    adc = ThresholdADC([-1.0, 0.0, 1.0], [-1.5, -0.5, 0.5, 1.5])
    prov = _hostile_provenance(tmp_path)
    prov["model_file"] = "rx\n0fff\n0fff\n.pt"
    prov["seed"] = "1\n@0\nffff"
    export_table(adc, tmp_path / "adc.mem", "memh", provenance=prov, dac=12, full_scale=(-2.0, 2.0))
    words = _strict_readmemh((tmp_path / "adc.mem").read_text(), 3)
    assert words == dac_round(adc, 12, (-2.0, 2.0)).codes.tolist()      # exactly M-1 words


def _tiny_receiver(path):
    import torch

    from hwsim.receivers.hybrid import HybridReceiver, TrainedReceiver

    torch.manual_seed(0)
    TrainedReceiver(model=HybridReceiver(4, 2, 4, 16, hidden=4), config={"note": "tiny"}, seed=5).save(path)


def test_model_file_name_with_newlines_cannot_add_words_to_a_memh_file(tmp_path):
    model = tmp_path / "rx\n0fff\n0fff\n.pt"
    _tiny_receiver(model)
    export_from_model(model, tmp_path / "adc.mem", "memh", dac=8)
    from hwsim.receivers.hybrid import TrainedReceiver

    table = TrainedReceiver.load(model).model.adc_table()
    words = _strict_readmemh((tmp_path / "adc.mem").read_text(), 2)
    assert words == dac_round(table, 8).codes.tolist()
    export_from_model(model, tmp_path / "adc.h", "c", dac=8)
    _check_header_with_gcc(tmp_path / "adc.h", table, dac_round(table, 8))


def test_numbers_in_headers_come_from_the_table_not_from_user_objects(tmp_path):
    import dataclasses

    adc = UniformADC(4, 1.0)
    forged = dataclasses.replace(dac_round(adc, 8), lsb="1 */ int forged_lsb = 1; /*",
                                 full_scale=(-1.0, "1.0 */ int forged_fs = 1; /*"))
    try:
        export_table(adc, tmp_path / "adc.h", "c", dac=forged)
    except (TypeError, ValueError) as exc:   # refusing the forged rounding is fine ...
        assert "dac" in str(exc) or "full_scale" in str(exc)
        assert not (tmp_path / "adc.h").exists()
    else:                                    # ... and so is ignoring its text, but nothing may be injected
        _check_header_with_gcc(tmp_path / "adc.h", adc, dac_round(adc, 8))


@pytest.mark.parametrize("units", ['V */ #include "/etc/passwd" /*', "V\n0fff", "V\r", "mV\x1b[2J", "V\\",
                                   "\u00b5V", "V??/", "V /* x"])
@pytest.mark.parametrize("fmt, ext", [("json", "json"), ("csv", "csv"), ("c", "h"), ("memh", "mem"),
                                      ("mat", "mat")])
def test_hostile_units_are_refused_by_every_exporter(tmp_path, units, fmt, ext):
    with pytest.raises(ValueError, match="units"):
        export_table(UniformADC(4, 1.0), tmp_path / f"t.{ext}", fmt, units=units)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["json", "csv", "mat"])
def test_hostile_provenance_is_escaped_in_json_csv_and_mat(tmp_path, fmt):
    adc = UniformADC(4, 1.0)
    prov = _hostile_provenance(tmp_path)
    export_table(adc, tmp_path / f"t.{fmt}", fmt, provenance=prov)
    raw = (tmp_path / f"t.{fmt}").read_bytes()
    if fmt == "csv":
        lines = raw.decode("ascii").split("\n")
        assert lines[-1] == "" and len(lines) - 1 == 2 + 1 + adc.n_levels        # no line was added
        assert [i for i, line in enumerate(lines) if line.startswith("#")] == [0, 1]
        assert re.fullmatch(rb"[\x20-\x7e\n]*", raw)
    if fmt == "json":
        assert re.fullmatch(rb"[\x20-\x7e\n]*", raw)
    _, meta = import_table(tmp_path / f"t.{fmt}")
    for key, value in prov.items():                        # kept exactly, escaped by JSON
        assert meta["provenance"][key] == value


def test_hostile_provenance_is_escaped_when_printed(tmp_path, capsys):
    adc = UniformADC(4, 1.0)
    export_table(adc, tmp_path / "t.json", "json", provenance={"note": "a\x1b[2Jb\nc"})
    assert _cli("import", tmp_path / "t.json") == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "a\\x1b[2Jb\\nc" in out


# ================================================================== item 10: one validator for import and export
def _json_table(path, **changes):
    doc = {"format": "hwsim-adc-table", "version": 1, "n_levels": 4, "bits": 2.0, "codes": [0, 1, 2, 3],
           "thresholds": [-1.0, 0.0, 1.0], "levels": [-1.5, -0.5, 0.5, 1.5],
           "full_scale": {"min": -2.0, "max": 2.0, "units": "V"}, "provenance": {}}
    doc.update(changes)
    path.write_text(json.dumps(doc))
    return path


def _csv_table(path, rows, meta=None):
    text = "# hwsim-adc-table version 1\n"
    if meta is not None:
        text += "# meta: " + json.dumps(meta) + "\n"
    text += "code,lower_threshold,upper_threshold,level\n" + "".join(",".join(r) + "\n" for r in rows)
    path.write_text(text)
    return path


AGREE = {
    # name: (export kwargs, table for export, JSON changes for import, message)
    "full scale not containing the thresholds": (
        dict(full_scale=(-0.5, 0.5)), None,
        dict(full_scale={"min": -0.5, "max": 0.5, "units": "V"}), "must contain every threshold"),
    "values near 1.7e308": (
        {}, ThresholdADC([-1.7e308, 0.0, 1.7e308], [-1.5, -0.5, 0.5, 1.5]),
        dict(thresholds=[-1.7e308, 0.0, 1.7e308], full_scale={"min": -1.79e308, "max": 1.79e308, "units": "V"}),
        "magnitude at most"),
    "huge level": (
        {}, ThresholdADC([-1.0, 0.0, 1.0], [-1.5, -0.5, 0.5, 1.7e308]),
        dict(levels=[-1.5, -0.5, 0.5, 1.7e308]), "magnitude at most"),
    "huge full scale": (
        dict(full_scale=(-1.7e308, 1.7e308)), None,
        dict(full_scale={"min": -1.7e308, "max": 1.7e308, "units": "V"}), "magnitude at most"),
    "control characters in units": (
        dict(units="V\x07"), None, dict(full_scale={"min": -2.0, "max": 2.0, "units": "V\x07"}), "units"),
    "escape sequence in units": (
        dict(units="\x1b[2J"), None, dict(full_scale={"min": -2.0, "max": 2.0, "units": "\x1b[2J"}), "units"),
    "blank units": (
        dict(units="   "), None, dict(full_scale={"min": -2.0, "max": 2.0, "units": "   "}), "units"),
    "comment terminator in units": (
        dict(units="V */"), None, dict(full_scale={"min": -2.0, "max": 2.0, "units": "V */"}), "units"),
}


@pytest.mark.parametrize("case", list(AGREE))
def test_import_and_export_refuse_the_same_tables(tmp_path, case):
    kwargs, table, changes, match = AGREE[case]
    table = table or ThresholdADC([-1.0, 0.0, 1.0], [-1.5, -0.5, 0.5, 1.5])
    with pytest.raises(ValueError, match=match):
        export_table(table, tmp_path / "out.json", "json", **kwargs)
    assert not (tmp_path / "out.json").exists()
    path = _json_table(tmp_path / "in.json", **changes)
    with pytest.raises(ValueError, match=match) as info:
        import_table(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("text", ["1_0", " 1.0", "1.0 ", "nan", "infinity", "+inf", "1e999", "0x10", "１",
                                  "1" * 100])
def test_csv_numbers_must_be_written_as_the_exporter_writes_them(tmp_path, text):
    rows = [["0", "-inf", "-1.0", "-1.5"], ["1", "-1.0", text, "-0.5"], ["2", text, "inf", "0.5"]]
    if text in ("1_0", " 1.0", "1.0 "):                                 # these parse as floats in Python
        rows = [["0", "-inf", "-1.0", "-1.5"], ["1", "-1.0", text, "-0.5"], ["2", text, "20.0", "0.5"],
                ["3", "20.0", "inf", "1.5"]]
    path = _csv_table(tmp_path / "t.csv", rows)
    with pytest.raises(ValueError, match="number|ASCII") as info:
        import_table(path)
    assert str(path) in str(info.value)
    # the other way: the exporter refuses text for numbers and writes only what the importer reads back
    with pytest.raises((TypeError, ValueError), match="full_scale"):
        export_table(UniformADC(4, 1.0), tmp_path / "o.csv", "csv", full_scale=(-20.0, text))
    for v in (5e-324, -1.2345678901234567e-100, 1e15, -1e15, 2.0**-1074 * 3, 123456789.12345678):
        adc = ThresholdADC([v, np.nextafter(v, np.inf)], [v, v, v]) if abs(v) < 1e15 else \
            ThresholdADC([-1.0, 0.0], [v, 0.0, -v])
        export_table(adc, tmp_path / "r.csv", "csv", full_scale=(-1e15, 1e15))
        back, _ = import_table(tmp_path / "r.csv")
        np.testing.assert_array_equal(back.thresholds, adc.thresholds)
        np.testing.assert_array_equal(back.levels, adc.levels)


def test_export_and_import_call_the_same_validator(tmp_path, monkeypatch):
    import hwsim.converters.tables as tables

    calls = []
    real = tables.check_table

    def spy(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(tables, "check_table", spy)
    export_table(UniformADC(4, 1.0), tmp_path / "t.json", "json")
    assert len(calls) == 1
    for fmt in ("csv", "mat"):
        export_table(UniformADC(4, 1.0), tmp_path / f"t.{fmt}", fmt)
    calls.clear()
    for fmt in ("json", "csv", "mat"):
        import_table(tmp_path / f"t.{fmt}")
    assert calls == [str(tmp_path / f"t.{fmt}") for fmt in ("json", "csv", "mat")]


# ================================================================== item 11: refuse on size and first bytes
def test_5000_digit_number_error_names_the_file(tmp_path):
    digits = "1" * 5000
    head = '{"format": "hwsim-adc-table", "version": 1, '
    texts = {"int level": head + '"thresholds": [-1.0, 0.0, 1.0], "levels": [-1.5, -0.5, 0.5, ' + digits + "]}",
             "float level": head + '"thresholds": [-1.0, 0.0, 1.0], "levels": [-1.5, -0.5, 0.5, 0.' + digits + "]}",
             "n_levels": head + '"n_levels": ' + digits + ', "thresholds": [0.0], "levels": [0.0, 1.0]}',
             "provenance": head + '"thresholds": [0.0], "levels": [0.0, 1.0], "provenance": {"x": -' + digits + "}}"}
    for case, text in texts.items():
        path = tmp_path / f"{case.replace(' ', '_')}.json"
        path.write_text(text)
        with pytest.raises(ValueError) as info:
            import_table(path)
        assert str(path) in str(info.value) and "digits" in str(info.value), (case, str(info.value)[:300])


_MEASURE = r"""
import resource, sys, time, tracemalloc
from hwsim.converters.tables import import_table
path = sys.argv[1]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
t0 = time.perf_counter()
try:
    import_table(path)
    msg = "ACCEPTED"
except ValueError as exc:
    msg = str(exc)
elapsed = time.perf_counter() - t0
peak = tracemalloc.get_traced_memory()[1]
grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024
print(repr((msg, elapsed, peak, grew)))
"""


def _import_in_subprocess(path):
    out = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return eval(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name, head, fill", [
    ("junk.csv", b"# hwsim-adc-table version 1\n", b"\n"),        # tens of millions of empty lines
    ("junk.json", b"[", b"0,"),                                 # a list of millions of zeros
    ("junk2.json", b'{"levels": [', b"0,"),                     # the same inside an object
    ("junk.mat", b"MATLAB 5.0 MAT-file", b"\x00"),
])
@pytest.mark.parametrize("size", [32_000_000, 12_000_000])
def test_junk_files_are_refused_quickly_with_bounded_memory(tmp_path, name, head, fill, size):
    path = tmp_path / name
    with open(path, "wb") as f:
        f.write(head)
        f.write(fill * ((size - len(head)) // len(fill)))
    msg, elapsed, peak, grew = _import_in_subprocess(path)
    assert msg != "ACCEPTED" and str(path) in msg
    assert peak < 64 * 2**20 and grew < 64 * 2**20, (msg, peak, grew)
    assert elapsed < 60.0, (msg, elapsed)  # refused before parsing: seconds, not the minutes a parse takes


def test_size_bound_is_stated_and_can_be_raised_deliberately(tmp_path):
    import hwsim.converters.tables as tables

    path = tmp_path / "big.json"
    adc = ThresholdADC(np.linspace(-1, 1, 2047), np.linspace(-1, 1, 2048))
    export_table(adc, path, "json")
    size = path.stat().st_size
    with pytest.raises(ValueError, match=rf"{size} bytes.*at most {size - 1}.*max_bytes") as info:
        import_table(path, max_bytes=size - 1)
    assert str(path) in str(info.value) and "MAX_FILE_BYTES" in str(info.value)
    back, _ = import_table(path, max_bytes=size)
    np.testing.assert_array_equal(back.thresholds, adc.thresholds)
    assert tables.MAX_FILE_BYTES < 32_000_000


@pytest.mark.parametrize("name, content", [
    ("t.json", b"\x00" * 100 + b"{}"),
    ("t.json", b"#!/bin/sh\n" + b"x" * 1000),
    ("t.csv", b"code,lower_threshold,upper_threshold,level\n0,-inf,0,1\n1,0,inf,2\n"),
    ("t.csv", b"# hwsim-adc-table version 1\x00\n"),
])
def test_wrong_first_bytes_are_refused_before_reading_the_rest(tmp_path, name, content, monkeypatch):
    import hwsim.converters.tables as tables

    path = tmp_path / name
    path.write_bytes(content + b" " * 5_000_000)
    reads = []
    real_open = open

    class Spy:
        def __init__(self, f):
            self.f = f

        def read(self, n=-1):
            reads.append(n)
            return self.f.read(n)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(tables, "open", lambda p, mode="r", *a, **k: Spy(real_open(p, mode, *a, **k)),
                        raising=False)
    with pytest.raises(ValueError, match="not") as info:
        import_table(path)
    assert str(path) in str(info.value)
    assert reads and all(0 <= n <= 4096 for n in reads), reads


@pytest.mark.parametrize("full_scale", [(-1e-320, 2e-320), (-1.7e308, 1.7e308)])
def test_dac_round_refuses_an_lsb_that_is_zero_or_infinite(full_scale):
    adc = ThresholdADC([0.0, 1e-320], [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="LSB"):
        dac_round(adc, 24, full_scale)
