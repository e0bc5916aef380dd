"""
Your first sweep
================

Run a shipped sweep (``ber_snr``: MAP and QMAP detection of four BPSK users at twelve antennas) in
quick mode, then read its ``results.csv`` and draw the BER with its confidence intervals. On the
command line this is ``hwsim sweep ber_snr --quick --out runs/quick`` followed by
``hwsim plot runs/quick``.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

from hwsim.engine.results import read_results
from hwsim.engine.sweep import load_config, run_sweep

out = Path(tempfile.mkdtemp()) / "ber_snr"
cfg = load_config("ber_snr", quick=True)
run_sweep(cfg, out, workers=1, quiet=True, plot=False)
rows = read_results(out / "results.csv")
print(f"{len(rows)} points; columns: {', '.join(rows[0])}\n")
print(f"{'curve':28s} {'SNR (dB)':>8s} {'BER':>10s}   {'95% interval':24s} {'bits':>9s}")
for r in rows:
    print(f"{r['curve']:28s} {float(r['snr_db']):8.1f} {float(r['ber']):10.3e}   "
          f"[{float(r['ci_low']):.3e}, {float(r['ci_high']):.3e}] {int(float(r['bits'])):9d}")

# %%
# Every row is one Monte Carlo point: its estimate, the interval, and the trials behind it.
fig, ax = plt.subplots(figsize=(6, 4))
for marker, curve in zip("osd^", dict.fromkeys(r["curve"] for r in rows)):
    pts = [r for r in rows if r["curve"] == curve]
    x = [float(r["snr_db"]) for r in pts]
    y = [float(r["ber"]) for r in pts]
    err = [[v - float(r["ci_low"]) for v, r in zip(y, pts)], [float(r["ci_high"]) - v for v, r in zip(y, pts)]]
    ax.errorbar(x, y, yerr=err, marker=marker, capsize=3, label=curve)
ax.set_yscale("log")
ax.set_xlabel("SNR (dB)")
ax.set_ylabel("BER (95% intervals)")
ax.legend()
ax.grid(True, which="both", alpha=0.3)
