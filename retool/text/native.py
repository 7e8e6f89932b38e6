"""The ``retool-code`` dialect: ReTool's native ``<code>`` blocks and ``<interpreter>`` output.

The published ReTool SFT data and checkpoint speak it: the model writes its code inside one assistant
message as ``<code>\\n```python\\n...\\n```\\n</code>``, generation stops at ``</code>``, and the
rollout appends the output as plain text, ``\\n\\n<interpreter>\\n...\\n</interpreter>\\n\\n``, to the
same message (no chat markup between); the model reasons on and ends with a ``\\boxed{}`` answer and
its end of turn. None of these tags is a special token.

Rendering:
- :data:`NATIVE_SYSTEM_PROMPT` tells the model the format (no tools block: the chat template gets
  no tools in this dialect).
- :func:`format_code_block` renders one call; :func:`interpreter_text` the tool text that follows
  a model turn ending in ``</code>`` (mask 0 in training): one ``<interpreter>`` block per output,
  ``"\\n\\n"`` around and between them, exactly the upstream rollout's layout for one call. Output is
  neutralised first: ``<code>``, ``</code>``, ``<interpreter>``, ``</interpreter>``, ``<think>``,
  ``</think>``, the Qwen3 tool tags and the chat specials get ``&lt;`` for ``<``, so code cannot
  close its own block, forge a call or an end of turn, or move where the message's reasoning ends.

Parsing (:func:`parse_native`, total and linear like :func:`retool.text.grammar.parse_trace`; any
string gives a :class:`~retool.text.trace.Trace`, nothing raises):
- A call is ``<code>`` ... the first ``</code>``: its code is the content with surrounding blank
  space and one wrapping markdown fence removed (:attr:`ToolCall.code`); it calls
  ``code_interpreter`` (an error when the tools do not include it). An empty block, or one never
  closed (it runs to the end of the text), is an error on the call, fed back to the model.
- A Qwen3 ``<tool_call>`` JSON call is read too (the upstream rollout accepts both, and its prompt
  describes that form), with the grammar's own :func:`retool.text.grammar.parse_call`.
- A bare ````` ```python ````` fence is *not* a call: in prose it is a listing, and running every
  listing of a final answer would execute text the model never asked to run.
- ``<interpreter>`` ... the first ``</interpreter>`` is a tool response (its content minus one
  leading and one trailing newline); unclosed, it runs to the end and is an error. A stray
  ``</code>``/``</interpreter>``/``</tool_call>`` is an error. Chat markup is segmented as in the
  grammar. The final answer is read by :func:`retool.text.trace.build_trace`, as in every dialect.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from retool.text.grammar import neutralise, parse_call
from retool.text.trace import CODE_INTERPRETER, DEFAULT_TOOLS, Segment, ToolCall, ToolSpec, Trace, build_trace

__all__ = ["CODE_CLOSE", "CODE_OPEN", "INTERPRETER_CLOSE", "INTERPRETER_OPEN", "NATIVE_SYSTEM_PROMPT", "format_code_block",
           "interpreter_text", "neutralise_native", "parse_native"]

CODE_OPEN, CODE_CLOSE = "<code>", "</code>"
INTERPRETER_OPEN, INTERPRETER_CLOSE = "<interpreter>", "</interpreter>"
# the think tags too: the output sits inside the assistant message, whose </think> the Qwen3 template
# splits the message at (reasoning before it, the answer after)
_NEUTRALISED = (CODE_OPEN, CODE_CLOSE, INTERPRETER_OPEN, INTERPRETER_CLOSE, "<think>", "</think>")
NATIVE_SYSTEM_PROMPT = (
    "Solve the problem step by step. You can run Python code to help you reason: write a complete script "
    "wrapped as <code>\n```python\n...\n```\n</code> and its output will be returned to you inside "
    "<interpreter>...</interpreter>. Finish with your final answer in the form \\boxed{...}."
)
_TAG = re.compile(r"<(?:(code>)|(interpreter>)|(tool_call>)|(/code>|/interpreter>|/tool_call>)|"
                  r"\|im_start\|>[a-z_]*\n?|\|im_end\|>\n?|\|endoftext\|>)")


def format_code_block(code: str) -> str:
    """One native call: the code in a python fence inside ``<code>`` tags."""
    return f"{CODE_OPEN}\n```python\n{code}\n```\n{CODE_CLOSE}"


def neutralise_native(text: str) -> str:
    """Defuse the native tags, the Qwen3 tool tags and the chat specials in tool output."""
    for tag in _NEUTRALISED:
        if tag in text:
            text = text.replace(tag, "&lt;" + tag[1:])
    return neutralise(text)


def interpreter_text(outputs: Sequence[str]) -> str:
    """The tool text after a model turn that ended in ``</code>`` (see the module docstring)."""
    if not outputs:
        raise ValueError("interpreter_text needs at least one tool output, got none")
    blocks = "\n\n".join(f"{INTERPRETER_OPEN}\n{neutralise_native(o)}\n{INTERPRETER_CLOSE}" for o in outputs)
    return f"\n\n{blocks}\n\n"


def _code_call(text: str, start: int, tools: dict[str, ToolSpec]) -> ToolCall:
    body = start + len(CODE_OPEN)
    close = text.find(CODE_CLOSE, body)
    end = len(text) if close < 0 else close + len(CODE_CLOSE)
    raw, code = text[start:end], text[body : len(text) if close < 0 else close].strip()
    args = {"code": code}
    if close < 0:
        return ToolCall(CODE_INTERPRETER.name, args, raw, start, end, f"unclosed {CODE_OPEN} at offset {start}")
    if CODE_INTERPRETER.name not in tools:
        return ToolCall(CODE_INTERPRETER.name, args, raw, start, end,
                        f"a {CODE_OPEN} block calls {CODE_INTERPRETER.name!r}, which is not among the tools: {', '.join(sorted(tools))}")
    call = ToolCall(CODE_INTERPRETER.name, args, raw, start, end)
    if not (call.code or "").strip():
        return call._replace(error=f"empty {CODE_OPEN} block at offset {start}: no code to execute")
    return call


def parse_native(text: str, tools: Sequence[ToolSpec] = DEFAULT_TOOLS) -> Trace:
    """Split a native-dialect response into segments and read its calls and final answer. Never raises; linear."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    by_name = {t.name: t for t in tools}
    segments: list[Segment] = []
    calls: list[ToolCall] = []
    responses: list[str] = []
    errors: list[str] = []
    pos = text_start = 0
    last_response = -1
    while (m := _TAG.search(text, pos)) is not None:
        nxt, kind = m.start(), m.lastindex
        if kind == 4:
            errors.append(f"stray closing tag {m.group(0)} at offset {nxt}")
            pos = m.end()
            continue
        if nxt > text_start:
            segments.append(Segment("text", text[text_start:nxt], text_start, nxt))
        if kind in (1, 3):
            call = _code_call(text, nxt, by_name) if kind == 1 else parse_call(text, nxt, by_name)
            calls.append(call)
            if call.error:
                errors.append(f"tool call #{len(calls)}: {call.error}")
            segments.append(Segment("tool_call", call.raw, call.start, call.end))
            pos = call.end
        elif kind == 2:
            close = text.find(INTERPRETER_CLOSE, m.end())
            end = len(text) if close < 0 else close + len(INTERPRETER_CLOSE)
            if close < 0:
                errors.append(f"unclosed {INTERPRETER_OPEN} at offset {nxt}")
            inner = text[m.end() : close if close >= 0 else end].removeprefix("\n")
            responses.append(inner.removesuffix("\n") if close >= 0 else inner)
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

