"""
Getting started in Python
=========================

Compose a link from components, run it to a stopping rule, then sweep it over the SNR, all from
Python (:class:`hwsim.Link`, :func:`hwsim.simulate`, :func:`hwsim.sweep`).

The system: 16 receive antennas, 2 users with Gray QPSK, i.i.d. Rayleigh fading redrawn every 100
channel uses, 2-bit uniform I and Q converters behind an ideal AGC, and Bussgang LMMSE detection
(:class:`hwsim.receivers.BLMMSE`). Every estimate comes with its confidence interval.
"""

import hwsim
from hwsim.channels import IIDRayleigh, Users
from hwsim.converters import UniformBank
from hwsim.receivers import BLMMSE, LMMSE

link = hwsim.Link(source=Users(users=2, constellation="qpsk"),
                  channel=IIDRayleigh(antennas=16, frame_len=100),
                  adc=UniformBank(bits=2), receiver=BLMMSE())
print(link)

# %%
# One point: :func:`hwsim.simulate` draws until 200 bit errors are seen (or its sample limit) and
# reports the estimate with a 95% interval (Wilson's, clustered by fading frame).
est = hwsim.simulate(link, snr_db=0.0, stopping=hwsim.Stopping(target_errors=200, max_samples=400_000), seed=1)
print(f"BER at 0 dB: {est.estimate:.3e}  95% CI [{est.ci_low:.3e}, {est.ci_high:.3e}]  "
      f"({est.interval}, {est.samples:,} bits, stopped by {est.stop})")

# %%
# A component's parameters are its constructor's: ``help(UniformBank)`` lists them, and a wrong
# value is refused with the allowed ones named.
try:
    UniformBank(bits=0)
except ValueError as exc:
    print("refused:", exc)

# %%
# A sweep: the same link as a table (what a sweep file holds), two curves on common random numbers
# (every curve sees the same symbols, channels and noise), over an SNR grid. :func:`hwsim.sweep`
# returns the results as records (a pandas DataFrame where pandas is installed).
config = {
    "study": "link", "seed": 7, "common_random_numbers": True,
    "source": {"type": "users", "users": 2, "constellation": "qpsk"},
    "channel": {"type": "rayleigh", "antennas": 16, "frame_len": 100},
    "adc": {"type": "uniform", "bits": 2},
    "receiver": {"type": "blmmse"},
    "grid": {"snr_db": [-6.0, -3.0, 0.0, 3.0, 6.0]},
    "curves": [{"name": "BLMMSE, 2-bit"}, {"name": "LMMSE, unquantized", "receiver": "lmmse", "adc": "none"}],
    "stopping": {"target_errors": 100, "min_samples": 20_000, "max_samples": 400_000, "batch": 20_000},
}
results = hwsim.sweep(config)
rows = results.to_dict("records") if hasattr(results, "to_dict") else results
print(f"{'curve':22s} {'SNR (dB)':>8s} {'BER':>10s} {'95% CI':>24s}")
for r in rows:
    print(f"{r['curve']:22s} {r['snr_db']:8.1f} {r['ber']:10.3e}   [{r['ci_low']:.3e}, {r['ci_high']:.3e}]")

# %%
# The figure: each curve with its interval bars (an LMMSE receiver is what the same link would use
# without converters: the gap is the price of 2-bit converters).
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(figsize=(6, 4))
for marker, curve in zip("os", dict.fromkeys(r["curve"] for r in rows)):
    pts = [r for r in rows if r["curve"] == curve and r["ber"] > 0]
    x = [r["snr_db"] for r in pts]
    y = [r["ber"] for r in pts]
    ax.errorbar(x, y, yerr=[[v - r["ci_low"] for v, r in zip(y, pts)], [r["ci_high"] - v for v, r in zip(y, pts)]],
                marker=marker, capsize=3, label=curve)
ax.set_yscale("log")
ax.set_xlabel("SNR (dB), per receive antenna")
ax.set_ylabel("BER (95% intervals)")
ax.set_title("16 x 2 QPSK, i.i.d. Rayleigh")
ax.grid(True, which="both", alpha=0.3)
ax.legend()
plt.show()

# %%
# The same sweep from the command line is a TOML file with these tables:
# ``hwsim sweep my_study.toml --out runs/mine`` (see :doc:`../guide/sweeps`). ``LMMSE`` above is the
# component ``receiver = "lmmse"`` names there.
assert LMMSE.__name__ == "LMMSE"
