"""Vector quantizers: lattices with dither (seed 000), learned vector quantizers (seed 004), as converter models.

- :mod:`~hwsim.quantizers.base`: the interface (:class:`VectorQuantizer`: ``quantize(x) -> (indices,
  reconstruction)``, rate in bits per dimension, ``export``) and the plain :class:`Codebook`
"""

from .base import Codebook, VectorQuantizer, check_batch, codewords_for, nearest_codeword

__all__ = ["Codebook", "VectorQuantizer", "check_batch", "codewords_for", "nearest_codeword"]
