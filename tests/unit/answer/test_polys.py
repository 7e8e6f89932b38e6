"""Exact polynomials and rational functions: canonical forms decide equality both ways."""

from __future__ import annotations

from fractions import Fraction

import pytest

from retool.answer.polys import MAX_DEGREE, Poly, poly_arith, poly_equal, poly_power, proportional, variable
from retool.answer.surds import Undecided, sqrt_rational

x, y = variable("x"), variable("y")


def test_a_square_expands_to_its_canonical_form() -> None:
    square = poly_power(poly_arith(x, Fraction(1), "+"), Fraction(2))
    assert square == poly_arith(poly_arith(poly_power(x, Fraction(2)), poly_arith(Fraction(2), x, "*"), "+"), Fraction(1), "+")


def test_a_ratio_equals_the_polynomial_it_cancels_to() -> None:
    ratio = poly_arith(poly_arith(poly_power(x, Fraction(2)), Fraction(1), "-"), poly_arith(x, Fraction(1), "-"), "/")
    assert poly_equal(ratio, poly_arith(x, Fraction(1), "+"))


def test_division_by_a_constant_stays_a_polynomial() -> None:
    assert isinstance(poly_arith(x, Fraction(2), "/"), Poly)


def test_surd_coefficients_are_exact() -> None:
    assert poly_equal(poly_arith(x, sqrt_rational(Fraction(2)), "/"), poly_arith(x, sqrt_rational(Fraction(1, 2)), "*"))


def test_distinct_forms_are_distinct_functions() -> None:
    assert not poly_equal(poly_arith(x, y, "+"), poly_arith(x, y, "*"))


def test_a_constant_multiple_is_found() -> None:
    assert proportional(poly_arith(Fraction(2), poly_arith(x, y, "+"), "*"), poly_arith(x, y, "+")) == Fraction(2)


def test_a_variable_multiple_is_not_proportional() -> None:
    assert proportional(poly_arith(x, poly_arith(x, Fraction(1), "-"), "*"), poly_arith(x, Fraction(1), "-")) is None


@pytest.mark.parametrize("exponent", [Fraction(1, 2), Fraction(MAX_DEGREE + 1)])
def test_fractional_or_huge_powers_are_undecided(exponent: Fraction) -> None:
    with pytest.raises(Undecided):
        poly_power(x, exponent)
