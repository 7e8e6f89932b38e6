"""retool.rollout.state: the set-once StatusCell and the Trajectory's token/mask/logprob invariants."""

from __future__ import annotations

from typing import Any

import pytest

from retool.rollout import RolloutConfig, render_prompt_ids
from retool.rollout.state import STATUSES, RolloutInvariantError, StatusCell, Trajectory
from retool.text.grammar import IM_END, format_tool_call, tool_turn_text

QUESTION = [{"role": "user", "content": "What is 6*7?"}]
CALL_42 = "I will compute it.\n" + format_tool_call("code_interpreter", {"code": "print(6*7)"})
ANSWER_42 = "The answer is \\boxed{42}." + IM_END


def ids(tok: Any, text: str) -> list[int]:
    return list(tok(text, add_special_tokens=False)["input_ids"])


@pytest.fixture(scope="module")
def prompt(tiny_tok: Any) -> list[int]:
    return render_prompt_ids(tiny_tok, QUESTION, RolloutConfig(n_samples_per_prompt=1))


def tool_trajectory(tok: Any, prompt: list[int], *, verify_masks: bool = True) -> Trajectory:
    """A well-formed trajectory: a model call, its tool turn, a model answer."""
    traj = Trajectory(prompt, tok, verify_masks=verify_masks)
    a = ids(tok, CALL_42)
    traj.add_model(a, [-0.5] * len(a))
    traj.add_tool(ids(tok, tool_turn_text(["42"])))
    c = ids(tok, ANSWER_42)
    traj.add_model(c, [-0.25] * len(c))
    return traj


# ------------------------------------------------------------------------------ StatusCell


def test_status_is_set_once() -> None:
    cell = StatusCell()
    cell.set("truncated", "budget")
    with pytest.raises(RolloutInvariantError, match="refusing to overwrite it with 'completed'"):
        cell.set("completed", "final answer")
    assert cell.value == "truncated"


def test_statuses_are_the_values_of_slimes_sample_status() -> None:
    assert set(STATUSES) == {"completed", "truncated", "aborted", "failed"}


@pytest.mark.parametrize("value", STATUSES)
def test_every_status_value_is_accepted_with_its_reason(value: str) -> None:
    cell = StatusCell()
    cell.set(value, "why")
    assert (cell.is_set, cell.value, cell.reason) == (True, value, "why")


def test_second_set_names_both_values() -> None:
    cell = StatusCell()
    cell.set("aborted", "server down")
    with pytest.raises(RolloutInvariantError) as info:
        cell.set("failed", "sandbox raised")
    assert "'aborted'" in str(info.value) and "'failed'" in str(info.value)


def test_setting_the_same_value_twice_is_refused_too() -> None:
    cell = StatusCell()
    cell.set("completed", "final answer")
    with pytest.raises(RolloutInvariantError):
        cell.set("completed", "final answer")


def test_unknown_status_is_a_value_error_and_leaves_the_cell_unset() -> None:
    cell = StatusCell()
    with pytest.raises(ValueError, match="'COMPLETED'"):
        cell.set("COMPLETED")
    assert not cell.is_set


def test_reading_an_unset_status_is_an_invariant_error() -> None:
    with pytest.raises(RolloutInvariantError, match="before it was set"):
        StatusCell().value


def test_invariant_error_is_an_assertion_error() -> None:
    assert issubclass(RolloutInvariantError, AssertionError)


# ------------------------------------------------------------------------------ Trajectory


def test_empty_prompt_is_refused(tiny_tok: Any) -> None:
    with pytest.raises(ValueError, match="empty"):
        Trajectory([], tiny_tok)


def test_model_ids_get_mask_one_and_their_logprobs(tiny_tok: Any, prompt: list[int]) -> None:
    traj = Trajectory(prompt, tiny_tok)
    traj.add_model([11, 12, 13], [-0.1, -0.2, -0.3])
    assert traj.response_ids == [11, 12, 13] and traj.loss_mask == [1, 1, 1] and traj.logprobs == [-0.1, -0.2, -0.3]
    assert traj.tool_tokens == 0


def test_tool_ids_get_mask_zero_and_logprob_zero(tiny_tok: Any, prompt: list[int]) -> None:
    traj = Trajectory(prompt, tiny_tok)
    traj.add_tool([21, 22])
    assert traj.response_ids == [21, 22] and traj.loss_mask == [0, 0] and traj.logprobs == [0.0, 0.0]
    assert traj.tool_tokens == 2


def test_tokens_are_the_prompt_then_the_response_never_retokenized(tiny_tok: Any, prompt: list[int]) -> None:
    traj = tool_trajectory(tiny_tok, prompt)
    a, b, c = ids(tiny_tok, CALL_42), ids(tiny_tok, tool_turn_text(["42"])), ids(tiny_tok, ANSWER_42)
    assert traj.tokens == prompt + a + b + c
    assert (traj.prompt_len, traj.response_length) == (len(prompt), len(a) + len(b) + len(c))


def test_model_turn_with_mismatched_logprobs_raises_and_appends_nothing(tiny_tok: Any, prompt: list[int]) -> None:
    traj = Trajectory(prompt, tiny_tok)
    with pytest.raises(RolloutInvariantError, match="3 ids but 2 logprobs"):
        traj.add_model([1, 2, 3], [-0.1, -0.2])
    assert traj.response_length == 0 and traj.loss_mask == [] and traj.logprobs == []


def test_check_accepts_a_well_formed_tool_trajectory(tiny_tok: Any, prompt: list[int]) -> None:
    tool_trajectory(tiny_tok, prompt).check("end")  # raises on any broken invariant


def test_check_names_where_and_the_lengths_when_the_mask_is_short(tiny_tok: Any, prompt: list[int]) -> None:
    traj = tool_trajectory(tiny_tok, prompt)
    traj.loss_mask.pop()
    with pytest.raises(RolloutInvariantError, match=r"turn 3: len\(loss_mask\)=\d+, len\(rollout_log_probs\)=\d+"):
        traj.check("turn 3")


def test_check_refuses_a_tool_token_with_a_nonzero_logprob(tiny_tok: Any, prompt: list[int]) -> None:
    traj = tool_trajectory(tiny_tok, prompt)
    first_tool = traj.loss_mask.index(0)
    traj.logprobs[first_tool] = -0.7
    with pytest.raises(RolloutInvariantError, match=f"tool token {first_tool} has logprob -0.7"):
        traj.check("tool turn 1")


def test_check_runs_verify_loss_mask_on_a_tool_turn_added_as_model_text(tiny_tok: Any, prompt: list[int]) -> None:
    traj = Trajectory(prompt, tiny_tok)
    a, b = ids(tiny_tok, CALL_42), ids(tiny_tok, tool_turn_text(["42"]))
    traj.add_model(a + b, [-0.5] * (len(a) + len(b)))
    with pytest.raises(RolloutInvariantError, match="verify_loss_mask failed"):
        traj.check("turn 1")


def test_check_skips_verify_loss_mask_when_disabled(tiny_tok: Any, prompt: list[int]) -> None:
    traj = Trajectory(prompt, tiny_tok, verify_masks=False)
    a, b = ids(tiny_tok, CALL_42), ids(tiny_tok, tool_turn_text(["42"]))
    traj.add_model(a + b, [-0.5] * (len(a) + len(b)))
    traj.check("turn 1")  # the length and logprob invariants hold; the mask's meaning is not checked
