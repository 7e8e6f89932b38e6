"""The verify pipeline: tiny SFT -> rollout with the real sandbox -> reward -> one GRPO step.

Contract: ``await run_pipeline(model, tokenizer, seed=0)`` trains ``model`` in place for a few SFT
steps on the shipped ReTool-SFT sample, then rolls out one GRPO group of two on "What is 6*7?" in
the real ``PythonSandbox``: the policy teacher-forced along a tool-using answer
(:class:`~retool.rollout.engines.forced.ForcedPolicyEngine`; a random model rarely calls tools)
and the same policy sampling freely. It scores both with :func:`retool.reward.score` and takes
one GRPO step. The group can never tie: when the free sample scores no less than the tool-using
one (a capable model answers 6*7 too), the policy teacher-forced along a wrong answer takes its
place; a tie even then is a problem (the reward does not rank the answers), never a skipped
check. Every rollout invariant is checked on the way (``verify_masks``). It returns a
:class:`PipelineResult` whose ``problems`` name each broken expectation: the SFT loss did not fall,
the tool-using sample was not run or scored right, the rewards tie, or GRPO moved the better
sample's log-probability down (or the worse one's up). Keyword-only ``step`` (the GRPO update,
default :func:`retool.train.grpo.grpo_step`) and ``reward_fn`` (default
:func:`retool.reward.score`) are the parts under test; ``retool verify``'s tests swap in broken
twins. It needs a host where the sandbox's kernel layers are available
(``SandboxUnavailableError`` otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from retool.data.sources import read_jsonl, sample_path, sft_record
from retool.reward import RewardConfig, score
from retool.rollout.batch import generate_batch
from retool.rollout.config import RolloutConfig, SamplingParams
from retool.rollout.engines.forced import ForcedPolicyEngine, tool_heavy_turns
from retool.rollout.engines.hf import HFEngine
from retool.sandbox.supervisor import PythonSandbox
from retool.text.grammar import IM_END
from retool.train.grpo import RLBatch, RLConfig, compute_logprobs, grpo_step
from retool.train.losses import GRPOConfig
from retool.train.sft import SFTConfig, sft_train

__all__ = ["PipelineResult", "WRONG_TURN", "run_pipeline"]

# A teacher-forced wrong answer without a box or a tool call: reward 0 under retool.reward.score.
WRONG_TURN = "I think it is 41." + IM_END


@dataclass(frozen=True, kw_only=True)
class PipelineResult:
    problems: tuple[str, ...]
    sft_first_loss: float
    sft_last_loss: float
    rewards: tuple[float, float]  # (tool-using sample, the group's other sample: see ``worse_sample``)
    logprob_deltas: tuple[float, float]  # summed over each sample's model tokens, after - before the step
    rollout_logprob_drift: float  # mean |rollout logprob - trainer logprob| on model tokens
    worse_sample: str = "free"  # "free", or "forced wrong" when the free sample was not worse

    @property
    def ok(self) -> bool:
        return not self.problems


async def run_pipeline(model: Any, tok: Any, *, seed: int = 0, step: Callable[..., Any] = grpo_step,
                       reward_fn: Callable[[str, Any], Any] | None = None, sandbox_allow_weaker: bool = False,
                       dialect: str = "qwen3") -> PipelineResult:
    """See the module contract; ``step`` and ``reward_fn`` are the parts under test (``reward_fn``
    default: :func:`retool.reward.score` in ``dialect``); ``sandbox_allow_weaker`` runs the sandbox
    on the layers this host has (``PythonSandbox(allow_weaker=...)``); ``dialect`` is the tool-call
    format of every stage (the SFT data, the rollout, the forced turns, the reward)."""
    torch.manual_seed(seed)
    if reward_fn is None:
        reward_config = RewardConfig(dialect=dialect)
        reward_fn = lambda response, label: score(response, label, reward_config)  # noqa: E731
    examples = [sft_record(row, dialect) for row in read_jsonl(sample_path("retool_sft_sample.jsonl"))]
    sft = sft_train(model, tok, examples, SFTConfig(epochs=1, max_steps=6, lr=3e-3, batch_size=2, progress=False, seed=seed,
                                                   dialect=dialect))
    problems = [] if sft.last_loss < sft.first_loss else [f"SFT loss did not fall ({sft.first_loss:.3f} -> {sft.last_loss:.3f})"]

    hf = HFEngine(model, tok, device="cpu", default_seed=seed)
    rollout = RolloutConfig(n_samples_per_prompt=1, max_turns=3, max_tool_calls=2, rollout_max_response_len=512,
                            max_context_len=2048, seed=seed, sampling=SamplingParams(temperature=1.0, max_new_tokens=160),
                            dialect=dialect)
    prompts = [{"prompt": "What is 6*7?", "label": "42"}]
    reward = lambda response, label: reward_fn(response, label)  # noqa: E731
    async with PythonSandbox(timeout=10, memory_limit="512MB", concurrency=2, allow_weaker=sandbox_allow_weaker) as sandbox:
        # The policy teacher-forced along a tool-using answer (a random model rarely calls tools),
        # and the same policy sampling freely: one GRPO group with a correct and a wrong sample.
        forced = ForcedPolicyEngine(hf, tool_heavy_turns(1, "print(6 * 7)", dialect), dialect=dialect)
        good = (await generate_batch(prompts, forced, sandbox, tok, rollout, reward_fn=reward, progress=False))[0]
        free = (await generate_batch(prompts, hf, sandbox, tok, rollout, reward_fn=reward, progress=False))[0]
        worse, worse_name = free, "free"
        if not (free.reward or 0.0) < (good.reward or 0.0):  # no worse sample: a forced wrong answer takes its place
            wrong = ForcedPolicyEngine(hf, [WRONG_TURN], dialect=dialect)
            worse = (await generate_batch(prompts, wrong, sandbox, tok, rollout, reward_fn=reward, progress=False))[0]
            worse_name = "forced wrong"
    if not (good.tool_calls == 1 and good.tool_statuses == ("ok",) and "42" in good.response and good.correct):
        problems.append(f"tool-using rollout went wrong: status {good.status}, tools {good.tool_statuses}, reward {good.reward}")
    rewards = (good.reward or 0.0, worse.reward or 0.0)
    if not rewards[0] > rewards[1]:
        problems.append(f"GRPO direction unchecked: the tool-using correct sample scored {rewards[0]:.3f} and the "
                        f"{worse_name} sample {rewards[1]:.3f}; the rewards do not rank them, so every advantage is 0 "
                        "(check the reward function)")
    batch = RLBatch(tokens=(good.tokens, worse.tokens), response_lengths=(good.response_length, worse.response_length),
                    loss_masks=(good.loss_mask, worse.loss_mask), rewards=rewards, group_ids=(0, 0),
                    rollout_logprobs=(good.rollout_log_probs, worse.rollout_log_probs))
    rl = RLConfig(grpo=GRPOConfig(n_samples_per_prompt=2), lr=1e-3, progress=False)
    before = compute_logprobs(model, batch)  # (2, R)
    optimizer = torch.optim.AdamW(model.parameters(), lr=rl.lr)
    stats = step(model, None, batch, rl, optimizer)
    after = compute_logprobs(model, batch)  # (2, R)
    masks = [torch.tensor(m, dtype=torch.bool) for m in batch.loss_masks]
    delta = [float((after[i, : len(m)] - before[i, : len(m)])[m].sum()) for i, m in enumerate(masks)]
    if rewards[0] > rewards[1] and not delta[0] > 0 > delta[1]:
        problems.append(f"GRPO moved log-probabilities the wrong way: {delta[0]:+.3f} (better), {delta[1]:+.3f} "
                        f"({worse_name}, worse): the advantage's sign is flipped or the update ignores it")
    return PipelineResult(
        problems=tuple(problems), sft_first_loss=sft.first_loss, sft_last_loss=sft.last_loss,
        rewards=rewards, logprob_deltas=(delta[0], delta[1]),
        rollout_logprob_drift=stats.rollout_logprob_abs_diff, worse_sample=worse_name,
    )
