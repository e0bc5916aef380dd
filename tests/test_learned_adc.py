import numpy as np
import pytest
import torch

from hwsim.converters.adc import UniformADC
from hwsim.converters.learned_adc import LearnedADC


def test_uniform_initialisation_is_the_uniform_converter():
    layer = LearnedADC(8, "soft_to_hard", gamma=2.0)
    table = layer.to_table()
    uni = UniformADC(8, 2.0)
    np.testing.assert_allclose(table.thresholds, uni.thresholds, atol=1e-6)
    np.testing.assert_allclose(table.levels, uni.levels, atol=0.02 * uni.step)
    np.testing.assert_allclose(table.levels[[0, -1]], [-1.75, 1.75], atol=1e-6)  # -/+ sum a_i


def test_eq5_conversion_on_a_hand_made_layer():
    layer = LearnedADC(4, "soft_to_hard")
    with torch.no_grad():
        layer.a.copy_(torch.tensor([0.5, 1.0, 0.25]))
        layer.b.copy_(layer.c * torch.tensor([0.8, -1.2, 0.1]))  # unsorted on purpose
    table = layer.to_table()
    np.testing.assert_allclose(table.thresholds, [-1.2, 0.1, 0.8], atol=1e-6)
    centres = torch.tensor([(-1.2 + 0.1) / 2, (0.1 + 0.8) / 2])
    inner = layer.soft(centres).detach().numpy()
    np.testing.assert_allclose(table.levels, [-1.75, inner[0], inner[1], 1.75], atol=1e-6)


def test_hard_forward_is_exactly_the_exported_table():
    layer = LearnedADC(8, "soft_to_hard")
    with torch.no_grad():
        layer.b.add_(torch.linspace(-0.3, 0.4, 7) * layer.c)
    x = torch.randn(5000, 4) * 2
    table = layer.to_table()
    hard = layer(x, hard=True)
    np.testing.assert_array_equal(hard.numpy(), table.quantize(x.double().numpy()).astype(np.float32))
    assert len(torch.unique(hard)) <= 8


@pytest.mark.parametrize("mode, trains_table", [("soft_to_hard", True), ("uniform_soft_to_hard", False),
                                                ("passing_gradient", False), ("ste", False),
                                                ("clipped_passing_gradient", False)])
def test_training_surrogates_pass_gradients(mode, trains_table):
    torch.manual_seed(0)
    layer = LearnedADC(8, mode)
    x = (torch.randn(1000) * 1.5).requires_grad_()
    y = layer(x)
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert (layer.a.grad is not None) == trains_table and (layer.b.grad is not None) == trains_table
    step = layer.uniform.step
    if mode == "passing_gradient":
        assert torch.all((y - x).abs() <= step / 2 + 1e-6)
        np.testing.assert_allclose(x.grad.numpy(), 1.0)
    if mode == "clipped_passing_gradient":
        assert torch.all(y.abs() <= 2.0 + step / 2 + 1e-6)
    if mode == "ste":
        np.testing.assert_array_equal(y.detach().numpy(), layer(x, hard=True).numpy())
        np.testing.assert_allclose(x.grad.numpy(), 1.0)


def test_annealing_keeps_thresholds():
    layer = LearnedADC(8, "soft_to_hard", sharpness=2.0)
    before = layer.to_table().thresholds.copy()
    layer.set_sharpness(20.0)
    np.testing.assert_allclose(layer.to_table().thresholds, before, atol=1e-5)
    x = torch.linspace(-1.9, 1.9, 101)
    # sharper tanh: the soft mapping is closer to the hard one
    assert (layer.soft(x) - layer(x, hard=True)).abs().mean() < 0.05


def test_bad_modes_are_named():
    with pytest.raises(ValueError, match="mode must be one of soft_to_hard"):
        LearnedADC(8, "noise")
    with pytest.raises(ValueError, match="n_levels must be >= 2"):
        LearnedADC(1)


def test_sweep_validation_knows_every_mode():
    from hwsim.converters.learned_adc import MODES
    from hwsim.receivers.learned import TRAININGS

    assert TRAININGS == MODES
