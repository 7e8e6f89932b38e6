"""The exact fast path: Fraction arithmetic, its grammar and its guards."""

from __future__ import annotations

from fractions import Fraction

import pytest

from retool.answer.fast import Approx, PiMul, TooLarge, Undecided, clearly_differ, fast_value
from retool.answer.polys import poly_equal


@pytest.mark.parametrize("text,value", [
    ("42", Fraction(42)), ("-7", Fraction(-7)), ("42.0", Fraction(42)), (".5", Fraction(1, 2)),
    ("0.1", Fraction(1, 10)), ("1.5e-3", Fraction(3, 2000)), ("\\frac{3}{4}", Fraction(3, 4)),
    ("\\frac12", Fraction(1, 2)), ("\\frac{1}{2}+\\frac{1}{3}", Fraction(5, 6)), ("2\\frac{1}{2}", Fraction(5, 2)),
    ("-2\\frac{1}{2}", Fraction(-5, 2)), ("3/4", Fraction(3, 4)), ("2^{10}", Fraction(1024)), ("2^{-2}", Fraction(1, 4)),
    ("2^{2^{3}}", Fraction(256)), ("2^3^2", Fraction(512)), ("-2^2", Fraction(-4)), ("(-2)^3", Fraction(-8)),
    ("\\sqrt{16}", Fraction(4)), ("\\sqrt[3]{-27}", Fraction(-3)), ("\\sqrt{\\frac{9}{4}}", Fraction(3, 2)),
    ("8^{\\frac{2}{3}}", Fraction(4)), ("5!", Fraction(120)), ("\\binom{6}{3}", Fraction(20)),
    ("1.5 \\times 10^{3}", Fraction(1500)), ("3 \\cdot 4 \\div 6", Fraction(2)), ("{(1+2)}*[3]", Fraction(9)),
    ("\\infty", float("inf")), ("-\\infty", float("-inf")), ("2(3)", Fraction(6)), ("\\log_{2} 8", Fraction(3)),
    ("\\log_{10} 1000", Fraction(3)), ("\\log_{\\frac{1}{2}} 4", Fraction(-2)), ("\\ln 1", Fraction(0)),
    ("\\cos(0)", Fraction(1)), ("0.\\overline{3}", Fraction(1, 3)), ("0.1\\overline{6}", Fraction(1, 6)),
    ("1.\\overline{142857}", Fraction(8, 7)),
])
def test_value_is_exact(text: str, value: Fraction | float) -> None:
    assert fast_value(text) == value


@pytest.mark.parametrize("text", ["\\sin x", "2^x", "\\log 8", "x^23", "\\ln 0", "\\sin(10^{9})",
                                  "\\frac{1}", "(1", "", "1 + \\infty", "0^{-1}", "(-4)^{\\frac{1}{2}}", "\\sqrt{}"])
def test_outside_the_grammar_is_undecided(text: str) -> None:
    with pytest.raises(Undecided):
        fast_value(text)


@pytest.mark.parametrize("text", ["9^{9^{9^{9}}}", "2^{1000000}", "10^{10^{10}}", "3000!", "1" * 1001,
                                  "1e99999", "1/0", "\\frac{5}{2-2}", "(" * 100 + "1" + ")" * 100, "-" * 100 + "1"])
def test_pathological_input_is_too_large(text: str) -> None:
    with pytest.raises(TooLarge):
        fast_value(text)


@pytest.mark.parametrize("a,b", [("\\frac{1}{\\sqrt{2}}", "\\frac{\\sqrt{2}}{2}"), ("(\\sqrt{2}+\\sqrt{3})^2", "5+2\\sqrt{6}"),
                                 ("\\sqrt{32}", "4\\sqrt{2}"), ("\\sqrt{3+2\\sqrt{2}}", "1+\\sqrt{2}"),
                                 ("\\sin\\frac{\\pi}{3}", "\\frac{\\sqrt{3}}{2}"), ("\\tan\\frac{5\\pi}{6}", "-\\frac{\\sqrt{3}}{3}")])
def test_square_roots_are_exact(a: str, b: str) -> None:
    assert fast_value(a) == fast_value(b)


@pytest.mark.parametrize("a,b", [("(x+1)^2", "x^2+2x+1"), ("3 - \\frac{x}{2}", "-\\frac{1}{2}x + 3"), ("x_1 + x_2", "x_2 + x_1"),
                                 ("\\sqrt{2}x", "x\\sqrt{2}"), ("\\theta^2", "\\theta\\theta")])
def test_polynomials_are_exact(a: str, b: str) -> None:
    assert poly_equal(fast_value(a), fast_value(b))


def test_distinct_polynomials_are_distinct() -> None:
    assert not poly_equal(fast_value("2x+1"), fast_value("2x-1"))


def test_variables_that_cancel_leave_a_number() -> None:
    assert fast_value("x - x + 3") == Fraction(3)


def test_tiny_powers_stay_exact() -> None:
    assert fast_value("2^{-99}") != fast_value("2^{-98}")
    assert fast_value("2^{-99}") == Fraction(1, 2**99)


@pytest.mark.parametrize("text,approx", [("\\sqrt[3]{2}", 2**(1/3)), ("\\pi + 1", 4.141592653589793), ("2e", 5.43656365691809),
                                         ("12\\sqrt[3]{2}", 12 * 2**(1/3)), ("\\log_2 9", 3.1699250014423126),
                                         ("\\cos\\frac{\\pi}{5}", 0.8090169943749475)])
def test_irrational_values_are_approximations(text: str, approx: float) -> None:
    value = fast_value(text)
    assert isinstance(value, Approx) and value.value == pytest.approx(approx, rel=1e-12)


@pytest.mark.parametrize("a,b", [("\\cos\\frac{\\pi}{3}", "\\frac{1}{2}"), ("\\sqrt{2}^2", "2"), ("2\\sqrt{2}", "\\sqrt{8}"),
                                 ("e^{\\ln 5}", "5"), ("\\frac{\\pi}{4}", "\\pi \\cdot 0.25"),
                                 ("(10^{8}+\\sqrt{2})-10^{8}", "\\sqrt{2}"), ("\\sqrt{10^{30}+1}-10^{15}", "0")])
def test_true_equalities_are_never_clearly_different(a: str, b: str) -> None:
    assert not clearly_differ(fast_value(a), fast_value(b))


@pytest.mark.parametrize("a,b", [("1.414", "\\sqrt{2}"), ("12\\sqrt{2}", "12"), ("\\log_2 9", "3"), ("\\pi", "\\infty"),
                                 ("\\pi", "3.14159")])
def test_distinct_values_clearly_differ(a: str, b: str) -> None:
    assert clearly_differ(fast_value(a), fast_value(b))


@pytest.mark.parametrize("text,q", [("\\pi", Fraction(1)), ("\\frac{\\pi}{2}", Fraction(1, 2)), ("\\pi/2", Fraction(1, 2)),
                                    ("2\\pi", Fraction(2)), ("\\frac{3\\pi}{4}", Fraction(3, 4)), ("-\\pi \\cdot 0.25", Fraction(-1, 4))])
def test_rational_multiples_of_pi_are_exact(text: str, q: Fraction) -> None:
    assert fast_value(text) == PiMul(q)


@pytest.mark.parametrize("text,value", [("\\cos\\frac{\\pi}{3}", Fraction(1, 2)), ("\\sin\\frac{7\\pi}{6}", Fraction(-1, 2)),
                                        ("\\tan\\frac{3\\pi}{4}", Fraction(-1)), ("\\sin(\\pi)", Fraction(0)), ("\\pi - \\pi", Fraction(0))])
def test_exact_trigonometric_values(text: str, value: Fraction) -> None:
    assert fast_value(text) == value
