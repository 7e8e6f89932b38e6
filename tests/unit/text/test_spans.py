"""The answer spans: ``find_boxed`` against a direct reference reading of its contract, at hostile
sizes, and ``answer_line``, the one ``Answer:`` rule."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retool.text.spans import answer_line, find_boxed

_OPENER = re.compile(r"\\(?:boxed|fbox)\s*\{")


def reference_boxes(text: str) -> list[tuple[int, int, str, bool]]:
    """The contract read literally (quadratic, for small inputs only): from each opener not inside
    an earlier closed box, count braces (``\\{``/``\\}`` skipped) until the depth returns to 0."""
    out, pos = [], 0
    while (m := _OPENER.search(text, pos)) is not None:
        depth, i = 1, m.end()
        while i < len(text) and depth:
            if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in "{}":
                i += 2
                continue
            depth += text[i] == "{"
            depth -= text[i] == "}"
            i += 1
        closed = depth == 0
        out.append((m.start(), i, text[m.end() : i - 1 if closed else i], closed))
        pos = i if closed else m.end()
    return out


PIECES = st.sampled_from(["\\boxed{", "\\fbox {", "\\boxed \n{", "{", "}", "\\{", "\\}", "\\", "x", " ", "\\boxed"])


@settings(max_examples=600, deadline=None)
@given(st.lists(PIECES, max_size=40).map("".join))
def test_find_boxed_matches_the_reference_reading(text: str) -> None:
    got = [(b.start, b.end, b.content, b.closed) for b in find_boxed(text)]
    assert got == reference_boxes(text)


def test_nested_boxes_inside_a_closed_box_are_part_of_it() -> None:
    (box,) = find_boxed(r"\boxed{\frac{\boxed{1}}{2}} tail")
    assert (box.content, box.closed) == (r"\frac{\boxed{1}}{2}", True)


def test_boxes_inside_an_unclosed_box_are_listed() -> None:
    boxes = find_boxed(r"\boxed{a \boxed{b} c")
    assert [(b.content, b.closed) for b in boxes] == [(r"a \boxed{b} c", False), ("b", True)]


def test_escaped_braces_do_not_count() -> None:
    assert find_boxed(r"\boxed{\{1, 2\}}")[0].content == r"\{1, 2\}"


def test_a_span_slices_its_text_instead_of_copying_it() -> None:
    text = "\\boxed{" * 1000
    boxes = find_boxed(text)
    assert len(boxes) == 1000 and all(b.source is text for b in boxes)
    assert boxes[-1].content == "" and boxes[0].content == text[7:]


@pytest.mark.timeout(20)
@pytest.mark.parametrize("unit", ["\\boxed{", "\\boxed{x}", "{", "}", "\\{", "\\boxed{{{", "\\fbox{}}}"])
def test_find_boxed_on_64k_of_one_hostile_unit_finishes(unit: str) -> None:
    text = unit * (65_536 // len(unit))
    boxes = find_boxed(text)
    assert all(0 <= b.start < b.end <= len(text) for b in boxes)


def test_find_boxed_of_a_non_string_is_empty() -> None:
    assert find_boxed(None) == ()  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "expected"), [
    ("Answer: 42", "42"),
    ("Final answer: 42", "42"),
    ("**Final Answer:** 42.", "42"),
    ("> answer：  7 ", "7"),
    ("## ANSWER: \\frac{1}{2}\r", "\\frac{1}{2}"),
    ("Answer: 1\nsome text\nAnswer: 2", "2"),
    ("Answer: 1\nAnswer: ** .", ""),
    ("The answer: 3", None),
    ("no line here", None),
])
def test_answer_line_reads_the_last_answer_line(text: str, expected: str | None) -> None:
    assert answer_line(text) == expected


@pytest.mark.timeout(20)
def test_answer_line_on_long_decoration_runs_finishes() -> None:
    text = ("*" * 30_000 + "\n") + "Answer:" + " " * 30_000 + "5" + "*" * 30_000
    assert answer_line(text) == "5"
