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
_JSON_TOKENS = re.compile(r'"(?:[^"\\]++|\\.)*+"?|[\[\]{}<]', re.DOTALL)


def too_deep(text: str, i: int) -> bool:
    """True when the JSON value starting at ``text[i]`` nests deeper than ``MAX_JSON_DEPTH``.

    Scans only as far as the decoder would read: to the end of the first value, or to a ``<``
    outside a string (where decoding fails), or until the bound is passed. Linear in that span.
    """
    if i >= len(text) or text[i] not in "[{":
        return False
    depth = 0
    for m in _JSON_TOKENS.finditer(text, i):
        ch = text[m.start()]
        if ch in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif ch in "]}":
            depth -= 1
            if depth <= 0:
                return False
        elif ch == "<":
            return False
    return False


def decode_prefix(text: str, i: int) -> tuple[Any, int]:
    """``raw_decode`` with the depth bound: too deep raises ``json.JSONDecodeError`` (never
    ``RecursionError``)."""
    if too_deep(text, i):
        raise json.JSONDecodeError(f"JSON nests deeper than {MAX_JSON_DEPTH} levels", text, i)
    return _DECODER.raw_decode(text, i)


def decode_whole(text: str) -> Any:
    """``json.loads`` semantics (surrounding JSON whitespace allowed) with the depth bound."""
    i = len(text) - len(text.lstrip(" \t\n\r"))
    obj, end = decode_prefix(text, i)
    if text[end:].strip(" \t\n\r"):
        raise json.JSONDecodeError("Extra data", text, end)
    return obj
