"""The ``qwen3`` dialect's grammar: Qwen3 ``<tool_call>`` JSON calls and ``<tool_response>`` turns.

Rendering (exactly what the Qwen3 chat template produces, so SFT data and rollouts agree):

- The system prompt lists the tools inside ``<tools></tools>``, one JSON object per line, then asks
  for each call as ``<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>``
  (:func:`render_tools_system_prompt`, :meth:`ToolSpec.to_json`).
- :func:`format_tool_call` renders one call; :func:`format_tool_response` one response block;
  :func:`tool_turn_text` the chat markup and response blocks appended after the model's
  ``</tool_call>`` (mask 0 in training). Tool output is *neutralised* before it is wrapped: the
  strings ``<tool_response>``, ``</tool_response>``, ``<tool_call>``, ``</tool_call>`` and the chat
  specials (``<|im_start|>``, ``<|im_end|>``, ``<|endoftext|>``) have their ``<`` replaced by
  ``&lt;``, so code cannot forge a turn boundary, close its own response block or smuggle special
  tokens into the token stream.

Parsing (:func:`parse_trace`) is total and linear: any string gives a :class:`Trace` (``None`` and
non-strings are read as their ``str``), nothing raises, and the work is linear in the text's
length whatever it holds (repeated openers or closers, unclosed boxes, deep nesting, 64k-character
responses; property-tested at those sizes). Bounds: a tool call's JSON (and an ``arguments``
string) nests at most ``retool.text.bounded_json.MAX_JSON_DEPTH`` levels; deeper is an error on that call, never a
``RecursionError``.

- A call is ``<tool_call>`` + one JSON object (decoded with ``json.JSONDecoder(strict=False)``, so
  JSON spread over lines and raw newlines inside strings are accepted) + ``</tool_call>``. Because
  the object is decoded before the closing tag is looked for, code containing ``</tool_call>``,
  braces, quotes or ``\\boxed{}`` inside its strings is read correctly. If the JSON does not decode,
  the call ends at the next ``</tool_call>`` (or the end of text) and carries an ``error``.
- ``arguments`` may be an object or a JSON string holding one. The name routes to a ``ToolSpec``;
  unknown names, missing required arguments, non-string ``code`` and blank ``code`` (nothing to
  execute: a call that cannot farm the tool bonus) are errors on the call.
  :attr:`ToolCall.code` strips a ``````python`` fence wrapped around the whole argument.
- ``<tool_response>...</tool_response>`` blocks and chat markup (``<|im_start|>role\\n``,
  ``<|im_end|>``, ``<|endoftext|>``) are segments of their own; everything else is model text.
  In chat markup a block ends at the first ``</tool_response>`` that the template's next block or
  ``<|im_end|>`` follows, so a closer that a framework's unneutralised tool output printed is
  content; without markup the first closer ends it.
- The final answer, ``own_text``, ``ends_on_call`` and ``has_valid_format`` are read by
  :func:`retool.text.trace.build_trace`, the same for every dialect (its docstring states them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from retool.text.bounded_json import decode_prefix, decode_whole
from retool.text.spans import BoxedSpan, answer_line, find_boxed  # noqa: F401 (re-exported: the grammar's names)
from retool.text.trace import (CODE_INTERPRETER, DEFAULT_TOOLS, END_OF_TEXT, IM_END, IM_START, MAX_ERRORS, Segment,
                               ToolCall, ToolSpec, Trace, build_trace, strip_code_fences)

__all__ = ["CODE_INTERPRETER", "DEFAULT_TOOLS", "END_OF_TEXT", "IM_END", "IM_START", "MAX_ERRORS", "Segment",
           "TOOL_CALL_CLOSE", "TOOL_CALL_OPEN", "TOOL_RESPONSE_CLOSE", "TOOL_RESPONSE_OPEN", "ToolCall", "ToolSpec",
           "Trace", "find_boxed", "format_tool_call", "format_tool_response", "neutralise", "parse_call", "parse_trace",
           "render_tools_system_prompt", "strip_code_fences", "tool_turn_text"]

TOOL_CALL_OPEN, TOOL_CALL_CLOSE = "<tool_call>", "</tool_call>"
TOOL_RESPONSE_OPEN, TOOL_RESPONSE_CLOSE = "<tool_response>", "</tool_response>"
_NEUTRALISED = (TOOL_RESPONSE_OPEN, TOOL_RESPONSE_CLOSE, TOOL_CALL_OPEN, TOOL_CALL_CLOSE, IM_START, IM_END, END_OF_TEXT)


# ---------------------------------------------------------------------------------------------
# rendering


def render_tools_system_prompt(tools: Sequence[ToolSpec] = DEFAULT_TOOLS, system: str | None = None) -> str:
    """The system turn's content (without ``<|im_start|>system``) exactly as the Qwen3 template."""
    head = f"{system}\n\n" if system else ""
    lines = "".join("\n" + json.dumps(t.to_json(), ensure_ascii=False) for t in tools)
    return (
        f"{head}# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        f"You are provided with function signatures within <tools></tools> XML tags:\n<tools>{lines}\n</tools>\n\n"
        "For each function call, return a json object with function name and arguments within "
        '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": '
        "<args-json-object>}\n</tool_call>"
    )


def format_tool_call(name: str, arguments: Mapping[str, Any]) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"tool name must be a non-empty string, got {name!r}")
    args = json.dumps(dict(arguments), ensure_ascii=False)
    return f'{TOOL_CALL_OPEN}\n{{"name": "{name}", "arguments": {args}}}\n{TOOL_CALL_CLOSE}'


def neutralise(text: str) -> str:
    """Defuse delimiter and special-token strings in tool output (see the module docstring)."""
    for tag in _NEUTRALISED:
        if tag in text:
            text = text.replace(tag, "&lt;" + tag[1:])
    return text


def format_tool_response(output: str) -> str:
    return f"{TOOL_RESPONSE_OPEN}\n{neutralise(output)}\n{TOOL_RESPONSE_CLOSE}"


def tool_turn_text(outputs: Sequence[str]) -> str:
    """What follows the model's ``</tool_call>``: close its turn, the responses, reopen assistant."""
    if not outputs:
        raise ValueError("tool_turn_text needs at least one tool output, got none")
    blocks = "".join("\n" + format_tool_response(o) for o in outputs)
    return f"{IM_END}\n{IM_START}user{blocks}{IM_END}\n{IM_START}assistant\n"


# ---------------------------------------------------------------------------------------------
# parsing

def parse_call(text: str, start: int, tools: Mapping[str, ToolSpec]) -> ToolCall:
    """Parse the call opening at ``start``; the returned ``end`` is just past ``</tool_call>``."""
    body = start + len(TOOL_CALL_OPEN)
    i = body
    while i < len(text) and text[i].isspace():
        i += 1
    obj: Any = None
    error: str | None = None
    end: int | None = None
    try:
        obj, j = decode_prefix(text, i)
        k = j
        while k < len(text) and text[k].isspace():
            k += 1
        if text.startswith(TOOL_CALL_CLOSE, k):
            end = k + len(TOOL_CALL_CLOSE)
        else:
            error = f"text after the JSON object at offset {k} before {TOOL_CALL_CLOSE}"
    except json.JSONDecodeError as exc:
        error = f"malformed JSON in tool call: {exc.msg} at offset {exc.pos}"
    if end is None:
        close = text.find(TOOL_CALL_CLOSE, body)
        if close < 0:
            end = len(text)
            error = f"unclosed {TOOL_CALL_OPEN} at offset {start}" + (f" ({error})" if error and obj is None else "")
        else:
            end = close + len(TOOL_CALL_CLOSE)
        return ToolCall(None, None, text[start:end], start, end, error)
    return _route(obj, text[start:end], start, end, tools)


def _route(obj: Any, raw: str, start: int, end: int, tools: Mapping[str, ToolSpec]) -> ToolCall:
    if not isinstance(obj, dict):
        return ToolCall(None, None, raw, start, end, f"tool call must be a JSON object, got {type(obj).__name__}")
    name, args = obj.get("name"), obj.get("arguments", obj.get("parameters"))
    if isinstance(args, str):
        try:
            args = decode_whole(args)
        except json.JSONDecodeError as exc:
            return ToolCall(name if isinstance(name, str) else None, None, raw, start, end,
                            f"arguments string is not JSON: {exc.msg}")
    if not isinstance(name, str):
        return ToolCall(None, args if isinstance(args, dict) else None, raw, start, end, "tool call has no string 'name'")
    if not isinstance(args, dict):
        return ToolCall(name, None, raw, start, end, f"tool call {name!r} has no 'arguments' object")
    spec = tools.get(name)
    if spec is None:
        return ToolCall(name, args, raw, start, end, f"unknown tool {name!r}; available: {', '.join(sorted(tools))}")
    missing = [key for key in spec.required if key not in args]
    if missing:
        return ToolCall(name, args, raw, start, end, f"tool {name!r} is missing required argument(s) {missing}")
    props = spec.parameters.get("properties", {})
    for key, value in args.items():
        if props.get(key, {}).get("type") == "string" and not isinstance(value, str):
            return ToolCall(name, args, raw, start, end, f"argument {key!r} of {name!r} must be a string")
    code = args.get("code")
    if "code" in spec.required and isinstance(code, str) and not strip_code_fences(code).strip():
        return ToolCall(name, args, raw, start, end, f"tool {name!r} got empty 'code': nothing to execute")
    return ToolCall(name, args, raw, start, end, None)


_TAG = re.compile(r"<(?:(tool_call>)|(tool_response>)|(/tool_call>|/tool_response>)|"
                  r"\|im_start\|>[a-z_]*\n?|\|im_end\|>\n?|\|endoftext\|>)")
_AFTER_CLOSER = re.compile(r"\s*(?:<\|im_end\|>|<tool_response>|\Z)")


class _Closers:
    """Where a tool response block that opens at ``start`` ends, in one pass over the text.

    In chat markup (the text has ``<|im_start|>``) the template always follows a block's
    ``</tool_response>`` with the next block or ``<|im_end|>``, so the first closer followed by
    one of those (or the end) is the block's own; a closer printed raw inside unneutralised tool
    output (a framework that renders output verbatim) is then content, not the end. Without
    markup, or when no closer fits, the first closer ends the block. Each closer is examined
    once however many blocks ask (``find`` is called with increasing ``start``), so linear.
    """

    def __init__(self, text: str) -> None:
        self.text, self.markup = text, IM_START in text
        self.good, self.scanned = -1, 0  # the next fitting closer at or after ``scanned`` (-1: none left)
        self.exhausted = False

    def find(self, start: int) -> int:
        first = self.text.find(TOOL_RESPONSE_CLOSE, start)
        if not self.markup or first < 0:
            return first
        if self.good < start and not self.exhausted:
            i = self.text.find(TOOL_RESPONSE_CLOSE, max(start, self.scanned))
            while i >= 0 and _AFTER_CLOSER.match(self.text, i + len(TOOL_RESPONSE_CLOSE)) is None:
                i = self.text.find(TOOL_RESPONSE_CLOSE, i + len(TOOL_RESPONSE_CLOSE))
            self.good = i
            self.exhausted = i < 0
            self.scanned = len(self.text) if i < 0 else i + len(TOOL_RESPONSE_CLOSE)
        return self.good if self.good >= start else first


def parse_trace(text: str, tools: Sequence[ToolSpec] = DEFAULT_TOOLS) -> Trace:
    """Split a response into segments and read its calls and final answer. Never raises; linear."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    by_name = {t.name: t for t in tools}
    segments: list[Segment] = []
    calls: list[ToolCall] = []
    responses: list[str] = []
    errors: list[str] = []
    pos = text_start = 0
    last_response = -1  # index in segments of the last tool response
    closers = _Closers(text)

    while (m := _TAG.search(text, pos)) is not None:
        nxt = m.start()
        kind = m.lastindex
        if kind == 3:
            errors.append(f"stray closing tag at offset {nxt}")
            pos = m.end()
            continue
        if nxt > text_start:
            segments.append(Segment("text", text[text_start:nxt], text_start, nxt))
        if kind == 1:
            call = parse_call(text, nxt, by_name)
            calls.append(call)
            if call.error:
                errors.append(f"tool call #{len(calls)}: {call.error}")
            segments.append(Segment("tool_call", call.raw, call.start, call.end))
            pos = call.end
        elif kind == 2:
            close = closers.find(nxt)
            end = len(text) if close < 0 else close + len(TOOL_RESPONSE_CLOSE)
            if close < 0:
                errors.append(f"unclosed {TOOL_RESPONSE_OPEN} at offset {nxt}")
            inner = text[nxt + len(TOOL_RESPONSE_OPEN) : close if close >= 0 else end]
            if inner.startswith("\n"):
                inner = inner[1:]
            if close >= 0 and inner.endswith("\n"):
                inner = inner[:-1]
            responses.append(inner)
            last_response = len(segments)
            segments.append(Segment("tool_response", text[nxt:end], nxt, end))
            pos = end
        else:
            segments.append(Segment("markup", m.group(0), nxt, m.end()))
            pos = m.end()
        text_start = pos
    if len(text) > text_start:
        segments.append(Segment("text", text[text_start:], text_start, len(text)))

    return build_trace(text, segments, calls, responses, errors, last_response)
