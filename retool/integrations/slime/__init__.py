"""The miles/slime drop-in: ``--custom-generate-function-path retool.integrations.slime.generate``.

(``retool.rollout.generate`` is the same function; ``reward_func`` here is ``retool.reward.reward_func``.)

Contract: ``await generate_for_sample(args, sample, sampling_params)`` (what ``generate`` calls) runs one sample of the multi-turn tool rollout against the
SGLang router at ``http://{args.sglang_router_ip}:{args.sglang_router_port}`` with the tokenizer
of ``args.hf_checkpoint`` and a module-level sandbox built lazily from
``retool.sandbox.TOOL_CONFIGS`` (one per event loop). It starts from clean state (a retried or
aborted sample's old tokens are dropped) and fills ``tokens`` (prompt + response ids),
``response`` (decoded response), ``response_length``, ``loss_mask`` and ``rollout_log_probs``
(response only, 0 / 0.0 on tool tokens), ``status`` (the sample class's ``Status`` enum member
when it has one, else the lowercase string) and ``metadata["retool"]`` (turns, tool calls,
malformed calls, tool statuses, code lengths, tool tokens, the status reason, timings) plus
``metadata["tool_call_count"]``. It never sets ``reward``: the reward is ``--custom-rm-path
retool.reward.reward_func``, which gives aborted samples nothing.
It does not raise for one sample's failure (see :func:`retool.rollout.rollout_one`): a sample
whose rollout broke comes back FAILED (ABORTED on a ``Status`` enum without FAILED) with its loss
mask all 0 and the error in ``metadata["retool"]["status_reason"]``; the other samples of the
batch are untouched.

``sample.prompt`` must be the raw question (a string) or a message list, not a chat-templated
string (run without ``--apply-chat-template``): the tools block is rendered here, once.
Read from ``args`` when present: ``rollout_max_response_len`` (the budget; default the
sampling params' ``max_new_tokens``), ``rollout_max_context_len`` (default 9216),
``retool_max_turns`` / ``retool_max_tool_calls`` (default 16 / 16), ``retool_system_prompt``,
``retool_sandbox_allow_weaker`` and ``retool_max_abort_retries`` (default 0).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from typing import Any

from retool.rollout.batch import as_prompt, render_prompt_ids, rollout_one
from retool.rollout.config import RolloutConfig, SamplingParams, Sandbox
from retool.rollout.engines.sglang import SGLangEngine
from retool.reward import reward_func

_ENGINES: dict[str, SGLangEngine] = {}
_SANDBOXES: dict[int, tuple[asyncio.AbstractEventLoop, Sandbox]] = {}


@functools.lru_cache(maxsize=4)
def _tokenizer(path: str) -> Any:
    from retool.embedded.tokenizer import load_tokenizer

    return load_tokenizer(path)


def _engine(args: Any) -> SGLangEngine:
    url = f"http://{args.sglang_router_ip}:{args.sglang_router_port}"
    if url not in _ENGINES:
        _ENGINES[url] = SGLangEngine(url, max_retries=int(getattr(args, "retool_engine_retries", 3)))
    return _ENGINES[url]


def default_sandbox(args: Any = None) -> Sandbox:
    """The module's sandbox for the running event loop, built on first use from ``TOOL_CONFIGS``."""
    from retool.sandbox import TOOL_CONFIGS, PythonSandbox, SandboxConfig

    loop = asyncio.get_running_loop()
    entry = _SANDBOXES.get(id(loop))
    if entry is None or entry[0] is not loop:
        weaker = bool(getattr(args, "retool_sandbox_allow_weaker", False))
        entry = (loop, PythonSandbox(SandboxConfig.from_tool_configs(TOOL_CONFIGS, allow_weaker=weaker)))
        _SANDBOXES[id(loop)] = entry
    return entry[1]


async def close_default_sandbox() -> None:
    """Stop the running loop's module sandbox (its zygote processes), if one was built."""
    entry = _SANDBOXES.pop(id(asyncio.get_running_loop()), None)
    if entry is not None:
        await entry[1].close()


def sampling_from_dict(params: Mapping[str, Any]) -> SamplingParams:
    """slime's ``sampling_params`` dict (SGLang's names) as our SamplingParams."""
    stop = params.get("stop") or ()
    return SamplingParams(
        temperature=float(params.get("temperature", 1.0)),
        top_p=float(params.get("top_p", 1.0)),
        top_k=int(params.get("top_k", -1)),
        max_new_tokens=int(params.get("max_new_tokens", 8192)),
        stop=(stop,) if isinstance(stop, str) else tuple(stop),
        stop_token_ids=tuple(params.get("stop_token_ids") or ()),
        seed=params.get("sampling_seed"),
    )


def config_from_args(args: Any, sampling_params: Mapping[str, Any]) -> RolloutConfig:
    sampling = sampling_from_dict(sampling_params)
    return RolloutConfig(
        max_turns=int(getattr(args, "retool_max_turns", None) or 16),
        max_tool_calls=int(getattr(args, "retool_max_tool_calls", None) or 16),
        rollout_max_response_len=int(getattr(args, "rollout_max_response_len", None) or sampling.max_new_tokens),
        max_context_len=int(getattr(args, "rollout_max_context_len", None) or 9216),
        sampling=sampling,
        n_samples_per_prompt=1,
        system_prompt=getattr(args, "retool_system_prompt", None),
        max_abort_retries=int(getattr(args, "retool_max_abort_retries", None) or 0),
    )


def _status(sample: Any, value: str) -> Any:
    """The sample class's own Status member for ``value``; an older enum without FAILED gets ABORTED
    (a failed sample, like an aborted one, must not be trained on as if it were complete)."""
    enum = getattr(type(sample), "Status", None)
    if enum is None:
        return value
    members = getattr(enum, "__members__", {})
    if value.upper() in members:
        return members[value.upper()]
    if value == "failed" and "ABORTED" in members:
        return members["ABORTED"]
    raise ValueError(f"{type(sample).__name__}.Status has no member for rollout status {value!r}: {sorted(members)}")


async def generate_for_sample(args: Any, sample: Any, sampling_params: Mapping[str, Any], *,
                              sandbox: Sandbox | None = None) -> Any:
    # a retried sample arrives with the old attempt's state: start clean
    sample.tokens, sample.response, sample.response_length = [], "", 0
    sample.loss_mask, sample.rollout_log_probs = [], []
    config = config_from_args(args, sampling_params)
    tokenizer = _tokenizer(str(args.hf_checkpoint))
    prompt = as_prompt(sample.prompt)
    prompt_ids = render_prompt_ids(tokenizer, prompt.messages, config)
    out = await rollout_one(
        prompt_ids, _engine(args), sandbox or default_sandbox(args), tokenizer, config,
        group_id=int(getattr(sample, "group_index", None) or 0), sample_index=int(getattr(sample, "index", None) or 0),
    )
    sample.tokens = list(out.tokens)
    sample.response = out.response
    sample.response_length = out.response_length
    sample.loss_mask = list(out.loss_mask)
    sample.rollout_log_probs = list(out.rollout_log_probs)
    sample.status = _status(sample, out.status)
    if not isinstance(getattr(sample, "metadata", None), dict):
        sample.metadata = {}
    sample.metadata["tool_call_count"] = out.tool_calls
    sample.metadata["retool"] = {
        "turns": out.turns, "tool_calls": out.tool_calls, "malformed_calls": out.malformed_calls,
        "tool_statuses": list(out.tool_statuses), "code_lengths_chars": list(out.code_lengths_chars),
        "tool_tokens": out.tool_tokens, "status_reason": out.status_reason, "attempts": out.attempts,
        "generation_time_s": out.generation_time_s, "tool_time_s": out.tool_time_s, "wall_time_s": out.wall_time_s,
    }
    return sample


async def generate(args: Any, sample: Any, sampling_params: Mapping[str, Any]) -> Any:
    """miles/slime ``--custom-generate-function-path retool.integrations.slime.generate``
    (the legacy three-argument signature; also reachable as ``retool.rollout.generate``)."""
    return await generate_for_sample(args, sample, sampling_params)
