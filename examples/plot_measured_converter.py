"""
Bringing a measured converter back
==================================

A converter measured on the bench is a table too: its transition levels (thresholds) and output
levels. Here a "measured" 3-bit converter with uneven transitions is written as CSV, imported
(validated like any table), run behind an external program that speaks hwsim's converter protocol
over pipes (the reference emulator, with comparator noise), and used in a link.
"""

import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from hwsim.converters.adc import ThresholdADC, UniformADC
from hwsim.converters.backends import ExternalBackend
from hwsim.converters.tables import export_table, import_table
from hwsim.engine.montecarlo import StoppingRule, estimate
from hwsim.pipeline import Pipeline

rng = np.random.default_rng(3)
ideal = UniformADC(8, 2.0)
measured_t = ideal.thresholds + rng.normal(0, 0.04, ideal.thresholds.size)  # bench: transition levels
folder = Path(tempfile.mkdtemp())
export_table(ThresholdADC(np.sort(measured_t), ideal.levels), folder / "measured.csv", units="V")
table, meta = import_table(folder / "measured.csv")
print("imported:", table.n_levels, "levels, full scale", meta.get("full_scale"))

# %%
# The reference emulator stands in for the converter: it loads the table and adds comparator noise
# of 0.2 LSB; hwsim streams samples to it and reads the codes back.
command = [sys.executable, "-P", "-m", "hwsim.converters.emulator", "--table", str(folder / "measured.csv"),
           "--noise-lsb", "0.2", "--seed", "1"]
x = np.linspace(-2.2, 2.2, 4001)[:, None]
with ExternalBackend(command, n_converters=1, n_levels=table.n_levels) as converter:
    codes = converter.convert(x)[:, 0]
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(x[:, 0], table.levels[codes], ".", markersize=2, label="external converter (0.2 LSB noise)")
ax.plot(x[:, 0], table.quantize(x[:, 0]), "-", label="imported table")
ax.plot(x[:, 0], ideal.quantize(x[:, 0]), "--", label="ideal 3-bit")
ax.set_xlabel("input (V)")
ax.set_ylabel("output level (V)")
ax.legend()
ax.grid(True, alpha=0.3)

# %%
# The measured table in a link: QMAP detection of four BPSK users at twelve antennas, against the
# ideal converter at the same full scale.
for name, adc in (("ideal", {"type": "uniform_range", "levels": 8, "gamma": 2.0}),
                  ("measured", {"type": "table", "path": str(folder / "measured.csv"), "agc": "fixed"})):
    link = Pipeline.from_tables({"source": {"type": "users", "users": 4, "constellation": "bpsk"},
                                 "channel": {"type": "exponential", "antennas": 12, "frame_len": 100},
                                 "adc": adc, "receiver": {"type": "qmap"}})
    e = estimate(link.link(10.0), np.random.default_rng(0), StoppingRule(max_samples=2_000_000, batch=50_000))
    print(f"{name:8s} BER at 10 dB: {e.estimate:.2e} [{e.ci_low:.2e}, {e.ci_high:.2e}]")
