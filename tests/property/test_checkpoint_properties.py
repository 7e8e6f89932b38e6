"""Property: conversion preserves the logits of any small Qwen3 architecture (GQA, tied or not)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retool.checkpoint import check, convert, megatron_args_from_hf

# each example saves an HF model, converts (~0.5 s) and runs both models (~0.5 s) on 2 CPU cores
MAX_EXAMPLES = 5


@st.composite
def small_qwen3_configs(draw):
    from transformers import Qwen3Config

    groups = draw(st.sampled_from([1, 2, 3]))
    heads_per_group = draw(st.sampled_from([1, 2, 4]))
    return Qwen3Config(
        vocab_size=draw(st.integers(64, 300)),
        hidden_size=draw(st.sampled_from([32, 48, 64])),
        intermediate_size=draw(st.sampled_from([16, 40, 96])),
        num_hidden_layers=draw(st.integers(1, 2)),
        num_attention_heads=groups * heads_per_group,
        num_key_value_heads=groups,
        head_dim=draw(st.sampled_from([8, 16])),
        rms_norm_eps=draw(st.sampled_from([1e-6, 1e-5])),
        tie_word_embeddings=draw(st.booleans()),
        rope_parameters={"rope_type": "default", "rope_theta": draw(st.sampled_from([1e4, 1e6, 5e6]))},
        max_position_embeddings=512,
        attention_dropout=0.0,
    )


@pytest.mark.timeout(240)
@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning", "ignore::DeprecationWarning")
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=small_qwen3_configs(), seed=st.integers(0, 2**16))
def test_conversion_preserves_logits_of_small_architectures(config, seed):
    from transformers import Qwen3ForCausalLM

    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config).eval()
    with tempfile.TemporaryDirectory() as tmp:
        hf_dir, out_dir = Path(tmp) / "hf", Path(tmp) / "megatron"
        model.save_pretrained(hf_dir)
        report = convert(hf_dir, out_dir)
        assert report.args == megatron_args_from_hf(config)
        result = check(hf_dir, out_dir, tokens=torch.randint(0, config.vocab_size, (2, 24)), atol=1e-4)
    assert result.ok, result.failures
