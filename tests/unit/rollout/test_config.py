"""retool.rollout.config: SamplingParams validation and its SGLang request, Generation, RolloutConfig,
and the Engine / Sandbox protocols the rollout talks to."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest

from retool.rollout.config import Engine, EngineError, Generation, RolloutConfig, SamplingParams, Sandbox
from retool.rollout.engines import HFEngine
from retool.sandbox import PythonSandbox
from tests.capabilities import sandbox_options
from tests.doubles import ScriptedEngine

# ------------------------------------------------------------------------------ SamplingParams


def test_sampling_params_request_keeps_stops_and_special_tokens() -> None:
    body = SamplingParams(stop=("</tool_call>",), stop_token_ids=(7,), seed=3, max_new_tokens=9).to_sglang()
    assert body["no_stop_trim"] is True and body["skip_special_tokens"] is False
    assert body["stop"] == ["</tool_call>"] and body["stop_token_ids"] == [7]
    assert body["sampling_seed"] == 3 and body["max_new_tokens"] == 9


@pytest.mark.parametrize("bad", [dict(temperature=-0.1), dict(top_p=0.0), dict(top_k=0), dict(max_new_tokens=-1)])
def test_sampling_params_reject_out_of_range_values(bad: dict) -> None:
    with pytest.raises(ValueError):
        SamplingParams(**bad)


@pytest.mark.parametrize(
    ("bad", "field"),
    [(dict(temperature=-1.0), "temperature"), (dict(top_p=1.5), "top_p"), (dict(top_k=-2), "top_k"),
     (dict(max_new_tokens=-5), "max_new_tokens")],
)
def test_sampling_params_error_names_the_field(bad: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        SamplingParams(**bad)


@pytest.mark.parametrize(
    "edge", [dict(temperature=0.0), dict(top_p=1.0), dict(top_k=-1), dict(top_k=1), dict(max_new_tokens=0)]
)
def test_sampling_params_accept_the_edges_of_each_range(edge: dict) -> None:
    params = SamplingParams(**edge)
    assert all(getattr(params, k) == v for k, v in edge.items())


@pytest.mark.parametrize("bad", [math.nan, math.inf, -0.5])
def test_sampling_params_reject_a_nan_infinite_or_negative_temperature(bad) -> None:
    with pytest.raises(ValueError, match="temperature"):
        SamplingParams(temperature=bad)


def test_sampling_params_store_stops_as_tuples_of_ints_and_strings() -> None:
    params = SamplingParams(stop=["</tool_call>"], stop_token_ids=[5.0, 7])  # type: ignore[arg-type]
    assert params.stop == ("</tool_call>",) and params.stop_token_ids == (5, 7)
    assert all(type(t) is int for t in params.stop_token_ids)
    hash(params)  # frozen and hashable once normalised


def test_sampling_params_are_frozen() -> None:
    params = SamplingParams()
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.temperature = 0.5  # type: ignore[misc]


def test_sampling_params_replace_changes_one_field_and_keeps_the_original() -> None:
    params = SamplingParams(temperature=0.7, max_new_tokens=32)
    other = params.replace(max_new_tokens=4)
    assert (other.max_new_tokens, other.temperature) == (4, 0.7) and params.max_new_tokens == 32


def test_sampling_params_replace_is_validated_too() -> None:
    with pytest.raises(ValueError, match="top_p"):
        SamplingParams().replace(top_p=0.0)


def test_sglang_request_without_a_seed_has_no_sampling_seed() -> None:
    assert "sampling_seed" not in SamplingParams().to_sglang()


def test_sglang_request_carries_every_sampling_field_and_is_json() -> None:
    params = SamplingParams(temperature=0.6, top_p=0.9, top_k=20, max_new_tokens=11, ignore_eos=True)
    body = json.loads(json.dumps(params.to_sglang()))
    assert (body["temperature"], body["top_p"], body["top_k"], body["max_new_tokens"], body["ignore_eos"]) == (
        0.6, 0.9, 20, 11, True)
    assert body["spaces_between_special_tokens"] is False


# ------------------------------------------------------------------------------ Generation


def test_generation_rejects_ids_and_logprobs_of_different_length() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        Generation(output_ids=(1, 2), output_logprobs=(-0.1,), finish_reason="stop")


def test_generation_rejects_an_unknown_finish_reason() -> None:
    with pytest.raises(ValueError, match="'eos'"):
        Generation(output_ids=(), output_logprobs=(), finish_reason="eos")  # type: ignore[arg-type]


def test_aborted_generation_carries_no_tokens_and_its_reason() -> None:
    gen = Generation.aborted("client disconnected")
    assert (gen.finish_reason, gen.output_ids, gen.output_logprobs, gen.abort_reason) == (
        "abort", (), (), "client disconnected")


# ------------------------------------------------------------------------------ RolloutConfig


def test_rollout_config_defaults_are_valid_and_frozen() -> None:
    config = RolloutConfig()
    assert config.max_turns >= 1 and config.sampling.max_new_tokens >= 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.max_turns = 2  # type: ignore[misc]


def test_rollout_config_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        RolloutConfig(4)  # type: ignore[misc]


@pytest.mark.parametrize("field", ["max_turns", "rollout_max_response_len", "max_context_len", "n_samples_per_prompt"])
def test_rollout_config_refuses_a_size_below_one_naming_the_field(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        RolloutConfig(**{field: 0})


@pytest.mark.parametrize("field", ["max_tool_calls", "max_abort_retries"])
def test_rollout_config_refuses_a_negative_count_naming_the_field(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        RolloutConfig(**{field: -1})


def test_rollout_config_allows_zero_tool_calls_and_zero_retries() -> None:
    config = RolloutConfig(max_tool_calls=0, max_abort_retries=0)
    assert (config.max_tool_calls, config.max_abort_retries) == (0, 0)


def test_rollout_config_refuses_zero_concurrent_samples() -> None:
    with pytest.raises(ValueError, match="max_concurrent_samples"):
        RolloutConfig(max_concurrent_samples=0)


# ------------------------------------------------------------------------------ the protocols


def test_engine_error_is_a_runtime_error() -> None:
    assert issubclass(EngineError, RuntimeError)


def test_scripted_and_local_engines_are_engines(tiny_lm: tuple[Any, Any]) -> None:
    model, tok = tiny_lm
    assert isinstance(ScriptedEngine(tok, ["x"]), Engine) and isinstance(HFEngine(model, tok), Engine)


def test_an_object_without_generate_is_not_an_engine() -> None:
    assert not isinstance(object(), Engine)


class _OnlyExecute:
    async def execute_code(self, code: str) -> str:
        return code


def test_an_object_with_execute_code_alone_is_a_sandbox() -> None:
    assert isinstance(_OnlyExecute(), Sandbox) and not isinstance(object(), Sandbox)


@pytest.mark.asyncio
async def test_the_real_python_sandbox_is_a_sandbox() -> None:
    box = PythonSandbox(timeout_s=5, concurrency=1, **sandbox_options())
    try:
        assert isinstance(box, Sandbox)
    finally:
        await box.close()
