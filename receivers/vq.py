r"""Vector quantizers as the receivers of a quantization study (source ``gaussian``, metric ``mse``).

The study ``vq_gaussian.toml`` asks how close each quantizer comes to the rate-distortion bound
of a Gaussian source: the "link" is the source, the receiver quantizes each vector and hands back
its reconstruction, and the metric is the MSE per dimension (SNR = -10 log10 MSE for the
unit-variance source).

- ``rd_bound`` (closed form): the distortion-rate function of the source's ``dim``-dimensional
  block at ``rate`` bits per dimension, reverse water-filling on the eigenvalues of its covariance
  (:func:`hwsim.designs.bounds.reverse_water_filling`); :math:`2^{-2R}` for the i.i.d. source.
"""

from __future__ import annotations

import typing
from typing import Literal

import numpy as np

from hwsim import _checks
from hwsim.components import register

from .estimation import Estimator


def _check_gaussian(link, name: str) -> None:
    if not link.source.gaussian:
        raise ValueError(f"receiver.type = {name!r} quantizes a gaussian source (source.type = \"gaussian\"), got "
                         f"{link.source.name!r}")


@register("receiver", "rd_bound")
class RDBound(Estimator):
    """The rate-distortion bound of the source at ``rate`` bits per dimension (MSE per dimension)."""

    def __init__(self, *, rate: float = 1.0):
        super().__init__()
        _checks.real("receiver.rate", rate, positive=True)

    def check_link(self, link) -> None:
        super().check_link(link)
        _check_gaussian(link, "rd_bound")

    def exact_value(self, link) -> float:
        from hwsim.designs.bounds import reverse_water_filling

        n = link.source.n
        eig = np.linalg.eigvalsh(link.source.covariance())
        total, _ = reverse_water_filling(np.clip(eig, 0.0, None), self.params["rate"] * n)
        return total / n


#: Quantizers the ``vq`` receiver trains or designs (``method``): the values its ``method`` parameter allows.
Method = Literal["lloyd_max", "lattice", "lbg", "nsvq", "rvq", "pvq", "avq", "learned_lattice", "learned_lattice_source"]
METHODS = typing.get_args(Method)
#: The best known lattice quantizer of small dimensions (Conway & Sloane table 2.3), ``lattice = "auto"``.
BEST_LATTICE = {1: "Z1", 2: "A2", 3: "D3", 4: "D4", 8: "E8"}
#: Most codewords of a quantizer trained on samples (LBG, NSVQ: one codebook of 2^(nR) codewords).
MAX_TRAINED_CODEWORDS = 4096


@register("receiver", "vq")
class VQ(Estimator):
    r"""A vector quantizer of the source's vectors at ``rate`` bits per dimension (:math:`2^{nR}` codewords):

    - ``lloyd_max``: the Lloyd-Max quantizer of N(0, 1) on every dimension (scalar);
    - ``lattice``: the :math:`2^{nR}` smallest points of ``lattice`` (``auto``: Z1, A2, D3, D4 or E8 for the
      dimension), scaled for the least MSE on the training samples (overload included);
    - ``lbg``, ``nsvq``: one codebook, LBG from k-means++ or learned with noise substitution (at most
      :data:`MAX_TRAINED_CODEWORDS` codewords);
    - ``rvq``, ``pvq``, ``avq``: ``stages`` codebooks sharing the :math:`nR` bits (residual and additive,
      with beam search ``beam``: at most one stage per bit; product: over ``min(stages, n)``
      contiguous sub-vectors);
    - ``learned_lattice``: Lang et al.'s learned lattice (:mod:`hwsim.quantizers.learned_lattice`), its shape
      trained with no data (the NSM-optimal shape: the uniform-source limit), then scaled for the source;
    - ``learned_lattice_source``: Lang et al.'s learned lattice trained on the source's samples with the seed's
      objective at the fixed rate (:func:`hwsim.quantizers.learned_lattice.train_source_lattice`: the MSE of the
      subtractively dithered bounded quantizer, overload included, ``steps`` steps).

    Trained per point on ``train_samples`` vectors of the source from the point's set-up stream.
    """

    LIMITS = {"train_samples": 2_000_000, "stages": 8, "beam": 64, "steps": 1_000_000, "iters": 100_000}

    def __init__(self, *, method: Method = "lbg", rate: float = 1.0, lattice: str = "auto", train_samples: int = 20_000,
                 stages: int = 2, beam: int = 4, steps: int = 3000, iters: int = 100):
        super().__init__()  # the registry has checked the values (method one of METHODS) and set self.params
        p = self.params
        _checks.real("receiver.rate", p["rate"], positive=True)
        for key, hi in self.LIMITS.items():
            _checks.integer(f"receiver.{key}", p[key], minimum=1, maximum=hi)
        self.quantizer = None

    def _codewords(self, n: int, parts: int = 1) -> int:
        """Codewords of each of ``parts`` codebooks sharing ``rate * n`` bits (a whole number each)."""
        bits = self.params["rate"] * n / parts
        if abs(bits - round(bits)) > 1e-9:
            raise ValueError(f"receiver.rate = {self.params['rate']} in {n} dimensions over {parts} codebook(s) gives "
                             f"{bits:g} bits per codebook; give a rate that makes it a whole number")
        return 2 ** int(round(bits))

    def check_link(self, link) -> None:
        super().check_link(link)
        _check_gaussian(link, "vq")
        p, n = self.params, link.source.n
        method = p["method"]
        if method in ("lbg", "nsvq", "lattice", "learned_lattice", "learned_lattice_source"):
            from hwsim.quantizers import codewords_for

            codewords_for(p["rate"], n)  # bounded before anything is allocated
            count = self._codewords(n)
            if method in ("lbg", "nsvq", "learned_lattice_source") and count > MAX_TRAINED_CODEWORDS:
                raise ValueError(f"receiver.method = {method!r} at {p['rate']} bits per dimension in {n} dimensions "
                                 f"needs {count} codewords, more than the {MAX_TRAINED_CODEWORDS} a trained codebook may "
                                 "have here (use rvq, pvq or avq)")
        elif method == "lloyd_max":
            if self._codewords(1) > 2**8:
                raise ValueError(f"receiver.method = 'lloyd_max' designs at most 8 bits per dimension, got rate "
                                 f"{p['rate']}")
        else:
            if method == "pvq":
                counts = [self._codewords(d) for d in _split(n, min(p["stages"], n))]
            else:
                counts = [self._codewords(n, _stages(p, n))]
            count = max(counts)
            if count > MAX_TRAINED_CODEWORDS:
                raise ValueError(f"receiver.method = {method!r}: {count} codewords per codebook, more than "
                                 f"{MAX_TRAINED_CODEWORDS}; raise receiver.stages")
        if method == "lattice" and p["lattice"] == "auto" and n not in BEST_LATTICE:
            raise ValueError(f"receiver.lattice = 'auto' knows dimensions {sorted(BEST_LATTICE)}, the source has {n}")

    def prepare(self, link, snr_db, rng) -> None:
        self.quantizer = design(self.params, link.source, rng)

    def estimate(self, x, rng) -> np.ndarray:
        return self.quantizer.quantize(x)[1]


def design(p: dict, source, rng: np.random.Generator):
    """The quantizer of the ``vq`` receiver with parameters ``p`` for ``source``, trained from ``rng``."""
    from hwsim import quantizers as q

    n, method, rate = source.n, p["method"], p["rate"]
    if method == "lloyd_max":
        from hwsim.designs.scalar import lloyd_max

        levels = lloyd_max(int(round(rate))).levels[:, None]
        return q.ProductVQ([levels] * n)
    samples = source.draw(p["train_samples"], rng)
    if method == "lattice":
        return q.lattices.gaussian_codebook(BEST_LATTICE[n] if p["lattice"] == "auto" else p["lattice"],
                                            int(round(2 ** (rate * n))), samples)
    if method == "lbg":
        return q.lbg(samples, int(round(2 ** (rate * n))), rng, iters=p["iters"])[0]
    if method == "nsvq":
        from hwsim.quantizers.learned_vq import train_vq

        return train_vq(samples, int(round(2 ** (rate * n))), "nsvq", rng, steps=p["steps"])[0]
    if method == "rvq":
        stages = _stages(p, n)
        return q.train_rvq(samples, stages, int(round(2 ** (rate * n / stages))), rng, iters=p["iters"])
    if method == "pvq":
        parts = min(p["stages"], n)
        sizes = [int(round(2 ** (rate * d))) for d in _split(n, parts)]
        return q.train_pvq(samples, parts, sizes, rng, iters=p["iters"])
    if method == "avq":
        stages = _stages(p, n)
        return q.train_avq(samples, stages, int(round(2 ** (rate * n / stages))), rng, beam=p["beam"])[0]
    if method == "learned_lattice_source":
        from hwsim.quantizers.learned_lattice import train_source_lattice

        return train_source_lattice(samples, int(round(2 ** (rate * n))), steps=p["steps"],
                                    seed=int(rng.integers(2**31))).quantizer
    return _learned_lattice(samples, int(round(2 ** (rate * n))), rng, p["steps"])


def _learned_lattice(samples: np.ndarray, codewords: int, rng: np.random.Generator, steps: int):
    """Lang et al.'s learned lattice for a Gaussian source: the lattice's shape learned at a fixed cell volume
    with the exact closest point (:func:`hwsim.quantizers.learned_lattice.train_lattice`, ``rounding =
    "nearest"``: the seed's phi surrogate converges to a rotated Z^n, see that module), then its
    ``codewords`` smallest points scaled for the source like the fixed lattices."""
    from hwsim.quantizers.lattices import gaussian_codebook
    from hwsim.quantizers.learned_lattice import train_lattice

    n = samples.shape[1]
    if n == 1:
        return gaussian_codebook("Z1", codewords, samples)
    trained = train_lattice(dim=n, rounding="nearest", steps=steps, seed=int(rng.integers(2**31)))
    return gaussian_codebook(np.asarray(trained.generator).T, codewords, samples)


def _stages(p: dict, n: int) -> int:
    """Stages of a residual or additive VQ: ``stages``, but never more than the bits per vector."""
    return max(1, min(p["stages"], int(round(p["rate"] * n))))


def _split(n: int, parts: int) -> list[int]:
    base, extra = divmod(n, parts)
    return [base + (i < extra) for i in range(parts)]
