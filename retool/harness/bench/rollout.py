"""Rollout throughput: model tokens/s and the share of wall time in tools, serial vs overlapped.

Contract: :func:`measure_rollout` runs one tool-heavy batch twice on the tiny model (CPU by
default) with the real sandbox: ``serial`` (one sample in flight at a time,
``max_concurrent_samples=1``) and ``overlapped`` (every sample in flight, so one sample's tool
execution overlaps the others' generation), and returns a :class:`RolloutBenchResult` with both
:class:`RolloutMeasurement` and ``speedup`` (overlapped tokens/s over serial tokens/s; the issue's
target is >= 1.5).

Workload: a random tiny model does not call tools by itself, so the policy is the tiny model
*teacher-forced* along a fixed trajectory (:class:`ForcedPolicyEngine`: the real forward pass with
KV cache, token by token, the same cost as sampling; the logprobs are the model's): each sample
makes ``tool_calls_per_sample`` code-interpreter calls, then answers in a ``\\boxed{}``. Each call
runs ``tool_code`` in the sandbox (default: wait ``tool_latency_s`` and print, a latency-bound
tool such as a slow interpreter start or an I/O wait; pass CPU-bound code to measure
contention on few cores). Generation is serialised by the engine lock in both modes, so the gain
comes only from overlapping tools with generation, as on a real SGLang server.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from retool.rollout.batch import generate_batch
from retool.rollout.config import RolloutConfig, SamplingParams
from retool.rollout.engines.forced import ForcedPolicyEngine, tool_heavy_turns
from retool.rollout.engines.hf import HFEngine


@dataclass(frozen=True, kw_only=True)
class RolloutMeasurement:
    mode: str
    samples: int
    model_tokens: int  # loss-masked (generated) tokens
    response_tokens: int  # model + tool tokens
    tool_calls: int
    wall_s: float
    tokens_per_s: float  # model tokens / batch wall time
    tool_time_share: float  # sum of per-sample tool time / sum of per-sample wall time


@dataclass(frozen=True, kw_only=True)
class RolloutBenchResult:
    serial: RolloutMeasurement
    overlapped: RolloutMeasurement

    @property
    def speedup(self) -> float:
        return self.overlapped.tokens_per_s / self.serial.tokens_per_s if self.serial.tokens_per_s else float("nan")


async def _measure(mode: str, engine: Any, sandbox: Any, tokenizer: Any, config: RolloutConfig, prompts: list[str]) -> RolloutMeasurement:
    started = time.perf_counter()
    samples = await generate_batch(prompts, engine, sandbox, tokenizer, config, progress=False)
    wall = time.perf_counter() - started
    bad = [s for s in samples if s.status != "completed"]
    if bad:
        raise RuntimeError(f"benchmark sample ended {bad[0].status}: {bad[0].status_reason}")
    model_tokens = sum(sum(s.loss_mask) for s in samples)
    return RolloutMeasurement(
        mode=mode, samples=len(samples), model_tokens=model_tokens, response_tokens=sum(s.response_length for s in samples),
        tool_calls=sum(s.tool_calls for s in samples), wall_s=wall, tokens_per_s=model_tokens / wall,
        tool_time_share=sum(s.tool_time_s for s in samples) / max(sum(s.wall_time_s for s in samples), 1e-9),
    )


async def measure_rollout_async(*, samples: int = 8, tool_calls_per_sample: int = 3, tool_latency_s: float = 0.2,
                                tool_code: str | None = None, device: str = "cpu", hf: HFEngine | None = None,
                                sandbox: Any = None, rounds: int = 2, sandbox_allow_weaker: bool = False) -> RolloutBenchResult:
    """See the module docstring; ``hf``/``sandbox`` default to the tiny model and a fresh PythonSandbox
    (``sandbox_allow_weaker``: on the layers this host has).
    Serial and overlapped runs alternate ``rounds`` times; each mode reports its fastest run."""
    if rounds < 1 or samples < 1 or tool_calls_per_sample < 0:
        raise ValueError(f"need rounds >= 1, samples >= 1, tool_calls_per_sample >= 0; got {rounds}, {samples}, {tool_calls_per_sample}")
    from retool.sandbox import DEFAULT_ALLOWED_MODULES, PythonSandbox

    if hf is None:
        from retool.embedded.models import tiny_model

        model, tokenizer = tiny_model()
        hf = HFEngine(model, tokenizer, device=device)
    code = tool_code if tool_code is not None else f"import time\ntime.sleep({tool_latency_s})\nprint(6 * 7)"
    engine = ForcedPolicyEngine(hf, tool_heavy_turns(tool_calls_per_sample, code))
    own = sandbox is None
    if own:
        sandbox = PythonSandbox(timeout_s=30, concurrency=max(samples, 1), allowed_modules=(*DEFAULT_ALLOWED_MODULES, "time"),
                                allow_weaker=sandbox_allow_weaker)
    try:
        prompts = [f"Question {i}: what is 6*7?" for i in range(samples)]
        base = dict(n_samples_per_prompt=1, max_turns=tool_calls_per_sample + 1, max_tool_calls=tool_calls_per_sample,
                    sampling=SamplingParams(temperature=1.0, max_new_tokens=512))
        await _measure("warmup", engine, sandbox, hf.tokenizer, RolloutConfig(**base), prompts[:1])
        serial = overlapped = None
        for _ in range(rounds):  # interleaved, best of each: load on a shared machine hits both alike
            s = await _measure("serial", engine, sandbox, hf.tokenizer, RolloutConfig(**base, max_concurrent_samples=1), prompts)
            o = await _measure("overlapped", engine, sandbox, hf.tokenizer, RolloutConfig(**base), prompts)
            serial = s if serial is None or s.wall_s < serial.wall_s else serial
            overlapped = o if overlapped is None or o.wall_s < overlapped.wall_s else overlapped
        assert serial is not None and overlapped is not None
    finally:
        if own:
            await sandbox.close()
    return RolloutBenchResult(serial=serial, overlapped=overlapped)


def measure_rollout(**kwargs: Any) -> RolloutBenchResult:
    """Synchronous wrapper of :func:`measure_rollout_async` (for ``retool verify`` / ``retool bench``)."""
    return asyncio.run(measure_rollout_async(**kwargs))


def format_result(result: RolloutBenchResult) -> str:
    lines = [f"{'mode':<11} {'samples':>7} {'tool calls':>10} {'model tok':>9} {'wall s':>7} {'tok/s':>8} {'tool share':>10}"]
    for m in (result.serial, result.overlapped):
        lines.append(f"{m.mode:<11} {m.samples:>7} {m.tool_calls:>10} {m.model_tokens:>9} {m.wall_s:>7.2f} "
                     f"{m.tokens_per_s:>8.1f} {m.tool_time_share:>10.0%}")
    lines.append(f"overlapped / serial tokens/s: {result.speedup:.2f}x")
    return "\n".join(lines)


def bench_results(result: RolloutBenchResult) -> list[Any]:
    """The gate's records (:class:`retool.harness.bench.gate.BenchResult`): overlapped vs serial model tokens/s."""
    from retool.harness.bench.results import make_result

    return [make_result(name="rollout_tokens_per_s_overlapped", group="rollout", value=result.overlapped.tokens_per_s,
                        baseline=result.serial.tokens_per_s, unit="model tokens/s vs serial")]
