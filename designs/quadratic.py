r"""Task-based quantization of quadratic tasks through the lifted vector (Chen et al.'s survey, Sec. II-A, Thm. 4).

Model: :math:`s \sim \mathcal N(0, \Sigma_s)` in :math:`\mathbb R^n`, observed as :math:`x = H s + w`,
:math:`w \sim \mathcal N(0, \Sigma_w)` (default :math:`x = s`); the tasks are the quadratic forms
:math:`f_i(s) = s^T C_i s`, :math:`i = 1..k`, with symmetric :math:`C_i`. The lifted vector is
:math:`h(x) = \mathrm{vech}(x x^T) - E\{\mathrm{vech}(x x^T)\}`, the :math:`m = n_x(n_x+1)/2` products
:math:`x_a x_b`, :math:`a \le b`, centred.

What holds (and what the survey's Theorem 4 states too broadly):

1. The MMSE estimate of a quadratic task from the full observation is linear in the lifted vector
   (Gaussian model): with :math:`\Gamma = \Sigma_s H^T \Sigma_x^{-1}` and
   :math:`\Sigma_{s|x} = \Sigma_s - \Gamma H \Sigma_s`,

   .. math:: \tilde f_i = E\{f_i \mid x\} = x^T \Gamma^T C_i \Gamma x + \mathrm{tr}(C_i \Sigma_{s|x})
             = g_i^T h(x) + E\{f_i\},

   where :math:`g_i` holds :math:`(\Gamma^T C_i \Gamma)_{aa}` and :math:`2(\Gamma^T C_i \Gamma)_{ab}`.
   So :math:`\tilde f = G h(x) + E f` is a *linear* task of :math:`h(x)`, with covariance
   :math:`\mathrm{Cov}(x_a x_b, x_c x_d) = \Sigma_{ac}\Sigma_{bd} + \Sigma_{ad}\Sigma_{bc}`, and Theorem 3
   designs the combiner :math:`A` [p, m], the uniform ADCs and the digital matrix :math:`B` for it
   (:func:`theorem4`). Lemma 2's prediction is the MSE of that linear system while the ADCs do not
   overload; the total is :math:`E\|f - \tilde f\|^2` (exact, below) plus (4c), since
   :math:`f - \tilde f` is orthogonal to every function of :math:`x` and the dither.
2. The MMSE estimate of the task from :math:`z = A h(x)` is linear in :math:`z`,
   :math:`E\{f \mid z\} = D z + E f`, whenever the rows of :math:`G` lie in the row space of
   :math:`A` (then :math:`\tilde f = D A h(x)` is a function of :math:`z` and
   :math:`E\{f \mid z\} = E\{\tilde f \mid z\}`). The Theorem 3 design meets this when every nonzero
   mode of :math:`G\,\mathrm{Cov}(h)^{1/2}` gets a converter above the water level
   (:attr:`QuadraticDesign.linear_mmse`).
3. For a general :math:`A` it fails, so the survey's Theorem 4 ("for any :math:`p \times n^2` matrix
   A ... the MMSE estimate can be written as :math:`d^T z + E f`") is false as printed. Counterexample:
   :math:`x \sim \mathcal N(0, I_2)`, :math:`A` keeps one row of the lifted vector,
   :math:`z = x_1 x_2`, and :math:`f = x_1^2 + x_2^2`. :math:`\mathrm{Cov}(f, z) = 0`, so the only
   linear candidate is the constant :math:`E f = 2`, but :math:`E\{f \mid z\}` grows like
   :math:`2|z|` for large :math:`|z|` (:math:`f \ge 2|x_1 x_2|`). The statement goes back to
   Salamatian, Shlezinger, Eldar and Medard, "Task-based quantization for recovering quadratic
   functions using principal inertia components"; the form above is what the tests check
   (tests/test_theorem4.py, by Monte Carlo).

The MMSE of the tasks from :math:`x` (item 1), per task:
:math:`E\{\mathrm{Var}(f_i \mid x)\} = 2\,\mathrm{tr}\big((C_i\Sigma_{s|x})^2\big)
+ 4\,\mathrm{tr}\big(C_i \Sigma_{s|x} C_i \Gamma \Sigma_x \Gamma^T\big)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim import _checks

from .task_based import TaskBasedDesign, theorem3


def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(n)


def lift(x) -> np.ndarray:
    r"""The products :math:`x_a x_b`, :math:`a \le b` (row-major upper triangle), of each row of ``x`` [B, n]: [B, n(n+1)/2]."""
    x = _checks.finite_array("x", x, ndim=2)
    a, b = _pairs(x.shape[1])
    return x[:, a] * x[:, b]


def lifted_covariance(sigma_x) -> np.ndarray:
    r"""Covariance of :func:`lift` for :math:`x \sim \mathcal N(0, \Sigma_x)`:
    :math:`\Sigma_{ac}\Sigma_{bd} + \Sigma_{ad}\Sigma_{bc}`, [m, m]."""
    S = _check_cov("sigma_x", sigma_x)
    a, b = _pairs(S.shape[0])
    return S[np.ix_(a, a)] * S[np.ix_(b, b)] + S[np.ix_(a, b)] * S[np.ix_(b, a)]


def lifted_task(M) -> np.ndarray:
    r"""``g`` [m] with :math:`x^T M x = g^T \mathrm{lift}(x)` for a symmetric ``M`` [n, n]."""
    M = _check_sym("M", M)
    a, b = _pairs(M.shape[0])
    return np.where(a == b, 1.0, 2.0) * M[a, b]


def _check_sym(name: str, M) -> np.ndarray:
    M = _checks.finite_array(name, M, ndim=2)
    if M.shape[0] != M.shape[1]:
        raise ValueError(f"{name} must be square, got shape {M.shape}")
    if not np.allclose(M, M.T, atol=1e-10 * max(1.0, np.abs(M).max())):
        raise ValueError(f"{name} must be symmetric (a quadratic form x^T C x only sees its symmetric part; pass "
                         f"(C + C^T) / 2), largest asymmetry {np.abs(M - M.T).max():.3g}")
    return M


def _check_cov(name: str, S) -> np.ndarray:
    S = _check_sym(name, S)
    w = np.linalg.eigvalsh(S)
    if w.min() < -1e-10 * max(1.0, w.max()):
        raise ValueError(f"{name} must be positive semidefinite (a covariance), smallest eigenvalue {w.min():.3g}")
    return S


@dataclass(frozen=True)
class QuadraticDesign:
    """Result of :func:`theorem4`.

    Attributes
    ----------
    design : TaskBasedDesign   Theorem 3 on the lifted vector: A [p, m], B [k, p], gamma, levels, excess (4c)
    C : [k, n, n]              the tasks
    gamma_mat : [k, m]         G: the MMSE estimate of the tasks from x is G h(x) + E f
    Gamma : [n, n_x]           the LMMSE matrix of s from x
    lifted_mean : [m]          E lift(x)
    task_mean : [k]            E f = tr(C_i Sigma_s)
    mmse : [k]                 E Var(f_i | x), the error of the unquantized estimate
    linear_mmse : bool         the rows of G lie in the row space of A: E{f | A h(x)} is linear in A h(x)
    """

    design: TaskBasedDesign
    C: np.ndarray
    gamma_mat: np.ndarray
    Gamma: np.ndarray
    lifted_mean: np.ndarray
    task_mean: np.ndarray
    mmse: np.ndarray
    linear_mmse: bool

    @property
    def k(self) -> int:
        return self.C.shape[0]

    def average_mse(self) -> float:
        """Predicted MSE per task, (sum of the MMSEs + excess (4c)) / k (Lemma 2's model: no overload)."""
        return float((self.mmse.sum() + self.design.excess_mse) / self.k)

    def tasks(self, s) -> np.ndarray:
        r""":math:`f_i(s) = s^T C_i s` of each row of ``s`` [B, n]: [B, k]."""
        s = _checks.finite_array("s", s, ndim=2)
        if s.shape[1] != self.C.shape[1]:
            raise ValueError(f"s must have n = {self.C.shape[1]} columns, got shape {s.shape}")
        return np.einsum("bi,kij,bj->bk", s, self.C, s)

    def analog(self, x) -> np.ndarray:
        """The converters' inputs :math:`z = A\\,h(x)` [B, p] of observations ``x`` [B, n_x]."""
        x = _checks.finite_array("x", x, ndim=2)
        if x.shape[1] != self.Gamma.shape[1]:
            raise ValueError(f"x must have n_x = {self.Gamma.shape[1]} columns, got shape {x.shape}")
        return (lift(x) - self.lifted_mean) @ self.design.A.T

    def estimate(self, x, rng: np.random.Generator, *, dither: bool = True) -> np.ndarray:
        r""":math:`\hat f = B\,Q(A h(x) + u) + E f` [B, k]: uniform ADCs of the design's levels and support,
        non-subtractive dither :math:`u` uniform over one step (``dither``)."""
        from hwsim.converters.adc import UniformADC

        _checks.generator("rng", rng)
        z = self.analog(x)
        adc = UniformADC(self.design.levels, self.design.gamma)
        if dither:
            z = z + rng.uniform(-adc.step / 2, adc.step / 2, size=z.shape)
        return adc.quantize(z) @ self.design.B.T + self.task_mean


def theorem4(C, sigma_s, p: int, levels: int, eta: float, *, H=None, noise_cov=None) -> QuadraticDesign:
    r"""Task-based quantizer of the quadratic tasks :math:`s^T C_i s` from :math:`x = H s + w`: Theorem 3 on the
    lifted vector (see the module doc for what holds and the counterexample to the survey's Theorem 4).

    Parameters
    ----------
    C : array_like [n, n] or [k, n, n]
        Symmetric task matrices.
    sigma_s : array_like [n, n]
        Covariance of the Gaussian :math:`s`.
    p : int
        Converters (>= 1), each with ``levels`` levels (>= 2).
    eta : float
        Theorem 3's support in standard deviations of each converter input plus dither,
        :math:`0 < \eta < \sqrt3 M`. The lifted vector is heavy-tailed (products of Gaussians):
        a larger ``eta`` than for Gaussian inputs keeps the overload rare, which Lemma 2's model assumes.
    H : array_like [n_x, n], optional
        Observation matrix (identity by default).
    noise_cov : array_like [n_x, n_x], optional
        Covariance of :math:`w` (zero by default). :math:`\Sigma_x = H\Sigma_s H^T + \Sigma_w` must be
        positive definite.

    Returns
    -------
    QuadraticDesign
    """
    C = _checks.finite_array("C", C, ndim=(2, 3))
    if C.ndim == 2:
        C = C[None]
    if C.shape[1] != C.shape[2]:
        raise ValueError(f"C must be [n, n] or [k, n, n] (square task matrices), got shape {C.shape}")
    for i in range(C.shape[0]):
        _check_sym(f"C[{i}]" if C.shape[0] > 1 else "C", C[i])
    n = C.shape[1]
    Ss = _check_cov("sigma_s", sigma_s)
    if Ss.shape != (n, n):
        raise ValueError(f"sigma_s must be [n, n] = [{n}, {n}] like C, got shape {Ss.shape}")
    Hm = np.eye(n) if H is None else _checks.finite_array("H", H, ndim=2)
    if Hm.shape[1] != n:
        raise ValueError(f"H must be [n_x, n] with n = {n} columns, got shape {Hm.shape}")
    nx = Hm.shape[0]
    Sw = np.zeros((nx, nx)) if noise_cov is None else _check_cov("noise_cov", noise_cov)
    if Sw.shape != (nx, nx):
        raise ValueError(f"noise_cov must be [n_x, n_x] = [{nx}, {nx}], got shape {Sw.shape}")
    Sx = Hm @ Ss @ Hm.T + Sw
    if np.linalg.eigvalsh(Sx).min() <= 1e-12 * max(1.0, np.abs(Sx).max()):
        raise ValueError("H sigma_s H^T + noise_cov must be positive definite (every observation carries signal or "
                         "noise of its own)")
    Gamma = np.linalg.solve(Sx, Hm @ Ss).T              # Sigma_s H^T Sigma_x^-1, [n, n_x]
    S_post = Ss - Gamma @ Hm @ Ss
    S_post = (S_post + S_post.T) / 2
    G = np.stack([lifted_task(Gamma.T @ Ci @ Gamma) for Ci in C])
    Sh = lifted_covariance(Sx)
    design = theorem3(G, Sh, p, levels, eta)
    a, b = _pairs(nx)
    mmse = np.array([2 * np.trace(Ci @ S_post @ Ci @ S_post) + 4 * np.trace(Ci @ S_post @ Ci @ Gamma @ Sx @ Gamma.T)
                     for Ci in C])
    A = design.A
    # rows of G in the row space of A: G = D A for some D
    D = np.linalg.lstsq(A.T, G.T, rcond=None)[0].T
    linear = bool(np.linalg.norm(D @ A - G) <= 1e-8 * max(1.0, np.linalg.norm(G)))
    return QuadraticDesign(design=design, C=C, gamma_mat=G, Gamma=Gamma, lifted_mean=Sx[a, b],
                           task_mean=np.array([np.trace(Ci @ Ss) for Ci in C]), mmse=np.maximum(mmse, 0.0),
                           linear_mmse=linear)


__all__ = ["QuadraticDesign", "lift", "lifted_covariance", "lifted_task", "theorem4"]
