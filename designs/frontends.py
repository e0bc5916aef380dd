r"""Analog front ends: what sits between the antennas and the converters.

A front end maps the antenna signal :math:`y = H s + n` (complex [F, L, N], :math:`E|s|^2 = 1`,
:math:`n \sim \mathcal{CN}(0, N_0 I)`) to the converters' inputs :math:`z = W y` (complex
[F, L, p]); the link then hands the receiver the effective channel :math:`W H` [F, p, K] and the
noise covariance :math:`N_0 W W^H`.

- ``identity``: no combining, one I/Q converter pair per antenna;
- ``combiner``: a fixed matrix, or the first ``outputs`` antennas;
- ``theorem3``: the task-based combiner of Theorem 3 (the survey of Chen et al., Sec. II-A), designed per
  frame from the channel for the task of estimating the users' symbols by LMMSE.

A front end may also define ``check_link(link)`` (the hook every stage of a
:class:`hwsim.pipeline.Pipeline` may have), raising ``ValueError`` before anything runs when it
cannot serve the link, for example a design that assumes another converter resolution than the
bank has.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from hwsim import _checks
from hwsim.components import register
from hwsim.hooks import FrontendHooks


def _check_link_arrays(y, H) -> tuple[int, int, int, int]:
    if not (np.iscomplexobj(y) and y.ndim == 3):
        raise ValueError(f"y must be complex [F, L, N], got {getattr(y, 'dtype', type(y))} of shape "
                         f"{np.shape(y)}")
    if H.ndim != 3 or H.shape[:2] != (y.shape[0], y.shape[2]):
        raise ValueError(f"H must be [F, N, K] = [{y.shape[0]}, {y.shape[2]}, K] to match y, got {H.shape}")
    f, l, n = y.shape
    return f, l, n, H.shape[2]


class FrontEnd(FrontendHooks):
    """Base of the analog front ends: ``apply(y, H, noise_var) -> (W y, W H, noise_cov)``.

    What a front end says of itself, for the stages that ask (never its name): ``combines`` is False
    only where the converters see the antennas' own signals (:class:`Identity`)."""


@register("frontend", "identity")
class Identity(FrontEnd):
    """No combining: one converter pair per antenna."""

    combines = False

    def outputs(self, antennas: int) -> int:
        return antennas

    def apply(self, y: np.ndarray, H: np.ndarray, noise_var: float):
        """``(y, H, noise_cov)`` at the converters; ``noise_cov`` None means white :math:`N_0 I`."""
        return y, H, None


@register("frontend", "combiner")
class Combiner(FrontEnd):
    r"""A fixed analog combiner, the same for every frame.

    Give exactly one of:

    - ``outputs = p``: keep the first ``p`` antennas (a selection; the noise stays white);
    - ``matrix``: the combiner :math:`W` [p][N] as a nested list of numbers (its real part), with
      ``imag`` the imaginary part of the same shape (optional). The noise at the converters is
      :math:`\mathcal{CN}(0, N_0 W W^H)`.

    Parameters
    ----------
    outputs : int
        Antennas kept (0: use ``matrix``).
    matrix, imag : list of lists of float
        Real and imaginary part of :math:`W`.
    """

    @classmethod
    def describe(cls, params: dict) -> str:
        p = params["outputs"] if params.get("outputs") else len(params.get("matrix") or [])
        return f"analog combiner to {p} outputs"

    def __init__(self, *, outputs: int = 0, matrix: list = [], imag: list = []):
        p = outputs
        if p < 0:
            raise ValueError(f"frontend.outputs must be >= 1 (or 0 with a frontend.matrix), got {p}")
        if (p > 0) == bool(matrix):
            raise ValueError("frontend 'combiner' needs exactly one of frontend.outputs (> 0: keep the first p "
                             f"antennas) and frontend.matrix (a [p][N] nested list), got outputs = {p} and "
                             f"{'a' if matrix else 'no'} matrix")
        if imag and not matrix:
            raise ValueError("frontend.imag is the imaginary part of frontend.matrix; it needs a matrix")
        self.W = None
        if matrix:
            try:
                real = _checks.finite_array("frontend.matrix", matrix, ndim=2)
                im = _checks.finite_array("frontend.imag", imag, ndim=2) if imag else np.zeros_like(real)
            except ValueError as err:
                raise ValueError(f"{err} (a [p][N] nested list of numbers, rows of equal length)") from None
            if im.shape != real.shape:
                raise ValueError(f"frontend.imag must have the shape of frontend.matrix {real.shape}, got {im.shape}")
            if not np.any(real) and not np.any(im):
                raise ValueError("frontend.matrix is all zero")
            self.W = real + 1j * im

    def outputs(self, antennas: int) -> int:
        """Number of converter pairs, ``p``; ``ValueError`` if the combiner does not fit ``antennas``."""
        if self.W is None:
            if self.params["outputs"] > antennas:
                raise ValueError(f"frontend.outputs = {self.params['outputs']} antennas kept, but the channel has "
                                 f"only {antennas} (channel.antennas)")
            return self.params["outputs"]
        if self.W.shape[1] != antennas:
            raise ValueError(f"frontend.matrix has {self.W.shape[1]} columns, the channel has {antennas} antennas "
                             "(channel.antennas); the combiner must be [p][N]")
        return self.W.shape[0]

    def check_link(self, link) -> None:
        """Refuse, before anything runs, a combiner that does not fit the channel."""
        self.outputs(link.channel.antennas)
        if link.channel.real and self.W is not None and np.any(self.W.imag):
            raise ValueError("frontend.imag: a real link (channel.real) takes a real combiner")

    def apply(self, y: np.ndarray, H: np.ndarray, noise_var: float):
        """``(W y, W H, noise_cov)``: complex [F, L, p], [F, p, K] and None (selection) or [p, p]."""
        _, _, n, _ = _check_link_arrays(y, H)
        p = self.outputs(n)
        if self.W is None:
            return y[:, :, :p], H[:, :p, :], None
        W = self.W
        return (np.einsum("pn,fln->flp", W, y, optimize=True), np.einsum("pn,fnk->fpk", W, H),
                float(noise_var) * (W @ W.conj().T))


def matched_eta(bits: int) -> float:
    r"""The Theorem 3 ``eta`` at which its support equals that of the ``uniform`` converter bank.

    The bank's table (:func:`hwsim.designs.uniform_gaussian`) clips at :math:`g` standard
    deviations of its input; Theorem 3 states the support :math:`\gamma` in standard deviations of
    input plus dither, :math:`\eta = \gamma/\sqrt{\sigma^2 + \gamma^2/(3M^2)}`, so
    :math:`\eta = g/\sqrt{1 + g^2/(3M^2)}` (always below :math:`\sqrt3 M`).
    """
    from hwsim.designs import uniform_gaussian

    table = uniform_gaussian(bits)
    g, m = table.gamma, table.n_levels
    return g / math.sqrt(1 + g**2 / (3 * m**2))


@register("frontend", "theorem3")
class Theorem3Combiner(FrontEnd):
    r"""Task-based analog combiner: Theorem 3 for the LMMSE estimate of the users' symbols.

    Per frame, from the channel :math:`H` [N, K] the receiver knows and :math:`N_0`, the task is
    :math:`\tilde s = \Gamma y` with :math:`\Gamma = H^H (H H^H + N_0 I)^{-1}` (unit-energy,
    uncorrelated symbols, so :math:`\Sigma_y = H H^H + N_0 I`); the combiner is
    :func:`hwsim.designs.task_based.theorem3_complex` for ``outputs`` complex outputs and
    :math:`M = 2^{\text{bits}}` levels per I or Q converter, i.e. the real Theorem 3 on the real
    decomposition (:math:`2N` inputs, :math:`2K` task entries, :math:`2p` converters) with its
    complex structure kept. Output :math:`i` is one complex sample whose real and imaginary parts
    go to an I and a Q converter.

    Gain: Theorem 3 gives every output the same power (the rotation :math:`U_A`); the front end
    scales each row of the combiner so that the I and the Q part of every output have unit
    variance, :math:`E|z_i|^2 = 2`. A converter bank with ``agc = "fixed"`` and ``scale = 1`` then
    sees exactly what an ideal AGC would give it (the two are the same here; ``"ideal"`` needs a
    bank whose AGC reads the diagonal of each frame's [F, p, p] noise covariance), and its table fixes
    the support: the bank's table governs the conversion, ``eta`` only shapes the design (the
    water-filling over the channel's modes). The default ``eta = 0`` takes
    :func:`matched_eta`, the value at which Theorem 3's support is the ``uniform`` bank's
    MSE-optimal one for ``bits``.

    The receiver sees :math:`z = B y`, :math:`H_e = B H` and the noise covariance
    :math:`N_0 B B^H` [F, p, p] (of rank at most K: the design puts every output in the span of
    the task's K modes, so for ``p > K`` an unquantized link has a singular covariance and only
    the quantizing banks, whose distortion fills it, can follow). Theorem 3's own digital matrix
    (3a) is the LMMSE filter of this model plus white dither-model quantization noise. With equal
    output powers the Bussgang LMMSE receiver (``blmmse``) is the same filter with the measured
    distortion of the undithered converters in place of that noise (and the exact arcsine-law
    covariance at 1 bit); on the massive-MIMO link it has the lower BER at 1 and 2 bits and the
    same at 4, so it is the receiver to pair with this front end.

    Parameters
    ----------
    outputs : int
        Complex outputs ``p`` (``2 p`` real converters), ``K <= p <= N``.
    bits : int
        Resolution of each converter the design assumes (1..8); must equal the bank's
        (:meth:`check_link`).
    eta : float
        Theorem 3's support in standard deviations of each converter's input plus dither,
        ``0 < eta < sqrt(3) 2**bits``; 0 (default) takes :func:`matched_eta`.
    rotation : {"dft", "givens"}
        Theorem 3's equalizing rotation (:func:`hwsim.designs.task_based.theorem3_complex`);
        ``"dft"`` (default) keeps outputs from being copies of one another when ``p > K``.
    """

    @classmethod
    def describe(cls, params: dict) -> str:
        return f"Theorem 3 combiner to {params['outputs']} outputs"

    def __init__(self, *, outputs: int = 16, bits: int = 3, eta: float = 0.0,
                 rotation: Literal["dft", "givens"] = "dft"):
        from hwsim.converters.banks import MAX_DESIGN_BITS

        _checks.integer("frontend.outputs", outputs, minimum=1)
        bits = _checks.integer("frontend.bits", bits, minimum=1, maximum=MAX_DESIGN_BITS)
        self.levels = 2**bits
        eta = _checks.real("frontend.eta", eta, nonnegative=True)
        limit = math.sqrt(3) * self.levels
        if eta >= limit:
            raise ValueError(f"frontend.eta must be < sqrt(3) * 2**bits = {limit:.4g} for {bits}-bit converters "
                             f"(0 takes the value matched to the uniform bank), got {eta}")
        self.eta = eta if eta > 0 else matched_eta(bits)

    def outputs(self, antennas: int) -> int:
        """Number of complex outputs ``p``; ``ValueError`` if ``p`` exceeds ``antennas``."""
        p = self.params["outputs"]
        if p > antennas:
            raise ValueError(f"frontend.outputs = {p} exceeds the {antennas} receive antennas (channel.antennas); "
                             "a combiner has at most as many outputs as inputs")
        return p

    def _check_users(self, users: int) -> None:
        if self.params["outputs"] < users:
            raise ValueError(f"frontend.outputs = {self.params['outputs']} is fewer than the {users} users "
                             "(source.users): with p < K combined outputs no detector can separate the users")

    def check_link(self, link) -> None:
        """Refuse, before anything runs, a link this front end cannot serve.

        Raises ``ValueError`` for a real-valued link, when ``outputs`` is above the antennas or
        below the users, and when the converter bank's resolution is not the ``bits`` the design
        assumes (a bank with a ``bits`` parameter must match it; any other quantizing bank must
        have ``2**bits`` levels; the unquantized bank ``none`` is accepted as a reference with
        ``outputs`` equal to the users).
        """
        if link.channel.real:
            raise ValueError(f"frontend.type = 'theorem3' works on complex links; channel.type = "
                             f"{link.channel.name!r} is real-valued")
        self.outputs(link.channel.antennas)
        self._check_users(link.source.users)
        adc, bits = link.adc, self.params["bits"]
        params = adc.params
        if "bits" in params and params["bits"] != bits:
            raise ValueError(f"frontend.bits = {bits} but adc.bits = {params['bits']}: the Theorem 3 combiner is "
                             "designed for the bank's resolution; set both to the same value")
        table = getattr(adc, "table", None)
        if table is not None and table.n_levels != self.levels:
            raise ValueError(f"frontend.bits = {bits} assumes {self.levels}-level converters but the bank's table has "
                             f"{table.n_levels} levels")
        if not adc.quantizes and self.params["outputs"] > link.source.users:
            raise ValueError(f"frontend.outputs = {self.params['outputs']} > source.users = {link.source.users} with "
                             "adc.type = 'none': the combined signal lies in a K-dimensional space, so its covariance "
                             "is singular; an unquantized reference takes frontend.outputs = source.users")

    def design(self, H: np.ndarray, noise_var: float) -> np.ndarray:
        r"""The scaled combiner of every frame, complex [F, p, N].

        Parameters
        ----------
        H : complex [F, N, K]
            Channel per frame.
        noise_var : float
            :math:`N_0 > 0`.
        """
        from hwsim.designs.task_based import theorem3_complex

        H = np.asarray(H, dtype=np.complex128)
        if H.ndim != 3:
            raise ValueError(f"H must be complex [F, N, K], got shape {H.shape}")
        n0 = _checks.real("noise_var", noise_var, positive=True)
        f, n, k = H.shape
        p = self.outputs(n)
        self._check_users(k)
        out = np.empty((f, p, n), dtype=np.complex128)
        eye = np.eye(n)
        for i in range(f):
            S = H[i] @ H[i].conj().T + n0 * eye
            gamma = np.linalg.solve(S, H[i]).conj().T            # H^H S^{-1}, S Hermitian
            A = theorem3_complex(gamma, S, p, self.levels, self.eta, rotation=self.params["rotation"]).A
            power = np.einsum("pn,nm,pm->p", A, S, A.conj()).real   # E|z_i|^2, equal by design
            out[i] = A * np.sqrt(2.0 / power)[:, None]
        return out

    def apply(self, y: np.ndarray, H: np.ndarray, noise_var: float):
        """``(B y, B H, N0 B B^H)``: complex [F, L, p], [F, p, K] and [F, p, p] (see the class text)."""
        _check_link_arrays(y, H)
        B = self.design(H, noise_var)
        z = np.einsum("fpn,fln->flp", B, y, optimize=True)
        return z, B @ H, float(noise_var) * (B @ np.conj(np.swapaxes(B, 1, 2)))
