import pytest

from hwsim.converters.budget import BitBudget, bit_budget, check_budget, levels_per_adc, split_budget, total_bits


def test_seed_paper_symbol_detection_bookkeeping():
    # Sec. 4.2: n = 12, k = 4: p = floor(kR), 3 bits per ADC at R = 1 and R = 2
    assert bit_budget(12, 4, 1.0) == BitBudget(n=12, bits=12, p=4, levels=8)
    assert bit_budget(12, 4, 2.0) == BitBudget(n=12, bits=24, p=8, levels=8)
    b = bit_budget(12, 4, 1.5)
    assert (b.p, b.levels) == (6, 8) and b.used_bits <= b.bits


def test_qmap_levels_per_antenna_are_floor_two_to_the_rate():
    for rate, levels in ((1.0, 2), (2.0, 4), (3.0, 8), (1.5, 2)):
        assert split_budget(12, rate, 12).levels == levels


def test_levels_are_exact_integers():
    assert levels_per_adc(80, 80) == 2
    assert levels_per_adc(79, 80) == 1
    assert levels_per_adc(12, 4) == 8
    assert levels_per_adc(10, 3) == 10     # 10**3 <= 2**10 < 11**3
    assert levels_per_adc(63, 1) == 2**63
    assert total_bits(240, 1 / 3) == 80


def test_budget_errors_are_clear():
    with pytest.raises(ValueError, match="p = floor"):
        bit_budget(12, 4, 0.2)
    with pytest.raises(ValueError, match="at least 2 levels"):
        split_budget(240, 0.33, 80)
    with pytest.raises(ValueError, match="more than the budget"):
        check_budget(4, 9, 12)
    check_budget(4, 8, 12)
    with pytest.raises(ValueError, match="rate must be > 0"):
        total_bits(12, 0.0)
    with pytest.raises(ValueError, match="rate must be finite"):
        bit_budget(12, 4, float("nan"))


def test_huge_budgets_are_exact_integers():
    assert levels_per_adc(3000, 2) == 2**1500
    m = levels_per_adc(3001, 3)
    assert m**3 <= 2**3001 < (m + 1) ** 3
