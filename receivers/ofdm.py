r"""Receivers of the wideband OFDM link (:mod:`hwsim.channels.ofdm`): channel estimation, LMMSE equalisation
and soft demapping on the resource grid of quantized time-domain samples, with Sionna's OFDM blocks.

The receiver is the last stage of the pipeline's one chain (:class:`hwsim.pipeline.Pipeline`): it takes the
observation of the converted time-domain samples (``r`` [S, T', N_r], the AGC ``scale`` [S, N_r], the
converter inputs' ``power`` [S, N_r] the channel states, the frequency response ``H`` [S, N_r, K, M] and
:math:`N_0`) and returns the decoded information bits [S, blocks per slot, k] (or the hard decisions on the
coded bits [S, 1, coded bits per slot] when the link's metric scores them before decoding, the uncoded
``ber``), in ``Decision.indices``, with the LLRs in ``Decision.llr``.

Bussgang model of the converters (per receive antenna :math:`i`, time domain): :math:`r_i[t] = g_i y_i[t] +
d_i[t]` with :math:`d_i` uncorrelated with :math:`y_i` (:meth:`OFDMLMMSE.bussgang`). Treating
:math:`d_i` as white over time and independent over antennas, the unitary FFT gives on every subcarrier

.. math:: R_i[m] / g_i = \sum_k H_{ik}[m] X_k[m] + W_i[m], \qquad
          E|W_i[m]|^2 = N_0 + \sigma_{d,i}^2 / g_i^2 =: \nu_i,

an AWGN model with a per-antenna noise variance. The receiver ``ofdm_lmmse`` works on :math:`R / g` with
:math:`\nu_i` (``bussgang = true``, the Bussgang-aware receiver) or on :math:`R` with :math:`N_0`
(``bussgang = false``, quantization-unaware), and picks its channel knowledge with ``csi``:

- ``perfect``: the true :math:`H_{ik}[m]` (a reference);
- ``ls``: Sionna's :class:`~sionna.phy.ofdm.LSChannelEstimator` on the Kronecker pilots with linear
  interpolation; with Hadamard training (``source.training = "hadamard"``) the LS estimate over the code
  on every used tone (:class:`TrainingEstimator`);
- ``blmmse``: Bussgang-aware LMMSE estimation (:class:`BussgangLMMSEEstimator`): the LS estimates of a
  user's pilot comb, averaged over the pilot symbols (the channel is static over a slot), filtered with the
  channel's exact frequency covariance (from its power-delay profile) and the per-antenna :math:`\nu_i`.
  It computes what Sionna's :class:`~sionna.phy.ofdm.LMMSEChannelEstimator` would with an all-ones time
  covariance, through one eigendecomposition per user and link, about ten times faster here. With Hadamard
  training the same filter acts on the LS estimates over the code (:class:`TrainingEstimator`).

Equalisation: Sionna's :class:`~sionna.phy.ofdm.LMMSEEqualizer` (per subcarrier, with the estimation error
variance and :math:`\nu_i`), then APP demapping (exact, not max-log) to LLRs (:class:`~sionna.phy.mapping.Demapper`).
The approach is that of Studer and Durisi, "Quantized massive MU-MIMO-OFDM uplink" (IEEE Trans. Commun.,
2016), with a per-antenna diagonal distortion model in place of their exact one-bit covariance.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from hwsim.components import register
from hwsim.hooks import ReceiverHooks

from .base import Decision

#: The channel knowledge of ``ofdm_lmmse`` (the values of ``csi``).
CSI_MODES = ("perfect", "ls", "blmmse")


@register("receiver", "ofdm_lmmse")
class OFDMLMMSE(ReceiverHooks):
    """LMMSE equaliser of an OFDM link with ``csi`` = perfect | ls | blmmse (see the module text)."""

    task = "detection"
    time_domain = True

    def __init__(self, *, csi: Literal["perfect", "ls", "blmmse"] = "blmmse", bussgang: bool = True):
        super().__init__()  # the registry has checked the values (csi one of CSI_MODES) and set self.params
        self.chain = None

    def check_dimensions(self, *, users: int, inputs: int, constellation) -> None:
        """Any number of users and antennas (LMMSE per subcarrier)."""

    def check_link(self, link) -> None:
        if not link.channel.time_domain:
            raise ValueError(f"receiver.type = {self.name!r} serves OFDM links (channel.type = \"tdl\" or "
                             f"\"rayleigh_taps\"), got channel.type = {link.channel.name!r}")
        self.bind(link)

    def prepare(self, link, snr_db, rng) -> None:
        """Bind the link (nothing is drawn or trained)."""
        self.bind(link)

    def bind(self, link) -> None:
        """Build the Sionna blocks for the link's chain (:class:`hwsim.channels.ofdm.OFDMChain`, once per link)
        and the converters' statistics (:func:`converter_statistics`)."""
        chain = link.source.bind(link)
        if chain is self.chain and self._bank is link.adc:
            return
        from sionna.phy.ofdm import LMMSEEqualizer, LSChannelEstimator

        from hwsim.channels.ofdm import PRECISION

        rg = chain.rg
        self.equalizer = LMMSEEqualizer(rg, chain.sm, precision=PRECISION)
        csi = self.params["csi"]
        self.estimator = None
        if csi != "perfect" and chain.source.training == "hadamard":
            self.estimator = TrainingEstimator(chain, csi)
        elif csi == "ls":
            self.estimator = LSChannelEstimator(rg, interpolation_type="lin", precision=PRECISION)
        elif csi == "blmmse":
            self.estimator = BussgangLMMSEEstimator(chain)
        self.stats = converter_statistics(link.adc)
        self.chain, self._bank = chain, link.adc

    _bank = None

    def detect(self, obs) -> Decision:
        """Demodulate, estimate, equalise, demap and (for a metric that scores decoded bits) decode one batch of
        slots (see the module text)."""
        import torch

        if self.chain is None:
            raise RuntimeError("the OFDM receiver is bound to its link when the link's stages are checked or "
                               "prepared: call Pipeline.check() or Pipeline.prepare(...) first")
        chain, src = self.chain, self.chain.source
        slots = obs.r.shape[0]
        r = np.ascontiguousarray(np.swapaxes(obs.r, 1, 2))                  # [S, N_r, T']
        y_rg = chain.demodulator(torch.from_numpy(r)[:, None])              # [S, 1, N_r, syms, fft]
        gain, no = self.bussgang(obs)                                       # [S, N_r] each
        llr = self.ofdm_llrs(obs.noise_var, y_rg, gain, no, obs.H)          # [S, K, D]
        D = src.blocks * src.n
        if not chain.decoded:
            hard = (llr[..., :D] > 0).numpy().astype(np.int8)
            return Decision(hard.reshape(slots, 1, -1), llr)
        blocks = llr[..., :D].reshape(slots, src.users, src.blocks, src.n)
        decoded = chain.decoder(blocks.float()).numpy()                         # [S, K, B, k]
        return Decision(decoded.reshape(slots, src.blocks_per_slot, src.k).astype(np.int8), llr)

    def bussgang(self, obs):
        r"""Per-antenna Bussgang gain :math:`g_i` and the noise-plus-distortion variance :math:`N_0 + \sigma_{d,i}^2 / g_i^2`
        of :math:`r_i / g_i` per subcarrier (distortion treated as white over time and independent over
        antennas), each float [S, N_r], from the observation's AGC ``scale`` and input ``power`` :math:`P_i`. For
        a table bank behind AGC scale :math:`\alpha_i`, with per-rail input standard deviation
        :math:`\sigma_i = \sqrt{P_i/2}/\alpha_i`: :math:`g_i = E[uQ(u)]/\sigma_i^2`,
        :math:`\sigma_{d,i}^2 = 2\alpha_i^2 (E[Q(u)^2] - g_i^2 \sigma_i^2)`, :math:`u \sim \mathcal N(0, \sigma_i^2)`;
        for another quantizing bank its gain and distortion calibrated at unit input power
        (:func:`converter_statistics`)."""
        power, n0 = obs.power, obs.noise_var
        if obs.adc is not None:  # a bank of one real table: its exact statistics at the rail's level
            from hwsim.designs.scalar import bussgang_gain, output_power

            scale = obs.scale
            sigma = np.sqrt(power / 2) / scale
            g = np.asarray(bussgang_gain(obs.adc, sigma))
            d = 2 * scale**2 * (np.asarray(output_power(obs.adc, sigma)) - g**2 * sigma**2)
        elif self.stats is None:  # unquantized
            return np.ones_like(power), np.full_like(power, n0)
        else:  # calibrated at unit input (ideal AGC): (gain, distortion per unit input power)
            g0, rho = self.stats
            g = np.full_like(power, g0)
            d = rho * power
        return g, n0 + np.maximum(d, 0.0) / g**2

    def ofdm_llrs(self, n0: float, y_rg, gain: np.ndarray, no: np.ndarray, H: np.ndarray):
        """LLRs of every data bit, torch float [S, K, D], from the resource grid ``y_rg`` [S, 1, N_r, syms, fft].

        ``n0``: :math:`N_0`; ``gain``, ``no``: per-antenna Bussgang gain and noise-plus-distortion variance
        [S, N_r]; ``H``: the true frequency response [S, N_r, K, M] (used by ``csi = "perfect"`` only).
        """
        import torch

        chain = self.chain

        if self.params["bussgang"]:
            y = y_rg / torch.from_numpy(gain)[:, None, :, None, None]
            nu = torch.from_numpy(no)[:, None, :]                             # [S, 1, N_r]
        else:
            y = y_rg
            nu = torch.full((y_rg.shape[0], 1, y_rg.shape[2]), n0, dtype=torch.float64)
        if self.estimator is None:
            syms = chain.rg.num_ofdm_symbols
            h = torch.from_numpy(H)[:, None, :, None, :, None, :].expand(-1, -1, -1, -1, -1, syms, -1)
            err = torch.zeros((), dtype=torch.float64)
        else:
            h, err = self.estimator(y, nu)
        x_hat, no_eff = self.equalizer(y, h, err, nu)                          # [S, 1, K, n_data]
        llr = chain.demapper(x_hat, no_eff)                                    # [S, 1, K, D]
        return llr[:, 0]


def converter_statistics(bank):
    """What the Bussgang model needs of a quantizing bank without one real table (a vector bank): its gain and
    distortion per unit input power, (g, d), calibrated once on a fixed set of unit-power complex Gaussian
    samples at the stated power 1 (a bank that draws, thermal noise, draws from a fixed stream of its own); None for a bank that does not quantize or that gives its table (the
    observation's ``adc``, whose statistics are exact)."""
    if not bank.quantizes or bank.scalar_cells:
        return None
    rng = np.random.default_rng(0)  # a fixed calibration set: the bank's gain and distortion at unit input power
    z = (rng.standard_normal((1, 50_000, 1)) + 1j * rng.standard_normal((1, 50_000, 1))) / np.sqrt(2)
    r = bank.convert(z, np.ones((1, 1)), np.random.default_rng(1))["r"]  # stated power 1; its own noise stream
    g = float(np.real(np.vdot(z, r)) / np.vdot(z, z).real)
    d = float(np.mean(np.abs(r - g * z) ** 2))
    return g, d


class BussgangLMMSEEstimator:
    r"""LMMSE channel estimate on the Bussgang-scaled resource grid, per antenna, user and slot.

    User :math:`k`'s Kronecker pilots :math:`p_m` sit on its comb :math:`\mathcal C_k` of subcarriers in the
    :math:`n_p` pilot symbols. The LS estimate averaged over the pilot symbols,
    :math:`z_m = \frac{1}{n_p}\sum_s Y_{s,m}/p_m = H_m + w_m`, has :math:`E|w_m|^2 = \nu_i / (n_p |p_m|^2)`
    (the Bussgang model of the module text: other users' pilots are zero on the comb). With the frequency
    covariance :math:`R` of the channel (its power-delay profile) and :math:`R_{\mathcal{CC}} = U \Lambda U^H`,

    .. math:: \hat H = R_{:,\mathcal C} (R_{\mathcal{CC}} + \sigma_i^2 I)^{-1} z
              = A\, (\Lambda + \sigma_i^2 I)^{-1} U^H z, \qquad A = R_{:,\mathcal C} U,

    with error variance :math:`R_{mm} - \sum_j |A_{mj}|^2 / (\lambda_j + \sigma_i^2)` on every subcarrier
    (pilots of equal modulus :math:`|p|^2`, so :math:`\sigma_i^2 = \nu_i/(n_p |p|^2)`).
    """

    def __init__(self, chain):
        rg = chain.rg
        mask = np.asarray(rg.pilot_pattern.mask)[0]          # [K, syms, M]
        pilots = np.asarray(rg.pilot_pattern.pilots)[0]      # [K, n_pilot_REs] (row-major over the mask)
        self.symbols = np.flatnonzero(mask[0].any(axis=1))    # the pilot OFDM symbols
        self.eff = np.asarray(rg.effective_subcarrier_ind)
        R = chain.freq_covariance()
        M = R.shape[0]
        self.users = []
        for k in range(mask.shape[0]):
            grid = np.zeros(mask.shape[1:], dtype=np.complex128)
            grid[mask[k].astype(bool)] = pilots[k]
            p = grid[self.symbols]                              # [n_p, M]
            comb = np.flatnonzero(np.abs(p[0]) > 0)
            energy = float(np.mean(np.abs(p[:, comb]) ** 2))
            lam, U = np.linalg.eigh(R[np.ix_(comb, comb)])
            lam = np.maximum(lam, 0.0)
            A = R[:, comb] @ U                                  # [M, C]
            self.users.append((comb, p[:, comb], U, lam, A, energy))
        self.prior = np.real(np.diag(R))                        # [M]
        self.M = M
        self.syms = rg.num_ofdm_symbols

    def __call__(self, y, no):
        """(h_hat [S, 1, N_r, 1, K, syms, M], err_var [S, 1, N_r, 1, K, 1, M]) from ``y`` [S, 1, N_r, syms, fft]
        and the per-antenna noise variance ``no`` [S, 1, N_r] (torch tensors)."""
        import torch

        Y = y[:, 0].numpy()[:, :, self.symbols][..., self.eff]    # [S, N_r, n_p, M]
        nu = no[:, 0].numpy()                                     # [S, N_r]
        S, N = Y.shape[:2]
        K = len(self.users)
        h = np.empty((S, N, K, self.M), dtype=np.complex128)
        err = np.empty((S, N, K, self.M))
        n_p = len(self.symbols)
        for k, (comb, p, U, lam, A, energy) in enumerate(self.users):
            z = np.mean(Y[..., comb] / p, axis=2)                 # [S, N_r, C]
            sigma2 = nu / (n_p * energy)                          # [S, N_r]
            inv = 1.0 / (lam + sigma2[..., None])                 # [S, N_r, C]
            h[:, :, k] = ((z @ U.conj()) * inv) @ A.T             # (A inv U^H z)^T, row vectors
            err[:, :, k] = self.prior - inv @ (np.abs(A.T) ** 2)
        h_t = torch.from_numpy(h)[:, None, :, None, :, None, :].expand(-1, -1, -1, -1, -1, self.syms, -1)
        err_t = torch.from_numpy(np.maximum(err, 0.0))[:, None, :, None, :, None, :]
        return h_t, err_t


class TrainingEstimator:
    r"""Channel estimates from orthogonal (Hadamard) training, per antenna, user and slot: ``mode`` = "ls" or
    "blmmse".

    In the T training symbols user k sends :math:`\Phi_{kt} L_m` (:math:`\Phi_{kt}, L_m = \pm 1`) on every used
    tone m (source.training = "hadamard", :func:`hwsim.channels.ofdm.training_grid`), so on the Bussgang-scaled
    grid :math:`Y_{t,m} = L_m \sum_k H_{km} \Phi_{kt} + W_{t,m}` and, the rows of :math:`\Phi` being orthogonal
    (:math:`\Phi \Phi^T = T I`), the LS estimate over the code

    .. math:: z_{km} = \frac{L_m}{T} \sum_t \Phi_{kt} Y_{t,m} = H_{km} + w_{km}, \qquad E|w_{km}|^2 = \nu_i / T,

    on every used tone m, exact without noise (``ls``: :math:`\hat H = z`, error variance :math:`\nu_i/T`). The
    Bussgang LMMSE estimate (``blmmse``) filters z over the used tones :math:`\mathcal U` with the channel's
    frequency covariance R (its power-delay profile, known), :math:`R_{\mathcal{UU}} = V \Lambda V^H` (its nonzero
    eigenvalues; the rank is that of the taps' covariance):
    :math:`\hat H = R_{:,\mathcal U} V (\Lambda + \sigma_i^2 I)^{-1} V^H z`, :math:`\sigma_i^2 = \nu_i / T`,
    with error variance :math:`R_{mm} - \sum_j |A_{mj}|^2 / (\lambda_j + \sigma_i^2)`, :math:`A = R_{:,\mathcal U} V`.
    The null tones carry no estimate (``ls``: 0 with the prior as error variance); no data sits on them.
    """

    def __init__(self, chain, mode: str):
        from hwsim.channels.ofdm import training_sequence

        src = chain.source
        self.mode = mode
        self.symbols = np.asarray(src.pilot_symbols)
        self.code = np.asarray(src.training_code, dtype=np.float64)          # [K, T]
        self.eff = np.asarray(chain.rg.effective_subcarrier_ind)
        self.tones = np.flatnonzero(~src.null_tones)                         # used tones, of the M effective ones
        self.sequence = training_sequence(src.fft_size)[self.tones]          # L_m = +-1 on the used tones
        self.syms = chain.rg.num_ofdm_symbols
        self.chain, self.lam = chain, None  # the filter is built at the first estimate (a check builds none)

    def _filter(self) -> None:
        """The prior and the eigendecomposition of the covariance over the used tones (once)."""
        R = self.chain.freq_covariance()
        self.M = R.shape[0]
        self.prior = np.real(np.diag(R))
        lam, V = np.linalg.eigh(R[np.ix_(self.tones, self.tones)])
        # R has the rank of the channel's taps (4 taps: rank 4 over 114 tones): the filter is 0 along the
        # eigenvectors of zero eigenvalue (A v = R v = 0), so keep the numerical rank only (round-off there
        # would otherwise be divided by sigma^2 at high SNR)
        keep = lam > 1e-10 * lam.max()
        self.lam, self.V = lam[keep], V[:, keep]
        self.A = R[:, self.tones] @ self.V

    def ls(self, Y: np.ndarray) -> np.ndarray:
        """The LS estimates over the code, complex [S, N_r, K, U], of the training symbols' used tones
        ``Y`` [S, N_r, T, U]."""
        return np.einsum("sntu,kt->snku", Y, self.code) * (self.sequence / self.code.shape[1])

    def __call__(self, y, no):
        """(h_hat [S, 1, N_r, 1, K, syms, M], err_var [S, 1, N_r, 1, K, 1, M]) from ``y`` [S, 1, N_r, syms, fft]
        and the per-antenna noise variance ``no`` [S, 1, N_r] (torch tensors)."""
        import torch

        if self.lam is None:
            self._filter()
        Y = y[:, 0].numpy()[:, :, self.symbols][..., self.eff][..., self.tones]   # [S, N_r, T, U]
        nu = no[:, 0].numpy()                                                    # [S, N_r]
        z = self.ls(Y)                                                           # [S, N_r, K, U]
        S, N, K = z.shape[:3]
        sigma2 = nu / self.code.shape[1]                                         # [S, N_r]
        if self.mode == "ls":
            h = np.zeros((S, N, K, self.M), dtype=np.complex128)
            h[..., self.tones] = z
            err = np.broadcast_to(self.prior, (S, N, K, self.M)).copy()
            err[..., self.tones] = sigma2[:, :, None, None]
        else:
            inv = 1.0 / (self.lam + sigma2[..., None])                           # [S, N_r, U]
            h = ((z @ self.V.conj()) * inv[:, :, None]) @ self.A.T               # [S, N_r, K, M]
            err = np.broadcast_to((self.prior - inv @ (np.abs(self.A.T) ** 2))[:, :, None], (S, N, K, self.M))
        h_t = torch.from_numpy(np.ascontiguousarray(h))[:, None, :, None, :, None, :].expand(
            -1, -1, -1, -1, -1, self.syms, -1)
        err_t = torch.from_numpy(np.maximum(err, 0.0))[:, None, :, None, :, None, :]
        return h_t, err_t
