"""The grammar and masks checks in the retool-code dialect (``retool verify --dialect retool-code``):
they pass on the embedded default and fail on the upstream leak (interpreter text trained on), an
untrained end of turn, and a template that drops the system turn."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from retool.harness.checks.text import check_grammar, check_masks
from retool.harness.verify import VerifyConfig
from retool.text.masking import encode_sft
from tests.unit.harness.twins import _remask

NATIVE = VerifyConfig(dialect="retool-code")


def test_grammar_check_passes_in_the_native_dialect() -> None:
    result = check_grammar(NATIVE)
    assert result.ok, result.detail
    assert result.figure == "5 hazardous calls, 2 templates (retool-code)"


def test_grammar_check_fails_on_a_template_that_drops_the_system_turn(tmp_path: Path, tiny_tok: Any) -> None:
    tok = copy.deepcopy(tiny_tok)
    tok.chat_template = ("{% for m in messages %}{% if m.role != 'system' %}<|im_start|>{{ m.role }}\n{{ m.content }}"
                         "<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    tok.save_pretrained(tmp_path)
    result = check_grammar(VerifyConfig(model_dir=str(tmp_path), dialect="retool-code"))
    assert not result.ok and "native instructions" in result.detail and "qwen3 tokenizer" not in result.detail


def test_mask_check_passes_in_the_native_dialect_and_counts_interpreter_tokens() -> None:
    result = check_masks(NATIVE)
    assert result.ok, result.detail
    assert result.figure.startswith("11 conversations (11 with tool turns), ") and result.figure.endswith("(retool-code)")
    assert " 0 tool tokens" not in result.figure


def upstream_prep(tokenizer: Any, messages: Any) -> Any:
    """The upstream SFT prep: the native message trained as it is (interpreter text in the loss)."""
    return encode_sft(tokenizer, messages, ())


def test_twin_the_upstream_prep_that_trains_on_interpreter_text_fails_the_mask_check() -> None:
    result = check_masks(NATIVE, encoder=upstream_prep)
    assert not result.ok and "sample 0: 1-span holds a tool turn: '<interpreter>" in result.detail
    assert len(result.data["problems"]) == 11


def test_twin_an_untrained_end_of_turn_fails_the_native_mask_check() -> None:
    untrained = lambda tok, msgs: _remask(encode_sft(tok, msgs, dialect="retool-code"), "model", 0, last_only=True)  # noqa: E731
    result = check_masks(NATIVE, encoder=untrained)
    assert not result.ok and len(result.data["problems"]) == 11
