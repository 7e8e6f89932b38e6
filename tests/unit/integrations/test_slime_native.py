"""The miles/slime entry points in the retool-code dialect (``retool_dialect: retool-code`` in the
--custom-config-path file): over real HTTP, a served model that writes a native <code> call gets it
run, the <interpreter> text comes back as plain text with mask 0, and reward_func reads the same
dialect, so the correct answer scores with its tool bonus."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pytest

from retool.embedded.models import tiny_model, tiny_model_dir
from retool.integrations.slime import generate_for_sample
from retool.reward import reward_func
from retool.rollout.config import SamplingParams
from retool.rollout.engines import HFEngine
from retool.rollout.engines.forced import tool_heavy_turns
from retool.rollout.engines.server import GenerateServer
from retool.text.masking import verify_loss_mask
from retool.text.native import NATIVE_SYSTEM_PROMPT, interpreter_text
from tests.capabilities import sandbox_options
from tests.unit.integrations.test_slime import SLIME_SAMPLING, SlimeLikeSample, sandbox  # noqa: F401 (the module's sandbox fixture)

amark = pytest.mark.asyncio(loop_scope="module")
OPENING = interpreter_text(["\x00"]).split("\x00")[0]  # the rendered "\n\n<interpreter>\n"


class NativeScriptedHF(HFEngine):
    """The tiny model teacher-forced along native turns (turn k = k interpreter blocks in the input)."""

    def __init__(self, model: Any, tokenizer: Any, turns: Sequence[str]) -> None:
        super().__init__(model, tokenizer)
        self.turn_ids = [list(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in turns]

    def generate_sync(self, input_ids: Sequence[int], params: SamplingParams, *, forced_ids: Sequence[int] | None = None):
        turn = self.tokenizer.decode(list(input_ids), skip_special_tokens=False).count(OPENING)
        return super().generate_sync(input_ids, params, forced_ids=self.turn_ids[min(turn, len(self.turn_ids) - 1)])


@pytest.fixture(scope="module")
def native_server():
    model, tok = tiny_model()
    with GenerateServer(NativeScriptedHF(model, tok, tool_heavy_turns(1, "print(6*7)", "retool-code"))) as srv:
        yield srv


def native_args(server: GenerateServer) -> SimpleNamespace:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    return SimpleNamespace(sglang_router_ip=host, sglang_router_port=int(port), hf_checkpoint=str(tiny_model_dir()),
                           rollout_max_response_len=512, rollout_max_context_len=None, partial_rollout=False,
                           retool_sandbox_allow_weaker=bool(sandbox_options()), retool_dialect="retool-code",
                           reward_key=None, eval_reward_key=None)


@amark
async def test_a_native_call_runs_and_its_output_is_masked_0(native_server, sandbox) -> None:
    sample = SlimeLikeSample(prompt="What is 6*7?", label="42")
    await generate_for_sample(native_args(native_server), sample, {**SLIME_SAMPLING, "max_new_tokens": 256}, sandbox=sandbox)
    tok = tiny_model()[1]
    assert sample.status == SlimeLikeSample.Status.COMPLETED and sample.metadata["tool_call_count"] == 1
    assert interpreter_text(["42"]) in sample.response and "<tool_response>" not in sample.response
    n = sample.response_length
    prompt_len = len(sample.tokens) - n
    assert NATIVE_SYSTEM_PROMPT in tok.decode(sample.tokens[:prompt_len], skip_special_tokens=False)
    untrained = [t for t, m in zip(sample.tokens[prompt_len:], sample.loss_mask) if m == 0]
    assert tok.decode(untrained, skip_special_tokens=False) == interpreter_text(["42"])
    assert verify_loss_mask(sample.tokens, [0] * prompt_len + sample.loss_mask, tok, prompt_len, "retool-code").ok


@amark
async def test_reward_func_reads_the_launchs_dialect(native_server, sandbox) -> None:
    args = native_args(native_server)
    sample = SlimeLikeSample(prompt="What is 6*7?", label="42")
    await generate_for_sample(args, sample, {**SLIME_SAMPLING, "max_new_tokens": 256}, sandbox=sandbox)
    assert await reward_func(args, sample) == pytest.approx(1.15)
    assert await reward_func(SimpleNamespace(reward_key=None), sample) == pytest.approx(1.1)  # qwen3: no call seen


@amark
async def test_a_chat_templated_prompt_gets_the_native_instructions_once(native_server, sandbox) -> None:
    tok = tiny_model()[1]
    templated = tok.apply_chat_template([{"role": "user", "content": "What is 6*7?"}], tokenize=False, add_generation_prompt=True)
    sample = SlimeLikeSample(prompt=templated, label="42")
    await generate_for_sample(native_args(native_server), sample, {**SLIME_SAMPLING, "max_new_tokens": 256}, sandbox=sandbox)
    prompt = tok.decode(sample.tokens[: len(sample.tokens) - sample.response_length], skip_special_tokens=False)
    assert prompt.count(NATIVE_SYSTEM_PROMPT) == 1 and prompt.endswith(templated) and "<tools>" not in prompt
