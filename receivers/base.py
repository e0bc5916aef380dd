"""What a detector sees and what it returns: :class:`Observation`, :class:`Decision`, :class:`Detector`.

Complex baseband, block fading: ``F`` frames of ``L`` samples, each frame with its own channel.
Adding a detector is one subclass of :class:`Detector` registered with
``@hwsim.components.register("receiver", NAME)``; nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim.hooks import ReceiverHooks


@dataclass
class Observation:
    r"""One batch of received frames as the receiver knows them.

    A real-valued link (Shlezinger and Eldar's model, ``channel.real``) hands real ``r`` and ``H`` and
    :math:`N_0` per real sample; its converter fields have no ``_im`` part.

    Attributes
    ----------
    r : complex [F, L, N]
        Receiver input: the converters' reconstructions, or the unquantized signal.
    H : complex [F, N, K]
        The channel the receiver uses (after any analog front end).
    noise_var : float
        :math:`N_0`, the noise variance per complex sample at the converters' input
        (white; a combiner's colouring is folded into ``noise_cov``).
    constellation : hwsim.channels.Constellation
    adc : hwsim.converters.adc.ThresholdADC or None
        The real table applied to I and Q of every antenna, designed for a unit-variance input
        (None: unquantized).
    scale : float [F, N] or None
        AGC scale :math:`\alpha` per antenna and frame: ``r = alpha * Q(y / alpha)`` per axis.
    lower_re, upper_re, lower_im, upper_im : float [F, L, N] or None
        The cell of each real part of ``y`` the sample fell in (already times ``alpha``;
        +-inf for the outer cells), for detectors that use the exact quantized likelihood.
    noise_cov : complex [N, N] or [F, N, N] or None
        Noise covariance when it is not :math:`N_0 I` (a combiner in front of the converters).
    power : float [F, N] or None
        The expected power :math:`E|y_i|^2` of each converter input per frame that the link states (what
        the bank's ``agc = "ideal"`` sets its scale from; :mod:`hwsim.converters.banks`).
    fixed_channel : bool
        Every frame has the same ``H`` (a deterministic channel known exactly): a detector may
        build one filter or likelihood table from ``H[0]`` for the whole batch.
    """

    r: np.ndarray
    H: np.ndarray
    noise_var: float
    constellation: object
    adc: object = None
    scale: np.ndarray | None = None
    lower_re: np.ndarray | None = None
    upper_re: np.ndarray | None = None
    lower_im: np.ndarray | None = None
    upper_im: np.ndarray | None = None
    noise_cov: np.ndarray | None = None
    fixed_channel: bool = False
    power: np.ndarray | None = None

    @property
    def quantized(self) -> bool:
        return self.adc is not None

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(F, L, N, K)."""
        f, l, n = self.r.shape
        return f, l, n, self.H.shape[2]


@dataclass
class Decision:
    """Detector output: symbol indices int64 [F, L, K] and optional max-log LLRs float [F, L, K, bits]."""

    indices: np.ndarray
    llr: np.ndarray | None = None


class Detector(ReceiverHooks):
    """Base of every detector: ``detect(obs) -> Decision``.

    Its hooks and what it says of itself (which links it serves, its set-up, ``fused_link``, where
    its errors lie for importance sampling: ``error_directions``) are declared, with their defaults,
    by :class:`hwsim.hooks.ReceiverHooks`.
    """

    def detect(self, obs: Observation) -> Decision:  # pragma: no cover - interface
        raise NotImplementedError


class SolverCounts:
    """What an iterative detector counts of its solves: ``solves`` problems solved and ``unconverged`` of them that
    reached ``receiver.iterations`` before ``receiver.tol`` (cumulative over its calls), reported to a sweep by
    :meth:`solver_counts` and warned of by :meth:`count_solves`. A detector mixes it in beside :class:`Detector`
    and has ``iterations`` and ``tol`` parameters."""

    solves = 0
    unconverged = 0

    def solver_counts(self) -> tuple[int, int]:
        """``(solves, unconverged)``: what a sweep records per point (columns of results.csv)."""
        return self.solves, self.unconverged

    def count_solves(self, bad: int, total: int, what: str, stacklevel: int = 3) -> None:
        """Add one call's ``total`` problems (``what``, e.g. "symbol detections (channel uses)"), ``bad`` of them
        unconverged, with a :class:`RuntimeWarning` naming the count when any is."""
        import warnings

        self.solves += int(total)
        self.unconverged += int(bad)
        if bad:
            warnings.warn(f"receiver.type = {self.name!r}: {bad} of {total} {what} did not converge within "
                          f"receiver.iterations = {self.params['iterations']} (receiver.tol = {self.params['tol']}); "
                          f"their last iterate is used", RuntimeWarning, stacklevel=stacklevel + 1)
