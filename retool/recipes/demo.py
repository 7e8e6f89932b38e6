"""The CPU learning demo: SFT then GRPO on a task that needs the tool, and its broken twins.

Contract: ``await run_demo(config)`` builds the embedded preset ``config.model`` (seeded random
init), draws training and held-out problems of ``config.family`` (:mod:`retool.data.tasks`),
trains SFT on traces that call ``code_interpreter`` with a program printing partial products then
the product (``config.family.programs``) and box the product (a share ``sft_noisy_share`` of them
box a one-digit-wrong copy: a deliberately partial SFT), evaluates
the SFT policy on the held-out prompts, runs ``rl_iterations`` GRPO iterations with the real
rollout (:func:`retool.rollout.generate_batch` on the policy itself), the real sandbox, the real
reward (:func:`retool.reward.score`), the real masks and :func:`retool.train.grpo.grpo_step`, then
evaluates again. Everything is fixed by the seed and the step counts, never by time.

Evaluation (:func:`evaluate`): ``eval_samples`` samples per held-out prompt at
``eval_temperature`` (the policy GRPO trains), scored by :func:`retool.reward.score`:
``exact_match`` (share correct), ``valid_tool_call_rate`` (share with at least one well-formed call
that ran ``ok`` and no malformed call) and ``format_rate``.

A broken twin (``config.twin``, :mod:`retool.recipes.demo_twins`: ``tool-mask``, ``flip-advantage``,
``tool-output-reward``) swaps one real part of the GRPO stage for a broken one, never editing the
part. The SFT stage is the healthy run's (same seed, same policy), so a twin and the healthy run
start from one policy and differ in that part alone, except for ``tool-mask``, whose mask bug is in
both stages (its SFT stage trains on the tool turns too: :func:`sft_stage` of its config). Metrics
go to ``out_dir/metrics.jsonl`` (``sft/*`` rows are written to ``out_dir/sft_metrics.jsonl``): one row per RL iteration with the
rollout metrics of :func:`retool.train.metrics.step_metrics` and the ``train/*`` statistics, plus
``eval/heldout_*`` on the first (SFT policy) and last rows.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from retool.data.tasks import TaskFamily, make_problems, rl_prompt, sft_trace
from retool.embedded.models import embedded_model
from retool.recipes.demo_result import (
    TARGETS,
    TWIN_MAX_GAIN_POINTS,
    DemoResult,
    EvalResult,
)
from retool.recipes.demo_twins import TWINS, healthy_reward, leak_tool_tokens_sft, parts
from retool.rollout.batch import generate_batch
from retool.rollout.config import RolloutConfig, SamplingParams
from retool.rollout.engines.hf import HFEngine
from retool.train.grpo import RLBatch, RLConfig
from retool.train.losses import GRPOConfig
from retool.train.metrics import SampleRecord, step_metrics, write_metrics_line
from retool.train.sft import SFTConfig, encode_examples, sft_train

__all__ = ["QUICK", "SHORT", "TARGETS", "TWINS", "TWIN_MAX_GAIN_POINTS", "DemoConfig", "DemoResult", "EvalResult", "evaluate", "run_demo"]

Twin = Literal["none", "tool-mask", "flip-advantage", "tool-output-reward"]
@dataclass(frozen=True, kw_only=True)
class DemoConfig:
    seed: int = field(default=0, metadata={"help": "seed of the model, the problems, SFT and the rollouts"})
    model: str = field(default="tiny-rope10k", metadata={"help": "embedded preset (retool.embedded.models.MODEL_PRESETS)"})
    family: TaskFamily = field(default_factory=TaskFamily)
    sft_examples: int = field(default=512, metadata={"help": "SFT traces"})
    sft_noisy_share: float = field(default=0.5, metadata={"help": "share of SFT traces whose box holds a one-digit-wrong copy"})
    sft_steps: int = field(default=1000, metadata={
        "help": "SFT optimizer steps (the copy of the printed product is learned by ~450-900 steps, by seed)"})
    sft_batch_size: int = 8
    sft_lr: float = 1e-2
    rl_iterations: int = field(default=30, metadata={"help": "GRPO iterations (rollout -> reward -> step)"})
    prompts_per_iteration: int = field(default=4, metadata={"help": "prompts per GRPO iteration"})
    n_samples: int = field(default=8, metadata={"help": "samples per prompt (the GRPO group)"})
    rl_lr: float = field(default=3e-4, metadata={"help": "GRPO learning rate"})
    eval_prompts: int = field(default=64, metadata={"help": "held-out prompts evaluated before and after GRPO"})
    eval_samples: int = field(default=4, metadata={"help": "samples per held-out prompt"})
    eval_temperature: float = 1.0
    max_new_tokens: int = field(default=80, metadata={"help": "tokens per model turn (a demo call is about 70)"})
    torch_threads: int = field(default=1, metadata={"help": "torch intra-op threads (1 is fastest for this size on 2 shared cores)"})
    twin: Twin = field(default="none", metadata={"help": "a broken twin: " + ", ".join(TWINS[1:])})
    sandbox: Literal["isolated", "naive"] = "isolated"
    sandbox_allow_weaker: bool = True
    out_dir: str | None = None

    def __post_init__(self) -> None:
        if self.twin not in TWINS:
            raise ValueError(f"twin must be one of {TWINS}, got {self.twin!r}")
        if self.sandbox not in ("isolated", "naive"):
            raise ValueError(f"sandbox must be 'isolated' or 'naive', got {self.sandbox!r}")
        if not 0.0 <= self.sft_noisy_share <= 1.0:
            raise ValueError(f"sft_noisy_share must be in [0, 1], got {self.sft_noisy_share}")
        for name in ("sft_examples", "sft_steps", "sft_batch_size", "rl_iterations", "prompts_per_iteration",
                     "n_samples", "eval_prompts", "eval_samples", "max_new_tokens", "torch_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


# ``retool demo --quick``: every stage runs (SFT, held-out eval, GRPO, metrics), too short to learn.
QUICK = DemoConfig(sft_examples=64, sft_steps=30, rl_iterations=2, prompts_per_iteration=2, n_samples=4, eval_prompts=4,
                   eval_samples=2)
# The CI-sized learning run: 600 SFT steps (enough for seed 0: its copy is learned by step ~450),
# the first SHORT.rl_iterations GRPO iterations of the default run (the same prompts and seeds) and a
# smaller held-out eval (its first eval_prompts). With the default 1000 SFT steps it gains +11.7.
SHORT = DemoConfig(sft_steps=600, rl_iterations=10, eval_prompts=32, eval_samples=4)


# --- the run --------------------------------------------------------------------------------------
def _rollout_config(config: DemoConfig, n: int, temperature: float, seed: int) -> RolloutConfig:
    return RolloutConfig(n_samples_per_prompt=n, max_turns=3, max_tool_calls=2, rollout_max_response_len=4 * config.max_new_tokens,
                         max_context_len=1024, seed=seed, max_concurrent_samples=n * config.prompts_per_iteration,
                         sampling=SamplingParams(temperature=temperature, max_new_tokens=config.max_new_tokens))


def _valid_call(sample: Any) -> bool:
    return sample.tool_calls >= 1 and sample.malformed_calls == 0 and "ok" in sample.tool_statuses


async def evaluate(engine: Any, sandbox: Any, tokenizer: Any, prompts: Sequence[dict], config: DemoConfig,
                   *, seed: int) -> EvalResult:
    """The policy on held-out prompts (see the module contract)."""
    rollout = _rollout_config(config, config.eval_samples, config.eval_temperature, seed)
    samples = await generate_batch(prompts, engine, sandbox, tokenizer, rollout, reward_fn=healthy_reward, progress=False)
    n = len(samples)
    return EvalResult(exact_match=sum(s.correct for s in samples) / n, valid_tool_call_rate=sum(map(_valid_call, samples)) / n,
                      format_rate=sum(bool(s.format_valid) for s in samples) / n, samples=n)


def _sft(model: Any, tok: Any, config: DemoConfig, sft_metrics: str | None) -> Any:
    problems = make_problems(config.family, "train", config.sft_examples, config.seed)
    noisy = round(config.sft_noisy_share * len(problems))
    programs = config.family.programs
    examples = [sft_trace(p, program_name=programs[k % len(programs)], noisy_box=k < noisy, noise_seed=config.seed * 100_003 + k)
                for k, p in enumerate(problems)]
    pairs = encode_examples(tok, examples)
    if _trains_tool_turns(config):
        pairs = leak_tool_tokens_sft(pairs)
    sft_config = SFTConfig(epochs=1_000, max_steps=config.sft_steps, lr=config.sft_lr, batch_size=config.sft_batch_size,
                           lr_schedule="constant", warmup_steps=10, seed=config.seed, device="cpu", progress=False, metrics_path=sft_metrics)
    return sft_train(model, tok, pairs, sft_config)


def _sandbox(config: DemoConfig) -> Any:
    if config.sandbox == "naive":
        from retool.sandbox.naive import NaiveSandbox

        return NaiveSandbox()
    from retool.sandbox.supervisor import PythonSandbox

    return PythonSandbox(timeout=10, memory_limit="512MB", concurrency=2, allow_weaker=config.sandbox_allow_weaker)


@dataclass(frozen=True, kw_only=True)
class SFTStage:
    """The policy after the SFT stage (shared by the healthy run and its twins: ``run_demo(..., sft=)``)."""

    model: Any
    tokenizer: Any
    tool_turns_trained: bool  # the tool-mask twin's SFT (tool turns in the loss)
    first_loss: float
    last_loss: float
    wall_s: float


def _trains_tool_turns(config: DemoConfig) -> bool:
    return config.twin == "tool-mask"  # the one twin whose bug is in SFT too


def sft_stage(config: DemoConfig) -> SFTStage:
    """Build the preset (seeded) and train SFT on the task's traces (writes ``sft_metrics.jsonl``);
    with ``config.twin == "tool-mask"`` the tool turns are in the loss."""
    with _threads(config.torch_threads):
        torch.manual_seed(config.seed)
        out = Path(config.out_dir) if config.out_dir else None
        sft_metrics = None
        if out:
            out.mkdir(parents=True, exist_ok=True)
            (out / "sft_metrics.jsonl").unlink(missing_ok=True)
            sft_metrics = str(out / "sft_metrics.jsonl")
        model, tok = embedded_model(config.model)
        started = time.perf_counter()
        result = _sft(model, tok, config, sft_metrics)
        return SFTStage(model=model, tokenizer=tok, tool_turns_trained=_trains_tool_turns(config), first_loss=result.first_loss,
                        last_loss=result.last_loss, wall_s=time.perf_counter() - started)


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


async def run_demo(config: DemoConfig = DemoConfig(), *, sft: SFTStage | None = None,
                   log: Callable[[str], None] = lambda _: None) -> DemoResult:
    """See the module contract. ``sft``: start from this SFT stage (a copy of its model; it must come
    from a config with the same seed and SFT fields, and the tool-mask twin's SFT iff ``config.twin`` is
    ``tool-mask``) instead of training one. ``log``: one line per stage."""
    if sft is not None and sft.tool_turns_trained != _trains_tool_turns(config):
        raise ValueError(f"twin {config.twin!r} needs the SFT stage of its own config: this one has "
                         f"tool_turns_trained={sft.tool_turns_trained} (sft_stage(config) builds the right one)")
    if sft is None:
        sft = sft_stage(config)
        log(f"sft: {config.sft_steps} steps, loss {sft.first_loss:.3f} -> {sft.last_loss:.3f} in {sft.wall_s:.1f}s")
    model = copy.deepcopy(sft.model)
    with _threads(config.torch_threads):
        return await _rl(config, sft, model, log)


async def _rl(config: DemoConfig, sft: SFTStage, model: Any, log: Callable[[str], None]) -> DemoResult:
    torch.manual_seed(config.seed)
    tok = sft.tokenizer
    out = Path(config.out_dir) if config.out_dir else None
    metrics_path = str(out / "metrics.jsonl") if out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.jsonl").unlink(missing_ok=True)
    heldout = [rl_prompt(p) for p in make_problems(config.family, "heldout", config.eval_prompts, config.seed)]
    train = [rl_prompt(p) for p in make_problems(config.family, "train", config.rl_iterations * config.prompts_per_iteration,
                                                  config.seed + 1)]
    step, reward, shape = parts(config.twin)
    rl = RLConfig(grpo=GRPOConfig(n_samples_per_prompt=config.n_samples, kl_coef=0.0), lr=config.rl_lr, device="cpu",
                  seed=config.seed, progress=False)
    model.eval()
    engine = HFEngine(model, tok, device="cpu", default_seed=config.seed)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.rl_lr, weight_decay=0.0)
    rewards: list[float] = []
    matches: list[float] = []
    sandbox = _sandbox(config)
    try:
        started = time.perf_counter()
        before = await evaluate(engine, sandbox, tok, heldout, config, seed=config.seed + 7)
        eval_wall = time.perf_counter() - started
        log(f"held-out, SFT policy: exact match {before.exact_match:.3f}, valid tool calls {before.valid_tool_call_rate:.3f}")
        started = time.perf_counter()
        for it in range(config.rl_iterations):
            chosen = train[it * config.prompts_per_iteration:(it + 1) * config.prompts_per_iteration]
            rollout = _rollout_config(config, config.n_samples, 1.0, config.seed * 1_000 + it)
            model.eval()
            samples = await generate_batch(chosen, engine, sandbox, tok, rollout, reward_fn=reward, progress=False)
            stats = step(model, None, shape(RLBatch.from_rollout(samples)), rl, optimizer)
            metrics = {**stats.as_metrics(), **step_metrics([SampleRecord.from_rollout(s) for s in samples])}
            if it == 0:
                metrics.update(_eval_metrics(before))
            rewards.append(metrics["reward/mean"])
            matches.append(metrics["reward/exact_match"])
            if it < config.rl_iterations - 1 and metrics_path:
                write_metrics_line(metrics_path, it + 1, metrics)
            log(f"grpo {it + 1}/{config.rl_iterations}: reward {rewards[-1]:.3f}, exact match {matches[-1]:.3f}")
        rl_wall = time.perf_counter() - started
        started = time.perf_counter()
        after = await evaluate(engine, sandbox, tok, heldout, config, seed=config.seed + 7)
        eval_wall += time.perf_counter() - started
    finally:
        await sandbox.close()
    if metrics_path:
        write_metrics_line(metrics_path, config.rl_iterations, {**metrics, **_eval_metrics(after)})
    log(f"held-out, after GRPO: exact match {after.exact_match:.3f}, valid tool calls {after.valid_tool_call_rate:.3f}")
    return DemoResult(config=config, sft=before, rl=after, sft_first_loss=sft.first_loss, sft_last_loss=sft.last_loss,
                      rl_rewards=tuple(rewards), rl_exact_match=tuple(matches), sft_wall_s=sft.wall_s, rl_wall_s=rl_wall,
                      eval_wall_s=eval_wall, metrics_path=metrics_path)


def _eval_metrics(result: EvalResult) -> dict[str, float]:
    return {"eval/heldout_exact_match": result.exact_match, "eval/heldout_valid_tool_call_rate": result.valid_tool_call_rate,
            "eval/heldout_format_rate": result.format_rate}
