"""DAPO / AIME rows -> RL prompts that ask for the boxed answer; labels and prompts checked; a response that
follows the prepared prompt earns the format bonus."""

from __future__ import annotations

import json

import pytest

from retool.data.files import sample_path
from retool.data.rl import (
    BOX_INSTRUCTION,
    BOX_REMINDER,
    DAPO_INSTRUCTION,
    DAPO_REMINDER,
    PREAMBLE,
    box_prompt,
    prepared_rl_record,
    rl_record,
)
from retool.data.rows import RowError
from retool.reward import score
from tests.unit.data.timing import LINEAR_RATIO_BOUND, doubling_ratio

DAPO_ROWS = [json.loads(line) for line in sample_path("dapo_sample.jsonl").read_text().splitlines()]
AIME_ROWS = [json.loads(line) for line in sample_path("aime_sample.jsonl").read_text().splitlines()]


def _dapo(problem: str) -> str:
    return f"{PREAMBLE} {DAPO_INSTRUCTION}\n\n{problem}\n\n{DAPO_REMINDER}"


def _boxed(problem: str) -> str:
    return f"{PREAMBLE} {BOX_INSTRUCTION}\n\n{problem}\n\n{BOX_REMINDER}"


# ---------------------------------------------------------------- the instruction


def test_the_instruction_asks_for_answer_then_a_box_on_the_last_line():
    assert BOX_INSTRUCTION == ("The last line of your response should be of the form Answer: \\boxed{$Answer} where "
                               "$Answer is the answer to the problem.")
    assert "\\boxed{}" in BOX_REMINDER and 'after "Answer:"' in BOX_REMINDER


def test_the_shipped_dapo_prompt_is_dapos_template():
    assert DAPO_ROWS[0]["prompt"][0]["content"] == _dapo("What is the greatest common divisor of $1071$ and $462$?")


def test_a_dapo_prompt_has_its_instruction_and_reminder_rewritten_to_the_box():
    rec = rl_record(DAPO_ROWS[0])
    assert rec["prompt"] == _boxed("What is the greatest common divisor of $1071$ and $462$?")
    assert rec["metadata"] == {"source": "dapo", "instruction": "rewritten"}


def test_an_aime_problem_gets_the_instruction_and_reminder_added():
    rec = rl_record({"Problem": "Find $x$.", "Answer": 3}, "aime")
    assert rec["prompt"] == _boxed("Find $x$.")
    assert rec["metadata"] == {"source": "aime", "instruction": "added"}


def test_every_shipped_prompt_asks_for_the_box_exactly_once_and_never_for_a_bare_answer():
    for row in DAPO_ROWS + AIME_ROWS:
        prompt = rl_record(row)["prompt"]
        assert prompt.count(BOX_INSTRUCTION) == 1 and prompt.count(BOX_REMINDER) == 1
        assert "$Answer (without quotes)" not in prompt and DAPO_REMINDER not in prompt


def test_preparing_a_prepared_record_adds_nothing():
    once = rl_record(DAPO_ROWS[1])
    twice = rl_record(once)
    assert twice["prompt"] == once["prompt"] and twice["metadata"]["instruction"] == "present"


def test_box_prompt_is_idempotent_for_each_kind_of_prompt():
    for prompt in (_dapo("P"), "P", f"P\n\n{DAPO_REMINDER}", f"{DAPO_INSTRUCTION} P", _boxed("P")):
        first, _ = box_prompt(prompt)
        assert box_prompt(first) == (first, "present")


def test_a_plain_prompt_ending_in_dapos_reminder_gets_one_reminder():
    prompt, how = box_prompt(f"P\n\n{DAPO_REMINDER}")
    assert how == "added" and prompt == _boxed("P")


def test_another_wording_is_kept_and_the_box_instruction_is_added():
    prompt, how = box_prompt("Answer with $Answer only. P")
    assert how == "added" and prompt.endswith(f"Answer with $Answer only. P\n\n{BOX_REMINDER}")


def test_a_response_that_follows_the_prepared_prompt_earns_the_format_bonus_and_the_answer():
    rec = rl_record(DAPO_ROWS[0])
    response = "The Euclidean algorithm: 1071 = 2*462 + 147, 462 = 3*147 + 21, 147 = 7*21.\n\nAnswer: \\boxed{21}"
    result = score(response, rec["label"])
    assert (result.correct, result.format_valid, result.r_ans, result.r_fmt) == (True, True, 1.0, 0.1)
    assert result.answer == "21"


def test_a_response_that_follows_dapos_own_instruction_gets_no_format_bonus():
    result = score("The Euclidean algorithm gives 21.\n\nAnswer: 21", "21")  # why the prompt is rewritten
    assert result.correct and not result.format_valid and result.r_fmt == 0.0


def test_box_prompt_is_linear_on_near_misses_of_the_instruction():
    near = DAPO_INSTRUCTION[:-1] + " "
    assert doubling_ratio(box_prompt, near * 4_000, near * 8_000) < LINEAR_RATIO_BOUND


# ---------------------------------------------------------------- fields and labels


def test_dapo_chat_prompt_with_reward_model_ground_truth():
    row = {"prompt": [{"role": "system", "content": "s"}, {"role": "user", "content": "Q?"}], "reward_model": {"ground_truth": "34"}}
    assert rl_record(row, "dapo") == {"prompt": _boxed("Q?"), "label": "34", "metadata": {"source": "dapo", "instruction": "added"}}


def test_dapo_string_prompt_with_label_field():
    rec = rl_record({"prompt": "Q?", "label": 12}, "auto")
    assert (rec["prompt"], rec["label"], rec["metadata"]["source"]) == (_boxed("Q?"), "12", "dapo")


@pytest.mark.parametrize(
    ("row", "label"),
    [({"Problem": "P", "Answer": 481}, "481"), ({"problem": "P", "answer": "033"}, "033"), ({"problem": "P", "answer": 7.0}, "7"),
     ({"problem": "P", "answer": " 12 "}, "12"), ({"problem": "P", "answer": 0.5}, "0.5"), ({"problem": "P", "answer": 1e300}, "1e+300"),
     ({"problem": "P", "answer": -3}, "-3")],
)
def test_aime_field_spellings_and_label_forms(row, label):
    rec = rl_record(row, "aime")
    assert rec["prompt"] == _boxed("P") and rec["label"] == label and rec["metadata"]["source"] == "aime"


def test_auto_detects_aime_rows_by_their_fields():
    assert rl_record({"Problem": "P", "Answer": 5})["metadata"]["source"] == "aime"


@pytest.mark.parametrize(
    ("row", "source", "field"),
    [
        ({"prompt": "Q"}, "dapo", "label | reward_model.ground_truth"),
        ({"prompt": [{"role": "assistant", "content": "x"}], "label": "1"}, "dapo", "prompt"),
        ({"prompt": "Q", "label": ""}, "dapo", "label"),
        ({"prompt": "Q", "label": "   "}, "dapo", "label"),
        ({"prompt": "Q", "label": True}, "dapo", "label"),
        ({"prompt": "Q", "label": ["1", "2"]}, "dapo", "label"),
        ({"prompt": "Q", "label": {"value": "1"}}, "dapo", "label"),
        ({"prompt": "Q", "reward_model": {"ground_truth": [1]}}, "dapo", "reward_model.ground_truth"),
        ({"prompt": "Q", "label": 10**5000}, "dapo", "label"),
        ({"prompt": "Q", "label": "1" * 2000}, "dapo", "label"),
        ({"prompt": "Q", "label": "1\x002"}, "dapo", "label"),
        ({"Problem": "P", "Answer": float("nan")}, "aime", "Answer"),
        ({"Problem": "P", "Answer": float("inf")}, "aime", "Answer"),
        ({"question": "P", "answer": 1}, "auto", "Problem | problem | prompt"),
        ({"Problem": "P"}, "dapo", "prompt"),
        ({"prompt": "  ", "label": "1"}, "dapo", "prompt"),
        ({"prompt": 42, "label": "1"}, "dapo", "prompt"),
        ({"prompt": {"role": "user", "content": "Q"}, "label": "1"}, "dapo", "prompt"),
        ({"prompt": "Q\x00", "label": "1"}, "dapo", "prompt"),
        ({"prompt": "Q\udc80", "label": "1"}, "dapo", "prompt"),
        ({"prompt": [{"role": "user", "content": "Q\x00"}], "label": "1"}, "dapo", "prompt[0].content"),
    ],
)
def test_malformed_rl_rows_name_the_field(row, source, field):
    with pytest.raises(RowError) as info:
        rl_record(row, source)
    assert info.value.field == field


@pytest.mark.parametrize("row", [None, [], "text", 3, True])
def test_a_row_that_is_not_an_object_is_a_row_error(row):
    with pytest.raises(RowError, match="expected a JSON object") as info:
        rl_record(row)
    assert info.value.field == "<row>"


def test_a_row_with_odd_keys_is_described_without_failing():
    with pytest.raises(RowError, match="no prompt field"):
        rl_record({1: "a", None: "b", "x" * 10_000: "c"})


def test_an_unknown_source_is_a_value_error():
    with pytest.raises(ValueError, match="source must be"):
        rl_record({"prompt": "Q", "label": "1"}, "gsm8k")


# ---------------------------------------------------------------- prepared records


def test_a_prepared_record_is_kept_as_it_is():
    rec = {**rl_record(AIME_ROWS[0]), "extra": 1}
    rec["metadata"] |= {"file": "a.jsonl", "row": 1}
    assert prepared_rl_record(rec) == rec


def test_a_record_prepared_before_the_instruction_gets_it():
    old = {"prompt": "Find x.", "label": "3", "metadata": {"source": "aime", "file": "a.jsonl", "row": 2}}
    new = prepared_rl_record(old)
    assert new["prompt"] == _boxed("Find x.") and new["metadata"] == {**old["metadata"], "instruction": "added"}


@pytest.mark.parametrize("row", [DAPO_ROWS[0], AIME_ROWS[0], {"prompt": "Q", "label": "1"}, [], None,
                                 {"prompt": "Q", "label": 1, "metadata": {"source": "dapo"}}])
def test_a_row_that_is_not_a_prepared_record_gives_none(row):
    assert prepared_rl_record(row) is None


def test_a_prepared_record_with_a_bad_prompt_is_a_row_error():
    with pytest.raises(RowError) as info:
        prepared_rl_record({"prompt": "Q\x00", "label": "1", "metadata": {"source": "dapo"}})
    assert info.value.field == "prompt"


def test_the_readme_states_the_instruction_and_reminder_the_data_prep_writes():
    from pathlib import Path

    readme = " ".join((Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8").split())
    assert BOX_INSTRUCTION in readme and BOX_REMINDER in readme
