"""The hostile and typical texts (retool.harness.bench.adversarial): sizes, hazards, realism."""

from __future__ import annotations

import json
import re

import pytest

from retool.harness.bench import adversarial as adv
from retool.text.grammar import (END_OF_TEXT, IM_END, IM_START, TOOL_CALL_CLOSE, TOOL_CALL_OPEN, TOOL_RESPONSE_CLOSE,
                                 TOOL_RESPONSE_OPEN, parse_trace)
from retool.train.metrics import parse_metrics_text


def _max_depth(text: str, opens: str, closes: str) -> int:
    depth = best = 0
    for ch in text:
        if ch in opens:
            depth += 1
            best = max(best, depth)
        elif ch in closes:
            depth -= 1
    return best


def _longest_run(text: str, char: str) -> int:
    return max((len(m.group()) for m in re.finditer(f"{re.escape(char)}+", text)), default=0)


def test_the_families_are_the_documented_eleven() -> None:
    assert adv.FAMILIES == ("nested_json", "unclosed_boxed", "call_openers", "closers", "tool_answer_line",
                            "special_tokens", "backslash_run", "space_run", "asterisk_run", "lone_surrogates",
                            "nested_box_braces")


@pytest.mark.parametrize("n_chars", [1024, 4096, 32_768, 65_536])
@pytest.mark.parametrize("family", adv.FAMILIES)
def test_every_family_gives_the_size_asked_within_five_percent(family: str, n_chars: int) -> None:
    assert abs(len(adv.hostile_text(family, n_chars)) - n_chars) <= 0.05 * n_chars


@pytest.mark.parametrize("family", adv.FAMILIES)
def test_every_family_is_deterministic(family: str) -> None:
    assert adv.hostile_text(family, 8192) == adv.hostile_text(family, 8192)


def test_an_unknown_family_is_a_value_error_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown hostile family 'huge'; choose from nested_json, unclosed_boxed"):
        adv.hostile_text("huge", 1000)


# -- each family carries its hazard through the whole text -------------------------------------------


N = 32_768


def test_nested_json_nests_thousands_deep_inside_tool_calls() -> None:
    text = adv.hostile_text("nested_json", N)
    assert text.startswith(TOOL_CALL_OPEN) and text.rstrip().endswith(TOOL_CALL_CLOSE)
    assert _max_depth(text, "[{", "]}") >= 5000
    assert _max_depth(adv.hostile_text("nested_json", N, depth=1000), "[{", "]}") <= 1003  # the cap is honoured
    assert text.count("[") == text.count("]") and text.count("{") == text.count("}")  # closed: valid JSON


def test_unclosed_boxed_repeats_the_opener_and_never_closes() -> None:
    text = adv.hostile_text("unclosed_boxed", N)
    assert text.count("\\boxed{") >= N // 8 and "}" not in text


def test_call_openers_repeat_a_call_without_any_closer() -> None:
    text = adv.hostile_text("call_openers", N)
    assert text.count(TOOL_CALL_OPEN) >= 300 and TOOL_CALL_CLOSE not in text


def test_closers_hold_only_closers() -> None:
    text = adv.hostile_text("closers", N)
    assert text.count(TOOL_CALL_CLOSE) >= 500 and text.count(TOOL_RESPONSE_CLOSE) >= 500
    assert TOOL_CALL_OPEN not in text and TOOL_RESPONSE_OPEN not in text


def test_tool_answer_line_is_one_answer_line_of_the_whole_size_inside_a_response() -> None:
    text = adv.hostile_text("tool_answer_line", N)
    trace = parse_trace(text)
    assert len(trace.tool_calls) == 1 and trace.tool_calls[0].ok
    inside = text[text.index(TOOL_RESPONSE_OPEN):text.index(TOOL_RESPONSE_CLOSE)]
    line = next(line for line in inside.splitlines() if line.startswith("answer: "))
    assert len(line) >= 0.95 * N
    assert text.endswith("\\boxed{42}.")


def test_special_tokens_repeat_every_special_token() -> None:
    text = adv.hostile_text("special_tokens", N)
    for token in (IM_START, IM_END, END_OF_TEXT, TOOL_CALL_OPEN, TOOL_CALL_CLOSE, TOOL_RESPONSE_OPEN,
                  TOOL_RESPONSE_CLOSE, "<think>", "</think>"):
        assert text.count(token) >= 200, token


@pytest.mark.parametrize(("family", "char"), [("backslash_run", "\\"), ("space_run", " "), ("asterisk_run", "*")])
def test_each_run_family_holds_two_runs_of_half_the_size(family: str, char: str) -> None:
    text = adv.hostile_text(family, N)
    assert _longest_run(text, char) >= 0.45 * N
    assert text.startswith("Final answer: ") and "\\boxed{" + char * 100 in text


def test_lone_surrogates_hold_surrogates_and_replacement_chars_in_prose_code_and_boxes() -> None:
    text = adv.hostile_text("lone_surrogates", N)
    assert len(re.findall("[\ud800-\udfff]", text)) >= 1000 and text.count("\ufffd") >= 500
    with pytest.raises(UnicodeEncodeError):
        text.encode("utf-8")
    trace = parse_trace(text)
    assert any(call.ok and "\udcff" in (call.code or "") for call in trace.tool_calls)


def test_nested_box_braces_nest_half_the_size_deep_inside_one_closed_box() -> None:
    text = adv.hostile_text("nested_box_braces", N)
    assert text.count("\\boxed{") == 1 and text.count("{") == text.count("}")
    assert _max_depth(text, "{", "}") >= 0.45 * N


# -- typical text ------------------------------------------------------------------------------------


def test_the_typical_episode_is_a_valid_multi_call_retool_response_of_the_size_asked() -> None:
    traj = adv.typical_trajectory(N)
    response = traj.response()
    assert abs(len(response) - N) <= 0.1 * N
    trace = parse_trace(response)
    assert trace.has_valid_format and not trace.errors, trace.errors
    assert 2 <= len(trace.tool_calls) <= 10 and all(c.ok for c in trace.tool_calls)
    assert trace.answer_source == "boxed" and trace.final_answer.isdigit()
    assert "".join(text for _, text in traj.turns()) == response
    assert adv.typical_trajectory(N, seed=1) != traj and adv.typical_trajectory(N) == traj


def test_the_typical_episode_is_eight_to_sixteen_thousand_qwen3_tokens() -> None:
    from retool.embedded.tokenizer import load_qwen3_tokenizer

    tokens = load_qwen3_tokenizer().encode(adv.typical_trajectory(N).response(), add_special_tokens=False)
    assert 8_000 <= len(tokens) <= 16_000


def test_the_sft_layout_converts_to_the_same_number_of_calls() -> None:
    from retool.data.sources import sft_record

    traj = adv.typical_trajectory(8192)
    row = {"messages": [{"role": "user", "content": "*user question:*\nq"}, {"role": "assistant", "content": traj.sft_text()}]}
    messages = sft_record(row)["messages"]
    assert sum(1 for m in messages if m.get("tool_calls")) == len(traj.steps)
    assert [m["content"] for m in messages if m["role"] == "tool"] == [o for _, _, o in traj.steps]


def test_to_sft_markup_moves_every_tag() -> None:
    text = f"a{TOOL_CALL_OPEN}b{TOOL_CALL_CLOSE}c{TOOL_RESPONSE_OPEN}d{TOOL_RESPONSE_CLOSE}"
    assert adv.to_sft_markup(text) == "a<code>b</code>c<interpreter>d</interpreter>"


# -- metrics JSONL -----------------------------------------------------------------------------------


def test_typical_metrics_are_trainer_rows_of_the_size_asked() -> None:
    text = adv.typical_metrics_text(N)
    rows = parse_metrics_text(text)
    assert abs(len(text) - N) <= 0.05 * N
    assert [r["step"] for r in rows] == list(range(len(rows))) and "reward/mean" in rows[0]


@pytest.mark.parametrize("family", [f for f in adv.FAMILIES if f != "nested_json"])
def test_hostile_metrics_carry_the_family_text_verbatim(family: str) -> None:
    rows = [json.loads(line) for line in adv.hostile_metrics_text(family, 8192).splitlines()]
    assert "".join(r["note"] for r in rows) == adv.hostile_text(family, 8192)


def test_hostile_metrics_for_nested_json_nest_raw_in_the_row() -> None:
    text = adv.hostile_metrics_text("nested_json", N)
    assert text.startswith('{"step": 0') and _max_depth(text, "[{", "]}") >= 5000
    assert abs(len(text) - N) <= 0.05 * N
