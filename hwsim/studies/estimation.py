r"""Pilot-based channel estimation with scalar ADCs (seed 001 Sec. 4.1, Fig. 5).

System: eq. (6) with ``n_t`` antennas, ``n_u`` users, ``tau_p`` DFT pilots, SNR ``P``;
``n = 2 tau_p n_t`` real measurements, ``k = 2 n_u n_t`` real unknowns. A rate ``R`` is a
budget of ``round(R n)`` bits; the task-based designs use ``p = k`` ADCs (seed 001, after
[5] Cor. 1) with ``floor(2**(bits/p))`` levels each. The metric is the average MSE per
entry, :math:`\frac1k E\|s - \hat s\|^2`; one Monte Carlo trial is one channel realization.

Point keys: ``receiver`` and ``rate``, plus

- ``mmse``, ``eta_opt`` (eq. 7), ``thm3_theory`` (MMSE + (4c)), ``blmmse_theory``: exact values;
- ``thm3``: Monte Carlo of the Theorem 3 system, ``adc = "dithered"`` (non-subtractive, as
  the theory assumes) or ``"plain"``; ``snr = "known"`` or ``"noisy"`` (designed with
  :math:`\hat P = P + \mathcal N(0, P/4)`, floored at 0.1 and redrawn for every
  ``system.snr_group`` realizations; these groups are the independent units of the
  confidence interval);
- ``learned``: the learned linear / soft-to-hard / linear estimator, ``trainset =
  "optimal"`` (P fixed) or ``"snr"`` (P uniform in [1, 10] per training sample);
  ``system.trainings`` estimators are trained per point and their mean MSE is reported;
- ``blmmse``: Monte Carlo of one-bit BLMMSE (no analog combining; needs R >= 1).

``eta`` (system key) is the Theorem 3 support in standard deviations of each ADC input plus
dither; Lemma 2's noise model holds only without overload, so a small ``eta`` makes the
Monte Carlo MSE exceed the theory (measured in the tests and the README).
"""

from __future__ import annotations

import math

import numpy as np

METRIC = "mse"
ESTIMATE_COLUMN = "mse"
SAMPLES_COLUMN = "realizations"

SYSTEM = {
    "n_t": 10,
    "n_u": 4,
    "tau_p": 12,
    "P": 4.0,
    "eta": 2.5,
    "snr_error_fraction": 0.25,   # variance of the SNR estimate's error, as a fraction of P
    "snr_group": 64,              # realizations per SNR estimate of the noisy-SNR design
    "train_samples": 2**15,
    "epochs": 40,
    "lr": 2e-3,
    "sharpness": 6.0,
    "anneal_to": 60.0,
    "trainings": 3,               # learned estimators trained per point with independent seeds
}

POINT_KEYS = {"receiver": str, "rate": float, "adc": str, "snr": str, "trainset": str}
REQUIRED = ("receiver",)

RECEIVERS = ("mmse", "eta_opt", "thm3_theory", "thm3", "learned", "blmmse", "blmmse_theory")
EXACT = ("mmse", "eta_opt", "thm3_theory", "blmmse_theory")


def _channel(system, *, P=None, snr_uncertainty=False):
    from hwsim.channels import PilotChannel

    return PilotChannel(system["n_t"], system["n_u"], system["tau_p"], system["P"] if P is None else P,
                        snr_uncertainty=snr_uncertainty)


def budget(system: dict, rate: float):
    """(bits, p, levels) of the task-based designs at ``rate`` (p = k)."""
    from hwsim.converters.budget import split_budget

    n = 2 * system["tau_p"] * system["n_t"]
    k = 2 * system["n_u"] * system["n_t"]
    b = split_budget(n, rate, k)
    return b.bits, b.p, b.levels


#: Upper bounds on the sizes of a system, checked before anything is allocated: a guard against
#: configs that would exhaust memory. ``n`` and ``k`` bound the real measurements ``2 tau_p n_t`` and
#: unknowns ``2 n_u n_t`` (the designs hold n x n matrices); ``train_values`` bounds
#: ``train_samples * n``. Raise an entry in code if you really mean it.
LIMITS = {"n_t": 1024, "n_u": 1024, "tau_p": 1024, "epochs": 100_000, "n": 4096, "k": 4096,
          "train_values": 2**27, "trainings": 100, "snr_group": 10**6}


def validate(system: dict, point: dict) -> None:
    from hwsim import _checks

    def limit(what, value, key):
        if value > LIMITS[key]:
            raise ValueError(f"{what} is more than the limit of {LIMITS[key]} (hwsim.studies.estimation."
                             f"LIMITS[{key!r}], a guard against configs that exhaust memory; raise it in code if "
                             "you really mean it)")

    for key in ("n_t", "n_u", "tau_p"):
        _checks.integer(f"system.{key}", system[key], minimum=1)
        limit(f"system.{key} = {system[key]}", system[key], key)
    n, k = 2 * system["tau_p"] * system["n_t"], 2 * system["n_u"] * system["n_t"]
    limit(f"2 * tau_p * n_t = {n} real measurements", n, "n")
    limit(f"2 * n_u * n_t = {k} real unknowns", k, "k")
    if system["tau_p"] < system["n_u"]:
        raise ValueError(f"system.tau_p must be >= n_u = {system['n_u']}, got {system['tau_p']}")
    _checks.real("system.P", system["P"], positive=True)
    _checks.real("system.eta", system["eta"], positive=True)
    _checks.real("system.snr_error_fraction", system["snr_error_fraction"], nonnegative=True)
    _checks.integer("system.snr_group", system["snr_group"], minimum=1)
    limit(f"system.snr_group = {system['snr_group']}", system["snr_group"], "snr_group")
    _checks.integer("system.train_samples", system["train_samples"], minimum=1)
    limit(f"system.train_samples * n = {system['train_samples'] * n} values", system["train_samples"] * n,
          "train_values")
    _checks.integer("system.epochs", system["epochs"], minimum=1)
    limit(f"system.epochs = {system['epochs']}", system["epochs"], "epochs")
    _checks.real("system.lr", system["lr"], positive=True)
    _checks.real("system.sharpness", system["sharpness"], positive=True)
    _checks.real("system.anneal_to", system["anneal_to"], nonnegative=True)
    _checks.integer("system.trainings", system["trainings"], minimum=1)
    limit(f"system.trainings = {system['trainings']}", system["trainings"], "trainings")
    receiver = point["receiver"]
    if receiver not in RECEIVERS:
        raise ValueError(f"receiver must be one of {', '.join(RECEIVERS)}, got {receiver!r}")
    if receiver == "mmse":
        return
    if "rate" not in point:
        raise ValueError(f"receiver {receiver} needs a rate")
    if receiver in ("blmmse", "blmmse_theory"):
        if point["rate"] < 1:
            raise ValueError(f"BLMMSE quantizes every measurement with at least one bit: rate must be >= 1, "
                             f"got {point['rate']}")
        return
    bits, p, levels = budget(system, point["rate"])
    from hwsim.converters.adc import MAX_LEVELS

    if levels > MAX_LEVELS:
        raise ValueError(f"rate {point['rate']} gives {levels} levels per ADC, more than the limit of "
                         f"{MAX_LEVELS} (hwsim.converters.adc.MAX_LEVELS)")
    if receiver.startswith("thm3") and system["eta"] >= math.sqrt(3) * levels:
        raise ValueError(f"system.eta must be < sqrt(3) * levels = {math.sqrt(3) * levels:.3g} at rate "
                         f"{point['rate']} ({levels} levels)")
    if point.get("adc", "dithered") not in ("dithered", "plain"):
        raise ValueError(f"adc must be dithered or plain, got {point['adc']!r}")
    if point.get("snr", "known") not in ("known", "noisy"):
        raise ValueError(f"snr must be known or noisy, got {point['snr']!r}")
    if point.get("trainset", "optimal") not in ("optimal", "snr"):
        raise ValueError(f"trainset must be optimal or snr, got {point['trainset']!r}")


def replicas(system: dict, point: dict) -> int:
    """Estimators trained per point: ``system.trainings`` for the learned curves, else 1."""
    return system["trainings"] if point["receiver"] == "learned" else 1


def _design(system, rate, P=None):
    from hwsim.designs.task_based import theorem3

    st = _channel(system, P=P).stats()
    _, p, levels = budget(system, rate)
    return theorem3(st.gamma, st.sigma_x, p, levels, system["eta"], st.sigma_s)


def _blmmse(system):
    from hwsim.receivers.blmmse import BLMMSEEstimator

    st = _channel(system).stats()
    return BLMMSEEstimator(st.sigma_s, st.sigma_x, st.sigma_sx)


def exact_value(system: dict, point: dict) -> float | None:
    """Closed-form curves (no Monte Carlo); None for simulated receivers."""
    from hwsim.designs.bounds import pilot_eta_opt, pilot_mmse

    receiver = point["receiver"]
    if receiver == "mmse":
        return pilot_mmse(system["P"], system["tau_p"])
    if receiver == "eta_opt":
        return pilot_eta_opt(system["P"], system["tau_p"], system["n_u"], point["rate"])
    if receiver == "thm3_theory":
        return _design(system, point["rate"]).average_mse()
    if receiver == "blmmse_theory":
        return _blmmse(system).analytic_mse()
    return None


def _counts(s, s_hat):
    e = ((s - s_hat) ** 2).mean(axis=1)  # per-realization average squared error
    return float(e.sum()), float((e**2).sum()), len(e)


def make_link(system: dict, point: dict, rng: np.random.Generator):
    """Link ``link(rng, batch) -> (sum e, sum e^2, realizations)`` for a simulated receiver."""
    from hwsim.converters.adc import UniformADC

    channel = _channel(system)
    receiver = point["receiver"]
    if receiver == "blmmse":
        est = _blmmse(system)

        def link(rng, batch):
            s, x, _ = channel.sample(batch, rng)
            return _counts(s, est.estimate(x))

        return link
    if receiver == "learned":
        from hwsim.receivers.estimator import train_estimator

        _, p, levels = budget(system, point["rate"])
        train_channel = _channel(system, snr_uncertainty=point.get("trainset", "optimal") == "snr")
        model, _ = train_estimator(train_channel, p, levels, rng, train_samples=system["train_samples"],
                                   epochs=system["epochs"], lr=system["lr"], sharpness=system["sharpness"],
                                   anneal_to=system["anneal_to"] or None)

        def link(rng, batch):
            s, x, _ = channel.sample(batch, rng)
            return _counts(s, model.estimate(x))

        return link
    # Theorem 3 system
    dithered = point.get("adc", "dithered") == "dithered"
    rate = point["rate"]

    def run(design, rng, n):
        adc = UniformADC(design.levels, design.gamma)
        s, x, _ = channel.sample(n, rng)
        z = x @ design.A.T
        if dithered:
            z = z + rng.uniform(-adc.step / 2, adc.step / 2, size=z.shape)
        return _counts(s, adc.quantize(z) @ design.B.T)

    if point.get("snr", "known") == "known":
        fixed = _design(system, rate)
        return lambda rng, batch: run(fixed, rng, batch)

    from hwsim.engine.montecarlo import Tally

    group = system["snr_group"]

    def noisy_link(rng, batch):
        # One SNR estimate per group of realizations: the group shares it, so groups are the
        # independent clusters of the interval. The batch is rounded up to whole groups.
        totals = []
        for _ in range(-(-batch // group)):
            P = system["P"]
            P_hat = max(P + math.sqrt(system["snr_error_fraction"] * P) * rng.standard_normal(), 0.1)
            totals.append(run(_design(system, rate, P=P_hat), rng, group)[0])
        return Tally.of(totals, group)

    return noisy_link
