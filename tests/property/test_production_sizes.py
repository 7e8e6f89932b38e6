"""Model text at production sizes (16k-64k characters of repeated openers, closers, special
tokens, deep nesting, invalid code points): every reader stays total, exact and consistent.

Per-example work is linear, so each example takes milliseconds; a quadratic or recursive reader
shows up as a timeout or an exception here. ``HYPOTHESIS_PROFILE=fuzz`` runs many more."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retool.answer import extract_answer
from retool.reward import score
from retool.text.grammar import strip_code_fences, format_tool_call, parse_trace, tool_turn_text
from retool.text.spans import find_boxed
from tests.strategies.grammar import hostile_texts

pytestmark = pytest.mark.timeout(120)
BIG = settings(max_examples=max(25, settings.default.max_examples // 4), deadline=None)  # 25; 500 with HYPOTHESIS_PROFILE=fuzz
GOOD_TAIL = "So the answer is \\boxed{42}."


def covers_exactly(text: str) -> bool:
    trace = parse_trace(text)
    pos = 0
    for segment in trace.segments:
        if segment.start != pos or text[segment.start : segment.end] != segment.text:
            return False
        pos = segment.end
    return pos == len(text)


@BIG
@given(hostile_texts())
def test_segments_tile_a_hostile_response_exactly(text: str) -> None:
    assert covers_exactly(text)


@BIG
@given(hostile_texts())
def test_extraction_agrees_with_the_trace(text: str) -> None:
    trace = parse_trace(text)
    got = extract_answer(text)
    if trace.ends_on_call:
        assert got.answer is None
    if got.answer is not None:
        assert got.source == trace.answer_source
        assert trace.final_answer is not None and trace.final_answer.strip() == got.values[-1]


@BIG
@given(hostile_texts())
def test_score_is_total_and_its_terms_add_up(text: str) -> None:
    got = score(text, "42")
    assert got.total == got.r_ans + got.r_fmt + got.r_use
    assert got.format_valid == parse_trace(text).has_valid_format


@BIG
@given(hostile_texts(min_chars=4096, max_chars=32_768))
def test_hostile_tool_output_cannot_change_a_correct_answers_score(printed: str) -> None:
    response = "Compute.\n" + format_tool_call("code_interpreter", {"code": "print(x)"}) + tool_turn_text([printed])
    assert score(response + GOOD_TAIL, "42").total == pytest.approx(1.15)


@BIG
@given(hostile_texts(min_chars=4096, max_chars=32_768))
def test_hostile_code_in_a_call_is_recovered_exactly(code: str) -> None:
    response = format_tool_call("code_interpreter", {"code": code}) + tool_turn_text(["ok"]) + GOOD_TAIL
    trace = parse_trace(response)
    assert [c.arguments["code"] for c in trace.tool_calls] == [code]
    assert trace.has_valid_format == bool(strip_code_fences(code).strip())  # blank code is an error on the call


@BIG
@given(hostile_texts())
def test_every_box_lies_inside_the_text(text: str) -> None:
    boxes = find_boxed(text)
    assert all(0 <= b.start < b.content_start <= b.end <= len(text) for b in boxes)
    assert [b.start for b in boxes] == sorted(b.start for b in boxes)


@pytest.mark.parametrize("depth", [1_000, 10_000])
@pytest.mark.parametrize("opener", ["[", "{", '{"a":'])
def test_nesting_depth_10k_in_a_call_is_an_error_not_a_crash(depth: int, opener: str) -> None:
    text = '<tool_call>\n{"name": "code_interpreter", "arguments": {"code": ' + opener * depth + "</tool_call>" + GOOD_TAIL
    trace = parse_trace(text)
    assert not trace.tool_calls[0].ok and trace.final_answer == "42" and not trace.has_valid_format


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["\\boxed{", "}", "{", "x"]), min_size=1, max_size=6), st.integers(1000, 8000))
def test_repeated_box_fragments_keep_extraction_total(fragments: list[str], repeat: int) -> None:
    text = "".join(fragments) * repeat
    got = extract_answer(text)
    assert got.answer is None or len(got.answer) <= 1000
