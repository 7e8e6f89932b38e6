"""retool.rollout.prompt: a chat-templated prompt (miles/slime ``--apply-chat-template``) gets the tools
block in its system turn, and its ids are those of rendering the raw conversation with the tools."""

from __future__ import annotations

import pytest

from retool.embedded.models import tiny_model_dir
from retool.embedded.tokenizer import load_tokenizer
from retool.rollout.batch import render_prompt_ids
from retool.rollout.config import RolloutConfig
from retool.rollout.prompt import is_templated, templated_prompt_ids, with_tools_block


@pytest.fixture(scope="module")
def qwen():
    """The real Qwen3 tokenizer and chat template (what miles's Dataset applies with --apply-chat-template)."""
    return load_tokenizer(str(tiny_model_dir()))


def _templated(tok, msgs, **kw) -> str:
    # miles/slime Dataset: tokenizer.apply_chat_template(prompt, tools=..., tokenize=False, add_generation_prompt=True)
    return tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, **kw)


@pytest.mark.parametrize("msgs", [
    [{"role": "user", "content": "What is 6*7?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 6*7?"}],
    [{"role": "user", "content": "First"}, {"role": "assistant", "content": "ok"}, {"role": "user", "content": "Then?"}],
])
def test_templated_prompt_ids_equal_rendering_the_raw_conversation(qwen, msgs) -> None:
    config = RolloutConfig()
    assert templated_prompt_ids(qwen, _templated(qwen, msgs), config) == render_prompt_ids(qwen, msgs, config)


def test_the_tools_block_lands_in_the_system_turn_once(qwen) -> None:
    text = with_tools_block(qwen, _templated(qwen, [{"role": "system", "content": "Be brief."},
                                                    {"role": "user", "content": "Q"}]), RolloutConfig())
    system = text[: text.index("<|im_end|>")]
    assert text.count("\n</tools>") == 1 and "\n</tools>" in system and system.startswith("<|im_start|>system\nBe brief.")


def test_the_configured_system_prompt_fills_a_missing_system_turn(qwen) -> None:
    config = RolloutConfig(system_prompt="Use the tool.")
    msgs = [{"role": "user", "content": "Q"}]
    assert templated_prompt_ids(qwen, _templated(qwen, msgs), config) == render_prompt_ids(qwen, msgs, config)


def test_a_prompt_that_already_has_the_tools_block_is_kept_as_it_is(qwen) -> None:
    config = RolloutConfig()
    text = _templated(qwen, [{"role": "user", "content": "Q"}], tools=[t.to_json() for t in config.tools])
    assert with_tools_block(qwen, text, config) == text


def test_a_tools_block_without_our_tool_is_refused(qwen) -> None:
    other = {"type": "function", "function": {"name": "web_search", "description": "search",
                                              "parameters": {"type": "object", "properties": {}}}}
    text = _templated(qwen, [{"role": "user", "content": "Q"}], tools=[other])
    with pytest.raises(ValueError, match="code_interpreter"):
        with_tools_block(qwen, text, RolloutConfig())


def test_a_raw_string_is_not_templated_and_is_refused(qwen) -> None:
    assert not is_templated("What is 6*7?") and is_templated(_templated(qwen, [{"role": "user", "content": "Q"}]))
    with pytest.raises(ValueError, match="not chat-templated"):
        with_tools_block(qwen, "What is 6*7?", RolloutConfig())
