"""Tiny random Qwen3 models saved as HF dirs, for the checkpoint tests (not a test module). The
megatron-core skip is ``tests.capabilities.requires_megatron`` / ``skip_unless_megatron``."""

from __future__ import annotations

from pathlib import Path

import torch

VOCAB = 1000  # not a multiple of 128: exercises the padded embedding rows


def save_hf(folder: Path, *, seed: int = 0, dtype: torch.dtype = torch.float32, **overrides) -> Path:
    """A tiny random Qwen3 (vocab ``VOCAB``, ``tiny_qwen3_config`` overrides) saved as an HF model dir."""
    from transformers import Qwen3ForCausalLM

    from retool.embedded.models import tiny_qwen3_config

    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(tiny_qwen3_config(VOCAB, **overrides)).to(dtype)
    model.save_pretrained(folder)
    return folder
