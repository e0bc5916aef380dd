"""
Training a learned converter and exporting its table
====================================================

The soft-to-hard converter of Shlezinger and Eldar ("Deep task-based quantization") is a sum of
shifted hyperbolic tangents whose sharpness grows during training. Here four levels are trained for
the least squared error on a unit Gaussian, then the hard table is exported to JSON and a C header,
read back, and compared with the Lloyd-Max table.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from hwsim.converters.learned_adc import LearnedADC
from hwsim.converters.tables import export_table, import_table
from hwsim.designs import lloyd_max

torch.manual_seed(0)
adc = LearnedADC(4, "soft_to_hard", gamma=2.0)
opt = torch.optim.Adam(adc.parameters(), lr=0.02)
for step in range(400):
    adc.set_sharpness(2.0 + 0.1 * step)  # anneal toward the hard staircase
    x = torch.randn(4096)
    loss = ((adc(x) - x) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
table = adc.to_table()
print("learned thresholds", np.round(table.thresholds, 3), "levels", np.round(table.levels, 3))

folder = Path(tempfile.mkdtemp())
export_table(table, folder / "adc.json", provenance={"trained": "MSE on N(0, 1), 400 steps"})
export_table(table, folder / "adc.h", dac=10)  # integer codes of a 10-bit threshold DAC
back, meta = import_table(folder / "adc.json")
assert np.array_equal(back.thresholds, table.thresholds)
print("\n".join((folder / "adc.h").read_text().splitlines()[:12]))

# %%
# The learned staircase beside Lloyd-Max's.
reference = lloyd_max(2)  # 2 bits: 4 levels
x = np.linspace(-3, 3, 1201)
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(x, back.quantize(x), "-", label="learned (exported, read back)")
ax.plot(x, reference.quantize(x), "--", label="Lloyd-Max")
ax.plot(x, x, ":", color="gray", label="identity")
ax.set_xlabel("input (V)")
ax.set_ylabel("output level (V)")
ax.legend()
ax.grid(True, alpha=0.3)
