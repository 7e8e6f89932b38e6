"""A dialect: everything that knows the tags of one tool-call format, in one object.

Contract: :func:`get_dialect` ``(name) -> Dialect`` for ``"qwen3"`` (:data:`QWEN3`, the default:
Qwen3 ``<tool_call>`` JSON and ``<tool_response>`` turns in chat markup, :mod:`retool.text.grammar`)
or ``"retool-code"`` (:data:`RETOOL_CODE`: ``<code>`` blocks and plain-text ``<interpreter>``
output inside one assistant message, :mod:`retool.text.native`); another name raises
``ValueError`` naming the choices. A :class:`Dialect` is frozen and defines:

- the prompt: ``chat_tools`` (the chat template renders the tools block: qwen3) and
  ``system_prompt`` (the default system content: the native format's instructions);
  :meth:`Dialect.prompt_messages` puts it in a conversation;
- generation: ``call_closers`` (stop strings that end a turn asking for tools, kept in the output)
  and ``forged_markup`` (tool markup the model must never write in its own turn: stop strings too;
  a turn holding one fails the sample);
- parsing: ``parse(text, tools) -> Trace`` (total, linear, errors fed back) and ``call_hint``
  (how to write a call, appended to an error on a malformed one);
- the tool turn: :meth:`Dialect.tool_turn` ``(outputs, after)``: the text appended after a model
  turn (qwen3: the chat markup closing the turn, ``<tool_response>`` blocks in a user turn, a new
  assistant turn; its ``<|im_end|>`` dropped when the model already wrote one; retool-code:
  ``\\n\\n<interpreter>...</interpreter>\\n\\n``), tokenized on its own and masked 0;
- what counts as tool output for the answer: the parser's ``tool_response`` segments (the final
  text follows the last one), then :func:`retool.text.regions.own_text` for every dialect;
- the mask rule (:func:`retool.text.masking.verify_loss_mask`): ``tool_opening`` (a 1-run never
  holds it) and ``untrained_eot_after`` (the endings after which the turn's ``<|im_end|>`` may sit
  in a 0-run: a turn already closed by its own ``<|im_end|>``, and in qwen3 ``</tool_call>``, whose
  tool turn closes the assistant turn; in retool-code nothing else, as tool text stays inside the
  assistant message).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from typing import get_args as typing_args

from retool.text import grammar, native
from retool.text.trace import IM_END, IM_START, ToolSpec, Trace

__all__ = ["DIALECTS", "DIALECT_NAMES", "QWEN3", "RETOOL_CODE", "Dialect", "DialectName", "get_dialect"]

DialectName = Literal["qwen3", "retool-code"]  # the names config fields take (flags get them as choices)


@dataclass(frozen=True, kw_only=True)
class Dialect:
    name: str
    chat_tools: bool
    system_prompt: str | None
    call_closers: tuple[str, ...]
    forged_markup: tuple[str, ...]
    parse: Callable[[str, Sequence[ToolSpec]], Trace]
    render_outputs: Callable[[Sequence[str]], str]
    call_hint: str
    tool_opening: str
    untrained_eot_after: tuple[str, ...]

    def tool_turn(self, outputs: Sequence[str], after: str = "") -> str:
        """The tool text that follows the model turn ``after`` (see the module docstring)."""
        text = self.render_outputs(outputs)
        if self.chat_tools and after.endswith(IM_END):
            text = text.removeprefix(IM_END)
        return text

    def ends_on_call(self, text: str) -> bool:
        """True when a model turn stopped at one of this dialect's call closers."""
        return text.rstrip().endswith(self.call_closers)

    def prompt_messages(self, messages: Sequence[Mapping[str, Any]], system_prompt: str | None = None) -> list[dict[str, Any]]:
        """The conversation with the system turn this dialect needs (a copy; pure): ``system_prompt``
        (else the dialect's own) as a first system turn when there is none; in a dialect without a
        tools block (retool-code) an existing system turn gets the dialect's instructions appended,
        once. The rollout and the SFT data prep both use it, so SFT prompts are the rollout's."""
        msgs = [dict(m) for m in messages]
        system = system_prompt or self.system_prompt
        has_system = bool(msgs) and msgs[0].get("role") == "system"
        if system and not has_system:
            msgs.insert(0, {"role": "system", "content": system})
        elif has_system and self.system_prompt and self.system_prompt not in str(msgs[0].get("content")):
            msgs[0]["content"] = f"{msgs[0].get('content') or ''}\n\n{self.system_prompt}".lstrip()
        return msgs

    def stops(self, extra: Sequence[str] = ()) -> tuple[str, ...]:
        """The stop strings of one model turn: the call closers, the forged markup, then ``extra``."""
        return tuple(dict.fromkeys((*self.call_closers, *self.forged_markup, *extra)))


QWEN3 = Dialect(
    name="qwen3", chat_tools=True, system_prompt=None,
    call_closers=(grammar.TOOL_CALL_CLOSE,), forged_markup=(grammar.TOOL_RESPONSE_OPEN, IM_START),
    parse=grammar.parse_trace, render_outputs=grammar.tool_turn_text,
    call_hint=('Write each call as one JSON object {"name": "code_interpreter", "arguments": {"code": "print(1 + 1)"}} '
               "between the tool_call tags."),
    tool_opening=f"{IM_START}user\n{grammar.TOOL_RESPONSE_OPEN}",
    untrained_eot_after=(IM_END, grammar.TOOL_CALL_CLOSE),
)
RETOOL_CODE = Dialect(
    name="retool-code", chat_tools=False, system_prompt=native.NATIVE_SYSTEM_PROMPT,
    call_closers=(native.CODE_CLOSE, grammar.TOOL_CALL_CLOSE), forged_markup=(native.INTERPRETER_OPEN, IM_START),
    parse=native.parse_native, render_outputs=native.interpreter_text,
    # the hint reaches the model inside the neutralised tool text, so it names the tags in words
    call_hint="Write the code as one python fence between the code tags, then stop: its output comes back between the interpreter tags.",
    tool_opening=native.INTERPRETER_OPEN,
    untrained_eot_after=(IM_END,),
)
DIALECTS: dict[str, Dialect] = {d.name: d for d in (QWEN3, RETOOL_CODE)}
DIALECT_NAMES: tuple[str, ...] = tuple(DIALECTS)
assert DIALECT_NAMES == typing_args(DialectName), (DIALECT_NAMES, DialectName)  # one list of names


def get_dialect(name: str | Dialect) -> Dialect:
    """The dialect called ``name`` (a :class:`Dialect` is returned as is)."""
    if isinstance(name, Dialect):
        return name
    try:
        return DIALECTS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dialect {name!r}; choose one of {', '.join(DIALECT_NAMES)}") from None
