"""GRPO on multi-turn tool-use rollouts: old-logprob recomputation, group advantages, PPO-clip, KL.

Contract:
- :class:`RLBatch` holds per-sample ``tokens`` (prompt + response ids), ``loss_masks`` and
  ``rollout_logprobs`` over the response only (length ``response_length``; mask 0 and logprob 0.0
  on tool tokens, as miles/slime's ``Sample``), ``rewards`` (``None`` for an aborted sample: it is
  left out of its group's statistics, gets advantage 0 and trains on nothing) and ``group_ids``.
- :func:`compute_logprobs` gives the response-token log-probabilities ``(B, R)`` (R = longest
  response) under a model, 0 outside each response; column j of row i is the log-probability of
  ``tokens[i][prompt_len_i + j]``.
- :func:`grpo_step` is one optimizer step: old logprobs recomputed with the current policy (or the
  rollout's with ``use_rollout_logprobs``), reference logprobs when a reference model is given,
  advantages per group (:func:`batch_advantages`), the loss of :func:`retool.train.losses.grpo_loss`
  accumulated over micro-batches with weights that make it equal to the full-batch loss, gradient
  clipping, one optimizer step. With a single update per rollout the ratio is 1 at the step, so
  clipping acts only through later micro-steps of PPO epochs (``ppo_epochs``).
- :func:`rl_iteration` = rollout (:func:`retool.rollout.generate_batch`) -> rewards -> one
  :func:`grpo_step`; :func:`rl_train` (async) runs iterations over a prompt list with checkpoints
  (resumable: weights, AdamW state and iteration count; the rollout's sampling randomness is not
  replayed) and metrics lines (the rollout metrics of :func:`retool.train.metrics.step_metrics` plus
  the ``train/*`` statistics).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from retool.train.losses import GRPOConfig, broadcast_advantages, entropy_from_logits, group_advantages, grpo_loss, token_logprobs
from retool.train.common import (
    StepLog, TrainResult, autocast, chunks, load_checkpoint, pad_batch, pick_device, save_checkpoint, use_bf16,
)


@dataclass(frozen=True, kw_only=True)
class RLConfig:
    grpo: GRPOConfig = field(default_factory=GRPOConfig)
    lr: float = field(default=1e-6, metadata={"help": "learning rate (AdamW)"})
    weight_decay: float = 0.0
    grad_clip: float | None = 1.0
    micro_batch_size: int | None = None  # None: the whole batch in one forward
    ppo_epochs: int = 1  # optimizer steps on one rollout batch
    use_rollout_logprobs: bool = False  # old logprobs from the rollout instead of recomputed
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, cuda:1 (default: cuda when present)"})
    bf16: bool | None = None
    # rl_train only
    iterations: int = field(default=1, metadata={"help": "rollout -> update iterations"})
    prompts_per_iteration: int = field(default=4, metadata={"help": "prompts rolled out per iteration"})
    seed: int = field(default=0, metadata={"help": "seed of the run (the rollout is seeded from it too)"})
    out_dir: str | None = None
    save_every_iterations: int | None = field(default=None, metadata={"help": "checkpoint every N iterations"})
    metrics_path: str | None = field(default=None, metadata={"help": "metrics JSONL (default: OUT/metrics.jsonl)"})
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})
    resume_from: str | None = field(default=None, metadata={"help": "resume from a checkpoint written by this trainer"})

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        for name in ("ppo_epochs", "iterations", "prompts_per_iteration"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.micro_batch_size is not None and self.micro_batch_size < 1:
            raise ValueError(f"micro_batch_size must be >= 1 or None, got {self.micro_batch_size}")


@dataclass(frozen=True, kw_only=True)
class RLBatch:
    tokens: tuple[tuple[int, ...], ...]
    response_lengths: tuple[int, ...]
    loss_masks: tuple[tuple[int, ...], ...]
    rewards: tuple[float | None, ...]
    group_ids: tuple[int, ...]
    rollout_logprobs: tuple[tuple[float, ...], ...] | None = None

    def __post_init__(self) -> None:
        n = len(self.tokens)
        sizes = {"response_lengths": len(self.response_lengths), "loss_masks": len(self.loss_masks),
                 "rewards": len(self.rewards), "group_ids": len(self.group_ids)}
        if self.rollout_logprobs is not None:
            sizes["rollout_logprobs"] = len(self.rollout_logprobs)
        if n == 0 or any(v != n for v in sizes.values()):
            raise ValueError(f"RLBatch needs {n} (>= 1) entries in every field, got {sizes}")
        for i in range(n):
            r = self.response_lengths[i]
            if not 0 <= r < len(self.tokens[i]):
                raise ValueError(f"sample {i}: response_length {r} needs a prompt before it ({len(self.tokens[i])} tokens)")
            if len(self.loss_masks[i]) != r or (self.rollout_logprobs is not None and len(self.rollout_logprobs[i]) != r):
                raise ValueError(f"sample {i}: loss_mask/rollout_logprobs must have response_length {r} entries")

    @classmethod
    def from_rollout(cls, samples: Sequence[Any]) -> RLBatch:
        """From :class:`retool.rollout.RolloutSample` (or miles-style) objects."""
        return cls(
            tokens=tuple(tuple(s.tokens) for s in samples), response_lengths=tuple(s.response_length for s in samples),
            loss_masks=tuple(tuple(s.loss_mask) for s in samples),
            rewards=tuple(None if s.reward is None else float(s.reward) for s in samples),
            group_ids=tuple(int(s.group_id) for s in samples),
            rollout_logprobs=tuple(tuple(s.rollout_log_probs) for s in samples),
        )


@dataclass(frozen=True, kw_only=True)
class StepStats:
    loss: float
    pg_loss: float
    kl: float
    entropy: float
    clip_fraction: float
    approx_kl: float
    grad_norm: float
    reward_mean: float
    advantage_abs_mean: float
    response_tokens: int  # loss-mask tokens trained on
    rollout_logprob_abs_diff: float | None  # mean |rollout - recomputed| over trained tokens

    def as_metrics(self) -> dict[str, float]:
        out = {f"train/{k}": float(v) for k, v in self.__dict__.items() if v is not None and k != "reward_mean"}
        out["reward/mean"] = self.reward_mean
        return out


def batch_advantages(rewards: Sequence[float | None], group_ids: Sequence[int], config: GRPOConfig) -> Tensor:
    """Per-sample GRPO advantages (B,), normalised within each ``group_id``; ``None`` rewards -> 0."""
    adv = torch.zeros(len(rewards), dtype=torch.float32)  # (B,)
    groups: dict[int, list[int]] = {}
    for i, g in enumerate(group_ids):
        if rewards[i] is not None:
            groups.setdefault(int(g), []).append(i)
    for idx in groups.values():
        r = torch.tensor([float(rewards[i]) for i in idx])  # (n_g,)
        adv[idx] = group_advantages(r, len(idx), normalize_std=config.normalize_std)
    return adv


def _tensors(batch: RLBatch, device: torch.device) -> dict[str, Tensor]:
    ids, attn, _ = pad_batch(batch.tokens, [[0] * len(t) for t in batch.tokens], 0, device)  # (B, T)
    width = max(max(batch.response_lengths), 1)
    resp_len = torch.tensor(batch.response_lengths, device=device)  # (B,)
    mask = torch.zeros(len(batch.tokens), width, dtype=torch.bool)  # (B, R)
    rollout = torch.zeros(len(batch.tokens), width)  # (B, R)
    for i, m in enumerate(batch.loss_masks):
        mask[i, : len(m)] = torch.as_tensor(m, dtype=torch.long) != 0
        if batch.rollout_logprobs is not None:
            rollout[i, : len(m)] = torch.as_tensor(batch.rollout_logprobs[i], dtype=torch.float32)
    for i, r in enumerate(batch.rewards):
        if r is None:
            mask[i] = False
    prompt_len = torch.tensor([len(t) for t in batch.tokens], device=device) - resp_len  # (B,)
    return {"ids": ids, "attn": attn, "prompt_len": prompt_len, "resp_len": resp_len, "mask": mask.to(device),
            "rollout": rollout.to(device)}


def _response_forward(model: Any, t: Mapping[str, Tensor], rows: slice, *, bf16: bool, with_entropy: bool) -> tuple[Tensor, Tensor | None]:
    ids, attn = t["ids"][rows], t["attn"][rows]  # (b, T)
    width = t["mask"].shape[1]
    with autocast(ids.device, bf16):
        logits = model(input_ids=ids, attention_mask=attn).logits  # (b, T, V)
    full = token_logprobs(logits, ids, attn[:, 1:] != 0)  # (b, T-1)
    cols = (t["prompt_len"][rows] - 1).unsqueeze(1) + torch.arange(width, device=ids.device)  # (b, R)
    inside = torch.arange(width, device=ids.device).unsqueeze(0) < t["resp_len"][rows].unsqueeze(1)  # (b, R)
    cols = cols.clamp(max=full.shape[1] - 1)
    lp = torch.where(inside, full.gather(1, cols), torch.zeros((), device=ids.device))  # (b, R)
    ent = None
    if with_entropy:
        ent_full = entropy_from_logits(logits[:, :-1], attn[:, 1:] != 0)  # (b, T-1)
        ent = torch.where(inside, ent_full.gather(1, cols), torch.zeros((), device=ids.device))  # (b, R)
    return lp, ent


@torch.no_grad()
def compute_logprobs(model: Any, batch: RLBatch, *, micro_batch_size: int | None = None, bf16: bool | None = None) -> Tensor:
    """Response-token log-probabilities (B, R) under ``model`` (see the module docstring)."""
    device = next(model.parameters()).device
    t = _tensors(batch, device)
    parts = [_response_forward(model, t, rows, bf16=use_bf16(device, bf16), with_entropy=False)[0]
             for rows in chunks(len(batch.tokens), micro_batch_size)]
    return torch.cat(parts)  # (B, R)


def grpo_step(policy: Any, ref_model: Any | None, batch: RLBatch, config: RLConfig, optimizer: Any) -> StepStats:
    """One GRPO update on ``batch`` (see the module docstring); returns its statistics."""
    device = next(policy.parameters()).device
    bf16 = use_bf16(device, config.bf16)
    g = config.grpo
    t = _tensors(batch, device)
    mask = t["mask"]  # (B, R)
    recomputed = compute_logprobs(policy, batch, micro_batch_size=config.micro_batch_size, bf16=bf16)  # (B, R)
    old = t["rollout"] if config.use_rollout_logprobs else recomputed  # (B, R)
    ref = compute_logprobs(ref_model, batch, micro_batch_size=config.micro_batch_size, bf16=bf16) if ref_model is not None else None
    adv_sample = batch_advantages(batch.rewards, batch.group_ids, g).to(device)  # (B,)
    adv = broadcast_advantages(adv_sample, mask)  # (B, R)
    n_tok = int(mask.sum())
    n_valid = sum(r is not None for r in batch.rewards)
    params = [p for p in policy.parameters() if p.requires_grad]
    was_training = policy.training
    policy.train()
    sums = dict.fromkeys(("loss", "pg_loss", "kl", "entropy", "clip_fraction", "approx_kl"), 0.0)
    grad_norm = 0.0
    for _ in range(config.ppo_epochs):
        optimizer.zero_grad(set_to_none=True)
        sums = dict.fromkeys(sums, 0.0)
        for rows in chunks(len(batch.tokens), config.micro_batch_size):
            m = mask[rows]
            lp, ent = _response_forward(policy, t, rows, bf16=bf16, with_entropy=True)
            ent_in = ent if g.entropy_coef > 0 else ent.detach()
            res = grpo_loss(lp, old[rows], adv[rows], m, g, ref_logprobs=None if ref is None else ref[rows], entropy=ent_in)
            tok_share = int(m.sum()) / max(n_tok, 1)
            weight = tok_share if g.loss_reduction == "token" else (rows.stop - rows.start) / len(batch.tokens)
            (res.loss * weight).backward()
            for key in sums:
                sums[key] += float(getattr(res, key).detach()) * (weight if key in ("loss", "pg_loss", "kl", "entropy") else tok_share)
        clip = config.grad_clip if config.grad_clip is not None else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    policy.train(was_training)
    diff = None
    if batch.rollout_logprobs is not None and n_tok:
        diff = float(torch.where(mask, (t["rollout"] - recomputed).abs(), torch.zeros((), device=device)).sum()) / n_tok
    valid_rewards = [r for r in batch.rewards if r is not None]
    return StepStats(
        loss=sums["loss"], pg_loss=sums["pg_loss"], kl=sums["kl"], entropy=sums["entropy"],
        clip_fraction=sums["clip_fraction"], approx_kl=sums["approx_kl"], grad_norm=grad_norm,
        reward_mean=sum(valid_rewards) / len(valid_rewards) if valid_rewards else 0.0,
        advantage_abs_mean=float(adv_sample.abs().sum()) / max(n_valid, 1), response_tokens=n_tok,
        rollout_logprob_abs_diff=diff,
    )


async def rl_iteration(policy: Any, ref_model: Any | None, tokenizer: Any, prompts: Sequence[Any], config: RLConfig,
                       optimizer: Any, *, engine: Any, sandbox: Any, rollout_config: Any, reward_fn: Any) -> dict[str, float]:
    """Rollout -> rewards -> one :func:`grpo_step`; returns the metrics of this iteration."""
    from retool.rollout.batch import generate_batch
    from retool.train.metrics import SampleRecord, step_metrics

    if rollout_config.n_samples_per_prompt != config.grpo.n_samples_per_prompt:
        raise ValueError(f"rollout n_samples_per_prompt {rollout_config.n_samples_per_prompt} != "
                         f"GRPO n_samples_per_prompt {config.grpo.n_samples_per_prompt}")
    policy.eval()
    samples = await generate_batch(prompts, engine, sandbox, tokenizer, rollout_config, reward_fn=reward_fn, progress=False)
    stats = grpo_step(policy, ref_model, RLBatch.from_rollout(samples), config, optimizer)
    return {**step_metrics([SampleRecord.from_rollout(s) for s in samples]), **stats.as_metrics()}


async def rl_train(policy: Any, ref_model: Any | None, tokenizer: Any, prompts: Sequence[Any], config: RLConfig, *,
                   engine: Any, sandbox: Any, rollout_config: Any, reward_fn: Any) -> TrainResult:
    """``config.iterations`` RL iterations over ``prompts`` (cycled in order), checkpointed and logged.

    Async so that the sandbox (bound to the running event loop) lives across iterations; the
    update itself runs synchronously between rollouts.
    """
    started = time.perf_counter()
    device = pick_device(config.device)
    policy.to(device)
    if ref_model is not None:
        ref_model.to(device).eval().requires_grad_(False)
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=config.lr, weight_decay=config.weight_decay)
    step = int(load_checkpoint(config.resume_from, policy, optimizer)["step"]) if config.resume_from else 0
    losses: list[float] = []
    tokens = 0
    state = {"kind": "rl", "config": {k: v for k, v in config.__dict__.items()}}
    with StepLog(total=config.iterations, initial=step, metrics_path=config.metrics_path, progress=config.progress, desc="grpo") as log:
        while step < config.iterations:
            start = (step * config.prompts_per_iteration) % len(prompts)
            chosen = [prompts[(start + k) % len(prompts)] for k in range(config.prompts_per_iteration)]
            metrics = await rl_iteration(policy, ref_model, tokenizer, chosen, config, optimizer, engine=engine,
                                         sandbox=sandbox, rollout_config=rollout_config, reward_fn=reward_fn)
            step += 1
            losses.append(metrics["train/loss"])
            tokens += int(metrics["train/response_tokens"])
            log.log(step, metrics)
            if config.out_dir and config.save_every_iterations and step % config.save_every_iterations == 0 and step < config.iterations:
                save_checkpoint(Path(config.out_dir) / f"iter-{step}", policy, tokenizer, optimizer, None, {**state, "step": step})
    final = None
    if config.out_dir:
        final = str(save_checkpoint(Path(config.out_dir) / "final", policy, tokenizer, optimizer, None, {**state, "step": step}))
    return TrainResult(steps=step, losses=tuple(losses), tokens_trained=tokens, wall_s=time.perf_counter() - started, checkpoint=final)
