"""Row errors, the bounds every data reader keeps, and the check of one text field.

Contract:
- :class:`RowError` ``(field, reason)`` is a malformed source row (file and row are added by the
  caller); :class:`DataError` ``(file, row, field, reason)`` is one in a named file. Both are
  ``ValueError``. ``RowError.excerpt`` optionally holds the start of a line that did not parse.
- The bounds (one place; each reader's contract refers to them):
  ``MAX_LINE_BYTES`` (16 MiB) for one JSONL line without its newline, ``MAX_JSON_DEPTH`` (64)
  for the nesting of one row, ``MAX_TEXT_CHARS`` (1,000,000, the reward's ``max_response_chars``)
  for one text field (a prompt, a message's content), ``MAX_LABEL_CHARS`` (1,000, the answer
  extractor's ``max_answer_chars``) for one label.
- :func:`text_field` returns a str field unchanged when it has at most ``max_chars`` characters,
  no NUL and no lone surrogate (so it is valid UTF-8 when written), else raises ``RowError``
  naming the field and the character. Linear time.
- :func:`describe` is a bounded description of any value for messages (type, size, a short repr
  of scalars): O(1) in the value's size, never raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_LINE_BYTES = 16 * 2**20
MAX_JSON_DEPTH = 64
MAX_TEXT_CHARS = 1_000_000
MAX_LABEL_CHARS = 1_000
LINE = "<line>"  # the field name of a line that is not a row at all
_SHOWN = 40


class RowError(ValueError):
    """A malformed source row: the field at fault and why (file and row are added by the caller)."""

    def __init__(self, field: str, reason: str, *, excerpt: str | None = None) -> None:
        super().__init__(f"field {field!r}: {reason}")
        self.field, self.reason, self.excerpt = field, reason, excerpt


class DataError(ValueError):
    """A malformed row in a named file."""

    def __init__(self, file: str, row: int, field: str, reason: str) -> None:
        super().__init__(f"{file}: row {row}: field {field!r}: {reason}")
        self.file, self.row, self.field, self.reason = file, row, field, reason


@dataclass(frozen=True, kw_only=True)
class PrepReport:
    source_path: str
    out_path: str
    rows_read: int
    rows_written: int
    rows_rejected: int
    rejects_path: str | None
    sources: tuple[tuple[str, int], ...]  # (schema name, rows written) in first-seen order
    tool_calls: int = 0  # SFT: tool calls over all written records


def describe(value: Any) -> str:
    """``value`` for an error message: its type, its size, and a short repr of a scalar."""
    if value is None or isinstance(value, bool | float):
        return repr(value)
    if isinstance(value, int):
        return repr(value) if value.bit_length() <= 64 else f"an int of {value.bit_length()} bits"
    if isinstance(value, str):
        shown = repr(value[:_SHOWN]) + ("..." if len(value) > _SHOWN else "")
        return f"a str of {len(value)} chars {shown}"
    try:
        size = f" of {len(value)} items"
    except Exception:  # noqa: BLE001 - a message must not fail on an odd object
        size = ""
    return f"a {type(value).__name__}{size}"


def text_field(value: Any, field: str, *, max_chars: int = MAX_TEXT_CHARS) -> str:
    """``value`` when it is a str within the bounds (see the module contract), else ``RowError``."""
    if not isinstance(value, str):
        raise RowError(field, f"expected a string, got {describe(value)}")
    if len(value) > max_chars:
        raise RowError(field, f"text of {len(value)} characters exceeds the bound of {max_chars}")
    nul = value.find("\x00")
    if nul >= 0:
        raise RowError(field, f"NUL character at char {nul}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise RowError(field, f"lone surrogate {value[exc.start]!r} at char {exc.start} (not valid Unicode text)") from None
    return value
