"""Masking throughput on the real Qwen3 tokenizer: token-in/token-out against re-tokenization.

Workload: :func:`retool.harness.bench.workloads.masking_workload`, rollout-shaped trajectories (a chat prompt
with the tools system prompt, 1-4 model turns each ending in a tool call, tool turns, a boxed
answer) held as token segments, and their decoded response text. Ours:
:func:`retool.text.masking.build_ids_and_mask` + :func:`retool.text.masking.verify_loss_mask` on the
segments. Baseline (the field's approach, :func:`retool.harness.bench.workloads.naive_mask`): split the decoded
response at tool turns, re-tokenize each piece, mask the tool pieces. Ratio: ours / baseline in
tokens/s. The last test shows the baseline is also not token-faithful.
"""

from __future__ import annotations

from typing import Any

import pytest

from retool.harness.bench.workloads import masking_workload, measure_masking, naive_mask
from retool.text.masking import TokenSegment, build_ids_and_mask, verify_loss_mask
from retool.embedded.tokenizer import load_qwen3_tokenizer


@pytest.fixture(scope="module")
def qwen3() -> Any:
    return load_qwen3_tokenizer()


def test_masking_tokens_per_s_against_retokenizing(benchmark: Any, timing: bool, record_ratio: Any, qwen3: Any) -> None:
    n = 32 if timing else 3
    result = record_ratio(measure_masking(n_trajectories=n, rounds=5 if timing else 1, tokenizer=qwen3))
    work = masking_workload(qwen3, n)

    def ours() -> list[bool]:
        return [verify_loss_mask(*build_ids_and_mask(segs), qwen3, plen).ok for segs, plen, _ in work]

    assert all(benchmark.pedantic(ours, rounds=5 if timing else 1, iterations=1))
    assert result.ratio > 0


def test_retokenizing_agrees_with_segments_on_the_benign_workload(qwen3: Any) -> None:
    for segs, _, response in masking_workload(qwen3, 4, seed=1):
        assert naive_mask(qwen3, segs[0].ids, response) == build_ids_and_mask(segs)


def test_retokenizing_changes_the_ids_the_model_sampled(qwen3: Any) -> None:
    # The model sampled "hel" and "lo" as separate tokens; decoded and re-tokenized they merge.
    two, three = (tuple(qwen3.encode(t, add_special_tokens=False)) for t in ("hel", "lo"))
    prompt = tuple(qwen3.encode("<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n", add_special_tokens=False))
    segs = (TokenSegment("prompt", prompt), TokenSegment("model", two), TokenSegment("model", three))
    ids, _ = build_ids_and_mask(segs)
    response = qwen3.decode(list(two + three), skip_special_tokens=False)
    retokenized, _ = naive_mask(qwen3, prompt, response)
    assert retokenized != ids and len(retokenized) < len(ids)
