"""The demo's task family: seeded problems, held-out prompts kept apart, SFT traces in the recipe's grammar."""

from __future__ import annotations

import subprocess
import sys

import pytest

from retool.data.tasks import (
    PROGRAMS,
    TaskFamily,
    is_heldout,
    make_problems,
    noisy_copy,
    program,
    program_output,
    rl_prompt,
    sft_trace,
)
from retool.reward import score
from retool.text.masking import encode_sft, verify_loss_mask

FAMILY = TaskFamily()


def test_heldout_and_train_problems_never_share_a_prompt_across_seeds() -> None:
    train = {p.prompt for seed in range(3) for p in make_problems(FAMILY, "train", 300, seed)}
    heldout = {p.prompt for seed in range(3) for p in make_problems(FAMILY, "heldout", 100, seed)}
    assert train and heldout and not train & heldout


def test_split_follows_the_prompt_hash() -> None:
    assert all(is_heldout(p.prompt, FAMILY.heldout_share) for p in make_problems(FAMILY, "heldout", 50, 0))
    assert not any(is_heldout(p.prompt, FAMILY.heldout_share) for p in make_problems(FAMILY, "train", 50, 0))


def test_problems_are_fixed_by_the_seed() -> None:
    assert make_problems(FAMILY, "train", 20, 4) == make_problems(FAMILY, "train", 20, 4)
    assert make_problems(FAMILY, "train", 20, 4) != make_problems(FAMILY, "train", 20, 5)


def test_problems_are_distinct() -> None:
    problems = make_problems(FAMILY, "train", 500, 0)
    assert len({(p.a, p.b) for p in problems}) == 500


def test_product_has_every_digit_of_its_family() -> None:
    family = TaskFamily(a_digits=5, b_digits=2)
    assert {len(p.answer) for p in make_problems(family, "train", 100, 0)} == {7}
    assert all(len(str(p.a)) == 5 and len(str(p.b)) == 2 for p in make_problems(family, "train", 100, 0))


def test_too_many_problems_for_the_split_raise_naming_n() -> None:
    with pytest.raises(ValueError, match="n=5000"):
        make_problems(TaskFamily(a_digits=2, b_digits=1), "heldout", 5000, 0)


def test_rl_prompt_labels_the_exact_product() -> None:
    (problem,) = make_problems(FAMILY, "train", 1, 0)
    assert rl_prompt(problem) == {"prompt": f"Compute {problem.a} * {problem.b}.", "label": str(problem.a * problem.b)}


def test_noisy_copy_changes_exactly_one_digit() -> None:
    for seed in range(50):
        noisy = noisy_copy("4517277", seed)
        assert len(noisy) == 7 and sum(x != y for x, y in zip(noisy, "4517277")) == 1


def _response(tok, record):
    enc = encode_sft(tok, record["messages"])
    assert verify_loss_mask(enc.ids, enc.loss_mask, tok, enc.prompt_len).ok
    return tok.decode(list(enc.ids[enc.prompt_len:]), skip_special_tokens=False)


def test_sft_trace_calls_the_tool_and_scores_full_reward(tiny_tok) -> None:
    (problem,) = make_problems(FAMILY, "train", 1, 0)
    breakdown = score(_response(tiny_tok, sft_trace(problem)), problem.answer)
    assert (breakdown.correct, breakdown.format_valid, breakdown.num_tool_calls) == (True, True, 1)


def test_noisy_trace_keeps_the_true_tool_output_and_boxes_a_wrong_copy(tiny_tok) -> None:
    (problem,) = make_problems(FAMILY, "train", 1, 0)
    record = sft_trace(problem, noisy_box=True, noise_seed=3)
    assert record["messages"][2] == {"role": "tool", "content": program_output(problem, "direct")} == {"role": "tool", "content": problem.answer}
    breakdown = score(_response(tiny_tok, record), problem.answer)
    assert (breakdown.correct, breakdown.format_valid) == (False, True)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_program_output_is_what_the_program_prints(name) -> None:
    for problem in make_problems(FAMILY, "train", 3, 0):
        run = subprocess.run([sys.executable, "-c", program(problem, name)], capture_output=True, text=True, timeout=30, check=True)
        assert run.stdout == program_output(problem, name) + "\n"


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_every_program_prints_the_product_last(name) -> None:
    (problem,) = make_problems(FAMILY, "train", 1, 0)
    assert program_output(problem, name).split("\n")[-1] == problem.answer


def test_intermediate_programs_print_more_than_the_answer() -> None:
    (problem,) = make_problems(FAMILY, "train", 1, 0)
    assert all(len(program_output(problem, name).split("\n")) >= 2 for name in FAMILY.programs)


def test_trace_runs_the_named_program_and_shows_its_output(tiny_tok) -> None:
    (problem,) = make_problems(FAMILY, "train", 1, 0)
    record = sft_trace(problem, program_name="digits")
    assert record["messages"][1]["tool_calls"][0]["function"]["arguments"]["code"] == program(problem, "digits")
    assert record["messages"][2]["content"] == program_output(problem, "digits")
    assert score(_response(tiny_tok, record), problem.answer).correct


def test_unknown_program_raises_naming_it() -> None:
    (problem,) = make_problems(FAMILY, "train", 1, 0)
    with pytest.raises(ValueError, match="'loop'"):
        program(problem, "loop")
    with pytest.raises(ValueError, match="'loop'"):
        TaskFamily(programs=("loop",))
