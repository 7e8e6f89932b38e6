"""CUDA twins of the CPU trainer tests (tests/unit/train/), in bf16 autocast."""

from __future__ import annotations

import pytest
import torch

from retool.data import read_jsonl, prepare_sft, sample_path
from retool.train.losses import GRPOConfig
from retool.text.masking import encode_sft
from retool.embedded.models import tiny_model
from retool.train.common import pad_batch
from retool.train.grpo import RLBatch, RLConfig, compute_logprobs, grpo_step
from retool.train.sft import SFTConfig, encode_examples, evaluate_sft_loss, sft_batch_loss, sft_train

pytestmark = pytest.mark.gpu  # skipped with the reason where CUDA is missing (conftest.py)


@pytest.fixture(scope="module")
def sft_records(tmp_path_factory):
    out = tmp_path_factory.mktemp("sft") / "sft.jsonl"
    prepare_sft(sample_path("retool_sft_sample.jsonl"), out)
    return read_jsonl(out)


def test_sft_bf16_on_cuda_lowers_the_loss(sft_records):
    model, tok = tiny_model(device="cuda")
    pairs = encode_examples(tok, sft_records)
    before = evaluate_sft_loss(model, tok, pairs)
    config = SFTConfig(lr=3e-3, lr_schedule="constant", batch_size=4, max_steps=12, epochs=50, progress=False, device="cuda")
    result = sft_train(model, tok, sft_records, config)
    after = evaluate_sft_loss(model, tok, pairs)
    assert next(model.parameters()).dtype == torch.float32  # master weights stay fp32 under bf16 autocast
    assert after < before - 1.0, (before, after)
    assert result.last_loss < result.first_loss


def test_sft_bf16_tool_tokens_get_exactly_zero_logit_gradient(sft_records):
    model, tok = tiny_model(device="cuda")
    enc = encode_sft(tok, sft_records[4]["messages"])
    kinds = [seg.kind for seg in enc.segments for _ in seg.ids]
    rows = [t - 1 for t, kind in enumerate(kinds) if kind == "tool"]
    ids, attn, mask = pad_batch([enc.ids], [enc.loss_mask], 0, torch.device("cuda"))
    loss, logits = sft_batch_loss(model, ids, attn, mask, bf16=True)
    assert logits.dtype == torch.bfloat16
    logits.retain_grad()
    loss.backward()
    assert torch.count_nonzero(logits.grad[0, rows]) == 0


def _batch(rewards):
    g = torch.Generator().manual_seed(0)
    prompt = torch.randint(5, 900, (12,), generator=g).tolist()
    toks, lens = [], []
    for i in range(len(rewards)):
        resp = torch.randint(5, 900, (10 + i,), generator=g).tolist()
        toks.append(tuple(prompt[: 12 - i] + resp))
        lens.append(len(resp))
    return RLBatch(tokens=tuple(toks), response_lengths=tuple(lens), loss_masks=tuple((1,) * n for n in lens),
                   rewards=tuple(rewards), group_ids=(0,) * len(rewards))


def test_grpo_bf16_step_on_cuda_moves_logprobs_with_the_advantage_sign():
    model, _ = tiny_model(device="cuda")
    batch = _batch([1.0, 0.0, 1.0, 0.0])
    before = compute_logprobs(model, batch, bf16=False).sum(-1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    grpo_step(model, None, batch, RLConfig(grpo=GRPOConfig(n_samples_per_prompt=4), lr=1e-3, device="cuda"), opt)
    delta = (compute_logprobs(model, batch, bf16=False).sum(-1) - before).cpu()
    assert delta[0] > 0 and delta[2] > 0 and delta[1] < 0 and delta[3] < 0, delta


def test_bf16_logprobs_on_cuda_stay_close_to_fp32_on_cpu():
    cpu_model, _ = tiny_model()
    gpu_model, _ = tiny_model(device="cuda")
    batch = _batch([1.0, 0.0])
    ref = compute_logprobs(cpu_model, batch)
    got = compute_logprobs(gpu_model, batch, bf16=True).cpu()
    assert (got - ref).abs().max().item() < 0.1
