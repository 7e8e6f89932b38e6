"""JSON lines read totally: every line becomes a value or a named :class:`~retool.data.rows.RowError`.

Contract (linear time in the bytes read, memory bounded by ``max_line_bytes`` plus one chunk):
- :func:`iter_lines` ``(binary file, max_line_bytes)`` yields ``(line number, bytes | RowError,
  terminated)`` for every non-blank line (1-based numbers count every line, blank ones included). Lines end
  at ``\\n``; the newline is dropped (a ``\\r`` before it is JSON whitespace). A line longer than
  ``max_line_bytes`` is read past in chunks, never held whole, and is a ``RowError``. A UTF-8 BOM
  at the start of the file is dropped. A last line without a newline is yielded as it is
  (``terminated`` false). :func:`iter_json` decodes each line: ``(line number, value |
  RowError)``; a decoding error on an unterminated last line says the file may be truncated.
- :func:`decode_json_line` ``(bytes | str)`` is one JSON value or raises ``RowError`` (field
  ``"<line>"``) for: invalid UTF-8 (the byte offset), a NUL byte, malformed JSON (the column),
  nesting deeper than ``max_depth`` (``MAX_JSON_DEPTH``; checked without recursion, so a line of
  100k ``[`` is a ``RowError``, never a ``RecursionError``), an integer of more than 4,300 digits,
  and, unless ``allow_nan``, ``NaN`` / ``Infinity`` / ``-Infinity`` and numbers that overflow a
  float (``1e400``). The error's ``excerpt`` holds the line's first 120 characters.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import IO, Any

from retool.data.rows import LINE, MAX_JSON_DEPTH, MAX_LINE_BYTES, RowError

__all__ = ["decode_json_line", "iter_json", "iter_lines"]

_BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 20
_EXCERPT = 120


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:24]} overflows a float")
    return value


_STRICT = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_float)
_LENIENT = json.JSONDecoder()


def _excerpt(raw: bytes | str) -> str:
    head = raw[: _EXCERPT * 4]
    text = head.decode("utf-8", "backslashreplace") if isinstance(head, bytes) else head
    return text[:_EXCERPT]


def _too_deep(value: Any, limit: int) -> bool:
    """True when ``value`` nests deeper than ``limit`` containers (iterative, linear in its size)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def decode_json_line(raw: bytes | str, *, allow_nan: bool = False, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """One JSON value from one line (see the module contract); raises ``RowError``."""
    if isinstance(raw, bytes):
        nul = raw.find(b"\x00")
        if nul >= 0:
            raise RowError(LINE, f"NUL byte at byte {nul}", excerpt=_excerpt(raw))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RowError(LINE, f"invalid UTF-8 at byte {exc.start}: {raw[exc.start:exc.start + 4]!r}",
                           excerpt=_excerpt(raw)) from None
    elif isinstance(raw, str):
        text = raw
        nul = text.find("\x00")
        if nul >= 0:
            raise RowError(LINE, f"NUL character at char {nul}", excerpt=_excerpt(text))
    else:
        raise RowError(LINE, f"expected bytes or str, got {type(raw).__name__}")
    try:
        value = (_LENIENT if allow_nan else _STRICT).decode(text)
    except json.JSONDecodeError as exc:
        raise RowError(LINE, f"not valid JSON: {exc.msg} at column {exc.colno}", excerpt=_excerpt(text)) from None
    except RecursionError:
        raise RowError(LINE, f"not valid JSON: nests deeper than {max_depth} levels", excerpt=_excerpt(text)) from None
    except ValueError as exc:  # NaN / Infinity, a float overflow, an integer of more than 4,300 digits
        raise RowError(LINE, f"not valid JSON: {exc}", excerpt=_excerpt(text)) from None
    if isinstance(value, dict | list) and text.count("[") + text.count("{") > max_depth and _too_deep(value, max_depth):
        raise RowError(LINE, f"not valid JSON: nests deeper than {max_depth} levels", excerpt=_excerpt(text))
    return value


def iter_lines(fh: IO[bytes], max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes | RowError, bool]]:
    """``(line number, line bytes or RowError, ends with a newline)`` for each non-blank line."""
    lineno = 0
    while True:
        line = fh.readline(max_line_bytes + 1)
        if not line:
            return
        lineno += 1
        if lineno == 1 and line.startswith(_BOM):
            line = line[len(_BOM):]
        terminated = line.endswith(b"\n")
        if terminated or len(line) <= max_line_bytes:
            content = line[:-1] if terminated else line
            if content.strip():
                yield lineno, content, terminated
            continue
        size = len(line)
        while not line.endswith(b"\n"):  # read past the oversized line without holding it
            line = fh.readline(_CHUNK)
            if not line:
                break
            size += len(line) - line.endswith(b"\n")
        yield lineno, RowError(LINE, f"line of {size} bytes exceeds the bound of {max_line_bytes} bytes"), line.endswith(b"\n")


def iter_json(fh: IO[bytes], max_line_bytes: int = MAX_LINE_BYTES, *, allow_nan: bool = False) -> Iterator[tuple[int, Any]]:
    """``(line number, value or RowError)`` for each non-blank line (see :func:`iter_lines`)."""
    for lineno, content, terminated in iter_lines(fh, max_line_bytes):
        if isinstance(content, RowError):
            yield lineno, content
            continue
        try:
            yield lineno, decode_json_line(content, allow_nan=allow_nan)
        except RowError as err:
            if terminated:
                yield lineno, err
            else:
                yield lineno, RowError(err.field, f"{err.reason} (the last line has no newline: the file may be truncated)",
                                       excerpt=err.excerpt)
