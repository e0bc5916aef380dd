r"""Trainable scalar ADC layer (torch): the training surrogates of a p-ADC bank, and its hard table.

One class, :class:`LearnedADC`, with four training modes (Shlezinger and Eldar Sec. 3.2):

``"soft_to_hard"``
    :math:`\tilde q(x) = \sum_{i=1}^{M-1} a_i \tanh(c\,x - b_i)` (eq. (4)); ``a`` and ``b`` are
    learned, ``c`` is fixed from the resolution (``c = sharpness / D`` with the uniform step
    ``D = 2 gamma / M``) or annealed upward during training (:meth:`set_sharpness`).
``"uniform_soft_to_hard"``
    eq. (4) with ``a`` and ``b`` frozen at the uniform partition of ``[-gamma, gamma]`` (Fig. 9).
``"passing_gradient"``
    a fixed uniform quantizer over ``[-gamma, gamma]``, replaced in training by additive i.i.d.
    noise uniform over one cell (Sec. 3.2.1).
``"clipped_passing_gradient"``
    as passing gradient, but the input is first clipped to the support ``[-gamma, gamma]``
    (an extra baseline: it tells the network where the converter overloads).
``"ste"``
    the same fixed uniform quantizer in the forward pass, identity gradient (straight-through).

Whatever the mode, :meth:`to_table` returns the hard :class:`~hwsim.converters.adc.ThresholdADC` that the
hardware implements (eq. (5) for the tanh modes: thresholds ``b_i / c`` sorted, inner levels
the soft mapping at each region's centre, outer levels ``-/+ sum a_i``), and every reported
metric uses that table (:meth:`forward` with ``hard=True``).

The uniform initialisation (``b_i = c t_i`` at the uniform thresholds ``t_i``, ``a_i = D/2``)
makes eq. (4) a smoothed copy of the uniform mid-rise converter, so all modes start from
the same quantizer.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .. import _checks
from .adc import ThresholdADC, UniformADC

#: Training modes of a learned converter (how the hard quantizer is differentiated; see the module text).
MODES = ("soft_to_hard", "uniform_soft_to_hard", "passing_gradient", "clipped_passing_gradient", "ste")

#: Default tanh sharpness c * D: the soft step rises over about a third of a cell.
DEFAULT_SHARPNESS = 6.0


class _StraightThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, quantized):
        return quantized

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class LearnedADC(nn.Module):
    """A bank of identical scalar ADCs with ``n_levels`` levels, trainable in one of :data:`MODES`.

    Parameters
    ----------
    n_levels : int
        Levels M of every converter (>= 2).
    mode : str
        Training mode, one of :data:`MODES`.
    gamma : float
        Support of the uniform initialisation / fixed quantizer, ``[-gamma, gamma]`` (default 2).
    sharpness : float
        ``c * D`` for the tanh modes (default :data:`DEFAULT_SHARPNESS`).

    Shapes: input ``[..., p]`` (any trailing size: the converters are identical), output alike.
    """

    def __init__(self, n_levels: int, mode: str = "soft_to_hard", *, gamma: float = 2.0,
                 sharpness: float = DEFAULT_SHARPNESS):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.uniform = UniformADC(n_levels, gamma)
        self.mode = mode
        self.n_levels = self.uniform.n_levels
        self.gamma = self.uniform.gamma
        step = self.uniform.step
        t = torch.tensor(self.uniform.thresholds, dtype=torch.float32)
        self.register_buffer("c", torch.tensor(_checks.real("sharpness", sharpness, positive=True) / step))
        a = torch.full((self.n_levels - 1,), step / 2)
        b = self.c * t
        learn = mode == "soft_to_hard"
        self.a = nn.Parameter(a, requires_grad=learn)
        self.b = nn.Parameter(b, requires_grad=learn)

    @property
    def uses_tanh(self) -> bool:
        return self.mode in ("soft_to_hard", "uniform_soft_to_hard")

    def set_sharpness(self, sharpness: float) -> None:
        """Change ``c * D`` (annealing), keeping the thresholds ``b_i / c`` where they are."""
        sharpness = _checks.real("sharpness", sharpness, positive=True)
        new_c = torch.tensor(sharpness / self.uniform.step, dtype=self.c.dtype, device=self.c.device)
        with torch.no_grad():
            self.b.mul_(new_c / self.c)
            self.c.copy_(new_c)

    def soft(self, x: torch.Tensor) -> torch.Tensor:
        """Eq. (4), elementwise: ``sum_i a_i tanh(c x - b_i)``."""
        return (self.a * torch.tanh(self.c * x.unsqueeze(-1) - self.b)).sum(-1)

    def forward(self, x: torch.Tensor, hard: bool = False) -> torch.Tensor:
        """Training surrogate (``hard=False``) or the hard table (``hard=True``, no gradient)."""
        if hard:
            return self._hard(x)
        if self.uses_tanh:
            return self.soft(x)
        if self.mode in ("passing_gradient", "clipped_passing_gradient"):
            if self.mode == "clipped_passing_gradient":
                x = torch.clamp(x, -self.gamma, self.gamma)
            return x + (torch.rand_like(x) - 0.5) * self.uniform.step
        return _StraightThrough.apply(x, self._hard(x))

    def _hard(self, x: torch.Tensor) -> torch.Tensor:
        # Exactly what the exported hardware does: the ThresholdADC's own torch path.
        return self.to_table().quantize(x.detach())

    def to_table(self) -> ThresholdADC:
        """The hard converter (eq. (5) for the tanh modes, the fixed uniform one otherwise)."""
        if not self.uses_tanh:
            return self.uniform
        with torch.no_grad():
            a = self.a.detach().double().cpu().numpy()
            th = np.sort((self.b.detach().double() / self.c.double()).cpu().numpy())
        th = np.unique(th)  # coinciding thresholds merge (fewer, never more, levels)
        centres = (th[:-1] + th[1:]) / 2
        inner = (a[None, :] * np.tanh(float(self.c) * centres[:, None]
                                      - self.b.detach().double().cpu().numpy()[None, :])).sum(1)
        levels = np.concatenate(([-a.sum()], inner, [a.sum()]))
        return ThresholdADC(th, levels)

    def extra_repr(self) -> str:
        return f"n_levels={self.n_levels}, mode={self.mode!r}, gamma={self.gamma}"
