"""Train-step measurements (retool.harness.bench.train): the two step functions, the thread guard,
the card peak table and the CPU measurement on the tiny model (small sizes, no timing assertions)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from retool.embedded.models import tiny_model
from retool.harness.bench.train import (
    measure_train_step,
    measure_train_step_gpu,
    one_torch_thread,
    peak_bf16_flops,
    train_step_fns,
)
from tests.capabilities import requires_no_cuda


@pytest.mark.parametrize(("name", "peak"), [
    ("NVIDIA H200", 989e12),
    ("NVIDIA H100 PCIe", 756e12),
    ("NVIDIA H100 NVL", 835e12),
    ("NVIDIA H100 80GB HBM3", 989e12),
    ("NVIDIA A100-SXM4-80GB", 312e12),
])
def test_peak_bf16_flops_finds_the_card_by_name_fragment(name: str, peak: float) -> None:
    assert peak_bf16_flops(name) == peak


def test_peak_bf16_flops_is_none_for_an_unknown_card() -> None:
    assert peak_bf16_flops("Tesla T4") is None


def test_one_torch_thread_sets_one_thread_and_restores_the_count() -> None:
    before = torch.get_num_threads()
    with one_torch_thread():
        inside = torch.get_num_threads()
    assert (inside, torch.get_num_threads()) == (1, before)


def test_one_torch_thread_restores_the_count_when_the_body_raises() -> None:
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="boom"), one_torch_thread():
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


@pytest.fixture(scope="module")
def model() -> Any:
    return tiny_model()[0]


def _snapshot(model: Any) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("side", ["ours", "plain"])
def test_each_step_function_takes_one_optimizer_step(model: Any, side: str) -> None:
    ours, plain = train_step_fns(model, model.config.vocab_size, batch=1, seq_len=8)
    before = _snapshot(model)
    (ours if side == "ours" else plain)()
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    assert all(p.grad is None for p in model.parameters())  # zeroed (set to None) after the step


def test_train_step_fns_put_the_model_in_train_mode(model: Any) -> None:
    model.eval()
    train_step_fns(model, model.config.vocab_size, batch=1, seq_len=8)
    assert model.training


def test_measure_train_step_returns_ours_over_the_plain_step() -> None:
    r = measure_train_step(batch=1, seq_len=16, rounds=1)
    assert (r.name, r.group, r.unit) == ("train_step_cpu_tokens_per_s", "train", "tokens/s")
    assert r.ratio == pytest.approx(r.value / r.baseline)


@requires_no_cuda  # checks the refusal where no CUDA device exists
def test_measure_train_step_gpu_refuses_without_cuda() -> None:
    with pytest.raises(RuntimeError, match="needs a CUDA device"):
        measure_train_step_gpu(rounds=1)
