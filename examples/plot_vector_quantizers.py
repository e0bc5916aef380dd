"""
Vector quantizers against the rate-distortion bound
===================================================

Lattices quantize space more evenly than a scalar grid: their normalized second moment (NSM) falls
from 1/12 = 0.0833 for the integers toward 1/(2 pi e) = 0.0585. Here the NSMs of Z, A2, D4 and E8
are measured by Monte Carlo, and scalar Lloyd-Max, LBG and an E8 codebook quantize a unit Gaussian
at 1 bit per dimension, beside the rate-distortion bound 2^-2R.
"""

import matplotlib.pyplot as plt
import numpy as np

from hwsim.designs import lloyd_max
from hwsim.quantizers import lattice, lbg, nsm
from hwsim.quantizers.lattices import gaussian_codebook

rng = np.random.default_rng(0)
names = ["Z1", "A2", "D4", "E8"]
values = [nsm(lattice(n), 100_000, rng=rng) for n in names]
for n, (g, lo, hi) in zip(names, values):
    print(f"NSM {n}: {g:.5f} [{lo:.5f}, {hi:.5f}]")

# %%
# Distortion per dimension at 1 bit per dimension (dimension 8 for E8, 2 for LBG).
train, test = rng.standard_normal((20_000, 8)), rng.standard_normal((20_000, 8))


def mse_ci(err):
    """MSE per dimension with a 95% normal interval over the test vectors (rows of ``err``)."""
    per_vector = np.mean(err**2, axis=1)
    half = 1.96 * per_vector.std(ddof=1) / np.sqrt(len(per_vector))
    return per_vector.mean(), per_vector.mean() - half, per_vector.mean() + half


mse = {"Lloyd-Max (scalar)": mse_ci(lloyd_max(1).quantize(test) - test)}
book, _ = lbg(train[:, :2], 4, rng)
mse["LBG (n = 2)"] = mse_ci(book.quantize(test[:, :2])[1] - test[:, :2])
e8 = gaussian_codebook("E8", 256, train)
mse["E8 codebook (n = 8)"] = mse_ci(e8.quantize(test)[1] - test)
print(f"{'quantizer':22s} {'MSE':>7s}   {'95% interval':18s} from the bound 2^-2R = 0.25")
for k, (v, lo, hi) in mse.items():
    print(f"{k:22s} {v:7.4f}   [{lo:.4f}, {hi:.4f}]  {10 * np.log10(v / 0.25):+.2f} dB")

fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
a.errorbar(range(4), [v[0] for v in values], yerr=[[v[0] - v[1] for v in values], [v[2] - v[0] for v in values]],
           fmt="o", capsize=3)
a.axhline(1 / 12, linestyle="--", color="gray", label="1/12 (integers)")
a.axhline(1 / (2 * np.pi * np.e), linestyle=":", color="gray", label="1/(2 pi e)")
a.set_xticks(range(4), names)
a.set_ylabel("normalized second moment")
a.legend()
b.bar(range(len(mse)), [v[0] for v in mse.values()], color="0.6", edgecolor="k", hatch="/",
      yerr=[[v[0] - v[1] for v in mse.values()], [v[2] - v[0] for v in mse.values()]], capsize=3)
b.axhline(0.25, linestyle="--", color="k", label="bound 2^-2R")
b.set_xticks(range(len(mse)), [k.split(" (")[0] for k in mse])
b.set_ylabel("MSE per dimension, R = 1")
b.legend()
fig.tight_layout()
