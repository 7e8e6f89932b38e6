"""Masks on random trajectories tokenized by the real Qwen3 tokenizer stay exact."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from retool.text.grammar import tool_turn_text
from retool.text.masking import TokenSegment, build_ids_and_mask, verify_loss_mask
from tests.strategies.masking import trajectory_texts

PROMPT = "<|im_start|>user\nSolve it.<|im_end|>\n<|im_start|>assistant\n"


def _segments(tok, pieces):
    enc = lambda t: tuple(tok(t, add_special_tokens=False)["input_ids"])  # noqa: E731
    segs = [TokenSegment("prompt", enc(PROMPT))]
    for kind, value in pieces:
        segs.append(TokenSegment("tool", enc(tool_turn_text(value))) if kind == "tool" else TokenSegment("model", enc(value)))
    return segs


@given(trajectory_texts())
def test_mask_is_one_exactly_on_model_tokens(qwen3_tokenizer, pieces):
    segs = _segments(qwen3_tokenizer, pieces)
    ids, mask = build_ids_and_mask(segs)
    assert len(ids) == len(mask)
    pos = 0
    for seg in segs:
        assert mask[pos : pos + len(seg.ids)] == [1 if seg.kind == "model" else 0] * len(seg.ids)
        pos += len(seg.ids)
    assert verify_loss_mask(ids, mask, qwen3_tokenizer, len(segs[0].ids)).ok


@given(trajectory_texts())
def test_decoding_the_model_spans_gives_back_the_model_text(qwen3_tokenizer, pieces):
    segs = _segments(qwen3_tokenizer, pieces)
    model_texts = [v for k, v in pieces if k == "model"]
    decoded = [qwen3_tokenizer.decode(list(s.ids), skip_special_tokens=False) for s in segs if s.kind == "model"]
    assert decoded == [unicodedata.normalize("NFC", t) for t in model_texts]


@given(trajectory_texts(), st.integers(min_value=0, max_value=5000))
def test_masks_survive_truncation_at_any_point(qwen3_tokenizer, pieces, cut):
    segs = _segments(qwen3_tokenizer, pieces)
    ids, mask = build_ids_and_mask(segs)
    n = len(segs[0].ids) + cut % (len(ids) - len(segs[0].ids) + 1)
    truncated, kept = [], n
    for seg in segs:
        truncated.append(TokenSegment(seg.kind, seg.ids[: max(kept, 0)]))
        kept -= len(seg.ids)
    t_ids, t_mask = build_ids_and_mask(truncated)
    assert (t_ids, t_mask) == (ids[:n], mask[:n])
    assert verify_loss_mask(t_ids, t_mask, qwen3_tokenizer, len(segs[0].ids)).ok


@given(st.lists(st.sampled_from(["hel", "lo", " wor", "ld", "12", "34", "==", "=", "\n", "  ", "ing", "print", "("]), min_size=2, max_size=8))
def test_segment_ids_never_drift_while_retokenizing_can(qwen3_tokenizer, pieces):
    # Token-in/token-out keeps the sampled ids; a re-tokenized decode may merge across pieces.
    sampled = [i for p in pieces for i in qwen3_tokenizer(p, add_special_tokens=False)["input_ids"]]
    ids, mask = build_ids_and_mask([TokenSegment("model", tuple(sampled))])
    assert ids == sampled and mask == [1] * len(sampled)
    retokenized = qwen3_tokenizer(qwen3_tokenizer.decode(sampled), add_special_tokens=False)["input_ids"]
    assert qwen3_tokenizer.decode(retokenized) == qwen3_tokenizer.decode(sampled)


def test_retokenizing_drifts_on_a_known_split(qwen3_tokenizer):
    sampled = [i for p in ("hel", "lo", " wor", "ld") for i in qwen3_tokenizer(p, add_special_tokens=False)["input_ids"]]
    retokenized = qwen3_tokenizer(qwen3_tokenizer.decode(sampled), add_special_tokens=False)["input_ids"]
    assert len(retokenized) < len(sampled)
