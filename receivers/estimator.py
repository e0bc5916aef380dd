r"""Learned task-based channel estimator (seed 001 Sec. 4.1).

.. code-block:: text

    x [n]  --linear analog layer-->  z [p]  --p learned scalar ADCs-->  q [p]  --linear digital layer-->  s_hat [k]

Linear layers on both sides, as in the paper: the MMSE estimate of eq. (6) is linear in
``x`` and this keeps the comparison with the (linear) Theorem 3 design fair. The ADCs are
:class:`hwsim.converters.learned_adc.LearnedADC` trained soft-to-hard by default; evaluation always
uses their hard table.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn

from hwsim import _checks
from hwsim.converters.learned_adc import DEFAULT_SHARPNESS, LearnedADC


class LearnedEstimator(nn.Module):
    """Linear -> p ADCs -> linear; ``forward(x, hard)`` returns estimates [..., k]."""

    def __init__(self, n: int, p: int, k: int, n_levels: int, mode: str = "soft_to_hard", *,
                 sharpness: float = DEFAULT_SHARPNESS):
        super().__init__()
        self.analog = nn.Linear(n, p)
        self.adc = LearnedADC(n_levels, mode, sharpness=sharpness)
        self.digital = nn.Linear(p, k)

    def forward(self, x: torch.Tensor, hard: bool = False) -> torch.Tensor:
        return self.digital(self.adc(self.analog(x), hard=hard))

    @torch.no_grad()
    def estimate(self, x) -> np.ndarray:
        """Hard-path estimates (float64 numpy) for samples x [B, n]."""
        return self(torch.as_tensor(np.asarray(x), dtype=torch.float32), hard=True).double().numpy()


def train_estimator(channel, p: int, n_levels: int, rng: np.random.Generator, *, train_samples: int = 2**15,
                    val_samples: int = 2**12, epochs: int = 40, batch_size: int = 256, lr: float = 2e-3,
                    mode: str = "soft_to_hard", sharpness: float = DEFAULT_SHARPNESS,
                    anneal_to: float | None = 60.0) -> tuple[LearnedEstimator, list]:
    """Train on samples of ``channel`` (a :class:`hwsim.channels.PilotChannel`, whose ``snr_uncertainty``
    selects the paper's "SNR uncertainty" training set) with the MSE loss; validate the hard
    path every epoch and keep the best epoch. The tanh sharpness is annealed geometrically
    from ``sharpness`` to ``anneal_to`` (None: fixed), which keeps the soft mapping honest
    at coarse resolutions. Returns the model and the per-epoch history."""
    _checks.generator("rng", rng)
    with torch.random.fork_rng(devices=[]):  # leave the caller's global torch RNG as it was
        return _train(channel, p, n_levels, rng, train_samples, val_samples, epochs, batch_size, lr, mode,
                      sharpness, anneal_to)


def _train(channel, p, n_levels, rng, train_samples, val_samples, epochs, batch_size, lr, mode, sharpness,
           anneal_to):
    for name, v in (("train_samples", train_samples), ("val_samples", val_samples), ("epochs", epochs),
                    ("batch_size", batch_size)):
        _checks.integer(name, v, minimum=1)
    lr = _checks.real("lr", lr, positive=True)
    seed = int(rng.integers(2**31))
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    s_tr, x_tr, _ = channel.sample(train_samples, rng)
    s_va, x_va, _ = channel.sample(val_samples, rng)
    s_tr, x_tr, s_va, x_va = (torch.as_tensor(a, dtype=torch.float32) for a in (s_tr, x_tr, s_va, x_va))
    model = LearnedEstimator(channel.n, p, channel.k, n_levels, mode, sharpness=sharpness)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    best, best_mse, history = None, math.inf, []
    for epoch in range(epochs):
        if anneal_to is not None and model.adc.uses_tanh:
            model.adc.set_sharpness(sharpness * (anneal_to / sharpness) ** (epoch / max(1, epochs - 1)))
        model.train()
        order = torch.randperm(train_samples, generator=gen)
        total = 0.0
        for i in range(0, train_samples, batch_size):
            idx = order[i:i + batch_size]
            opt.zero_grad()
            loss = ((model(x_tr[idx]) - s_tr[idx]) ** 2).mean()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        sched.step()
        model.eval()
        with torch.no_grad():
            mse = float(((model(x_va, hard=True) - s_va) ** 2).mean())
        history.append({"epoch": epoch, "loss": total / train_samples, "val_mse": mse})
        if mse <= best_mse:
            best_mse, best = mse, copy.deepcopy(model.state_dict())
    model.load_state_dict(best)
    model.eval()
    return model, history
