"""Masks in the retool-code dialect on the real Qwen3 tokenizer: ``</code>``, ``<interpreter>`` and
``</interpreter>`` are not special tokens there, so BPE could merge across a model/tool boundary if
the joined text were tokenized; built from token segments, no byte ever crosses."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from retool.text.masking import TokenSegment, build_ids_and_mask, joint_tokenization_differs, verify_loss_mask
from retool.text.native import format_code_block, interpreter_text
from tests.strategies.masking import native_trajectory_texts

PROMPT = "<|im_start|>user\nSolve it.<|im_end|>\n<|im_start|>assistant\n"
NATIVE = "retool-code"


def _enc(tok, text: str) -> tuple[int, ...]:
    return tuple(tok(text, add_special_tokens=False)["input_ids"])


def _segments(tok, pieces) -> list[TokenSegment]:
    segs = [TokenSegment("prompt", _enc(tok, PROMPT))]
    for kind, value in pieces:
        text = interpreter_text(value) if kind == "tool" else value
        segs.append(TokenSegment("tool" if kind == "tool" else "model", _enc(tok, text)))
    return segs


def _runs(ids, mask, start):
    runs, i = [], start
    while i < len(ids):
        j = i
        while j < len(ids) and mask[j] == mask[i]:
            j += 1
        runs.append((mask[i], i, j))
        i = j
    return runs


@given(native_trajectory_texts())
def test_every_model_byte_is_in_mask_1_and_every_tool_byte_in_mask_0(qwen3_tokenizer, pieces):
    tok = qwen3_tokenizer
    segs = _segments(tok, pieces)
    ids, mask = build_ids_and_mask(segs)
    decoded = {1: [], 0: []}
    for value, start, end in _runs(ids, mask, len(segs[0].ids)):
        decoded[value].append(tok.decode(list(ids[start:end]), skip_special_tokens=False))
    model = "".join(v for k, v in pieces if k == "model")
    tool = "".join(interpreter_text(v) for k, v in pieces if k == "tool")
    assert "".join(decoded[1]) == unicodedata.normalize("NFC", model)
    assert "".join(decoded[0]) == unicodedata.normalize("NFC", tool)


@given(native_trajectory_texts())
def test_a_native_trajectory_passes_the_native_mask_check(qwen3_tokenizer, pieces):
    segs = _segments(qwen3_tokenizer, pieces)
    ids, mask = build_ids_and_mask(segs)
    assert verify_loss_mask(ids, mask, qwen3_tokenizer, len(segs[0].ids), "retool-code").ok


@given(native_trajectory_texts(max_turns=3).filter(lambda p: len(p) > 1), st.data())
def test_a_tool_turn_left_in_the_loss_is_caught(qwen3_tokenizer, pieces, data):
    segs = _segments(qwen3_tokenizer, pieces)
    tools = [k for k, s in enumerate(segs) if s.kind == "tool"]
    leaked = data.draw(st.sampled_from(tools))
    segs[leaked] = TokenSegment("model", segs[leaked].ids)
    ids, mask = build_ids_and_mask(segs)
    check = verify_loss_mask(ids, mask, qwen3_tokenizer, len(segs[0].ids), NATIVE)
    assert not check.ok and "<interpreter>" in check.reason


@given(native_trajectory_texts(max_turns=2))
def test_the_final_end_of_turn_masked_0_is_caught(qwen3_tokenizer, pieces):
    tok = qwen3_tokenizer
    segs = _segments(tok, pieces)
    final = segs[-1]
    end = _enc(tok, "<|im_end|>")
    assert final.ids[-len(end):] == end
    segs[-1:] = [TokenSegment("model", final.ids[: -len(end)]), TokenSegment("tool", end)]
    ids, mask = build_ids_and_mask(segs)
    check = verify_loss_mask(ids, mask, tok, len(segs[0].ids), NATIVE)
    assert not check.ok and "end of turn" in check.reason


def test_a_model_word_masked_0_is_caught(qwen3_tokenizer):
    tok = qwen3_tokenizer
    pieces = [("model", "I will multiply.\n\n" + format_code_block("print(6 * 7)")), ("tool", ["42"]),
              ("model", "So the product is \\boxed{42}.<|im_end|>")]
    segs = _segments(tok, pieces)
    ids, mask = build_ids_and_mask(segs)
    word = len(segs[0].ids) + 1  # a token inside "I will multiply."
    mask[word] = 0
    check = verify_loss_mask(ids, mask, tok, len(segs[0].ids), NATIVE)
    assert not check.ok and "non-tool text" in check.reason


def test_the_joined_text_tokenizes_across_the_code_interpreter_boundary(qwen3_tokenizer):
    """Why segments: re-tokenizing model + tool text merges across ``</code>`` + ``\\n\\n<interpreter>``."""
    model = "Check:\n\n" + format_code_block("print(1)")
    assert joint_tokenization_differs(qwen3_tokenizer, [model, interpreter_text(["1"]), "So \\boxed{1}."])


def test_the_qwen3_mask_rule_does_not_accept_a_native_trajectory_by_accident(qwen3_tokenizer):
    pieces = [("model", format_code_block("print(2)")), ("tool", ["2"]), ("model", "\\boxed{2}<|im_end|>")]
    segs = _segments(qwen3_tokenizer, pieces)
    ids, mask = build_ids_and_mask(segs)
    assert not verify_loss_mask(ids, mask, qwen3_tokenizer, len(segs[0].ids)).ok
