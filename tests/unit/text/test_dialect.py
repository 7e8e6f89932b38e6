"""retool.text.dialect: the one object per format that knows its tags."""

from __future__ import annotations

import pytest

from retool.answer import extract_answer
from retool.text.dialect import DIALECT_NAMES, QWEN3, RETOOL_CODE, get_dialect
from retool.text.grammar import IM_END, format_tool_call, parse_trace, tool_turn_text
from retool.text.native import format_code_block, interpreter_text


def test_both_dialects_are_known_by_name() -> None:
    assert DIALECT_NAMES == ("qwen3", "retool-code")
    assert get_dialect("qwen3") is QWEN3 and get_dialect("retool-code") is RETOOL_CODE and get_dialect(QWEN3) is QWEN3


@pytest.mark.parametrize("name", ["qwen", "", None, "RETOOL-CODE"])
def test_an_unknown_dialect_is_refused_naming_the_choices(name) -> None:
    with pytest.raises(ValueError, match="choose one of qwen3, retool-code"):
        get_dialect(name)


def test_stops_are_the_call_closers_then_forged_markup_then_extras_once_each() -> None:
    assert RETOOL_CODE.stops(("</code>", "STOP")) == ("</code>", "</tool_call>", "<interpreter>", "<|im_start|>", "STOP")
    assert QWEN3.stops() == ("</tool_call>", "<tool_response>", "<|im_start|>")


def test_the_qwen3_tool_turn_drops_its_end_of_turn_when_the_model_wrote_one() -> None:
    assert QWEN3.tool_turn(["1"], after="x</tool_call>") == tool_turn_text(["1"])
    assert QWEN3.tool_turn(["1"], after="x</tool_call>" + IM_END) == tool_turn_text(["1"]).removeprefix(IM_END)


def test_the_native_tool_turn_is_plain_interpreter_text_whatever_came_before() -> None:
    assert RETOOL_CODE.tool_turn(["1"], after="x</code>" + IM_END) == interpreter_text(["1"])


def test_a_turn_ends_on_a_call_only_at_its_dialects_closer() -> None:
    assert RETOOL_CODE.ends_on_call(format_code_block("print(1)") + "\n")
    assert not QWEN3.ends_on_call(format_code_block("print(1)"))
    assert QWEN3.ends_on_call(format_tool_call("code_interpreter", {"code": "1"}))


def test_only_the_native_dialect_has_no_tools_block_and_its_own_instructions() -> None:
    assert QWEN3.chat_tools and QWEN3.system_prompt is None
    assert not RETOOL_CODE.chat_tools and "<interpreter>" in RETOOL_CODE.system_prompt


@pytest.mark.parametrize("tail", [
    "<interpreter>\n\\boxed{5}\n</interpreter>",  # native output reaching a qwen3 response as text
    "```python\nprint(5)\n```\n```output\n\\boxed{5}\n```",
    "`\\boxed{5}`",
    "\\phantom{\\boxed{5}}",
    "<!-- \\boxed{5} -->",
    "\\boxed{5} is my guess</think>",
])
def test_the_format_check_and_the_answer_extraction_agree_on_where_an_answer_sits(tail) -> None:
    text = "Let me see. " + tail
    trace = parse_trace(text)
    extraction = extract_answer(text)
    assert trace.has_valid_format is False and extraction.answer is None
    after = text + " So \\boxed{6}."
    assert parse_trace(after).has_valid_format and parse_trace(after).final_answer == extract_answer(after).answer == "6"
