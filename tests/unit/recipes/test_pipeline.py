"""The verify pipeline (retool.recipes.pipeline): tiny SFT -> rollout in the real sandbox ->
reward -> one GRPO step on the tiny model, every expectation met."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import torch

from retool.embedded.models import tiny_model
from retool.recipes.pipeline import PipelineResult, run_pipeline
from tests.capabilities import sandbox_options


@pytest.fixture(scope="module")
def run() -> tuple[PipelineResult, list[torch.Tensor], Any]:
    model, tok = tiny_model()
    before = [p.detach().clone() for p in model.parameters()]
    return asyncio.run(run_pipeline(model, tok, seed=0, sandbox_allow_weaker=bool(sandbox_options()))), before, model


def test_the_pipeline_is_ok_with_no_problems(run: tuple) -> None:
    result, _, _ = run
    assert result.ok and result.problems == ()


def test_sft_lowers_the_loss(run: tuple) -> None:
    result, _, _ = run
    assert result.sft_last_loss < result.sft_first_loss


def test_the_tool_using_sample_earns_more_than_the_free_one(run: tuple) -> None:
    good, free = run[0].rewards
    assert good > free


def test_grpo_raises_the_better_samples_logprob_and_lowers_the_worse(run: tuple) -> None:
    d_good, d_free = run[0].logprob_deltas
    assert d_good > 0 > d_free


def test_rollout_and_trainer_logprobs_agree(run: tuple) -> None:
    assert 0.0 <= run[0].rollout_logprob_drift < 1e-3


def test_the_model_is_trained_in_place(run: tuple) -> None:
    _, before, model = run
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))


def test_a_result_with_a_problem_is_not_ok() -> None:
    result = PipelineResult(problems=("SFT loss did not fall",), sft_first_loss=1.0, sft_last_loss=1.0,
                            rewards=(0.0, 0.0), logprob_deltas=(0.0, 0.0), rollout_logprob_drift=0.0)
    assert not result.ok
