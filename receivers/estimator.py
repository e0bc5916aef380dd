r"""Learned task-based channel estimator (Shlezinger and Eldar Sec. 4.1).

.. code-block:: text

    x [n]  --linear analog layer-->  z [p]  --p learned scalar ADCs-->  q [p]  --linear digital layer-->  s_hat [k]

Linear layers on both sides, as in the paper: the MMSE estimate of eq. (6) is linear in
``x`` and this keeps the comparison with the (linear) Theorem 3 design fair. The ADCs are
:class:`hwsim.converters.learned_adc.LearnedADC` trained soft-to-hard by default; evaluation always
uses their hard table.

Training (:func:`train_estimator`) starts by default from the Theorem 3 design computed from the
training set's sample moments (``init="theorem3"``), with the converters set to the Lloyd quantizer
of the initial combiner's outputs (``lloyd=True``), and, after every epoch, refits the digital
layer by least squares on the hard converter outputs of the training set (``refit=True``): the
soft surrogate only has to place the analog combiner and the thresholds, while the digital
layer that is evaluated is the best linear one for the hard table. Why: from PyTorch's random
initialisation the combiner's outputs have no common scale, and with 2 levels the single tanh
saturates as its sharpness is annealed, so the gradient reaching the analog layer vanishes and
training stalls after its first epoch; and a digital layer trained on the soft mapping is not
the best one for the hard table (most of the old gap at 2 levels).

The floor of this architecture is not eq. (7). With ``p = k`` identical scalar converters, the
best the system can do is to quantize each (i.i.d. Gaussian) component of the MMSE estimate with
the Lloyd-Max quantizer of its levels (:func:`scalar_floor`), which lies 0.8-4.2 dB above
:math:`\eta_{\text{opt}}` over Fig. 5's rates (4.2 dB at R = 0.5, where 120 bits still give 2 levels
per converter); the learned estimator reaches that floor to within about 0.1 dB (the old random start stayed
0.4 dB above it with 2 levels and 0.2-0.3 dB above it with 12-18 levels).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from hwsim import _checks
from hwsim.converters.learned_adc import DEFAULT_SHARPNESS, LearnedADC

#: Initialisations of :func:`train_estimator`.
INITS = ("theorem3", "random")
#: Training samples the per-epoch digital refit uses (the kept epoch is refitted on all of them at the end).
REFIT_SAMPLES = 8192


class LearnedEstimator(nn.Module):
    """Linear -> p ADCs -> linear; ``forward(x, hard)`` returns estimates [..., k].

    Parameters
    ----------
    n, p, k : int
        Measurements, converters, unknowns.
    n_levels : int
        Levels of every converter.
    mode : str
        Training mode of the converters (:data:`hwsim.converters.learned_adc.MODES`).
    sharpness : float
        Initial tanh sharpness ``c * D`` of the tanh modes.
    gamma : float
        Support ``[-gamma, gamma]`` of the converters' uniform initialisation (default 2).
    """

    def __init__(self, n: int, p: int, k: int, n_levels: int, mode: str = "soft_to_hard", *,
                 sharpness: float = DEFAULT_SHARPNESS, gamma: float = 2.0):
        super().__init__()
        self.analog = nn.Linear(n, p)
        self.adc = LearnedADC(n_levels, mode, gamma=gamma, sharpness=sharpness)
        self.digital = nn.Linear(p, k)

    def forward(self, x: torch.Tensor, hard: bool = False) -> torch.Tensor:
        """The estimate of a batch of observations ``x``: combiner, converters (``hard``: the hard
        quantizer of inference, else the training surrogate), digital network."""
        return self.digital(self.adc(self.analog(x), hard=hard))

    @torch.no_grad()
    def estimate(self, x) -> np.ndarray:
        """Hard-path estimates (float64 numpy) for samples x [B, n]."""
        return self(torch.as_tensor(np.asarray(x), dtype=torch.float32), hard=True).double().numpy()


def scalar_floor(P: float, tau_p: int, n_levels: int) -> float:
    """Average MSE of the Lloyd-Max quantizer of ``n_levels`` levels applied to every component of the
    MMSE estimate of eq. (6) (orthogonal pilots: i.i.d. Gaussian components, one converter each).

    The reference the learned estimator with ``p = k`` converters is measured against (see the
    module docstring); :math:`\\eta_{\\text{opt}}` of eq. (7) lies below it at every rate.

    Parameters
    ----------
    P : float
        SNR (linear).
    tau_p : int
        Pilot length.
    n_levels : int
        Levels of every converter (>= 2).

    Returns
    -------
    float
        ``mmse + (1/2 - mmse) * D(n_levels)`` with ``D`` the Lloyd-Max distortion of a unit Gaussian.
    """
    from scipy.stats import norm

    from hwsim.designs.bounds import pilot_mmse

    n_levels = _checks.integer("n_levels", n_levels, minimum=2)
    mmse = pilot_mmse(P, tau_p)
    t = np.linspace(-2.0, 2.0, n_levels + 1)[1:-1]
    for _ in range(5000):  # Lloyd iterations on N(0, 1): centroids, then midpoints
        e = np.concatenate(([-np.inf], t, [np.inf]))
        y = (norm.pdf(e[:-1]) - norm.pdf(e[1:])) / (norm.cdf(e[1:]) - norm.cdf(e[:-1]))
        t_new = (y[:-1] + y[1:]) / 2
        if np.max(np.abs(t_new - t), initial=0.0) < 1e-13:
            break
        t = t_new
    e = np.concatenate(([-np.inf], t, [np.inf]))
    y = (norm.pdf(e[:-1]) - norm.pdf(e[1:])) / (norm.cdf(e[1:]) - norm.cdf(e[:-1]))
    distortion = 1.0 - float(np.sum((norm.cdf(e[1:]) - norm.cdf(e[:-1])) * y ** 2))
    return mmse + (0.5 - mmse) * distortion


def train_estimator(channel, p: int, n_levels: int, rng: np.random.Generator, *, train_samples: int = 2**15,
                    val_samples: int = 2**12, epochs: int = 40, batch_size: int = 256, lr: float = 2e-3,
                    mode: str = "soft_to_hard", sharpness: float = DEFAULT_SHARPNESS,
                    anneal_to: float | None = 60.0, init: str = "theorem3", eta: float = 2.5,
                    refit: bool = True, lloyd: bool = True) -> tuple[LearnedEstimator, list]:
    """Train the learned estimator on samples of ``channel`` with the MSE loss.

    Validates the hard path every epoch and keeps the best epoch (the initial system counts as
    epoch -1, so training never returns something worse on the validation set than its start).
    The loop is :func:`hwsim.training.fit`: inside :func:`hwsim.checkpoint.checkpointing` the state is
    saved after every epoch and an interrupted training resumes to the same estimator.

    Parameters
    ----------
    channel : hwsim.channels.PilotChannel
        Sampler of (s, x); its ``snr_uncertainty`` selects the paper's "SNR uncertainty" training set.
    p : int
        Converters.
    n_levels : int
        Levels of every converter.
    rng : numpy.random.Generator
        Draws the training and validation sets and seeds torch (the caller's global torch RNG is
        left as it was); a fixed ``rng`` gives a fixed model.
    train_samples, val_samples, epochs, batch_size : int
        Training set size, validation set size, epochs, minibatch size.
    lr : float
        Adam learning rate (cosine-annealed to 0 over the epochs).
    mode : str
        Converter training mode (:data:`hwsim.converters.learned_adc.MODES`).
    sharpness : float
        Initial tanh sharpness ``c * D``.
    anneal_to : float or None
        The sharpness is annealed geometrically from ``sharpness`` to ``anneal_to`` over the
        epochs (None: fixed), which keeps the soft mapping honest at coarse resolutions.
    init : {"theorem3", "random"}
        ``"theorem3"`` (default): the analog layer, the converters' uniform support and the
        digital layer start from :func:`hwsim.designs.task_based.theorem3` with support ``eta``,
        computed from the training set's sample moments (no knowledge of the model beyond the
        data). ``"random"``: PyTorch's default initialisation and converters uniform over [-2, 2]
        (the behaviour before this option existed).
    eta : float
        Theorem 3 support in standard deviations (``init="theorem3"``; must be < sqrt(3) * n_levels).
    refit : bool
        If True (default), after every epoch (and for the initial system) the digital layer that
        is validated and kept is the least-squares fit of ``s`` on the hard converter outputs of
        the first :data:`REFIT_SAMPLES` training samples (with intercept), and the kept epoch's is
        refitted on the whole training set at the end; training itself continues from its own
        digital layer.
    lloyd : bool
        If True (default; tanh modes only), the converters start from the Lloyd quantizer of the
        initial combiner's outputs on the first :data:`REFIT_SAMPLES` training samples (pooled
        over the identical converters) instead of the uniform one; soft-to-hard training then
        moves the thresholds and levels from there.

    Returns
    -------
    model : LearnedEstimator
        The best epoch's model, in eval mode.
    history : list of dict
        One entry per epoch: ``epoch``, ``loss`` (mean soft training loss), ``val_mse`` (hard
        path, after the refit when ``refit``); the initial system is not in it.
    """
    _checks.generator("rng", rng)
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")
    with torch.random.fork_rng(devices=[]):  # leave the caller's global torch RNG as it was
        return _train(channel, p, n_levels, rng, train_samples, val_samples, epochs, batch_size, lr, mode,
                      sharpness, anneal_to, init, eta, bool(refit), bool(lloyd))


def _theorem3_init(model: LearnedEstimator, s: np.ndarray, x: np.ndarray, p: int, n_levels: int,
                   eta: float) -> None:
    """Analog layer <- Theorem 3's A (and -A mean(x)), converters <- its uniform support, digital
    layer <- its B (and the mean of s), all from the sample moments of (s, x)."""
    from hwsim.designs.task_based import theorem3

    mx, ms = x.mean(0), s.mean(0)
    xc, sc = x - mx, s - ms
    sigma_x = xc.T @ xc / len(x)
    sigma_sx = sc.T @ xc / len(x)
    gamma_mat = np.linalg.solve(sigma_x, sigma_sx.T).T
    d = theorem3(gamma_mat, sigma_x, p, n_levels, eta)
    # Rescale so that the support is the converters' default [-gamma, gamma]: Theorem 3's own scale
    # (gamma^2 = kappa / p) puts the converter inputs at ~1/sqrt(p), too small for Adam's steps.
    g = model.adc.gamma / d.gamma
    A, B = g * d.A, d.B / g
    with torch.no_grad():
        model.analog.weight.copy_(torch.as_tensor(A, dtype=torch.float32))
        model.analog.bias.copy_(torch.as_tensor(-A @ mx, dtype=torch.float32))
        model.digital.weight.copy_(torch.as_tensor(B, dtype=torch.float32))
        model.digital.bias.copy_(torch.as_tensor(ms, dtype=torch.float32))


def _lloyd(values: np.ndarray, n_levels: int, iterations: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's algorithm on scalar samples: (thresholds [M-1], levels [M]), from the samples' quantiles."""
    v = np.sort(values)
    y = np.quantile(v, (np.arange(n_levels) + 0.5) / n_levels)
    cum = np.concatenate(([0.0], np.cumsum(v)))
    for _ in range(iterations):
        t = (y[:-1] + y[1:]) / 2
        cut = np.concatenate(([0], np.searchsorted(v, t), [v.size]))
        count = np.diff(cut)
        if np.any(count == 0):  # an empty cell: keep the previous levels
            break
        y_new = np.diff(cum[cut]) / count
        if np.allclose(y_new, y, rtol=0, atol=1e-9 * (v[-1] - v[0])):
            y = y_new
            break
        y = y_new
    return (y[:-1] + y[1:]) / 2, y


@torch.no_grad()
def _lloyd_init(model: LearnedEstimator, x: torch.Tensor) -> None:
    """Converters <- the Lloyd quantizer of the combiner's outputs on ``x`` (pooled over the p converters,
    which are identical): thresholds ``b_i / c = t_i``, steps ``a_i`` half the level increments."""
    adc = model.adc
    t, y = _lloyd(model.analog(x).double().numpy().ravel(), adc.n_levels)
    if np.any(np.diff(t) <= 0):
        return  # degenerate outputs: keep the uniform converters
    adc.b.copy_(adc.c * torch.as_tensor(t, dtype=adc.b.dtype))
    adc.a.copy_(torch.as_tensor(np.diff(y) / 2, dtype=adc.a.dtype))


@torch.no_grad()
def _refit_digital(model: LearnedEstimator, x: torch.Tensor, s64: np.ndarray) -> None:
    """Digital layer <- least squares of s on [hard converter outputs, 1] (float64)."""
    q = model.adc(model.analog(x), hard=True).double().numpy()
    qm, sm = q.mean(0), s64.mean(0)
    qc = q - qm
    gram = qc.T @ qc
    # A converter whose output never changes (or duplicates) makes gram singular: a tiny ridge keeps
    # the solve defined without changing the fit where it is well posed.
    gram[np.diag_indices_from(gram)] += 1e-9 * max(float(np.trace(gram)) / len(gram), 1e-30)
    W = np.linalg.solve(gram, qc.T @ (s64 - sm)).T
    model.digital.weight.copy_(torch.as_tensor(W, dtype=torch.float32))
    model.digital.bias.copy_(torch.as_tensor(sm - W @ qm, dtype=torch.float32))


def _train(channel, p, n_levels, rng, train_samples, val_samples, epochs, batch_size, lr, mode, sharpness,
           anneal_to, init, eta, refit, lloyd):
    import hashlib

    from hwsim.checkpoint import TORCH_GLOBAL_RNG
    from hwsim.training import Task, fit

    for name, v in (("train_samples", train_samples), ("val_samples", val_samples), ("epochs", epochs),
                    ("batch_size", batch_size)):
        _checks.integer(name, v, minimum=1)
    lr = _checks.real("lr", lr, positive=True)
    seed = int(rng.integers(2**31))
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    s_tr64, x_tr64, _ = channel.sample(train_samples, rng)
    s_va, x_va, _ = channel.sample(val_samples, rng)
    s_tr, x_tr, s_va, x_va = (torch.as_tensor(a, dtype=torch.float32) for a in (s_tr64, x_tr64, s_va, x_va))
    model = LearnedEstimator(channel.n, p, channel.k, n_levels, mode, sharpness=sharpness)
    if init == "theorem3":
        _theorem3_init(model, s_tr64, x_tr64, p, n_levels, eta)
    if lloyd and model.adc.uses_tanh:
        _lloyd_init(model, x_tr[:REFIT_SAMPLES])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)

    n_fit = min(train_samples, REFIT_SAMPLES)
    order = None

    def before_epoch(epoch):
        nonlocal order
        if anneal_to is not None and model.adc.uses_tanh:
            model.adc.set_sharpness(sharpness * (anneal_to / sharpness) ** (epoch / max(1, epochs - 1)))
        order = torch.randperm(train_samples, generator=gen)

    def step(epoch, i):
        idx = order[i * batch_size:(i + 1) * batch_size]
        opt.zero_grad()
        loss = ((model(x_tr[idx]) - s_tr[idx]) ** 2).mean()
        loss.backward()
        opt.step()
        return float(loss.detach()), len(idx)

    def validate(epoch):
        """(hard validation MSE, the metrics, the state to keep) of the current model (epoch -1: the start)."""
        if refit:
            kept = copy.deepcopy(model)
            _refit_digital(kept, x_tr[:n_fit], s_tr64[:n_fit])
        else:
            kept = model
        kept.eval()
        with torch.no_grad():
            mse = float(((kept(x_va, hard=True) - s_va) ** 2).mean())
        return mse, {"val_mse": mse}, copy.deepcopy(kept.state_dict())

    data = hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes()
                                   for a in (s_tr64, x_tr64, s_va.numpy(), x_va.numpy()))).hexdigest()
    key = {"data": data, "p": p, "n_levels": n_levels, "epochs": epochs, "batch_size": batch_size, "lr": lr,
           "mode": mode, "sharpness": sharpness, "anneal_to": anneal_to, "init": init, "eta": eta, "refit": refit,
           "lloyd": lloyd, "seed": seed}
    task = Task(model, step, validate, before_epoch, after_epoch=lambda epoch: sched.step(),
                tracked={"opt": opt, "sched": sched, "batches": gen, "torch": TORCH_GLOBAL_RNG})
    history = fit(task, what=f"learned estimator ({mode})", key=key, epochs=epochs,
                  steps=-(-train_samples // batch_size), validate_start=True).history
    if refit and n_fit < train_samples:
        _refit_digital(model, x_tr, s_tr64)  # the kept epoch's digital layer, on the whole training set
    model.eval()
    return model, history
