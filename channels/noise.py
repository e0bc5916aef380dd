"""Receiver noise added in place: the draws of :meth:`hwsim.hooks.ChannelHooks.receive` without the
temporaries of ``y += (re + 1j * im) * c`` (the same numbers, one pass over ``y``)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _add_complex(y, re, im, c):  # pragma: no cover - compiled
    flat_y, flat_re, flat_im = y.reshape(-1), re.reshape(-1), im.reshape(-1)
    for i in range(flat_y.size):
        v = flat_y[i]
        flat_y[i] = complex(v.real + flat_re[i] * c, v.imag + flat_im[i] * c)


def add_complex_noise(y: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    r"""``y`` (complex128, C-contiguous) plus :math:`\mathcal{CN}(0, 2\sigma^2)` noise drawn from ``rng``, in place: the
    real parts of every sample first, then the imaginary parts (``rng.standard_normal(y.shape)`` twice), each
    scaled by ``sigma`` (the standard deviation per real dimension). Returns ``y``."""
    if y.dtype != np.complex128 or not y.flags.c_contiguous:
        raise ValueError(f"y must be a C-contiguous complex128 array, got {y.dtype} (contiguous: {y.flags.c_contiguous})")
    re = rng.standard_normal(y.shape)
    im = rng.standard_normal(y.shape)
    _add_complex(y, re, im, float(sigma))
    return y
