"""Guards of the sweep engine (issue 29): nothing a sweep writes follows a link out of its folder,
``--set`` is one TOML value, out-of-range values and masked settings are reported, local workers are
capped at the cores."""

import json
import os
import subprocess
import sys
import warnings

import pytest

from hwsim.engine.sweep import MaskedSettingWarning, SweepError, parse_config, parse_override, run_sweep

from test_sweep import tiny


def _quick():
    cfg = tiny(target_errors=10**9, min_samples=0, max_samples=4_000, batch=2_000)
    cfg["grid"] = {"snr_db": [4.0]}
    cfg["curves"] = cfg["curves"][:1]
    return cfg


# --------------------------------------------------------------------------- item 4: links
def test_a_journal_linked_out_of_the_folder_is_refused_and_its_target_untouched(tmp_path):
    out = tmp_path / "run"
    run_sweep(parse_config(_quick()), out, workers=1, quiet=True, plot=False)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (out / "points.jsonl").unlink()
    (out / "points.jsonl").symlink_to(victim)
    with pytest.raises((SweepError, ValueError), match="symbolic link"):
        run_sweep(parse_config(_quick()), out, workers=1, quiet=True, plot=False, resume=True)
    assert victim.read_text() == "precious\n"


def test_a_damaged_journal_linked_out_is_never_trimmed(tmp_path):
    """A target with a damaged tail is what trim_journal would cut: it must stay whole."""
    out = tmp_path / "run"
    run_sweep(parse_config(_quick()), out, workers=1, quiet=True, plot=False)
    victim = tmp_path / "victim.jsonl"
    victim.write_bytes((out / "points.jsonl").read_bytes() + b"not json, a cut line")
    before = victim.read_bytes()
    (out / "points.jsonl").unlink()
    (out / "points.jsonl").symlink_to(victim)
    with pytest.raises((SweepError, ValueError), match="symbolic link"):
        run_sweep(parse_config(_quick()), out, workers=1, quiet=True, plot=False, resume=True)
    assert victim.read_bytes() == before


def test_a_lock_file_linked_out_is_refused_and_its_target_untouched(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (out / "sweep.lock").symlink_to(victim)
    with pytest.raises(SweepError, match="symbolic link"):
        run_sweep(parse_config(_quick()), out, workers=1, quiet=True, plot=False)
    assert victim.read_text() == "precious\n"


def test_a_models_folder_linked_out_is_refused_and_nothing_there_removed(tmp_path):
    out = tmp_path / "run"
    run_sweep(parse_config(_quick()), out, workers=1, quiet=True, plot=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "learned-abc.pt").write_bytes(b"someone's model")  # what --force would clear in models/
    (out / "models").symlink_to(elsewhere)
    with pytest.raises(SweepError, match="symbolic link"):
        run_sweep(parse_config(_quick()), out, workers=1, quiet=True, plot=False, force=True)
    assert (elsewhere / "learned-abc.pt").read_bytes() == b"someone's model"


# --------------------------------------------------------------------------- item 9: --set
@pytest.mark.parametrize("text, match", [
    ("adc.bits=2\ncurves=[]", "must be one line"),
    ("adc.bits=2\r[quick]", "must be one line"),
    ("receiver." + ".".join(["a"] * 3000) + "=1", "dotted key of at most 16 parts"),
    ("grid.snr_db=" + "[" * 3000 + "]" * 3000, "nests too deeply"),
    ("grid.snr_db=" + "[" * 30 + "]" * 30, "nests more than 16 levels"),
    ("adc.bits=2 adc.scale=1", "is not a dotted key and a TOML value"),
    ("curves=[]", "cannot be set from the command line"),
])
def test_a_set_value_is_one_toml_value(text, match):
    with pytest.raises(ValueError, match=match):
        parse_override(text)


def test_a_newline_in_a_set_value_smuggles_in_no_curves():
    """The attack: a newline in the value once added keys (a whole [[curves]] list) to the config."""
    with pytest.raises(ValueError):
        parse_override('receiver.type="map"\ncurves=[{name="forged"}]')


def test_set_values_with_tables_and_arrays_still_parse():
    assert parse_override('grid."adc.bits"=[1, 2]')[1] == {"grid": {"adc.bits": [1, 2]}}
    assert parse_override("adc.bits=2 # two bits")[1] == {"adc": {"bits": 2}}
    assert parse_override('receiver={type="zf", llr=false}')[1] == {"receiver": {"type": "zf", "llr": False}}
    assert parse_override('x="a=b"')[1] == {"x": "a=b"}


@pytest.mark.parametrize("override, key", [
    ("receiver.rate=1e308", "MAX_TOTAL_BITS"),
    ("source.code_rate=1e308", "code_rate"),
    ("source.subcarrier_spacing=1e308", "subcarrier_spacing"),
])
def test_values_far_out_of_range_give_one_line_through_the_cli(tmp_path, override, key):
    config = "fig7" if override.startswith("receiver") else "ofdm_tdl"
    r = subprocess.run([sys.executable, "-m", "hwsim.cli", "sweep", config, "--quick", "--set", override,
                        "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    errors = [line for line in r.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and key in errors[0], r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "run" / "manifest.json").exists()


# --------------------------------------------------------------------------- item 7: masked --set values
def test_a_set_value_every_curve_overrides_is_warned_about():
    from hwsim.engine.sweep import apply_overrides  # noqa: F401

    cfg = tiny()
    for c in cfg["curves"]:
        c["channel.csi_error"] = 0.1
    with pytest.warns(MaskedSettingWarning, match=r"--set channel\.csi_error=0\.3: every curve sets channel\.csi_error"):
        parse_config(cfg, overrides=[parse_override("channel.csi_error=0.3")])
    with pytest.warns(MaskedSettingWarning, match=r"every curve sets receiver itself"):
        parse_config(tiny(), overrides=[parse_override('receiver.type="zf"')])


def test_a_set_value_some_curve_uses_is_not_warned_about():
    with warnings.catch_warnings():
        warnings.simplefilter("error", MaskedSettingWarning)
        parse_config(tiny(), overrides=[parse_override("channel.csi_error=0.3")])
        parse_config(tiny(), overrides=[parse_override("grid.snr_db=[1.0, 2.0]")])


def test_a_grid_axis_every_curve_fixes_is_warned_about():
    cfg = tiny()
    for c in cfg["curves"]:
        c["snr_db"] = 3.0
    cfg["grid"]["channel.csi_error"] = [0.0]
    with pytest.warns(MaskedSettingWarning, match="every curve sets snr_db"):
        parse_config(cfg, overrides=[parse_override("grid.snr_db=[1.0, 2.0]")])


def test_the_cli_shows_a_masked_setting_as_one_warning_line(tmp_path):
    from test_sweep import _toml

    config = tmp_path / "sweep.toml"
    config.write_text(_toml(_quick()))  # its one curve sets its receiver
    r = subprocess.run([sys.executable, "-m", "hwsim.cli", "sweep", str(config), "--set", 'receiver.type="qmap"',
                        "--out", str(tmp_path / "run"), "--quiet"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if "every curve sets receiver" in line]
    assert len(lines) == 1 and lines[0].startswith("hwsim sweep: warning: --set receiver.type=\"qmap\""), r.stderr


# --------------------------------------------------------------------------- item 8: workers
def test_workers_are_capped_at_the_cores_and_the_points_and_the_sweep_says_so(tmp_path, capsys):
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    out = tmp_path / "run"
    run_sweep(parse_config(_quick()), out, workers=64, quiet=False, plot=False)
    err = capsys.readouterr().err
    assert f"64 workers asked for, 1 used: this machine has {cores} cores" in err
    assert json.loads((out / "manifest.json").read_text())["workers"] == 1
