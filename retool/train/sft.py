"""SFT on tool-calling chats: masked next-token cross-entropy over what the model itself writes.

Contract:
- Examples are prepared records (``{"messages", "tools"?, "dialect"?}``, as :func:`retool.data.prepare_sft`
  writes them), encoded with :func:`retool.text.masking.encode_sft` in the record's dialect (else
  ``SFTConfig.dialect``; :mod:`retool.text.dialect`) (loss mask 1 exactly on assistant
  tokens, 0 on prompt and tool turns, and on ``<interpreter>`` text inside a retool-code message), or already-encoded ``(ids, loss_mask)`` pairs / objects
  with ``.ids`` and ``.loss_mask``. With ``verify_masks`` every encoded record is checked with
  :func:`retool.text.masking.verify_loss_mask` and a bad one raises naming its index.
- Epochs visit the examples in a seeded random order (``seed + epoch``), ``batch_size`` at a time;
  the last batch of an epoch may be smaller. ``max_steps`` caps the optimizer steps over all
  epochs. The loss is :func:`retool.train.losses.masked_cross_entropy` with ``loss_reduction``.
- ``resume_from`` restores a checkpoint written by this trainer (weights, AdamW moments, lr
  schedule, step) and continues with the same data order, so k steps + resume + (n - k) steps
  equals n uninterrupted steps.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from retool.text.dialect import DialectName, get_dialect
from retool.text.grammar import DEFAULT_TOOLS, ToolSpec
from retool.train.losses import Reduction, masked_cross_entropy
from retool.train.common import (
    StepLog, TrainResult, autocast, load_checkpoint, lr_lambda, pad_batch, pad_id_of, pick_device, save_checkpoint, use_bf16,
)


@dataclass(frozen=True, kw_only=True)
class SFTConfig:
    epochs: int = field(default=3, metadata={"help": "passes over the examples"})
    lr: float = field(default=1e-5, metadata={"help": "peak learning rate (AdamW)"})
    lr_schedule: Literal["cosine", "constant"] = "cosine"
    warmup_steps: int = field(default=0, metadata={"help": "linear warm-up steps before the schedule"})
    min_lr_ratio: float = 0.0
    weight_decay: float = 0.0
    batch_size: int = field(default=4, metadata={"help": "examples per optimizer step"})
    max_steps: int | None = field(default=None, metadata={"help": "stop after this many optimizer steps (default: the epochs decide)"})
    max_length_tokens: int | None = field(default=None, metadata={"help": "cut examples to this many tokens (the cut tail is not trained on)"})
    grad_clip: float | None = 1.0
    loss_reduction: Reduction = "token"
    seed: int = field(default=0, metadata={"help": "seed of data order and initialisation"})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, cuda:1 (default: cuda when present)"})
    bf16: bool | None = None
    verify_masks: bool = True
    dialect: DialectName = field(default="qwen3", metadata={"help": "tool-call format of records without a 'dialect' field: qwen3 or retool-code"})
    out_dir: str | None = None
    save_every_steps: int | None = field(default=None, metadata={"help": "checkpoint every N steps"})
    metrics_path: str | None = field(default=None, metadata={"help": "metrics JSONL (default: OUT/metrics.jsonl)"})
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})
    resume_from: str | None = field(default=None, metadata={"help": "resume from a checkpoint written by this trainer"})

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None, got {self.max_steps}")
        if self.loss_reduction not in ("token", "sample"):
            raise ValueError(f"loss_reduction must be 'token' or 'sample', got {self.loss_reduction!r}")
        get_dialect(self.dialect)  # an unknown name raises, naming the choices


def _tools_of(record: Mapping[str, Any]) -> tuple[ToolSpec, ...]:
    tools = record.get("tools")
    if not tools:
        return DEFAULT_TOOLS
    specs = []
    for t in tools:
        fn = t.get("function", t)
        specs.append(ToolSpec(name=fn["name"], description=fn.get("description", ""), parameters=fn.get("parameters", {})))
    return tuple(specs)


def encode_examples(
    tokenizer: Any, examples: Sequence[Any], *, max_length_tokens: int | None = None, verify_masks: bool = True,
    dialect: str = "qwen3",
) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Examples (records, encoded objects or pairs) -> ``(ids, loss_mask)`` pairs. A record is
    encoded in its own ``"dialect"`` when it names one, else in ``dialect``."""
    from retool.text.masking import encode_sft, verify_loss_mask

    out = []
    for k, ex in enumerate(examples):
        if isinstance(ex, Mapping):
            try:
                speaks = get_dialect(ex.get("dialect") or dialect)
            except ValueError as err:
                raise ValueError(f"example {k}: {err}") from None
            enc = encode_sft(tokenizer, ex["messages"], _tools_of(ex), dialect=speaks)
            if verify_masks:
                check = verify_loss_mask(enc.ids, enc.loss_mask, tokenizer, enc.prompt_len, speaks)
                if not check.ok:
                    raise ValueError(f"example {k}: loss mask check failed at tokens {check.span}: {check.reason}")
            ids, mask = enc.ids, enc.loss_mask
        elif hasattr(ex, "ids") and hasattr(ex, "loss_mask"):
            ids, mask = tuple(ex.ids), tuple(ex.loss_mask)
        else:
            ids, mask = (tuple(part) for part in ex)
        if len(ids) != len(mask) or len(ids) < 2:
            raise ValueError(f"example {k}: {len(ids)} ids and {len(mask)} mask entries (need equal and >= 2)")
        if max_length_tokens is not None:
            ids, mask = ids[:max_length_tokens], mask[:max_length_tokens]
        out.append((tuple(int(i) for i in ids), tuple(int(m) for m in mask)))
    return out


def sft_batch_loss(model: Any, ids: Tensor, attn: Tensor, loss_mask: Tensor, *, reduction: Reduction = "token",
                   bf16: bool = False) -> tuple[Tensor, Tensor]:
    """``(loss (), logits (B, T, V))`` for one padded batch."""
    with autocast(ids.device, bf16):
        logits = model(input_ids=ids, attention_mask=attn).logits  # (B, T, V)
    return masked_cross_entropy(logits, ids, loss_mask, reduction), logits


@torch.no_grad()
def evaluate_sft_loss(model: Any, tokenizer: Any, examples: Sequence[Any], *, batch_size: int = 8,
                      bf16: bool | None = None) -> float:
    """Token-mean cross-entropy over every loss-mask token of ``examples``, on the model's device."""
    dev = next(model.parameters()).device
    pairs = encode_examples(tokenizer, examples, verify_masks=False)
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        ids, attn, mask = pad_batch([p[0] for p in chunk], [p[1] for p in chunk], pad_id_of(tokenizer), dev)
        n = int(mask[:, 1:].sum())
        loss, _ = sft_batch_loss(model, ids, attn, mask, bf16=use_bf16(dev, bf16))
        total += float(loss) * n
        count += n
    model.train(was_training)
    return total / max(count, 1)


def sft_train(model: Any, tokenizer: Any, examples: Sequence[Any], config: SFTConfig = SFTConfig()) -> TrainResult:
    """Train ``model`` in place on ``examples``; see the module docstring."""
    started = time.perf_counter()
    device = pick_device(config.device)
    bf16 = use_bf16(device, config.bf16)
    pairs = encode_examples(tokenizer, examples, max_length_tokens=config.max_length_tokens, verify_masks=config.verify_masks,
                            dialect=config.dialect)
    if not pairs:
        raise ValueError("sft_train needs at least one example, got none")
    model.to(device)
    model.train()
    steps_per_epoch = math.ceil(len(pairs) / config.batch_size)
    total = steps_per_epoch * config.epochs if config.max_steps is None else min(config.max_steps, steps_per_epoch * config.epochs)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config.lr_schedule, config.warmup_steps, total, config.min_lr_ratio))
    step = 0
    if config.resume_from:
        step = int(load_checkpoint(config.resume_from, model, optimizer, scheduler)["step"])
    pad_id = pad_id_of(tokenizer)
    losses: list[float] = []
    tokens = 0
    state = {"kind": "sft", "config": {k: v for k, v in config.__dict__.items()}}
    with StepLog(total=total, initial=step, metrics_path=config.metrics_path, progress=config.progress, desc="sft") as log:
        while step < total:
            epoch, index = divmod(step, steps_per_epoch)
            order = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(config.seed + epoch)).tolist()
            chunk = [pairs[i] for i in order[index * config.batch_size : (index + 1) * config.batch_size]]
            ids, attn, mask = pad_batch([c[0] for c in chunk], [c[1] for c in chunk], pad_id, device)  # (B, T) each
            loss, _ = sft_batch_loss(model, ids, attn, mask, reduction=config.loss_reduction, bf16=bf16)
            loss.backward()
            clip = config.grad_clip if config.grad_clip is not None else float("inf")
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
            lr_now = scheduler.get_last_lr()[0]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            n_tok = int(mask[:, 1:].sum())
            tokens += n_tok
            losses.append(float(loss.detach()))
            log.log(step, {"train/loss": losses[-1], "train/lr": lr_now, "train/grad_norm": grad_norm,
                           "train/tokens": n_tok, "train/epoch": epoch})
            if config.out_dir and config.save_every_steps and step % config.save_every_steps == 0 and step < total:
                save_checkpoint(Path(config.out_dir) / f"step-{step}", model, tokenizer, optimizer, scheduler, {**state, "step": step})
    final = None
    if config.out_dir:
        final = str(save_checkpoint(Path(config.out_dir) / "final", model, tokenizer, optimizer, scheduler, {**state, "step": step}))
    return TrainResult(steps=step, losses=tuple(losses), tokens_trained=tokens, wall_s=time.perf_counter() - started, checkpoint=final)
