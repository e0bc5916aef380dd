r"""Channel estimators of Shlezinger and Eldar Sec. 4.1 (Fig. 5) as pipeline components.

The link's source is :class:`hwsim.channels.pilots.Pilots` (measurements :math:`x` of the
unknown channel :math:`s`); the metric is the average MSE per entry,
:math:`\frac1k E\|s - \hat s\|^2`, one trial per channel realization. A rate ``R`` is a
budget of ``round(R n)`` bits; the task-based designs use ``p = k`` converters (Shlezinger and Eldar,
after Shlezinger et al. Cor. 1) with :math:`\lfloor 2^{\text{bits}/p} \rfloor` levels each.

- closed forms (no Monte Carlo): ``mmse``, ``eta_opt`` (eq. 7), ``thm3_theory`` (the Theorem 3
  design's MSE, (4c)), ``blmmse_theory``;
- Monte Carlo: ``thm3`` (the Theorem 3 combiner, uniform converters with or without
  non-subtractive dither, the digital matrix; ``snr = "noisy"`` designs from an SNR estimate
  redrawn for every ``snr_group`` realizations), ``learned_estimator`` (the learned
  combiner, soft-to-hard converters and linear estimator, trained per point) and
  ``blmmse_estimator`` (one-bit converters on every measurement, Bussgang LMMSE).

Each estimator holds its own combiner and converters (they are designed or trained together),
so the link's ``frontend`` and ``adc`` stay ``identity`` and ``none``. ``eta`` is the Theorem 3
support in standard deviations of each converter's input plus dither; Lemma 2's noise model
holds only without overload, so a small ``eta`` makes the Monte Carlo MSE exceed the theory.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from hwsim import _checks
from hwsim.components import register
from hwsim.hooks import ReceiverHooks


class Estimator(ReceiverHooks):
    """Base of the channel estimators: ``estimate(x, rng) -> s_hat``, or ``exact_value(link)``.

    One with ``group`` > 0 (realizations that share one random set-up draw, e.g. an SNR estimate)
    defines ``redraw(link, rng)``, called before each group is sampled; the other hooks are those of
    every receiver (:class:`hwsim.hooks.ReceiverHooks`).
    """

    task = "estimation"

    def check_link(self, link) -> None:
        if link.frontend.combines or link.adc.quantizes:
            raise ValueError(f"receiver.type = {self.name!r} holds its own combiner and converters: the link needs "
                             f"frontend.type = \"identity\" and adc.type = \"none\", got {link.frontend.name!r} and "
                             f"{link.adc.name!r}")


def budget(source, rate: float):
    """(bits, p, levels) of the task-based designs at ``rate``: ``p = k`` converters."""
    from hwsim.converters.adc import MAX_LEVELS
    from hwsim.converters.budget import split_budget

    b = split_budget(source.n, rate, source.k)
    if b.levels > MAX_LEVELS:
        raise ValueError(f"receiver.rate = {rate} gives {b.levels} levels per converter, more than the limit of "
                         f"{MAX_LEVELS} (hwsim.converters.adc.MAX_LEVELS)")
    return b.bits, b.p, b.levels


def _design(source, rate: float, eta: float, P: float | None = None):
    from hwsim.designs.task_based import theorem3

    st = source.pilot_channel(P=P).stats()
    _, p, levels = budget(source, rate)
    return theorem3(st.gamma, st.sigma_x, p, levels, eta, st.sigma_s)


def _check_eta(source, rate: float, eta: float) -> None:
    _checks.real("receiver.eta", eta, positive=True)
    levels = budget(source, rate)[2]
    if eta >= math.sqrt(3) * levels:
        raise ValueError(f"receiver.eta must be < sqrt(3) * levels = {math.sqrt(3) * levels:.3g} at rate {rate} "
                         f"({levels} levels)")


@register("receiver", "mmse")
class MMSEBound(Estimator):
    """The unquantized MMSE, :math:`1 / (2 (1 + P \\tau_p))` (closed form)."""

    def __init__(self):
        super().__init__()  # no parameters

    def exact_value(self, link) -> float:
        from hwsim.designs.bounds import pilot_mmse

        return pilot_mmse(link.source.params["P"], link.source.params["tau_p"])


@register("receiver", "eta_opt")
class EtaOpt(Estimator):
    """Shlezinger and Eldar eq. (7): the fundamental limit of estimation from ``rate`` bits per measurement."""

    def __init__(self, *, rate: float = 1.0):
        super().__init__()

    def exact_value(self, link) -> float:
        from hwsim.designs.bounds import pilot_eta_opt

        s = link.source.params
        return pilot_eta_opt(s["P"], s["tau_p"], s["users"], self.params["rate"])


@register("receiver", "scalar_floor")
class ScalarFloor(Estimator):
    """The least MSE of ``p = k`` identical scalar converters between linear stages at ``rate``: the
    Lloyd-Max quantizer of each MMSE component (:func:`hwsim.receivers.estimator.scalar_floor`),
    the reference the learned estimator is measured against (closed form)."""

    def __init__(self, *, rate: float = 1.0):
        super().__init__()

    def exact_value(self, link) -> float:
        from .estimator import scalar_floor

        s = link.source.params
        return scalar_floor(s["P"], s["tau_p"], budget(link.source, self.params["rate"])[2])


@register("receiver", "thm3_theory")
class Theorem3Theory(Estimator):
    """The MSE the Theorem 3 design promises, (4c) (closed form)."""

    def __init__(self, *, rate: float = 1.0, eta: float = 2.5):
        super().__init__()

    def check_link(self, link) -> None:
        super().check_link(link)
        _check_eta(link.source, self.params["rate"], self.params["eta"])

    def exact_value(self, link) -> float:
        return _design(link.source, self.params["rate"], self.params["eta"]).average_mse()


@register("receiver", "blmmse_theory")
class BLMMSETheory(Estimator):
    """The one-bit Bussgang LMMSE estimator's MSE (closed form, arcsine law)."""

    def __init__(self):
        super().__init__()  # no parameters

    def exact_value(self, link) -> float:
        return _blmmse(link.source).analytic_mse()


def _blmmse(source):
    from .blmmse import BLMMSEEstimator

    st = source.channel.stats()
    return BLMMSEEstimator(st.sigma_s, st.sigma_x, st.sigma_sx)


@register("receiver", "blmmse_estimator")
class BLMMSEEstimatorComponent(Estimator):
    """One-bit converters on every measurement and the Bussgang LMMSE estimate (Monte Carlo)."""

    def __init__(self):
        super().__init__()  # no parameters

    def prepare(self, link, snr_db, rng) -> None:
        self._est = _blmmse(link.source)

    def estimate(self, x, rng) -> np.ndarray:
        return self._est.estimate(x)


@register("receiver", "thm3")
class Theorem3(Estimator):
    """The Theorem 3 system, simulated: combiner ``A``, ``p = k`` uniform converters of the design's
    levels and support, non-subtractive dither (``dither``), digital matrix ``B``.

    ``snr = "noisy"``: the design uses :math:`\\hat P = P + \\mathcal N(0, \\text{snr\\_error\\_fraction}\\, P)`,
    floored at 0.1 and redrawn for every ``snr_group`` realizations (these groups are the
    interval's independent units).
    """

    SNR_MODES = ("known", "noisy")

    def __init__(self, *, rate: float = 1.0, eta: float = 2.5, dither: bool = True,
                 snr: Literal["known", "noisy"] = "known", snr_error_fraction: float = 0.25, snr_group: int = 64):
        super().__init__()  # the registry has checked the values (snr one of SNR_MODES) and set self.params
        _checks.real("receiver.snr_error_fraction", snr_error_fraction, nonnegative=True)
        _checks.integer("receiver.snr_group", snr_group, minimum=1, maximum=10**6)
        self.group = snr_group if snr == "noisy" else 0
        self._design = None

    def check_link(self, link) -> None:
        super().check_link(link)
        _check_eta(link.source, self.params["rate"], self.params["eta"])

    def prepare(self, link, snr_db, rng) -> None:
        self._source = link.source
        if self.params["snr"] == "known":
            self._use(_design(link.source, self.params["rate"], self.params["eta"]))

    def _use(self, design) -> None:
        from hwsim.converters.adc import UniformADC

        self._design, self._adc = design, UniformADC(design.levels, design.gamma)

    def redraw(self, link, rng: np.random.Generator) -> None:
        """A new SNR estimate and the design made from it (``snr = "noisy"``)."""
        P = link.source.params["P"]
        P_hat = max(P + math.sqrt(self.params["snr_error_fraction"] * P) * rng.standard_normal(), 0.1)
        self._use(_design(link.source, self.params["rate"], self.params["eta"], P=P_hat))

    def estimate(self, x, rng) -> np.ndarray:
        z = x @ self._design.A.T
        if self.params["dither"]:
            z = z + rng.uniform(-self._adc.step / 2, self._adc.step / 2, size=z.shape)
        return self._adc.quantize(z) @ self._design.B.T


@register("receiver", "learned_estimator")
class LearnedEstimator(Estimator):
    """Shlezinger and Eldar's learned estimator (combiner, soft-to-hard converters, linear digital stage), trained
    per point on ``trainset = "optimal"`` (P fixed) or ``"snr"`` (P uniform in [1, 10] per sample)."""

    TRAINSETS = ("optimal", "snr")
    #: ``train_values`` bounds train_samples x measurements.
    LIMITS = {"epochs": 100_000, "trainings": 100, "train_values": 2**27}

    def __init__(self, *, rate: float = 1.0, trainset: Literal["optimal", "snr"] = "optimal",
                 train_samples: int = 2**15, epochs: int = 40, lr: float = 2e-3, sharpness: float = 6.0,
                 anneal_to: float = 60.0, trainings: int = 3):
        super().__init__()  # the registry has checked the values (trainset one of TRAINSETS) and set self.params
        p = self.params
        _checks.integer("receiver.train_samples", p["train_samples"], minimum=1)
        _checks.integer("receiver.epochs", p["epochs"], minimum=1, maximum=self.LIMITS["epochs"])
        _checks.integer("receiver.trainings", p["trainings"], minimum=1, maximum=self.LIMITS["trainings"])
        _checks.real("receiver.lr", p["lr"], positive=True)
        _checks.real("receiver.sharpness", p["sharpness"], positive=True)
        _checks.real("receiver.anneal_to", p["anneal_to"], nonnegative=True)
        self.model = None

    @property
    def replicas(self) -> int:
        return self.params["trainings"]

    def check_link(self, link) -> None:
        super().check_link(link)
        values = self.params["train_samples"] * link.source.n
        if values > self.LIMITS["train_values"]:
            raise ValueError(f"receiver.train_samples x measurements = {values} values is more than the limit of "
                             f"{self.LIMITS['train_values']} (a guard against configs that exhaust memory)")
        budget(link.source, self.params["rate"])

    def prepare(self, link, snr_db, rng) -> None:
        from .estimator import train_estimator

        p = self.params
        _, n_adc, levels = budget(link.source, p["rate"])
        channel = link.source.pilot_channel(snr_uncertainty=p["trainset"] == "snr")
        self.model, _ = train_estimator(channel, n_adc, levels, rng, train_samples=p["train_samples"],
                                        epochs=p["epochs"], lr=p["lr"], sharpness=p["sharpness"],
                                        anneal_to=p["anneal_to"] or None)

    def estimate(self, x, rng) -> np.ndarray:
        return self.model.estimate(x)
