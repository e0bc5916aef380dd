r"""Scalar ADC models: ``p`` identical scalar quantizers applied element-wise.

Every ADC in hwsim reduces to one hard representation, the :class:`ThresholdADC`:
sorted decision thresholds :math:`t_1 < \dots < t_{M-1}`, reconstruction levels
:math:`g_0, \dots, g_{M-1}` and integer codes :math:`0, \dots, M-1`. An input
:math:`x` gets code :math:`c` when :math:`t_c \le x < t_{c+1}` (with
:math:`t_0 = -\infty`, :math:`t_M = +\infty`); a value exactly on a threshold
goes to the upper cell. Inputs beyond the outer thresholds clip to the outer codes.

Two interchangeable hard paths give identical codes: numpy arrays go through a
numba kernel, torch tensors through :func:`torch.bucketize`. Training surrogates
(soft quantizers) live elsewhere and are converted to this table before any
reported metric.

Uniform mid-rise ADC (the survey of Chen et al., eq. (2), consistent reading): step
:math:`D = 2\gamma/M`, thresholds :math:`-\gamma + lD` for :math:`l = 1..M-1`,
levels :math:`-\gamma + (l + 1/2) D`; beyond :math:`\pm\gamma` the output is
:math:`\pm(\gamma - D/2)`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .. import _checks

#: Largest number of levels a table may have (a 16-bit converter).
MAX_LEVELS = 2**16


#: Up to this many thresholds a branch-free count beats binary search.
_LINEAR_SEARCH_MAX = 32


@njit(cache=True, inline="always")
def code_of(v, thresholds):  # pragma: no cover - compiled
    """Code of one (non-NaN) value: the number of thresholds <= v. For use inside numba kernels."""
    m = thresholds.size
    if m <= _LINEAR_SEARCH_MAX:
        c = 0
        for j in range(m):
            c += thresholds[j] <= v
        return c
    lo = 0
    hi = m
    while lo < hi:
        mid = (lo + hi) >> 1
        if thresholds[mid] <= v:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(parallel=True, cache=True)
def _encode_kernel(x, thresholds, out):  # pragma: no cover - compiled
    """Code of each x (:func:`code_of`). Returns the number of NaNs seen."""
    nan_count = 0
    for i in prange(x.size):
        v = x[i]
        if v != v:
            nan_count += 1
            out[i] = 0
        else:
            out[i] = code_of(v, thresholds)
    return nan_count


@njit(parallel=True, cache=True)
def _convert_kernel(y, scale, thresholds, levels, edges, r, lower, upper):  # pragma: no cover - compiled
    """One pass of a bank of converters behind their gains: for each real sample ``y[f, l, n]`` the code of
    ``y / scale[f, n]``, its level and cell edges times ``scale[f, n]`` into ``r``, ``lower``, ``upper``
    (same shape). Returns the number of NaNs seen (their outputs are left unset)."""
    frames, uses, inputs = y.shape
    nan_count = 0
    for fl in prange(frames * uses):
        f = fl // uses
        u = fl - f * uses
        for n in range(inputs):
            a = scale[f, n]
            v = y[f, u, n] / a
            if v != v:
                nan_count += 1
                continue
            c = code_of(v, thresholds)
            r[f, u, n] = levels[c] * a
            lower[f, u, n] = edges[c] * a
            upper[f, u, n] = edges[c + 1] * a
    return nan_count


@njit(parallel=True, cache=True)
def _convert_iq_kernel(y, scale, thresholds, levels, edges, r, lower_re, upper_re, lower_im,
                       upper_im):  # pragma: no cover - compiled
    """:func:`_convert_kernel` for complex ``y``: an I and a Q converter per sample behind the same gain, in one
    pass (``r`` complex, the edges of each rail apart)."""
    frames, uses, inputs = y.shape
    nan_count = 0
    for fl in prange(frames * uses):
        f = fl // uses
        u = fl - f * uses
        for n in range(inputs):
            a = scale[f, n]
            v = y[f, u, n]
            re = v.real / a
            im = v.imag / a
            if re != re or im != im:
                nan_count += 1
                continue
            ci = code_of(re, thresholds)
            cq = code_of(im, thresholds)
            r[f, u, n] = complex(levels[ci] * a, levels[cq] * a)
            lower_re[f, u, n] = edges[ci] * a
            upper_re[f, u, n] = edges[ci + 1] * a
            lower_im[f, u, n] = edges[cq] * a
            upper_im[f, u, n] = edges[cq + 1] * a
    return nan_count


def _check_real(x) -> None:
    """A real converter refuses complex input instead of silently dropping its imaginary part."""
    if (_is_torch(x) and x.is_complex()) or (not _is_torch(x) and np.iscomplexobj(x)):
        raise ValueError("x is complex, but this ADC is real: quantize the real and imaginary parts with "
                         "one converter each (hwsim.converters gives I/Q converter banks)")


def _is_torch(x) -> bool:
    return type(x).__module__.split(".", 1)[0] == "torch"


class ThresholdADC:
    r"""Scalar ADC given by its decision table.

    Parameters
    ----------
    thresholds : array_like, shape [M-1]
        Strictly increasing, finite decision thresholds.
    levels : array_like, shape [M]
        Finite reconstruction level of each code (need not be sorted).

    Notes
    -----
    The same converter is applied to every element of the input, so an input of
    shape ``[batch, p]`` models ``p`` identical ADCs.
    """

    def __init__(self, thresholds, levels):
        t = _checks.finite_array("thresholds", thresholds, ndim=1)
        g = _checks.finite_array("levels", levels, ndim=1)
        if g.size < 2:
            raise ValueError(f"levels must hold at least 2 reconstruction levels, got {g.size}")
        if g.size > MAX_LEVELS:
            raise ValueError(f"levels must hold at most {MAX_LEVELS} entries, got {g.size}")
        if t.size != g.size - 1:
            raise ValueError(f"thresholds must have len(levels) - 1 = {g.size - 1} entries, got {t.size}")
        if np.any(np.diff(t) <= 0):
            bad = int(np.argmax(np.diff(t) <= 0))
            raise ValueError(f"thresholds must be strictly increasing, but thresholds[{bad}] = {t[bad]} "
                             f">= thresholds[{bad + 1}] = {t[bad + 1]}")
        self._thresholds = np.ascontiguousarray(t)
        self._levels = np.ascontiguousarray(g)
        self._thresholds.setflags(write=False)
        self._levels.setflags(write=False)
        self._torch_cache: dict = {}

    # ------------------------------------------------------------------ properties
    @property
    def thresholds(self) -> np.ndarray:
        """Decision thresholds, shape [M-1], read-only."""
        return self._thresholds

    @property
    def levels(self) -> np.ndarray:
        """Reconstruction levels, shape [M], read-only."""
        return self._levels

    @property
    def n_levels(self) -> int:
        """Number of codes M."""
        return self._levels.size

    @property
    def bits(self) -> float:
        """Resolution log2(M) in bits (not an integer when M is not a power of two)."""
        return float(np.log2(self.n_levels))

    @property
    def cell_edges(self) -> np.ndarray:
        """Cell boundaries ``[-inf, t_1, ..., t_{M-1}, +inf]``, shape [M+1]."""
        return np.concatenate(([-np.inf], self._thresholds, [np.inf]))

    # ------------------------------------------------------------------ hard path
    def encode(self, x):
        """Codes of ``x``; shape as ``x``.

        numpy input gives ``int32`` codes (numba kernel); a torch tensor gives
        ``int64`` codes on its device (``torch.bucketize``). NaN input is rejected.
        """
        _check_real(x)
        if _is_torch(x):
            return self._encode_torch(x)
        arr = np.ascontiguousarray(x, dtype=np.float64)
        out = np.empty(arr.shape, dtype=np.int32)
        if _encode_kernel(arr.reshape(-1), self._thresholds, out.reshape(-1)):
            raise ValueError("x must not contain NaN (an ADC has no code for it)")
        return out

    def convert_scaled(self, x: np.ndarray, scale: np.ndarray) -> dict:
        """Converters behind gains, in one pass: for ``x`` [F, L, N] and gains ``scale`` [F, N] (> 0), the
        reconstructions ``r = levels[encode(x / scale)] * scale`` and the cells' edges times ``scale``
        (``lower_re``, ``upper_re``, float64 [F, L, N], the outer edges infinite). A complex ``x`` has an I and a
        Q converter per sample behind the same gain: ``r`` is complex and ``lower_im``, ``upper_im`` come too.
        The same numbers as those steps one by one. NaN input is rejected."""
        scale = np.ascontiguousarray(scale, dtype=np.float64)
        iq = np.iscomplexobj(x)
        x = np.asarray(x, dtype=np.complex128 if iq else np.float64)
        if x.ndim != 3 or scale.shape != (x.shape[0], x.shape[2]):
            raise ValueError(f"x must be [F, L, N] and scale [F, N], got {x.shape} and {scale.shape}")
        names = ("lower_re", "upper_re", "lower_im", "upper_im") if iq else ("lower_re", "upper_re")
        out = {"r": np.empty(x.shape, dtype=x.dtype), **{name: np.empty(x.shape) for name in names}}
        kernel = _convert_iq_kernel if iq else _convert_kernel
        if kernel(x, scale, self._thresholds, self._levels, self.cell_edges, *out.values()):
            raise ValueError("x must not contain NaN (an ADC has no code for it)")
        return out

    def decode(self, codes):
        """Reconstruction levels of integer ``codes``; shape as ``codes``."""
        if _is_torch(codes):
            import torch

            if torch.is_floating_point(codes) or torch.is_complex(codes):
                raise TypeError(f"codes must be integers, got dtype {codes.dtype}")
            if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.n_levels):
                raise ValueError(f"codes must lie in [0, {self.n_levels - 1}]")
            return self._torch_table(codes.device, torch.float64)[1][codes]
        c = np.asarray(codes)
        if not np.issubdtype(c.dtype, np.integer):
            raise TypeError(f"codes must be integers, got dtype {c.dtype}")
        if c.size and (c.min() < 0 or c.max() >= self.n_levels):
            raise ValueError(f"codes must lie in [0, {self.n_levels - 1}], got range "
                             f"[{c.min()}, {c.max()}]")
        return self._levels[c]

    def quantize(self, x):
        """Hard quantization ``decode(encode(x))``; shape and library as ``x``."""
        _check_real(x)
        if _is_torch(x):
            import torch

            return self._torch_table(x.device, torch.float64)[1].to(x.dtype)[self._encode_torch(x)]
        return self._levels[self.encode(x)]

    def _torch_table(self, device, dtype):
        key = (str(device), dtype)
        if key not in self._torch_cache:
            import torch

            self._torch_cache[key] = (torch.tensor(self._thresholds, dtype=dtype, device=device),
                                      torch.tensor(self._levels, dtype=dtype, device=device))
        return self._torch_cache[key]

    def _encode_torch(self, x):
        import torch

        if torch.isnan(x).any():
            raise ValueError("x must not contain NaN (an ADC has no code for it)")
        # Compare in float64 so a float32 input meets the very same thresholds.
        t = self._torch_table(x.device, torch.float64)[0]
        return torch.bucketize(x.to(torch.float64).contiguous(), t, right=True)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_levels={self.n_levels}, thresholds={np.array2string(self._thresholds, precision=4)})"


class UniformADC(ThresholdADC):
    r"""Uniform mid-rise ADC with ``n_levels`` levels over ``[-gamma, gamma]``.

    ``UniformADC(2, gamma)`` is the one-bit (sign) converter with levels ``+-gamma/2``.

    Parameters
    ----------
    n_levels : int
        Number of levels M >= 2.
    gamma : float
        Support (full-scale) half-width, > 0. Inputs beyond it clip to the outer levels.
    """

    def __init__(self, n_levels: int, gamma: float):
        n_levels = _checks.integer("n_levels", n_levels, minimum=2, maximum=MAX_LEVELS)
        gamma = _checks.real("gamma", gamma, positive=True)
        step = 2.0 * gamma / n_levels
        idx = np.arange(n_levels)
        super().__init__(-gamma + step * idx[1:], -gamma + step * (idx + 0.5))
        self.gamma = gamma
        self.step = step

    def __repr__(self) -> str:
        return f"UniformADC(n_levels={self.n_levels}, gamma={self.gamma})"


class DitheredADC:
    r"""Uniform ADC preceded by a dither uniform over one step :math:`[-D/2, D/2)`.

    - non-subtractive: output :math:`Q(x + u)`. Within the support (no overload) the
      error has zero mean and is uncorrelated with :math:`x`.
    - subtractive: output :math:`Q(x + u) - u`. Within the support the error is uniform
      over one step and independent of :math:`x`.

    Parameters
    ----------
    n_levels, gamma
        As for :class:`UniformADC`.
    subtractive : bool
        Whether the receiver subtracts the dither after the converter.
    """

    def __init__(self, n_levels: int, gamma: float, *, subtractive: bool = False):
        if not isinstance(subtractive, bool):
            raise TypeError(f"subtractive must be True or False, got {subtractive!r}")
        self.adc = UniformADC(n_levels, gamma)
        self.subtractive = subtractive

    @property
    def step(self) -> float:
        return self.adc.step

    def draw_dither(self, shape, rng: np.random.Generator) -> np.ndarray:
        """Dither samples uniform over one step, shape ``shape``."""
        _checks.generator("rng", rng)
        half = self.adc.step / 2
        return rng.uniform(-half, half, size=shape)

    def apply(self, x, dither):
        """Quantize ``x`` with a given ``dither`` (same shape; numpy or torch)."""
        if np.shape(x) != np.shape(dither):
            raise ValueError(f"dither must have the shape of x {tuple(np.shape(x))}, got {tuple(np.shape(dither))}")
        y = self.adc.quantize(x + dither)
        return y - dither if self.subtractive else y

    def quantize(self, x, rng: np.random.Generator) -> np.ndarray:
        """Quantize numpy ``x`` with fresh dither from ``rng``; shape as ``x``."""
        _check_real(x)
        x = np.asarray(x, dtype=np.float64)
        return self.apply(x, self.draw_dither(x.shape, rng))

    def __repr__(self) -> str:
        kind = "subtractive" if self.subtractive else "non-subtractive"
        return f"DitheredADC(n_levels={self.adc.n_levels}, gamma={self.adc.gamma}, {kind})"
