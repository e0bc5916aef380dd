import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hwsim.engine.sweep import SweepError, load_config, parse_config, run_sweep

ROOT = Path(__file__).resolve().parents[1]


def tiny(**stopping) -> dict:
    """A small seed-001 link sweep (real exponential channel, 6 antennas, 2 BPSK users):
    3 curves x 3 SNRs, a few hundred thousand bits per point."""
    return {
        "study": "link", "seed": 7,
        "source": {"type": "users", "users": 2, "constellation": "bpsk"},
        "channel": {"type": "exponential", "antennas": 6, "frame_len": 50},
        "adc": {"type": "none"},
        "receiver": {"type": "map"},
        "grid": {"snr_db": [2.0, 5.0, 8.0]},
        "curves": [{"name": "MAP", "receiver": "map"},
                   {"name": "QMAP R=2", "receiver": "qmap", "adc": "uniform_range", "adc.rate": 2.0},
                   {"name": "MAP CSI", "receiver": "map", "channel.csi_error": 0.2}],
        "stopping": {"target_errors": 300, "min_samples": 2000, "max_samples": 200_000, "batch": 2000,
                     **stopping},
    }


def _rows(out):
    with open(Path(out) / "results.csv") as f:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]


# --------------------------------------------------------------------------- config validation
@pytest.mark.parametrize("mutate, match", [
    (lambda c: c.update(sweeep=1), r"unknown key 'sweeep' in the sweep file; valid keys: adc, channel, "
                                   r"common_random_numbers, curves, frontend, grid"),
    (lambda c: c["channel"].update(nt=3), r"channel.nt is not a parameter of channel 'exponential' \(its parameters: "
                                          r"antennas, csi_error, frame_len\)"),
    (lambda c: c["stopping"].update(max_errors=3), r"unknown key 'max_errors' in \[stopping\]; valid keys: batch"),
    (lambda c: c["curves"][0].update(reciever="map"), r"unknown key 'reciever' in \[\[curves\]\] entry 1"),
    (lambda c: c["channel"].update(antennas="twelve"), "channel.antennas must be an integer"),
    (lambda c: c["grid"].update(snr_db=[]), "grid.snr_db is empty"),
    (lambda c: c["grid"].update(snr_db=[1.0, float("nan")]), "snr_db must be finite"),
    (lambda c: c["grid"].update(snr_db={"start": 5, "stop": 1, "step": 1}), "stop >= start"),
    (lambda c: c.update(study="tracking"), r"study = one of link, got .tracking."),
    (lambda c: c["curves"][1].pop("adc.rate"), r"curve 'QMAP R=2': adc.type = 'uniform_range' needs exactly one of "
                                               r"adc.levels \(>= 2\) or adc.rate \(> 0\)"),
    (lambda c: c["curves"][1].update({"adc.rate": 0.5}), "curve 'QMAP R=2': rate=0.5 .* at least 2 levels"),
    (lambda c: c["curves"][0].update(receiver="ml"), r"curve 'MAP': receiver.type must be one of .*\bmap, .*\bqmap\b.*"
                                                     r", got 'ml'"),
    (lambda c: c["curves"][2].update({"channel.csi_error": -0.1}), "curve 'MAP CSI': channel.csi_error must be >= 0"),
    (lambda c: c["curves"][0].update({"adc": "uniform_range", "adc.levels": 4}),
     r"curve 'MAP': receiver.type = 'map' detects from unquantized samples \(adc.type = \"none\"\)"),
    (lambda c: c["curves"].append({"name": "MAP", "receiver": "map"}), "'MAP' appears twice"),
    (lambda c: c["stopping"].update(min_samples=10**9), "min_samples must be <="),
    (lambda c: c.update(curves=[]), "at least one"),
    (lambda c: c.update(seed=-1), "seed must be >= 0"),
])
def test_bad_configs_are_rejected_with_a_clear_message(mutate, match):
    cfg = tiny()
    mutate(cfg)
    with pytest.raises(ValueError, match=match):
        parse_config(cfg)


def test_points_merge_curves_and_grid_and_quick_overrides():
    cfg = tiny()
    cfg["grid"]["rate"] = [1.0, 2.0]
    cfg["curves"] = [{"name": "QMAP", "receiver": "qmap", "adc": "uniform_range"},
                     {"name": "Q1", "receiver": "qmap", "adc": "uniform_range", "rate": 1.0}]
    pts = parse_config(cfg).points()
    assert len(pts) == 3 * 2 + 3  # Q1 fixes the rate axis
    assert {p.params["rate"] for p in pts if p.curve == "Q1"} == {1.0}
    cfg["quick"] = {"grid": {"snr_db": [4.0]}}
    assert len(parse_config(cfg, quick=True).points()) == 2 + 1
    assert load_config("ber_snr").hash != load_config("ber_snr", quick=True).hash


def test_a_grid_axis_of_a_parameter_skips_the_curves_whose_component_type_lacks_it():
    cfg = tiny()
    cfg["adc"] = {"type": "uniform_range", "rate": 2.0}
    cfg["receiver"] = {"type": "qmap"}
    cfg["grid"]["adc.rate"] = [1.0, 2.0]
    cfg["curves"] = [{"name": "unquantized", "adc": "none", "receiver": "map"}, {"name": "QMAP"}]
    pts = parse_config(cfg).points()
    assert sum(p.curve == "unquantized" for p in pts) == 3 and sum(p.curve == "QMAP" for p in pts) == 6
    assert all("adc.rate" not in p.params for p in pts if p.curve == "unquantized")
    cfg["curves"][0]["adc.rate"] = 1.0          # a parameter the curve sets itself must still exist
    with pytest.raises(ValueError, match="adc.rate is not a parameter of adc 'none'"):
        parse_config(cfg)


# --------------------------------------------------------------------------- running
def test_results_do_not_depend_on_workers(tmp_path):
    cfg = parse_config(tiny())
    run_sweep(cfg, tmp_path / "one", workers=1, quiet=True)
    run_sweep(cfg, tmp_path / "two", workers=2, quiet=True, plot=False)
    assert _rows(tmp_path / "one") == _rows(tmp_path / "two")
    rows = _rows(tmp_path / "one")
    assert len(rows) == 9 and rows[0]["curve"] == "MAP" and rows[0]["snr_db"] == "2.0"
    assert all(float(r["ci_low"]) <= float(r["ber"]) <= float(r["ci_high"]) for r in rows)
    manifest = json.loads((tmp_path / "one" / "manifest.json").read_text())
    assert manifest["config_hash"] == cfg.hash and manifest["root_seed"] == 7 and manifest["finished"]
    assert {"hwsim", "numpy", "numba", "torch"} <= set(manifest["versions"])
    for ext in ("png", "pdf"):
        assert (tmp_path / "one" / f"plot.{ext}").stat().st_size > 1000


def test_a_folder_of_another_sweep_is_refused(tmp_path):
    run_sweep(parse_config(tiny()), tmp_path, workers=1, quiet=True, plot=False)
    other = tiny()
    other["seed"] = 8
    with pytest.raises(SweepError, match="holds a different sweep"):
        run_sweep(parse_config(other), tmp_path, workers=1, quiet=True)
    with pytest.raises(SweepError, match="configuration changed.*changed: seed"):
        run_sweep(parse_config(other), tmp_path, workers=1, quiet=True, resume=True)
    with pytest.raises(SweepError, match="already holds 9 finished points"):
        run_sweep(parse_config(tiny()), tmp_path, workers=1, quiet=True)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("mine")
    with pytest.raises(SweepError, match="not empty and holds no hwsim sweep"):
        run_sweep(parse_config(tiny()), tmp_path / "x", workers=1, quiet=True)


def test_panels_make_one_figure_each(tmp_path):
    cfg = tiny()
    cfg["grid"]["rate"] = [1.0, 2.0]
    cfg["plot"] = {"x": "rate"}
    cfg["curves"] = [{"name": "QMAP", "receiver": "qmap", "adc": "uniform_range"}]
    run_sweep(parse_config(cfg), tmp_path, workers=1, quiet=True)
    names = sorted(p.name for p in tmp_path.glob("plot*.png"))
    assert names == ["plot_snr_db=2.0.png", "plot_snr_db=5.0.png", "plot_snr_db=8.0.png"]


def test_sigkill_then_resume_loses_nothing_and_recomputes_only_missing_points(tmp_path):
    cfg = tiny(target_errors=10**9, max_samples=3_000_000, min_samples=0, batch=20_000)
    path = tmp_path / "slow.toml"
    path.write_text(_toml(cfg))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "hwsim.cli", "sweep", str(path), "--out", str(out), "--workers", "1", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    journal = out / "points.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not journal.exists() or len(journal.read_text().splitlines()) < 2):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(journal.read_text().splitlines())
    assert 2 <= finished < 9, "the sweep should have been killed mid-way"
    assert len(_rows(out)) in (finished - 1, finished)  # csv is complete, never truncated
    r = subprocess.run(cmd + ["--resume"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    keys = [json.loads(line)["key"] for line in journal.read_text().splitlines()]
    assert len(keys) == 9 == len(set(keys))  # finished points were not computed again
    clean = tmp_path / "clean"
    subprocess.run(cmd[:5] + ["--out", str(clean), "--workers", "2", "--quiet"], cwd=ROOT, check=True, timeout=300)
    assert _rows(out) == _rows(clean)


def _toml(cfg: dict) -> str:
    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return repr(v)

    def key(k):
        return json.dumps(k) if "." in k else k  # a dotted point key ("adc.rate") is one quoted TOML key

    lines = [f"{k} = {val(v)}" for k, v in cfg.items() if not isinstance(v, (dict, list))]
    for table, values in cfg.items():
        if isinstance(values, dict):
            lines.append(f"[{table}]")
            lines += [f"{key(k)} = {val(v)}" for k, v in values.items()]
    for curve in cfg["curves"]:
        lines.append("[[curves]]")
        lines += [f"{key(k)} = {val(v)}" for k, v in curve.items()]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- Dask
def test_dask_cluster_gives_the_same_numbers_bit_for_bit(tmp_path):
    distributed = pytest.importorskip("distributed")
    cfg = parse_config(tiny())
    run_sweep(cfg, tmp_path / "local", workers=2, quiet=True, plot=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        run_sweep(cfg, tmp_path / "dask", scheduler=cluster.scheduler_address, quiet=True, plot=False)
    assert _rows(tmp_path / "local") == _rows(tmp_path / "dask")
    assert json.loads((tmp_path / "dask" / "manifest.json").read_text())["scheduler"].startswith("tcp://127.0.0.1")


def test_unreachable_scheduler_times_out_with_a_clear_error(tmp_path):
    pytest.importorskip("distributed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    t0 = time.time()
    with pytest.raises(SweepError, match=f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port} within 2 s"):
        run_sweep(parse_config(tiny()), tmp_path, scheduler=f"tcp://127.0.0.1:{port}", quiet=True,
                  connect_timeout=2)
    assert time.time() - t0 < 30


def test_range_grids_stop_at_stop_and_string_axes_plot(tmp_path):
    c = tiny()
    c["grid"]["snr_db"] = {"start": 0, "stop": 1, "step": 0.6}
    assert parse_config(c).grid["snr_db"] == [0.0, 0.6]
    c = tiny()
    c["grid"]["adc"] = ["uniform", "lloyd_max"]  # a string axis: the converter design under QMAP
    c["curves"] = [{"name": "QMAP", "receiver": "qmap", "adc.bits": 2, "adc.agc": "fixed"}]
    run_sweep(parse_config(c), tmp_path, workers=1, quiet=True)
    assert sorted(p.name for p in tmp_path.glob("plot*.png")) == ["plot_adc=lloyd_max.png", "plot_adc=uniform.png"]
    c["plot"] = {"x": "adc"}
    with pytest.raises(ValueError, match="plot.x must be a numeric grid axis"):
        parse_config(c)
    c = tiny()
    c["summary"] = {"target": "1e-3"}
    with pytest.raises(ValueError, match="summary.target must be a number"):
        parse_config(c)


def test_plot_figures_draw_named_groups_of_curves(tmp_path):
    c = tiny(min_samples=500, max_samples=500, batch=500)
    c["plot"] = {"figures": {"map": ["MAP", "MAP CSI"], "quantized": ["QMAP R=2", "MAP"]}}
    run_sweep(parse_config(c), tmp_path, workers=1, quiet=True)
    assert sorted(p.name for p in tmp_path.glob("plot*.png")) == ["plot_figure=map.png", "plot_figure=quantized.png"]
    c["plot"] = {"figures": {"map": ["MAP"]}}  # the unlisted curves go to plot.png
    run_sweep(parse_config(c), tmp_path / "rest", workers=1, quiet=True)
    assert sorted(p.name for p in (tmp_path / "rest").glob("plot*.png")) == ["plot.png", "plot_figure=map.png"]
    # hwsim plot redraws them: some curves, a y range, the paper style, SVG
    from hwsim.cli.main import main

    assert main(["plot", str(tmp_path / "rest"), "--curves", "MAP", "QMAP R=2", "--ylim", "1e-4", "1",
                 "--style", "paper", "--format", "svg"]) == 0
    assert sorted(p.name for p in (tmp_path / "rest").glob("plot*.svg")) == ["plot.svg", "plot_figure=map.svg"]
    assert "MAP CSI" not in (tmp_path / "rest" / "plot.svg").read_text()
    for argv in (["--curves", "nope"], ["--format", "gif"], ["--ylim", "1", "0.1"]):
        assert main(["plot", str(tmp_path / "rest"), *argv]) == 2
    # --force removes them like every plot
    run_sweep(parse_config(c), tmp_path / "rest", workers=1, quiet=True, plot=False, force=True)
    assert not list((tmp_path / "rest").glob("plot*"))
    for figures, message in (({"../x": ["MAP"]}, "figure name '../x' must be"), ({"a": []}, "non-empty list"),
                             ({"a": ["nope"]}, "'nope' is not a curve"), ({"a": "MAP"}, "non-empty list")):
        c["plot"] = {"figures": figures}
        with pytest.raises(ValueError, match=message):
            parse_config(c)


def test_resume_trims_a_cut_journal_line_and_files_are_readable(tmp_path):
    cfg = parse_config(tiny())
    run_sweep(cfg, tmp_path, workers=1, quiet=True, plot=False)
    journal = tmp_path / "points.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[:-1]) + lines[-1][:20])  # last line cut mid-write
    run_sweep(cfg, tmp_path, workers=1, quiet=True, resume=True, plot=False)
    assert len(journal.read_text().splitlines()) == 9
    assert all(json.loads(line) for line in journal.read_text().splitlines())
    assert (tmp_path / "results.csv").stat().st_mode & 0o044  # not mkstemp's 0600


def test_common_random_numbers_pair_the_curves(tmp_path):
    c = tiny()
    c["curves"] = [{"name": "A", "receiver": "map"}, {"name": "B", "receiver": "map"}]
    c["common_random_numbers"] = True
    run_sweep(parse_config(c), tmp_path / "crn", workers=1, quiet=True, plot=False)
    rows = _rows(tmp_path / "crn")
    a = [(r["snr_db"], r["errors"]) for r in rows if r["curve"] == "A"]
    b = [(r["snr_db"], r["errors"]) for r in rows if r["curve"] == "B"]
    assert a == b  # the same receiver on the same draws: identical counts
    c["common_random_numbers"] = False
    run_sweep(parse_config(c), tmp_path / "ind", workers=1, quiet=True, plot=False)
    rows = _rows(tmp_path / "ind")
    assert [r["errors"] for r in rows if r["curve"] == "A"] != [r["errors"] for r in rows if r["curve"] == "B"]


def test_a_failing_point_does_not_lose_the_others(tmp_path):
    cfg = parse_config(tiny())
    # appended after parsing, so it skips validation: it fails in the worker
    cfg.curves.append({"name": "broken", "receiver": "qmap", "adc": "uniform_range", "adc.levels": 1})
    with pytest.raises(SweepError, match=r"3 of 12 points failed(.|\n)*broken(.|\n)*adc.levels must be >= 2"):
        run_sweep(cfg, tmp_path, workers=2, quiet=True, plot=False)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert len(manifest["failed"]) == 3 and manifest["finished"] is None
    assert len((tmp_path / "points.jsonl").read_text().splitlines()) == 9
    assert {r["curve"] for r in _rows(tmp_path)} == {"MAP", "QMAP R=2", "MAP CSI"}


def test_a_points_seconds_include_its_set_up(monkeypatch):
    """A point's ``seconds`` (results.csv, the progress lines) count its set-up, e.g. a training, not only
    the Monte Carlo run after it."""
    import numpy as np

    from hwsim.engine import sweep
    from hwsim import study as link

    cfg = parse_config(tiny(max_samples=2000))
    point = cfg.points()[0]
    make = link.make_link

    def slow_set_up(*args):
        time.sleep(0.5)
        return make(*args)

    monkeypatch.setattr(link, "make_link", slow_set_up)
    res = sweep.run_point("link", cfg.system, point.params, cfg.stopping, cfg.point_seed(point))
    assert res["seconds"] >= 0.5
