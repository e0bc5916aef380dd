"""
Writing your own config
=======================

A sweep file is TOML: one table per component of the link, a grid, curves that override any
parameter, and a stopping rule. This one compares Bussgang LMMSE detection behind 1-, 2- and 3-bit
I/Q converters with unquantized LMMSE on a 16-antenna, 4-user QPSK uplink over Rayleigh fading.
Save the text as ``my_sweep.toml`` and run ``hwsim sweep my_sweep.toml --out runs/mine``.
"""

import tempfile
import tomllib
from pathlib import Path

import matplotlib.pyplot as plt

from hwsim.engine.results import read_results
from hwsim.engine.sweep import parse_config, run_sweep

TEXT = """
study = "link"
seed = 7
title = "16 x 4 QPSK, Rayleigh"

[source]
type = "users"
users = 4
constellation = "qpsk"

[channel]
type = "rayleigh"
antennas = 16
frame_len = 100

[adc]
type = "uniform"
bits = 1

[receiver]
type = "blmmse"

[grid]
snr_db = [-5.0, 0.0, 5.0, 10.0]

[[curves]]
name = "unquantized LMMSE"
adc = "none"
receiver = "lmmse"

[[curves]]
name = "1-bit"

[[curves]]
name = "2-bit"
"adc.bits" = 2

[[curves]]
name = "3-bit"
"adc.bits" = 3

[stopping]
target_errors = 200
max_samples = 400_000
batch = 20_000
"""

cfg = parse_config(tomllib.loads(TEXT))
out = Path(tempfile.mkdtemp()) / "mine"
run_sweep(cfg, out, workers=1, quiet=True, plot=False)
rows = read_results(out / "results.csv")
print(f"{'curve':18s} {'SNR (dB)':>8s} {'BER':>10s}   {'95% interval':24s} {'bits':>8s}")
for r in rows:
    print(f"{r['curve']:18s} {float(r['snr_db']):8.1f} {float(r['ber']):10.3e}   "
          f"[{float(r['ci_low']):.3e}, {float(r['ci_high']):.3e}] {int(float(r['bits'])):8d}")

# %%
# The curves with their intervals (a point with no error seen is drawn at the top of its interval, an
# upper bound, with a downward marker).
fig, ax = plt.subplots(figsize=(6, 4))
for (marker, style), curve in zip([("o", "-"), ("s", "--"), ("d", "-."), ("^", ":")], [c["name"] for c in cfg.curves]):
    pts = [r for r in rows if r["curve"] == curve]
    seen = [r for r in pts if float(r["ber"]) > 0]
    y = [float(r["ber"]) for r in seen]
    err = [[v - float(r["ci_low"]) for v, r in zip(y, seen)], [float(r["ci_high"]) - v for v, r in zip(y, seen)]]
    line = ax.errorbar([float(r["snr_db"]) for r in seen], y, yerr=err, marker=marker, linestyle=style, capsize=3,
                       label=curve)
    bounds = [r for r in pts if float(r["ber"]) == 0]
    if bounds:
        ax.plot([float(r["snr_db"]) for r in bounds], [float(r["ci_high"]) for r in bounds], "v",
                color=line[0].get_color())
ax.set_yscale("log")
ax.set_xlabel("SNR (dB), per receive antenna")
ax.set_ylabel("BER (95% intervals)")
ax.set_title("16 x 4 QPSK, Rayleigh")
ax.legend()
ax.grid(True, which="both", alpha=0.3)
