r"""Gray-labelled constellations: real PAM alphabets and complex square QAM, one class.

A :class:`Constellation` is an alphabet of ``size`` points, ``points[i]`` the point of symbol index
``i`` and ``gray[i]`` its bit label (``bits_per_symbol`` bits, most significant first). It comes in
two forms, each with its own factory and names:

- **a real alphabet** (:func:`get_constellation`, :data:`CONSTELLATIONS`; seed 001's real model,
  :mod:`hwsim.channels.mimo`): ``points`` real and increasing, the index is the position and
  ``gray[i] = i ^ (i >> 1)``. Complex constellations take the usual real decomposition: a vector of
  ``n_u`` complex symbols :math:`s` becomes the real vector :math:`[\mathrm{Re}\, s; \mathrm{Im}\, s]`
  of ``k = 2 n_u`` entries, each from the real PAM alphabet of one axis (``complex_symbols = True``;
  QPSK: :math:`\pm 1/\sqrt2`). Real PAM has unit average energy per dimension, the axis of QPSK/QAM
  1/2 per dimension;
- **a complex constellation** (:func:`get_qam`, :data:`QAM_NAMES`, :meth:`Constellation.qam`; links in
  complex baseband): BPSK or square QAM with :math:`E|s|^2 = 1`, the index *is* the bit label
  (``gray[i] = i``). For square QAM with ``b`` bits the first ``b/2`` bits label the in-phase PAM
  coordinate and the last ``b/2`` the quadrature one, each Gray-coded, so neighbouring points
  (horizontally or vertically) differ in exactly one bit.

Both forms slice and give LLRs per axis (:meth:`Constellation.hard_decision`,
:meth:`Constellation.llr`), count bit errors between index arrays and enumerate symbol vectors for
the exhaustive detectors (:meth:`Constellation.hypotheses`, at most :data:`MAX_HYPOTHESES`).

LLRs follow Sionna's sign convention, :math:`\ln P(b=1)/P(b=0)`, so a bit decides 1 when its LLR is
positive. :meth:`Constellation.llr` gives max-log LLRs of :math:`z = s + w`,
:math:`w \sim \mathcal{CN}(0, \sigma^2)` -- the per-stream output of an unbiased linear equalizer --
computed per axis (square QAM separates into two PAMs).

The two forms of one name (``"qpsk"``: four complex points, or the two-point axis alphabet) keep the
normalisation each had: the complex points are scaled by their root mean energy, a real alphabet's
points by the square root of its per-dimension energy, which can differ in the last bit.
"""

from __future__ import annotations

import itertools

import numpy as np

from hwsim import _checks

#: Exhaustive MAP/QMAP enumerate every symbol vector; this bounds their number.
MAX_HYPOTHESES = 4096


def _gray_pam(m: int) -> tuple[np.ndarray, np.ndarray]:
    """PAM amplitudes -(m-1), ..., m-1 (in position order) and each position's Gray label."""
    pos = np.arange(m)
    return (2 * pos - m + 1).astype(np.float64), pos ^ (pos >> 1)


class Constellation:
    r"""A Gray-labelled alphabet: real PAM (one axis) or complex BPSK / square QAM (:meth:`qam`).

    The parameters below build the real form; :meth:`qam` builds the complex one (``points`` complex, indexed
    by their bit labels).

    Parameters
    ----------
    name : str
        Label, e.g. ``"bpsk"``.
    points : array_like, shape [A]
        A real alphabet, strictly increasing; ``A`` a power of two >= 2 (binary-reflected Gray labels
        by position).
    complex_symbols : bool
        True when two real dimensions form one complex symbol (the axis alphabet of QPSK or QAM).
    """

    def __init__(self, name: str, points, *, complex_symbols: bool):
        pts = _checks.finite_array("points", points, ndim=1)
        a = pts.size
        if a < 2 or a & (a - 1):
            raise ValueError(f"points must hold a power of two >= 2 of values, got {a}")
        if np.any(np.diff(pts) <= 0):
            raise ValueError("points must be strictly increasing")
        idx = np.arange(a)
        self._setup(name, pts, gray=idx ^ (idx >> 1), complex_symbols=bool(complex_symbols),
                    axis_amp=pts, axis_label=idx ^ (idx >> 1), axis_index=idx, axes=1)

    @classmethod
    def qam(cls, bits_per_symbol: int) -> "Constellation":
        r"""Complex BPSK or Gray square QAM with :math:`E|s|^2 = 1`; index = bit label.

        ``bits_per_symbol``: 1 (BPSK, points :math:`\pm 1` on the real axis) or an even number 2..8
        (QPSK ... 256-QAM).
        """
        b = _checks.integer("bits_per_symbol", bits_per_symbol, minimum=1, maximum=8)
        if b > 1 and b % 2:
            raise ValueError(f"bits_per_symbol must be 1 (BPSK) or even (square QAM), got {b}")
        order = 2**b
        axis_bits = 1 if b == 1 else b // 2
        amp, gray = _gray_pam(2**axis_bits)
        # axis_value[label] = amplitude of the axis point with that Gray label
        axis_value = np.empty_like(amp)
        axis_value[gray] = amp
        if b == 1:
            points = axis_value.astype(np.complex128)
        else:
            q = np.arange(order)
            points = axis_value[q >> axis_bits] + 1j * axis_value[q & (2**axis_bits - 1)]
        norm = np.sqrt(np.mean(np.abs(points) ** 2))
        self = cls.__new__(cls)
        self._setup({1: "bpsk", 2: "qpsk"}.get(b, f"qam{order}"), points / norm, gray=np.arange(order),
                    complex_symbols=b > 1, axis_amp=amp / norm, axis_label=gray, axis_index=gray,
                    axes=1 if b == 1 else 2)
        return self

    def _setup(self, name, points, *, gray, complex_symbols, axis_amp, axis_label, axis_index, axes):
        """``axis_amp``: one axis's amplitudes in increasing order; ``axis_label``: each position's Gray
        label; ``axis_index``: what a position adds to the symbol index (I shifted above Q for two axes)."""
        self.name = name
        self.points = points
        self.gray = gray
        self.complex_symbols = complex_symbols
        self.bits_per_symbol = self.points.size.bit_length() - 1
        self._axes = axes
        self._axis_bits = self.bits_per_symbol // axes
        self._axis_amp = axis_amp
        self._axis_index_of = axis_index
        self._axis_label_bits = (axis_label[:, None] >> np.arange(self._axis_bits - 1, -1, -1)) & 1  # [m, axis_bits]

    # ------------------------------------------------------------------ the alphabet
    @property
    def size(self) -> int:
        """Number of points A (per real dimension for a real alphabet)."""
        return self.points.size

    @property
    def order(self) -> int:
        """Number of points M (the constellation order)."""
        return self.points.size

    @property
    def bits_per_dim(self) -> int:
        """Bits per entry of a symbol vector of this alphabet (``bits_per_symbol``)."""
        return self.bits_per_symbol

    @property
    def axis_points(self) -> np.ndarray:
        """The per-axis amplitudes in increasing order (Gray label of position ``i``: ``i ^ (i >> 1)``)."""
        return self._axis_amp.copy()

    @property
    def is_real(self) -> bool:
        """True when the points lie on the real axis (BPSK, a real alphabet)."""
        return self._axes == 1

    def real_dims(self, n_users: int) -> int:
        """Real dimensions ``k`` for ``n_users`` users (2 per user for complex symbols)."""
        n_users = _checks.integer("n_users", n_users, minimum=1)
        return 2 * n_users if self.complex_symbols else n_users

    # ------------------------------------------------------------------ symbols and bits
    def draw(self, shape, rng: np.random.Generator) -> np.ndarray:
        """Uniform symbol indices (int64) of the given shape."""
        _checks.generator("rng", rng)
        return rng.integers(0, self.size, size=shape)

    def symbols(self, indices) -> np.ndarray:
        """The points of the given indices."""
        return self.points[np.asarray(indices)]

    def bits(self, indices) -> np.ndarray:
        """Bit labels, uint8 [..., bits_per_symbol] (MSB first)."""
        q = self.gray[np.asarray(indices)]
        return ((q[..., None] >> np.arange(self.bits_per_symbol - 1, -1, -1)) & 1).astype(np.uint8)

    def bit_errors(self, idx_true, idx_hat) -> int:
        """Number of differing Gray-mapped bits between two index arrays of equal shape."""
        return int(self.sample_bit_errors(idx_true, idx_hat).sum())

    def sample_bit_errors(self, idx_true, idx_hat) -> np.ndarray:
        """Differing Gray-mapped bits per symbol vector: index arrays [..., k] in, counts [...] out.

        The bits of one symbol vector are decided together, so they are the unit of a
        Monte Carlo interval (:class:`hwsim.tally.Tally`), not the single bit.
        """
        a, b = np.asarray(idx_true), np.asarray(idx_hat)
        if a.shape != b.shape:
            raise ValueError(f"idx_hat must have the shape of idx_true {a.shape}, got {b.shape}")
        return np.bitwise_count(self.gray[a] ^ self.gray[b]).sum(axis=-1, dtype=np.int64)

    # ------------------------------------------------------------------ slicing and LLRs
    def _axis_position(self, v: np.ndarray) -> np.ndarray:
        """Position of the nearest axis amplitude (the axis points are equally spaced)."""
        m = self._axis_amp.size
        step = self._axis_amp[1] - self._axis_amp[0]
        return np.clip(np.rint((v - self._axis_amp[0]) / step), 0, m - 1).astype(np.int64)

    def hard_decision(self, z) -> np.ndarray:
        """Index of the nearest point to each ``z`` (int64, shape of ``z``; a real alphabet or BPSK
        reads the real part)."""
        z = np.asarray(z)
        first = self._axis_index_of[self._axis_position(z.real)]
        if self._axes == 1:
            return first
        return (first << self._axis_bits) | self._axis_index_of[self._axis_position(z.imag)]

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
        On the real axis (BPSK, a real alphabet) only the real part of ``z`` is used (its noise
        variance :math:`\sigma^2/2`).
        """
        z = np.asarray(z)
        var = np.broadcast_to(np.asarray(noise_var, dtype=np.float64), z.shape)
        if np.any(~(var > 0)):
            raise ValueError("noise_var must be positive")
        half = var / 2  # per real axis
        first = self._axis_llr(z.real, half)
        if self._axes == 1:
            return first
        return np.concatenate([first, self._axis_llr(z.imag, half)], axis=-1)

    # ------------------------------------------------------------------ symbol vectors (exhaustive detection)
    def n_hypotheses(self, k: int) -> int:
        return self.size ** k

    def hypotheses(self, k: int) -> np.ndarray:
        """Every symbol vector, shape [A**k, k]; row ``q`` has digits of ``q`` in base A (first dim most significant).

        Raises ``ValueError`` when A**k exceeds :data:`MAX_HYPOTHESES` (exhaustive search limit).
        """
        return self.points[self.hypothesis_indices(k)]

    def hypothesis_indices(self, k: int) -> np.ndarray:
        """Per-dimension alphabet indices of every hypothesis, shape [A**k, k]."""
        k = _checks.integer("k", k, minimum=1)
        if self.size ** k > MAX_HYPOTHESES:
            raise ValueError(f"exhaustive detection over {self.size}**{k} = {self.size ** k} symbol vectors "
                             f"exceeds the limit of {MAX_HYPOTHESES} (e.g. at most 12 BPSK users or 6 QPSK users)")
        return np.array(list(itertools.product(range(self.size), repeat=k)), dtype=np.int64).reshape(-1, k)

    def labels(self, indices) -> np.ndarray:
        """Hypothesis index of per-dimension indices [..., k] (base A, first dimension most significant)."""
        indices = np.asarray(indices)
        return indices @ (self.size ** np.arange(indices.shape[-1] - 1, -1, -1))

    def bit_error_table(self, k: int) -> np.ndarray:
        """``table[q, r]`` = bits that differ between hypotheses q and r, int32 [A**k, A**k]."""
        idx = self.hypothesis_indices(k)
        words = (self.gray[idx] << (self.bits_per_symbol * np.arange(k - 1, -1, -1))).sum(axis=1)
        return np.bitwise_count(words[:, None] ^ words[None, :]).astype(np.int32)

    def __repr__(self) -> str:
        if np.iscomplexobj(self.points):
            return f"Constellation.qam({self.bits_per_symbol})"
        return f"Constellation({self.name!r}, points={self.points}, complex_symbols={self.complex_symbols})"


def _pam(order: int, energy: float) -> np.ndarray:
    pts = np.arange(-order + 1, order, 2, dtype=np.float64)
    return pts * np.sqrt(energy / np.mean(pts**2))


#: Names accepted by :func:`get_constellation`: real alphabets (QPSK and QAM as the alphabet of one axis).
CONSTELLATIONS = ("bpsk", "pam4", "pam8", "qpsk", "qam16", "qam64")
#: Names accepted by :func:`get_qam`: complex constellations (a ``users`` source's ``constellation``).
QAM_NAMES = ("bpsk", "qpsk", "qam16", "qam64", "qam256")


def get_constellation(name) -> Constellation:
    """Real alphabet by name (one of :data:`CONSTELLATIONS`), or a :class:`Constellation` passed through.

    Real PAM alphabets have unit average energy per dimension; complex QPSK/QAM have unit
    average energy per complex symbol (1/2 per real dimension).
    """
    if isinstance(name, Constellation):
        return name
    key = str(name).lower()
    if key == "bpsk":
        return Constellation("bpsk", [-1.0, 1.0], complex_symbols=False)
    if key in ("pam4", "pam8"):
        return Constellation(key, _pam(int(key[3:]), 1.0), complex_symbols=False)
    if key == "qpsk":
        return Constellation("qpsk", _pam(2, 0.5), complex_symbols=True)
    if key in ("qam16", "qam64"):
        return Constellation(key, _pam(int(np.sqrt(int(key[3:]))), 0.5), complex_symbols=True)
    raise ValueError(f"constellation must be one of {', '.join(CONSTELLATIONS)}, got {name!r}")


def get_qam(name) -> Constellation:
    """Complex constellation by name (one of :data:`QAM_NAMES`), or a :class:`Constellation` passed through."""
    if isinstance(name, Constellation):
        return name
    key = str(name).lower()
    bits = {"bpsk": 1, "qpsk": 2, "qam16": 4, "qam64": 6, "qam256": 8}.get(key)
    if bits is None:
        raise ValueError(f"constellation must be one of {', '.join(QAM_NAMES)}, got {name!r}")
    return Constellation.qam(bits)
