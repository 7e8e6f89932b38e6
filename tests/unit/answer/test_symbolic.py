"""The symbolic engine in-process: exact equality, degree convention, guards."""

from __future__ import annotations

import pytest

from retool.answer.fast import TooLarge
from retool.answer.normalize import Leaf
from retool.answer.symbolic import leaves_equal, to_sympy


@pytest.mark.parametrize("a,b", [("2\\sqrt{2}", "\\sqrt{8}"), ("\\log_{2} 8", "3"), ("e^{i\\pi}", "-1"),
                                 ("\\sin\\frac{\\pi}{6}", "0.5"), ("(x+1)^2", "x^2+2x+1"), ("\\frac{\\pi}{180}", "\\pi/180")])
def test_equal_expressions(a: str, b: str) -> None:
    assert leaves_equal(Leaf(a), Leaf(b))


@pytest.mark.parametrize("a,b", [("1.414", "\\sqrt{2}"), ("3.1415926535", "\\pi"), ("0.33333333333333333", "\\frac{1}{3}"),
                                 ("\\frac{1}{2^{99}}", "\\frac{1}{2^{98}}+0x"), ("x+1", "x+2"), ("\\sqrt{2}", "-\\sqrt{2}")])
def test_unequal_expressions(a: str, b: str) -> None:
    assert not leaves_equal(Leaf(a), Leaf(b))


def test_decimals_become_exact_rationals() -> None:
    assert str(to_sympy("0.1")) == "1/10"
    assert str(to_sympy("2^{0.5}")) == "sqrt(2)"


def test_degree_flag_converts_to_radians_only_against_pi() -> None:
    assert leaves_equal(Leaf("60", degree=True), Leaf("\\frac{\\pi}{3}"))
    assert not leaves_equal(Leaf("60"), Leaf("\\frac{\\pi}{3}"))


@pytest.mark.parametrize("text", ["x^{9^{9^{9}}}", "x^{100000}", "\\frac{1}{x^{20000}}"])
def test_guard_rejects_huge_powers(text: str) -> None:
    with pytest.raises(TooLarge):
        to_sympy(text)


def test_unequal_expressions_in_variables_are_rejected_at_a_probe_point() -> None:
    assert not leaves_equal(Leaf("(x+y+z)^{40}"), Leaf("(x+y+z)^{39}(x+y+z+1)"))
    assert not leaves_equal(Leaf("\\sqrt{x^2}"), Leaf("x"))


def test_equal_rational_functions_are_proven_equal() -> None:
    assert leaves_equal(Leaf("\\frac{x^2-1}{x-1}"), Leaf("x+1"))
