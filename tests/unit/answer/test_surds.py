"""Exact square roots: canonical sums of rational multiples of square roots of squarefree integers."""

from __future__ import annotations

from fractions import Fraction

import pytest

from retool.answer.surds import MAX_RADICAND, Surd, Undecided, sqrt_rational, surd_arith, surd_power


def test_a_square_root_is_reduced_to_its_squarefree_part() -> None:
    assert sqrt_rational(Fraction(32)) == Surd({2: Fraction(4)})


def test_a_perfect_square_is_rational() -> None:
    assert sqrt_rational(Fraction(9, 4)) == Fraction(3, 2)


def test_products_of_roots_merge_without_factoring() -> None:
    assert surd_arith(sqrt_rational(Fraction(6)), sqrt_rational(Fraction(10)), "*") == Surd({15: Fraction(2)})


def test_irrational_parts_that_cancel_give_a_fraction() -> None:
    r2 = sqrt_rational(Fraction(2))
    assert surd_arith(surd_arith(r2, Fraction(1), "+"), r2, "-") == Fraction(1)


def test_division_by_a_sum_is_rationalised() -> None:
    r = [sqrt_rational(Fraction(n)) for n in (2, 3, 5)]
    denominator = surd_arith(surd_arith(r[0], r[1], "+"), r[2], "+")
    assert surd_arith(surd_arith(Fraction(1), denominator, "/"), denominator, "*") == Fraction(1)


def test_a_nested_radical_denests_when_it_can() -> None:
    inner = surd_arith(Fraction(5), surd_arith(Fraction(2), sqrt_rational(Fraction(6)), "*"), "+")
    assert surd_power(inner, Fraction(1, 2)) == surd_arith(sqrt_rational(Fraction(2)), sqrt_rational(Fraction(3)), "+")


def test_a_nested_radical_that_does_not_denest_is_undecided() -> None:
    with pytest.raises(Undecided):
        surd_power(surd_arith(Fraction(1), sqrt_rational(Fraction(2)), "+"), Fraction(1, 2))


@pytest.mark.parametrize("value", [Fraction(-2), Fraction(MAX_RADICAND + 1)])
def test_negative_or_huge_radicands_are_undecided(value: Fraction) -> None:
    with pytest.raises(Undecided):
        sqrt_rational(value)


def test_distinct_surds_are_unequal() -> None:
    assert sqrt_rational(Fraction(2)) != sqrt_rational(Fraction(3))
