"""Multi-turn rollout with the code interpreter: prompts in, group-major samples out.

Contract:
- :func:`render_prompt_ids` renders the conversation *once* with the tokenizer's chat template and
  the tools (``apply_chat_template(messages, tools=[spec.to_json() ...], add_generation_prompt=True,
  tokenize=False)``) and tokenizes that text once. A prompt that is already chat-templated (holds
  ``<|im_start|>``) or a template that does not render the tools block exactly once raises
  ``ValueError``: the tools must reach the model, and only once. In a dialect without a tools
  block (``config.dialect="retool-code"``) the template gets no tools (none may render) and the
  system turn carries the dialect's instructions (:func:`with_system_prompt`).
- :func:`generate_batch` runs ``n_samples_per_prompt`` samples per prompt (GRPO groups), all in
  flight together (``max_concurrent_samples`` caps it; 1 is the serial baseline), so one
  sample's tool execution overlaps the others' generation. Each sample follows
  :mod:`retool.rollout.loop`; an aborted sample is retried from clean state up to
  ``max_abort_retries`` times. Results come back group-major (prompt 0's samples first) as
  :class:`RolloutSample` (``retool.train.metrics.SampleRecord.from_rollout`` turns one into a
  metrics record).
  Aborted samples get no reward (``reward is None``). ``reward_fn(response, label)`` may return a
  float or an object with ``total`` (and optionally ``correct``, ``format_valid``) such as
  :func:`retool.reward.score`'s breakdown; it runs in a thread.
- One sample's failure never takes the batch: a sample whose rollout or reward raised (a bug, or a
  broken engine, tokenizer or ``reward_fn``; model text never raises) comes back ``failed`` with
  the error in ``status_reason``, ``reward=None`` (left out of its GRPO group, like an aborted
  one) and a loss mask of zeros, and the other samples are unaffected. Decoding and parsing of
  the whole response run in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from retool.rollout.config import Engine, RolloutConfig, Sandbox
from retool.rollout.loop import run_sample
from retool.text.dialect import get_dialect
from retool.text.grammar import IM_START


@dataclass(frozen=True, kw_only=True)
class RolloutPrompt:
    messages: tuple[Mapping[str, Any], ...]
    label: Any = None


def as_prompt(item: Any) -> RolloutPrompt:
    """A question string, a message list, a ``{"prompt"|"messages", "label"}`` dict or a RolloutPrompt."""
    if isinstance(item, RolloutPrompt):
        return item
    if isinstance(item, str):
        return RolloutPrompt(messages=({"role": "user", "content": item},))
    if isinstance(item, Mapping):
        body = item.get("messages", item.get("prompt"))
        return RolloutPrompt(messages=as_prompt(body).messages, label=item.get("label"))
    if isinstance(item, Sequence) and all(isinstance(m, Mapping) for m in item):
        return RolloutPrompt(messages=tuple(item))
    raise ValueError(f"cannot read a prompt from {type(item).__name__}: {str(item)[:80]!r}")


def with_system_prompt(messages: Sequence[Mapping[str, Any]], config: RolloutConfig) -> list[dict[str, Any]]:
    """The conversation with the system prompt the dialect needs: ``config.system_prompt`` (else the
    dialect's own) as a first system turn when there is none; in a dialect without a tools block
    (retool-code) an existing system turn gets the dialect's instructions appended, once."""
    msgs = [dict(m) for m in messages]
    for m in msgs:
        if isinstance(m.get("content"), str) and IM_START in m["content"]:
            raise ValueError(f"prompt message is already chat-templated (holds {IM_START!r}); pass the raw conversation")
    return get_dialect(config.dialect).prompt_messages(msgs, config.system_prompt)


def render_prompt_ids(tokenizer: Any, messages: Sequence[Mapping[str, Any]], config: RolloutConfig) -> list[int]:
    msgs = with_system_prompt(messages, config)
    tools = config.tools if get_dialect(config.dialect).chat_tools else ()
    text = tokenizer.apply_chat_template(
        msgs, tools=[t.to_json() for t in tools] or None, add_generation_prompt=True, tokenize=False,
        **dict(config.chat_template_kwargs),
    )
    blocks = text.count("\n</tools>")  # the block's closing line (the instructions also mention <tools></tools>)
    missing = [t.name for t in tools if f'"name": "{t.name}"' not in text]
    if blocks != (1 if tools else 0) or missing:
        raise ValueError(
            f"the chat template rendered the tools block {blocks} times (expected {1 if tools else 0} in dialect "
            f"{config.dialect}); tools missing: {missing}"
        )
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


@dataclass(frozen=True, kw_only=True)
class RolloutSample:
    group_id: int
    sample_index: int
    label: Any
    prompt_len: int
    tokens: tuple[int, ...]  # prompt + response
    response_length: int
    loss_mask: tuple[int, ...]  # response only
    rollout_log_probs: tuple[float, ...]  # response only; 0.0 on tool tokens
    response: str  # decoded response ids (special tokens kept)
    status: str
    status_reason: str
    turns: int
    tool_calls: int
    malformed_calls: int
    tool_statuses: tuple[str, ...]
    code_lengths_chars: tuple[int, ...]
    tool_tokens: int
    reward: float | None
    correct: bool
    format_valid: bool
    attempts: int
    generation_time_s: float
    tool_time_s: float
    wall_time_s: float


RewardFn = Callable[[str, Any], Any]
_log = logging.getLogger(__name__)


def _reward_terms(value: Any) -> tuple[float, bool | None, bool | None]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), None, None
    correct, fmt = getattr(value, "correct", None), getattr(value, "format_valid", None)
    return float(value.total), None if correct is None else bool(correct), None if fmt is None else bool(fmt)


async def _rollout_one(prompt_ids: Sequence[int], engine: Engine, sandbox: Sandbox, tokenizer: Any,
                       config: RolloutConfig, *, group_id: int, sample_index: int, label: Any,
                       reward_fn: RewardFn | None) -> RolloutSample:
    started = time.perf_counter()
    key = group_id * max(config.n_samples_per_prompt, 1) + sample_index
    for attempt in range(1, config.max_abort_retries + 2):
        run = await run_sample(list(prompt_ids), engine, sandbox, tokenizer, config, sample_key=key + attempt * 7919)
        if run.status.value != "aborted":
            break
    traj = run.trajectory
    response, fmt = await asyncio.to_thread(_decode_and_check_format, tokenizer, traj.response_ids, config)
    reward, correct, status, reason = None, False, run.status.value, run.status.reason
    if status != "aborted" and run.error is None:
        reward = 0.0
        if reward_fn is not None:
            try:
                reward, c, f = _reward_terms(await asyncio.to_thread(reward_fn, response, label))
            except Exception as exc:  # the contract: this sample fails, the batch goes on
                _log.exception("reward_fn raised for sample %s/%s", group_id, sample_index)
                traj.void()
                reward, c, f = None, None, None
                status, reason = "failed", f"reward_fn raised {type(exc).__name__}: {exc}"[:1000]
            correct = bool(c) if c is not None else False
            fmt = f if f is not None else fmt
    wall = time.perf_counter() - started
    return RolloutSample(
        group_id=group_id, sample_index=sample_index, label=label, prompt_len=traj.prompt_len, tokens=tuple(traj.tokens),
        response_length=traj.response_length, loss_mask=tuple(traj.loss_mask), rollout_log_probs=tuple(traj.logprobs),
        response=response, status=status, status_reason=reason, turns=run.turns,
        tool_calls=run.tool_calls, malformed_calls=run.malformed_calls, tool_statuses=tuple(run.tool_statuses),
        code_lengths_chars=tuple(run.code_lengths_chars), tool_tokens=traj.tool_tokens, reward=reward, correct=correct,
        format_valid=fmt, attempts=attempt, generation_time_s=min(run.generation_time_s, wall),
        tool_time_s=min(run.tool_time_s, wall), wall_time_s=wall,
    )


def _decode_and_check_format(tokenizer: Any, ids: Sequence[int], config: RolloutConfig) -> tuple[str, bool]:
    response = tokenizer.decode(list(ids), skip_special_tokens=False)
    return response, get_dialect(config.dialect).parse(response, config.tools).has_valid_format


def failed_sample(prompt_ids: Sequence[int], *, group_id: int, sample_index: int, label: Any, reason: str,
                  wall_time_s: float = 0.0) -> RolloutSample:
    """The sample reported when its rollout raised before producing one: the prompt, an empty
    response, no reward, the reason."""
    return RolloutSample(
        group_id=group_id, sample_index=sample_index, label=label, prompt_len=len(prompt_ids), tokens=tuple(prompt_ids),
        response_length=0, loss_mask=(), rollout_log_probs=(), response="", status="failed", status_reason=reason,
        turns=0, tool_calls=0, malformed_calls=0, tool_statuses=(), code_lengths_chars=(), tool_tokens=0, reward=None,
        correct=False, format_valid=False, attempts=1, generation_time_s=0.0, tool_time_s=0.0, wall_time_s=wall_time_s,
    )


async def rollout_one(prompt_ids: Sequence[int], engine: Engine, sandbox: Sandbox, tokenizer: Any, config: RolloutConfig,
                      *, group_id: int = 0, sample_index: int = 0, label: Any = None,
                      reward_fn: RewardFn | None = None) -> RolloutSample:
    """One sample, retried from clean state while aborted (up to ``max_abort_retries`` times).
    Never raises (cancellation aside): a failure is the sample's ``failed`` status (see the contract)."""
    started = time.perf_counter()
    try:
        return await _rollout_one(prompt_ids, engine, sandbox, tokenizer, config, group_id=group_id,
                                 sample_index=sample_index, label=label, reward_fn=reward_fn)
    except Exception as exc:  # the contract: one sample's failure never takes the batch
        _log.exception("sample %s/%s failed outside its rollout loop", group_id, sample_index)
        return failed_sample(prompt_ids, group_id=group_id, sample_index=sample_index, label=label,
                             reason=f"rollout error: {type(exc).__name__}: {exc}"[:1000],
                             wall_time_s=time.perf_counter() - started)


async def generate_batch(prompts: Sequence[Any], engine: Engine, sandbox: Sandbox, tokenizer: Any, config: RolloutConfig,
                         *, reward_fn: RewardFn | None = None, progress: bool = True) -> list[RolloutSample]:
    """All samples of the batch in flight together; group-major results (see the module docstring)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    items = [as_prompt(p) for p in prompts]
    prompt_ids = [render_prompt_ids(tokenizer, p.messages, config) for p in items]
    gate = asyncio.Semaphore(config.max_concurrent_samples) if config.max_concurrent_samples else None
    total = len(items) * config.n_samples_per_prompt
    with Progress(TextColumn("rollout"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  disable=not progress, transient=False) as bar:
        task = bar.add_task("rollout", total=total)

        async def one(g: int, i: int) -> RolloutSample:
            if gate is None:
                out = await rollout_one(prompt_ids[g], engine, sandbox, tokenizer, config, group_id=g,
                                        sample_index=i, label=items[g].label, reward_fn=reward_fn)
            else:
                async with gate:
                    out = await rollout_one(prompt_ids[g], engine, sandbox, tokenizer, config, group_id=g,
                                            sample_index=i, label=items[g].label, reward_fn=reward_fn)
            bar.advance(task)
            return out

        return list(await asyncio.gather(*(one(g, i) for g in range(len(items)) for i in range(config.n_samples_per_prompt))))
