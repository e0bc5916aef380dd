r"""Complex Gray-labelled constellations: BPSK and square QAM with unit average energy.

A symbol's index ``q`` *is* its bit label: bit ``j`` of the symbol is binary digit ``j`` of
``q``, most significant first. For square QAM with ``b`` bits the first ``b/2`` bits label
the in-phase PAM coordinate and the last ``b/2`` the quadrature one, each Gray-coded, so
neighbouring points (horizontally or vertically) differ in exactly one bit.

LLRs follow Sionna's sign convention, :math:`\ln P(b=1)/P(b=0)`, so a bit decides 1 when its
LLR is positive. :meth:`QAM.llr` gives max-log LLRs of :math:`z = s + w`,
:math:`w \sim \mathcal{CN}(0, \sigma^2)` -- the per-stream output of an unbiased linear
equalizer -- computed per axis (square QAM separates into two PAMs).
"""

from __future__ import annotations

import numpy as np

from hwsim import _checks

#: Names accepted by :func:`get_qam`.
QAM_NAMES = ("bpsk", "qpsk", "qam16", "qam64", "qam256")


def _gray_pam(m: int) -> tuple[np.ndarray, np.ndarray]:
    """PAM amplitudes -(m-1), ..., m-1 (in position order) and each position's Gray label."""
    pos = np.arange(m)
    return (2 * pos - m + 1).astype(np.float64), pos ^ (pos >> 1)


class QAM:
    r"""A Gray-labelled BPSK or square-QAM constellation, :math:`E|s|^2 = 1`.

    Parameters
    ----------
    bits_per_symbol : int
        1 (BPSK, real points :math:`\pm 1`) or an even number 2..8 (QPSK ... 256-QAM).
    """

    def __init__(self, bits_per_symbol: int):
        b = _checks.integer("bits_per_symbol", bits_per_symbol, minimum=1, maximum=8)
        if b > 1 and b % 2:
            raise ValueError(f"bits_per_symbol must be 1 (BPSK) or even (square QAM), got {b}")
        self.bits_per_symbol = b
        self.order = 2**b
        axis_bits = 1 if b == 1 else b // 2
        amp, gray = _gray_pam(2**axis_bits)
        # axis_value[label] = amplitude of the axis point with that Gray label
        axis_value = np.empty_like(amp)
        axis_value[gray] = amp
        self._axis_bits = axis_bits
        if b == 1:
            points = axis_value.astype(np.complex128)
        else:
            q = np.arange(self.order)
            points = axis_value[q >> axis_bits] + 1j * axis_value[q & (2**axis_bits - 1)]
        self._norm = np.sqrt(np.mean(np.abs(points) ** 2))
        self.points = points / self._norm
        # per-axis: amplitudes in position order and their labels' bits, for slicing and LLRs
        self._axis_amp = amp / self._norm
        self._axis_label = gray
        self._axis_label_bits = (gray[:, None] >> np.arange(axis_bits - 1, -1, -1)) & 1  # [m, axis_bits]

    @property
    def name(self) -> str:
        return {1: "bpsk", 2: "qpsk"}.get(self.bits_per_symbol, f"qam{self.order}")

    @property
    def axis_points(self) -> np.ndarray:
        """The per-axis amplitudes in increasing order (Gray label of position ``i``: ``i ^ (i >> 1)``)."""
        return self._axis_amp.copy()

    @property
    def is_real(self) -> bool:
        """True for BPSK (the points lie on the real axis)."""
        return self.bits_per_symbol == 1

    def draw(self, shape, rng: np.random.Generator) -> np.ndarray:
        """Uniform symbol indices (int64) of the given shape."""
        _checks.generator("rng", rng)
        return rng.integers(0, self.order, size=shape)

    def symbols(self, indices) -> np.ndarray:
        """Complex points of the given indices."""
        return self.points[np.asarray(indices)]

    def bits(self, indices) -> np.ndarray:
        """Bit labels, uint8 [..., bits_per_symbol] (MSB first)."""
        q = np.asarray(indices)
        return ((q[..., None] >> np.arange(self.bits_per_symbol - 1, -1, -1)) & 1).astype(np.uint8)

    def _axis_index(self, v: np.ndarray) -> np.ndarray:
        """Position of the nearest axis amplitude (the axis points are equally spaced)."""
        m = self._axis_amp.size
        step = self._axis_amp[1] - self._axis_amp[0]
        return np.clip(np.rint((v - self._axis_amp[0]) / step), 0, m - 1).astype(np.int64)

    def hard_decision(self, z) -> np.ndarray:
        """Index of the nearest constellation point to each complex ``z`` (int64, shape of ``z``)."""
        z = np.asarray(z)
        label_i = self._axis_label[self._axis_index(z.real)]
        if self.is_real:
            return label_i
        return (label_i << self._axis_bits) | self._axis_label[self._axis_index(z.imag)]

    def _axis_llr(self, v: np.ndarray, noise_var: np.ndarray) -> np.ndarray:
        """Max-log LLRs of one real axis, [..., axis_bits], for noise variance ``noise_var`` on that axis."""
        d2 = (v[..., None] - self._axis_amp) ** 2  # [..., m]
        out = np.empty(v.shape + (self._axis_bits,))
        for j in range(self._axis_bits):
            one = self._axis_label_bits[:, j] == 1
            out[..., j] = (d2[..., ~one].min(axis=-1) - d2[..., one].min(axis=-1))
        return out / (2 * noise_var[..., None])

    def llr(self, z, noise_var) -> np.ndarray:
        r"""Max-log LLRs, float [..., bits_per_symbol], of :math:`z = s + \mathcal{CN}(0, \sigma^2)`.

        ``noise_var`` (:math:`\sigma^2`, the complex variance; broadcastable to ``z``) must be positive.
        For BPSK only the real part of ``z`` is used (its noise variance :math:`\sigma^2/2`).
        """
        z = np.asarray(z)
        var = np.broadcast_to(np.asarray(noise_var, dtype=np.float64), z.shape)
        if np.any(~(var > 0)):
            raise ValueError("noise_var must be positive")
        half = var / 2  # per real axis
        first = self._axis_llr(z.real, half)
        if self.is_real:
            return first
        return np.concatenate([first, self._axis_llr(z.imag, half)], axis=-1)

    def __repr__(self) -> str:
        return f"QAM({self.name!r}, bits_per_symbol={self.bits_per_symbol})"


def get_qam(name) -> QAM:
    """Constellation by name (one of :data:`QAM_NAMES`), or a :class:`QAM` passed through."""
    if isinstance(name, QAM):
        return name
    key = str(name).lower()
    bits = {"bpsk": 1, "qpsk": 2, "qam16": 4, "qam64": 6, "qam256": 8}.get(key)
    if bits is None:
        raise ValueError(f"constellation must be one of {', '.join(QAM_NAMES)}, got {name!r}")
    return QAM(bits)
