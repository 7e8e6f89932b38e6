"""Shared pieces of the rollout tests (not a test module): the 6*7 question, a scripted tool call and
answer, a one-sample config, and ``run`` (one sample through ``rollout_one`` with a ScriptedEngine)."""

from __future__ import annotations

import pytest

from retool.rollout import RolloutConfig, render_prompt_ids, rollout_one
from retool.text.grammar import IM_END, format_tool_call
from tests.doubles import ScriptedEngine

amark = pytest.mark.asyncio(loop_scope="module")
QUESTION = [{"role": "user", "content": "What is 6*7?"}]
CALL_42 = "I will compute it.\n" + format_tool_call("code_interpreter", {"code": "print(6*7)"})
ANSWER_42 = "The answer is \\boxed{42}." + IM_END


def cfg(**kw) -> RolloutConfig:
    return RolloutConfig(**{"n_samples_per_prompt": 1, **kw})


def ids(tok, text: str) -> list[int]:
    return list(tok(text, add_special_tokens=False)["input_ids"])


async def run(tok, sandbox, script, config=None):
    config = config or cfg()
    engine = ScriptedEngine(tok, script)
    prompt = render_prompt_ids(tok, QUESTION, config)
    return await rollout_one(prompt, engine, sandbox, tok, config, label="42"), engine, prompt
