"""Parser throughput: :func:`retool.text.grammar.parse_trace` against the field's regex parser, same run.

Workload: :func:`retool.harness.bench.workloads.parser_workload`, multi-turn ReTool transcripts (prose of
300-1200 chars per turn, 4-12 line code calls, tool turns, a boxed answer) rendered with the
project's own ``format_tool_call`` / ``tool_turn_text``. Baseline: ``re.findall(<tool_call>(.*?)
</tool_call>)`` + ``json.loads`` + a ``\\boxed{(.*?)}`` regex (:func:`retool.harness.bench.workloads.naive_parse`).
The ratio is ours / naive in MB/s; ours does more work (segments, routing, balanced boxes,
validity), so the ratio is below 1, and it is gated so it does not fall further. The tests after
the benchmark show what the naive parser's speed buys: wrong answers on hazardous input.
"""

from __future__ import annotations

from typing import Any

from retool.harness.bench.workloads import measure_parser, naive_parse, parser_workload
from retool.text.grammar import CODE_INTERPRETER, format_tool_call, parse_trace, tool_turn_text


def test_parser_mb_per_s_against_naive_regex(benchmark: Any, timing: bool, record_ratio: Any) -> None:
    n = 200 if timing else 10
    result = record_ratio(measure_parser(n_transcripts=n, rounds=7 if timing else 1))
    texts = parser_workload(n)
    traces = benchmark.pedantic(lambda: [parse_trace(t) for t in texts], rounds=5 if timing else 1, iterations=1)
    assert all(t.has_valid_format for t in traces)
    assert result.ratio > 0


def test_workload_is_valid_and_both_parsers_agree_on_it() -> None:
    for text in parser_workload(20, seed=1):
        trace = parse_trace(text)
        calls, boxed = naive_parse(text)
        assert trace.has_valid_format and not trace.errors, trace.errors
        assert [c.arguments for c in trace.tool_calls] == [c["arguments"] for c in calls]
        assert trace.final_answer == boxed


def _hazard(code: str, answer: str) -> str:
    call = format_tool_call(CODE_INTERPRETER.name, {"code": code})
    return f"Let me compute.\n{call}{tool_turn_text(['done'])}So the answer is \\boxed{{{answer}}}."


def test_naive_parser_cuts_code_that_prints_the_closing_tag() -> None:
    code = 'print("</tool_call>")\nprint(6 * 7)'
    text = _hazard(code, "42")
    assert parse_trace(text).tool_calls[0].code == code
    calls, _ = naive_parse(text)
    assert calls == [None]  # the regex stops at the tag inside the string; the JSON no longer decodes


def test_naive_parser_truncates_a_nested_boxed_answer() -> None:
    text = _hazard("print(1/2)", "\\frac{1}{2}")
    assert parse_trace(text).final_answer == "\\frac{1}{2}"
    assert naive_parse(text)[1] == "\\frac{1"
