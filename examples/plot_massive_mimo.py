"""
Massive MIMO with low-resolution converters
===========================================

A 64-antenna base station receives eight 16-QAM users over Rayleigh fading through 1- to 4-bit I/Q
converters with ideal gain control; the Bussgang LMMSE detector (Jacobsson et al., "Throughput
analysis of massive MIMO uplink with low-resolution ADCs") decides. The shipped study is
``hwsim sweep massive_mimo``; this example runs its link directly through the library, a few
thousand channel uses per point.
"""

import matplotlib.pyplot as plt
import numpy as np

from hwsim.engine.montecarlo import StoppingRule, estimate
from hwsim.pipeline import Pipeline

SNRS = [-5.0, 0.0, 5.0, 10.0]
rule = StoppingRule(target_errors=300, max_samples=1_000_000, min_samples=0, batch=5_000)
curves = {"unquantized LMMSE": ({"type": "none"}, "lmmse")}
curves.update({f"{b}-bit BLMMSE": ({"type": "uniform", "bits": b}, "blmmse") for b in (1, 2, 3, 4)})

fig, ax = plt.subplots(figsize=(6, 4))
print(f"{'curve':18s} {'SNR (dB)':>8s} {'BER':>10s}   95% interval")
for (name, (adc, receiver)), (marker, style) in zip(curves.items(), [("o", "-"), ("v", "--"), ("s", "-."),
                                                                       ("d", ":"), ("^", "-")]):
    link = Pipeline.from_tables({"source": {"type": "users", "users": 8, "constellation": "qam16"},
                                 "channel": {"type": "rayleigh", "antennas": 64, "frame_len": 100},
                                 "adc": adc, "receiver": {"type": receiver}})
    est = [estimate(link.link(snr), np.random.default_rng(int(snr) + 100), rule) for snr in SNRS]
    y = np.array([e.estimate if e.errors else np.nan for e in est])  # no error seen: an upper bound below
    err = np.array([[e.estimate - e.ci_low for e in est], [e.ci_high - e.estimate for e in est]])
    line = ax.errorbar(SNRS, y, yerr=err, marker=marker, linestyle=style, capsize=3, label=name)
    bounds = [(s, e.ci_high) for s, e in zip(SNRS, est) if not e.errors]
    if bounds:
        ax.plot(*zip(*bounds), "v", color=line[0].get_color(), markersize=8)
    for snr, e in zip(SNRS, est):
        print(f"{name:18s} {snr:8.1f} {e.estimate:10.2e}   [{e.ci_low:.2e}, {e.ci_high:.2e}]")
ax.set_yscale("log")
ax.set_xlabel("SNR (dB)")
ax.set_ylabel("BER (95% intervals)")
ax.set_title("64 x 8, 16-QAM, Rayleigh (v: no error seen, upper end of the interval)", fontsize=9)
ax.legend()
ax.grid(True, which="both", alpha=0.3)
