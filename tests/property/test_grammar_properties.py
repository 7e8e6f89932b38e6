"""Properties of the grammar: rendering then parsing recovers everything; parsing is total."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from retool.text.grammar import format_tool_call, neutralise, parse_trace, strip_code_fences
from tests.strategies.grammar import code_strings, responses


@given(responses())
def test_parse_recovers_rendered_calls_outputs_and_answer(case):
    text, codes, outs, final = case
    trace = parse_trace(text)
    assert [c.arguments["code"] for c in trace.tool_calls] == codes
    assert [c.code for c in trace.tool_calls] == [strip_code_fences(c) for c in codes]
    assert list(trace.tool_responses) == [neutralise(o) for o in outs]
    assert trace.final_answer == final and trace.has_valid_format


@given(st.lists(code_strings, min_size=1, max_size=5))
def test_every_call_in_one_turn_is_recovered_in_order(codes):
    text = "\n".join(format_tool_call("code_interpreter", {"code": c}) for c in codes)
    assert [c.arguments["code"] for c in parse_trace(text).tool_calls] == codes


@given(st.text(max_size=300))
def test_parse_is_total_on_arbitrary_text(text):
    trace = parse_trace(text)
    assert "".join(s.text for s in trace.segments) == text


@given(responses(), st.integers(min_value=0, max_value=10_000))
def test_parse_is_total_on_truncated_responses(case, cut):
    text = case[0][: cut % (len(case[0]) + 1)]
    trace = parse_trace(text)
    assert "".join(s.text for s in trace.segments) == text
