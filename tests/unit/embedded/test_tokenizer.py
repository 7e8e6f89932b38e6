"""The offline tokenizers: real Qwen3 files, the tiny BPE with the same specials and template."""

from __future__ import annotations

import pytest

from retool.embedded.tokenizer import ADDED_TOKENS, SPECIAL_TOKENS, build_tiny_tokenizer, load_tokenizer, qwen3_tokenizer_dir


def test_qwen3_tokenizer_has_the_documented_special_ids(qwen3_tokenizer):
    ids = qwen3_tokenizer.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>"])
    assert ids == [151644, 151645, 151657, 151658, 151665, 151666, 151667]
    assert qwen3_tokenizer.eos_token == "<|im_end|>"


def test_tiny_tokenizer_is_small_and_has_every_special_as_one_token(tiny_tok):
    assert len(tiny_tok) <= 4096
    for token in SPECIAL_TOKENS + ADDED_TOKENS:
        assert tiny_tok(token, add_special_tokens=False)["input_ids"] == [tiny_tok.convert_tokens_to_ids(token)]


def test_tiny_tokenizer_shares_the_qwen3_chat_template(tiny_tok, qwen3_tokenizer):
    assert tiny_tok.chat_template == qwen3_tokenizer.chat_template


def test_tiny_tokenizer_round_trips_arbitrary_bytes(tiny_tok):
    text = "naïve 数学 🙂 \t\n x**2 == 4 \\boxed{\\frac{1}{2}}"
    assert tiny_tok.decode(tiny_tok(text, add_special_tokens=False)["input_ids"]) == text


def test_tiny_tokenizer_build_is_deterministic():
    a, b = build_tiny_tokenizer(), build_tiny_tokenizer()
    assert a.get_vocab() == b.get_vocab()


def test_tiny_vocab_size_out_of_range_is_rejected():
    with pytest.raises(ValueError, match="8192"):
        build_tiny_tokenizer(8192)


def test_local_directory_loads_like_a_user_model(tmp_path, tiny_tok):
    tiny_tok.save_pretrained(tmp_path)
    assert load_tokenizer(tmp_path).get_vocab() == tiny_tok.get_vocab()
    assert load_tokenizer(str(qwen3_tokenizer_dir())).convert_tokens_to_ids("<tool_call>") == 151657


def test_missing_directory_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_tokenizer(tmp_path / "nowhere")
