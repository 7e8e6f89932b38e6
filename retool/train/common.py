"""The pieces SFT and GRPO share on transformers causal LMs: devices, padding, checkpoints, step logs.

Contract:
- Devices: ``device=None`` picks CUDA when present, else CPU. On CUDA, ``bf16=None`` (auto) runs
  forward passes under ``torch.autocast(bfloat16)`` with float32 master weights and optimizer
  state; on CPU everything is float32. Losses are always computed in float32 (:mod:`retool.train.losses`).
- Batching: sequences are right-padded with ``pad_id`` (attention mask 0, loss mask 0), so a
  padded position never changes a real position's logits (causal attention) or the loss.
- Checkpoints are Hugging Face directories (``save_pretrained`` of model and tokenizer) plus
  ``trainer_state.pt`` (optimizer and scheduler state, step, epoch, RNG states) and a readable
  ``trainer_state.json``. :func:`load_checkpoint` restores all of it into a live model and
  optimizer, so a run resumed from step k continues exactly as the uninterrupted run would
  (same data order, same optimizer moments).
- Metrics: one JSON line per step through :func:`retool.train.metrics.write_metrics_line` (when a path
  is configured) and a progress bar (tqdm, on stderr) showing the latest loss.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

STATE_FILE = "trainer_state.pt"
STATE_JSON = "trainer_state.json"
@dataclass(frozen=True, kw_only=True)
class TrainResult:
    """What a training run did."""

    steps: int  # optimizer steps taken in total (including those before a resume)
    losses: tuple[float, ...]  # the loss of every step run by this call
    tokens_trained: int  # loss-mask tokens seen by this call
    wall_s: float
    checkpoint: str | None  # the final checkpoint directory, if one was written

    @property
    def first_loss(self) -> float:
        return self.losses[0] if self.losses else float("nan")

    @property
    def last_loss(self) -> float:
        return self.losses[-1] if self.losses else float("nan")


def pick_device(device: str | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return dev


def use_bf16(device: torch.device, bf16: bool | None) -> bool:
    if bf16 and device.type != "cuda":
        raise ValueError(f"bf16=True needs a CUDA device, got {device}")
    return device.type == "cuda" if bf16 is None else bf16


def autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager:
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def pad_batch(
    seqs: Sequence[Sequence[int]], masks: Sequence[Sequence[int]], pad_id: int, device: torch.device
) -> tuple[Tensor, Tensor, Tensor]:
    """Right-pad to ``(ids (B, T), attention (B, T), loss_mask (B, T))`` on ``device``."""
    if len(seqs) != len(masks) or not seqs:
        raise ValueError(f"need as many masks as sequences (>= 1), got {len(seqs)} and {len(masks)}")
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)  # (B, T)
    attn = torch.zeros((len(seqs), width), dtype=torch.long)  # (B, T)
    loss = torch.zeros((len(seqs), width), dtype=torch.long)  # (B, T)
    for i, (s, m) in enumerate(zip(seqs, masks)):
        if len(s) != len(m):
            raise ValueError(f"sequence {i} has {len(s)} ids but a loss mask of {len(m)}")
        ids[i, : len(s)] = torch.as_tensor(list(s), dtype=torch.long)
        attn[i, : len(s)] = 1
        loss[i, : len(s)] = torch.as_tensor(list(m), dtype=torch.long)
    return ids.to(device), attn.to(device), loss.to(device)


def pad_id_of(tokenizer: Any) -> int:
    for tid in (getattr(tokenizer, "pad_token_id", None), getattr(tokenizer, "eos_token_id", None)):
        if isinstance(tid, int):
            return tid
    return 0


def lr_lambda(schedule: str, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0):
    """Multiplier of the base lr at each step: linear warm-up, then constant or cosine decay."""
    import math

    def fn(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        if schedule == "constant":
            return 1.0
        span = max(1, total_steps - warmup_steps)
        progress = min(1.0, (step - warmup_steps) / span)
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    if schedule not in ("cosine", "constant"):
        raise ValueError(f"lr schedule must be 'cosine' or 'constant', got {schedule!r}")
    return fn


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def save_checkpoint(
    out_dir: str | os.PathLike[str], model: Any, tokenizer: Any, optimizer: Any, scheduler: Any, state: Mapping[str, Any]
) -> Path:
    """Write a resumable Hugging Face checkpoint (see the module docstring); returns its path."""
    path = Path(out_dir)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    if tokenizer is not None:
        tokenizer.save_pretrained(path)
    blob = {
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": _rng_state(),
        "state": dict(state),
    }
    torch.save(blob, path / STATE_FILE)
    (path / STATE_JSON).write_text(json.dumps(dict(state), indent=2, default=str) + "\n")
    return path


def load_checkpoint(path: str | os.PathLike[str], model: Any, optimizer: Any = None, scheduler: Any = None) -> dict[str, Any]:
    """Restore weights, optimizer, scheduler and RNG from :func:`save_checkpoint`; returns its state."""
    from transformers import AutoModelForCausalLM

    folder = Path(path)
    if not (folder / STATE_FILE).is_file() or not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} is not a resumable checkpoint (needs config.json and {STATE_FILE})")
    saved = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=next(model.parameters()).dtype)
    model.load_state_dict(saved.state_dict())
    blob = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=False)
    if optimizer is not None and blob["optimizer"] is not None:
        optimizer.load_state_dict(blob["optimizer"])
    if scheduler is not None and blob["scheduler"] is not None:
        scheduler.load_state_dict(blob["scheduler"])
    rng = blob["rng"]
    torch.set_rng_state(rng["torch"])
    random.setstate(rng["python"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    return dict(blob["state"])


class StepLog:
    """Progress bar + JSON metrics lines; a context manager so the bar always closes."""

    def __init__(self, *, total: int, initial: int, metrics_path: str | None, progress: bool, desc: str) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=total, initial=initial, disable=not progress, desc=desc, dynamic_ncols=True)
        self._path = metrics_path

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        if self._path:
            from retool.train.metrics import write_metrics_line

            write_metrics_line(self._path, step, {k: float(v) for k, v in metrics.items()})
        self._bar.update(1)
        shown = {k.split("/")[-1]: f"{v:.4g}" for k, v in metrics.items() if k in ("train/loss", "reward/mean", "train/lr")}
        self._bar.set_postfix(shown, refresh=False)

    def __enter__(self) -> StepLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.close()


def chunks(n: int, size: int | None) -> Iterator[slice]:
    size = n if not size else size
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))
