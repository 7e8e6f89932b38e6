"""What every dialect's parser returns: tool specs, calls, segments and the :class:`Trace`. Pure, total.

Contract:
- :class:`ToolSpec` is one tool as the model sees it (an OpenAI-style function schema);
  ``DEFAULT_TOOLS`` is the recipe's one tool, ``code_interpreter`` with a string ``code``.
- A parser (:func:`retool.text.grammar.parse_trace` for ``qwen3``,
  :func:`retool.text.native.parse_native` for ``retool-code``) splits a response into
  :class:`Segment` s (``text``, ``tool_call``, ``tool_response``, ``markup``), reads its
  :class:`ToolCall` s and tool responses and hands them to :func:`build_trace`, the one place the
  final answer is read, whatever the dialect:
  ``final_text`` is the assistant's own text after the last tool response (text inside a
  ``system`` or ``user`` turn the response carries is not); ``own_text`` is
  :func:`retool.text.regions.own_text` of it (after the last ``</think>`` and any tool output of
  another format, code and invisible content blanked: exactly the text the answer extraction reads);
  ``final_answer`` is the content of the last closed box there, else its last non-empty
  ``Answer:`` line; ``has_valid_format`` is True exactly when there are no errors, no tool call
  follows the last tool response (``ends_on_call``) and the final answer came from a closed,
  non-empty box of ``own_text`` that no code block asking to be run (``<code>``, a python fence:
  :data:`retool.text.regions.CODE_CALL`) follows (the extraction refuses such a box too). So the format term and the answer term never disagree on where an
  answer may sit. ``errors`` keeps the first ``MAX_ERRORS`` problems, then one line counting the rest.
- :func:`strip_code_fences` removes one markdown fence wrapped around a whole code string. Linear.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from retool.text.regions import CODE_CALL, own_text
from retool.text.spans import BoxedSpan, answer_line, find_boxed

__all__ = ["CODE_INTERPRETER", "DEFAULT_TOOLS", "IM_END", "IM_START", "END_OF_TEXT", "MAX_ERRORS", "Segment", "ToolCall",
           "ToolSpec", "Trace", "build_trace", "strip_code_fences"]

IM_START, IM_END, END_OF_TEXT = "<|im_start|>", "<|im_end|>", "<|endoftext|>"
MAX_ERRORS = 64  # errors kept on a Trace; past it one line counts the rest


@dataclass(frozen=True, kw_only=True)
class ToolSpec:
    """One callable tool as the model sees it (an OpenAI-style function schema)."""

    name: str
    description: str
    parameters: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": dict(self.parameters)},
        }

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(self.parameters.get("required", ()))


CODE_INTERPRETER = ToolSpec(
    name="code_interpreter",
    description="A tool for executing code.",
    parameters={
        "type": "object",
        "properties": {"code": {"type": "string", "description": "The code to execute."}},
        "required": ["code"],
    },
)
DEFAULT_TOOLS: tuple[ToolSpec, ...] = (CODE_INTERPRETER,)


class ToolCall(NamedTuple):
    """One call (a Qwen3 ``<tool_call>`` block, a native ``<code>`` block): ``raw == response[start:end]``; ``error`` says why it is not
    well-formed (a named tuple: a response may hold thousands)."""

    name: str | None
    arguments: Mapping[str, Any] | None
    raw: str
    start: int
    end: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def code(self) -> str | None:
        value = (self.arguments or {}).get("code")
        return strip_code_fences(value) if isinstance(value, str) else None


SegmentKind = Literal["text", "tool_call", "tool_response", "markup"]


class Segment(NamedTuple):
    """One piece of a response: ``text == response[start:end]`` (a named tuple: one per tag)."""

    kind: SegmentKind
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Trace:
    text: str
    segments: tuple[Segment, ...]
    tool_calls: tuple[ToolCall, ...]
    tool_responses: tuple[str, ...]
    final_text: str
    final_answer: str | None
    answer_source: Literal["boxed", "answer_line"] | None
    has_valid_format: bool
    errors: tuple[str, ...] = field(default=())
    ends_on_call: bool = False  # a tool call follows the last tool response: there is no answer turn
    boxes: tuple[BoxedSpan, ...] = field(default=(), repr=False)  # find_boxed(own_text), computed once
    own_text: str = field(default="", repr=False)  # retool.text.regions.own_text(final_text)[0]
    own_cut: int = 0  # where own_text starts in final_text

    @property
    def num_tool_calls(self) -> int:
        return len(self.tool_calls)


_FENCE_OPEN = re.compile(r"\s*```[ \t]*[\w+#.-]*[ \t]*\n")


def strip_code_fences(code: str) -> str:
    """Remove one markdown fence wrapped around the whole code (```python ... ```), else unchanged.

    The closing fence is the last non-whitespace; the body loses the spaces/tabs before it and one
    newline. Linear time (no lazy group before an anchored tail).
    """
    opening = _FENCE_OPEN.match(code)
    if opening is None:
        return code
    stripped = code.rstrip()
    if not stripped.endswith("```") or len(stripped) - 3 < opening.end():
        return code
    body = stripped[opening.end() : -3].rstrip(" \t")
    return body[:-1] if body.endswith("\n") else body


def _final_answer(final_text: str, boxes: tuple[BoxedSpan, ...]) -> tuple[str | None, Literal["boxed", "answer_line"] | None, str | None]:
    if boxes:
        last = boxes[-1]
        if not last.closed:
            return None, None, f"unclosed box at offset {last.start} of the model's final text"
        return last.content, "boxed", None
    line = answer_line(final_text)
    return (line, "answer_line", None) if line else (None, None, None)


def _assistant_text(segments: Sequence[Segment]) -> list[str]:
    """The text segments spoken by the assistant: text inside a ``system`` or ``user`` turn that a
    response carries (an echoed prompt, say) is not the model's own."""
    own, role = [], "assistant"
    for seg in segments:
        if seg.kind == "markup" and seg.text.startswith(IM_START):
            role = seg.text[len(IM_START):].strip() or "assistant"
        elif seg.kind == "text" and role == "assistant":
            own.append(seg.text)
    return own



def build_trace(text: str, segments: Sequence[Segment], calls: Sequence[ToolCall], responses: Sequence[str],
                errors: list[str], last_response: int) -> Trace:
    """The :class:`Trace` of a parsed response (see the module docstring); ``last_response`` is the
    index in ``segments`` of the last tool response (-1: none). ``errors`` is extended in place
    (the parser's own list)."""
    tail = segments[last_response + 1 :]
    final_text = "".join(_assistant_text(tail))
    own, cut = own_text(final_text)
    boxes = find_boxed(own)
    answer, source, answer_error = _final_answer(own, boxes)
    if answer_error:
        errors.append(answer_error)
    elif source == "boxed" and (after := CODE_CALL.search(final_text, cut + boxes[-1].end)) is not None:
        errors.append(f"a code block ({after.group(0)!r}) follows the final box: the model went on computing")
    if len(errors) > MAX_ERRORS:
        errors[MAX_ERRORS:] = [f"... and {len(errors) - MAX_ERRORS} more errors"]
    ends_on_call = any(s.kind == "tool_call" for s in tail)
    valid = not errors and not ends_on_call and source == "boxed" and bool(answer and answer.strip())
    return Trace(text=text, segments=tuple(segments), tool_calls=tuple(calls), tool_responses=tuple(responses),
                 final_text=final_text, final_answer=answer, answer_source=source, has_valid_format=valid,
                 errors=tuple(errors), ends_on_call=ends_on_call, boxes=boxes, own_text=own, own_cut=cut)
