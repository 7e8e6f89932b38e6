"""Loss masks: exact ids and masks on a multi-turn example, the prefix check, verify_loss_mask."""

from __future__ import annotations

import copy

import pytest

from retool.text.grammar import format_tool_call, tool_turn_text
from retool.text.masking import (
    TemplateNotPrefixPreserving,
    TokenSegment,
    build_ids_and_mask,
    encode_sft,
    joint_tokenization_differs,
    verify_loss_mask,
)

CALL = {"type": "function", "function": {"name": "code_interpreter", "arguments": {"code": "print(6*7)"}}}
CONVERSATION = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is 6*7?"},
    {"role": "assistant", "content": "Let me compute.", "tool_calls": [CALL]},
    {"role": "tool", "content": "42"},
    {"role": "assistant", "content": "The answer is \\boxed{42}."},
]


def _decode_runs(tok, ids, mask, value):
    runs, current = [], []
    for i, m in zip(ids, mask):
        if m == value:
            current.append(i)
        elif current:
            runs.append(tok.decode(current, skip_special_tokens=False))
            current = []
    if current:
        runs.append(tok.decode(current, skip_special_tokens=False))
    return runs


def test_build_ids_and_mask_marks_only_model_segments():
    segs = [TokenSegment("prompt", (1, 2)), TokenSegment("model", (3,)), TokenSegment("tool", (4, 5)), TokenSegment("model", (6, 7))]
    assert build_ids_and_mask(segs) == ([1, 2, 3, 4, 5, 6, 7], [0, 0, 1, 0, 0, 1, 1])


def test_unknown_segment_kind_is_rejected_with_its_name():
    with pytest.raises(ValueError, match="'assistant'"):
        TokenSegment("assistant", (1,))


def test_sft_multi_turn_mask_is_exact_on_qwen3(qwen3_tokenizer):
    ex = encode_sft(qwen3_tokenizer, CONVERSATION)
    assert _decode_runs(qwen3_tokenizer, ex.ids, ex.loss_mask, 1) == [
        'Let me compute.\n<tool_call>\n{"name": "code_interpreter", "arguments": {"code": "print(6*7)"}}\n</tool_call><|im_end|>',
        "<think>\n\n</think>\n\nThe answer is \\boxed{42}.<|im_end|>",
    ]
    zero_runs = _decode_runs(qwen3_tokenizer, ex.ids, ex.loss_mask, 0)
    assert zero_runs[1] == "\n<|im_start|>user\n<tool_response>\n42\n</tool_response><|im_end|>\n<|im_start|>assistant\n"
    assert zero_runs[2] == "\n"
    assert zero_runs[0].endswith("<|im_start|>user\nWhat is 6*7?<|im_end|>\n<|im_start|>assistant\n")
    assert qwen3_tokenizer.decode(list(ex.ids), skip_special_tokens=False) == ex.text


def test_sft_masks_agree_between_qwen3_and_tiny_tokenizers(qwen3_tokenizer, tiny_tok):
    a, b = encode_sft(qwen3_tokenizer, CONVERSATION), encode_sft(tiny_tok, CONVERSATION)
    assert a.text == b.text
    assert [s.kind for s in a.segments] == [s.kind for s in b.segments] == ["prompt", "model", "tool", "model", "prompt"]


def test_sft_rejects_a_template_that_is_not_prefix_preserving(tiny_tok):
    tok = copy.deepcopy(tiny_tok)
    # A template that writes the number of messages first re-renders every earlier turn.
    tok.chat_template = (
        "{{ messages|length }} messages\n{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    conversation = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    with pytest.raises(TemplateNotPrefixPreserving, match="message 1 .*char 0"):
        encode_sft(tok, conversation, tools=())


def test_sft_without_assistant_message_is_an_error(tiny_tok):
    with pytest.raises(ValueError, match="no assistant message"):
        encode_sft(tiny_tok, [{"role": "user", "content": "hi"}])


def test_verify_accepts_a_correct_sft_mask(qwen3_tokenizer):
    ex = encode_sft(qwen3_tokenizer, CONVERSATION)
    assert verify_loss_mask(ex.ids, ex.loss_mask, qwen3_tokenizer, ex.prompt_len).ok


def test_verify_names_the_span_where_tool_output_leaks_into_the_loss(qwen3_tokenizer):
    ex = encode_sft(qwen3_tokenizer, CONVERSATION)
    leaked = [1 if i >= ex.prompt_len else 0 for i in range(len(ex.ids))]
    check = verify_loss_mask(ex.ids, leaked, qwen3_tokenizer, ex.prompt_len)
    assert not check.ok and "tool turn" in check.reason and check.span[0] == ex.prompt_len


def test_verify_catches_a_model_token_masked_out(qwen3_tokenizer):
    ex = encode_sft(qwen3_tokenizer, CONVERSATION)
    mask = list(ex.loss_mask)
    first_model = mask.index(1)
    mask[first_model + 2] = 0
    check = verify_loss_mask(ex.ids, mask, qwen3_tokenizer, ex.prompt_len)
    assert not check.ok and check.span == (first_model + 2, first_model + 3)


@pytest.mark.parametrize(
    ("mask_edit", "fragment"),
    [(lambda m: m[:-1], "len(ids)"), (lambda m: [2] + m[1:], "not 0 or 1"), (lambda m: [1] + m[1:], "prompt token 0")],
)
def test_verify_reports_malformed_masks(qwen3_tokenizer, mask_edit, fragment):
    ex = encode_sft(qwen3_tokenizer, CONVERSATION)
    check = verify_loss_mask(ex.ids, mask_edit(list(ex.loss_mask)), qwen3_tokenizer, ex.prompt_len)
    assert not check.ok and fragment in check.reason


def test_rollout_style_trajectory_verifies(qwen3_tokenizer):
    enc = lambda t: tuple(qwen3_tokenizer(t, add_special_tokens=False)["input_ids"])  # noqa: E731
    prompt = enc("<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n")
    segs = [
        TokenSegment("prompt", prompt),
        TokenSegment("model", enc("hm\n" + format_tool_call("code_interpreter", {"code": "print(1)"}))),
        TokenSegment("tool", enc(tool_turn_text(["1"]))),
        TokenSegment("model", enc("\\boxed{1}<|im_end|>")),
    ]
    ids, mask = build_ids_and_mask(segs)
    assert verify_loss_mask(ids, mask, qwen3_tokenizer, len(prompt)).ok


def test_model_sampled_specials_are_not_a_masking_error(qwen3_tokenizer):
    enc = lambda t: tuple(qwen3_tokenizer(t, add_special_tokens=False)["input_ids"])  # noqa: E731
    ids, mask = build_ids_and_mask([TokenSegment("prompt", enc("q")), TokenSegment("model", enc("<tool_response> odd <|im_start|>"))])
    assert verify_loss_mask(ids, mask, qwen3_tokenizer, 1).ok


def test_bpe_hazard_retokenizing_joined_text_differs(qwen3_tokenizer):
    # A model can sample "hel" then "lo"; decoding and re-tokenizing merges them into other ids.
    assert joint_tokenization_differs(qwen3_tokenizer, ["hel", "lo world"])
    assert not joint_tokenization_differs(qwen3_tokenizer, ["x<|im_end|>", "\n<|im_start|>user"])


# -- the end of turn must be trained ---------------------------------------------------------------


def _ends_of_turn_masked_out(ex):
    """The SFT mask with the last token of every model segment (its <|im_end|>) set to 0."""
    mask, pos = list(ex.loss_mask), 0
    for seg in ex.segments:
        pos += len(seg.ids)
        if seg.kind == "model":
            mask[pos - 1] = 0
    return mask


def test_verify_rejects_a_trajectory_whose_assistant_ends_of_turn_are_all_masked_0(qwen3_tokenizer):
    ex = encode_sft(qwen3_tokenizer, CONVERSATION)
    mask = _ends_of_turn_masked_out(ex)
    assert qwen3_tokenizer.decode([ex.ids[i] for i, (a, b) in enumerate(zip(ex.loss_mask, mask)) if a != b]) == "<|im_end|><|im_end|>"
    check = verify_loss_mask(ex.ids, mask, qwen3_tokenizer, ex.prompt_len)
    final_end = len(ex.ids) - len(ex.segments[-1].ids) - 1
    assert not check.ok and "end of turn <|im_end|> is masked 0" in check.reason
    assert check.span[0] == final_end


def _rollout(tok, *pieces):
    enc = lambda t: tuple(tok(t, add_special_tokens=False)["input_ids"])  # noqa: E731
    prompt = enc("<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n")
    ids, mask = build_ids_and_mask([TokenSegment("prompt", prompt), *(TokenSegment(kind, enc(text)) for kind, text in pieces)])
    return ids, mask, len(prompt)


def test_verify_rejects_an_answer_turn_whose_end_of_turn_is_masked_0(qwen3_tokenizer):
    ids, mask, prompt_len = _rollout(qwen3_tokenizer, ("model", "\\boxed{1}"), ("tool", "<|im_end|>"))
    check = verify_loss_mask(ids, mask, qwen3_tokenizer, prompt_len)
    assert not check.ok and "never trained" in check.reason and check.span == (len(ids) - 1, len(ids))


def test_verify_rejects_an_untrained_end_of_turn_right_after_the_prompt(qwen3_tokenizer):
    ids, mask, prompt_len = _rollout(qwen3_tokenizer, ("tool", "<|im_end|>\n"))
    check = verify_loss_mask(ids, mask, qwen3_tokenizer, prompt_len)
    assert not check.ok and "end of turn" in check.reason


def test_a_tool_calling_turn_may_be_closed_by_its_tool_turn_even_when_cut(qwen3_tokenizer):
    # A rollout stops at </tool_call>: the tool turn, mask 0, brings the <|im_end|>; a length cut may
    # leave only that token of it.
    call = "hm\n" + format_tool_call("code_interpreter", {"code": "print(1)"})
    for tool in ("<|im_end|>", "<|im_end|>\n<|im_start|>user\n<tool_response>\n1"):
        ids, mask, prompt_len = _rollout(qwen3_tokenizer, ("model", call), ("tool", tool))
        assert verify_loss_mask(ids, mask, qwen3_tokenizer, prompt_len).ok, tool


def test_padding_after_a_trained_end_of_turn_is_not_an_error(qwen3_tokenizer):
    for pad in ("<|endoftext|><|endoftext|>", "<|im_end|><|im_end|>"):
        ids, mask, prompt_len = _rollout(qwen3_tokenizer, ("model", "\\boxed{1}<|im_end|>"), ("prompt", pad))
        assert verify_loss_mask(ids, mask, qwen3_tokenizer, prompt_len).ok, pad


def test_a_multi_turn_conversation_encodes_and_verifies_with_the_users_follow_up_masked_0(qwen3_tokenizer) -> None:
    from retool.text.masking import encode_sft, verify_loss_mask

    tok = qwen3_tokenizer
    messages = [{"role": "user", "content": "What is 6*7?"}, {"role": "assistant", "content": "It is \\boxed{42}."},
                {"role": "user", "content": "And 6*8?"}, {"role": "assistant", "content": "It is \\boxed{48}."}]
    for dialect in ("qwen3", "retool-code"):
        ex = encode_sft(tok, messages, dialect=dialect)
        assert verify_loss_mask(ex.ids, ex.loss_mask, tok, ex.prompt_len, dialect).ok
        untrained = tok.decode([i for i, m in zip(ex.ids[ex.prompt_len:], ex.loss_mask[ex.prompt_len:]) if not m])
        assert "And 6*8?" in untrained and "boxed" not in untrained


def test_model_text_inside_a_follow_up_0_run_is_still_caught(qwen3_tokenizer) -> None:
    from retool.text.masking import TokenSegment, build_ids_and_mask, verify_loss_mask

    tok = qwen3_tokenizer
    enc = lambda t: tuple(tok(t, add_special_tokens=False)["input_ids"])  # noqa: E731
    segs = [TokenSegment("prompt", enc("<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n")),
            TokenSegment("model", enc("It is")),
            TokenSegment("tool", enc(" \\boxed{42}.<|im_end|>\n<|im_start|>user\nAnd 6*8?<|im_end|>\n<|im_start|>assistant\n")),
            TokenSegment("model", enc("It is \\boxed{48}.<|im_end|>"))]
    ids, mask = build_ids_and_mask(segs)
    check = verify_loss_mask(ids, mask, tok, len(segs[0].ids))
    assert not check.ok and "non-tool text" in check.reason
