"""Shared real checkpoints for the conversion and parity tests, built once per package run.

A tiny random Qwen3 saved in HF format and its megatron-core conversions (right rope base and a
forced wrong one), plus their check reports. Every fixture that needs megatron-core skips, with
the reason, where it is not installed; the pure tests of these folders run without it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

VOCAB = 1000  # not a multiple of 128: exercises the padded embedding rows
MEGATRON_MISSING = "needs megatron-core (pip install megatron-core==0.16.1): importlib.util.find_spec('megatron') is None"


def save_hf(folder: Path, *, seed: int = 0, dtype: torch.dtype = torch.float32, **overrides) -> Path:
    """A tiny random Qwen3 (vocab ``VOCAB``) saved as an HF model dir."""
    from transformers import Qwen3ForCausalLM

    from retool.embedded.models import tiny_qwen3_config

    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(tiny_qwen3_config(VOCAB, **overrides)).to(dtype)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="package")
def workdir(tmp_path_factory) -> Path:
    if importlib.util.find_spec("megatron") is None:
        pytest.skip(MEGATRON_MISSING)
    return tmp_path_factory.mktemp("checkpoint")


@pytest.fixture(scope="package")
def hf_dir(workdir) -> Path:
    return save_hf(workdir / "hf")


@pytest.fixture(scope="package")
def good_dir(workdir, hf_dir) -> Path:
    from retool.checkpoint import convert

    convert(hf_dir, workdir / "megatron")
    return workdir / "megatron"


@pytest.fixture(scope="package")
def wrong_base_dir(workdir, hf_dir) -> Path:
    from retool.checkpoint import convert

    convert(hf_dir, workdir / "megatron-1e6", rotary_base=1_000_000, force=True)
    return workdir / "megatron-1e6"


@pytest.fixture(scope="package")
def good_report(hf_dir, good_dir):
    from retool.checkpoint import check

    return check(hf_dir, good_dir)


@pytest.fixture(scope="package")
def wrong_base_report(hf_dir, wrong_base_dir):
    from retool.checkpoint import check

    return check(hf_dir, wrong_base_dir)
