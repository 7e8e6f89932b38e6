"""ReTool-SFT rows -> tool-calling chats: conversion, the inverse, named errors, totality and linear time."""

from __future__ import annotations

import json

import pytest

from retool.data.files import sample_path
from retool.data.rows import RowError
from retool.data.sft import inline_assistant_text, sft_record, split_trajectory
from retool.text.grammar import parse_trace
from tests.unit.data.timing import LINEAR_RATIO_BOUND, doubling_ratio, swallow

SFT_SAMPLE = sample_path("retool_sft_sample.jsonl")
FIELD = "messages[assistant].content"


def _sample_rows() -> list[dict]:
    return [json.loads(line) for line in SFT_SAMPLE.read_text().splitlines()]


def _row(assistant: str, user: str = "Instruction.\n\n*user question:*\nWhat is 2+3?") -> dict:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


GOOD = "Add them.\n\n<code>\n```python\nprint(2 + 3)\n```\n</code>\n<interpreter>\n5\n</interpreter>\n\nSo 5.\n\n<answer>\n\\boxed{5}\n</answer>"


def _trajectory(blocks: int) -> str:
    step = "Step.\n\n<code>\n```python\nprint(1)\n```\n</code>\n<interpreter>\n1\n</interpreter>\n\n"
    return step * blocks + "Done \\boxed{1}"


# ---------------------------------------------------------------- conversion


def test_sft_row_becomes_tool_call_turns_and_tool_messages():
    rec = sft_record(_row(GOOD))
    msgs = rec["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "assistant"]
    assert msgs[0]["content"] == "What is 2+3?"
    call = msgs[1]["tool_calls"][0]
    assert call == {"type": "function", "function": {"name": "code_interpreter", "arguments": {"code": "print(2 + 3)"}}}
    assert msgs[1]["content"] == "Add them."
    assert msgs[2]["content"] == "5"
    assert msgs[3]["content"] == "So 5.\n\n<answer>\n\\boxed{5}\n</answer>"
    assert rec["tools"][0]["function"]["name"] == "code_interpreter"


def test_every_shipped_sft_sample_round_trips_byte_for_byte():
    rows = _sample_rows()
    assert 8 <= len(rows) <= 12
    for row in rows:
        rec = sft_record(row)
        assert rec["metadata"]["original"] == row["messages"]
        assert inline_assistant_text(rec["messages"][1:]) == row["messages"][1]["content"]


def test_shipped_samples_use_code_several_times_and_end_in_a_box():
    recs = [sft_record(r) for r in _sample_rows()]
    calls = [sum(1 for m in r["messages"] if m.get("tool_calls")) for r in recs]
    assert sum(calls) >= len(recs) + 3 and max(calls) >= 2
    for rec in recs:
        final = rec["messages"][-1]["content"]
        assert parse_trace(final).final_answer is not None


def test_non_canonical_whitespace_converts_to_a_fixed_point():
    messy = "  Think.   <code>```python\nx = 1\nprint(x)```</code>   <interpreter>1\n\n</interpreter>Done \\boxed{1}  "
    first = sft_record(_row(messy))
    again = sft_record(_row(inline_assistant_text(first["messages"][1:])))
    assert again["messages"] == first["messages"]
    assert first["messages"][1]["tool_calls"][0]["function"]["arguments"]["code"] == "x = 1\nprint(x)"


def test_user_turn_without_marker_is_kept_whole_and_system_turn_is_kept():
    row = _row(GOOD, user="Plain problem text")
    row["messages"].insert(0, {"role": "system", "content": "Be brief."})
    msgs = sft_record(row)["messages"]
    assert msgs[0] == {"role": "system", "content": "Be brief."}
    assert msgs[1] == {"role": "user", "content": "Plain problem text"}


def test_tags_inside_a_block_are_its_text():
    text = '<code>print("<interpreter>x</interpreter> <code>")</code><interpreter><code>\n</interpreter>ok \\boxed{1}'
    msgs = split_trajectory(text)
    assert msgs[0]["tool_calls"][0]["function"]["arguments"]["code"] == 'print("<interpreter>x</interpreter> <code>")'
    assert msgs[1] == {"role": "tool", "content": "<code>"}


@pytest.mark.parametrize(
    ("assistant", "reason"),
    [
        ("<code>\n```python\nprint(1)\n```\n</code>\n\\boxed{1}", "no <interpreter> output"),
        ("<interpreter>\n1\n</interpreter>\n\\boxed{1}", "no <code> block before it"),
        ("<code>print(1)</code><code>print(2)</code><interpreter>2</interpreter>\\boxed{2}", "no <interpreter> output"),
        ("<code>print(1)\n\\boxed{1}", "unbalanced .* <code> is never closed"),
        ("x </code> \\boxed{1}", "unbalanced .* </code> closes no block"),
        ("<code>```python\n```</code><interpreter></interpreter>\\boxed{0}", "empty <code>"),
        ("<code>print(1)</code>lost text<interpreter>1</interpreter>\\boxed{1}", "would be lost"),
        (GOOD.replace("\\boxed{5}", "5"), "no closed \\\\boxed"),
        ("<code>print(1)</code><interpreter>1</interpreter>", "no final answer"),
        ("\\boxed{1}\x00", "NUL character"),
        (12, "expected a string"),
    ],
)
def test_malformed_trajectories_raise_with_the_reason(assistant, reason):
    with pytest.raises(RowError, match=reason) as info:
        split_trajectory(assistant)
    assert info.value.field == FIELD


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"conversations": []}, "messages"),
        ({"messages": [{"role": "user", "content": "q"}]}, "messages"),
        ({"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": GOOD}]}, "messages[0]"),
        ({"messages": [{"role": "user", "content": "x *user question:* "}, {"role": "assistant", "content": GOOD}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": "q\ud800"}, {"role": "assistant", "content": GOOD}]}, "messages[0].content"),
        ({"messages": "not a list"}, "messages"),
        ({"messages": [["user", "q"], ["assistant", GOOD]]}, "messages[0]"),
        ({"messages": [{"role": "user", "content": "q"}] * 1000}, "messages"),
    ],
)
def test_malformed_sft_rows_name_the_field(row, field):
    with pytest.raises(RowError) as info:
        sft_record(row)
    assert info.value.field == field


@pytest.mark.parametrize("row", [None, [], "text", 3, True, 1.5])
def test_a_row_that_is_not_an_object_is_a_row_error(row):
    with pytest.raises(RowError, match="expected a non-empty list of chat messages"):
        sft_record(row)


def test_a_long_role_list_is_shown_shortened_in_the_error():
    row = {"messages": [{"role": "x" * 1000, "content": "q"}] * 1000}
    with pytest.raises(RowError) as info:
        sft_record(row)
    assert len(info.value.reason) < 300


# ---------------------------------------------------------------- the inverse


def _call(code, name="code_interpreter"):
    return {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": name, "arguments": code}}]}


def test_inline_reads_arguments_given_as_json_text():
    assert inline_assistant_text([_call('{"code": "print(1)"}'), {"role": "tool", "content": "1"}]) == \
        inline_assistant_text([_call({"code": "print(1)"}), {"role": "tool", "content": "1"}])


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ("text", "messages"),
        ([3], "messages[0]"),
        ([{"role": "user", "content": "q"}], "messages[0].role"),
        ([{"role": "assistant", "content": 5}], "messages[0].content"),
        ([_call({"code": "a"}) | {"tool_calls": [{}, {}]}], "messages[0].tool_calls"),
        ([_call({"code": "a"}, name="search")], "messages[0].tool_calls[0].function"),
        ([_call({"cmd": "a"})], "messages[0].tool_calls[0].function.arguments.code"),
        ([_call("[" * 5000)], "messages[0].tool_calls[0].function.arguments"),
        ([_call({"code": 7})], "messages[0].tool_calls[0].function.arguments.code"),
    ],
)
def test_inline_refuses_what_it_cannot_write_naming_the_field(messages, field):
    with pytest.raises(RowError) as info:
        inline_assistant_text(messages)
    assert info.value.field == field


# ---------------------------------------------------------------- fences


def test_a_fenced_block_of_hostile_whitespace_converts_in_linear_time():
    def block(n: int) -> str:
        return "<code>```\n" + " \t" * n + "x\n```</code><interpreter>1</interpreter>\\boxed{1}"

    assert split_trajectory(block(3))[0]["tool_calls"][0]["function"]["arguments"]["code"] == " \t" * 3 + "x"
    assert doubling_ratio(split_trajectory, block(100_000), block(200_000)) < LINEAR_RATIO_BOUND


# ---------------------------------------------------------------- linear time


def test_a_64k_trajectory_with_thousands_of_code_blocks_converts():
    text = _trajectory(1_000)
    assert len(text) > 64_000
    msgs = split_trajectory(text)
    assert sum(1 for m in msgs if m.get("tool_calls")) == 1_000


def test_sft_record_is_linear_in_the_number_of_code_blocks():
    assert doubling_ratio(lambda t: sft_record(_row(t)), _trajectory(1_500), _trajectory(3_000)) < LINEAR_RATIO_BOUND


def test_unclosed_code_openers_fail_in_linear_time():
    split = swallow(split_trajectory, RowError)
    assert doubling_ratio(split, "<code>" * 80_000, "<code>" * 160_000) < LINEAR_RATIO_BOUND


def test_openers_each_closed_later_by_one_closer_fail_in_linear_time():
    split = swallow(split_trajectory, RowError)
    small, large = "<code>" * 80_000 + "</code>", "<code>" * 160_000 + "</code>"
    assert doubling_ratio(split, small, large) < LINEAR_RATIO_BOUND
