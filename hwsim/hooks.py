"""What a component can do and say about itself: every hook and capability of every kind, declared once.

A link is a chain of stages (:data:`hwsim.components.KINDS`); each stage is a component of one kind,
and every kind has one base here that declares, with its one signature and its default, each hook the
pipeline and the other stages call on it. A stage never asks another which name it was given or which
class it is: it asks what that one can do (``link.adc.scalar_cells``: "do you give per-axis cells?",
``link.frontend.combines``: "do you mix the antennas?"), and a new component answers by overriding
the attribute or method here that describes it. The kinds' own bases derive from these
(:class:`hwsim.converters.banks.ConverterBank` from :class:`ConverterHooks`, the receivers'
:class:`hwsim.receivers.base.Detector` and :class:`hwsim.receivers.estimation.Estimator` from
:class:`ReceiverHooks`, ...), and :func:`hwsim.components.register` refuses a class of one kind that
does not derive from its kind's base here, so every hook the pipeline calls exists on every stage.

Hooks every stage has (:class:`StageHooks`), called by :class:`hwsim.pipeline.Pipeline`:

``check_link(link)``
    Refuse, before anything runs, a link this stage cannot serve (a clear ``ValueError`` naming the
    key and what is allowed).
``prepare(link, snr_db, rng)``
    Set the stage up for one point (a learned stage trains here); ``snr_db`` is None on an
    estimation link; ``rng`` is the point's set-up stream.
``replicas``
    How many independently prepared links a point averages (a learned receiver's ``trainings``).
``shared_key(link)``, ``shared_setup(link, folder, progress, say)``
    What a sweep computes once for all its points (a network every point shares): the key says
    which (None: nothing), the set-up computes it; the sweep hands every point's
    :meth:`~hwsim.pipeline.Pipeline.prepare` the results (its ``shared``), and the stage finds
    its own under its key in ``link.shared``.
"""

from __future__ import annotations

import math
from typing import Any

from .components import Component


class StageHooks(Component):
    """Hooks of every stage of a link (see the module's text)."""

    #: Independently prepared copies of the link a point averages.
    replicas: int = 1

    def check_link(self, link) -> None:
        """Refuse a link this stage cannot serve (``ValueError``); the default accepts every link."""

    def prepare(self, link, snr_db: float | None, rng) -> None:
        """Set up for one point (training, a filter designed once); the default has nothing to set up."""

    def shared_key(self, link) -> str | None:
        """The key of what the sweep computes once for every point of this stage (None: nothing)."""
        return None

    def shared_setup(self, link, folder, progress: bool = False, say=None) -> Any:
        """Compute the set-up named by :meth:`shared_key` (in the sweep's own process, before the points;
        ``folder``: the run's ``models/`` folder)."""
        raise NotImplementedError(f"{type(self).__name__} names a shared set-up but does not compute it")

    @classmethod
    def describe(cls, params: dict) -> str:
        """A few words for a figure's title: what this stage is with ``params`` (its resolved table, defaults
        filled, without ``type``), e.g. ``"N_r=8, i.i.d. Rayleigh"``; "" says nothing (an identity stage, or a
        component that does not describe itself). Called on the class: nothing is built."""
        return ""


class SourceHooks(StageHooks):
    """What a source says of the unknowns it draws."""

    #: ``"detection"`` (symbols sent over a channel) or ``"estimation"`` (the unknown is a vector or a
    #: channel the source draws itself, observed through its own model).
    task: str = "detection"
    #: The unknowns are jointly Gaussian with the known ``covariance()`` (a vector quantizer's bound
    #: and the Gaussian W2 distance need it).
    gaussian: bool = False
    #: The unknowns are sparse in a known dictionary (compressed sensing receivers need it).
    sparse: bool = False
    #: Sends a time-domain OFDM signal (a resource grid with its cyclic prefix) that a wideband channel
    #: carries, instead of one symbol vector per channel use.
    time_domain: bool = False
    #: The exact :math:`E\|x\|^2` of the unknown, where the source knows it (an NMSE's denominator);
    #: None when it does not.
    mean_energy: float | None = None

    @classmethod
    def information_bits(cls, params: dict) -> float | None:
        """Information bits per sent symbol of one user (bits per symbol times the code rate): what turns an
        SNR per symbol into :math:`E_b/N_0` (``[plot] x_axis = "ebno_db"``); None where the source sends no
        symbols (an estimation source)."""
        return None

    @classmethod
    def describe_scored(cls, params: dict, decoded: bool) -> str:
        """:meth:`~hwsim.hooks.StageHooks.describe` as a figure states it when its metric scores the decoded
        information bits (``decoded``) or the bits as sent, undecoded: a coded source names its code only where
        the code is decoded. The default: the same words either way."""
        return cls.describe(params)


class ChannelHooks(StageHooks):
    """What a channel says of the samples it gives."""

    #: Real-valued samples and channel (Shlezinger and Eldar's model) instead of complex baseband.
    real: bool = False
    #: A random channel, redrawn every frame (False: one fixed channel known exactly).
    random: bool = True
    #: Time-domain samples of a wideband (OFDM) link instead of one flat channel per frame.
    time_domain: bool = False

    @classmethod
    def snr_definition(cls, params: dict) -> str:
        r"""What ``snr_db`` means on this channel, for a figure's axis: unit-energy symbols and
        :math:`\mathcal{CN}(0, N_0)` noise per receive antenna by default; :math:`\mathcal N(0, \sigma^2)` per
        real dimension on a real channel."""
        return "SNR = 1/sigma^2 per real dimension" if cls.real else "SNR = 1/N0 per receive antenna"

    @classmethod
    def esn0_db(cls, snr_db: float, params: dict) -> float:
        r""":math:`E_s/N_0` in dB at ``snr_db`` (:meth:`snr_definition`): the SNR itself on a complex channel; on
        a real channel :math:`N_0 = 2\sigma^2` (the noise of a real dimension is :math:`N_0/2`), so
        :math:`E_s/N_0 = \mathrm{SNR} - 10\log_{10} 2`."""
        return float(snr_db) - (10 * math.log10(2.0) if cls.real else 0.0)

    def check_users(self, *, users: int) -> None:
        """Refuse a number of users this channel cannot carry; the default carries any."""

    def draw(self, n_frames: int, users: int, rng):
        """The channel of ``n_frames`` frames for ``users`` users, drawn from ``rng`` (flat: H [F, N, K])."""
        raise NotImplementedError(f"channel.type = {self.name!r} draws no channel")

    def receiver_csi(self, H, rng):
        """The channel as the receiver knows it: ``H`` itself (perfect CSI) by default; a channel with a CSI
        error (or a wideband channel's frequency response) says otherwise."""
        return H

    def frames_per_pass(self, source) -> int | None:
        """The most frames one pass of the link draws at once (a batch of more runs in passes, whose tallies
        add), or None: any batch in one pass (flat frames, which ``stopping.batch`` keeps small)."""
        return None

    def receive(self, s, H, snr_db: float, rng, noise=None):
        r"""The samples at the antennas of the sent signal ``s`` through the drawn channel ``H``, noise added.

        The default is the flat model, :math:`y = H s + n`: ``s`` [F, L, K] (real on a real channel), ``H``
        [F, N, K], ``y`` [F, L, N], the noise :math:`n` drawn from ``rng``, :math:`\mathcal{CN}(0, N_0)` per
        sample and antenna (:math:`\mathcal N(0, N_0)` on a real channel), :math:`N_0 = 10^{-\mathrm{SNR}/10}`,
        or the given ``noise`` [F, L, N] (importance sampling's biased draw). A wideband channel convolves the
        time-domain signal with its taps instead (:class:`hwsim.channels.ofdm.WidebandChannel`)."""
        import numpy as np

        y = np.matmul(s, np.swapaxes(H, 1, 2))  # [F, L, K] x [F, K, N]: one BLAS product per frame
        if noise is None:
            if not self.real and y.dtype == np.complex128:
                from hwsim.channels.noise import add_complex_noise

                # the real parts, then the imaginary parts, scaled by sqrt(N0 / 2): added in one pass
                return add_complex_noise(y, rng, np.sqrt(10.0 ** (-float(snr_db) / 10) / 2))
            shape = y.shape
            if self.real:
                noise = rng.standard_normal(shape)
                noise *= 10.0 ** (-float(snr_db) / 20)  # sigma = sqrt(N0), in place
            else:
                noise = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * np.sqrt(
                    10.0 ** (-float(snr_db) / 10) / 2)
        y += noise
        return y

    def expected_power(self, y, H, noise_var: float, noise_cov=None):
        r"""The power of each converter input per frame, float [F, N], that the link states to its converter
        bank (what ``adc.agc = "ideal"`` sets the full scale from; :mod:`hwsim.converters.banks`), for the
        samples ``y`` [F, L, N] at the converters, the channel ``H`` the receiver uses and the noise, both after
        the front end. The default is the flat model's expected power given the channel,
        :math:`P_i = \sum_k |H_{ik}|^2 + N_0` (unit-energy symbols; ``H`` [F, N, K]), with the diagonal of
        ``noise_cov`` ([N, N] or [F, N, N]) in place of :math:`N_0` where a front end colours the noise."""
        import numpy as np

        noise = np.real(np.diagonal(noise_cov, axis1=-2, axis2=-1)) if noise_cov is not None else noise_var
        return np.sum(np.abs(H) ** 2, axis=2) + noise


class FrontendHooks(StageHooks):
    """What an analog front end says of its output."""

    #: The output mixes the antennas (a combiner), so its noise is no longer white per converter.
    combines: bool = True

    @classmethod
    def describe(cls, params: dict) -> str:
        """The front end's type by default ("" for one that does not combine: the converters see the antennas)."""
        return f"{cls.name} front end" if cls.combines else ""


class ConverterHooks(StageHooks):
    """What a converter bank says of its output."""

    #: The bank quantizes (False: the unquantized reference, ``adc.type = "none"``).
    quantizes: bool = True
    #: The bank gives each real axis's cell (lower and upper edge, with its reconstruction), so a
    #: receiver can use the exact likelihood of the converter cells.
    scalar_cells: bool = False

    @classmethod
    def describe(cls, params: dict) -> str:
        """``"3-bit uniform ADCs"``-like words: the bits where the bank has them, the type, and a fixed gain."""
        if not cls.quantizes:
            return ""  # no converters of the link's own (a receiver may hold its own: its curve says so)
        bits = f"{params['bits']}-bit " if isinstance(params.get("bits"), int) and params["bits"] > 0 else ""
        fixed = f", fixed scale {params['scale']:g}" if params.get("agc") == "fixed" and "scale" in params else ""
        return f"{bits}{cls.name} ADCs{fixed}"

    @property
    def fixed_scale(self) -> float | None:
        """The full scale every converter uses when the bank's gain is fixed (not set by an AGC from
        the signal); None when the gain follows the signal."""
        return None


class ReceiverHooks(StageHooks):
    """What a receiver says of itself."""

    #: ``"detection"`` (decides symbols) or ``"estimation"`` (estimates an unknown vector).
    task: str = "detection"
    #: Works on real-valued links (``channel.real``).
    real_link: bool = False
    #: Trains for the point's SNR (the SNR is part of what it learns; a trained file names it).
    trains_at_snr: bool = False
    #: Where the receiver's errors lie, for importance sampling (:class:`hwsim.engine.importance.NoiseBias`):
    #: ``"ml"`` (toward competing symbol vectors) or ``"linear"`` (toward a linear filter's own boundaries).
    error_directions: str = "ml"
    #: An estimation receiver that redraws a random set-up every ``group`` realizations (0: never).
    group: int = 0
    #: Detects a wideband link from its time-domain samples (OFDM demodulation, estimation, equalisation
    #: and decoding) instead of one flat channel per frame.
    time_domain: bool = False

    def check_dimensions(self, *, users: int, inputs: int, constellation) -> None:
        """Refuse a link shape this receiver cannot detect (``inputs`` converter outputs); the default
        detects any."""

    #: Trains a model a file can hold (``hwsim train``, :meth:`train_model`).
    trainable: bool = False

    def train_model(self, link, snr_db=None, *, device: str = "cpu", progress: bool = False, seed: int | None = None):
        """The trained model a sweep of ``link`` would use (``hwsim train`` saves it), for a trainable receiver."""
        raise NotImplementedError(f"receiver.type = {self.name!r} trains nothing")

    def fused_link(self, link, snr_db: float):
        """A faster ``run(rng, batch)`` of the whole link for the same draws, or None (the generic path)."""
        return None

    def solver_counts(self) -> tuple[int, int] | None:
        """``(problems solved, problems that reached the iteration limit)`` so far, cumulative over this
        receiver's calls, for a receiver whose decisions come from an iterative solver; None (the default)
        for one without. The Monte Carlo engine records the difference over a point in the point's result
        (columns ``solves`` and ``unconverged`` of results.csv), so a solver that stopped short is never
        silent."""
        return None

    def measured_by(self, link):
        """The metric component this receiver's curve is scored by instead of the link's, or None."""
        return None

    def exact_value(self, link) -> float | None:
        """The point's value in closed form (a bound, a theory curve), or None: it is simulated."""
        return None


class MetricHooks(StageHooks):
    """What a metric says of what it scores."""

    #: ``"detection"`` (counts decision errors) or ``"estimation"`` (scores estimates).
    task: str = "detection"
    #: Scores bits (BER-like), so a receiver that counts bit errors itself may fuse the link.
    counts_bits: bool = False
    #: Scores laws per batch (:meth:`per_batch`) instead of realizations.
    per_batch_only: bool = False
    #: Scores the information bits after channel decoding (a coded link's block or bit errors): the source
    #: gives the information bits as the sent indices and the receiver decodes.
    scores_decoded: bool = False

    def per_batch(self, s, s_hat, source=None) -> float:
        """The score of one batch of unknowns ``s`` and estimates ``s_hat`` (a metric of laws)."""
        raise NotImplementedError(f"metric.type = {self.name!r} scores realizations, not batches")


#: The base each kind's components derive from.
BASES: dict[str, type] = {"source": SourceHooks, "channel": ChannelHooks, "frontend": FrontendHooks,
                          "adc": ConverterHooks, "receiver": ReceiverHooks, "metric": MetricHooks}

__all__ = ["BASES", "ChannelHooks", "ConverterHooks", "FrontendHooks", "MetricHooks", "ReceiverHooks",
           "SourceHooks", "StageHooks"]
