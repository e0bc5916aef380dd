#!/usr/bin/env python
"""Start-up wall time of the hwsim commands that need neither torch nor Sionna (issue 30 item 3).

Commands (:data:`COMMANDS`): ``hwsim --help``, ``hwsim sweep --list``, re-showing a finished quick
``ber_snr`` sweep (``hwsim sweep ber_snr --quick --out DIR`` on the folder that holds it: nothing to
compute), ``hwsim adc import``, ``inspect`` and ``export`` of a table file, and a small sweep of a link
without learned or Sionna components (LMMSE and BLMMSE behind uniform I/Q converters, 2 points a curve,
``--force --workers 2``: two spawned worker processes compute its points, then the plots are drawn).

Each command runs in a fresh interpreter through the CLI's ``main`` (as the ``hwsim`` console script does),
``--runs`` times, and the median wall time is reported. Baseline, measured in the same run and alternating
with the current tree run by run (the machine may be shared): the same command with ``import torch,
sionna.phy`` forced first -- in the sweep's worker processes too, through a ``--plugin`` module that
imports them -- which is what each command cost while hwsim loaded torch and Sionna at start or in every
sweep point. Target (2-core machine): under 1.5 s for each command but the sweep, which computes (for it
the point is that neither it nor its workers load torch or Sionna).
The last line is ``start-up: slowest N.NN s (target < 1.5 s); N.Nx faster than with torch and Sionna
loaded (geometric mean)``, over the commands with the target.

    python scripts/bench_startup.py [--runs N]    # --quick: one run each
"""

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: ``python -c`` code that runs ``hwsim ARGS`` (``sys.argv[1:]``) through the CLI's main; ``{pre}`` is
#: the baseline's forced import (empty for the current tree).
WRAPPER = "import sys\n{pre}from hwsim.cli import main\nsys.argv = ['hwsim'] + sys.argv[1:]\nsys.exit(main())\n"
HEAVY = "import torch, sionna.phy\n"
#: The baseline's plugin module: imported by the sweep and by each of its workers before a point.
PLUGIN = "_bench_startup_heavy"

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


def commands(work: Path) -> dict[str, list[str]]:
    """Label -> ``hwsim`` arguments, with the files they need in ``work``."""
    return {
        "hwsim --help": ["--help"],
        "hwsim sweep --list": ["sweep", "--list"],
        "hwsim sweep ber_snr --quick (finished)": ["sweep", "ber_snr", "--quick", "--out", str(work / "ber")],
        "hwsim adc import TABLE.json": ["adc", "import", str(work / "adc.json")],
        "hwsim adc inspect TABLE.json": ["adc", "inspect", str(work / "adc.json"), "--png", str(work / "adc.png")],
        "hwsim adc export TABLE.json --out .h": ["adc", "export", str(work / "adc.json"), "--out", str(work / "adc.h")],
        "hwsim sweep linear (LMMSE/BLMMSE, 2 workers)": ["sweep", str(work / "linear.toml"), "--out",
                                                         str(work / "linear"), "--force", "--workers", "2", "--quiet"],
    }


#: The command that computes (a fresh sweep): no start-up target.
COMPUTES = "hwsim sweep linear (LMMSE/BLMMSE, 2 workers)"


def prepare(work: Path) -> None:
    """The table file, the linear sweep's config, the baseline's plugin and a finished quick ber_snr sweep."""
    import numpy as np

    from hwsim.converters.adc import ThresholdADC
    from hwsim.converters.tables import export_table

    export_table(ThresholdADC(np.array([-1.0, 0.0, 1.0]), np.array([-1.5, -0.5, 0.5, 1.5])), work / "adc.json")
    (work / "linear.toml").write_text(LINEAR_SWEEP)
    (work / f"{PLUGIN}.py").write_text(HEAVY)
    r = subprocess.run([sys.executable, "-m", "hwsim.cli", "sweep", "ber_snr", "--quick", "--quiet", "--out",
                        str(work / "ber")], capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        raise RuntimeError(f"the quick ber_snr sweep failed:\n{r.stderr}")


def wall(args: list[str], baseline: bool, work: Path) -> float:
    """Seconds of one run of ``hwsim ARGS`` in a fresh interpreter (the baseline with torch and Sionna)."""
    env = dict(os.environ)
    if baseline:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(work), env.get("PYTHONPATH", "")) if p)
        if args[0] == "sweep" and "--force" in args:  # the workers import them too
            args = args + ["--plugin", PLUGIN]
    code = WRAPPER.format(pre=HEAVY if baseline else "")
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, env=env)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"hwsim {' '.join(args)} failed ({'baseline' if baseline else 'current'}):\n{r.stderr}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="runs of each command and of its baseline (median)")
    ap.add_argument("--quick", action="store_true", help="one run each (a smoke run)")
    args = ap.parse_args()
    if args.quick:
        args.runs = 1

    with tempfile.TemporaryDirectory(prefix="bench_startup-") as tmp:
        work = Path(tmp)
        prepare(work)
        cmds = commands(work)
        for argv in cmds.values():  # warm the file cache and numba's on-disk cache once before timing
            wall(argv, False, work)
        times: dict = {(label, b): [] for label in cmds for b in (False, True)}
        for _ in range(args.runs):
            for label, argv in cmds.items():
                for b in (False, True):
                    times[label, b].append(wall(argv, b, work))

    med = {key: statistics.median(v) for key, v in times.items()}
    print(f"cores: {os.cpu_count()}; median of {args.runs} run(s), a fresh interpreter each; baseline: the same "
          "command with torch and sionna.phy imported first (in the sweep's workers too)")
    for label in cmds:
        now, base = med[label, False], med[label, True]
        note = "(computes 4 points and plots)" if label == COMPUTES else "target < 1.5 s"
        print(f"{label:46s} {now:6.2f} s   baseline {base:6.2f} s   {base / now:5.1f}x   {note}")
    starts = [label for label in cmds if label != COMPUTES]
    slowest = max(med[label, False] for label in starts)
    gmean = math.exp(statistics.fmean(math.log(med[label, True] / med[label, False]) for label in starts))
    print(f"start-up: slowest {slowest:.2f} s (target < 1.5 s); {gmean:.1f}x faster than with torch and Sionna "
          "loaded (geometric mean)")


if __name__ == "__main__":
    main()
