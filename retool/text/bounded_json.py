"""JSON decoding with a nesting bound, for text the model wrote. Pure, total, linear.

The standard decoder recurses once per nesting level, so a tool call holding a thousand ``[``
raises ``RecursionError`` (not ``JSONDecodeError``) at a depth that depends on the interpreter and
on how deep the caller's stack already is. Here the depth is checked first, in one scan of only
what the decoder would read, and a value nesting deeper than ``MAX_JSON_DEPTH`` is refused with a
``json.JSONDecodeError`` like any other malformed JSON. Strings are decoded with
``strict=False`` (raw newlines and control characters inside strings are accepted).
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_JSON_DEPTH", "decode_prefix", "decode_whole", "too_deep"]

_DECODER = json.JSONDecoder(strict=False)
MAX_JSON_DEPTH = 100
# JSON strings (closed or running to the end of the text) and the characters that matter for depth
_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
_JSON_CHARS = re.compile(r'["\[\]{}<]')  # one class: the engine skips everything else at C speed


def extent(text: str, i: int) -> tuple[int, bool]:
    """``(end, too_deep)`` for the JSON value starting at ``text[i]``: how far the decoder can read
    (the end of the first value, a ``<`` outside a string, where decoding must fail, or the end of
    the text) and whether it nests deeper than ``MAX_JSON_DEPTH`` before that. Linear in the span."""
    if i >= len(text):
        return len(text), False
    if text[i] not in "[{":
        if text[i] == '"':
            return _JSON_STRING.match(text, i).end(), False
        cut = text.find("<", i)
        return len(text) if cut < 0 else cut, False
    depth, pos = 0, i
    while (m := _JSON_CHARS.search(text, pos)) is not None:
        at = m.start()
        ch = text[at]
        if ch == '"':
            pos = _JSON_STRING.match(text, at).end()
            continue
        pos = at + 1
        if ch == "<":
            return at, False
        if ch in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return pos, True
        else:
            depth -= 1
            if depth <= 0:
                return pos, False
    return len(text), False


def too_deep(text: str, i: int) -> bool:
    """True when the JSON value starting at ``text[i]`` nests deeper than ``MAX_JSON_DEPTH``."""
    return extent(text, i)[1]


def decode_prefix(text: str, i: int) -> tuple[Any, int]:
    """``raw_decode(text, i)`` with the depth bound: too deep raises ``json.JSONDecodeError`` (never
    ``RecursionError``). Only the value's extent is handed to the decoder, so an error's position
    (which the decoder turns into a line number by counting newlines) costs the extent, not the
    whole text before it; positions in the result and in errors are offsets into ``text``."""
    end, deep = extent(text, i)
    if deep:
        error = json.JSONDecodeError(f"JSON nests deeper than {MAX_JSON_DEPTH} levels", "", 0)
        error.pos = i
        raise error
    try:
        obj, used = _DECODER.raw_decode(text[i:end], 0)
    except json.JSONDecodeError as exc:
        exc.pos += i
        raise
    except ValueError as exc:  # an integer past CPython's 4300-digit limit for int(str)
        raise json.JSONDecodeError(f"number too large ({exc})"[:120], "", 0) from None
    return obj, i + used


def decode_whole(text: str) -> Any:
    """``json.loads`` semantics (surrounding JSON whitespace allowed) with the depth bound."""
    i = len(text) - len(text.lstrip(" \t\n\r"))
    obj, end = decode_prefix(text, i)
    if text[end:].strip(" \t\n\r"):
        raise json.JSONDecodeError("Extra data", text, end)
    return obj
