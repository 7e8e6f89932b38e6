"""Reading a metrics log (JSONL rows) that a trainer may still be appending to.

Contract (each reader reads one file):
- :class:`MetricsTail` reads a metrics JSONL file that a trainer is appending to, each
  :meth:`~MetricsTail.poll` reading only the bytes added since the last one (linear in the file's
  size over all polls; memory bounded by ``max_line_bytes``, default ``MAX_METRICS_LINE_BYTES`` =
  1 MiB, plus one read chunk). It is total: a line becomes a row or a named
  :class:`MetricsReject` (line number, reason), never an exception: invalid UTF-8 (that line
  only), a NUL byte, malformed JSON, nesting deeper than ``MAX_JSON_DEPTH``, an integer of more
  than 4,300 digits, a line longer than ``max_line_bytes`` (read past, never held), a value that
  is not an object, a ``step`` that is not an int >= 0. ``NaN`` / ``Infinity`` values are read as
  floats, so :func:`check` reports them as "invalid" breaches. A last line without its newline
  is a writer caught mid-line: it is left pending and read once its newline arrives (with
  ``final=True`` it is read as it is, and a reject says it is incomplete). ``\r\n`` line ends
  and a UTF-8 BOM are accepted. A file that shrinks or is replaced (another inode) is read again
  from its start: ``restarted`` is set and ``rows`` / ``rejects`` hold only the new file's.
  :func:`read_metrics_log` reads a whole file once (``final=True``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from retool.data.jsonl import decode_json_line
from retool.data.rows import RowError

__all__ = ["MAX_METRICS_LINE_BYTES", "MetricsPoll", "MetricsReject", "MetricsTail", "metrics_row", "read_metrics_log"]

MAX_METRICS_LINE_BYTES = 1 << 20
_READ_CHUNK = 1 << 20
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, kw_only=True)
class MetricsReject:
    """A metrics line that is not a row: its 1-based line number and why."""

    line: int
    reason: str
    excerpt: str | None = None

    def message(self, source: str) -> str:
        return f"{source}:{self.line}: {self.reason}"


@dataclass(frozen=True, kw_only=True)
class MetricsPoll:
    """What one poll read: the new rows and rejects, whether the file started over, what is pending."""

    rows: tuple[dict, ...]
    rejects: tuple[MetricsReject, ...]
    restarted: bool = False
    pending_bytes: int = 0  # an incomplete last line, waiting for its newline


def metrics_row(line: bytes | str, number: int) -> dict | MetricsReject:
    """One metrics line (without its newline) -> the row, or a :class:`MetricsReject`. Total, linear."""
    try:
        row: Any = decode_json_line(line, allow_nan=True)
    except RowError as err:
        return MetricsReject(line=number, reason=err.reason, excerpt=err.excerpt)
    if not isinstance(row, dict):
        return MetricsReject(line=number, reason=f"expected a JSON object, got {type(row).__name__}")
    step = row.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        shown = repr(step) if isinstance(step, bool | float | None) or (isinstance(step, int) and step.bit_length() < 64) \
            else type(step).__name__
        return MetricsReject(line=number, reason=f"'step' must be an int >= 0, got {shown}")
    return row


@dataclass(kw_only=True)
class MetricsTail:
    """Reads the rows a trainer appends to a metrics JSONL file, poll by poll (see the module contract)."""

    path: str | os.PathLike[str]
    max_line_bytes: int = MAX_METRICS_LINE_BYTES
    chunk_bytes: int = _READ_CHUNK
    rows: list[dict] = field(default_factory=list, init=False)  # every row of the file so far
    rejects: list[MetricsReject] = field(default_factory=list, init=False)
    _offset: int = field(default=0, init=False, repr=False)
    _inode: int | None = field(default=None, init=False, repr=False)
    _line: int = field(default=0, init=False, repr=False)  # lines ended so far
    _pending: list[bytes] = field(default_factory=list, init=False, repr=False)
    _pending_len: int = field(default=0, init=False, repr=False)
    _oversized: int = field(default=0, init=False, repr=False)  # bytes of a line past max_line_bytes (0: none)

    def __post_init__(self) -> None:
        if isinstance(self.max_line_bytes, bool) or not isinstance(self.max_line_bytes, int) or self.max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be an int >= 1, got {self.max_line_bytes!r}")
        if isinstance(self.chunk_bytes, bool) or not isinstance(self.chunk_bytes, int) or self.chunk_bytes < 1:
            raise ValueError(f"chunk_bytes must be an int >= 1, got {self.chunk_bytes!r}")

    def _restart(self) -> None:
        self.rows, self.rejects = [], []
        self._offset = self._line = self._pending_len = self._oversized = 0
        self._pending = []

    def poll(self, *, final: bool = False) -> MetricsPoll:
        """Read what was appended since the last poll; ``final``: also read an unterminated last line."""
        new_rows: list[dict] = []
        new_rejects: list[MetricsReject] = []
        restarted = False
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - closed below; a missing file is "nothing yet"
        except FileNotFoundError:
            return MetricsPoll(rows=(), rejects=(), pending_bytes=self._pending_len)
        with handle:
            info = os.fstat(handle.fileno())
            if self._inode is not None and (info.st_ino != self._inode or info.st_size < self._offset):
                self._restart()
                restarted = True
            self._inode = info.st_ino
            handle.seek(self._offset)
            while chunk := handle.read(self.chunk_bytes):
                self._offset += len(chunk)
                self._feed(chunk, new_rows, new_rejects)
        if final and (self._pending_len or self._oversized):
            self._end_line(new_rows, new_rejects, terminated=False)
        self.rows.extend(new_rows)
        self.rejects.extend(new_rejects)
        return MetricsPoll(rows=tuple(new_rows), rejects=tuple(new_rejects), restarted=restarted,
                           pending_bytes=self._pending_len + self._oversized)

    def _feed(self, chunk: bytes, rows: list[dict], rejects: list[MetricsReject]) -> None:
        start = 0
        while True:
            newline = chunk.find(b"\n", start)
            piece = chunk[start:] if newline < 0 else chunk[start:newline]
            if self._oversized:
                self._oversized += len(piece)
            elif self._pending_len + len(piece) > self.max_line_bytes:
                self._oversized = self._pending_len + len(piece)
                self._pending, self._pending_len = [], 0
            elif piece:
                self._pending.append(piece)
                self._pending_len += len(piece)
            if newline < 0:
                return
            self._end_line(rows, rejects, terminated=True)
            start = newline + 1

    def _end_line(self, rows: list[dict], rejects: list[MetricsReject], *, terminated: bool) -> None:
        self._line += 1
        line, oversized = b"".join(self._pending), self._oversized
        self._pending, self._pending_len, self._oversized = [], 0, 0
        if oversized:
            rejects.append(MetricsReject(line=self._line, reason=f"line of {oversized} bytes exceeds the bound of "
                                                                  f"{self.max_line_bytes} bytes"))
            return
        if self._line == 1 and line.startswith(_BOM):
            line = line[len(_BOM):]
        if not line.strip():
            return
        result = metrics_row(line, self._line)
        if isinstance(result, MetricsReject):
            if not terminated:
                result = MetricsReject(line=result.line, reason=f"{result.reason} (incomplete last line: no newline)",
                                       excerpt=result.excerpt)
            rejects.append(result)
        else:
            rows.append(result)


def read_metrics_log(path: str | os.PathLike[str], *, max_line_bytes: int = MAX_METRICS_LINE_BYTES) -> MetricsPoll:
    """Every row and reject of a metrics file, read once to its end (an unterminated last line included)."""
    return MetricsTail(path=path, max_line_bytes=max_line_bytes).poll(final=True)
