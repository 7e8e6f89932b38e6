"""megatron-core on a CPU-only host: the redirects, and single-process setup that can repeat."""

from __future__ import annotations

import importlib

import pytest
import torch
import torch.distributed as dist

from retool.checkpoint import megatron_cpu
from retool.checkpoint.megatron_cpu import (
    CPU_REDIRECTED_MODULES,
    ensure_cpu_compat,
    init_single_process,
    megatron_session,
    restore_cuda_paths,
    teardown_single_process,
)
from tests.capabilities import requires_megatron, requires_no_cuda

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    requires_megatron,
    requires_no_cuda,  # CPU-only behaviour; the CUDA twin is tests/gpu/test_checkpoint_gpu.py
]


@pytest.fixture(autouse=True)
def _no_leftover_group():
    yield
    teardown_single_process()
    assert not dist.is_initialized()


def test_redirected_modules_see_the_cpu_as_current_device():
    assert ensure_cpu_compat() is True
    for name in CPU_REDIRECTED_MODULES:
        module_torch = importlib.import_module(name).torch
        assert module_torch.cuda.current_device() == torch.device("cpu")
        assert module_torch.cuda.synchronize() is None
        assert module_torch.Tensor is torch.Tensor  # everything else is the real torch


def test_global_torch_is_left_alone():
    ensure_cpu_compat()
    with pytest.raises((AssertionError, RuntimeError)):
        torch.cuda.current_device()


def test_ensure_is_idempotent_and_restore_undoes_it():
    ensure_cpu_compat()
    ensure_cpu_compat()
    restore_cuda_paths()
    for name in CPU_REDIRECTED_MODULES:
        assert importlib.import_module(name).torch is torch
    assert not megatron_cpu.cpu_compat_active()
    ensure_cpu_compat()
    assert megatron_cpu.cpu_compat_active()


def test_rng_tracker_forks_on_cpu():
    from megatron.core import tensor_parallel

    ensure_cpu_compat()
    with tensor_parallel.get_cuda_rng_tracker().fork():
        sample = torch.rand(3)  # (3,)
    assert sample.shape == (3,)


def test_session_can_be_entered_repeatedly():
    from megatron.core import parallel_state

    for _ in range(2):
        with megatron_session():
            assert dist.get_world_size() == 1 and parallel_state.model_parallel_is_initialized()
        assert not dist.is_initialized() and not parallel_state.model_parallel_is_initialized()


def test_nested_session_keeps_the_outer_group():
    with megatron_session():
        with megatron_session():
            init_single_process()
        assert dist.is_initialized()
    assert not dist.is_initialized()


def test_teardown_leaves_a_group_it_did_not_create():
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        init_single_process()
        teardown_single_process()
        assert dist.is_initialized()
    finally:
        dist.destroy_process_group()


def test_tiny_gpt_model_runs_forward_and_backward_on_cpu():
    from retool.checkpoint import build_gpt_model, megatron_args_from_hf, megatron_logits
    from retool.embedded.models import tiny_qwen3_config

    args = megatron_args_from_hf(tiny_qwen3_config(256))
    with megatron_session():
        model = build_gpt_model(args)
        for param in model.parameters():
            torch.nn.init.normal_(param, std=0.02)
        ids = torch.randint(0, 256, (2, 12))  # (B, T)
        positions = torch.arange(12).unsqueeze(0).expand(2, -1)  # (B, T)
        mask = torch.triu(torch.ones(12, 12, dtype=torch.bool), diagonal=1)[None, None]  # (1, 1, T, T)
        logits = model(ids, positions, attention_mask=mask)  # (B, T, V)
        logits.float().logsumexp(-1).mean().backward()
        assert megatron_logits(model, ids).shape == (2, 12, 256)
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)
