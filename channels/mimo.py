r"""The seed paper's real-valued MIMO symbol-detection model (Shlezinger and Eldar, eq. (8)).

.. math::  x = H s + w, \qquad w \sim \mathcal N(0, \sigma_w^2 I_{n_t}),

with :math:`H \in \mathbb R^{n_t \times k}`, symbols :math:`s` from a real alphabet
(BPSK, PAM, or the real decomposition of QPSK/QAM), and
:math:`\mathrm{SNR} = 10\log_{10}(1/\sigma_w^2)` dB per real dimension, as in the paper.

Samples come in *frames*: ``frame_len`` consecutive samples share one channel draw
(block fading, one CSI-uncertainty draw, one period of the optional time variation).
All arrays are batch first, float64: ``[n_frames, frame_len, ...]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim import _checks

from .constellations import Constellation, get_constellation

#: The paper's CSI uncertainty: error variance 20% of each entry's magnitude.
PAPER_CSI_ERROR = 0.2


def exponential_channel(n_t: int = 12, n_u: int = 4) -> np.ndarray:
    """The paper's channel :math:`H_{ij} = e^{-|i-j|}`, shape [n_t, n_u]."""
    n_t = _checks.integer("n_t", n_t, minimum=1)
    n_u = _checks.integer("n_u", n_u, minimum=1)
    i, j = np.indices((n_t, n_u))
    return np.exp(-np.abs(i - j).astype(np.float64))


def noise_std(snr_db) -> float:
    r"""Noise standard deviation :math:`\sigma_w = 10^{-\mathrm{SNR}/20}` for SNR in dB."""
    snr_db = _checks.real("snr_db", snr_db)
    return float(10.0 ** (-snr_db / 20.0))


def perturb_channel(H, rng: np.random.Generator, n_frames: int, rel_var: float = PAPER_CSI_ERROR) -> np.ndarray:
    r"""CSI uncertainty: ``n_frames`` noisy copies of ``H``.

    Each entry gets independent Gaussian noise of variance ``rel_var * |H_ij|`` (the
    paper uses 20%). ``H`` is [n, k] or already per frame [n_frames, n, k].

    Returns
    -------
    ndarray, shape [n_frames, n, k]
    """
    _checks.generator("rng", rng)
    n_frames = _checks.integer("n_frames", n_frames, minimum=1)
    rel_var = _checks.real("rel_var", rel_var, nonnegative=True)
    H = _checks.finite_array("H", H, ndim=(2, 3))
    if H.ndim == 3 and H.shape[0] != n_frames:
        raise ValueError(f"H holds {H.shape[0]} frames but n_frames={n_frames}")
    H = np.broadcast_to(H, (n_frames,) + H.shape[-2:])
    return H + np.sqrt(rel_var * np.abs(H)) * rng.standard_normal(H.shape)


class FixedChannel:
    """A deterministic channel: the same ``H`` [n, k] in every frame."""

    def __init__(self, H):
        self.H = _checks.finite_array("H", H, ndim=2)
        self.H.setflags(write=False)

    @property
    def shape(self) -> tuple[int, int]:
        return self.H.shape

    def draw(self, n_frames: int, rng: np.random.Generator) -> np.ndarray:
        """``H`` repeated for ``n_frames`` frames (a read-only view), shape [n_frames, n, k]."""
        return np.broadcast_to(self.H, (n_frames,) + self.H.shape)

    def __repr__(self) -> str:
        return f"FixedChannel(n={self.H.shape[0]}, k={self.H.shape[1]})"


@dataclass(frozen=True)
class SymbolFrames:
    """One batch of eq. (8) samples.

    Attributes
    ----------
    indices : int64 [F, L, k]   per-dimension alphabet indices of the sent symbols
    s : float64 [F, L, k]       sent symbols
    x : float64 [F, L, n]       received samples
    H : float64 [F, n, k]       channel that generated each frame (before any time variation)
    gain : float64 [L]          time-variation gain per sample position (all ones if off)
    noise_std : float           sigma_w
    """

    indices: np.ndarray
    s: np.ndarray
    x: np.ndarray
    H: np.ndarray
    gain: np.ndarray
    noise_std: float

    @property
    def n_samples(self) -> int:
        return self.x.shape[0] * self.x.shape[1]


class SymbolChannel:
    r"""Sampler for eq. (8), :math:`x = H s + w`, frame by frame.

    Parameters
    ----------
    H : array_like [n_t, k] or a channel source, optional
        The channel. A source is any object with ``shape`` (n, k) and
        ``draw(n_frames, rng) -> [n_frames, n, k]`` (e.g. :class:`FixedChannel`,
        :class:`hwsim.channels.RayleighFading`). Default: :func:`exponential_channel` (12 x 4).
    constellation : str or Constellation
        Symbol alphabet per real dimension (default BPSK).
    csi_error : float
        Relative variance of the CSI uncertainty applied to the channel that *generates*
        the samples, redrawn every frame (0: none; the paper's 0.2). Use it to make
        training sets under CSI uncertainty; for mismatched detectors see :func:`perturb_channel`.
    time_varying : bool
        If True, sample ``l`` of a frame of length ``L`` sees :math:`(1 + 0.5\cos t_l) H`
        with :math:`t_l = 2\pi l / L` (one period per frame).
    """

    def __init__(self, H=None, *, constellation="bpsk", csi_error: float = 0.0, time_varying: bool = False):
        if H is None:
            H = exponential_channel()
        self.source = H if hasattr(H, "draw") else FixedChannel(H)
        self.constellation: Constellation = get_constellation(constellation)
        self.csi_error = _checks.real("csi_error", csi_error, nonnegative=True)
        if not isinstance(time_varying, bool):
            raise TypeError(f"time_varying must be True or False, got {time_varying!r}")
        self.time_varying = time_varying
        n, k = self.source.shape
        if self.constellation.complex_symbols and k % 2:
            raise ValueError(f"a complex constellation needs an even number of real columns in H, got k={k}")

    @property
    def n(self) -> int:
        """Receive dimension n (ADC inputs before any combining)."""
        return self.source.shape[0]

    @property
    def k(self) -> int:
        """Real symbol dimension k."""
        return self.source.shape[1]

    def gain(self, frame_len: int) -> np.ndarray:
        """Time-variation gain for each position of a frame, shape [frame_len]."""
        if not self.time_varying:
            return np.ones(frame_len)
        return 1.0 + 0.5 * np.cos(2.0 * np.pi * np.arange(frame_len) / frame_len)

    def sample(self, n_frames: int, frame_len: int, snr_db: float, rng: np.random.Generator) -> SymbolFrames:
        """Draw ``n_frames * frame_len`` samples at ``snr_db``; see :class:`SymbolFrames` for shapes."""
        _checks.generator("rng", rng)
        n_frames = _checks.integer("n_frames", n_frames, minimum=1)
        frame_len = _checks.integer("frame_len", frame_len, minimum=1)
        sigma = noise_std(snr_db)
        H = self.source.draw(n_frames, rng)
        if self.csi_error:
            H = perturb_channel(H, rng, n_frames, self.csi_error)
        idx = self.constellation.draw((n_frames, frame_len, self.k), rng)
        s = self.constellation.points[idx]
        x = np.matmul(s, np.swapaxes(H, 1, 2))
        gain = self.gain(frame_len)
        if self.time_varying:
            x *= gain[None, :, None]
        noise = rng.standard_normal(x.shape)
        noise *= sigma  # in place: no temporary on this hot path
        x += noise
        return SymbolFrames(indices=idx, s=s, x=x, H=np.asarray(H), gain=gain, noise_std=sigma)

    def __repr__(self) -> str:
        return (f"SymbolChannel(n={self.n}, k={self.k}, constellation={self.constellation.name!r}, "
                f"csi_error={self.csi_error:g}, time_varying={self.time_varying})")
