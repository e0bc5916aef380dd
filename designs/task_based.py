r"""Task-based quantization with uniform scalar ADCs for linear tasks (the survey of Chen et al., Sec. II-A).

Model: the MMSE estimate of ``s`` from ``x`` is linear, :math:`\tilde s = \Gamma x`; the
receiver computes :math:`\hat s = B\,Q(Ax)` with ``p`` identical uniform ADCs of ``M``
levels over :math:`[-\gamma, \gamma]`, modelled as non-subtractive dithered quantizers
(noise variance :math:`2\gamma^2/(3M^2) = D^2/6` per ADC, white and uncorrelated with the
input while the ADCs do not overload).

- :func:`lemma2`: the best digital matrix :math:`B^\circ(A)` (eq. 3a) and the excess MSE
  :math:`\mathrm{MSE}(A)` (eq. 3b) for any combiner ``A`` and support ``gamma``.
- :func:`theorem3`: the optimal combiner :math:`A^\circ = U_A \Lambda_A V_A^T \Sigma_x^{-1/2}`,
  water level :math:`\zeta`, support :math:`\gamma^2 = \kappa/p` with
  :math:`\kappa = \eta^2 (1 - \eta^2/(3M^2))^{-1}`, :math:`B^\circ` (eq. 4b) and the excess
  MSE (eq. 4c).

Conventions that make the theorem's statements consistent (checked numerically in the
tests): the water-filling makes :math:`\mathrm{tr}(\Lambda_A\Lambda_A^T) = 1`, and
:math:`U_A` makes every diagonal entry of :math:`A\Sigma_x A^T` equal to :math:`1/p`, so
every ADC input plus dither has variance :math:`1/p + \gamma^2/(3M^2)` and the support is
``eta`` of its standard deviations. :math:`U_A` is built from ``p - 1`` Givens rotations,
each of which sets one diagonal entry to the mean (:func:`equalizing_rotation`); with it,
(3b) at :math:`A^\circ` equals (4c) to rounding error.

- :func:`theorem3_complex`: the same design for a proper complex Gaussian model (complex
  baseband, one I and one Q ADC per complex combiner output), keeping the complex structure so
  that the combiner is a complex matrix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hwsim import _checks


def _sym_sqrt_and_inv(sigma):
    w, v = np.linalg.eigh(sigma)
    if w.min() <= 1e-12 * max(w.max(), 1e-300):
        raise ValueError(f"sigma_x must be positive definite (smallest eigenvalue {w.min():.3g}); "
                         "a singular input covariance has no Sigma_x^(-1/2)")
    vh = v.conj().T
    return (v * np.sqrt(w)) @ vh, (v / np.sqrt(w)) @ vh


def _check_stats(gamma_mat, sigma_x):
    G = _checks.finite_array("gamma_mat", gamma_mat, ndim=2)
    S = _checks.finite_array("sigma_x", sigma_x, ndim=2)
    if S.shape[0] != S.shape[1] or G.shape[1] != S.shape[0]:
        raise ValueError(f"gamma_mat [k, n] and sigma_x [n, n] must agree, got {G.shape} and {S.shape}")
    if not np.allclose(S, S.T, atol=1e-10 * max(1.0, np.abs(S).max())):
        raise ValueError("sigma_x must be symmetric")
    return G, S


def quantization_noise_variance(gamma: float, levels: int) -> float:
    r"""Variance :math:`2\gamma^2/(3M^2)` of a non-subtractive dithered uniform ADC (rounding plus dither)."""
    gamma = _checks.real("gamma", gamma, positive=True)
    levels = _checks.integer("levels", levels, minimum=2)
    return 2.0 * gamma**2 / (3.0 * levels**2)


def lemma2(A, gamma_mat, sigma_x, gamma: float, levels: int):
    r"""Lemma 2: optimal digital matrix and excess MSE for a given combiner.

    Parameters
    ----------
    A : [p, n]          analog combiner
    gamma_mat : [k, n]  LMMSE matrix :math:`\Gamma` (:math:`\tilde s = \Gamma x`)
    sigma_x : [n, n]    covariance of x
    gamma : float       ADC support
    levels : int        ADC levels M

    Returns
    -------
    B : [k, p]          eq. (3a)
    excess : float      eq. (3b), :math:`\min_B E\|\tilde s - \hat s\|^2` (a sum over the k entries)
    """
    G, S = _check_stats(gamma_mat, sigma_x)
    A = _checks.finite_array("A", A, ndim=2)
    if A.shape[1] != S.shape[0]:
        raise ValueError(f"A must have n = {S.shape[0]} columns, got shape {A.shape}")
    q = quantization_noise_variance(gamma, levels)
    C = A @ S @ A.T + q * np.eye(A.shape[0])
    cross = G @ S @ A.T
    B = np.linalg.solve(C, cross.T).T
    excess = float(np.trace(G @ S @ G.T - B @ cross.T))
    return B, excess


def equalizing_rotation(d) -> np.ndarray:
    r"""Orthogonal :math:`U` [p, p] with every diagonal entry of :math:`U\,\mathrm{diag}(d)\,U^T` equal to ``mean(d)``.

    ``p - 1`` Givens rotations: each pairs the largest and the smallest remaining diagonal
    entries (one above, one below the mean) and turns the plane until the first equals the
    mean, which then stays fixed.
    """
    d = _checks.finite_array("d", d, ndim=1)
    p = d.size
    C = np.diag(d)
    U = np.eye(p)
    m = d.mean()
    free = list(range(p))
    for _ in range(p - 1):
        diag = C[free, free]
        i = free[int(np.argmax(diag))]
        j = free[int(np.argmin(diag))]
        a, b, e = C[i, i], C[i, j], C[j, j]
        if abs(a - m) <= 1e-15 * max(1.0, abs(m)):
            free.remove(i)
            continue
        # f(t) = a cos^2 t + e sin^2 t + b sin 2t = (a+e)/2 + R cos(2t - phi); solve f(t) = m
        half = (a - e) / 2
        R = math.hypot(half, b)
        phi = math.atan2(b, half)
        ratio = min(1.0, max(-1.0, (m - (a + e) / 2) / R))
        t = (phi + math.acos(ratio)) / 2
        c, s = math.cos(t), math.sin(t)
        G = np.eye(p)
        G[i, i], G[i, j], G[j, i], G[j, j] = c, s, -s, c
        C = G @ C @ G.T
        U = G @ U
        free.remove(i)
    return U


@dataclass(frozen=True)
class TaskBasedDesign:
    """Result of :func:`theorem3`.

    Attributes
    ----------
    A : [p, n]        analog combiner A°
    B : [k, p]        digital matrix B° (eq. 4b)
    gamma : float     ADC support, gamma^2 = kappa / p
    levels : int      ADC levels M
    zeta : float      water level
    kappa : float
    excess_mse : float  eq. (4c), summed over the k entries
    mmse : float      MMSE tr(Sigma_s - Gamma Sigma_xs), summed over the k entries (if sigma_s given)
    """

    A: np.ndarray
    B: np.ndarray
    gamma: float
    levels: int
    zeta: float
    kappa: float
    excess_mse: float
    mmse: float | None

    @property
    def k(self) -> int:
        return self.B.shape[0]

    def average_mse(self) -> float:
        """Predicted average MSE per entry, (MMSE + excess) / k."""
        if self.mmse is None:
            raise ValueError("average_mse needs the design to know sigma_s (pass it to theorem3)")
        return (self.mmse + self.excess_mse) / self.k


def theorem3(gamma_mat, sigma_x, p: int, levels: int, eta: float, sigma_s=None) -> TaskBasedDesign:
    r"""Theorem 3: the MSE-optimal linear task-based quantizer with ``p`` uniform ADCs of ``levels`` levels.

    ``eta`` is the support in standard deviations of each ADC's input plus dither; it must
    satisfy :math:`\eta < \sqrt3\,M`. Handles ``p`` below, equal to or above the rank of
    :math:`\tilde\Gamma = \Gamma\Sigma_x^{1/2}` (extra ADCs get no signal), and a
    rank-deficient :math:`\Gamma`. Raises ``ValueError`` for a singular :math:`\Sigma_x`.
    """
    G, S = _check_stats(gamma_mat, sigma_x)
    p = _checks.integer("p", p, minimum=1)
    levels = _checks.integer("levels", levels, minimum=2)
    eta = _checks.real("eta", eta, positive=True)
    if eta >= math.sqrt(3) * levels:
        raise ValueError(f"eta must be < sqrt(3) * levels = {math.sqrt(3) * levels:.4g} (kappa is undefined "
                         f"otherwise), got {eta}")
    k, n = G.shape
    S_half, S_inv_half = _sym_sqrt_and_inv(S)
    Gt = G @ S_half
    _, lam, Vt = np.linalg.svd(Gt)          # lam: min(k, n) values, descending; Vt: [n, n]
    lam_p = np.zeros(p)
    lam_p[:min(p, lam.size)] = lam[:p]
    kappa = eta**2 / (1 - eta**2 / (3 * levels**2))
    q = 2 * kappa / (3 * levels**2 * p)      # quantization noise variance at gamma^2 = kappa / p
    zeta = _water_level(lam_p, q)
    lam_a2 = q * np.maximum(zeta * lam_p - 1, 0)                  # (4a)
    Lambda = np.zeros((p, n))
    r = min(p, n)
    Lambda[np.arange(r), np.arange(r)] = np.sqrt(lam_a2[:r])
    U = equalizing_rotation(lam_a2) if p > 1 else np.eye(1)
    A = U @ Lambda @ Vt @ S_inv_half
    gamma = math.sqrt(kappa / p)
    LL = Lambda @ Lambda.T + q * np.eye(p)
    B = Gt @ Vt.T @ Lambda.T @ np.linalg.inv(LL) @ U.T             # (4b)
    lam_all = np.concatenate([lam, np.zeros(max(0, k - lam.size))])[:k]
    excess = 0.0
    for i in range(k):                                               # (4c)
        if i < p:
            excess += lam_all[i] ** 2 / (max(zeta * lam_all[i] - 1, 0) + 1)
        else:
            excess += lam_all[i] ** 2
    mmse = None
    if sigma_s is not None:
        Ss = _checks.finite_array("sigma_s", sigma_s, ndim=2)
        mmse = float(np.trace(Ss - G @ S @ G.T))
    return TaskBasedDesign(A=A, B=B, gamma=gamma, levels=levels, zeta=zeta, kappa=kappa, excess_mse=float(excess),
                           mmse=mmse)


def _water_level(lam, q) -> float:
    r"""zeta with :math:`q \sum_i (\zeta\lambda_i - 1)^+ = 1` (lam descending, some > 0)."""
    pos = lam[lam > 0]
    if pos.size == 0:
        raise ValueError("the task has no component observable from x (Gamma Sigma_x^(1/2) is zero)")
    # With the j largest values active: zeta = (1/q + j) / sum(lam[:j]); keep the j where all are active.
    for j in range(pos.size, 0, -1):
        zeta = (1 / q + j) / pos[:j].sum()
        if zeta * pos[j - 1] - 1 > 0:
            return float(zeta)
    raise AssertionError("unreachable: j = 1 always activates the largest value")


def _check_complex_stats(gamma_mat, sigma_x):
    G = _checks.finite_array("gamma_mat", gamma_mat, ndim=2, dtype=np.complex128)
    S = _checks.finite_array("sigma_x", sigma_x, ndim=2, dtype=np.complex128)
    if S.shape[0] != S.shape[1] or G.shape[1] != S.shape[0]:
        raise ValueError(f"gamma_mat [k, n] and sigma_x [n, n] must agree, got {G.shape} and {S.shape}")
    if not np.allclose(S, S.conj().T, atol=1e-10 * max(1.0, np.abs(S).max())):
        raise ValueError("sigma_x must be Hermitian")
    return G, 0.5 * (S + S.conj().T)


#: Rotations :func:`theorem3_complex` can use for :math:`U_A`.
ROTATIONS = ("dft", "givens")


def theorem3_complex(gamma_mat, sigma_x, p: int, levels: int, eta: float, sigma_s=None, *,
                     rotation: str = "dft") -> TaskBasedDesign:
    r"""Theorem 3 for a proper complex Gaussian input: ``p`` complex outputs, each sampled by an I and a Q ADC.

    The model is complex baseband: :math:`x \sim \mathcal{CN}(0, \Sigma_x)`, the task
    :math:`\tilde s = \Gamma x` (complex :math:`\Gamma`), and the combiner output
    :math:`z = A x \in \mathbb{C}^p` whose real and imaginary parts go to ``2 p`` identical
    uniform ADCs. Written in real terms (:math:`[\mathrm{Re}; \mathrm{Im}]`, :math:`2n` inputs,
    :math:`2k` task entries, :math:`2p` ADCs) this is exactly the problem of :func:`theorem3`;
    because the model is circular, every real singular value of :math:`\tilde\Gamma` appears
    twice and the optimum can be taken with the complex structure:

    .. math:: A^\circ = \sqrt2\, U_A \Lambda_A V^H \Sigma_x^{-1/2}, \qquad
              \Gamma\Sigma_x^{1/2} = U_\Gamma\, \mathrm{diag}(\lambda_i)\, V^H,

    where :math:`(\Lambda_A)_{ii}^2 = q\,(\zeta\lambda_i/\sqrt2 - 1)^+` is (4a) of the real
    problem (real singular values :math:`\lambda_i/\sqrt2`, ``2p`` ADCs, so
    :math:`q = 2\kappa/(3M^2 \cdot 2p)`) and :math:`U_A` is a unitary matrix that makes every
    diagonal entry of :math:`A\Sigma_x A^H` equal to :math:`1/p` (each real ADC input then has
    variance :math:`1/(2p)`, as in the real theorem). The real representation of this ``A``
    reaches the real theorem's excess MSE (4c), which the tests check against :func:`lemma2`.

    Two rotations reach the same (4c): ``"dft"``, the unitary DFT matrix, whose entries all have
    magnitude :math:`1/\sqrt p` and so equalize any diagonal exactly, and ``"givens"``,
    :func:`equalizing_rotation`. They differ for converters without dither: when ``p`` exceeds
    the rank of :math:`\Gamma`, a Givens rotation that pairs a mode with an empty output makes
    the two outputs proportional, so their converters return the same codes (up to sign, for
    1 bit) and waste their bits; no two rows of the DFT design are proportional.

    Parameters
    ----------
    gamma_mat : complex [k, n]
        LMMSE matrix :math:`\Gamma`.
    sigma_x : complex [n, n]
        Hermitian positive definite covariance :math:`E[x x^H]`.
    p : int
        Number of complex outputs (``2 p`` real ADCs).
    levels : int
        Levels ``M`` of every ADC.
    eta : float
        Support in standard deviations of each real ADC input plus dither, :math:`\eta < \sqrt3 M`.
    sigma_s : complex [k, k], optional
        :math:`E[s s^H]`, for :attr:`TaskBasedDesign.mmse`.
    rotation : {"dft", "givens"}
        The equalizing unitary :math:`U_A` (see above).

    Returns
    -------
    TaskBasedDesign
        ``A`` complex [p, n]; ``B`` complex [k, p], the digital matrix (3a)/(4b),
        :math:`\Gamma\Sigma_x A^H (A\Sigma_x A^H + 2 q I)^{-1}` (``2 q`` = the complex output's
        dithered-quantization noise variance, I plus Q); ``gamma`` the support of each real ADC,
        :math:`\sqrt{\kappa/(2p)}`; ``excess_mse`` and ``mmse`` summed over the k complex entries
        (:math:`E\|\cdot\|^2`, equal to the sums over the 2k real entries).
    """
    G, S = _check_complex_stats(gamma_mat, sigma_x)
    p = _checks.integer("p", p, minimum=1)
    levels = _checks.integer("levels", levels, minimum=2)
    eta = _checks.real("eta", eta, positive=True)
    if eta >= math.sqrt(3) * levels:
        raise ValueError(f"eta must be < sqrt(3) * levels = {math.sqrt(3) * levels:.4g} (kappa is undefined "
                         f"otherwise), got {eta}")
    if rotation not in ROTATIONS:
        raise ValueError(f"rotation must be one of {', '.join(ROTATIONS)}, got {rotation!r}")
    k, n = G.shape
    S_half, S_inv_half = _sym_sqrt_and_inv(S)
    _, lam, Vh = np.linalg.svd(G @ S_half)       # complex singular values, descending; Vh [n, n]
    r = min(p, lam.size)
    lam_p = np.zeros(p)
    lam_p[:r] = lam[:r]
    kappa = eta**2 / (1 - eta**2 / (3 * levels**2))
    q = 2 * kappa / (3 * levels**2 * 2 * p)      # real ADC noise variance at gamma^2 = kappa / (2p)
    lam_real = np.repeat(lam_p / math.sqrt(2), 2)  # the real problem's singular values, each twice
    zeta = _water_level(lam_real, q)
    lam_a2 = q * np.maximum(zeta * lam_p / math.sqrt(2) - 1, 0)  # (4a), one value per complex output
    Lambda = np.zeros((p, n))
    Lambda[np.arange(r), np.arange(r)] = np.sqrt(lam_a2[:r])
    if rotation == "dft":
        U = np.exp(-2j * np.pi * np.outer(np.arange(p), np.arange(p)) / p) / math.sqrt(p)
    else:
        U = equalizing_rotation(lam_a2) if p > 1 else np.eye(1)
    A = math.sqrt(2) * (U @ Lambda) @ Vh @ S_inv_half
    cross = G @ S @ A.conj().T                    # E[s~ z^H]
    C_z = A @ S @ A.conj().T + 2 * q * np.eye(p)
    B = np.linalg.solve(C_z.T, cross.T).T         # C_z is Hermitian: B = cross C_z^{-1}
    excess = 0.0
    for i in range(k):                            # (4c) of the real problem, pairs of equal terms
        li = lam[i] if i < lam.size else 0.0
        excess += li**2 / (max(zeta * li / math.sqrt(2) - 1, 0) + 1) if i < p else li**2
    mmse = None
    if sigma_s is not None:
        Ss = _checks.finite_array("sigma_s", sigma_s, ndim=2, dtype=np.complex128)
        mmse = float(np.trace(Ss - G @ S @ G.conj().T).real)
    return TaskBasedDesign(A=A, B=B, gamma=math.sqrt(kappa / (2 * p)), levels=levels, zeta=zeta, kappa=kappa,
                           excess_mse=float(excess), mmse=mmse)
