"""Link metrics: how a detector's decisions are scored.

A metric turns the transmitted symbol indices and a :class:`hwsim.receivers.base.Decision`
into errors per frame; the link makes them a :class:`hwsim.engine.montecarlo.Tally` whose clusters
are the frames (the samples of one frame share a channel draw: they are not independent trials),
or the channel uses when nothing random is shared (a fixed channel known exactly).
"""

from __future__ import annotations

import numpy as np

from .components import Component, register


class Metric(Component):
    """``column``/``samples_column`` name the results.csv columns; ``trials_per_sample(source)``.

    ``task``: ``"detection"`` (error rates of symbol decisions) or ``"estimation"`` (MSE).
    """

    column = ""
    samples_column = ""
    task = "detection"

    def trials_per_sample(self, source) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def errors(self, constellation, idx_true: np.ndarray, idx_hat: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def count(self, source, idx_true: np.ndarray, idx_hat: np.ndarray, *,
              per_sample: bool = False) -> tuple[np.ndarray, int]:
        """Errors per cluster and the trials in one cluster: the frames (axis 0 of the [F, L, K]
        indices), or with ``per_sample`` the channel uses (when no random draw is shared by a frame)."""
        if idx_hat.shape != idx_true.shape:
            raise ValueError(f"decided indices have shape {idx_hat.shape}, the sent ones {idx_true.shape}")
        errors = self.errors(source.constellation, idx_true, idx_hat)
        if per_sample:
            return errors.reshape(-1, idx_true.shape[2]).sum(axis=1), self.trials_per_sample(source)
        return errors.reshape(idx_true.shape[0], -1).sum(axis=1), idx_true.shape[1] * self.trials_per_sample(source)


@register("metric", "ber")
class BER(Metric):
    """Bit error rate of the Gray labels (every user's every bit)."""

    column, samples_column = "ber", "bits"

    def trials_per_sample(self, source) -> int:
        return source.bits_per_sample

    def errors(self, constellation, idx_true, idx_hat):
        return np.bitwise_count(np.asarray(idx_true) ^ np.asarray(idx_hat))


@register("metric", "ser")
class SER(Metric):
    """Symbol error rate (every user's every symbol)."""

    column, samples_column = "ser", "symbols"

    def trials_per_sample(self, source) -> int:
        return source.users

    def errors(self, constellation, idx_true, idx_hat):
        return np.asarray(idx_true) != np.asarray(idx_hat)


@register("metric", "mse")
class MSE(Metric):
    r"""Average squared error per entry of an estimation link, :math:`\frac1k \|s - \hat s\|^2` per realization."""

    column, samples_column = "mse", "realizations"
    task = "estimation"

    def per_realization(self, s: np.ndarray, s_hat: np.ndarray) -> np.ndarray:
        """Squared error averaged over the entries of each realization, float [B]."""
        if s_hat.shape != s.shape:
            raise ValueError(f"estimates have shape {s_hat.shape}, the unknowns {s.shape}")
        return ((s - s_hat) ** 2).mean(axis=1)
