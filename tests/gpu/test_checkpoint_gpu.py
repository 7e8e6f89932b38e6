"""CUDA twin of tests/unit/checkpoint/: conversion parity, the rotary-base check and the way back on a GPU.

Skipped with a reason where CUDA (the repository's conftest.py) or megatron-core is missing. The converted checkpoint is written
from CPU tensors as on any host; both models then run on the CUDA device in float32.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch

from retool.checkpoint import CheckReport, check, convert, export
from retool.checkpoint.megatron_cpu import CPU_REDIRECTED_MODULES, ensure_cpu_compat
from retool.embedded.models import tiny_qwen3_config
from tests.capabilities import requires_megatron

pytestmark = [pytest.mark.gpu, requires_megatron, pytest.mark.timeout(300), pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]

VOCAB = 1000


def _save_hf(folder: Path, *, seed: int = 0, dtype: torch.dtype = torch.float32) -> Path:
    from transformers import Qwen3ForCausalLM

    torch.manual_seed(seed)
    Qwen3ForCausalLM(tiny_qwen3_config(VOCAB)).to(dtype).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("checkpoint-gpu")


@pytest.fixture(scope="module")
def hf_dir(workdir) -> Path:
    return _save_hf(workdir / "hf")


@pytest.fixture(scope="module")
def good_report(workdir, hf_dir) -> CheckReport:
    convert(hf_dir, workdir / "megatron")
    return check(hf_dir, workdir / "megatron", device="cuda")


@pytest.fixture(scope="module")
def wrong_base_report(workdir, hf_dir) -> CheckReport:
    convert(hf_dir, workdir / "megatron-1e6", rotary_base=1_000_000, force=True)
    return check(hf_dir, workdir / "megatron-1e6", device="cuda")


def test_cpu_redirects_stay_off_where_cuda_is_present():
    assert ensure_cpu_compat() is False
    for name in CPU_REDIRECTED_MODULES:
        assert importlib.import_module(name).torch is torch


def test_converted_checkpoint_reproduces_hf_logits_on_cuda(good_report):
    assert good_report.logits is not None and good_report.logits.device == "cuda"
    print(f"\n[{torch.cuda.get_device_name(0)}] parity max |diff| {good_report.logits.max_abs_diff:.3g}")
    assert good_report.ok, good_report.failures


def test_wrong_base_is_caught_on_cuda(wrong_base_report):
    assert "rotary base 1000000 != rope_theta 5000000: generations will be garbled" in wrong_base_report.failures
    logits = wrong_base_report.logits
    assert logits is not None and not logits.ok and logits.max_abs_diff > 10 * logits.atol
    print(f"\n[{torch.cuda.get_device_name(0)}] wrong base max |diff| {logits.max_abs_diff:.3g}")


def test_bf16_weights_keep_parity_on_cuda(workdir):
    hf = _save_hf(workdir / "hf-bf16", seed=3, dtype=torch.bfloat16)
    report = convert(hf, workdir / "megatron-bf16")
    assert report.args.params_dtype == "bfloat16"
    result = check(hf, workdir / "megatron-bf16", device="cuda")
    assert result.ok, result.failures


def test_a_cuda_host_writes_the_release_layout_and_exports_back_bit_for_bit(workdir, hf_dir, good_report):
    from safetensors.torch import load_file

    root = workdir / "megatron"  # written by the good_report fixture with the real CUDA save path
    assert (root / "latest_checkpointed_iteration.txt").read_text() == "release"
    export(root, workdir / "hf-back", like=hf_dir)
    original, back = load_file(str(hf_dir / "model.safetensors")), load_file(str(workdir / "hf-back" / "model.safetensors"))
    assert set(original) == set(back)
    assert all(original[k].dtype == back[k].dtype and torch.equal(original[k], back[k]) for k in original)
