"""The structure tree: tuples, intervals, sets, lists, matrices, relations, marks."""

from __future__ import annotations

import pytest

from retool.answer.normalize import Bag, Equation, Leaf, Matrix, Seq, structure


def test_grouped_digits_inside_brackets_stay_separate() -> None:
    assert structure("(1,100)") == Seq("(", ")", (Leaf("1"), Leaf("100")))


def test_percent_and_degree_marks_become_flags() -> None:
    assert structure("50\\%") == Leaf("50", percent=True)
    assert structure("30^{\\circ}") == Leaf("30", degree=True)
    assert structure("30 degrees") == Leaf("30", degree=True)


@pytest.mark.parametrize("raw,node", [
    ("[1, 2)", Seq("[", ")", (Leaf("1"), Leaf("2")))),
    ("\\{1, 2\\}", Bag((Leaf("1"), Leaf("2")), braced=True)),
    ("1 and 2", Bag((Leaf("1"), Leaf("2")))),
    ("2 \\pm 1", Bag((Leaf("2 + 1"), Leaf("2 - 1")))),
    ("x = 5", Leaf("5")),
    ("\\pm 1", Bag((Leaf("1"), Leaf("- 1")))),
    ("x \\in (0, 1]", Seq("(", "]", (Leaf("0"), Leaf("1")))),
    ("f(2) = 5", Leaf("5")),
    ("(x, y) = (1, 2)", Seq("(", ")", (Leaf("1"), Leaf("2")))),
    ("a = b = 4", Leaf("4")),
    ("2x + 1 = 5", Equation("2x + 1", "5")),
    ("x \\le 3", Seq("(", "]", (Leaf("-\\infty"), Leaf("3")))),
    ("5 > x \\ge 1", Seq("[", ")", (Leaf("1"), Leaf("5")))),
    ("a + b > 3", Equation("3", "a + b", "<")),
    ("\\{x \\mid x > 2\\}", Seq("(", ")", (Leaf("2"), Leaf("\\infty")))),
    ("(5)", Leaf("5")),
    ("\\begin{pmatrix}1 & 2\\\\ 3 & 4\\end{pmatrix}", Matrix(((Leaf("1"), Leaf("2")), (Leaf("3"), Leaf("4"))))),
])
def test_structure(raw: str, node: object) -> None:
    assert structure(raw) == node


@pytest.mark.parametrize("raw", ["", "{" * 500, "\\left(", ")(", "\\{", "=", ",,,", "\\begin{pmatrix}", "\\pm"])
def test_structure_is_total(raw: str) -> None:
    structure(raw)
