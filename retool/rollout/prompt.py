"""A prompt that arrives already chat-templated (miles/slime ``--apply-chat-template``), made ready to roll out.

Contract: :func:`templated_prompt_ids` ``(tokenizer, text, config) -> list[int]`` takes the string
the framework's dataset rendered with the tokenizer's chat template (it holds ``<|im_start|>``)
and returns the prompt ids, tokenized once from the final text (``add_special_tokens=False``):

- The text is kept as the prompt. When it already holds a tools block (``\\n</tools>``) that block
  must name every tool of ``config.tools`` and appear once, else ``ValueError`` (the tools must
  reach the model, once).
- Without a tools block, the system turn gets it, rendered by the same chat template: an existing
  first system turn is replaced by the template's rendering of that system content with the tools;
  with no system turn, the template's tools-only system turn (with ``config.system_prompt`` as its
  content when set) is put in front. For a template such as Qwen3's the ids are then exactly
  those of rendering the raw conversation with the tools (:func:`retool.rollout.batch.render_prompt_ids`).
- In a dialect without a tools block (``retool-code``) the dialect's instructions reach the system
  turn instead, once: kept when the text already holds them, appended to an existing system turn's
  content, or a system turn of their own (``config.system_prompt`` when set) put in front.
- A text that is not chat-templated raises ``ValueError`` (use ``render_prompt_ids`` for a raw
  conversation). These are our caller's inputs, not model text.
"""

from __future__ import annotations

from typing import Any

from retool.rollout.config import RolloutConfig
from retool.text.dialect import get_dialect
from retool.text.grammar import IM_END, IM_START

__all__ = ["is_templated", "templated_prompt_ids", "with_tools_block"]

_SYSTEM_OPEN = f"{IM_START}system\n"
_PROBE = "\x00retool-probe\x00"


def is_templated(prompt: Any) -> bool:
    """True for a string already rendered with the chat template (holds ``<|im_start|>``)."""
    return isinstance(prompt, str) and IM_START in prompt


def _system_turn(tokenizer: Any, config: RolloutConfig, content: str | None) -> str:
    """The template's system turn with the tools block (and ``content``), as it renders it before a user turn."""
    msgs = [{"role": "system", "content": content}] if content is not None else []
    msgs.append({"role": "user", "content": _PROBE})
    text = tokenizer.apply_chat_template(msgs, tools=[t.to_json() for t in config.tools] or None, tokenize=False,
                                         add_generation_prompt=False, **dict(config.chat_template_kwargs))
    user_at = text.find(f"{IM_START}user\n{_PROBE}")
    if user_at <= 0 or not text[:user_at].endswith(f"{IM_END}\n"):
        raise ValueError(f"the chat template renders no system turn before the user turn: {text[:200]!r}")
    return text[:user_at]


def _with_instructions(tokenizer: Any, text: str, config: RolloutConfig, instructions: str) -> str:
    """A dialect without a tools block: its instructions in the system turn, once."""
    if instructions in text:
        return text
    if text.startswith(_SYSTEM_OPEN):
        end = text.find(f"{IM_END}\n", len(_SYSTEM_OPEN))
        if end < 0:
            raise ValueError(f"the templated prompt's system turn is not closed: {text[:200]!r}")
        content = text[len(_SYSTEM_OPEN):end].rstrip()
        return f"{_SYSTEM_OPEN}{content}\n\n{instructions}".replace(f"{_SYSTEM_OPEN}\n\n", _SYSTEM_OPEN) + text[end:]
    turn = tokenizer.apply_chat_template([{"role": "system", "content": config.system_prompt or instructions}], tokenize=False,
                                         add_generation_prompt=False, **dict(config.chat_template_kwargs))
    return turn + text


def with_tools_block(tokenizer: Any, text: str, config: RolloutConfig) -> str:
    """``text`` with the tools block in its system turn (see the module docstring)."""
    if not is_templated(text):
        raise ValueError(f"prompt is not chat-templated (no {IM_START!r}): {text[:80]!r}")
    dialect = get_dialect(config.dialect)
    if not dialect.chat_tools:
        return _with_instructions(tokenizer, text, config, dialect.system_prompt or "")
    blocks = text.count("\n</tools>")
    if blocks:
        missing = [t.name for t in config.tools if f'"name": "{t.name}"' not in text]
        if blocks != 1 or missing:
            raise ValueError(f"the templated prompt holds {blocks} tools blocks (expected 1); tools missing: {missing}")
        return text
    if not config.tools:
        return text
    if text.startswith(_SYSTEM_OPEN):
        end = text.find(f"{IM_END}\n", len(_SYSTEM_OPEN))
        if end < 0:
            raise ValueError(f"the templated prompt's system turn is not closed: {text[:200]!r}")
        content = text[len(_SYSTEM_OPEN):end]
        return _system_turn(tokenizer, config, content) + text[end + len(IM_END) + 1:]
    return _system_turn(tokenizer, config, config.system_prompt) + text


def templated_prompt_ids(tokenizer: Any, text: str, config: RolloutConfig) -> list[int]:
    """The prompt ids of a chat-templated string, with the tools block added when absent (module docstring)."""
    return list(tokenizer(with_tools_block(tokenizer, text, config), add_special_tokens=False)["input_ids"])
