"""The GRPO recipe (retool.recipes.grpo): GRPORun validation and one tiny run (1 iteration, 1
prompt, a group of 2, 16 new tokens, a 32-token response budget) with the real sandbox."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from retool.recipes.grpo import GRPORun, run_grpo
from retool.rollout.config import RolloutConfig, SamplingParams
from retool.train.common import TrainResult
from retool.train.grpo import RLConfig
from retool.train.losses import GRPOConfig
from tests.capabilities import sandbox_options

BUDGET = 32


def _run(*, n_rl: int = 2, n_rollout: int = 2, **overrides: object) -> GRPORun:
    rl = RLConfig(grpo=GRPOConfig(n_samples_per_prompt=n_rl), iterations=1, prompts_per_iteration=1, lr=1e-4,
                  device="cpu", progress=False, seed=0)
    rollout = RolloutConfig(n_samples_per_prompt=n_rollout, rollout_max_response_len=BUDGET, max_context_len=2048,
                            seed=0, sampling=SamplingParams(temperature=1.0, max_new_tokens=16))
    overrides.setdefault("sandbox_allow_weaker", bool(sandbox_options()))  # a non-root host runs on the layers it has
    return GRPORun(rl=rl, rollout=rollout, **overrides)


def test_grpo_run_defaults_to_a_frozen_copy_reference_and_the_isolated_sandbox() -> None:
    template = _run()
    run = GRPORun(rl=template.rl, rollout=template.rollout)
    assert (run.ref_model, run.sandbox, run.sandbox_allow_weaker) == ("same", "isolated", False)


def test_grpo_run_refuses_an_unknown_sandbox_naming_it() -> None:
    with pytest.raises(ValueError, match="sandbox must be 'isolated' or 'naive', got 'docker'"):
        _run(sandbox="docker")


def test_grpo_run_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        _run().sandbox = "naive"  # type: ignore[misc]


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("grpo")


@pytest.fixture(scope="module")
def result(out_dir: Path) -> TrainResult:
    run = _run()
    run = dataclasses.replace(run, rl=dataclasses.replace(run.rl, out_dir=str(out_dir)))
    return asyncio.run(run_grpo("sample", "tiny", run))


def test_one_iteration_takes_one_step(result: TrainResult) -> None:
    assert result.steps == 1 and len(result.losses) == 1


def test_the_trained_tokens_fit_the_group_and_the_response_budget(result: TrainResult) -> None:
    assert 0 < result.tokens_trained <= 2 * BUDGET


def test_the_final_checkpoint_is_written_under_out_dir(result: TrainResult, out_dir: Path) -> None:
    assert result.checkpoint is not None and Path(result.checkpoint) == out_dir / "final"


def test_prompt_records_and_no_reference_model_are_accepted() -> None:
    records = [{"prompt": "What is 6*7?", "label": "42"}]
    result = asyncio.run(run_grpo(records, "tiny", _run(ref_model="none")))
    assert result.steps == 1


def test_mismatched_group_sizes_raise_naming_both() -> None:
    with pytest.raises(ValueError, match="rollout n_samples_per_prompt 3 != GRPO n_samples_per_prompt 2"):
        asyncio.run(run_grpo("sample", "tiny", _run(n_rl=2, n_rollout=3)))


def test_a_missing_reference_model_dir_raises_naming_it(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no-ref"):
        asyncio.run(run_grpo("sample", "tiny", _run(ref_model=str(tmp_path / "no-ref"))))
