"""retool.rollout.engines.forced: the tiny model teacher-forced along scripted turns, and the
tool-heavy script it is given."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio
import torch

from retool.embedded.models import tiny_model
from retool.rollout import RolloutConfig, render_prompt_ids, run_sample
from retool.rollout.config import Engine, SamplingParams
from retool.rollout.engines import ForcedPolicyEngine, HFEngine, tool_heavy_turns
from retool.sandbox import PythonSandbox
from retool.text.grammar import IM_END, parse_trace, tool_turn_text
from tests.capabilities import sandbox_options

amark = pytest.mark.asyncio(loop_scope="module")
QUESTION = [{"role": "user", "content": "What is 6*7?"}]
TURNS = ["first turn", "second turn", "last turn"]


@pytest.fixture(scope="module")
def hf() -> HFEngine:
    model, tokenizer = tiny_model()
    return HFEngine(model, tokenizer)


@pytest.fixture(scope="module")
def prompt(hf: HFEngine) -> list[int]:
    return render_prompt_ids(hf.tokenizer, QUESTION, RolloutConfig(n_samples_per_prompt=1))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox():
    box = PythonSandbox(timeout_s=10, concurrency=2, **sandbox_options())
    yield box
    await box.close()


def ids(tok: Any, text: str) -> list[int]:
    return list(tok(text, add_special_tokens=False)["input_ids"])


def after_tool_turns(hf: HFEngine, prompt: list[int], k: int) -> list[int]:
    """The prompt followed by k (model turn, tool turn) pairs."""
    out = list(prompt)
    for i in range(k):
        out += ids(hf.tokenizer, TURNS[min(i, len(TURNS) - 1)]) + ids(hf.tokenizer, tool_turn_text(["ok"]))
    return out


PARAMS = SamplingParams(temperature=1.0, max_new_tokens=64)


def test_forced_engine_is_an_engine(hf: HFEngine) -> None:
    assert isinstance(ForcedPolicyEngine(hf, TURNS), Engine)


@pytest.mark.parametrize("k", [0, 1, 2])
@amark
async def test_turn_k_follows_the_kth_script_entry(hf: HFEngine, prompt: list[int], k: int) -> None:
    gen = await ForcedPolicyEngine(hf, TURNS).generate(after_tool_turns(hf, prompt, k), PARAMS)
    assert list(gen.output_ids) == ids(hf.tokenizer, TURNS[k])


@amark
async def test_turns_past_the_script_repeat_the_last_entry(hf: HFEngine, prompt: list[int]) -> None:
    gen = await ForcedPolicyEngine(hf, TURNS).generate(after_tool_turns(hf, prompt, 5), PARAMS)
    assert list(gen.output_ids) == ids(hf.tokenizer, TURNS[-1])


@amark
async def test_forced_logprobs_are_the_models(hf: HFEngine, prompt: list[int]) -> None:
    gen = await ForcedPolicyEngine(hf, TURNS).generate(prompt, PARAMS)
    forced = ids(hf.tokenizer, TURNS[0])
    with torch.inference_mode():
        logits = hf.model(input_ids=torch.tensor([prompt + forced])).logits[0, len(prompt) - 1 : -1].float()  # (N, V)
    expected = torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(forced)[:, None])[:, 0]  # (N,)
    assert torch.allclose(torch.tensor(gen.output_logprobs), expected, atol=1e-4)


@amark
async def test_forced_turn_obeys_the_stop_strings(hf: HFEngine, prompt: list[int]) -> None:
    turn = tool_heavy_turns(1, "print(1)")[0] + " and then some more text"
    gen = await ForcedPolicyEngine(hf, [turn]).generate(prompt, PARAMS.replace(stop=("</tool_call>",)))
    assert gen.matched == "</tool_call>" and gen.text.endswith("</tool_call>")


@amark
async def test_forced_turn_obeys_max_new_tokens(hf: HFEngine, prompt: list[int]) -> None:
    gen = await ForcedPolicyEngine(hf, ["a longer turn than three tokens"]).generate(prompt, PARAMS.replace(max_new_tokens=3))
    assert (len(gen.output_ids), gen.finish_reason) == (3, "length")


@pytest.mark.parametrize("n", [0, 1, 3])
def test_tool_heavy_turns_are_n_calls_then_a_boxed_answer(n: int) -> None:
    turns = tool_heavy_turns(n, "print(6*7)")
    assert len(turns) == n + 1
    for turn in turns[:-1]:
        (call,) = parse_trace(turn).tool_calls
        assert call.ok and call.name == "code_interpreter" and call.code == "print(6*7)"
    final = parse_trace(turns[-1])
    assert final.tool_calls == () and final.final_answer == "42" and turns[-1].endswith(IM_END)


@amark
async def test_rollout_along_tool_heavy_turns_runs_every_call_and_completes(hf: HFEngine, prompt: list[int], sandbox) -> None:
    config = RolloutConfig(n_samples_per_prompt=1, sampling=SamplingParams(max_new_tokens=256))
    run = await run_sample(prompt, ForcedPolicyEngine(hf, tool_heavy_turns(2, "print(6*7)")), sandbox, hf.tokenizer, config)
    assert (run.status.value, run.turns, run.tool_calls, run.tool_statuses) == ("completed", 3, 2, ["ok", "ok"])
    assert run.status.reason == "final answer"
