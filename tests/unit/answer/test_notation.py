"""Notation outside strict LaTeX: invisible content, plain-text math, unit words, the real line."""

from __future__ import annotations

import pytest

from retool.answer.notation import canonical_unit, drop_invisible, drop_unit_words, plain_math, real_line


@pytest.mark.parametrize("raw", ["\\phantom{5}", "\\hphantom{5}", "\\vphantom{5}", "\\textcolor{white}{5}",
                                 "\\color{white}5", "\\textcolor{#FFFFFF}{5}", "\\hspace{1cm}"])
def test_invisible_content_is_dropped_with_what_it_holds(raw: str) -> None:
    assert drop_invisible(raw).strip() == ""


def test_visible_content_beside_a_phantom_stays() -> None:
    assert drop_invisible("4\\phantom{2}").strip() == "4"


@pytest.mark.parametrize("raw,latex", [
    ("2*sqrt(2)", "2*\\sqrt{2}"), ("sqrt 2", "\\sqrt{2}"), ("cbrt(x)", "\\sqrt[3]{x}"), ("pi", "\\pi "),
    ("inf", "\\infty "), ("(-inf, 3]", "(-\\infty , 3]"), ("x**2", "x^2"), ("1 1/2", "1\\frac{1}{2}"), ("ln(2)", "\\ln(2)"),
])
def test_plain_text_math_becomes_latex(raw: str, latex: str) -> None:
    assert plain_math(raw) == latex


def test_a_mixed_number_needs_a_proper_fraction() -> None:
    assert plain_math("1 3/2") == "1 3/2"


@pytest.mark.parametrize("raw,number", [("12 apples", "12"), ("12 square units", "12"), ("5 dollars", "5"),
                                        ("60 km/h", "60"), ("12 units squared", "12"), ("5cm", "5"), ("5 m", "5"), ("\\frac{1}{2} cup", "\\frac{1}{2}")])
def test_trailing_unit_words_after_a_number_are_dropped(raw: str, number: str) -> None:
    assert drop_unit_words(raw) == number


@pytest.mark.parametrize("raw", ["5 hundred", "3 dozen", "2 squared", "5 xy", "5ab", "x apples", "5 or 6", "1 half"])
def test_words_that_can_change_the_value_are_kept(raw: str) -> None:
    assert drop_unit_words(raw) == raw


@pytest.mark.parametrize("raw", ["\\mathbb{R}", "\\R", "all real numbers"])
def test_the_real_line_is_an_interval(raw: str) -> None:
    assert real_line(raw) == "(-\\infty, \\infty)"


@pytest.mark.parametrize("raw,unit", [("5 cm", "cm"), ("5\\text{ cm}^2", "cm^2"), ("5 meters", "m"), ("5", None),
                                      ("12 apples", None)])
def test_known_units_have_one_canonical_name(raw: str, unit: str | None) -> None:
    assert canonical_unit(raw) == unit
