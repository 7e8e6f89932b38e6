"""The CPU learning demo: each broken twin breaks exactly its part; with a fixed seed and fixed step
counts the healthy run learns (a CI-sized run in the default selection, the full-size figures
marked long) and its twins do not (long)."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import subprocess
import sys

import pytest
import torch

from retool.data.tasks import TaskFamily, make_problems, sft_trace
from retool.recipes.demo import (
    SHORT,
    TARGETS,
    TWIN_MAX_GAIN_POINTS,
    DemoConfig,
    SFTStage,
    run_demo,
    sft_stage,
)
from retool.recipes.demo_twins import (
    flipped_step,
    leak_tool_tokens,
    leak_tool_tokens_sft,
    tool_output_reward,
)
from retool.reward import score
from retool.train.grpo import RLBatch, RLConfig, compute_logprobs, grpo_step
from retool.train.losses import GRPOConfig

WRONG_BOX = ('<tool_call>\n{"name": "code_interpreter", "arguments": {"code": "print(12 * 34)"}}\n</tool_call><|im_end|>\n'
             "<|im_start|>user\n<tool_response>\n408\n</tool_response><|im_end|>\n<|im_start|>assistant\n\\boxed{409}<|im_end|>")


def _batch() -> RLBatch:
    return RLBatch(tokens=((1, 2, 3, 4, 5, 6), (1, 2, 3, 7, 8, 9)), response_lengths=(4, 4),
                   loss_masks=((1, 0, 0, 1), (1, 1, 0, 1)), rewards=(1.0, 0.0), group_ids=(0, 0))


def test_tool_mask_twin_puts_tool_tokens_in_the_loss() -> None:
    assert leak_tool_tokens(_batch()).loss_masks == ((1, 1, 1, 1), (1, 1, 1, 1))


def test_tool_mask_twin_puts_the_tool_turns_of_sft_examples_in_the_loss_and_leaves_the_prompt_out(tiny_lm) -> None:
    from retool.train.sft import encode_examples

    _, tok = tiny_lm
    problem = make_problems(TaskFamily(), "train", 1, 0)[0]
    [(ids, mask)] = encode_examples(tok, [sft_trace(problem, program_name="digits")])
    [(leaked_ids, leaked)] = leak_tool_tokens_sft([(ids, mask)])
    first = mask.index(1)
    tool_text = tok.decode([t for t, m, k in zip(ids, mask, leaked) if k and not m])
    assert leaked_ids == list(ids) and leaked[:first] == [0] * first and all(leaked[first:])
    assert "<tool_response>" in tool_text and problem.answer in tool_text


def test_a_run_refuses_an_sft_stage_built_for_another_twin() -> None:
    healthy_sft = SFTStage(model=None, tokenizer=None, tool_turns_trained=False, first_loss=0.0, last_loss=0.0, wall_s=0.0)
    with pytest.raises(ValueError, match="tool_turns_trained=False"):
        asyncio.run(run_demo(dataclasses.replace(SHORT, twin="tool-mask"), sft=healthy_sft))


def test_tool_output_reward_twin_pays_a_wrong_box_whose_tool_printed_the_label() -> None:
    hacked, real = tool_output_reward(WRONG_BOX, "408"), score(WRONG_BOX, "408")
    assert (real.r_ans, hacked.r_ans, hacked.correct) == (0.0, 1.0, False)


def _logprob_gain(model, step) -> tuple[float, float]:
    batch = _batch()
    config = RLConfig(grpo=GRPOConfig(n_samples_per_prompt=2), lr=1e-2, progress=False, device="cpu")
    before = compute_logprobs(model, batch)
    step(model, None, batch, config, torch.optim.AdamW(model.parameters(), lr=config.lr))
    delta = compute_logprobs(model, batch) - before
    masks = [torch.tensor(m, dtype=torch.bool) for m in batch.loss_masks]
    return float(delta[0][masks[0]].sum()), float(delta[1][masks[1]].sum())


def test_flip_advantage_twin_moves_log_probabilities_against_the_reward(tiny_lm) -> None:
    model, _ = tiny_lm
    healthy = _logprob_gain(copy.deepcopy(model), grpo_step)
    flipped = _logprob_gain(copy.deepcopy(model), flipped_step)
    assert healthy[0] > 0 > healthy[1] and flipped[0] < 0 < flipped[1]


def test_sft_traces_are_seeded_and_partly_noisy() -> None:
    problems = make_problems(TaskFamily(), "train", 4, 0)
    boxes = [sft_trace(p, noisy_box=k < 2, noise_seed=k)["messages"][3]["content"] for k, p in enumerate(problems)]
    assert [b == f"\\boxed{{{p.answer}}}" for b, p in zip(boxes, problems)] == [False, False, True, True]


# The CI-sized learning run (default selection): fixed seed and step counts. Measured (seed 0):
# held-out exact match 0.516 -> 0.703 (+18.8 points) after 10 GRPO iterations; the bar sits well below
# that and well above the eval's noise on 128 samples. Its flip-advantage twin runs at the same time
# through `retool demo` in a subprocess (the same seed, so the same SFT policy; the second core is
# otherwise idle; measured 0.516 -> 0.188, -32.8 points): both together 2 min 52 s on 2 cores.
SHORT_MIN_GAIN_POINTS = 10.0
SHORT_TWIN = "flip-advantage"


def _short_flags(config: DemoConfig) -> list[str]:
    return ["--sft-steps", str(config.sft_steps), "--rl-iterations", str(config.rl_iterations), "--eval-prompts", str(config.eval_prompts),
            "--eval-samples", str(config.eval_samples), "--seed", str(config.seed)]


@pytest.fixture(scope="module")
def short_runs(tmp_path_factory):
    """``{"none": DemoResult, SHORT_TWIN: (exit status, summary.json, output)}``."""
    twin_out = tmp_path_factory.mktemp("short-twin")
    twin = subprocess.Popen([sys.executable, "-m", "retool.cli", "demo", "--twin", SHORT_TWIN, "--out", str(twin_out),
                             *_short_flags(SHORT)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        healthy = asyncio.run(run_demo(dataclasses.replace(SHORT, out_dir=str(tmp_path_factory.mktemp("short")))))
        output, _ = twin.communicate(timeout=900)
    finally:
        twin.kill()
        twin.wait()
    summary = json.loads((twin_out / "summary.json").read_text()) if (twin_out / "summary.json").exists() else None
    return {"none": healthy, SHORT_TWIN: (twin.returncode, summary, output)}


@pytest.mark.slow  # ~3 min on 2 cores: the CI-sized learning run, in the default selection
@pytest.mark.timeout(900)
def test_short_healthy_run_raises_heldout_exact_match(short_runs) -> None:
    assert short_runs["none"].gain_points >= SHORT_MIN_GAIN_POINTS, short_runs["none"].summary()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_short_run_policy_calls_the_tool_validly(short_runs) -> None:
    assert short_runs["none"].sft.valid_tool_call_rate >= TARGETS["sft_valid_tool_call_rate"], short_runs["none"].summary()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_short_flip_advantage_twin_starts_from_the_same_policy_and_does_not_learn(short_runs) -> None:
    status, summary, output = short_runs[SHORT_TWIN]
    assert summary is not None, f"retool demo --twin {SHORT_TWIN} wrote no summary (exit {status}):\n{output[-3000:]}"
    assert summary["heldout_sft"]["exact_match"] == short_runs["none"].sft.exact_match, summary
    assert (status, summary["expectation_met"]) == (0, True) and summary["gain_points"] < TWIN_MAX_GAIN_POINTS, summary


@pytest.fixture(scope="module")
def full_runs(tmp_path_factory):
    """The default demo (seed 0, 1000 SFT steps, 30 GRPO iterations), healthy and each twin from one SFT
    stage (the tool-mask twin from its own: its mask bug is in SFT too)."""
    root = tmp_path_factory.mktemp("demo")
    base = DemoConfig(out_dir=str(root / "none"))
    sft = sft_stage(base)
    runs = {}
    for twin in ("none", "tool-mask", "flip-advantage", "tool-output-reward"):
        config = dataclasses.replace(base, twin=twin, out_dir=str(root / twin))
        runs[twin] = asyncio.run(run_demo(config, sft=sft if twin != "tool-mask" else None))
    return runs


@pytest.mark.long
@pytest.mark.timeout(3600)
def test_sft_policy_calls_the_tool_validly(full_runs) -> None:
    assert full_runs["none"].sft.valid_tool_call_rate >= TARGETS["sft_valid_tool_call_rate"]


@pytest.mark.long
@pytest.mark.timeout(3600)
def test_grpo_raises_heldout_exact_match(full_runs) -> None:
    assert full_runs["none"].gain_points >= TARGETS["gain_points"], full_runs["none"].summary()


# Measured (seed 0, defaults): healthy +32.4 points; tool-output-reward -2.0 and flip-advantage -52.7;
# tool-mask (tool turns in the SFT and GRPO losses) 0.000 -> 0.000: its SFT never learns the copy.
@pytest.mark.long
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("twin", ["tool-mask", "flip-advantage", "tool-output-reward"])
def test_broken_twin_does_not_learn(full_runs, twin) -> None:
    assert full_runs[twin].gain_points < TWIN_MAX_GAIN_POINTS, full_runs[twin].summary()
