"""The newcomer's path: a second run of a sweep shows it (or resumes it), --force starts over safely,
Ctrl-C stops at once (within seconds, not the point) and resumes, progress without a terminal, a summary after every sweep,
`hwsim train` refuses an unwritable --out before training, the LICENSE, the README's links.
Real processes and signals where the behaviour is about processes."""

import configparser
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hwsim.engine import sweep as sweep_module
from hwsim.engine.sweep import SweepError, parse_config, run_sweep

from _procs import interrupt, with_ctrl_c
from test_sweep import _rows, _toml, tiny

ROOT = Path(__file__).resolve().parents[1]
HWSIM = [sys.executable, "-m", "hwsim.cli"]


def _run(args, cwd=ROOT, **kw):
    return subprocess.run(HWSIM + list(map(str, args)), capture_output=True, text=True, timeout=300, cwd=cwd, **kw)


def _small() -> dict:
    cfg = tiny(target_errors=100, max_samples=40_000)
    cfg["grid"]["snr_db"] = [2.0, 8.0]
    return cfg  # 3 curves x 2 SNRs, a second or two


# --------------------------------------------------------------------------- second run, --force
def test_the_second_run_of_a_sweep_shows_it_instead_of_failing(tmp_path):
    (tmp_path / "small.toml").write_text(_toml(_small()))
    first = _run(["sweep", "small.toml", "--workers", "1", "--quiet"], cwd=tmp_path)  # default folder runs/small
    assert first.returncode == 0, first.stderr
    out = tmp_path / "runs" / "small"
    journal, manifest = (out / "points.jsonl").read_bytes(), (out / "manifest.json").read_bytes()
    again = _run(["sweep", "small.toml", "--workers", "1"], cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert re.search(r"runs/small already holds all 6 finished points of this sweep \(finished [^)]+\); nothing to "
                     r"compute \(--force starts it over\)", again.stderr), again.stderr
    assert again.stdout == first.stdout  # the same summary and paths
    assert "MAP CSI" in again.stdout and "results: runs/small/results.csv" in again.stdout
    # nothing was computed or rewritten
    assert (out / "points.jsonl").read_bytes() == journal and (out / "manifest.json").read_bytes() == manifest


def test_force_starts_over_and_keeps_files_the_sweep_did_not_write(tmp_path):
    out = tmp_path / "run"
    cfg = _small()
    run_sweep(parse_config(cfg), out, workers=1, quiet=True)
    (out / "notes.txt").write_text("mine")
    (out / "plot_snr_db=4.0.png").write_bytes(b"stale panel")          # an earlier sweep's panel
    (out / ".results.csv.abc123.tmp").write_text("left by a killed writer")
    other = dict(cfg, seed=99)  # another sweep: refused without --force, with a hint
    path = tmp_path / "other.toml"
    path.write_text(_toml(other))
    r = _run(["sweep", path, "--out", out, "--workers", "1", "--quiet"])
    assert r.returncode == 2 and "start over there with --force" in r.stderr, r.stderr
    r = _run(["sweep", path, "--out", out, "--workers", "1", "--force"])
    assert r.returncode == 0, r.stderr
    assert "started over in" in r.stderr and "removed the earlier sweep's 6 finished points" in r.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["manifest.json", "notes.txt", "plot.pdf", "plot.png", "points.jsonl", "results.csv",
                     "sweep.lock"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config_hash"] == parse_config(other).hash and manifest["root_seed"] == 99
    assert {json.loads(line)["config"] for line in (out / "points.jsonl").read_text().splitlines()} == {
        parse_config(other).hash}
    r = _run(["sweep", path, "--out", out, "--resume", "--force"])
    assert r.returncode == 2 and "exclude each other" in r.stderr
    # a folder that holds no sweep is not cleared by --force
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "data.csv").write_text("x")
    with pytest.raises(SweepError, match="not empty and holds no hwsim sweep"):
        run_sweep(parse_config(cfg), tmp_path / "mine", workers=1, quiet=True, force=True)
    assert (tmp_path / "mine" / "data.csv").read_text() == "x"


def test_force_interrupted_at_any_step_leaves_a_valid_sweep_folder(tmp_path, monkeypatch):
    """Stopped before any removal (results.csv, plots, then the journal) or after the last one, the folder
    is the old sweep, whole (a rerun shows it again), or the old sweep with no finished point (a rerun
    computes it): never a journal cut short, never a folder the next run refuses."""
    cfg = parse_config(_small())
    done = tmp_path / "done"
    run_sweep(cfg, done, workers=1, quiet=True)
    rows, journal = _rows(done), (done / "points.jsonl").read_bytes()
    real_unlink, real_manifest = Path.unlink, sweep_module._new_manifest
    removals = ["results.csv", "plot.png", "plot.pdf", "points.jsonl"]
    for stop_at in range(1, len(removals) + 2):  # the last round stops after every removal
        out = tmp_path / f"cut{stop_at}"
        shutil.copytree(done, out)
        calls = []

        def unlink(self, *args, **kw):
            calls.append(self.name)
            if len(calls) == stop_at:
                raise KeyboardInterrupt
            return real_unlink(self, *args, **kw)

        def manifest(*args):
            raise KeyboardInterrupt

        monkeypatch.setattr(Path, "unlink", unlink)
        monkeypatch.setattr(sweep_module, "_new_manifest", manifest)
        try:
            with pytest.raises(KeyboardInterrupt):
                run_sweep(cfg, out, workers=1, quiet=True, force=True)
        finally:
            monkeypatch.setattr(Path, "unlink", real_unlink)
            monkeypatch.setattr(sweep_module, "_new_manifest", real_manifest)
        # results.csv and the plots (in any order) go first, the journal last
        assert set(calls[:3]) <= set(removals[:3]) and calls[3:] in ([], ["points.jsonl"])
        assert (out / "manifest.json").read_bytes() == (done / "manifest.json").read_bytes()
        if stop_at <= len(removals):
            assert (out / "points.jsonl").read_bytes() == journal, stop_at  # untouched
        else:
            assert not (out / "points.jsonl").exists()
        run_sweep(cfg, out, workers=1, quiet=True, resume=True)  # what the plain command does next
        assert _rows(out) == rows, stop_at


# --------------------------------------------------------------------------- Ctrl-C
def _slow_config(tmp_path, seconds_per_point: float = 4.0) -> Path:
    """Two points of seed 001's 6 x 2 MAP link, each a fixed number of samples (about 4 s)."""
    cfg = tiny(target_errors=10**9, min_samples=0, max_samples=int(4_000_000 * seconds_per_point), batch=20_000)
    cfg["grid"]["snr_db"] = [2.0]
    cfg["curves"] = [{"name": "MAP", "receiver": "map"}, {"name": "MAP again", "receiver": "map"}]
    path = tmp_path / "slow.toml"
    path.write_text(_toml(cfg))
    return path


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_ctrl_c_stops_a_sweep_mid_point_at_once_and_the_same_command_resumes(tmp_path):
    path, out = _slow_config(tmp_path), tmp_path / "run"
    cmd = HWSIM + ["sweep", str(path), "--out", str(out), "--workers", "1"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=with_ctrl_c)
    try:
        journal = out / "points.jsonl"
        _wait(lambda: journal.exists() and journal.read_text().count("\n") >= 1, 180, "the first point")
        seconds = interrupt(proc, group=True)  # the second point (about 4 s) has just started
    finally:
        if proc.poll() is None:
            proc.kill()
    _, err = proc.communicate()
    # about 0.5 s idle; the bound leaves room for a loaded machine (the journal checks below show the point
    # was not finished first)
    assert seconds < 10.0, f"the sweep took {seconds:.1f} s to stop"
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == ("hwsim sweep: interrupted; finished points are kept (run the same "
                                            "command again to resume)")
    assert len(journal.read_text().splitlines()) == 1 and len(_rows(out)) == 1
    assert json.loads((out / "manifest.json").read_text())["finished"] is None
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)  # the same command
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stderr and "1 of 2 points were finished, 1 to compute" in r.stderr
    keys = [json.loads(line)["key"] for line in journal.read_text().splitlines()]
    assert len(keys) == 2 == len(set(keys))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["finished"] and manifest["resumed"] == 1


from _procs import alive as _running, workers as _workers  # noqa: E402


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
@pytest.mark.parametrize("group", [True, False], ids=["terminal", "kill-INT"])
def test_ctrl_c_stops_worker_processes_at_once(tmp_path, group):
    path, out = _slow_config(tmp_path, seconds_per_point=30.0), tmp_path / "run"  # longer than the bound below
    proc = subprocess.Popen(HWSIM + ["sweep", str(path), "--out", str(out), "--workers", "2"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=with_ctrl_c)
    try:
        _wait(lambda: len(_workers(proc.pid)) >= 2, 120, "two workers")
        pids = _workers(proc.pid)
        time.sleep(1.0)  # the workers are computing their points
        seconds = interrupt(proc, group)
    finally:
        if proc.poll() is None:
            proc.kill()
    _, err = proc.communicate()
    # about 0.5 s idle; the bound leaves room for a loaded machine (the journal checks below show the point
    # was not finished first)
    assert seconds < 10.0, f"the sweep took {seconds:.1f} s to stop"
    assert proc.returncode == 130 and "Traceback" not in err and "KeyboardInterrupt" not in err, err
    _wait(lambda: not any(map(_running, pids)), 5, f"the workers {sorted(pids)} to end")


# --------------------------------------------------------------------------- progress and summary
def test_without_a_terminal_progress_is_one_line_per_point_and_a_summary_follows(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(_toml(_small()))
    r = _run(["sweep", path, "--out", tmp_path / "run", "--workers", "1"])  # stderr is a pipe: no terminal
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("sweep: [")]
    assert len(lines) == 6, r.stderr
    assert re.fullmatch(r"sweep: \[1/6\] MAP \| snr_db=2\.0: ber \d\.\d{3}e-\d\d \[\S+, \S+\] \(\d+\.\d s\)", lines[0])
    assert lines[-1].startswith("sweep: [6/6] MAP CSI | snr_db=8.0: ber ")
    assert "\r" not in r.stderr  # no progress bar
    assert re.search(r"sweep: computed 6 points in \d+\.\d s", r.stderr)
    # the summary (no [summary] target in this config): every curve, its points, first and last values
    head, *rows = [line for line in r.stdout.splitlines() if not line.startswith(("results:", "plots:"))]
    assert head.split()[:2] == ["curve", "points"] and "ber [CI] at the first and last snr_db" in head
    assert [row.split("  ")[0].strip() for row in rows] == ["MAP", "QMAP R=2", "MAP CSI"]
    assert all(" 2/2 " in row and "at snr_db=2.0;" in row and "at snr_db=8.0" in row for row in rows)
    quiet = _run(["sweep", path, "--out", tmp_path / "quiet", "--workers", "1", "--quiet"])
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout.replace("quiet", "run") == r.stdout


# --------------------------------------------------------------------------- hwsim train --out
def test_train_refuses_an_unwritable_out_before_training(tmp_path):
    t0 = time.monotonic()
    r = _run(["train", "--snr", "12", "--out", tmp_path / "nodir" / "x.pt"])
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == (f"hwsim train: error: --out {tmp_path / 'nodir' / 'x.pt'}: the folder "
                                f"{tmp_path / 'nodir'} does not exist (create it first)")
    r = _run(["train", "--snr", "12", "--out", "/proc/x.pt"])  # read-only even for root
    assert r.returncode == 2 and "cannot write in /proc" in r.stderr, r.stderr
    (tmp_path / "d.pt").mkdir()
    r = _run(["train", "--snr", "12", "--out", tmp_path / "d.pt"])
    assert r.returncode == 2 and "is a folder; give a file name" in r.stderr, r.stderr
    assert time.monotonic() - t0 < 60 and not list(tmp_path.glob("*.json"))


# --------------------------------------------------------------------------- repository
def test_license_matches_setup_cfg_and_the_readme_links_stay_inside_the_repository():
    meta = configparser.ConfigParser()
    meta.read(ROOT / "setup.cfg")
    assert meta["metadata"]["license"] == "MIT"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "THE SOFTWARE IS PROVIDED \"AS IS\"" in text
    readme = (ROOT / "README.md").read_text()
    assert "../" not in readme, "the README points outside the repository"
    for target in re.findall(r"\]\(([^)#]+)", readme):  # markdown links: web pages or files of the repository
        assert target.startswith(("http://", "https://")) or (ROOT / target).exists(), target


def test_public_names_import_from_their_packages():
    from hwsim.designs import lemma2, theorem3  # noqa: F401


def test_public_objects_have_a_readable_repr():
    import numpy as np

    from hwsim.channels.mimo import FixedChannel, SymbolChannel, exponential_channel
    from hwsim.channels.pilots import PilotChannel
    from hwsim.converters.adc import UniformADC
    from hwsim.engine.importance import NoiseBias
    from hwsim.engine.montecarlo import StoppingRule
    from hwsim.pipeline import Pipeline
    from hwsim.quantizers import lattice, train_pvq, train_rvq
    from hwsim.receivers.blmmse import BLMMSEEstimator
    from hwsim.receivers.map import MAPDetector, QMAPDetector

    H = exponential_channel(12, 4)
    st = PilotChannel().stats()
    x = np.random.default_rng(0).standard_normal((500, 4))
    objects = [FixedChannel(H), SymbolChannel(H), PilotChannel(), MAPDetector(H, 0.3), QMAPDetector(H, 0.3, UniformADC(8, 2.0)),
               BLMMSEEstimator(st.sigma_s, st.sigma_x, st.sigma_sx), NoiseBias(np.array([1.0, -1.0]), 4, True),
               StoppingRule(), UniformADC(8, 2.0), lattice("E8"), train_rvq(x, 2, 4, np.random.default_rng(1)),
               train_pvq(x, 2, 4, np.random.default_rng(1)), Pipeline.from_tables({})]
    for obj in objects:
        text = repr(obj)
        assert " object at 0x" not in text and text.startswith(type(obj).__name__), text
