"""Tiny random Qwen3 models saved as HF dirs and the megatron-core skip, for the checkpoint tests (not a test module)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

MEGATRON_MISSING = "needs megatron-core (pip install megatron-core==0.16.1): importlib.util.find_spec('megatron') is None"
needs_megatron = pytest.mark.skipif(importlib.util.find_spec("megatron") is None, reason=MEGATRON_MISSING)

VOCAB = 1000  # not a multiple of 128: exercises the padded embedding rows


def save_hf(folder: Path, *, seed: int = 0, dtype: torch.dtype = torch.float32, **overrides) -> Path:
    """A tiny random Qwen3 (vocab ``VOCAB``, ``tiny_qwen3_config`` overrides) saved as an HF model dir."""
    from transformers import Qwen3ForCausalLM

    from retool.embedded.models import tiny_qwen3_config

    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(tiny_qwen3_config(VOCAB, **overrides)).to(dtype)
    model.save_pretrained(folder)
    return folder
