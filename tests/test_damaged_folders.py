"""`hwsim plot` and `hwsim compare` on damaged run folders (issue 29, item 12): one line naming the file
and the line, never a traceback; no "identical" for two configs, no "not significant" for a NaN."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hwsim.engine.sweep import parse_config, run_sweep

ROOT = Path(__file__).resolve().parents[1]
HWSIM = [sys.executable, "-m", "hwsim.cli"]


def tiny(**extra) -> dict:
    """One curve at two SNRs of a real 4 x 1 BPSK link (MAP): a fraction of a second."""
    return {"study": "link", "seed": 3, "source": {"type": "users", "users": 1, "constellation": "bpsk"},
            "channel": {"type": "exponential", "antennas": 4, "frame_len": 50}, "receiver": {"type": "map"},
            "grid": {"snr_db": [-4.0, 0.0]}, "curves": [{"name": "MAP"}],
            "stopping": {"target_errors": 100, "min_samples": 1000, "max_samples": 20_000, "batch": 1000}, **extra}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    run_sweep(parse_config(tiny()), base / "a", workers=1, quiet=True, plot=False)
    # another config (a budget that no point reaches: they stop at 100 errors) that draws the same numbers
    other = tiny()
    other["stopping"]["max_samples"] = 30_000
    run_sweep(parse_config(other), base / "budget", workers=1, quiet=True, plot=False)
    return base


def _cli(*args, cwd=ROOT):
    return subprocess.run(HWSIM + [*map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd)


def _one_line_error(r, command: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    err = r.stderr.strip()
    assert "Traceback" not in r.stderr and len(err.splitlines()) == 1, r.stderr
    assert err.startswith(f"hwsim {command}: error: "), err
    return err


def _damaged(runs, tmp_path, damage) -> Path:
    folder = tmp_path / "damaged"
    shutil.copytree(runs / "a", folder)
    damage(folder)
    return folder


def _cut_mid_row(folder):
    data = (folder / "results.csv").read_bytes()
    (folder / "results.csv").write_bytes(data[:-25])


def _cut_last_row(folder):  # cut at a line end: only the journal shows it
    lines = (folder / "results.csv").read_text().splitlines(keepends=True)
    (folder / "results.csv").write_text("".join(lines[:-1]))


def _cell(column, value, line=3):
    def damage(folder):
        lines = (folder / "results.csv").read_text().splitlines()
        header = lines[0].split(",")
        cells = lines[line - 1].split(",")
        cells[header.index(column)] = value
        lines[line - 1] = ",".join(cells)
        (folder / "results.csv").write_text("\n".join(lines) + "\n")
    return damage


#: name: (damage, words the error must hold); the first ones through the real CLI, the others in-process
DAMAGES = {
    "empty manifest": (lambda f: (f / "manifest.json").write_text("{}"), ["manifest.json", "no config"]),
    "manifest not JSON": (lambda f: (f / "manifest.json").write_text('{"config": {'), ["manifest.json", "not JSON",
                                                                                       "line 1"]),
    "results.csv cut mid-row": (_cut_mid_row, ["results.csv", "line 3"]),
    "results.csv cut at a line end": (_cut_last_row, ["results.csv", "line 2", "points.jsonl", "2 finished points"]),
    "a cell abc": (_cell("ci_low", "abc"), ["results.csv", "line 3", "ci_low = 'abc' is not a number"]),
}
MORE_DAMAGES = {
    "manifest a list": (lambda f: (f / "manifest.json").write_text("[1, 2]"), ["manifest.json", "not a JSON object"]),
    "an estimate abc": (_cell("ber", "abc", line=2), ["results.csv", "line 2", "ber = 'abc'"]),
    "a row with an extra cell": (_cell("stop", "max_samples,x"), ["results.csv", "line 3", "cells"]),
    "results.csv not UTF-8": (lambda f: (f / "results.csv").write_bytes(b"curve,\xff\xfe\n"), ["results.csv",
                                                                                             "not UTF-8"]),
    "a header of another program": (lambda f: (f / "results.csv").write_text("a,b\n1,2\n"), ["results.csv line 1"]),
}


@pytest.mark.parametrize("name", list(DAMAGES))
def test_plot_and_compare_name_the_damaged_file_and_line(runs, tmp_path, name):
    damage, words = DAMAGES[name]
    folder = _damaged(runs, tmp_path, damage)
    for command, args in (("plot", [folder]), ("compare", [runs / "a", folder, "--no-plot"])):
        err = _one_line_error(_cli(command, *args), command)
        assert str(folder) in err and all(w in err for w in words), (command, err)


@pytest.mark.parametrize("name", list(MORE_DAMAGES))
def test_more_damage_gives_one_line(runs, tmp_path, capsys, name):
    """The same checks in-process (hwsim.cli.main returns the exit code), to keep the test fast."""
    from hwsim.cli import main

    damage, words = MORE_DAMAGES[name]
    folder = _damaged(runs, tmp_path, damage)
    for command, args in (("plot", [folder]), ("compare", [runs / "a", folder, "--no-plot"])):
        code = main([command, *map(str, args)])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and err.startswith(f"hwsim {command}: error: "), err
        assert str(folder) in err and all(w in err for w in words), (command, err)


def test_plot_needs_the_grid_of_the_manifest(runs, tmp_path):
    """compare matches points on the grid axes either run has; a figure needs its own grid."""
    folder = _damaged(runs, tmp_path, lambda f: (f / "manifest.json").write_text(json.dumps({"config": {}})))
    err = _one_line_error(_cli("plot", folder), "plot")
    assert f"{folder / 'manifest.json'} is damaged: it has no grid" in err


def test_equal_numbers_from_another_config_are_not_identical(runs):
    """Before: a run with another max_samples (that no point reached: equal numbers, another config hash) was
    'identical (same seed, config and results)'."""
    from hwsim.engine.compare import compare

    a, budget = (json.loads((runs / n / "manifest.json").read_text()) for n in ("a", "budget"))
    assert a["config_hash"] != budget["config_hash"]
    assert (runs / "a" / "results.csv").read_text().split("\n")[1].split(",")[:9] == \
        (runs / "budget" / "results.csv").read_text().split("\n")[1].split(",")[:9]  # the same numbers
    _, diffs, _ = compare([runs / "a", runs / "budget"])
    assert diffs and not any(d.identical for d in diffs)
    assert all(d.difference == 0 and d.equal_numbers and d.verdict == "not significant (same draws, other config: "
               "conservative)" for d in diffs)
    r = _cli("compare", runs / "a", runs / "budget", "--no-plot")
    assert r.returncode == 0 and "identical" not in r.stdout and "other config" in r.stdout, r.stdout + r.stderr
    # the same config in another folder is still identical
    r = _cli("compare", runs / "a", runs / "a", "--no-plot")
    assert r.returncode == 0 and r.stdout.count("identical (same seed, config and results)") == 2, r.stdout


def test_a_nan_difference_is_undefined_not_insignificant(runs, tmp_path):
    folder = _damaged(runs, tmp_path, _cell("ber", "nan", line=2))
    r = _cli("compare", runs / "a", folder, "--no-plot")
    assert r.returncode == 0, r.stderr
    rows = [line for line in r.stdout.splitlines() if line.lstrip().startswith("MAP")]
    assert len(rows) == 2
    assert rows[0].endswith("undefined (not a number)") and "not significant" not in rows[0], rows
    assert "0 significant differences" in r.stdout


def test_plot_draws_stored_points_outside_their_interval(runs, tmp_path):
    """A results.csv of an older hwsim whose importance-sampled point lies outside its own interval (1.5e-190 in
    [5.4e-20, 9.6e-4]): every `hwsim plot` failed with "'yerr' must not contain negative values"."""
    folder = _damaged(runs, tmp_path, _cell("ber", "1.5e-190"))
    r = _cli("plot", folder, "--format", "svg")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    svg = (folder / "plot.svg").read_text()
    assert "estimate outside its own interval" in svg
