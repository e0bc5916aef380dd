"""Decision-table export/import (hwsim.converters.tables), DAC rounding (hwsim.converters.fixed_point) and `hwsim adc`."""

import argparse
import hashlib
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from hwsim.converters.adc import MAX_LEVELS, ThresholdADC, UniformADC
from hwsim.converters.fixed_point import dac_round, default_full_scale
from hwsim.converters.tables import MAX_FILE_BYTES, export_from_model, export_table, import_table

SEED = 20261124


def _random_table(seed, m=16):
    rng = np.random.default_rng(seed)
    return ThresholdADC(np.sort(rng.normal(size=m - 1)), rng.normal(size=m))


def _inputs(adc, n=1_000_000, seed=SEED):
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=1.5, size=n)
    t = adc.thresholds
    x[: t.size] = t                                  # exactly on each threshold (goes to the upper cell)
    x[t.size: 2 * t.size] = np.nextafter(t, -np.inf)  # just below each
    return x


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("ext", ["json", "csv", "mat"])
@pytest.mark.parametrize("make", [lambda: _random_table(1), lambda: UniformADC(8, math.pi),
                                  lambda: _random_table(2, m=1000)], ids=["random16", "uniform8", "random1000"])
def test_round_trip_gives_identical_codes_for_a_million_inputs(tmp_path, ext, make):
    adc = make()
    path = tmp_path / f"table.{ext}"
    export_table(adc, path, ext, units="mV", provenance={"bench": "A1"}, dac=14)
    back, meta = import_table(path)
    np.testing.assert_array_equal(back.thresholds, adc.thresholds)   # bit-identical
    np.testing.assert_array_equal(back.levels, adc.levels)
    x = _inputs(adc)
    np.testing.assert_array_equal(back.encode(x), adc.encode(x))
    lo, hi = default_full_scale(adc)
    assert meta["full_scale"] == {"min": lo, "max": hi, "units": "mV"}
    assert meta["source_format"] == ext and meta["n_levels"] == adc.n_levels
    assert meta["provenance"]["bench"] == "A1" and meta["provenance"]["hwsim_version"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["provenance"]["created_utc"])
    assert meta["dac"]["threshold_codes"] == dac_round(adc, 14).codes.tolist()
    assert _listing(tmp_path) == [f"table.{ext}"]   # atomic write: no temporary file left


def test_json_schema_fields(tmp_path):
    adc = UniformADC(8, 2.0)
    doc = export_table(adc, tmp_path / "t.json", "json")
    on_disk = json.loads((tmp_path / "t.json").read_text())
    assert on_disk == doc
    assert on_disk["format"] == "hwsim-adc-table" and on_disk["version"] == 1
    assert on_disk["codes"] == list(range(8)) and on_disk["bits"] == 3.0 and on_disk["n_levels"] == 8
    assert on_disk["thresholds"] == adc.thresholds.tolist() and on_disk["levels"] == adc.levels.tolist()
    assert on_disk["full_scale"] == {"min": -2.0, "max": 2.0, "units": "V"}
    assert "dac" not in on_disk
    _, meta = import_table(tmp_path / "t.json")
    assert meta["dac"] is None


def test_format_taken_from_extension_and_csv_layout(tmp_path):
    adc = UniformADC(4, 2.0)
    export_table(adc, tmp_path / "t.csv")
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert lines[0] == "# hwsim-adc-table version 1" and lines[1].startswith("# meta: {")
    assert lines[2:] == ["code,lower_threshold,upper_threshold,level", "0,-inf,-1.0,-1.5", "1,-1.0,0.0,-0.5",
                         "2,0.0,1.0,0.5", "3,1.0,inf,1.5"]


# ------------------------------------------------------------------ C header and memory file
def _parse_header(text):
    defines = dict(re.findall(r"^#define (\w+) (.+?)(?:\s*/\*.*)?$", text, flags=re.M))
    arrays = {name: [int(v) for v in re.findall(r"^\s+(-?\d+)u?,?\s*/\*", body, flags=re.M)]
              for name, body in re.findall(r"static const \w+ (\w+)\[\w+\] = \{(.*?)\};", text, flags=re.S)}
    return defines, arrays


def test_c_header_holds_the_dac_codes_and_fixed_point_levels(tmp_path):
    adc = _random_table(3, m=32)
    fs = (-4.0, 4.0)
    export_table(adc, tmp_path / "adc.h", "c", full_scale=fs)
    text = (tmp_path / "adc.h").read_text()
    assert text.count("#ifndef HWSIM_ADC_TABLE_H") == 1 and "#endif /* HWSIM_ADC_TABLE_H */" in text
    defines, arrays = _parse_header(text)
    rounded = dac_round(adc, 12, fs)                   # default: 12 bits over the full scale
    assert int(defines["HWSIM_ADC_N_LEVELS"]) == 32 and int(defines["HWSIM_ADC_DAC_BITS"]) == 12
    assert float(defines["HWSIM_ADC_FS_MIN"].strip("()")) == -4.0
    assert float(defines["HWSIM_ADC_FS_MAX"].strip("()")) == 4.0
    lsb = float(defines["HWSIM_ADC_LSB"].strip("()"))
    assert lsb == 8.0 / 4096
    codes = np.array(arrays["hwsim_adc_threshold_codes"])
    np.testing.assert_array_equal(codes, rounded.codes)
    assert np.all(np.abs(-4.0 + codes * lsb - adc.thresholds) <= lsb / 2)
    frac = int(defines["HWSIM_ADC_LEVEL_FRAC_BITS"])
    q = np.array(arrays["hwsim_adc_levels_q"])
    assert q.size == 32 and np.all(np.abs(q / 2.0**frac - adc.levels) <= 2.0 ** -(frac + 1))


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no C compiler")
def test_c_header_compiles(tmp_path):
    adc = UniformADC(8, 2.0)
    export_table(adc, tmp_path / "adc.h", "c", dac=8)
    (tmp_path / "main.c").write_text(
        '#include <stdio.h>\n#include "adc.h"\n#include "adc.h"\nint main(void) {\n'
        "  for (int k = 0; k < HWSIM_ADC_N_THRESHOLDS; k++) printf(\"%u %.17g\\n\", hwsim_adc_threshold_codes[k],\n"
        "      HWSIM_ADC_FS_MIN + hwsim_adc_threshold_codes[k] * HWSIM_ADC_LSB);\n"
        "  printf(\"%d\\n\", hwsim_adc_levels_q[0]);\n  return 0;\n}\n")
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Werror", "-o", str(tmp_path / "main"), str(tmp_path / "main.c")],
                   check=True, capture_output=True, timeout=60)
    out = subprocess.run([str(tmp_path / "main")], capture_output=True, text=True, check=True).stdout.split("\n")
    rows = [r.split() for r in out[:7]]
    assert [int(c) for c, _ in rows] == [32, 64, 96, 128, 160, 192, 224]
    np.testing.assert_allclose([float(v) for _, v in rows], adc.thresholds, rtol=0, atol=1e-12)
    assert int(out[7]) == round(-1.75 * 2**16)


def test_memh_words_are_the_dac_codes(tmp_path):
    adc = _random_table(4, m=20)
    export_table(adc, tmp_path / "adc.mem", "memh", dac=10, full_scale=(-3.0, 3.0))
    text = (tmp_path / "adc.mem").read_text()
    words = [line.split("//")[0].strip() for line in text.splitlines()]
    words = [w for w in words if w]
    assert all(re.fullmatch(r"[0-9a-f]{3}", w) for w in words)   # 10 bits -> 3 hex digits
    assert [int(w, 16) for w in words] == dac_round(adc, 10, (-3.0, 3.0)).codes.tolist()
    assert all(line.startswith("//") or "//" in line for line in text.splitlines())
    # every extension of the format is accepted
    for ext in ("memh", "hex"):
        export_table(adc, tmp_path / f"adc.{ext}", "memh", dac=10, full_scale=(-3.0, 3.0))
        assert (tmp_path / f"adc.{ext}").read_text().split("\n", 1)[1] == text.split("\n", 1)[1]


def test_failed_write_leaves_no_temporary_file_and_keeps_the_old_file(tmp_path, monkeypatch):
    adc = UniformADC(4, 1.0)
    export_table(adc, tmp_path / "t.json", "json")
    before = (tmp_path / "t.json").read_bytes()

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        export_table(UniformADC(8, 1.0), tmp_path / "t.json", "json")
    assert _listing(tmp_path) == ["t.json"] and (tmp_path / "t.json").read_bytes() == before


# ------------------------------------------------------------------ hostile input
def _good_doc():
    return json.loads(json.dumps({"format": "hwsim-adc-table", "version": 1, "n_levels": 4, "bits": 2.0,
                                  "codes": [0, 1, 2, 3], "thresholds": [-1.0, 0.0, 1.0],
                                  "levels": [-1.5, -0.5, 0.5, 1.5],
                                  "full_scale": {"min": -2.0, "max": 2.0, "units": "V"}, "provenance": {}}))


def _with(**changes):
    doc = _good_doc()
    for k, v in changes.items():
        if v is _DROP:
            del doc[k]
        else:
            doc[k] = v
    return json.dumps(doc)


_DROP = object()

HOSTILE_JSON = {
    "malformed": ("{\"format\": \"hwsim-adc-table\", ", "not valid JSON"),
    "not an object": ("[1, 2, 3]", "JSON object"),
    "binary": ("\x00\xff\xfe garbage", "not"),
    "deep nesting": ("[" * 100_000 + "]" * 100_000, "not"),
    "wrong format": (_with(format="something-else"), "format must be 'hwsim-adc-table'"),
    "receiver sidecar": (_with(format="hwsim-hybrid-receiver"), "sidecar"),
    "wrong version": (_with(version=2), "version must be 1"),
    "version as bool": (_with(version=True), "version must be 1"),
    "unsorted": (_with(thresholds=[0.0, -1.0, 1.0]), "strictly increasing"),
    "repeated threshold": (_with(thresholds=[-1.0, 0.0, 0.0]), "strictly increasing"),
    "NaN threshold": (_with(thresholds=[-1.0, float("nan"), 1.0]), "finite"),
    "infinite level": (_with(levels=[-1.5, -0.5, 0.5, 1e999]), "finite"),
    "string threshold": (_with(thresholds=[-1.0, "0", 1.0]), "must be a number"),
    "count mismatch": (_with(thresholds=[-1.0, 0.0]), "len\\(levels\\) - 1"),
    "n_levels mismatch": (_with(n_levels=5), "n_levels = 5"),
    "bits mismatch": (_with(bits=3), "bits"),
    "2^31 levels declared": (_with(n_levels=2**31), "n_levels must lie in"),
    "2^31 levels as bits": (_with(bits=31), "bits must be"),
    "too many levels": (_with(n_levels=_DROP, bits=_DROP, codes=_DROP, thresholds=list(range(MAX_LEVELS)),
                              levels=[0.0] * (MAX_LEVELS + 1)), "at most 65536"),
    "one level": (_with(n_levels=_DROP, bits=_DROP, codes=_DROP, thresholds=[], levels=[0.0]), "at least 2"),
    "bad codes": (_with(codes=[0, 2, 1, 3]), "codes must be 0, 1"),
    "missing levels": (_with(levels=_DROP), "levels is missing"),
    "levels not a list": (_with(levels="1,2,3,4"), "list of numbers"),
    "bad full scale": (_with(full_scale={"min": 2.0, "max": -2.0, "units": "V"}), "lo < hi"),
    "bad dac bits": (_with(dac={"bits": 40, "full_scale": {"min": -2, "max": 2}, "threshold_codes": [1, 2, 3]}),
                     "dac bits"),
    "dac codes out of range": (_with(dac={"bits": 2, "full_scale": {"min": -2, "max": 2},
                                          "threshold_codes": [1, 2, 4]}), "threshold_codes must be integers"),
    "huge number": (_with(levels=[-1.5, -0.5, 0.5, 10**400]), "digits"),   # 401 digits: refused while parsing
}


@pytest.mark.parametrize("case", list(HOSTILE_JSON))
def test_hostile_json_is_a_clear_value_error(tmp_path, case):
    text, match = HOSTILE_JSON[case]
    path = tmp_path / "t.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape") if case != "binary" else b"\x00\xff\xfe garbage")
    with pytest.raises(ValueError, match=match) as info:
        import_table(path)
    assert str(path) in str(info.value)   # the message names the file
    assert _listing(tmp_path) == ["t.json"]


def test_absurd_declared_size_is_refused_before_allocating(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(_with(n_levels=2**31, thresholds=[0.0], levels=[0.0, 1.0]))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="n_levels"):
            import_table(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_oversized_file_is_refused_unread(tmp_path):
    path = tmp_path / "t.json"
    with open(path, "wb") as f:          # sparse: costs no disk
        f.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(ValueError, match="at most"):
        import_table(path)


@pytest.mark.parametrize("name, content, match", [
    ("t.json", b"MATLAB 5.0 MAT-file" + bytes(200), "not"),
    ("t.csv", _good_doc().__repr__().encode(), "not an hwsim CSV table"),
    ("t.csv", b"# hwsim-adc-table version 1\ncode,lower,upper,level\n0,-inf,0,1\n1,0,inf,2\n", "header row"),
    ("t.csv", b"# hwsim-adc-table version 1\ncode,lower_threshold,upper_threshold,level\n0,-inf,0,1\n1,0.5,inf,2\n",
     "differs"),
    ("t.csv", b"# hwsim-adc-table version 1\ncode,lower_threshold,upper_threshold,level\n0,-inf,0,1\n2,0,inf,2\n",
     "code 1"),
    ("t.csv", b"# hwsim-adc-table version 1\ncode,lower_threshold,upper_threshold,level\n0,-inf,0,x\n1,0,inf,2\n",
     "must be a number"),
    ("t.csv", b"# hwsim-adc-table version 1\ncode,lower_threshold,upper_threshold,level\n0,-inf,1,0\n"
              b"1,1,0,1\n2,0,inf,2\n", "strictly increasing"),
    ("t.csv", b"# hwsim-adc-table version 1\ncode,lower_threshold,upper_threshold,level\n0,-inf,nan,0\n"
              b"1,nan,inf,1\n", "must be a number"),
    ("t.csv", b"# hwsim-adc-table version 1\n# meta: {\"n_levels\": 2147483648}\n"
              b"code,lower_threshold,upper_threshold,level\n0,-inf,0,0\n1,0,inf,1\n", "n_levels must lie in"),
    ("t.mat", b'{"format": "hwsim-adc-table"}', "not a MATLAB v5"),
    ("t.mat", b"MATLAB 5.0 MAT-file" + bytes(100), "not a readable .mat"),
    ("t.txt", b"{}", "unknown table file extension"),
    ("t.pt", b"{}", "unknown table file extension"),
    ("t", b"{}", "unknown table file extension"),
])
def test_files_that_are_not_what_their_extension_says(tmp_path, name, content, match):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ValueError, match=match):
        import_table(tmp_path / name)
    assert _listing(tmp_path) == [name]


def _mat_bytes(**variables):
    from scipy.io import savemat

    base = {"format": "hwsim-adc-table", "version": 1.0, "thresholds": np.array([[-1.0, 0.0, 1.0]]),
            "levels": np.array([[-1.5, -0.5, 0.5, 1.5]]), "full_scale": np.array([[-2.0, 2.0]]), "units": "V"}
    base.update(variables)
    buf = io.BytesIO()
    savemat(buf, {k: v for k, v in base.items() if v is not None})
    return buf.getvalue()


@pytest.mark.parametrize("variables, match", [
    (dict(version=2.0), "version must be 1"),
    (dict(format="other"), "format must be"),
    (dict(thresholds=np.array([[1.0, 0.0, -1.0]])), "strictly increasing"),
    (dict(thresholds=np.array([[-1.0, np.nan, 1.0]])), "finite"),
    (dict(levels=np.array([[0.0, 1.0]])), "len\\(levels\\) - 1"),
    (dict(levels=np.zeros((1, MAX_LEVELS + 1)), thresholds=np.arange(MAX_LEVELS, dtype=float)[None]),
     "at most 65536"),
    (dict(levels=np.zeros((3, 4))), "numeric vector"),
    (dict(metadata="{not json"), "not valid JSON"),
    (dict(levels=None), "levels is missing"),
])
def test_hostile_mat_is_a_clear_value_error(tmp_path, variables, match):
    path = tmp_path / "t.mat"
    path.write_bytes(_mat_bytes(**variables))
    with pytest.raises(ValueError, match=match):
        import_table(path)
    assert _listing(tmp_path) == ["t.mat"]


@pytest.mark.parametrize("compressed", [False, True])
def test_a_valid_hand_written_mat_file_loads(tmp_path, compressed):
    from scipy.io import savemat

    (tmp_path / "t.mat").write_bytes(_mat_bytes())
    if compressed:   # as MATLAB's `save` writes by default
        from scipy.io import loadmat

        buf = io.BytesIO()
        savemat(buf, {k: v for k, v in loadmat(tmp_path / "t.mat").items() if not k.startswith("__")},
                do_compression=True)
        (tmp_path / "t.mat").write_bytes(buf.getvalue())
    adc, meta = import_table(tmp_path / "t.mat")
    np.testing.assert_array_equal(adc.thresholds, [-1.0, 0.0, 1.0])
    assert meta["full_scale"] == {"min": -2.0, "max": 2.0, "units": "V"}


def test_mat_zip_bomb_is_refused_before_inflating(tmp_path):
    from scipy.io import savemat

    buf = io.BytesIO()
    savemat(buf, {"junk": np.zeros(MAX_FILE_BYTES // 8 + 1024)}, do_compression=True)
    (tmp_path / "t.mat").write_bytes(buf.getvalue())
    assert (tmp_path / "t.mat").stat().st_size < MAX_FILE_BYTES // 100
    with pytest.raises(ValueError, match="would inflate to more than"):
        import_table(tmp_path / "t.mat")


@pytest.mark.parametrize("kwargs, match", [
    (dict(fmt="xml", name="t.xml"), "fmt must be one of"),
    (dict(fmt="json", name="t.csv"), "must end in .json"),
    (dict(fmt=None, name="t.txt"), "unknown table file extension"),
    (dict(fmt="json", name="t.json", full_scale=(-0.5, 0.5)), "must contain every threshold"),
    (dict(fmt="json", name="t.json", full_scale=(1.0, -1.0)), "lo < hi"),
    (dict(fmt="json", name="t.json", full_scale=(float("nan"), 1.0)), "finite"),
    (dict(fmt="json", name="t.json", units=""), "units"),
    (dict(fmt="json", name="t.json", provenance={"x": object()}), "JSON-serialisable"),
    (dict(fmt="json", name="t.json", provenance={"x": float("inf")}), "JSON-serialisable"),
    (dict(fmt="c", name="t.h", dac=0), "bits must be >= 1"),
    (dict(fmt="memh", name="t.mem", dac=25), "bits must be <= 24"),
    (dict(fmt="c", name="t.h", dac=2), "too few"),
    (dict(fmt="json", name="missing/t.json"), "does not exist"),
])
def test_bad_export_arguments_write_nothing(tmp_path, kwargs, match):
    kwargs = dict(kwargs)
    name = kwargs.pop("name")
    fmt = kwargs.pop("fmt")
    with pytest.raises(ValueError, match=match):
        export_table(UniformADC(8, 2.0), tmp_path / name, fmt, **kwargs)
    assert _listing(tmp_path) == []


def test_export_type_errors(tmp_path):
    with pytest.raises(TypeError, match="adc must be"):
        export_table([0.0, 1.0], tmp_path / "t.json", "json")
    with pytest.raises(TypeError, match="dac must be"):
        export_table(UniformADC(4, 1.0), tmp_path / "t.json", "json", dac=1.5)
    with pytest.raises(TypeError, match="provenance must be a dict"):
        export_table(UniformADC(4, 1.0), tmp_path / "t.json", "json", provenance=[1])
    assert _listing(tmp_path) == []


# ------------------------------------------------------------------ DAC rounding
def test_dac_round_uniform_table_is_exact_and_keeps_levels():
    adc = UniformADC(8, 2.0)
    r = dac_round(adc, 12, (-2.0, 2.0))
    assert r.lsb == 4.0 / 4096 and r.bits == 12 and r.full_scale == (-2.0, 2.0)
    np.testing.assert_array_equal(r.codes, 512 * np.arange(1, 8))
    np.testing.assert_array_equal(r.adc.thresholds, adc.thresholds)
    np.testing.assert_array_equal(r.adc.levels, adc.levels)
    assert r.max_error_lsb == 0.0 and r.bumped == () and r.clipped == ()


def test_dac_round_error_is_at_most_half_an_lsb():
    adc = _random_table(5, m=64)
    for bits in (16, 20, 24):
        r = dac_round(adc, bits, (-5.0, 5.0))
        assert 0.3 < r.max_error_lsb <= 0.5 and r.bumped == () and r.clipped == ()
        np.testing.assert_allclose(r.adc.thresholds, -5.0 + r.codes * r.lsb)
        np.testing.assert_allclose(r.errors_lsb, (r.adc.thresholds - adc.thresholds) / r.lsb)
        np.testing.assert_array_equal(r.codes, np.round((adc.thresholds + 5.0) / r.lsb))


def test_dac_round_bumps_colliding_thresholds_and_clips():
    adc = ThresholdADC([0.0, 0.01, 0.02, 3.0], [0, 1, 2, 3, 4])
    r = dac_round(adc, 4, (-2.0, 2.0))   # LSB 0.25: 0, 0.01, 0.02 all round to code 8
    assert r.codes.tolist() == [8, 9, 10, 15] and r.bumped == (1, 2) and r.clipped == (3,)
    assert np.all(np.diff(r.adc.thresholds) > 0)
    assert r.max_error_lsb == pytest.approx((3.0 - (-2.0 + 15 * 0.25)) / 0.25)
    with pytest.raises(ValueError, match="crowd against the top code"):
        dac_round(ThresholdADC([1.9, 1.95, 1.99], [0, 1, 2, 3]), 4, (-2.0, 2.0))


@pytest.mark.parametrize("args, exc, match", [
    ((0,), ValueError, "bits must be >= 1"), ((25,), ValueError, "bits must be <= 24"),
    ((True,), TypeError, "bits must be an integer"), ((12, (1.0, 1.0)), ValueError, "lo < hi"),
    ((12, (0.0,)), ValueError, "pair"), ((12, "ab"), ValueError, "pair"),
    ((12, (0.0, math.inf)), ValueError, "finite"),
])
def test_dac_round_validates(args, exc, match):
    with pytest.raises(exc, match=match):
        dac_round(UniformADC(8, 2.0), *args)
    with pytest.raises(TypeError, match="adc must be"):
        dac_round(np.zeros(3), 8)


# ------------------------------------------------------------------ from a trained model, and the CLI
@pytest.fixture(scope="module")
def trained_model(tmp_path_factory):
    from hwsim.channels import SymbolChannel, exponential_channel
    from hwsim.receivers.hybrid import TrainSettings, train_hybrid

    folder = tmp_path_factory.mktemp("model")
    tr = train_hybrid(SymbolChannel(exponential_channel()), 12.0, 4, 8, "soft_to_hard", np.random.default_rng(0),
                      settings=TrainSettings(train_samples=500, val_samples=500, epochs=2), device="cpu")
    tr.save(folder / "rx.pt")
    return folder / "rx.pt", tr


def test_export_from_model_records_provenance(trained_model, tmp_path):
    path, tr = trained_model
    doc = export_from_model(path, tmp_path / "rx.json", "json")
    adc, meta = import_table(tmp_path / "rx.json")
    table = tr.model.adc_table()
    np.testing.assert_array_equal(adc.thresholds, table.thresholds)
    np.testing.assert_array_equal(adc.levels, table.levels)
    prov = meta["provenance"]
    assert prov == doc["provenance"]
    assert prov["model_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert prov["model_file"] == "rx.pt" and prov["seed"] == tr.seed
    assert prov["training_config"] == json.loads(json.dumps(tr.config))
    with pytest.raises(ValueError, match="not a file"):
        export_from_model(tmp_path / "missing.pt", tmp_path / "x.json", "json")


def _cli(*argv):
    from hwsim.cli.adc import add_adc_parser

    parser = argparse.ArgumentParser(prog="hwsim")
    add_adc_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["adc", *map(str, argv)])
    return args.func(args)


def test_cli_export_import_inspect(trained_model, tmp_path, capsys):
    model, tr = trained_model
    for fmt, ext in [("json", "json"), ("csv", "csv"), ("c", "h"), ("memh", "mem"), ("mat", "mat")]:
        assert _cli("export", model, "--format", fmt, "--out", tmp_path / f"rx.{ext}") == 0
        assert f"wrote {tmp_path / f'rx.{ext}'} ({fmt})" in capsys.readouterr().out
    # a table file as the source, format from the extension, DAC rounding in JSON
    assert _cli("export", tmp_path / "rx.csv", "--out", tmp_path / "copy.json", "--dac-bits", "10") == 0
    copy, meta = import_table(tmp_path / "copy.json")
    np.testing.assert_array_equal(copy.thresholds, tr.model.adc_table().thresholds)
    assert meta["dac"]["bits"] == 10 and meta["provenance"]["source_table"] == "rx.csv"
    assert meta["provenance"]["model_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    capsys.readouterr()

    assert _cli("import", tmp_path / "rx.mat") == 0
    out = capsys.readouterr().out
    assert "valid mat table" in out and f"levels:      {copy.n_levels}" in out and "model_sha256" in out

    assert _cli("inspect", tmp_path / "rx.json") == 0
    out = capsys.readouterr().out
    assert "DNL (LSB)" in out and "INL (LSB)" in out
    assert (tmp_path / "rx.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _cli("inspect", model, "--png", tmp_path / "model.png") == 0
    assert (tmp_path / "model.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_cli_bad_input_is_a_value_error_and_writes_nothing(tmp_path, capsys):
    export_table(UniformADC(4, 1.0), tmp_path / "t.json", "json")
    before = _listing(tmp_path)
    with pytest.raises(ValueError, match="cannot tell the format"):
        _cli("export", tmp_path / "t.json", "--out", tmp_path / "t.txt")
    with pytest.raises(ValueError, match="not a file"):
        _cli("export", tmp_path / "missing.pt", "--out", tmp_path / "x.json")
    with pytest.raises(ValueError, match="must contain every threshold"):
        _cli("export", tmp_path / "t.json", "--out", tmp_path / "x.json", "--full-scale", "-0.1", "0.1")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        _cli("import", tmp_path / "bad.json")
    with pytest.raises(ValueError, match="must end in .png"):
        _cli("inspect", tmp_path / "t.json", "--png", tmp_path / "x.jpg")
    assert _listing(tmp_path) == sorted(before + ["bad.json"])
    with pytest.raises(SystemExit) as info:
        _cli()  # `hwsim adc` with no subcommand
    assert info.value.code == 2


def test_cli_module_import_is_light():
    code = "import sys, hwsim.cli.adc; print(any(m in sys.modules for m in ('torch', 'numba', 'scipy', 'matplotlib')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_default_full_scale_contains_every_threshold_and_level():
    from hwsim.converters.adc import ThresholdADC, UniformADC
    from hwsim.converters.fixed_point import default_full_scale

    wide = ThresholdADC([-1.0, 0.0, 1.0], [-5.0, -0.5, 0.5, 0.7])  # an outer level far beyond the thresholds
    lo, hi = default_full_scale(wide)
    assert lo <= -5.0 and hi >= 1.0 + 1.0 and lo <= -1.0
    assert default_full_scale(UniformADC(8, 2.0)) == (-2.0, 2.0)
    for adc in (wide, UniformADC(4, 1.5), ThresholdADC([0.0], [-0.8, 0.8])):
        lo, hi = default_full_scale(adc)
        assert lo <= min(adc.thresholds.min(), adc.levels.min()) and hi >= max(adc.thresholds.max(), adc.levels.max())
