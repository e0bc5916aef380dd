"""Start-up (issue 30 item 3): the CLI commands that need no learned or Sionna component import neither
torch nor Sionna (nor tensorflow). Each command runs in a fresh interpreter, through the CLI's own
``main``, and the interpreter then says which of those modules it holds; a sweep's worker processes are
checked with ``-X importtime`` (which they inherit). No timing here: scripts/bench_startup.py measures."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "sionna", "tensorflow")

#: Runs ``hwsim ARGS...`` (argv[1] is a JSON list) through the CLI's main in this interpreter, then prints
#: one JSON line: the exit status and which of the heavy modules it imported.
WRAPPER = ("import json, sys\n"
           "args = json.loads(sys.argv[1]); sys.argv = ['hwsim'] + args\n"
           "from hwsim.cli import main\n"
           "try:\n    rc = main()\nexcept SystemExit as e:\n    rc = e.code\n"
           f"print(json.dumps({{'rc': rc, 'loaded': [m for m in {HEAVY!r} if m in sys.modules]}}))\n")

#: A link without learned or Sionna components: LMMSE and BLMMSE behind uniform I/Q converters.
LINEAR_SWEEP = """\
study = "link"
seed = 7
[source]
type = "users"
users = 2
constellation = "qpsk"
[channel]
type = "rayleigh"
antennas = 4
frame_len = 10
[adc]
type = "uniform"
bits = 2
[receiver]
type = "blmmse"
[metric]
type = "ber"
[grid]
snr_db = [0.0, 5.0]
[[curves]]
name = "LMMSE, unquantized"
receiver = "lmmse"
adc = "none"
[[curves]]
name = "BLMMSE, 2-bit"
[stopping]
target_errors = 20
min_samples = 200
max_samples = 2000
batch = 100
"""


def _hwsim(args, *, xoptions=()):
    """Run ``hwsim ARGS`` in a fresh interpreter; return (its verdict, its stderr)."""
    r = subprocess.run([sys.executable, *xoptions, "-c", WRAPPER, json.dumps([str(a) for a in args])],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    lines = r.stdout.strip().splitlines()
    assert r.returncode == 0 and lines, f"hwsim {' '.join(map(str, args))} failed:\n{r.stdout}\n{r.stderr}"
    verdict = json.loads(lines[-1])
    assert verdict["rc"] in (0, None), f"hwsim {' '.join(map(str, args))} exited {verdict['rc']}:\n{r.stderr}"
    return verdict, r.stderr


def _assert_light(args):
    verdict, _ = _hwsim(args)
    assert verdict["loaded"] == [], f"hwsim {' '.join(map(str, args))} imported {verdict['loaded']}"


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    from hwsim.converters.adc import ThresholdADC
    from hwsim.converters.tables import export_table

    path = tmp_path_factory.mktemp("table") / "adc.json"
    export_table(ThresholdADC(np.array([-1.0, 0.0, 1.0]), np.array([-1.5, -0.5, 0.5, 1.5])), path)
    return path


def test_help_and_list_load_no_torch_or_sionna():
    _assert_light(["--help"])
    _assert_light(["sweep", "--list"])


@pytest.mark.parametrize("command", ["import", "inspect", "export"])
def test_adc_commands_on_a_table_file_load_no_torch_or_sionna(command, table, tmp_path):
    args = {"import": ["adc", "import", table],
            "inspect": ["adc", "inspect", table, "--png", tmp_path / "adc.png"],
            "export": ["adc", "export", table, "--out", tmp_path / "adc.h"]}[command]
    _assert_light(args)
    assert command != "inspect" or (tmp_path / "adc.png").read_bytes()[:4] == b"\x89PNG"
    assert command != "export" or "threshold" in (tmp_path / "adc.h").read_text().lower()


def test_a_linear_sweep_in_process_and_shown_again_loads_no_torch_or_sionna(tmp_path):
    config = tmp_path / "linear.toml"
    config.write_text(LINEAR_SWEEP)
    out = tmp_path / "run"
    _assert_light(["sweep", config, "--out", out, "--workers", "1", "--quiet"])  # points run in this process
    assert (out / "results.csv").is_file()
    _assert_light(["sweep", config, "--out", out])  # finished: shown again, nothing computed
    _assert_light(["sweep", "ber_snr", "--quick", "--quiet", "--workers", "1", "--out", tmp_path / "ber"])


def test_a_linear_sweeps_worker_processes_load_no_torch_or_sionna(tmp_path):
    config = tmp_path / "linear.toml"
    config.write_text(LINEAR_SWEEP)
    verdict, err = _hwsim(["sweep", config, "--out", tmp_path / "run", "--workers", "2", "--quiet"],
                          xoptions=("-X", "importtime"))
    assert verdict["loaded"] == []
    imported = {line.rsplit("|", 1)[1].strip() for line in err.splitlines() if line.startswith("import time:")}
    assert "hwsim.engine.executors" in imported  # the workers' imports are in the log too
    assert not imported & set(HEAVY), f"a worker imported {sorted(imported & set(HEAVY))}"


def test_single_threaded_sets_torch_to_one_thread_when_torch_is_imported_inside_it():
    code = ("import sys\n"
            "from hwsim._threads import single_threaded\n"
            "with single_threaded():\n"
            "    assert 'torch' not in sys.modules\n"
            "    with single_threaded():\n"
            "        import torch\n"
            "        assert torch.get_num_threads() == 1\n"
            "    assert torch.get_num_threads() == 1\n"
            "after = torch.get_num_threads()\n"
            "with single_threaded():\n"
            "    assert torch.get_num_threads() == 1\n"
            "assert torch.get_num_threads() == after\n"
            "torch.set_num_threads(1)\n"
            "with single_threaded():\n"
            "    pass\n"
            "assert torch.get_num_threads() == 1\n"
            "print(after)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    fresh = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                           capture_output=True, text=True, timeout=300)
    assert r.stdout.strip() == fresh.stdout.strip()  # torch's own count back after the outermost block


def test_the_packages_a_start_imports_load_no_heavy_library():
    """What every command imports (the engine, the component packages, the table tools) loads neither torch,
    Sionna nor tensorflow, nor the scipy subpackages and plotting that only some computations need."""
    code = ("import sys\n"
            "import hwsim.engine.sweep, hwsim.receivers, hwsim.designs, hwsim.converters, hwsim.channels\n"
            "import hwsim.metrics, hwsim.cli.adc, hwsim.converters.tables\n"
            "heavy = ('torch', 'sionna', 'tensorflow', 'matplotlib', 'scipy.stats', 'scipy.optimize', 'scipy.linalg')\n"
            "print(sorted(m for m in sys.modules if m in heavy or m.startswith(tuple(h + '.' for h in heavy))))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", f"imported at start: {r.stdout.strip()}"
