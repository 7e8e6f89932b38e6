"""The exact fast path: Fraction arithmetic, its grammar and its guards."""

from __future__ import annotations

from fractions import Fraction

import pytest

from retool.answer_fast import TooLarge, Undecided, fast_value


@pytest.mark.parametrize("text,value", [
    ("42", Fraction(42)), ("-7", Fraction(-7)), ("42.0", Fraction(42)), (".5", Fraction(1, 2)),
    ("0.1", Fraction(1, 10)), ("1.5e-3", Fraction(3, 2000)), ("\\frac{3}{4}", Fraction(3, 4)),
    ("\\frac12", Fraction(1, 2)), ("\\frac{1}{2}+\\frac{1}{3}", Fraction(5, 6)), ("2\\frac{1}{2}", Fraction(5, 2)),
    ("-2\\frac{1}{2}", Fraction(-5, 2)), ("3/4", Fraction(3, 4)), ("2^{10}", Fraction(1024)), ("2^{-2}", Fraction(1, 4)),
    ("2^{2^{3}}", Fraction(256)), ("2^3^2", Fraction(512)), ("-2^2", Fraction(-4)), ("(-2)^3", Fraction(-8)),
    ("\\sqrt{16}", Fraction(4)), ("\\sqrt[3]{-27}", Fraction(-3)), ("\\sqrt{\\frac{9}{4}}", Fraction(3, 2)),
    ("8^{\\frac{2}{3}}", Fraction(4)), ("5!", Fraction(120)), ("\\binom{6}{3}", Fraction(20)),
    ("1.5 \\times 10^{3}", Fraction(1500)), ("3 \\cdot 4 \\div 6", Fraction(2)), ("{(1+2)}*[3]", Fraction(9)),
    ("\\infty", float("inf")), ("-\\infty", float("-inf")),
])
def test_value_is_exact(text: str, value: Fraction | float) -> None:
    assert fast_value(text) == value


@pytest.mark.parametrize("text", ["\\sqrt{2}", "\\pi", "x", "2x", "2(3)", "e", "\\log_{2} 8", "1/0", "x^23",
                                  "\\frac{1}", "(1", "", "1 + \\infty", "0^{-1}", "(-4)^{\\frac{1}{2}}", "\\sqrt{}"])
def test_outside_the_grammar_is_undecided(text: str) -> None:
    with pytest.raises(Undecided):
        fast_value(text)


@pytest.mark.parametrize("text", ["9^{9^{9^{9}}}", "2^{1000000}", "10^{10^{10}}", "3000!", "1" * 1001,
                                  "1e99999", "(" * 100 + "1" + ")" * 100, "-" * 100 + "1"])
def test_pathological_input_is_too_large(text: str) -> None:
    with pytest.raises(TooLarge):
        fast_value(text)


def test_tiny_powers_stay_exact() -> None:
    assert fast_value("2^{-99}") != fast_value("2^{-98}")
    assert fast_value("2^{-99}") == Fraction(1, 2**99)
