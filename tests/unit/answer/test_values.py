"""Value arithmetic: exact where it can be, bounded approximations otherwise."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from retool.answer.values import (
    Approx,
    PiMul,
    TooLarge,
    Undecided,
    arith,
    clearly_differ,
    exact_root,
    log_value,
    pi_times,
    power_value,
    trig_exact,
)


def test_rational_arithmetic_is_exact() -> None:
    assert arith(Fraction(1, 3), Fraction(1, 6), "+") == Fraction(1, 2)


def test_division_by_zero_is_rejected() -> None:
    with pytest.raises(TooLarge, match="division by zero"):
        arith(Fraction(1), Fraction(0), "/")


def test_multiples_of_pi_stay_exact() -> None:
    assert arith(PiMul(Fraction(1)), Fraction(4), "/") == PiMul(Fraction(1, 4))
    assert arith(PiMul(Fraction(1, 2)), PiMul(Fraction(1, 2)), "-") == Fraction(0)
    assert pi_times(Fraction(0)) == Fraction(0)


def test_pi_plus_a_rational_is_approximate() -> None:
    value = arith(PiMul(Fraction(1)), Fraction(1), "+")
    assert isinstance(value, Approx) and value.value == pytest.approx(math.pi + 1)


@pytest.mark.parametrize("name,q,value", [("\\sin", Fraction(1, 6), Fraction(1, 2)), ("\\cos", Fraction(2, 3), Fraction(-1, 2)),
                                          ("\\tan", Fraction(5, 4), Fraction(1)), ("\\sin", Fraction(1, 5), None)])
def test_trigonometric_table(name: str, q: Fraction, value: Fraction | None) -> None:
    assert trig_exact(name, q) == value


def test_tangent_pole_is_undecided() -> None:
    with pytest.raises(Undecided):
        trig_exact("\\tan", Fraction(1, 2))


def test_exact_logarithm_and_roots() -> None:
    assert log_value(Fraction(1, 8), Fraction(2)) == Fraction(-3)
    assert exact_root(-125, 3) == -5 and exact_root(10**60 + 1, 2) is None
    assert power_value(Fraction(27, 8), Fraction(2, 3), 10_000) == Fraction(9, 4)


def test_power_guard_rejects_giant_results() -> None:
    with pytest.raises(TooLarge):
        power_value(Fraction(3), Fraction(10**6), 100_000)


def test_approximation_scale_tracks_cancellation() -> None:
    big = arith(power_value(Fraction(10**30 + 1), Fraction(1, 2), 100_000), Fraction(10**15), "-")
    assert isinstance(big, Approx) and not clearly_differ(big, Fraction(0))


def test_infinities_compare_exactly() -> None:
    assert clearly_differ(float("inf"), float("-inf")) and not clearly_differ(float("inf"), float("inf"))
