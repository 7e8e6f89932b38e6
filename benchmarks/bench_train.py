"""Train-step throughput: our SFT step against the plain Hugging Face step on the same batch.

Ours is :func:`retool.train.sft.sft_batch_loss` (loss-masked float32 cross-entropy) + backward +
AdamW; the baseline is ``model(..., labels=ids).loss`` + backward + AdamW, the reference step any
trainer is held to. The ratio (ours / plain, tokens/s) sits near 1: it gates what our loss path
costs over the reference, which is the part of a step this project owns, independently of how
fast the machine is.

- CPU: the tiny model (:func:`retool.embedded.models.tiny_model`) on 4 x 256 tokens, one intra-op thread.
- GPU (``-m gpu``): a ~100M-parameter Qwen3-shaped model in bf16 autocast on 8 x 1024 tokens;
  tokens/s against the plain step, and MFU = 6 * params * tokens / step time / the card's dense
  bf16 peak (H100, H200, A100 known; "unknown card" otherwise), with the card named.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from retool.harness.bench.train import (measure_train_step, measure_train_step_gpu, one_torch_thread, peak_bf16_flops,
                              train_step_fns)
from retool.embedded.models import tiny_model


def test_train_step_cpu_tokens_per_s_against_plain_hf_step(benchmark: Any, timing: bool, record_ratio: Any) -> None:
    seq_len = 256 if timing else 32
    result = record_ratio(measure_train_step(batch=4, seq_len=seq_len, rounds=10 if timing else 1))
    model, _ = tiny_model()
    ours, _ = train_step_fns(model, model.config.vocab_size, batch=4, seq_len=seq_len)
    with one_torch_thread():
        benchmark.pedantic(ours, rounds=10 if timing else 1, iterations=1)
    assert result.value > 0 and result.baseline > 0


def test_our_step_and_the_plain_step_train_the_same_way() -> None:
    # With an all-ones loss mask the two losses coincide, so the ratio compares like with like.
    from retool.train.sft import sft_batch_loss

    model, _ = tiny_model()
    ids = torch.randint(0, model.config.vocab_size, (2, 16), generator=torch.Generator().manual_seed(0))  # (B, T)
    attn = torch.ones_like(ids)  # (B, T)
    ours, _ = sft_batch_loss(model, ids, attn, torch.ones_like(ids))
    plain = model(input_ids=ids, attention_mask=attn, labels=ids).loss
    assert ours.item() == pytest.approx(plain.item(), rel=1e-5)


@pytest.mark.parametrize(("card", "known"), [("NVIDIA H100 80GB HBM3", True), ("NVIDIA H200", True),
                                             ("NVIDIA A100-SXM4-80GB", True), ("NVIDIA GeForce RTX 4090", False)])
def test_peak_flops_table_knows_the_datacentre_cards(card: str, known: bool) -> None:
    assert (peak_bf16_flops(card) is not None) == known


@pytest.mark.gpu
def test_train_step_gpu_tokens_per_s_and_mfu(benchmark: Any, timing: bool, record_ratio: Any) -> None:
    card = torch.cuda.get_device_name(0)
    results = measure_train_step_gpu(batch=8 if timing else 2, seq_len=1024 if timing else 128,
                                     rounds=10 if timing else 1)
    record_ratio(results[0])
    benchmark.extra_info["card"] = card
    mfu = results[1].ratio if len(results) > 1 else None
    benchmark.extra_info["mfu"] = mfu
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)  # the figures travel in extra_info
    print(f"\n{card}: {results[0].value:,.0f} tokens/s (plain HF step {results[0].baseline:,.0f}); "
          + (f"MFU {mfu:.1%} of {peak_bf16_flops(card) / 1e12:.0f} TFLOP/s bf16" if mfu is not None
             else "MFU: unknown card, no peak FLOP/s on file"))
    assert results[0].value > 0
