"""A sweep's input files are part of its identity and reach every worker by content; a curve's own
parameter wins over a grid axis (issue 29, items 1 and 2)."""

import csv
import os
from pathlib import Path

import numpy as np
import pytest

from hwsim.converters.adc import ThresholdADC
from hwsim.converters.tables import export_table
from hwsim.engine.sweep import SweepError, load_config, parse_config, run_sweep

from test_sweep import _toml


def _table(path: Path, step: float) -> None:
    """A 2-bit converter: thresholds -step, 0, step, levels at the cells' centres."""
    export_table(ThresholdADC([-step, 0.0, step], [-1.5 * step, -0.5 * step, 0.5 * step, 1.5 * step]), path)


def _config(table: str = "t.json") -> dict:
    return {
        "study": "link", "seed": 3,
        "source": {"type": "users", "users": 2, "constellation": "qpsk"},
        "channel": {"type": "rayleigh", "antennas": 4, "frame_len": 50},
        "adc": {"type": "table", "path": table},
        "receiver": {"type": "lmmse"},
        "grid": {"snr_db": [0.0, 6.0]},
        "curves": [{"name": "table"}],
        "stopping": {"target_errors": 10**9, "min_samples": 0, "max_samples": 20_000, "batch": 4_000},
    }


def _estimates(out) -> list[str]:
    with open(Path(out) / "results.csv") as f:
        return [r["ber"] for r in csv.DictReader(f)]


def _write_config(folder: Path, cfg: dict) -> Path:
    path = folder / "sweep.toml"
    path.write_text(_toml(cfg))
    return path


def _two_folders(tmp_path, first: str, second: str) -> tuple[Path, Path]:
    """Two folders, each with its own t.json: a 2-bit table of step 0.5 in the first, 2.5 (another BER) in
    the second."""
    a, b = tmp_path / first, tmp_path / second
    for folder, step in ((a, 0.5), (b, 2.5)):
        folder.mkdir()
        _table(folder / "t.json", step)
    return a, b


def test_a_changed_table_file_is_refused_on_resume_naming_it(tmp_path):
    _table(tmp_path / "t.json", 0.5)
    config = _write_config(tmp_path, _config())
    out = tmp_path / "run"
    run_sweep(load_config(config), out, workers=1, quiet=True, plot=False)
    _table(tmp_path / "t.json", 0.9)  # another converter under the same name
    with pytest.raises(SweepError, match=r"contents of adc\.path = t\.json changed"):
        run_sweep(load_config(config), out, workers=1, quiet=True, plot=False, resume=True)


def test_the_manifest_records_each_input_with_its_hash(tmp_path):
    import hashlib
    import json

    _table(tmp_path / "t.json", 0.5)
    out = tmp_path / "run"
    run_sweep(load_config(_write_config(tmp_path, _config())), out, workers=1, quiet=True, plot=False)
    (entry,) = json.loads((out / "manifest.json").read_text())["inputs"]
    assert entry["key"] == "adc.path" and entry["written"] == "t.json"
    assert entry["path"] == str((tmp_path / "t.json").resolve())
    digest = hashlib.sha256(b":" + str(len((tmp_path / "t.json").read_bytes())).encode() + b":"
                            + (tmp_path / "t.json").read_bytes()).hexdigest()
    assert entry["sha256"] == digest


def test_a_config_without_files_keeps_its_hash():
    """Only configs that read files gain the files entry: every other sweep folder resumes as before."""
    cfg = parse_config(dict(_config(), adc={"type": "uniform", "bits": 2}))
    assert "files" not in cfg.numbers() and not cfg.files


@pytest.mark.parametrize("workers", [1, 2])
def test_relative_paths_are_read_from_the_config_folder_whatever_the_workers_folder(tmp_path, monkeypatch,
                                                                                    workers):
    """Workers compute with the file the sweep hashed, even where their working folder holds another file
    of the same name (a real pool of spawned processes for workers=2)."""
    here, elsewhere = _two_folders(tmp_path, "study", "elsewhere")
    config = _write_config(here, _config())
    monkeypatch.chdir(here)
    run_sweep(load_config(config), tmp_path / "ref", workers=1, quiet=True, plot=False)
    monkeypatch.chdir(elsewhere)
    cfg = load_config(config)
    assert cfg.files[("adc.path", "t.json")].path == str((here / "t.json").resolve())
    run_sweep(cfg, tmp_path / "run", workers=workers, quiet=True, plot=False)
    assert _estimates(tmp_path / "run") == _estimates(tmp_path / "ref")
    # and the other file does give another converter: the check above can fail
    monkeypatch.chdir(tmp_path)
    other = load_config(_write_config(elsewhere, _config()))
    run_sweep(other, tmp_path / "other", workers=1, quiet=True, plot=False)
    assert _estimates(tmp_path / "other") != _estimates(tmp_path / "ref")


def test_a_file_replaced_after_the_config_loaded_changes_nothing(tmp_path):
    _table(tmp_path / "t.json", 0.5)
    config = _write_config(tmp_path, _config())
    run_sweep(load_config(config), tmp_path / "ref", workers=1, quiet=True, plot=False)
    cfg = load_config(config)
    _table(tmp_path / "t.json", 2.5)
    run_sweep(cfg, tmp_path / "run", workers=1, quiet=True, plot=False)
    assert _estimates(tmp_path / "run") == _estimates(tmp_path / "ref")


def test_a_missing_file_names_the_key_and_the_folder_it_was_looked_for_in(tmp_path):
    config = _write_config(tmp_path, _config("tables/none.json"))
    with pytest.raises(ValueError, match=r"adc\.path = 'tables/none\.json': no such file .*relative to "):
        load_config(config)


def test_a_file_named_by_a_curve_or_a_grid_axis_is_hashed_too(tmp_path):
    _table(tmp_path / "a.json", 0.5)
    _table(tmp_path / "b.json", 0.8)
    cfg = dict(_config("a.json"), grid={"snr_db": [3.0], "adc.path": ["a.json", "b.json"]})
    parsed = parse_config(cfg, base=tmp_path)
    assert sorted(written for _, written in parsed.files) == ["a.json", "b.json"]
    before = parsed.hash
    _table(tmp_path / "b.json", 0.9)
    assert parse_config(cfg, base=tmp_path).hash != before


# --------------------------------------------------------------------------- item 2: the curve's own value wins
def _rate_config(curve_rate=None) -> dict:
    curve = {"name": "QMAP", "receiver": "qmap", "adc": "uniform_range"}
    if curve_rate is not None:
        curve["adc.rate"] = curve_rate
    return {
        "study": "link", "seed": 5,
        "source": {"type": "users", "users": 2, "constellation": "bpsk"},
        "channel": {"type": "exponential", "antennas": 6, "frame_len": 50},
        "receiver": {"type": "map"},
        "grid": {"snr_db": [4.0], "rate": [1.0]},
        "curves": [curve],
        "stopping": {"target_errors": 10**9, "min_samples": 0, "max_samples": 20_000, "batch": 5_000},
    }


def test_a_curves_own_rate_wins_over_the_rate_axis(tmp_path):
    from hwsim import study as link

    cfg = parse_config(_rate_config(curve_rate=2.0))
    (point,) = cfg.points()
    assert link.pipeline(cfg.system, point.params).adc.params["rate"] == 2.0
    # the run uses it: the result differs from the same curve at rate 1 on the same draws
    run_sweep(cfg, tmp_path / "own", workers=1, quiet=True, plot=False)
    at1 = parse_config(_rate_config(curve_rate=1.0))
    run_sweep(at1, tmp_path / "at1", workers=1, quiet=True, plot=False)
    with open(tmp_path / "own" / "results.csv") as f:
        (row,) = csv.DictReader(f)
    assert float(row["adc.rate"]) == pytest.approx(2.0)
    assert _estimates(tmp_path / "own") != _estimates(tmp_path / "at1")


def test_a_curve_without_a_rate_stage_draws_the_same_numbers_at_every_rate():
    """An unquantized reference over a rate axis is flat by construction (the same stream), not a trend of
    different draws."""
    cfg = parse_config(dict(_rate_config(), grid={"snr_db": [4.0], "rate": [1.0, 2.0, 3.0]},
                            curves=[{"name": "MAP", "receiver": "map"},
                                    {"name": "QMAP", "receiver": "qmap", "adc": "uniform_range"}]))
    seeds = {}
    for p in cfg.points():
        seeds.setdefault(p.curve, set()).add(tuple(cfg.point_seed(p).generate_state(4)))
    assert len(seeds["MAP"]) == 1      # one stream for all rates
    assert len(seeds["QMAP"]) == 3     # the quantized curve: a stream per rate, as before


def test_an_unused_rate_leaves_the_other_streams_as_they_were():
    """Only points that ignore the rate get a new stream; a curve that uses it keeps its numbers."""
    from hwsim.engine.stats import point_seed

    cfg = parse_config(dict(_rate_config(), grid={"snr_db": [4.0], "rate": [1.0, 2.0]}))
    for p in cfg.points():
        expected = point_seed(cfg.seed, curve=p.curve, **p.params)
        assert np.array_equal(cfg.point_seed(p).generate_state(4), expected.generate_state(4))


# --------------------------------------------------------------------------- item 11: a grid axis over files
def test_a_grid_axis_over_file_paths_draws_one_plot_per_file(tmp_path):
    (tmp_path / "tables").mkdir()
    _table(tmp_path / "tables" / "t1.json", 0.5)
    _table(tmp_path / "tables" / "t3.json", 0.9)
    cfg = dict(_config("tables/t1.json"), grid={"snr_db": [0.0, 6.0], "adc.path": ["tables/t1.json",
                                                                                    "tables/t3.json"]})
    config = _write_config(tmp_path, cfg)
    out = tmp_path / "run"
    run_sweep(load_config(config), out, workers=1, quiet=True)
    plots = sorted(p.name for p in out.glob("plot*.png"))
    assert len(plots) == 2 and all("/" not in p for p in plots), plots
    assert plots[0] != plots[1] and all(p.startswith("plot_adc.path=tables_t") for p in plots), plots
    # a finished sweep shown again finds its plots and draws nothing new
    run_sweep(load_config(config), out, workers=1, quiet=True, resume=True)
    assert sorted(p.name for p in out.glob("plot*.png")) == plots


def test_a_dask_worker_in_a_folder_holding_another_file_of_that_name_computes_with_the_sweeps(tmp_path,
                                                                                             monkeypatch):
    """The attack: a real Dask worker process whose working folder holds another t.json."""
    import subprocess
    import sys

    distributed = pytest.importorskip("distributed")
    here, elsewhere = _two_folders(tmp_path, "study", "elsewhere")
    monkeypatch.chdir(here)
    cfg = load_config(_write_config(here, _config()))
    run_sweep(cfg, tmp_path / "ref", workers=1, quiet=True, plot=False)
    with distributed.LocalCluster(n_workers=0, processes=True, host="127.0.0.1", dashboard_address=None) as cluster:
        worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", cluster.scheduler_address,
                                   "--nthreads", "1", "--no-dashboard", "--no-nanny"], cwd=elsewhere,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
                client.wait_for_workers(1, timeout=120)
                assert client.run(os.getcwd) == {next(iter(client.scheduler_info()["workers"])): str(elsewhere)}
            run_sweep(cfg, tmp_path / "dask", scheduler=cluster.scheduler_address, quiet=True, plot=False)
        finally:
            worker.terminate()
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
    assert _estimates(tmp_path / "dask") == _estimates(tmp_path / "ref")


def test_a_path_given_with_set_is_read_from_the_working_folder(tmp_path, monkeypatch):
    """Paths in a config file are the config's; a path typed on the command line is the user's, as is any
    path given to a shipped config (hwsim sweep hil --set 'receiver.model="rx.pt"')."""
    here, study = _two_folders(tmp_path, "work", "study")
    monkeypatch.chdir(here)
    cfg = load_config(_write_config(study, _config()), overrides=['adc.path="t.json"'])
    assert cfg.files[("adc.path", "t.json")].path == str((here / "t.json").resolve())
    cfg = load_config(_write_config(study, _config()))
    assert cfg.files[("adc.path", "t.json")].path == str((study / "t.json").resolve())
    cfg = load_config("ber_snr", quick=True, overrides=['adc.type="table"', 'adc.path="t.json"', 'adc.agc="fixed"',
                                                         'receiver.type="qmap"'])
    assert {f.path for f in cfg.files.values()} == {str((here / "t.json").resolve())}


def test_a_file_given_through_a_link_keeps_the_name_it_was_given(tmp_path):
    """The format of a table follows its name: a link t.json to a file of another name still reads as JSON."""
    _table(tmp_path / "made.json", 0.5)
    (tmp_path / "made.json").rename(tmp_path / "stored.bin")
    (tmp_path / "t.json").symlink_to(tmp_path / "stored.bin")
    run_sweep(load_config(_write_config(tmp_path, _config())), tmp_path / "run", workers=1, quiet=True, plot=False)
    assert len(_estimates(tmp_path / "run")) == 2
