import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hwsim
from hwsim.engine.results import crossing, read_results

ROOT = Path(__file__).resolve().parents[1]
HWSIM = [sys.executable, "-m", "hwsim.cli"]


def _run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=kw.pop("cwd", ROOT), **kw)


def test_version_and_help():
    r = _run(HWSIM + ["--version"])
    assert r.returncode == 0 and r.stdout.strip() == f"hwsim {hwsim.__version__}"
    r = _run(HWSIM + ["--help"])
    assert r.returncode == 0 and "sweep" in r.stdout and "plot" in r.stdout


def test_import_is_light():
    code = "import sys, hwsim, hwsim.cli; print(any(m in sys.modules for m in ('torch', 'sionna', 'numba')))"
    assert _run([sys.executable, "-c", code]).stdout.strip() == "False"


def test_quick_ber_sweep_writes_results_and_plots_with_the_papers_orderings(tmp_path):
    r = _run(HWSIM + ["sweep", "ber_snr", "--quick", "--quiet", "--out", str(tmp_path)])
    assert r.returncode == 0, r.stderr
    assert f"results: {tmp_path / 'results.csv'}" in r.stdout and "about 10 dB" in r.stdout
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "plot.pdf").read_bytes()[:4] == b"%PDF"
    rows = read_results(tmp_path / "results.csv")
    assert set(rows[0]) >= {"curve", "receiver", "adc", "adc.rate", "channel.csi_error", "snr_db", "ber", "ci_low",
                            "ci_high", "errors", "bits"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left
    ber = {(r["curve"], float(r["snr_db"])): float(r["ber"]) for r in rows}
    for row in rows:
        assert float(row["ci_low"]) <= float(row["ber"]) <= float(row["ci_high"])
    # seed 001 Sec. 4.2: MAP reaches 1e-3 near 10 dB; QMAP R=1 stays above 1e-2; QMAP R=2 needs > 13 dB
    assert 9.0 < crossing(rows, "MAP", "snr_db", "ber", 1e-3) < 11.0
    assert min(v for (c, _), v in ber.items() if c == "QMAP R=1") > 1e-2
    s2 = crossing(rows, "QMAP R=2", "snr_db", "ber", 1e-3)
    assert s2 is None or s2 > 13.0
    for snr in (6.0, 10.0, 14.0):
        assert ber["MAP", snr] < ber["QMAP R=2", snr] < ber["QMAP R=1", snr]
        assert ber["MAP", snr] < ber["MAP (CSI uncertainty)", snr]


def test_cli_errors_are_one_clear_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('study = "link"\nseed = 1\n[source]\nusers = 4\nconstellation = "bpsk"\n'
                   '[channel]\ntype = "exponential"\n[grid]\nsnr_db = [1]\n[[curves]]\nname = "a"\nreceiver = "map"\n'
                   "[stopping]\nmax_sample = 3\n")
    r = _run(HWSIM + ["sweep", str(bad), "--out", str(tmp_path / "o")])
    assert r.returncode == 2 and "unknown key 'max_sample' in [stopping]; valid keys:" in r.stderr
    r = _run(HWSIM + ["sweep", "no_such_sweep"])
    assert r.returncode == 2 and "ber_snr" in r.stderr
    r = _run(HWSIM + ["sweep", "--list"])
    assert r.returncode == 0 and "ber_snr" in r.stdout.split()


def test_benchmark_script_smoke():
    r = _run([sys.executable, "scripts/bench_detection.py", "--samples", "20000", "--baseline-samples", "2000",
              "--repeats", "1"])
    assert r.returncode == 0, r.stderr
    assert "ratio QMAP / baseline" in r.stdout and "decisions equal to baseline 1.000000" in r.stdout


def test_link_benchmark_smoke():
    r = _run([sys.executable, "scripts/bench_link.py", "--quick"])
    assert r.returncode == 0, r.stderr
    assert "parallel efficiency" in r.stdout and "ratio link(2) / Sionna" in r.stdout


def test_wheel_maps_every_folder_under_the_hwsim_root(tmp_path):
    r = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)])
    assert r.returncode == 0, r.stderr
    import zipfile

    names = zipfile.ZipFile(next(tmp_path.glob("hwsim-*.whl"))).namelist()
    for mod in ("hwsim/converters/adc.py", "hwsim/engine/sweep.py", "hwsim/cli/main.py", "hwsim/channels/mimo.py",
                "hwsim/receivers/map.py", "hwsim/designs/__init__.py", "hwsim/receivers/learned.py",
                "hwsim/study.py", "hwsim/configs/ber_snr.toml", "hwsim/configs/massive_mimo.toml"):
        assert mod in names
    assert not any(n.startswith(("channels/", "receivers/", "designs/", "tests/")) for n in names)
    assert {"hwsim/quantizers/base.py", "hwsim/cli/train.py", "hwsim/checkpoint.py", "hwsim/tally.py"} <= set(names)
    # a fresh virtual environment from the wheel alone: the command is installed and starts (its --version
    # needs nothing beyond the standard library; the dependencies are the set-up script's business)
    env_dir = tmp_path / "fresh"
    r = _run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)])
    assert r.returncode == 0, r.stderr
    wheel = next(tmp_path.glob("hwsim-*.whl"))
    r = _run([sys.executable, "-m", "pip", "--python", str(env_dir / "bin" / "python"), "install", "--no-deps", "-q",
              "--no-index", str(wheel)])
    assert r.returncode == 0, r.stderr
    r = _run([str(env_dir / "bin" / "hwsim"), "--version"])
    assert r.returncode == 0 and r.stdout.startswith("hwsim "), (r.stdout, r.stderr)
