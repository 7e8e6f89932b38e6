"""Spelling normalisation of one answer string."""

from __future__ import annotations

import pytest

from retool.answer.spelling import normalize


@pytest.mark.parametrize("raw,canonical", [
    ("\\dfrac{1}{2}", "\\frac{1}{2}"), ("$\\left( 1 \\right)$", "( 1 )"), ("\\text{ 42 }", "42"),
    ("1{,}000", "1000"), ("1,000,000", "1000000"), ("12 345", "12345"), ("\u22125", "-5"), ("+5", "5"),
    ("5.", "5"), ("\\sqrt2", "\\sqrt{2}"), ("\\frac{\\sqrt{3}}2", "\\frac{\\sqrt{3}}{2}"), ("\\frac 1 2", "\\frac{1}{2}"),
    ("\\sqrt[3]8", "\\sqrt[3]{8}"), ("\\frac\\pi4", "\\frac{\\pi}{4}"), ("5\\text{ cm}", "5"), ("3\u00d74", "3\\times 4"), ("\\$7", "7"), ("\\displaystyle 1", "1"),
    ("x^{2}", "x^2"), ("e^{\\pi}", "e^\\pi"), ("x^{10}", "x^{10}"), ("1,\\!000", "1000"), ("5\\textbf{ meters}", "5"),
    ("\\phantom{1}2", "2"), ("5~\\text{cm}", "5"), ("2*sqrt(2)", "2*\\sqrt{2}"), ("12 apples", "12"), ("\\mathbb{R}", "(-\\infty, \\infty)"),
    ("3 \\pmod{5}", "3"), ("3 (\\mod 5)", "3"), ("\uff14\uff12", "42"), ("x\u00b2", "x^2"), ("\u00bd", "\\frac{1}{2}"),
])
def test_normalize_spelling(raw: str, canonical: str) -> None:
    assert normalize(raw) == canonical


@pytest.mark.parametrize("raw", ["", "\\text{", "\\frac", "\\sqrt[", "{{{", "\\boxed{\\boxed{", "$$", "\u2212" * 10])
def test_normalize_is_total(raw: str) -> None:
    assert isinstance(normalize(raw), str)


def test_normalize_is_idempotent_on_common_spellings() -> None:
    for raw in ["\\dfrac{1}{2}", "1{,}000", "\\text{ 42 }", "5\\text{ cm}", "\\sqrt2", "+5"]:
        assert normalize(normalize(raw)) == normalize(raw)
