r"""Importance sampling of rare error events on links whose noise is Gaussian.

At BER :math:`10^{-9}` plain Monte Carlo needs about :math:`10^{11}` trials for a 10% interval.
Importance sampling draws the noise from a law :math:`q` that makes errors common and weights
each trial by the likelihood ratio :math:`w = p(n)/q(n)`, so that :math:`E_q[w\,e] = E_p[e]`
(Bucklew, *Introduction to Rare Event Simulation*, 2004; Smith, Shafi and Gao, "Quick
simulation: a review of importance sampling techniques in communications systems", 1997).

**The biased law: a defensive mixture of mean translations.** For a sent symbol vector
:math:`s` and channel :math:`H`, an error event is a competing vector :math:`s' = s + d`; the
noise that makes it likely points from :math:`Hs` to the midpoint of :math:`Hs` and
:math:`Hs'`, :math:`\mu_d = H d / 2` (the decision boundary of the unquantized ML detector
between the two). The noise is drawn from

.. math:: q(n) = \alpha\, \phi(n) + (1 - \alpha) \sum_d \beta_d\, \phi(n - \mu_d),
          \qquad \beta_d \propto Q(\|\mu_d\| / \sigma),

with :math:`\phi` the true noise density (per real dimension variance :math:`\sigma^2`) and
:math:`\beta_d` the events' pairwise error probabilities, so the likely events get the draws.
The events: every competing vector when there are at most :data:`MAX_EVENTS` of them (Shlezinger and Eldar's
12 x 4 BPSK system has 15), else each user's moves to its nearest constellation neighbours.
A linear detector (``directions = "linear"``) decides user :math:`k` from :math:`w_k^H y`, so its
boundary for a move :math:`\delta` of user :math:`k` is nearest along :math:`w_k`, not along
:math:`h_k`; there the events are the single-user moves with the minimum-norm translations
:math:`\mu = a_k \delta / 2`, :math:`a_k = w_k (w_k^H h_k) / \|w_k\|^2`, :math:`w_k` the LMMSE
filter of the true channel (for ML, :math:`a_k = h_k`).
The weight is exact and bounded,

.. math:: w(n) = \Big(\alpha + (1-\alpha) \sum_d \beta_d\,
          e^{\langle \mu_d, n\rangle / \sigma^2 - \|\mu_d\|^2 / 2\sigma^2}\Big)^{-1} \le 1/\alpha,

which is why the mixture keeps the plain law as a component (Hesterberg's defensive importance
sampling, 1995): whatever the receiver does (quantization, a suboptimal detector, errors no event
anticipated), the estimator is unbiased and its variance is at most :math:`1/\alpha` times that of
plain Monte Carlo, so the central limit theorem applies to the weighted trials. Only the noise is
biased: converters, dither, CSI errors and the detector run exactly as in the plain link.

**The interval.** The weighted error totals of independent clusters (frames that share a channel
draw, or single channel uses) give the cluster-robust variance of :mod:`hwsim.engine.montecarlo`;
the interval is Wilson's at the effective sample size :math:`n_\mathrm{eff} = \hat p(1-\hat p)
/ \widehat{\mathrm{Var}}(\hat p)` (the plain trials that would give the same variance, the
Korn-Graubard construction that clustered rates already use), i.e. the CLT on the weights with
an effective sample size. With no error observed the upper end is the Clopper-Pearson bound of
the clusters that held a draw from the plain component (one such draw per cluster is an
independent trial whose error probability is at least the BER).

**Diagnostics.** ``ess`` is Kish's effective sample size of the error contributions,
:math:`(\sum_i w_i e_i)^2 / \sum_i (w_i e_i)^2` over clusters: the number of equally weighted error
events the estimate is worth (about the error count for plain Monte Carlo). A point stops on its
interval only once :data:`MIN_HITS` clusters held errors and the ESS is at least :data:`MIN_ESS`.
A point that ends with errors but an ESS below :data:`MIN_ESS` -- the ESS collapsed although
:data:`DEGENERATE_HITS` clusters held errors (a few trials with large weights carry the estimate),
or ``max_samples`` came first (a small budget: at 30 dB one effective error can carry an estimate
that is off by orders of magnitude, with an interval that looks tight), or the weighted errors are
too small to square in floating point (below about 1e-154, so the spread is unknown) -- has no
honest CLT interval: the sampler warns and the point is re-run with plain Monte Carlo, whose
``stop`` says why. The mean weight, which must be 1, is checked too.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

#: Share of the mixture drawn from the true noise law (the defensive component, :math:`\alpha`).
DEFENSIVE = 0.1
#: Most competing symbol vectors used as events (else the users' nearest-neighbour moves).
MAX_EVENTS = 255
#: Error-carrying clusters an importance-sampled point needs before a rule may stop it.
MIN_HITS = 20
#: Kish's ESS of the error contributions a point needs before a rule may stop it.
MIN_ESS = 30.0
#: Error-carrying clusters after which an ESS still below MIN_ESS means the weights degenerated.
DEGENERATE_HITS = 1000
#: Relative half-width an importance-sampled point stops at when the rule sets none.
DEFAULT_REL_HALFWIDTH = 0.1


class Weighted(NamedTuple):
    """Counts of one importance-sampled link call (the :class:`~hwsim.tally.Tally`
    fields, with weighted errors, plus what the diagnostics need).

    Attributes
    ----------
    total, trials, clusters, cluster_sq
        As in a Tally, with every trial's errors multiplied by its weight.
    hits : int
        Clusters with at least one error.
    weight_sum, weight_sq : float
        Sum of the samples' weights and of their squares.
    samples : int
        Channel uses (each has one weight).
    plain_clusters : int
        Clusters with at least one channel use drawn from the plain component.
    """

    total: float
    trials: int
    clusters: int
    cluster_sq: float
    hits: int
    weight_sum: float
    weight_sq: float
    samples: int
    plain_clusters: int


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    top = np.max(a, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    return np.log(np.sum(np.exp(a - top), axis=axis)) + np.squeeze(top, axis=axis)


class NoiseBias:
    r"""The defensive mixture of mean translations for one link (see the module doc).

    Parameters
    ----------
    points : ndarray
        The constellation's points (complex; BPSK has real ones).
    users : int
        Transmitting users K.
    real : bool
        The link is real (Shlezinger and Eldar's model): real symbols, real noise of variance :math:`N_0`.
    defensive : float
        :math:`\alpha`, the share of plain draws, in (0, 1).
    directions : str
        ``"ml"`` (toward the ML detector's boundaries) or ``"linear"`` (toward a linear detector's).
    """

    def __init__(self, points, users: int, real: bool, defensive: float = DEFENSIVE, directions: str = "ml"):
        if not 0.0 < defensive < 1.0:
            raise ValueError(f"defensive must lie in (0, 1), got {defensive}")
        if directions not in ("ml", "linear"):
            raise ValueError(f"directions must be 'ml' or 'linear', got {directions!r}")
        self.directions = directions
        points = np.asarray(points)
        self.real = bool(real)
        self.points = points.real.astype(np.float64) if self.real else points.astype(np.complex128)
        self.users = int(users)
        self.defensive = float(defensive)
        m = self.points.size
        self.exhaustive = directions == "ml" and m ** self.users - 1 <= MAX_EVENTS
        if self.exhaustive:  # every symbol vector, [M^K, K]
            grids = np.meshgrid(*([self.points] * self.users), indexing="ij")
            self.vectors = np.stack([g.reshape(-1) for g in grids], axis=1)
        else:  # each point's nearest neighbours, padded with itself (masked out)
            dist = np.abs(self.points[:, None] - self.points[None, :])
            np.fill_diagonal(dist, np.inf)
            near = dist <= dist.min(axis=1, keepdims=True) * (1 + 1e-9)
            width = int(near.sum(axis=1).max())
            self.neighbours = np.tile(np.arange(m)[:, None], (1, width))
            for i in range(m):
                own = np.flatnonzero(near[i])
                self.neighbours[i, :own.size] = own

    def draw(self, idx: np.ndarray, s: np.ndarray, H: np.ndarray, noise_var: float, rng: np.random.Generator):
        r"""Biased noise and the weights :math:`p(n)/q(n)`.

        Parameters
        ----------
        idx : int array [F, L, K]
            Sent symbol indices.
        s : array [F, L, K]
            Sent symbols (real for a real link).
        H : array [F, N, K]
            The channel of each frame.
        noise_var : float
            :math:`N_0` (per real dimension :math:`N_0` on a real link, :math:`N_0/2` on a complex one).

        Returns
        -------
        noise : array [F, L, N]
        weights : float64 [F, L]
        plain : bool [F, L]
            The channel uses drawn from the plain component.
        """
        F, L, K = s.shape
        N = H.shape[1]
        v = noise_var if self.real else noise_var / 2  # per real dimension
        sigma = math.sqrt(v)
        # the events' translations mu = H d / 2 (single moves: a_k delta / 2) enter through r = H^H n (A^H n)
        if self.exhaustive:
            G = np.einsum("fnk,fnj->fkj", H.conj(), H)  # [F, K, K]
            d = self.vectors[None, None, :, :] - s[:, :, None, :]  # [F, L, E, K]
            norm2 = np.einsum("flek,fkj,flej->fle", d.conj(), G, d).real / 4  # ||mu||^2 = d^H G d / 4
            A = H
        else:
            A = H if self.directions == "ml" else _linear_directions(H, noise_var)
            nb = self.points[self.neighbours[idx]]  # [F, L, K, J]
            delta = nb - s[..., None]  # single-user moves, d = delta e_k
            akk = np.einsum("fnk,fnk->fk", A.conj(), A).real  # ||a_k||^2, [F, K]
            norm2 = (np.abs(delta) ** 2 * akk[:, None, :, None] / 4).reshape(F, L, -1)  # [F, L, K*J]
        valid = norm2 > 0
        E = norm2.shape[-1]
        # mixture weights beta_d ~ Q(||mu_d|| / sigma), in logs; invalid events (d = 0) get none
        from scipy import special  # here, not at import: the engine loads this module on every start

        log_q = np.where(valid, special.log_ndtr(-np.sqrt(np.where(valid, norm2, 1.0)) / sigma), -np.inf)
        log_beta = log_q - _logsumexp(log_q, axis=-1)[..., None] + math.log1p(-self.defensive)
        # choose each sample's component: 0 = plain, 1 + e = event e
        log_mix = np.concatenate([np.full((F, L, 1), math.log(self.defensive)), log_beta], axis=-1)
        cdf = np.cumsum(np.exp(log_mix), axis=-1)
        u = rng.random((F, L, 1))
        comp = np.minimum((cdf < u * cdf[..., -1:]).sum(axis=-1), E)  # [F, L]
        chosen = comp - 1
        take = chosen >= 0
        # the chosen events' translations mu = H d / 2, [F, L, N]
        if self.exhaustive:
            d_c = np.take_along_axis(d, np.maximum(chosen, 0)[..., None, None], axis=2)[:, :, 0, :]
        else:
            J = self.neighbours.shape[1]
            k_c = np.maximum(chosen, 0) // J
            delta_c = np.take_along_axis(delta.reshape(F, L, -1), np.maximum(chosen, 0)[..., None], axis=2)[..., 0]
            d_c = np.zeros((F, L, K), dtype=delta.dtype)
            np.put_along_axis(d_c, k_c[..., None], delta_c[..., None], axis=2)
        d_c = d_c * take[..., None]
        mu = np.einsum("fnk,flk->fln", A, d_c) / 2
        shape = (F, L, N)
        if self.real:
            noise = rng.standard_normal(shape) * sigma
        else:
            noise = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * sigma
        noise = noise + mu
        # log p(n)/phi(n - mu_d) for every event: <mu_d, n>/v - ||mu_d||^2 / 2v, with <mu_d, n> = Re(d^H H^H n)/2
        r = np.einsum("fnk,fln->flk", A.conj(), noise)  # [F, L, K]
        if self.exhaustive:
            inner = np.einsum("flek,flk->fle", d.conj(), r).real / 2
        else:
            inner = (delta.conj() * r[..., None]).real.reshape(F, L, -1) / 2
        log_ratio = np.where(valid, inner / v - norm2 / (2 * v), 0.0)
        log_qp = _logsumexp(np.concatenate([log_mix[..., :1], log_beta + log_ratio], axis=-1), axis=-1)
        weights = np.exp(-log_qp)
        return noise, weights, ~take

    def __repr__(self) -> str:
        events = "every competing vector" if self.exhaustive else "single-user neighbour moves"
        return (f"NoiseBias(users={self.users}, real={self.real}, defensive={self.defensive:g}, "
                f"directions={self.directions!r}, events={events!r})")


def _linear_directions(H: np.ndarray, noise_var: float) -> np.ndarray:
    r""":math:`a_k = w_k (w_k^H h_k) / \|w_k\|^2` for the LMMSE filters :math:`W = H (H^H H + N_0 I)^{-1}`, [F, N, K]."""
    K = H.shape[2]
    gram = np.einsum("fnk,fnj->fkj", H.conj(), H) + noise_var * np.eye(K)
    W = np.swapaxes(np.linalg.solve(gram, np.swapaxes(H, 1, 2).conj()), 1, 2).conj()  # H gram^-1 (gram Hermitian)
    gain = np.einsum("fnk,fnk->fk", W.conj(), H)
    return W * (gain / np.einsum("fnk,fnk->fk", W.conj(), W).real)[:, None, :]


def zero_error_upper(plain_clusters: int, confidence: float) -> float:
    """Upper end of the interval when no error was seen: the Clopper-Pearson bound of ``plain_clusters``
    error-free trials (the clusters that held a draw from the plain component), 1 with none."""
    if plain_clusters <= 0:
        return 1.0
    return float(-math.expm1(math.log((1 - confidence) / 2) / plain_clusters))


def mean_weight_check(weight_sum: float, weight_sq: float, samples: int, confidence: float = 0.999) -> str:
    """A warning when the mean weight (1 by construction) is off by more than its interval, else ""."""
    if samples < 2:
        return ""
    mean = weight_sum / samples
    var = max(weight_sq / samples - mean * mean, 0.0) / (samples - 1)
    from scipy.special import ndtri  # scipy.stats.norm.ppf is ndtri; scipy.stats costs most of a second to load

    half = float(ndtri(0.5 + confidence / 2)) * math.sqrt(var) + 1e-12
    if abs(mean - 1.0) > half:
        return f"the mean importance weight is {mean:.6f}, not 1 within {half:.2g}: the biased law is wrong"
    return ""
