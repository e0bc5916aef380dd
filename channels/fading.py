r"""Flat-fading MIMO channels drawn with Sionna 2.x, returned in hwsim's real form.

Sionna's :class:`sionna.phy.channel.GenerateFlatFadingChannel` draws complex
:math:`H_c \in \mathbb C^{n_{rx} \times n_{tx}}` with i.i.d. :math:`\mathcal{CN}(0, 1)`
entries; with correlation, Sionna's :class:`~sionna.phy.channel.KroneckerModel` applies
:math:`R_{rx}^{1/2} H_c R_{tx}^{1/2}` with exponential matrices from
:func:`~sionna.phy.channel.exp_corr_mat`. hwsim stacks the result to the real model of
eq. (8) acting on ``[Re s; Im s]``:

- complex constellations (QPSK, QAM): :math:`H = [\mathrm{Re} H_c, -\mathrm{Im} H_c; \mathrm{Im} H_c, \mathrm{Re} H_c]`,
  shape ``[2 n_rx, 2 n_tx]``;
- real constellations (BPSK, PAM): :math:`H = [\mathrm{Re} H_c; \mathrm{Im} H_c]`, shape ``[2 n_rx, n_tx]``.

Randomness comes from a ``torch.Generator`` seeded from the caller's numpy Generator,
never from Sionna's global state, so the same numpy seed gives the same channels.
Sionna and torch are imported on first use.
"""

from __future__ import annotations

import numpy as np

from hwsim import _checks

from .pilots import complex_to_real_matrix


def _seeded_generator_class():
    """Sionna's flat-fading generator drawing from an explicit torch.Generator."""
    from sionna.phy.channel import GenerateFlatFadingChannel

    class _Seeded(GenerateFlatFadingChannel):
        generator = None

        @property
        def torch_rng(self):
            return self.generator

    return _Seeded


class RayleighFading:
    """Channel source: one Sionna flat Rayleigh-fading draw per frame.

    Parameters
    ----------
    n_rx, n_tx : int
        Receive and transmit antennas (complex).
    complex_symbols : bool
        Real form for complex (True) or real (False) constellations; see the module doc.
    rx_correlation, tx_correlation : float
        Exponential correlation coefficients ``a`` in [0, 1) of the Kronecker model;
        0 for both gives i.i.d. Rayleigh fading.
    """

    def __init__(self, n_rx: int, n_tx: int, *, complex_symbols: bool = False,
                 rx_correlation: float = 0.0, tx_correlation: float = 0.0):
        self.n_rx = _checks.integer("n_rx", n_rx, minimum=1)
        self.n_tx = _checks.integer("n_tx", n_tx, minimum=1)
        self.complex_symbols = bool(complex_symbols)
        for name, a in (("rx_correlation", rx_correlation), ("tx_correlation", tx_correlation)):
            a = _checks.real(name, a)
            if not 0.0 <= a < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {a}")
        self.rx_correlation = float(rx_correlation)
        self.tx_correlation = float(tx_correlation)
        self._block = None

    @property
    def shape(self) -> tuple[int, int]:
        return (2 * self.n_rx, 2 * self.n_tx if self.complex_symbols else self.n_tx)

    def _get_block(self):
        if self._block is None:
            import torch
            from sionna.phy.channel import KroneckerModel, exp_corr_mat

            corr = None
            if self.rx_correlation or self.tx_correlation:
                corr = KroneckerModel(
                    r_tx=exp_corr_mat(torch.tensor(self.tx_correlation, dtype=torch.complex128), self.n_tx,
                                      precision="double", device="cpu"),
                    r_rx=exp_corr_mat(torch.tensor(self.rx_correlation, dtype=torch.complex128), self.n_rx,
                                      precision="double", device="cpu"),
                    precision="double", device="cpu")
            self._block = _seeded_generator_class()(self.n_tx, self.n_rx, spatial_corr=corr,
                                                     precision="double", device="cpu")
        return self._block

    def draw_complex(self, n_frames: int, rng: np.random.Generator) -> np.ndarray:
        """Complex channels from Sionna, shape [n_frames, n_rx, n_tx]."""
        import torch

        _checks.generator("rng", rng)
        n_frames = _checks.integer("n_frames", n_frames, minimum=1)
        block = self._get_block()
        block.generator = torch.Generator(device="cpu").manual_seed(int(rng.integers(2**62)))
        with torch.no_grad():
            return block(n_frames).numpy()

    def draw(self, n_frames: int, rng: np.random.Generator) -> np.ndarray:
        """Real channels, shape ``[n_frames, *self.shape]``."""
        Hc = self.draw_complex(n_frames, rng)
        if self.complex_symbols:
            return complex_to_real_matrix(Hc)
        return np.concatenate([Hc.real, Hc.imag], axis=1)

