"""Train-step throughput measurements: our SFT step against the plain Hugging Face step.

Contract:
- :func:`train_step_fns` builds ``(ours, plain)``, one optimizer step each on the same random batch
  on the model's device. Ours: :func:`retool.train.sft.sft_batch_loss` (masked float32 CE) +
  backward + AdamW; plain: the Hugging Face ``labels=`` loss + backward + AdamW, the reference any
  trainer is held to. Both synchronise CUDA before returning, so a timer sees the whole step.
- :func:`measure_train_step`: tokens/s on the tiny model on CPU (one intra-op thread,
  :func:`one_torch_thread`), ours over plain: a ratio near 1.
- :func:`measure_train_step_gpu`: on CUDA (``RuntimeError`` without it), a ~100M-parameter
  Qwen3-shaped model (:data:`GPU_BENCH_MODEL`) in bf16 autocast: tokens/s ours over plain and,
  on a card named in :data:`PEAK_BF16_FLOPS` (:func:`peak_bf16_flops`), MFU as achieved FLOP/s
  over the card's dense bf16 peak.
- Timed with :func:`retool.harness.bench.workloads.best_seconds`; re-exported by :mod:`retool.cli.bench`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from retool.harness.bench.results import BenchResult, make_result
from retool.harness.bench.workloads import best_seconds


# Dense bf16 tensor-core peak FLOP/s by card-name fragment (vendor datasheets, without sparsity);
# the first fragment found in torch.cuda.get_device_name() wins.
PEAK_BF16_FLOPS: tuple[tuple[str, float], ...] = (
    ("H200", 989e12), ("H100 PCIe", 756e12), ("H100 NVL", 835e12), ("H100", 989e12), ("A100", 312e12),
)
GPU_BENCH_MODEL = {"num_layers": 8, "hidden_size": 1024, "intermediate_size": 2816, "num_attention_heads": 16,
                   "num_key_value_heads": 8, "head_dim": 64}


def peak_bf16_flops(device_name: str) -> float | None:
    """The card's dense bf16 peak, or None for an unknown card (then no MFU is reported)."""
    return next((peak for fragment, peak in PEAK_BF16_FLOPS if fragment in device_name), None)


def train_step_fns(model: Any, vocab_size: int, *, batch: int, seq_len: int, bf16: bool = False
                   ) -> tuple[Callable[[], None], Callable[[], None]]:
    """``(ours, plain)`` one optimizer step each on the same random batch on the model's device.
    Ours: :func:`retool.train.sft.sft_batch_loss` (masked float32 CE) + backward + AdamW; plain:
    the Hugging Face ``labels=`` loss + backward + AdamW, the reference any trainer is held to."""
    import torch

    from retool.train.common import autocast
    from retool.train.sft import sft_batch_loss

    device = next(model.parameters()).device
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab_size, (batch, seq_len), generator=gen).to(device)  # (B, T)
    attn = torch.ones_like(ids)  # (B, T)
    loss_mask = (torch.arange(seq_len, device=device) >= seq_len // 4).expand(batch, seq_len).long()  # (B, T)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def ours() -> None:
        loss, _ = sft_batch_loss(model, ids, attn, loss_mask, bf16=bf16)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync()

    def plain() -> None:
        with autocast(device, bf16):
            loss = model(input_ids=ids, attention_mask=attn, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync()

    return ours, plain


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """One intra-op thread for the duration: more oversubscribe a small shared box and swamp a
    CPU ratio with scheduling noise."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def measure_train_step(*, batch: int = 4, seq_len: int = 256, rounds: int = 5) -> BenchResult:
    """Tokens/s of our SFT step on the tiny model on CPU (one intra-op thread) against the plain HF
    step on the same batch: a ratio near 1, what our loss path costs over the reference."""
    from retool.embedded.models import tiny_model

    with one_torch_thread():
        model, _ = tiny_model()
        ours_s, plain_s = best_seconds(train_step_fns(model, model.config.vocab_size, batch=batch, seq_len=seq_len), rounds)
    n = batch * seq_len
    return make_result(name="train_step_cpu_tokens_per_s", group="train", value=n / ours_s, baseline=n / plain_s,
                       unit="tokens/s")


def measure_train_step_gpu(*, batch: int = 8, seq_len: int = 1024, rounds: int = 10) -> list[BenchResult]:
    """On CUDA, a ~100M-parameter Qwen3-shaped model (:data:`GPU_BENCH_MODEL`, tiny vocabulary) in
    bf16 autocast: our step's tokens/s against the plain HF step, and MFU = 6 * params * tokens /
    step time / the card's bf16 peak (reported as value = achieved FLOP/s, baseline = peak)."""
    import torch

    from retool.embedded.models import TinyModelConfig, build_tiny_model
    from retool.embedded.tokenizer import tiny_tokenizer

    if not torch.cuda.is_available():
        raise RuntimeError("measure_train_step_gpu needs a CUDA device; none is available")
    name = torch.cuda.get_device_name(0)
    vocab = len(tiny_tokenizer())
    model = build_tiny_model(vocab, TinyModelConfig(**GPU_BENCH_MODEL)).to("cuda")
    n_params = sum(p.numel() for p in model.parameters())
    ours_s, plain_s = best_seconds(train_step_fns(model, vocab, batch=batch, seq_len=seq_len, bf16=True), rounds)
    n = batch * seq_len
    out = [make_result(name="train_step_gpu_tokens_per_s", group="train", value=n / ours_s, baseline=n / plain_s,
                       unit=f"tokens/s on {name}")]
    peak = peak_bf16_flops(name)
    if peak is not None:
        out.append(make_result(name="train_step_gpu_mfu", group="train", value=6 * n_params * n / ours_s,
                               baseline=peak, unit=f"FLOP/s of the bf16 peak on {name}"))
    return out
