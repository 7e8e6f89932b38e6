"""One sample's multi-turn rollout: generate, run the tool calls, append their responses, repeat.

Contract (``run_sample``; the config is :class:`retool.rollout.RolloutConfig`):
- Each turn asks the engine for at most ``min(sampling.max_new_tokens, budget left)`` tokens, where
  the budget is ``rollout_max_response_len - response_length`` (model *and* tool tokens count)
  and ``max_context_len - len(tokens)``; generation stops at the dialect's call closer
  (``config.dialect``, :mod:`retool.text.dialect`: qwen3 ``</tool_call>``, retool-code ``</code>``;
  kept), at EOS, or at forged markup (qwen3 ``<tool_response>``, retool-code ``<interpreter>``, and
  ``<|im_start|>``, written by the model itself).
- The turn's ids and logprobs are appended as they came from the engine (mask 1); the turn's
  decoded text is parsed by the dialect (:func:`retool.text.grammar.parse_trace`,
  :func:`retool.text.native.parse_native`). Every well-formed call with
  ``code`` runs in the sandbox (concurrently unless ``concurrent_tool_calls=False``); malformed
  calls (bad JSON, unknown tool, missing code, a call closer with no opening tag) get an
  error text the model can learn from and are counted; calls past ``max_tool_calls`` get a
  "limit reached" text and are not run. The tool turn is ``tokenize(dialect.tool_turn(outputs,
  after=turn_text))`` (qwen3: chat markup and ``<tool_response>`` blocks, its leading ``<|im_end|>``
  dropped when the model already ended its turn with one; retool-code: plain-text
  ``<interpreter>`` blocks), tokenized on its own, mask 0, logprob 0.0. Invariants are checked after every turn
  (:meth:`retool.rollout.state.Trajectory.check`).
- Ends, with the status set once: a turn without tool calls ending at EOS -> ``completed`` (in a
  dialect whose tool text continues the model's message, retool-code, so does a turn that ended
  its message at EOS with a call in it: nothing can follow that end of turn, the call is not run); a turn
  cut by ``max_new_tokens``/the budget, a tool turn cut to fit the budget (the cut tokens are
  appended), no budget left, ``max_turns`` turns done or ``max_tool_calls`` calls run while the
  model still asks for tools -> ``truncated``; an engine abort or an ``EngineError`` (server
  down) -> ``aborted`` (nothing of the aborted turn is appended); forged markup in the model's
  turn or a sandbox that raises -> ``failed``.
- Never raises for a sample (cancellation aside): any other error inside the loop (a bug of ours
  or a broken engine/tokenizer, never model text, which every parser here reads totally) ends the
  sample ``failed`` with ``SampleRun.error`` naming it, the trajectory voided (loss mask all 0, so
  nothing of it is trained) and the error logged, so one sample cannot take its batch down.
- Parsing a turn longer than ``OFF_LOOP_CHARS`` characters runs in a worker thread, so the event
  loop (every other sample in flight) never waits on it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from retool.rollout.config import Engine, EngineError
from retool.rollout.state import StatusCell, Trajectory
from retool.text.dialect import QWEN3, Dialect, get_dialect
from retool.text.grammar import IM_END, ToolCall

if TYPE_CHECKING:
    from retool.rollout.config import RolloutConfig, Sandbox

_log = logging.getLogger(__name__)
FORGED_MARKUP: tuple[str, ...] = QWEN3.forged_markup  # the default dialect's (each dialect has its own)
OFF_LOOP_CHARS = 8192


@dataclass
class SampleRun:
    """What one attempt produced (mutable while it runs; read once it returns)."""

    trajectory: Trajectory
    status: StatusCell = field(default_factory=StatusCell)
    turns: int = 0
    tool_calls: int = 0
    malformed_calls: int = 0
    tool_statuses: list[str] = field(default_factory=list)
    code_lengths_chars: list[int] = field(default_factory=list)
    generation_time_s: float = 0.0
    tool_time_s: float = 0.0
    error: str | None = None  # set when the loop itself failed (the sample is then ``failed``, voided)


def malformed_text(error: str, dialect: Dialect = QWEN3) -> str:
    """The tool text answering a malformed call: the error and how to write a call in ``dialect``."""
    return f"Error: {error}. Nothing was executed. {dialect.call_hint}"


async def execute_code(sandbox: Sandbox, code: str) -> tuple[str, str]:
    """(model-facing text, status) for one execution; uses ``run`` when the sandbox has it."""
    run = getattr(sandbox, "run", None)
    config = getattr(sandbox, "config", None)
    if run is not None and config is not None:
        from retool.sandbox import format_result

        result = await run(code)
        return format_result(result, config), result.status
    return await sandbox.execute_code(code), "ok"


def _turn_seed(config: RolloutConfig, sample_key: int, turn: int) -> int | None:
    if config.seed is None:
        return config.sampling.seed
    return (config.seed * 1_000_003 + sample_key * 10_007 + turn) % (2**31 - 1)


async def run_sample(prompt_ids: list[int], engine: Engine, sandbox: Sandbox, tokenizer: Any, config: RolloutConfig,
                     *, sample_key: int = 0) -> SampleRun:
    run = SampleRun(Trajectory(prompt_ids, tokenizer, verify_masks=config.verify_masks, dialect=config.dialect))
    run.trajectory.check("prompt")
    try:
        await _loop(run, engine, sandbox, tokenizer, config, sample_key)
    except EngineError as exc:
        run.status.set("aborted", f"engine error: {exc}")
    except Exception as exc:  # see the contract: the sample fails, the batch goes on
        _log.exception("rollout of sample %s failed; it is marked failed and trains on nothing", sample_key)
        run.error = f"{type(exc).__name__}: {exc}"[:1000]
        run.status = StatusCell()
        run.status.set("failed", f"rollout error: {run.error}")
        run.trajectory.void()
    return run


async def parse_turn(text: str, tools: Any, dialect: Dialect = QWEN3) -> Any:
    """``dialect.parse(text, tools)``, in a worker thread when the text is long (see the contract)."""
    if len(text) > OFF_LOOP_CHARS:
        return await asyncio.to_thread(dialect.parse, text, tools)
    return dialect.parse(text, tools)


def _room(traj: Trajectory, config: RolloutConfig) -> tuple[int, str]:
    by_response = config.rollout_max_response_len - traj.response_length
    by_context = config.max_context_len - traj.prompt_len - traj.response_length
    if by_context < by_response:
        return by_context, f"max_context_len={config.max_context_len}"
    return by_response, f"rollout_max_response_len={config.rollout_max_response_len}"


async def _loop(run: SampleRun, engine: Engine, sandbox: Sandbox, tokenizer: Any, config: RolloutConfig, key: int) -> None:
    traj = run.trajectory
    dialect = get_dialect(config.dialect)
    stops = dialect.stops(config.sampling.stop)
    while True:
        room, limit = _room(traj, config)
        if room <= 0:
            run.status.set("truncated", f"no budget left ({limit})")
            return
        params = config.sampling.replace(
            max_new_tokens=min(config.sampling.max_new_tokens, room), stop=stops, seed=_turn_seed(config, key, run.turns)
        )
        started = time.perf_counter()
        gen = await engine.generate(traj.tokens, params)
        run.generation_time_s += time.perf_counter() - started
        if gen.finish_reason == "abort":
            run.status.set("aborted", gen.abort_reason or "the engine aborted the request")
            return
        if len(gen.output_ids) > params.max_new_tokens:
            raise ValueError(f"engine returned {len(gen.output_ids)} tokens for max_new_tokens={params.max_new_tokens}")
        run.turns += 1
        text = tokenizer.decode(list(gen.output_ids), skip_special_tokens=False)
        traj.add_model(gen.output_ids, gen.output_logprobs)
        forged = next((m for m in dialect.forged_markup if m in text), None)
        if forged is not None:
            traj.verify_masks = False  # the model's own turn holds tool markup: verify_loss_mask cannot tell it apart
            traj.check(f"turn {run.turns}")
            run.status.set("failed", f"the model wrote {forged!r} in its own turn {run.turns}")
            return
        traj.check(f"turn {run.turns}")
        if gen.finish_reason == "length":
            run.status.set("truncated", f"turn {run.turns} cut at {params.max_new_tokens} tokens ({limit if params.max_new_tokens == room else 'max_new_tokens'})")
            return
        trace = await parse_turn(text, config.tools, dialect)
        calls = trace.tool_calls
        if not calls and not dialect.ends_on_call(text):
            answered = trace.answer_source == "boxed"
            run.status.set("completed", "final answer" if answered else "end of turn without tool calls or a boxed answer")
            return
        if not dialect.chat_tools and text.rstrip().endswith(IM_END):
            # the tool text of this dialect continues the model's own message, which its end of turn closed
            run.status.set("completed", f"the model ended its message with {len(calls)} call(s) before its end of turn: not run")
            return
        if run.turns >= config.max_turns:
            run.status.set("truncated", f"max_turns={config.max_turns} reached while the model asks for tools")
            return
        if run.tool_calls >= config.max_tool_calls:
            run.status.set("truncated", f"max_tool_calls={config.max_tool_calls} reached while the model asks for more")
            return
        started = time.perf_counter()
        try:
            outputs = await _respond(run, calls, sandbox, config, dialect)
        except Exception as exc:  # the sandbox broke (not the model's code: that never raises)
            run.status.set("failed", f"sandbox raised {type(exc).__name__}: {exc}")
            return
        finally:
            run.tool_time_s += time.perf_counter() - started
        turn_text = dialect.tool_turn(outputs, after=text)
        ids = list(tokenizer(turn_text, add_special_tokens=False)["input_ids"])
        room, limit = _room(traj, config)
        if len(ids) > room:
            traj.add_tool(ids[: max(room, 0)])
            traj.check(f"tool turn {run.turns} (cut)")
            run.status.set("truncated", f"tool response cut from {len(ids)} to {max(room, 0)} tokens to fit {limit}")
            return
        traj.add_tool(ids)
        traj.check(f"tool turn {run.turns}")


async def _respond(run: SampleRun, calls: tuple[ToolCall, ...], sandbox: Sandbox, config: RolloutConfig,
                   dialect: Dialect) -> list[str]:
    """One output per call, in order; runs the well-formed ones within ``max_tool_calls``."""
    outputs: list[str] = [""] * max(len(calls), 1)
    jobs: list[tuple[int, str]] = []
    if not calls:
        run.malformed_calls += 1
        tag = dialect.call_closers[0].strip("</>")  # in words: tool output is neutralised
        outputs[0] = malformed_text(f"a closing {tag} tag without an opening one", dialect)
    for i, call in enumerate(calls):
        code = call.code
        if not call.ok or code is None:
            run.malformed_calls += 1
            outputs[i] = malformed_text(call.error or f"tool {call.name!r} has no 'code' to execute", dialect)
        elif run.tool_calls + len(jobs) >= config.max_tool_calls:
            outputs[i] = f"Error: the limit of {config.max_tool_calls} tool calls is reached; this call was not executed."
        else:
            jobs.append((i, code))
    if config.concurrent_tool_calls:
        results = await asyncio.gather(*(execute_code(sandbox, code) for _, code in jobs))
    else:
        results = [await execute_code(sandbox, code) for _, code in jobs]
    for (i, code), (text, status) in zip(jobs, results):
        outputs[i] = text
        run.tool_calls += 1
        run.tool_statuses.append(status)
        run.code_lengths_chars.append(len(code))
    return outputs
