"""Vector quantizers: lattices with dither (Lang et al.), learned vector quantizers (Vali), as converter models.

- :mod:`~hwsim.quantizers.base`: the interface (:class:`VectorQuantizer`: ``quantize(x) -> (indices,
  reconstruction)``, rate in bits per dimension, ``export``) and the plain :class:`Codebook`
- :mod:`~hwsim.quantizers.lattices`: ``lattice(name_or_generator)`` (Z^n, A2, D_n, E8 with their exact
  nearest-point algorithms, any generator by an exact closest-point search), bounded codebooks with
  overload counts, dither exactly uniform over the Voronoi cell, ``nsm`` with its interval
- :mod:`~hwsim.quantizers.vq`: k-means++ and LBG, product, residual and additive VQ, codebook usage
- :mod:`~hwsim.quantizers.learned_vq` (torch, imported on use): straight-through, EMA, NSVQ,
  Gumbel-softmax and rotation-trick codebook learning, FSQ, space-filling VQ
- :mod:`~hwsim.quantizers.learned_lattice` (torch, imported on use): Lang et al.'s learned lattice (the
  phi surrogate as printed, which converges to a rotated Z^n, and exact closest-point training, which
  finds A2, D4 and E8 to within 0.2% of their NSM), and ``train_source_lattice``: the seed's objective on
  a source's samples at a fixed rate (codebook ``{G l : l in I_M}``, scale and support learnt with the shape)
- :mod:`~hwsim.quantizers.files`: codebooks and lattice generators as JSON (with its schema) and C headers
"""

from .base import Codebook, VectorQuantizer, check_batch, codewords_for, nearest_codeword
from .lattices import BoundedLattice, Lattice, from_export, lattice, nsm, voronoi_uniform
from .vq import (AdditiveVQ, ProductVQ, ResidualVQ, dead_codes, kmeans_pp, lbg, perplexity, train_avq, train_pvq,
                 train_rvq, vq_from_dict)

__all__ = ["AdditiveVQ", "BoundedLattice", "Codebook", "Lattice", "ProductVQ", "ResidualVQ", "VectorQuantizer",
           "check_batch", "codewords_for", "dead_codes", "from_export", "kmeans_pp", "lattice", "lbg",
           "nearest_codeword", "nsm", "perplexity", "train_avq", "train_pvq", "train_rvq", "voronoi_uniform",
           "vq_from_dict"]
