"""The grammar and masks checks (retool.harness.checks.text): they pass on the embedded default and
fail on their broken twins (a tokenizer that splits <tool_call>, an untrained end of turn, tool
tokens in the loss), on a template without tools, and on a corpus without a tool turn."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from retool.data import read_jsonl, sample_path
from retool.harness.checks.text import check_grammar, check_masks
from retool.harness.verify import VerifyConfig
from tests.unit.harness.twins import leaked_tool_tokens, save_split_tool_call_tokenizer, untrained_end_of_turn

# -- grammar --------------------------------------------------------------------------------------


def test_grammar_check_passes_on_the_embedded_default() -> None:
    result = check_grammar(VerifyConfig())
    assert result.ok, result.detail
    assert result.figure == "5 hazardous calls, 2 templates (qwen3)"


def test_grammar_check_fails_on_a_template_without_tools(tmp_path: Path, tiny_tok: Any) -> None:
    tok = copy.deepcopy(tiny_tok)
    tok.chat_template = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    tok.save_pretrained(tmp_path)
    result = check_grammar(VerifyConfig(model_dir=str(tmp_path)))
    assert not result.ok and "tools block" in result.detail


def test_twin_a_tokenizer_that_splits_tool_call_fails_the_grammar_check(tmp_path: Path, tiny_tok: Any) -> None:
    save_split_tool_call_tokenizer(copy.deepcopy(tiny_tok), tmp_path)
    result = check_grammar(VerifyConfig(model_dir=str(tmp_path)))
    assert not result.ok
    assert "model tokenizer: <tool_call> is not a single token (it tokenizes to" in result.detail
    assert "qwen3 tokenizer" not in result.detail and "</tool_call> is not" not in result.detail


# -- masks ----------------------------------------------------------------------------------------


def test_mask_check_passes_on_the_shipped_sft_samples_and_counts_their_tool_tokens() -> None:
    result = check_masks(VerifyConfig())
    assert result.ok, result.detail
    assert result.figure.startswith("11 conversations (11 with tool turns), ") and " 0 tool tokens" not in result.figure


def test_twin_an_untrained_end_of_turn_fails_the_mask_check() -> None:
    result = check_masks(VerifyConfig(), encoder=untrained_end_of_turn)
    assert not result.ok and "sample 0: the assistant's end of turn <|im_end|> is masked 0" in result.detail
    assert len(result.data["problems"]) == 11


def test_twin_leaked_tool_tokens_fail_the_mask_check() -> None:
    result = check_masks(VerifyConfig(), encoder=leaked_tool_tokens)
    assert not result.ok and "sample 0: 1-span holds a tool turn: '<|im_start|>user\\n<tool_response>" in result.detail
    assert len(result.data["problems"]) == 11


def test_mask_check_fails_on_conversations_without_a_tool_turn() -> None:
    rows = [{"messages": [{"role": "user", "content": "What is 1+1?"}, {"role": "assistant", "content": "\\boxed{2}"}]}]
    result = check_masks(VerifyConfig(), rows=rows)
    assert not result.ok and "none of the 1 conversations has a tool turn" in result.detail


def test_mask_check_reports_a_conversation_it_cannot_encode_and_still_checks_the_rest() -> None:
    rows = read_jsonl(sample_path("retool_sft_sample.jsonl"))[:2]
    bad = {"messages": [{"role": "user", "content": "q"}]}  # no assistant message to train on
    result = check_masks(VerifyConfig(), rows=[bad, *rows])
    assert not result.ok and "sample 0: cannot encode: field 'messages'" in result.detail
    assert result.figure.startswith("3 conversations (2 with tool turns)")
