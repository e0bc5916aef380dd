r"""Receivers of the wideband OFDM link (:mod:`hwsim.channels.ofdm`): channel estimation, LMMSE equalisation
and soft demapping on the resource grid of quantized time-domain samples, with Sionna's OFDM blocks.

Bussgang model of the converters (per receive antenna :math:`i`, time domain): :math:`r_i[t] = g_i y_i[t] +
d_i[t]` with :math:`d_i` uncorrelated with :math:`y_i` (:meth:`hwsim.channels.ofdm.OFDMLink.bussgang`). Treating
:math:`d_i` as white over time and independent over antennas, the unitary FFT gives on every subcarrier

.. math:: R_i[m] / g_i = \sum_k H_{ik}[m] X_k[m] + W_i[m], \qquad
          E|W_i[m]|^2 = N_0 + \sigma_{d,i}^2 / g_i^2 =: \nu_i,

an AWGN model with a per-antenna noise variance. The receiver ``ofdm_lmmse`` works on :math:`R / g` with
:math:`\nu_i` (``bussgang = true``, the Bussgang-aware receiver) or on :math:`R` with :math:`N_0`
(``bussgang = false``, quantization-unaware), and picks its channel knowledge with ``csi``:

- ``perfect``: the true :math:`H_{ik}[m]` (a reference);
- ``ls``: Sionna's :class:`~sionna.phy.ofdm.LSChannelEstimator` on the Kronecker pilots with linear
  interpolation;
- ``blmmse``: Bussgang-aware LMMSE estimation (:class:`BussgangLMMSEEstimator`): the LS estimates of a
  user's pilot comb, averaged over the pilot symbols (the channel is static over a slot), filtered with the
  channel's exact frequency covariance (from its power-delay profile) and the per-antenna :math:`\nu_i`.
  It computes what Sionna's :class:`~sionna.phy.ofdm.LMMSEChannelEstimator` would with an all-ones time
  covariance, through one eigendecomposition per user and link, about ten times faster here.

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

#: The channel knowledge of ``ofdm_lmmse`` (the values of ``csi``).
CSI_MODES = ("perfect", "ls", "blmmse")


@register("receiver", "ofdm_lmmse")
class OFDMLMMSE(ReceiverHooks):
    """LMMSE equaliser of an OFDM link with ``csi`` = perfect | ls | blmmse (see the module text)."""

    task = "detection"

    def __init__(self, *, csi: Literal["perfect", "ls", "blmmse"] = "blmmse", bussgang: bool = True):
        super().__init__()  # the registry has checked the values (csi one of CSI_MODES) and set self.params
        self._blocks = None

    def check_dimensions(self, *, users: int, inputs: int, constellation) -> None:
        """Any number of users and antennas (LMMSE per subcarrier)."""

    def check_link(self, link) -> None:
        if not hasattr(link.channel, "wideband_link"):
            raise ValueError(f"receiver.type = {self.name!r} serves OFDM links (channel.type = \"tdl\" or "
                             f"\"rayleigh_taps\"), got channel.type = {link.channel.name!r}")

    def bind(self, link) -> None:
        """Build the Sionna blocks for the link's resource grid (once per link)."""
        from sionna.phy.ofdm import LMMSEEqualizer, LSChannelEstimator

        from hwsim.channels.ofdm import PRECISION

        rg = link.rg
        self.equalizer = LMMSEEqualizer(rg, link.sm, precision=PRECISION)
        csi = self.params["csi"]
        self.estimator = None
        if csi == "ls":
            self.estimator = LSChannelEstimator(rg, interpolation_type="lin", precision=PRECISION)
        elif csi == "blmmse":
            self.estimator = BussgangLMMSEEstimator(link)

    def ofdm_llrs(self, link, y_rg, gain: np.ndarray, no: np.ndarray, H: np.ndarray):
        """LLRs of every data bit, torch float [S, K, D], from the resource grid ``y_rg`` [S, 1, N_r, syms, fft].

        ``gain``, ``no``: per-antenna Bussgang gain and noise-plus-distortion variance [S, N_r];
        ``H``: the true frequency response [S, N_r, K, M] (used by ``csi = "perfect"`` only).
        """
        import torch

        if self.params["bussgang"]:
            y = y_rg / torch.from_numpy(gain)[:, None, :, None, None]
            nu = torch.from_numpy(no)[:, None, :]                             # [S, 1, N_r]
        else:
            y = y_rg
            nu = torch.full((y_rg.shape[0], 1, y_rg.shape[2]), link.n0, dtype=torch.float64)
        if self.estimator is None:
            syms = link.rg.num_ofdm_symbols
            h = torch.from_numpy(H)[:, None, :, None, :, None, :].expand(-1, -1, -1, -1, -1, syms, -1)
            err = torch.zeros((), dtype=torch.float64)
        else:
            h, err = self.estimator(y, nu)
        x_hat, no_eff = self.equalizer(y, h, err, nu)                          # [S, 1, K, n_data]
        llr = link.demapper(x_hat, no_eff)                                     # [S, 1, K, D]
        return llr[:, 0]


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

    def __init__(self, link):
        rg = link.rg
        mask = np.asarray(rg.pilot_pattern.mask)[0]          # [K, syms, M]
        pilots = np.asarray(rg.pilot_pattern.pilots)[0]      # [K, n_pilot_REs] (row-major over the mask)
        self.symbols = np.flatnonzero(mask[0].any(axis=1))    # the pilot OFDM symbols
        self.eff = np.asarray(rg.effective_subcarrier_ind)
        R = link.freq_covariance()
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
