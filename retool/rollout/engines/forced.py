"""A scripted policy: a real model teacher-forced along fixed turns (a test and benchmark double).

Contract: ``ForcedPolicyEngine(hf, turns)`` is an :class:`~retool.rollout.config.Engine` whose
k-th model turn (k = the number of tool turns already in the input: ``<tool_response>`` tokens in
qwen3, rendered ``\n\n<interpreter>\n`` openings in retool-code) is
``turns[k]`` (the last one repeated), run through ``hf``'s real forward pass with its KV cache
token by token (:meth:`~retool.rollout.engines.hf.HFEngine.generate_sync` with ``forced_ids``):
the same cost and stop rules as sampling, and the logprobs are the model's. A random tiny model
rarely calls tools by itself; this makes it follow a tool-using trajectory, which ``retool
verify``'s pipeline check and the rollout benchmark need. :func:`tool_heavy_turns` gives
``tool_calls`` code-interpreter turns running ``tool_code`` in the dialect's call format, then a
boxed answer 42.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from retool.rollout.config import Generation, SamplingParams
from retool.rollout.engines.hf import HFEngine
from retool.text.dialect import get_dialect
from retool.text.grammar import IM_END, TOOL_RESPONSE_OPEN, format_tool_call
from retool.text.native import format_code_block, interpreter_text

__all__ = ["ForcedPolicyEngine", "tool_heavy_turns"]


class ForcedPolicyEngine:
    """An Engine that runs ``hf``'s model along scripted turns (turn k = k-th model turn)."""

    def __init__(self, hf: HFEngine, turns: Sequence[str], *, dialect: str = "qwen3") -> None:
        tok = hf.tokenizer
        self.hf = hf
        self.turn_ids = [list(tok(t, add_special_tokens=False)["input_ids"]) for t in turns]
        self.response_id = tok.convert_tokens_to_ids(TOOL_RESPONSE_OPEN)
        self.native = not get_dialect(dialect).chat_tools
        self._opening = interpreter_text(["\x00"]).split("\x00")[0]  # "\n\n<interpreter>\n"

    def _turn(self, input_ids: Sequence[int]) -> int:
        if self.native:
            return self.hf.tokenizer.decode(list(input_ids), skip_special_tokens=False).count(self._opening)
        return list(input_ids).count(self.response_id)

    async def generate(self, input_ids: Sequence[int], params: SamplingParams) -> Generation:
        turn = min(self._turn(input_ids), len(self.turn_ids) - 1)
        return await asyncio.to_thread(self.hf.generate_sync, input_ids, params, forced_ids=self.turn_ids[turn])


def tool_heavy_turns(tool_calls: int, tool_code: str, dialect: str = "qwen3") -> list[str]:
    native = not get_dialect(dialect).chat_tools
    call = format_code_block(tool_code) if native else format_tool_call("code_interpreter", {"code": tool_code})
    calls = [f"Step {i + 1}: let me run the code.\n" + call for i in range(tool_calls)]
    return [*calls, "So the answer is \\boxed{42}." + IM_END]
