r"""Pilot-based MIMO channel estimation model (Shlezinger and Eldar, eq. (6)).

.. math::  y = \sqrt{P}\,(\Phi \otimes I_{n_t})\, h + w,

with :math:`h \in \mathbb C^{n_u n_t}` and :math:`w \in \mathbb C^{\tau_p n_t}` i.i.d.
zero-mean unit-variance circular complex Gaussian, and pilots :math:`\Phi` the first
``n_u`` columns of the (unnormalised) :math:`\tau_p \times \tau_p` DFT matrix, so that
:math:`\Phi^H \Phi = \tau_p I`. Real form: :math:`x = [\mathrm{Re}\,y; \mathrm{Im}\,y]`
(``n = 2 tau_p n_t``), :math:`s = [\mathrm{Re}\,h; \mathrm{Im}\,h]` (``k = 2 n_u n_t``), and
:math:`x = A s + w_r` with :math:`A = \sqrt P\,[\mathrm{Re}\,B, -\mathrm{Im}\,B; \mathrm{Im}\,B, \mathrm{Re}\,B]`,
:math:`B = \Phi \otimes I_{n_t}`; every real entry of ``s`` and ``w_r`` has variance 1/2.
The average MMSE per real entry is :math:`1/(2(1 + P\tau_p))`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim import _checks

#: The paper's SNR-uncertainty range: P uniform over [1, 10] per realization.
SNR_UNCERTAINTY_RANGE = (1.0, 10.0)


def dft_pilots(tau_p: int, n_u: int) -> np.ndarray:
    """First ``n_u`` columns of the ``tau_p x tau_p`` DFT matrix (complex, [tau_p, n_u])."""
    m, u = np.indices((tau_p, n_u))
    return np.exp(-2j * np.pi * m * u / tau_p)


def complex_to_real_matrix(B) -> np.ndarray:
    """Real form ``[[Re B, -Im B], [Im B, Re B]]`` of complex matrices acting on ``[Re; Im]`` vectors.

    ``B`` is [..., m, k]; the result is [..., 2m, 2k].
    """
    B = np.asarray(B)
    top = np.concatenate([B.real, -B.imag], axis=-1)
    bottom = np.concatenate([B.imag, B.real], axis=-1)
    return np.concatenate([top, bottom], axis=-2)


@dataclass(frozen=True)
class SecondOrderStats:
    r"""Second-order statistics of the real model.

    Attributes
    ----------
    sigma_s : [k, k]   covariance of s
    sigma_x : [n, n]   covariance of x
    sigma_sx : [k, n]  cross-covariance E{s x^T}
    gamma : [k, n]     LMMSE matrix :math:`\Gamma = \Sigma_{sx}\Sigma_x^{-1}`
    mmse : float       average (per real entry) LMMSE error; the MMSE when P is fixed
    """

    sigma_s: np.ndarray
    sigma_x: np.ndarray
    sigma_sx: np.ndarray
    gamma: np.ndarray
    mmse: float


class PilotChannel:
    """Sampler and statistics for eq. (6).

    Parameters
    ----------
    n_t, n_u, tau_p : int
        Base-station antennas, users, pilot length (``tau_p >= n_u``).
    P : float
        SNR (linear, > 0), the paper's 4.
    snr_uncertainty : bool
        If True, every realization draws its own P uniformly over [1, 10]
        (the paper's SNR-uncertainty training set); ``P`` is then ignored by :meth:`sample`.
    """

    def __init__(self, n_t: int = 10, n_u: int = 4, tau_p: int = 12, P: float = 4.0, *,
                 snr_uncertainty: bool = False):
        self.n_t = _checks.integer("n_t", n_t, minimum=1)
        self.n_u = _checks.integer("n_u", n_u, minimum=1)
        self.tau_p = _checks.integer("tau_p", tau_p, minimum=1)
        if self.tau_p < self.n_u:
            raise ValueError(f"tau_p must be >= n_u = {self.n_u} for orthogonal pilots, got {self.tau_p}")
        self.P = _checks.real("P", P, positive=True)
        self.snr_uncertainty = bool(snr_uncertainty)
        self.pilots = dft_pilots(self.tau_p, self.n_u)
        # Unit-power real operator; x = sqrt(P) * A0 s + w.
        self.A0 = complex_to_real_matrix(np.kron(self.pilots, np.eye(self.n_t)))

    @property
    def n(self) -> int:
        """Real measurements, 2 tau_p n_t."""
        return self.A0.shape[0]

    @property
    def k(self) -> int:
        """Real unknowns, 2 n_u n_t."""
        return self.A0.shape[1]

    def sample(self, batch: int, rng: np.random.Generator):
        """Draw ``batch`` realizations.

        Returns
        -------
        s : [batch, k], x : [batch, n], P : [batch] (the SNR each realization used)
        """
        _checks.generator("rng", rng)
        batch = _checks.integer("batch", batch, minimum=1)
        if self.snr_uncertainty:
            P = rng.uniform(*SNR_UNCERTAINTY_RANGE, size=batch)
        else:
            P = np.full(batch, self.P)
        s = np.sqrt(0.5) * rng.standard_normal((batch, self.k))
        x = np.sqrt(P)[:, None] * (s @ self.A0.T) + np.sqrt(0.5) * rng.standard_normal((batch, self.n))
        return s, x, P

    def stats(self) -> SecondOrderStats:
        """Second-order statistics (with SNR uncertainty: moments averaged over P ~ U[1, 10])."""
        if self.snr_uncertainty:
            lo, hi = SNR_UNCERTAINTY_RANGE
            mean_P = (lo + hi) / 2
            mean_sqrt_P = (2.0 / 3.0) * (hi**1.5 - lo**1.5) / (hi - lo)
        else:
            mean_P, mean_sqrt_P = self.P, np.sqrt(self.P)
        sigma_s = 0.5 * np.eye(self.k)
        sigma_x = 0.5 * mean_P * self.A0 @ self.A0.T + 0.5 * np.eye(self.n)
        sigma_sx = 0.5 * mean_sqrt_P * self.A0.T
        gamma = np.linalg.solve(sigma_x, sigma_sx.T).T
        mmse = float(np.trace(sigma_s - gamma @ sigma_sx.T) / self.k)
        return SecondOrderStats(sigma_s, sigma_x, sigma_sx, gamma, mmse)

    def mmse_closed_form(self) -> float:
        """The paper's average MMSE 1/(2(1 + P tau_p)) (fixed P)."""
        return 1.0 / (2.0 * (1.0 + self.P * self.tau_p))

    def __repr__(self) -> str:
        return (f"PilotChannel(n_t={self.n_t}, n_u={self.n_u}, tau_p={self.tau_p}, P={self.P:g}, "
                f"snr_uncertainty={self.snr_uncertainty})")


# ---- pipeline component (hwsim.pipeline): the channel-estimation task of Shlezinger and Eldar Sec. 4.1 ------------

from hwsim.components import register  # noqa: E402  (kept beside the component it registers)
from hwsim.hooks import SourceHooks  # noqa: E402

@register("source", "pilots")
class Pilots(SourceHooks):
    r"""The unknown is the channel: :math:`s` = the real decomposition of vec(H), :math:`\mathcal N(0, I/2)`,
    measured through ``tau_p`` DFT pilots at SNR ``P`` (Shlezinger and Eldar eq. (6), :class:`PilotChannel`):
    :math:`x = \sqrt P A_0 s + w`, ``n = 2 tau_p antennas`` measurements, ``k = 2 users antennas`` unknowns.

    An estimation link: its receiver is an estimator, its metric ``mse``; the source draws the
    channel and the measurements itself (the link has no ``[channel]`` stage and no ``snr_db``).

    Parameters
    ----------
    antennas : int
        Base-station antennas (the paper's :math:`n_t`).
    users : int
        Users (:math:`n_u`).
    tau_p : int
        Pilot length, ``tau_p >= users`` (orthogonal pilots).
    P : float
        SNR (linear, > 0), the paper's 4.
    """

    task = "estimation"
    #: Size bounds checked before anything is allocated (the designs hold n x n matrices).
    LIMITS = {"antennas": 1024, "users": 1024, "tau_p": 1024, "n": 4096, "k": 4096}

    @classmethod
    def describe(cls, params: dict) -> str:
        return f"n_t={params['antennas']}, n_u={params['users']}, tau_p={params['tau_p']}, P={params['P']:g}"

    def __init__(self, *, antennas: int = 10, users: int = 4, tau_p: int = 12, P: float = 4.0):
        p = self.params
        for key in ("antennas", "users", "tau_p"):
            _checks.integer(f"source.{key}", p[key], minimum=1, maximum=self.LIMITS[key])
        n, k = 2 * p["tau_p"] * p["antennas"], 2 * p["users"] * p["antennas"]
        for what, value in (("n", n), ("k", k)):
            if value > self.LIMITS[what]:
                raise ValueError(f"source: {value} real {'measurements' if what == 'n' else 'unknowns'} is more than "
                                 f"the limit of {self.LIMITS[what]} (hwsim.channels.pilots.Pilots.LIMITS[{what!r}], "
                                 "a guard against configs that exhaust memory)")
        if p["tau_p"] < p["users"]:
            raise ValueError(f"source.tau_p must be >= source.users = {p['users']} (orthogonal pilots), "
                             f"got {p['tau_p']}")
        _checks.real("source.P", p["P"], positive=True)
        self.users = p["users"]
        self.channel = self.pilot_channel()

    def pilot_channel(self, *, P: float | None = None, snr_uncertainty: bool = False) -> PilotChannel:
        """The measurement model at SNR ``P`` (default the source's), optionally with the paper's SNR uncertainty."""
        p = self.params
        return PilotChannel(p["antennas"], p["users"], p["tau_p"], p["P"] if P is None else P,
                            snr_uncertainty=snr_uncertainty)

    @property
    def n(self) -> int:
        return self.channel.n

    @property
    def k(self) -> int:
        return self.channel.k

    def sample(self, batch: int, rng: np.random.Generator):
        """(unknowns s [batch, k], measurements x [batch, n])."""
        s, x, _ = self.channel.sample(batch, rng)
        return s, x
