"""`hwsim compare`: overlaid runs and differences with honest intervals, on real (tiny) sweeps."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hwsim.engine.compare import CompareError, compare, compare_figures, load_run, match_points, mover_interval
from hwsim.engine.stats import wilson_interval
from hwsim.engine.sweep import parse_config, run_sweep

ROOT = Path(__file__).resolve().parents[1]
HWSIM = [sys.executable, "-m", "hwsim.cli"]


def small(seed=7, **stopping) -> dict:
    """2 curves x 2 SNRs of seed 001's real 6 x 2 BPSK link (MAP against QMAP at R = 2): about a second."""
    return {
        "study": "link", "seed": seed,
        "source": {"type": "users", "users": 2, "constellation": "bpsk"},
        "channel": {"type": "exponential", "antennas": 6, "frame_len": 50},
        "adc": {"type": "none"},
        "receiver": {"type": "map"},
        "grid": {"snr_db": [2.0, 8.0]},
        "curves": [{"name": "MAP", "receiver": "map"},
                   {"name": "QMAP R=2", "receiver": "qmap", "adc": "uniform_range", "adc.rate": 2.0}],
        "stopping": {"target_errors": 200, "min_samples": 2000, "max_samples": 100_000, "batch": 2000, **stopping},
    }


def mse_run() -> dict:
    """Closed-form channel-estimation MSE curves (seed 001 Fig. 5's system): no Monte Carlo at all."""
    return {
        "study": "link", "seed": 5,
        "source": {"type": "pilots", "antennas": 10, "users": 4, "tau_p": 12, "P": 4.0},
        "receiver": {"type": "mmse"}, "metric": {"type": "mse"},
        "grid": {"rate": [0.5, 1.0]},
        "curves": [{"name": "MMSE", "receiver": "mmse"}, {"name": "eta_opt", "receiver": "eta_opt"}],
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    run_sweep(parse_config(small()), base / "a", workers=1, quiet=True, plot=False)
    run_sweep(parse_config(small()), base / "same", workers=1, quiet=True, plot=False)      # same seed and config
    run_sweep(parse_config(small(seed=8)), base / "b", workers=1, quiet=True, plot=False)   # independent
    run_sweep(parse_config(mse_run()), base / "mse", workers=1, quiet=True, plot=False)
    return base


def test_mover_interval_of_a_difference():
    # symmetric intervals: the half-widths add in quadrature, as for two normal estimates
    d, lo, hi = mover_interval(1.0, 0.7, 1.3, 2.0, 1.6, 2.4)
    assert d == 1.0 and lo == pytest.approx(1.0 - 0.5) and hi == pytest.approx(1.0 + 0.5)
    # a point with no error seen: [0, u]; its upper bound widens the side where its rate may lie, nothing below 0
    d, lo, hi = mover_interval(0.0, 0.0, 3e-6, 1e-5, 5e-6, 2e-5)
    assert lo == pytest.approx(1e-5 - np.hypot(5e-6, 3e-6)) and hi == pytest.approx(2e-5)
    # two zero-error points: the difference is 0 and its interval spans both upper bounds
    d, lo, hi = mover_interval(0.0, 0.0, 3e-6, 0.0, 0.0, 4e-6)
    assert (d, lo, hi) == (0.0, -3e-6, 4e-6)
    # rescaled to another level: a 95% interval's half-widths times z(0.99) / z(0.95)
    d, lo, hi = mover_interval(1.0, 0.7, 1.3, 1.0, 0.7, 1.3, scale_a=2.5758 / 1.96, scale_b=2.5758 / 1.96)
    assert hi == pytest.approx(np.hypot(0.3, 0.3) * 2.5758 / 1.96)


def test_mover_with_wilson_intervals_covers_a_difference_of_rates():
    """Newcombe's hybrid score interval: close to 95% coverage (somewhat conservative at a couple of
    expected errors), small rates and zero counts included."""
    rng = np.random.default_rng(1)
    for p1, p2, n in ((1e-2, 1.3e-2, 4000), (5e-4, 5e-4, 4000)):
        e1, e2 = rng.binomial(n, p1, 1500), rng.binomial(n, p2, 1500)
        covered = 0
        for a, b in zip(e1, e2):
            ia, ib = wilson_interval(int(a), n), wilson_interval(int(b), n)
            _, lo, hi = mover_interval(a / n, *ia, b / n, *ib)
            covered += lo <= p2 - p1 <= hi
        assert 0.93 <= covered / 1500 <= 0.99, (p1, p2, covered / 1500)
    assert (e1 == 0).any()  # the second case does see points without errors


def test_matching_points_identical_independent_and_paired(runs):
    a, same, b = (load_run(runs / n, n) for n in ("a", "same", "b"))
    diffs = match_points([a, same, b])
    assert len(diffs) == 8  # 2 curves x 2 SNRs, against each of the two others
    for d in diffs:
        assert d.low <= d.difference <= d.high
    identical = [d for d in diffs if d.other is same]
    assert all(d.identical and d.same_draws and d.difference == 0 and not d.significant for d in identical)
    independent = [d for d in diffs if d.other is b]
    assert not any(d.same_draws or d.identical for d in independent)
    assert {(d.ref_row["curve"], d.where["snr_db"]) for d in independent} == {
        ("MAP", "2.0"), ("MAP", "8.0"), ("QMAP R=2", "2.0"), ("QMAP R=2", "8.0")}
    # --pair: MAP of the reference against QMAP R=2 of the other run; at 8 dB QMAP is clearly worse
    paired = match_points([a, b], pairs=[("MAP", "QMAP R=2")])
    assert len(paired) == 2 and all(d.other_row["curve"] == "QMAP R=2" for d in paired)
    at8 = next(d for d in paired if d.where["snr_db"] == "8.0")
    assert at8.significant and at8.low > 0 and not at8.same_draws


def test_figure_overlays_the_runs_with_labelled_curves(runs):
    a, b = load_run(runs / "a", "a"), load_run(runs / "b", "b")
    figs = list(compare_figures([a, b]))
    assert len(figs) == 1 and figs[0][0] == ""
    ax = figs[0][1].axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["a: MAP", "a: QMAP R=2", "b: MAP", "b: QMAP R=2"]
    assert ax.get_yscale() == "log"
    only = list(compare_figures([a, b], curves=["MAP"]))[0][1].axes[0]
    assert [t.get_text() for t in only.get_legend().get_texts()] == ["a: MAP", "b: MAP"]


def test_cli_prints_differences_and_writes_the_figure(runs, tmp_path):
    out = tmp_path / "cmp.png"
    r = subprocess.run(HWSIM + ["compare", str(runs / "a"), str(runs / "b"), str(runs / "same"), "--out", str(out)],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"{runs / 'b'} - {runs / 'a'} (ber)" in r.stdout and "difference [95% CI]" in r.stdout
    assert r.stdout.count("identical (same seed, config and results)") == 4
    assert "4 matched points" in r.stdout and f"figure: {out}" in r.stdout
    r = subprocess.run(HWSIM + ["compare", str(runs / "a"), str(runs / "b"), "--pair", "MAP", "QMAP R=2",
                                "--no-plot"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0 and "MAP -> QMAP R=2" in r.stdout and " significant" in r.stdout, r.stderr


def test_clear_errors(runs, tmp_path, capsys):
    from hwsim.cli import main

    def error(*args):
        code = main(["compare", *map(str, args), "--no-plot"])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("hwsim compare: error: "), err
        return err.strip()

    empty = tmp_path / "empty"
    empty.mkdir()
    assert error(runs / "a", empty).endswith("holds no sweep (no manifest.json)")
    assert error(runs / "a", tmp_path / "missing").endswith("does not exist")
    started = tmp_path / "started"  # a sweep that has not finished a point yet
    started.mkdir()
    (started / "manifest.json").write_text((runs / "a" / "manifest.json").read_text())
    assert "has no finished points yet" in error(runs / "a", started)
    assert f"cannot compare {runs / 'a'} (ber) with {runs / 'mse'} (mse): the runs measure different metrics" in \
        error(runs / "a", runs / "mse")
    assert "no run has a curve named 'ZF'" in error(runs / "a", runs / "b", "--curves", "ZF")
    assert "the reference run" in error(runs / "a", runs / "b", "--pair", "ZF", "MAP")
    assert "at least two run folders" in error(runs / "a")
    with pytest.raises(CompareError, match="must end in one of .png, .pdf, .svg"):
        compare([runs / "a", runs / "b"], out=tmp_path / "x.gif")


def test_runs_of_another_grid_match_on_common_values(runs, tmp_path):
    cfg = small()
    cfg["grid"]["snr_db"] = [8.0, 11.0]
    run_sweep(parse_config(cfg), tmp_path / "c", workers=1, quiet=True, plot=False)
    runs_, diffs, written = compare([runs / "a", tmp_path / "c"], out=tmp_path / "c.pdf")
    assert {d.where["snr_db"] for d in diffs} == {"8.0"} and len(diffs) == 2
    assert written == [tmp_path / "c.pdf"] and (tmp_path / "c.pdf").read_bytes()[:4] == b"%PDF"
    # the same seed and curve with another grid: the 8 dB points drew the same numbers
    assert all(d.same_draws for d in diffs)
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["settings"]["grid"] == {"snr_db": [8.0, 11.0]}


def test_the_overlay_draws_in_db_when_the_reference_run_does(tmp_path):
    """``[plot] db = true`` (e.g. NMSE of the QCS study): compare draws the estimates in dB too."""
    from hwsim.engine.compare import compare_figures, load_run
    from hwsim.engine.sweep import parse_config, run_sweep

    data = {"study": "link", "seed": 4, "source": {"type": "gaussian", "dim": 1}, "receiver": {"type": "rd_bound"},
            "metric": {"type": "mse"}, "grid": {"rate": [1.0, 2.0]}, "curves": [{"name": "bound"}],
            "plot": {"db": True}}
    for name in ("a", "b"):
        run_sweep(parse_config(data), tmp_path / name, workers=1, quiet=True, plot=False)
    runs = [load_run(tmp_path / "a", "a"), load_run(tmp_path / "b", "b")]
    (_, fig), = list(compare_figures(runs))
    ax = fig.axes[0]
    assert ax.get_yscale() == "linear"
    ys = sorted({round(float(v), 3) for line in ax.lines for v in line.get_ydata()})
    assert ys == [-12.041, -6.021]  # 10 log10(2^-2R) at R = 2 and 1


def test_runs_of_different_systems_are_said_to_be_so_not_same_draws(runs, tmp_path):
    """Issue 30 item 2: the same seed and curve on another system (``--set channel.antennas=4``) draws other
    numbers; compare names what differs instead of labelling the pair "same draws"."""
    from hwsim.engine.compare import format_differences
    from hwsim.engine.config import load_config

    config = tmp_path / "small.toml"
    lines = []  # small() as a TOML file, read through load_config with --set as the CLI reads it
    for key, value in small().items():
        if not isinstance(value, (dict, list)):
            lines.append(f"{key} = {json.dumps(value)}")
    for key in ("source", "channel", "adc", "receiver", "grid", "stopping"):
        lines.append(f"[{key}]")
        lines += [f"{json.dumps(k) if '.' in k else k} = {json.dumps(v)}" for k, v in small()[key].items()]
    for curve in small()["curves"]:
        lines.append("[[curves]]")
        lines += [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in curve.items()]
    config.write_text("\n".join(lines) + "\n")
    run_sweep(load_config(config, overrides=["channel.antennas=4"]), tmp_path / "n4", workers=1, quiet=True,
              plot=False)
    a, other = load_run(runs / "a"), load_run(tmp_path / "n4")
    diffs = match_points([a, other])
    assert diffs and all(not d.same_draws and d.system_changes == ["channel.antennas 6 -> 4"] for d in diffs)
    assert all("different systems: channel.antennas 6 -> 4" in d.verdict and "same draws" not in d.verdict
               for d in diffs if not d.identical)
    text = format_differences([a, other], diffs)
    assert "different systems (not the same draws, whatever the seed): channel.antennas 6 -> 4" in text
    # the overlay figure says so in its title, and marks the run with overrides as plot.png does
    fig = list(compare_figures([a, other]))[0][1]
    assert "different systems: channel.antennas 6 -> 4" in fig.axes[0].get_title()
    marks = [t.get_text() for t in fig.texts if t.get_gid() == "hwsim-run-marks"]
    assert len(marks) == 1 and "overrides: channel.antennas=4" in marks[0] and str(tmp_path / "n4") in marks[0]
    # the same system stays "same draws" (a run of the same config), and its overlay has neither line
    same = match_points([a, load_run(runs / "same")])
    assert all(d.same_draws and not d.system_changes for d in same)
    fig = list(compare_figures([a, load_run(runs / "same")]))[0][1]
    assert "different systems" not in fig.axes[0].get_title()
    assert not [t for t in fig.texts if t.get_gid() == "hwsim-run-marks"]
