"""The reward: exact breakdowns, every hack category without answer credit, the slime entry point."""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass, field
from typing import Any

import pytest

from retool.text.grammar import format_tool_call, tool_turn_text
from retool.reward import RewardBreakdown, RewardConfig, is_aborted, reward_func, score

FULL = 1.0 + 0.1 + 0.05


def turn(code: str, output: str) -> str:
    return format_tool_call("code_interpreter", {"code": code}) + tool_turn_text([output])


GOOD = "Let me compute.\n" + turn("print(6*7)", "42") + "So the answer is \\boxed{42}."


def expected(**kw: Any) -> RewardBreakdown:
    base = dict(r_ans=0.0, r_fmt=0.0, r_use=0.0, total=0.0, answer=None, correct=False, format_valid=False,
                num_tool_calls=0, reason="")
    base.update(kw)
    return RewardBreakdown(**base)


def test_correct_answer_with_tool_and_format_scores_full() -> None:
    assert score(GOOD, "42") == expected(r_ans=1.0, r_fmt=0.1, r_use=0.05, total=FULL, answer="42", correct=True,
                                         format_valid=True, num_tool_calls=1, reason="last box; fast: equal integers")


def test_correct_answer_in_another_spelling_scores_full() -> None:
    got = score(GOOD.replace("\\boxed{42}", "\\boxed{42.0}"), "42")
    assert (got.r_ans, got.total, got.correct, got.reason) == (1.0, FULL, True, "last box; fast: equal")


def test_wrong_answer_keeps_format_and_tool_terms() -> None:
    assert score(GOOD, "41") == expected(r_fmt=0.1, r_use=0.05, total=0.1 + 0.05, answer="42", format_valid=True,
                                         num_tool_calls=1, reason="last box; fast: different integers")


def test_no_tool_call_gets_no_tool_bonus() -> None:
    assert score("Easy: \\boxed{4}", "4") == expected(r_ans=1.0, r_fmt=0.1, total=1.0 + 0.1, answer="4", correct=True,
                                                      format_valid=True, reason="last box; fast: equal integers")


def test_label_none_gets_no_answer_credit() -> None:
    got = score(GOOD, None)
    assert (got.r_ans, got.correct, got.reason, got.total) == (0.0, False, "no label", 0.1 + 0.05)


def test_integer_label_is_compared_as_text() -> None:
    assert score(GOOD, 42).correct


def test_weights_come_from_the_config() -> None:
    config = RewardConfig(answer_weight=2.0, format_weight=0.5, tool_weight=0.25)
    got = score(GOOD, "42", config)
    assert (got.r_ans, got.r_fmt, got.r_use, got.total) == (2.0, 0.5, 0.25, 2.75)


def test_tool_bonus_requires_correct_option_withholds_bonus_on_wrong_answer() -> None:
    config = RewardConfig(tool_bonus_requires_correct=True)
    assert score(GOOD, "41", config).r_use == 0.0
    assert score(GOOD, "42", config).r_use == 0.05


def test_malformed_tool_call_does_not_earn_tool_bonus() -> None:
    text = "<tool_call>\n{not json}\n</tool_call>" + tool_turn_text(["err"]) + "\\boxed{4}"
    got = score(text, "4")
    assert (got.r_use, got.num_tool_calls, got.r_fmt, got.r_ans) == (0.0, 0, 0.0, 1.0)


# --- every hack category scores no answer credit -------------------------------------------------

HACKS = {
    "box_in_tool_output": "Compute.\n" + turn("print('\\\\boxed{42}')", "\\boxed{42}") + "Done.",
    "box_in_code_string": "Compute.\n" + turn("s = '\\\\boxed{42}'", "") + "Done.",
    "multiple_boxes": "\\boxed{42} or \\boxed{41}",
    "chained_list": "\\boxed{40}, \\boxed{41}, \\boxed{42}",
    "hedge": "I'm not sure, but I think \\boxed{42}",
    "hedge_between_boxes": "\\boxed{41} or maybe \\boxed{42}",
    "empty_box": "\\boxed{}",
    "unclosed_box": "The answer is \\boxed{42",
    "huge_output": "\\boxed{" + ", ".join(str(i) for i in range(2000)) + "}",
    "huge_response": "1" * 1_100_000 + " \\boxed{42}",
    "prose_before_tool_call": "The answer is 42, \\boxed{42}.\n" + format_tool_call("code_interpreter", {"code": "print(42)"}),
    "prose_answer_before_tool_then_silence": "Answer: 42\n" + turn("print(42)", "42") + "Let me think more.",
    "answer_line_in_tool_output": "Compute.\n" + turn("print('Answer: 42')", "Answer: 42"),
}


@pytest.mark.parametrize("response", HACKS.values(), ids=HACKS.keys())
def test_hack_gets_no_answer_credit(response: str) -> None:
    got = score(response, "42")
    assert got.r_ans == 0.0 and not got.correct


NO_ANSWER_TEXT = "no answer: no \\boxed{} and no 'Answer:' line in the final text"
# name -> (r_fmt, r_use, answer, format_valid, num_tool_calls, reason); r_ans is 0.0 for every hack
HACK_BREAKDOWNS = {
    "box_in_tool_output": (0.0, 0.05, None, False, 1, NO_ANSWER_TEXT),
    "box_in_code_string": (0.0, 0.05, None, False, 1, NO_ANSWER_TEXT),
    "multiple_boxes": (0.1, 0.0, "42, 41", True, 0, "2 chained boxes form one multi-valued answer; fast: not equal"),
    "chained_list": (0.1, 0.0, "40, 41, 42", True, 0, "3 chained boxes form one multi-valued answer; fast: not equal"),
    "hedge": (0.0, 0.0, None, False, 0, "no answer: hedged answer ('not sure' near the box)"),
    "hedge_between_boxes": (0.0, 0.0, None, False, 0, "no answer: hedged answer ('maybe' between boxes in one sentence)"),
    "empty_box": (0.0, 0.0, None, False, 0, "no answer: empty box"),
    "unclosed_box": (0.0, 0.0, None, False, 0, "no answer: the last box is not closed (truncated answer)"),
    "huge_output": (0.0, 0.0, None, False, 0, "no answer: answer of 10888 characters exceeds max_answer_chars=1000"),
    "huge_response": (0.0, 0.0, None, False, 0, "response of 1100011 characters exceeds max_response_chars"),
    "prose_before_tool_call": (0.0, 0.05, None, False, 1,
                               "no answer: a tool call follows the last tool response (no final answer turn)"),
    "prose_answer_before_tool_then_silence": (0.0, 0.05, None, False, 1, NO_ANSWER_TEXT),
    "answer_line_in_tool_output": (0.0, 0.05, None, False, 1, NO_ANSWER_TEXT),
}


@pytest.mark.parametrize("name", HACK_BREAKDOWNS)
def test_hack_breakdown_is_exact(name: str) -> None:
    r_fmt, r_use, answer, format_valid, calls, reason = HACK_BREAKDOWNS[name]
    assert score(HACKS[name], "42") == expected(r_fmt=r_fmt, r_use=r_use, total=r_fmt + r_use, answer=answer,
                                                format_valid=format_valid, num_tool_calls=calls, reason=reason)


def test_every_hack_has_an_exact_breakdown() -> None:
    assert set(HACK_BREAKDOWNS) == set(HACKS)


@pytest.mark.parametrize("printed", ["answer: " + "x" * 100_000, ("Answer: " + " " * 1000 + "y\n") * 200,
                                     "\\boxed{" * 5000, "<tool_call>" * 3000, "[" * 20_000])
def test_hostile_tool_output_does_not_change_a_correct_boxed_answer(printed: str) -> None:
    response = "Let me compute.\n" + turn("print(big)", printed) + "So the answer is \\boxed{42}."
    assert score(response, "42") == score(GOOD, "42")


def test_long_answer_line_after_the_box_leaves_the_box_the_answer() -> None:
    got = score("\\boxed{42}\nAnswer: 42" + " " * 100_000 + "!", "42")
    assert (got.r_ans, got.r_fmt, got.answer) == (1.0, 0.1, "42")


def test_final_answer_line_scores_the_answer_but_not_the_format_bonus() -> None:
    got = score("Compute.\n" + turn("print(42)", "42") + "Final answer: 42", "42")
    assert (got.r_ans, got.r_fmt, got.r_use, got.answer) == (1.0, 0.0, 0.05, "42")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("unit", ["\\boxed{", "<tool_call>\n{\"a\": [", "}", "<|im_end|>", "<tool_response>x",
                                  "Answer: " + "*" * 50 + "\n"])
def test_score_of_a_64k_hostile_response_is_total(unit: str) -> None:
    response = unit * (65_536 // len(unit))
    got = score(response, "42")
    assert got.total == got.r_ans + got.r_fmt + got.r_use and not got.correct


# --- the miles/slime entry point -------------------------------------------------------------------

class Status(enum.Enum):
    COMPLETED = "completed"
    TRUNCATED = "truncated"
    ABORTED = "aborted"


@dataclass
class FakeSample:
    response: str
    label: Any
    status: Any = Status.COMPLETED
    metadata: dict[str, Any] = field(default_factory=dict)


@pytest.mark.asyncio
async def test_reward_func_returns_total_and_logs_breakdown() -> None:
    sample = FakeSample(GOOD, "42")
    assert await reward_func(None, sample) == FULL
    assert sample.metadata["reward_breakdown"]["correct"] is True


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [Status.ABORTED, "aborted", "ABORTED", "Status.ABORTED"])
async def test_aborted_sample_gets_no_reward(status: Any) -> None:
    sample = FakeSample(GOOD, "42", status=status)
    assert await reward_func(None, sample) == 0.0
    assert sample.metadata["reward_breakdown"]["reason"] == "aborted sample: no reward"


@pytest.mark.asyncio
async def test_group_reward_returns_one_reward_per_sample_in_order() -> None:
    samples = [FakeSample(GOOD, "42"), FakeSample(GOOD, "41"), FakeSample(GOOD, "42", status=Status.ABORTED)]
    assert await reward_func(None, samples) == [FULL, 0.1 + 0.05, 0.0]


def test_is_aborted_is_false_for_other_statuses() -> None:
    assert not any(is_aborted(FakeSample(GOOD, "42", status=s)) for s in (Status.COMPLETED, Status.TRUNCATED, None))


@pytest.mark.asyncio
async def test_reward_func_label_none_scores_format_and_tool_only() -> None:
    assert await reward_func(None, FakeSample(GOOD, None)) == 0.1 + 0.05


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text for this label")


@pytest.mark.asyncio
async def test_group_reward_survives_a_sample_whose_scoring_fails() -> None:
    bad = FakeSample(GOOD, Unprintable())
    got = await reward_func(None, [FakeSample(GOOD, "42"), bad, FakeSample(GOOD, "41")])
    assert got == [FULL, 0.0, 0.1 + 0.05]
    assert bad.metadata["reward_breakdown"]["reason"] == "scoring failed: RuntimeError: no text for this label"


@pytest.mark.asyncio
async def test_reward_func_takes_config_from_kwargs() -> None:
    got = await reward_func(None, FakeSample(GOOD, "42"), reward_config=RewardConfig(format_weight=0.0))
    assert got == 1.0 + 0.05


@pytest.mark.asyncio
async def test_event_loop_keeps_running_while_symbolic_scoring_runs() -> None:
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    # a trigonometric identity: sympy's work (tens to hundreds of ms), never the fast path's
    sample = FakeSample("\\boxed{\\frac{\\sin 2x}{2\\cos x}}", "\\sin x")
    start = loop_time = asyncio.get_running_loop().time()
    got = await reward_func(None, sample)
    loop_time = asyncio.get_running_loop().time() - start
    done.set()
    await task
    assert got == 1.0 + 0.1 and sample.metadata["reward_breakdown"]["reason"].endswith("symbolic: equal")
    assert ticks >= max(2, int(loop_time / 0.005 / 10))  # the loop ticked throughout the symbolic check


def test_score_is_pure() -> None:
    config = RewardConfig()
    assert score(GOOD, "42", config) == score(GOOD, "42", config)
    assert config == RewardConfig()


# --- the reward shape miles/slime select with --reward-key (issue 13 point 5) -----------------------
# miles/slime Sample.get_reward_value: ``reward if not args.reward_key else reward[args.reward_key]``; eval reads
# ``eval_reward_key or reward_key``; pass@k and the zero-std metrics count ``reward == 1``
# (miles/utils/metric_utils.py, miles/ray/rollout.py).

from types import SimpleNamespace  # noqa: E402

import retool.reward as reward_module  # noqa: E402

MILES_ARGS = SimpleNamespace(reward_key="score", eval_reward_key="acc", group_rm=False)


@pytest.mark.asyncio
async def test_with_reward_key_score_the_reward_is_a_dict_miles_can_index() -> None:
    reward = await reward_func(MILES_ARGS, FakeSample(GOOD, "42"))
    assert reward[MILES_ARGS.reward_key] == pytest.approx(FULL) and reward[MILES_ARGS.eval_reward_key] == 1.0


@pytest.mark.asyncio
async def test_the_dict_holds_the_documented_keys() -> None:
    reward = await reward_func(MILES_ARGS, FakeSample(GOOD, "41"))
    assert tuple(reward) == reward_module.REWARD_KEYS
    assert reward == {"score": pytest.approx(0.15), "acc": 0.0, "format": 1.0, "tool_use": 1.0, "num_tool_calls": 1,
                      "pred": "42"}


@pytest.mark.asyncio
async def test_acc_is_exactly_one_for_a_correct_answer_so_pass_at_k_counts_it() -> None:
    rewards = [r["acc"] for r in await reward_func(MILES_ARGS, [FakeSample(GOOD, "42"), FakeSample(GOOD, "41")])]
    assert sum(r == 1 for r in rewards) == 1


@pytest.mark.asyncio
async def test_without_reward_key_the_reward_stays_the_float_total() -> None:
    assert await reward_func(SimpleNamespace(reward_key=None), FakeSample(GOOD, "42")) == FULL


@pytest.mark.asyncio
async def test_group_rm_does_not_score_an_aborted_sample() -> None:
    samples = [FakeSample(GOOD, "42", status=Status.ABORTED), FakeSample(GOOD, "42")]
    rewards = await reward_func(SimpleNamespace(reward_key="score", group_rm=True), samples)
    assert rewards[0] == {"score": 0.0, "acc": 0.0, "format": 0.0, "tool_use": 0.0, "num_tool_calls": 0, "pred": ""}
    assert samples[0].metadata["reward_breakdown"]["reason"] == "aborted sample: no reward"
    assert rewards[1]["acc"] == 1.0


@pytest.mark.asyncio
async def test_a_reward_key_we_do_not_have_is_refused_naming_ours() -> None:
    with pytest.raises(ValueError, match="'accuracy'.*score"):
        await reward_func(SimpleNamespace(reward_key="accuracy"), FakeSample(GOOD, "42"))


def test_the_aborted_reward_follows_the_launch_shape() -> None:
    assert reward_module.aborted_reward(None) == 0.0 and reward_module.aborted_reward(MILES_ARGS)["score"] == 0.0


def test_reward_dict_of_a_breakdown_is_pure() -> None:
    b = score(GOOD, "42")
    assert reward_module.reward_dict(b) == reward_module.reward_dict(b) and reward_module.reward_dict(b)["pred"] == b.answer
