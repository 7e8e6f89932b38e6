"""ReTool-SFT trajectories -> tool-calling chat records, and back.

Contract (pure; every function is total: a malformed row raises :class:`~retool.data.rows.RowError`
naming the field, never another exception; linear time in the row's text):
- :func:`sft_record`. A ReTool-SFT row has ``messages``: an optional ``system`` turn, one ``user``
  turn (the instruction, then the problem after ``*user question:*``) and one ``assistant`` turn
  holding the whole trajectory inline: prose, ``<code>```python ...```</code>``,
  ``<interpreter>...</interpreter>``, ..., final text with ``<answer>...\\boxed{}...</answer>``.
  It becomes chat messages in our grammar: the user turn holds only the problem (the original
  instruction describes the inline tags we no longer use; the tool list reaches the model through
  the chat template), each ``<code>`` block becomes an assistant turn (the prose before it as
  ``content``) with an OpenAI-style ``tool_calls`` entry calling ``code_interpreter`` with the
  fence-stripped code, each ``<interpreter>`` block a ``tool`` message, and the text after the last
  one (``<answer>`` tags kept verbatim) the final assistant turn. Prose and outputs are stripped of
  surrounding whitespace. ``metadata.original`` holds the source messages unchanged. Every content
  is a text field within ``MAX_TEXT_CHARS`` with no NUL and no lone surrogate.
  With ``dialect="retool-code"`` the row is kept native instead: the same checked split, put back
  inline in the native rollout's exact layout (:func:`native_assistant_text`) as one assistant
  message, after the prompt the rollout renders in that dialect (its instructions in the system
  turn, the problem as the user turn); the record says ``"dialect": "retool-code"`` and has no
  ``tools``. Trained with that dialect (:func:`retool.text.masking.encode_sft`), the interpreter
  spans are mask 0: the upstream prep, which trains on them, leaks tool output into the loss.
- :func:`split_trajectory` reads the tags in one forward scan: a block runs from its opener to the
  first closer of the same name (other tags inside it are its text), a tag outside a block that
  opens nothing or is never closed is "unbalanced", a ``<code>`` must be followed by its
  ``<interpreter>`` with nothing between them, and the final text must hold a closed ``\\boxed{}``.
  A code block's fence is stripped by :func:`retool.text.grammar.strip_code_fences` (linear).
- :func:`inline_assistant_text` is the inverse of the split: it rebuilds the inline text in the
  canonical layout (``prose\\n\\n<code>\\n```python\\n...\\n```\\n</code>\\n<interpreter>\\n
  ...\\n</interpreter>\\n\\n``), so a canonically laid-out source round-trips byte for byte and any
  source satisfies ``sft_record(inline(sft_record(x))) == sft_record(x)`` on the messages. It
  accepts only ``assistant`` and ``tool`` messages, at most one ``code_interpreter`` call per
  assistant turn (``arguments`` an object or its JSON text); anything else is a ``RowError``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from retool.data.jsonl import decode_json_line
from retool.data.rows import MAX_TEXT_CHARS, RowError, describe, text_field
from retool.text.dialect import get_dialect
from retool.text.grammar import CODE_INTERPRETER, find_boxed, strip_code_fences
from retool.text.native import format_code_block, interpreter_text

__all__ = ["QUESTION_MARKER", "inline_assistant_text", "native_assistant_text", "sft_record", "split_trajectory"]

QUESTION_MARKER = "*user question:*"
_TRAJECTORY = "messages[assistant].content"
_TAG = re.compile(r"<(/?)(code|interpreter)>")  # fixed alternatives: linear
_SHOWN_ROLES = 6


def _assistant_call(prose: str, code: str) -> dict[str, Any]:
    call = {"type": "function", "function": {"name": CODE_INTERPRETER.name, "arguments": {"code": code}}}
    return {"role": "assistant", "content": prose, "tool_calls": [call]}


def _unbalanced(at: int, what: str) -> RowError:
    return RowError(_TRAJECTORY, f"unbalanced <code>/<interpreter> tag near char {at}: {what}")


def split_trajectory(text: str) -> list[dict[str, Any]]:
    """The inline assistant trajectory -> assistant / tool messages (raises :class:`RowError`)."""
    text = text_field(text, _TRAJECTORY)
    out: list[dict[str, Any]] = []
    cursor, expect = 0, "code"
    while (m := _TAG.search(text, cursor)) is not None:
        name = m.group(2)
        if m.group(1):
            raise _unbalanced(m.start(), f"</{name}> closes no block")
        closer = f"</{name}>"
        close = text.find(closer, m.end())
        if close < 0:
            raise _unbalanced(m.start(), f"<{name}> is never closed")
        between, body = text[cursor : m.start()], text[m.end() : close]
        if name == "code":
            if expect != "code":
                raise RowError(_TRAJECTORY, f"<code> block at char {m.start()} follows a <code> block with no <interpreter> output")
            code = strip_code_fences(body.strip())
            if not code.strip():
                raise RowError(_TRAJECTORY, f"empty <code> block at char {m.start()}")
            out.append(_assistant_call(between.strip(), code))
            expect = "interpreter"
        else:
            if expect != "interpreter":
                raise RowError(_TRAJECTORY, f"<interpreter> block at char {m.start()} has no <code> block before it")
            if between.strip():
                raise RowError(_TRAJECTORY, f"text between </code> and <interpreter> at char {cursor} would be lost: "
                                            f"{between.strip()[:40]!r}")
            out.append({"role": "tool", "content": body.strip()})
            expect = "code"
        cursor = close + len(closer)
    if expect == "interpreter":
        raise RowError(_TRAJECTORY, "the last <code> block has no <interpreter> output")
    final = text[cursor:].strip()
    if not final:
        raise RowError(_TRAJECTORY, "no final answer text after the last tool output")
    if not any(span.closed for span in find_boxed(final)):
        raise RowError(_TRAJECTORY, f"final text has no closed \\boxed{{}}: {final[-60:]!r}")
    out.append({"role": "assistant", "content": final})
    return out


def _call_code(msg: Mapping[str, Any], where: str) -> str:
    calls = msg.get("tool_calls")
    if not isinstance(calls, list) or len(calls) != 1:
        raise RowError(f"{where}.tool_calls", f"expected one tool call (the inline form has one <code> per turn), "
                                              f"got {describe(calls)}")
    function = calls[0].get("function") if isinstance(calls[0], Mapping) else None
    if not isinstance(function, Mapping) or function.get("name") != CODE_INTERPRETER.name:
        raise RowError(f"{where}.tool_calls[0].function", f"expected a {CODE_INTERPRETER.name!r} call, got {describe(function)}")
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            arguments = decode_json_line(arguments)
        except RowError as err:
            raise RowError(f"{where}.tool_calls[0].function.arguments", err.reason) from None
    code = arguments.get("code") if isinstance(arguments, Mapping) else None
    return text_field(code, f"{where}.tool_calls[0].function.arguments.code")


def inline_assistant_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """Inverse of :func:`split_trajectory` (canonical layout), over the messages after the user turn."""
    if not isinstance(messages, Sequence) or isinstance(messages, str | bytes):
        raise RowError("messages", f"expected a list of chat messages, got {describe(messages)}")
    parts: list[str] = []
    for k, msg in enumerate(messages):
        where = f"messages[{k}]"
        if not isinstance(msg, Mapping):
            raise RowError(where, f"expected a chat message object, got {describe(msg)}")
        role, content = msg.get("role"), msg.get("content")
        content = "" if content is None else text_field(content, f"{where}.content")
        if role == "assistant" and msg.get("tool_calls"):
            code = _call_code(msg, where)
            parts.append(f"{content}\n\n" if content else "")
            parts.append(f"<code>\n```python\n{code}\n```\n</code>")
        elif role == "tool":
            parts.append(f"\n<interpreter>\n{content}\n</interpreter>\n\n")
        elif role == "assistant":
            parts.append(content)
        else:
            raise RowError(f"{where}.role", f"expected 'assistant' or 'tool' after the user turn, got {describe(role)}")
    return "".join(parts)


def native_assistant_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The split trajectory (:func:`split_trajectory`'s messages) inline again in the retool-code
    rollout's exact layout: prose, ``\n\n``, :func:`retool.text.native.format_code_block`, then
    :func:`retool.text.native.interpreter_text` of the output, ..., the final text. So an SFT
    example teaches the bytes a native rollout produces, and its interpreter spans are the tool text
    the mask leaves at 0."""
    parts: list[str] = []
    for msg in messages:
        if msg["role"] == "tool":
            parts.append(interpreter_text([msg["content"]]))
        elif msg.get("tool_calls"):
            prose = msg["content"]
            parts.append((f"{prose}\n\n" if prose else "") + format_code_block(msg["tool_calls"][0]["function"]["arguments"]["code"]))
        else:
            parts.append(msg["content"])
    return "".join(parts)


def sft_record(row: Mapping[str, Any], dialect: str = "qwen3") -> dict[str, Any]:
    """One ReTool-SFT row -> ``{"messages", "tools", "metadata": {"source", "original"}}`` (qwen3),
    or ``{"messages", "dialect": "retool-code", "metadata"}`` (the module docstring says how)."""
    msgs = row.get("messages") if isinstance(row, Mapping) else None
    if not isinstance(msgs, list) or not msgs:
        what = describe(msgs) if isinstance(row, Mapping) else f"a row that is {describe(row)}"
        raise RowError("messages", f"expected a non-empty list of chat messages, got {what}")
    for k, msg in enumerate(msgs):
        if not isinstance(msg, Mapping) or not isinstance(msg.get("content"), str) or not isinstance(msg.get("role"), str):
            raise RowError(f"messages[{k}]", "expected {'role': str, 'content': str}")
        text_field(msg["content"], f"messages[{k}].content", max_chars=MAX_TEXT_CHARS)
    roles = [m["role"] for m in msgs]
    body = roles[1:] if roles[0] == "system" else roles
    if body != ["user", "assistant"]:
        shown = [r[:20] for r in roles[:_SHOWN_ROLES]] + (["..."] if len(roles) > _SHOWN_ROLES else [])
        raise RowError("messages", f"expected roles [system,] user, assistant; got {shown}")
    user = msgs[-2]["content"]
    problem = user.split(QUESTION_MARKER, 1)[1] if QUESTION_MARKER in user else user
    if not problem.strip():
        raise RowError(f"messages[{len(msgs) - 2}].content", "empty problem text")
    speaks = get_dialect(dialect)
    head = [{"role": "system", "content": msgs[0]["content"]}] if roles[0] == "system" else []
    turns = split_trajectory(msgs[-1]["content"])
    original = [{"role": m["role"], "content": m["content"]} for m in msgs]
    metadata = {"source": "retool-sft", "original": original}
    if speaks.chat_tools:
        out = head + [{"role": "user", "content": problem.strip()}] + turns
        return {"messages": out, "tools": [CODE_INTERPRETER.to_json()], "metadata": metadata}
    prompt = speaks.prompt_messages(head + [{"role": "user", "content": problem.strip()}])
    assistant = text_field(native_assistant_text(turns), _TRAJECTORY, max_chars=MAX_TEXT_CHARS)
    return {"messages": [*prompt, {"role": "assistant", "content": assistant}], "dialect": speaks.name, "metadata": metadata}
