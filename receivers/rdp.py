r"""Perception-aware decoders of a quantized Gaussian source (the survey of Chen et al. Sec. II-B, eqs. 13-16).

The study ``rdp_gaussian.toml`` (source ``gaussian``, metric ``mse``): the receiver quantizes each
source vector with one of the project's quantizers (the ``method`` of :class:`hwsim.receivers.vq.VQ`)
and decodes it for a perception constraint ``perception`` :math:`P` (squared Wasserstein-2 per
dimension between the source law and the reconstruction law):

.. math:: \hat x = \alpha\,E\{x \mid q\} + (1 - \alpha)\,x', \qquad x' \sim p(x \mid q), \qquad
          \alpha = \min\big(1, \sqrt{P / D}\big),

with :math:`D` the quantizer's MMSE distortion per dimension. Its distortion is
:math:`D + [(\sqrt D - \sqrt P)_+]^2` and its perception at most :math:`\min(P, D)`, both equal for
quantizers that meet Lloyd's conditions, e.g. Lloyd-Max (:mod:`hwsim.designs.rdp`; Freirich, Michaeli
and Meir, "A theory of the distortion-perception tradeoff in Wasserstein space"). :math:`P = 0`:
posterior sampling (perfect realism, twice the distortion); :math:`P \ge D`: the MMSE decoder.

How the posterior is sampled:

- ``method = "lloyd_max"`` on an i.i.d. source (``rho = 0``): exactly, per entry, from the
  truncated normal of the cell; :math:`E\{x \mid q\}` is the level (a Lloyd-Max level is its cell's
  centroid) and :math:`D` the table's exact MSE;
- any other quantizer or a correlated source: from a pool of ``pool`` source vectors drawn at set-up
  and grouped by cell: :math:`E\{x \mid q\}` is the cell's pool mean, :math:`x'` a uniformly chosen pool
  vector of the cell (the empirical posterior; exact as the pool grows), :math:`D` the pool's distortion.
  A cell the pool never reached decodes to the quantizer's own reconstruction.

``measure = "perception"`` scores the curve by the ``w2`` metric (:class:`hwsim.metrics.W2`, batch
means) instead of the sweep's metric, so one sweep holds both the distortion and the perception curves.

- ``rdp_bound`` (closed form): eq. (15) for the Lloyd-Max quantizer at ``rate`` bits (``limit =
  "lloyd_max"``) or eq. (16) with :math:`\Delta(R) = 2^{-2R}` (``limit = "shannon"``); with
  ``measure = "perception"`` the perception the decoder reaches, :math:`\min(P, D)`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from hwsim import _checks
from hwsim.components import register

from .estimation import Estimator
from .vq import VQ, Method, _check_gaussian

#: What a curve of the ``rdp`` receivers reports (the values of ``measure``).
MEASURES = ("distortion", "perception")
#: The distortion-rate function behind ``rdp_bound`` (the values of ``limit``).
LIMITS = ("lloyd_max", "shannon")
#: Most pool vectors (a guard against configs that exhaust memory).
MAX_POOL = 4_000_000


def _check_common(params: dict) -> None:
    """The checks the registry does not make (``measure`` is one of :data:`MEASURES` by its declaration)."""
    P = params["perception"]
    if isinstance(P, (int, float)) and not isinstance(P, bool) and P < 0:
        raise ValueError(f"receiver.perception must be >= 0 (a squared Wasserstein-2 distance per dimension; "
                         f"0 asks for perfect realism), got {P}")
    _checks.real("receiver.perception", P, nonnegative=True)


def _w2_metric():
    from hwsim.metrics import W2

    return W2()


@register("receiver", "rdp")
class RDP(VQ):
    r"""A quantizer of the project (``method``, as the ``vq`` receiver) with the perception-aware decoder
    for ``perception`` :math:`P`; see the module doc. ``pool``: source vectors of the empirical
    posterior (methods other than exact Lloyd-Max)."""

    def __init__(self, *, method: Method = "lloyd_max", rate: float = 1.0, lattice: str = "auto",
                 train_samples: int = 20_000, stages: int = 2, beam: int = 4, steps: int = 3000, iters: int = 100,
                 perception: float = 0.0, measure: Literal["distortion", "perception"] = "distortion",
                 pool: int = 400_000):
        super().__init__(method=method, rate=rate, lattice=lattice, train_samples=train_samples, stages=stages,
                         beam=beam, steps=steps, iters=iters)
        _check_common(self.params)
        _checks.integer("receiver.pool", self.params["pool"], minimum=1, maximum=MAX_POOL)
        self.decoder = None

    def check_link(self, link) -> None:
        super().check_link(link)
        if self.params["pool"] * link.source.n > MAX_POOL * 4:
            raise ValueError(f"receiver.pool x source.dim = {self.params['pool'] * link.source.n} values, more than "
                             f"the limit of {MAX_POOL * 4}")

    def measured_by(self, link):
        """The ``w2`` metric for ``measure = "perception"``, else None (the link's metric)."""
        return _w2_metric() if self.params["measure"] == "perception" else None

    def prepare(self, link, snr_db, rng) -> None:
        super().prepare(link, snr_db, rng)
        src = link.source
        if self.params["method"] == "lloyd_max" and src.params["rho"] == 0.0:
            from hwsim.designs.scalar import lloyd_max

            self.decoder = ScalarPosterior(lloyd_max(int(round(self.params["rate"]))), self.params["perception"])
        else:
            self.decoder = PoolPosterior(self.quantizer, src.draw(self.params["pool"], rng), self.params["perception"])

    def estimate(self, x, rng) -> np.ndarray:
        return self.decoder.decode(x, rng)

    @property
    def alpha(self) -> float:
        """The decoder's weight on the MMSE reconstruction (after :meth:`prepare`)."""
        return self.decoder.alpha


class ScalarPosterior:
    r"""The perception-aware decoder of a scalar threshold table applied to every entry of an
    i.i.d. :math:`\mathcal N(0, 1)` source whose levels are the cells' centroids (Lloyd-Max).

    ``decode(x, rng)``: :math:`\alpha c_q + (1-\alpha) x'` with :math:`x'` drawn from
    :math:`\mathcal N(0, 1)` truncated to the cell :math:`[t_{q-1}, t_q)` by inversion (in the upper
    tail through the survival function, so far cells keep their precision).
    """

    def __init__(self, adc, perception: float):
        from hwsim.designs.rdp import interpolation_weight
        from hwsim.designs.scalar import gaussian_mse

        self.thresholds = np.asarray(adc.thresholds, dtype=np.float64)
        self.levels = np.asarray(adc.levels, dtype=np.float64)
        self.edges = np.concatenate([[-np.inf], self.thresholds, [np.inf]])
        self.D = float(gaussian_mse(adc))
        self.alpha = float(interpolation_weight(self.D, perception))

    def cells(self, x: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.thresholds, x, side="right")

    def sample(self, q: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One draw of :math:`x \\mid x \\in \\text{cell } q` per entry of ``q`` (int array, any shape)."""
        from scipy.special import ndtr, ndtri

        a, b = self.edges[q], self.edges[q + 1]
        u = rng.random(q.shape)
        upper = a >= 0
        lo = np.where(upper, ndtr(-b), ndtr(a))        # probability below the cell (mirrored in the upper tail)
        hi = np.where(upper, ndtr(-a), ndtr(b))
        v = ndtri(lo + u * (hi - lo))
        return np.clip(np.where(upper, -v, v), a, b)

    def decode(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        q = self.cells(x)
        mmse = self.levels[q]
        if self.alpha >= 1.0:
            return mmse
        return self.alpha * mmse + (1.0 - self.alpha) * self.sample(q, rng)


class PoolPosterior:
    r"""The perception-aware decoder of any vector quantizer from an empirical posterior: ``pool`` [N, n]
    source vectors grouped by cell (the quantizer's index rows); see the module doc."""

    def __init__(self, quantizer, pool: np.ndarray, perception: float):
        from hwsim.designs.rdp import interpolation_weight

        self.quantizer = quantizer
        idx, _ = quantizer.quantize(pool)
        idx = np.asarray(idx, dtype=np.int64).reshape(pool.shape[0], -1)
        self.radix = idx.max(axis=0) + 1
        keys = self._keys(idx)
        order = np.argsort(keys, kind="stable")
        self.keys, start, counts = np.unique(keys[order], return_index=True, return_counts=True)
        self.pool, self.start, self.counts = pool[order], start, counts
        sums = np.add.reduceat(self.pool, start, axis=0)
        self.means = sums / counts[:, None]
        cell_of = np.repeat(np.arange(self.keys.size), counts)
        self.D = float(np.mean((self.pool - self.means[cell_of]) ** 2))
        self.alpha = float(interpolation_weight(self.D, perception))

    def _keys(self, idx: np.ndarray) -> np.ndarray:
        """One integer per index row (mixed radix over the pool's index ranges; -1: outside them)."""
        key = np.zeros(idx.shape[0], dtype=np.int64)
        outside = np.zeros(idx.shape[0], dtype=bool)
        scale = 1
        for m in range(idx.shape[1]):
            outside |= idx[:, m] >= self.radix[m]
            key += np.minimum(idx[:, m], self.radix[m] - 1) * scale
            scale *= int(self.radix[m])
        key[outside] = -1
        return key

    def decode(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        idx, recon = self.quantizer.quantize(x)
        keys = self._keys(np.asarray(idx, dtype=np.int64).reshape(x.shape[0], -1))
        pos = np.clip(np.searchsorted(self.keys, keys), 0, self.keys.size - 1)
        seen = self.keys[pos] == keys
        out = np.array(recon, dtype=np.float64, copy=True)
        c = pos[seen]
        mmse = self.means[c]
        if self.alpha < 1.0:
            pick = self.start[c] + np.floor(rng.random(c.size) * self.counts[c]).astype(np.int64)
            mmse = self.alpha * mmse + (1.0 - self.alpha) * self.pool[pick]
        out[seen] = mmse
        return out


@register("receiver", "rdp_bound")
class RDPBound(Estimator):
    """Eq. (15) (``limit = "lloyd_max"``: the ``rate``-bit Lloyd-Max quantizer's MSE as D(R)) or eq. (16)
    (``limit = "shannon"``: :math:`\\Delta(R) = 2^{-2R}`) at perception ``perception`` (closed form); with
    ``measure = "perception"`` the perception the decoder reaches, :math:`\\min(P, D)`."""

    def __init__(self, *, rate: float = 1.0, perception: float = 0.0,
                 measure: Literal["distortion", "perception"] = "distortion",
                 limit: Literal["lloyd_max", "shannon"] = "lloyd_max"):
        super().__init__()  # the registry has checked the values (measure, limit one of MEASURES, LIMITS)
        _check_common(self.params)
        _checks.real("receiver.rate", self.params["rate"], positive=True)
        if self.params["limit"] == "lloyd_max":
            bits = self.params["rate"]
            if abs(bits - round(bits)) > 1e-9 or not 1 <= round(bits) <= 8:
                raise ValueError(f"receiver.rate must be a whole number of bits in 1..8 for limit = 'lloyd_max', "
                                 f"got {bits}")

    def check_link(self, link) -> None:
        super().check_link(link)
        _check_gaussian(link, "rdp_bound")
        cov = link.source.covariance()
        if not np.array_equal(cov, np.eye(len(cov))):
            raise ValueError("receiver.type = 'rdp_bound' is the bound of an i.i.d. N(0, 1) source (source.rho = 0), "
                             f"got a source of covariance {np.round(cov, 3).tolist()}")

    def distortion_rate(self) -> float:
        """D(R): the Lloyd-Max MSE or :math:`2^{-2R}`."""
        if self.params["limit"] == "shannon":
            return 2.0 ** (-2.0 * self.params["rate"])
        from hwsim.designs.scalar import gaussian_mse, lloyd_max

        return float(gaussian_mse(lloyd_max(int(round(self.params["rate"])))))

    def exact_value(self, link) -> float:
        from hwsim.designs.rdp import achieved_perception, distortion_perception

        D, P = self.distortion_rate(), self.params["perception"]
        if self.params["measure"] == "perception":
            return float(achieved_perception(D, P))
        return float(distortion_perception(D, P))


__all__ = ["MEASURES", "LIMITS", "PoolPosterior", "RDP", "RDPBound", "ScalarPosterior"]
