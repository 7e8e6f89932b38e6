"""The miles/slime drop-in: ``--custom-generate-function-path retool.integrations.slime.generate``.

(``retool.rollout.generate`` is the same function; ``reward_func`` here is ``retool.reward.reward_func``.)

Contract: ``await generate(args, sample, sampling_params, evaluation=False)`` (what the frameworks
call; :func:`generate_for_sample` is the same with a ``sandbox=`` override) runs one sample of the
multi-turn tool rollout against the SGLang router at ``http://{args.sglang_router_ip}:
{args.sglang_router_port}`` with the tokenizer of ``args.hf_checkpoint`` and a module-level sandbox
built lazily from ``retool.sandbox.TOOL_CONFIGS`` (one per event loop). It starts from clean state
(:func:`~retool.integrations.slime.sample.reset`) and fills ``tokens`` (prompt + response ids),
``response``, ``response_length``, ``loss_mask`` and ``rollout_log_probs`` (response only, 0 / 0.0
on tool tokens), ``status`` (the sample class's ``Status`` member, else the lowercase string),
``weight_versions`` and ``prefix_cache_info`` per engine call (as miles's
``Sample.update_from_meta_info``), ``rollout_top_p_token_ids`` / ``rollout_top_p_token_offsets``
when the sampling params ask for them (slime with ``--rollout-top-p`` < 1; empty spans on tool
tokens), ``tool_call_count``, ``non_generation_time`` (seconds outside generation: tools, parsing),
``metadata["round_number"]`` (model turns), ``metadata["tool_call_count"]`` and
``metadata["retool"]`` (turns, tool calls, malformed calls, tool statuses, code lengths, tool
tokens, the status reason, attempts, timings).

Prompts: a raw question or message list is rendered with the tools block once; a chat-templated
string (``--apply-chat-template``) is used as it is, the tools block added to its system turn when
absent (:mod:`retool.rollout.prompt`). Requests carry the sample's routing key and ``lora_path``
(:mod:`~retool.integrations.slime.transport`); settings come from ``args``
(:mod:`~retool.integrations.slime.settings`; ``retool_*`` via ``--custom-config-path``).

Failures, as the frameworks expect them:
- An engine that stays unreachable or answers 5xx past the retries (by default miles's own 60
  attempts 1 s apart) raises ``EngineError`` naming the URL, as miles's HTTP helper does: miles drops
  that group and goes on.
- An engine abort (``finish_reason`` abort, after ``retool_max_abort_retries`` reruns) comes back
  ABORTED with its loss mask all 0; without ``--group-rm`` it also gets the zero reward
  (:func:`retool.reward.aborted_reward`), because the frameworks score no aborted sample and an
  unscored one in the batch breaks their metrics (``round(None)``) and train-data conversion
  (``torch.tensor([None])``). A rerun of such a sample drops that reward first.
- A sample whose rollout broke otherwise comes back FAILED (ABORTED on a ``Status`` enum without
  FAILED), loss mask all 0, the error in ``metadata["retool"]["status_reason"]``.
It never sets ``reward`` otherwise: that is ``--custom-rm-path retool.reward.reward_func``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from typing import Any

from retool.integrations.slime.sample import OUR_ABORT_REWARD, record_turns, reset, status_for, top_p_spans
from retool.integrations.slime.settings import (check_retool_args, config_from_args, modules_from_args, engine_retries, engine_timeout_s,
                                                sampling_from_dict)
from retool.integrations.slime.transport import TurnRecorder, engine_for, request_payload, routing_headers
from retool.reward import aborted_reward, reward_func
from retool.rollout.batch import as_prompt, render_prompt_ids, rollout_one
from retool.rollout.config import EngineError, Sandbox
from retool.rollout.prompt import is_templated, templated_prompt_ids

__all__ = ["close_default_sandbox", "config_from_args", "default_sandbox", "generate", "generate_for_sample",
           "reward_func", "sampling_from_dict"]

_SANDBOXES: dict[int, tuple[asyncio.AbstractEventLoop, Sandbox]] = {}
_status = status_for  # the older private name


@functools.lru_cache(maxsize=4)
def _tokenizer(path: str) -> Any:
    from retool.embedded.tokenizer import load_tokenizer

    return load_tokenizer(path)


def default_sandbox(args: Any = None) -> Sandbox:
    """The module's sandbox for the running event loop, built on first use from ``TOOL_CONFIGS``
    and ``args.retool_allowed_modules`` (or a ``RemoteSandbox`` on ``args.retool_sandbox_url``)."""
    from retool.sandbox import TOOL_CONFIGS, PythonSandbox, SandboxConfig

    loop = asyncio.get_running_loop()
    entry = _SANDBOXES.get(id(loop))
    if entry is None or entry[0] is not loop:
        url = getattr(args, "retool_sandbox_url", None)
        if url:  # a farm (`retool sandbox serve`): RemoteSandbox reads its settings on the first call
            from retool.sandbox.service.config import read_token
            from retool.sandbox.service.remote import RemoteSandbox

            token_file = getattr(args, "retool_sandbox_token_file", None)
            box: Sandbox = RemoteSandbox(url, token=read_token(token_file) if token_file else None)
        else:
            weaker = bool(getattr(args, "retool_sandbox_allow_weaker", False))
            box = PythonSandbox(SandboxConfig.from_tool_configs(TOOL_CONFIGS, allow_weaker=weaker, **modules_from_args(args)))
        entry = (loop, box)
        _SANDBOXES[id(loop)] = entry
    return entry[1]


async def close_default_sandbox() -> None:
    """Stop the running loop's module sandbox (its zygote processes), if one was built."""
    entry = _SANDBOXES.pop(id(asyncio.get_running_loop()), None)
    if entry is not None:
        await entry[1].close()


def _prompt_ids(tokenizer: Any, prompt: Any, config: Any) -> list[int]:
    if is_templated(prompt):
        return templated_prompt_ids(tokenizer, prompt, config)
    return render_prompt_ids(tokenizer, as_prompt(prompt).messages, config)


async def generate_for_sample(args: Any, sample: Any, sampling_params: Mapping[str, Any], *, evaluation: bool = False,
                              sandbox: Sandbox | None = None) -> Any:
    check_retool_args(args)
    reset(sample)
    tokenizer = _tokenizer(str(args.hf_checkpoint))
    prompt_ids = _prompt_ids(tokenizer, sample.prompt, config_from_args(args, sampling_params, evaluation=evaluation))
    config = config_from_args(args, sampling_params, evaluation=evaluation, prompt_len=len(prompt_ids))
    client = engine_for(args, *engine_retries(args), engine_timeout_s(args))
    engine = TurnRecorder(client.bind(headers=routing_headers(args, sample), payload=request_payload(args)),
                          len(prompt_ids))
    out = await rollout_one(
        prompt_ids, engine, sandbox or default_sandbox(args), tokenizer, config,
        group_id=int(getattr(sample, "group_index", None) or 0), sample_index=int(getattr(sample, "index", None) or 0),
    )
    if out.status == "aborted" and engine.engine_error is not None:
        raise EngineError(f"{out.status_reason} (the sample is not returned: miles drops its group)")
    aborted = out.status == "aborted"
    sample.tokens = list(out.tokens)
    sample.response = out.response
    sample.response_length = out.response_length
    sample.loss_mask = [0] * out.response_length if aborted else list(out.loss_mask)
    sample.rollout_log_probs = list(out.rollout_log_probs)
    sample.status = status_for(sample, out.status)
    record_turns(sample, engine.turns)
    if config.sampling.wants_top_p_token_ids:
        spans = top_p_spans(engine.turns, sample.loss_mask)
        sample.rollout_top_p_token_ids, sample.rollout_top_p_token_offsets = spans if spans else (None, None)
    sample.tool_call_count = out.tool_calls
    sample.non_generation_time = max(out.wall_time_s - out.generation_time_s, 0.0)
    if not isinstance(getattr(sample, "metadata", None), dict):
        sample.metadata = {}
    sample.metadata["tool_call_count"] = out.tool_calls
    sample.metadata["round_number"] = out.turns
    sample.metadata["retool"] = {
        "turns": out.turns, "tool_calls": out.tool_calls, "malformed_calls": out.malformed_calls,
        "tool_statuses": list(out.tool_statuses), "code_lengths_chars": list(out.code_lengths_chars),
        "tool_tokens": out.tool_tokens, "status_reason": out.status_reason, "attempts": out.attempts,
        "generation_time_s": out.generation_time_s, "tool_time_s": out.tool_time_s, "wall_time_s": out.wall_time_s,
    }
    if aborted and not getattr(args, "group_rm", False):
        sample.reward = aborted_reward(args)
        sample.metadata["retool"][OUR_ABORT_REWARD] = True
    return sample


async def generate(args: Any, sample: Any, sampling_params: Mapping[str, Any], evaluation: bool = False) -> Any:
    """miles/slime ``--custom-generate-function-path retool.integrations.slime.generate`` (also reachable as
    ``retool.rollout.generate``); the frameworks pass ``evaluation=`` because the signature has it."""
    return await generate_for_sample(args, sample, sampling_params, evaluation=evaluation)
