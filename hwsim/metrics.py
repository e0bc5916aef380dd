"""Link metrics: how a detector's decisions are scored.

A metric turns the transmitted symbol indices and a :class:`hwsim.receivers.base.Decision`
into errors per frame; the link makes them a :class:`hwsim.tally.Tally` whose clusters
are the frames (the samples of one frame share a channel draw: they are not independent trials),
or the channel uses when nothing random is shared (a fixed channel known exactly).
"""

from __future__ import annotations

import numpy as np

from .components import register
from .hooks import MetricHooks


class Metric(MetricHooks):
    """``column``/``samples_column`` name the results.csv columns; ``trials_per_sample(source)``.

    ``task``: ``"detection"`` (error rates of symbol decisions) or ``"estimation"`` (MSE).
    """

    column = ""
    samples_column = ""

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
    counts_bits = True

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


@register("metric", "w2")
class W2(Metric):
    r"""Perception: squared Wasserstein-2 distance per dimension between the law of the unknowns and the
    law of the estimates, :math:`\frac1k \sum_j W_2^2(P_{s_j}, P_{\hat s_j})` over the entries ``j``.

    A law, not a per-realization error: each link call (batch) gives one estimate, and the interval is
    over batch means (:meth:`per_batch`). For a ``gaussian`` source the reference is the entry's exact
    :math:`\mathcal N(0, \Sigma_{jj})` (:func:`hwsim.designs.rdp.gaussian_w2sq`), else the batch's own
    unknowns (:func:`hwsim.designs.rdp.empirical_w2sq`). Both are biased upward by the empirical
    law's sampling noise, of order :math:`\log\log N / N` for a batch of ``N`` (about 3.5e-5 for
    ``N = 100 000`` samples of a Gaussian): choose a large ``stopping.batch``. The sum of marginal
    distances equals the joint :math:`W_2^2` for laws with independent entries (i.i.d. source, scalar
    quantizer); otherwise it is a lower bound on it.
    """

    column, samples_column = "w2", "realizations"
    per_batch_only = True
    task = "estimation"

    def per_realization(self, s: np.ndarray, s_hat: np.ndarray) -> np.ndarray:
        raise ValueError("metric.type = \"w2\" compares laws, not realizations: it is estimated per batch "
                         "(per_batch)")

    def per_batch(self, s: np.ndarray, s_hat: np.ndarray, source=None) -> float:
        """:math:`\\frac1k \\sum_j W_2^2` of one batch of unknowns ``s`` and estimates ``s_hat`` [B, k]."""
        from hwsim.designs.rdp import empirical_w2sq, gaussian_w2sq

        if s_hat.shape != s.shape:
            raise ValueError(f"estimates have shape {s_hat.shape}, the unknowns {s.shape}")
        if source is not None and source.gaussian:
            std = np.sqrt(np.diag(source.covariance()))
            return float(np.mean([gaussian_w2sq(s_hat[:, j], std[j]) for j in range(s.shape[1])]))
        return float(np.mean([empirical_w2sq(s[:, j], s_hat[:, j]) for j in range(s.shape[1])]))


@register("metric", "nmse")
class NMSE(Metric):
    r"""Normalised squared error of an estimation link, :math:`\mathrm{NMSE} = E\|x - \hat x\|^2 / E\|x\|^2`
    (quantized compressed sensing; shown in dB, :math:`10 \log_{10}` NMSE, with ``[plot] db = true``).

    The denominator is the source's exact :math:`E\|x\|^2` (its ``mean_energy``, e.g. :math:`S` for the
    ``sparse`` source), read when the link is prepared, so the per-realization values
    :math:`\|x - \hat x\|^2 / E\|x\|^2` are i.i.d. and their mean and interval are those of the NMSE itself
    (no ratio-of-means bias).
    """

    column, samples_column = "nmse", "realizations"
    task = "estimation"

    def __init__(self):
        self._energy = None

    def check_link(self, link) -> None:
        if link.source.mean_energy is None:
            raise ValueError(f"metric.type = \"nmse\" divides by the source's exact E||x||^2 (mean_energy), which "
                             f"source.type = {link.source.name!r} does not give; use metric.type = \"mse\"")

    def prepare(self, link, snr_db, rng) -> None:
        self.check_link(link)
        self._energy = float(link.source.mean_energy)

    def per_realization(self, s: np.ndarray, s_hat: np.ndarray) -> np.ndarray:
        r""":math:`\|x - \hat x\|^2 / E\|x\|^2` of each realization, float [B]."""
        if self._energy is None:
            raise ValueError("metric \"nmse\" is not prepared: it needs the link (prepare(link, snr_db, rng)) for "
                             "the source's E||x||^2")
        if s_hat.shape != s.shape:
            raise ValueError(f"estimates have shape {s_hat.shape}, the unknowns {s.shape}")
        return ((s - s_hat) ** 2).sum(axis=1) / self._energy


class _OFDMMetric(Metric):
    """A metric of a coded OFDM link (:mod:`hwsim.channels.ofdm`): the sent indices are the information bits
    of every code block, int [F, B, k] (F slots of B blocks of k bits; the source gives them because the metric
    ``scores_decoded``), and the receiver's decisions the decoded bits of the same shape. The clusters are the
    slots (their blocks share a channel draw)."""

    scores_decoded = True

    def check_link(self, link) -> None:
        if not link.channel.time_domain:
            raise ValueError(f"metric.type = {self.name!r} scores coded OFDM links (channel.type = \"tdl\" or "
                             f"\"rayleigh_taps\", source.type = \"ofdm\"), got channel.type = {link.channel.name!r}")

    def count(self, source, idx_true: np.ndarray, idx_hat: np.ndarray, *,
              per_sample: bool = False) -> tuple[np.ndarray, int]:
        """Errors per slot and the trials of one slot, from the sent and decoded information bits [F, B, k]."""
        if idx_hat.shape != idx_true.shape or idx_true.ndim != 3:
            raise ValueError(f"decoded bits have shape {idx_hat.shape}, the sent ones {idx_true.shape} (both "
                             "[slots, blocks, information bits])")
        return self.slot_errors(np.asarray(idx_true) != np.asarray(idx_hat))

    def slot_errors(self, wrong: np.ndarray) -> tuple[np.ndarray, int]:  # pragma: no cover - interface
        raise NotImplementedError


@register("metric", "bler")
class BLER(_OFDMMetric):
    r"""Block error rate of the decoded code blocks: a block is wrong when any of its :math:`k` information bits
    is. Trials are blocks; the clusters of the interval are the slots (their blocks share a channel draw),
    ``Tally.of(block errors per slot, blocks per slot)``; ``stopping.target_errors`` counts block errors."""

    column, samples_column = "bler", "blocks"

    def slot_errors(self, wrong):
        return wrong.any(axis=-1).sum(axis=1), wrong.shape[1]


@register("metric", "coded_ber")
class CodedBER(_OFDMMetric):
    """Bit error rate of the information bits after decoding (clusters: slots)."""

    column, samples_column = "coded_ber", "bits"

    def slot_errors(self, wrong):
        return wrong.reshape(wrong.shape[0], -1).sum(axis=1), wrong.shape[1] * wrong.shape[2]


@register("metric", "per")
class PER(_OFDMMetric):
    r"""Packet error rate per user of a coded OFDM link: a user's packet of a slot is all its information bits
    there (its ``source.blocks`` code blocks; one codeword when ``blocks = 1``, as an 802.11 packet), wrong when
    any bit is. Trials are packets, one per user and slot (``user = -1``: every user's, the mean PER over the
    users) or one per slot (``user`` = k: user k's alone); the clusters of the interval are the slots (their
    packets share a channel draw); ``stopping.target_errors`` counts packet errors.

    Parameters
    ----------
    user : int
        -1 for the packets of every user, or the index (0 to K - 1) of the one user scored.
    """

    column, samples_column = "per", "packets"

    def __init__(self, *, user: int = -1):
        from . import _checks

        _checks.integer("metric.user", user, minimum=-1)

    def check_link(self, link) -> None:
        super().check_link(link)
        users = getattr(link.source, "users", None)
        if users is not None and self.params["user"] >= users:
            raise ValueError(f"metric.user = {self.params['user']} names no user of the link's {users} (use -1 for "
                             f"every user's packets, or 0 to {users - 1})")

    def count(self, source, idx_true: np.ndarray, idx_hat: np.ndarray, *,
              per_sample: bool = False) -> tuple[np.ndarray, int]:
        """Packet errors per slot and the packets of one slot, from the sent and decoded information bits
        [F, B, k] (B = users x blocks, user after user)."""
        if idx_hat.shape != idx_true.shape or idx_true.ndim != 3:
            raise ValueError(f"decoded bits have shape {idx_hat.shape}, the sent ones {idx_true.shape} (both "
                             "[slots, blocks, information bits])")
        users = source.users
        if idx_true.shape[1] % users:
            raise ValueError(f"the {idx_true.shape[1]} code blocks of a slot do not split into {users} users' packets")
        wrong = (np.asarray(idx_true) != np.asarray(idx_hat)).reshape(idx_true.shape[0], users, -1).any(axis=-1)
        user = self.params["user"]
        if user >= users:
            raise ValueError(f"metric.user = {user} names no user of the link's {users}")
        if user >= 0:
            return wrong[:, user].astype(np.int64), 1
        return wrong.sum(axis=1), users
