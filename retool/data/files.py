"""Source files -> prepared JSONL files, every row written, rejected with its reason, or named in an error.

Contract:
- :func:`iter_rows` yields ``(row number, row or RowError)`` for a JSONL file (1-based line
  numbers; read as bytes through :func:`retool.data.jsonl.iter_json`, so a line that is not JSON,
  is not UTF-8, holds a NUL, ``NaN``/``Infinity``, nests deeper than ``MAX_JSON_DEPTH`` or is
  longer than ``MAX_LINE_BYTES`` is itself a named, rejectable row) or a parquet file (1-based, read
  through ``datasets``; a file that is not readable parquet is a :class:`DataError` naming it,
  row 0, field ``"<file>"``). Any other suffix is read as JSONL. Linear in the file's size.
- :func:`read_jsonl` gives the records of a prepared file; a line that is not a JSON object
  raises :class:`DataError` naming the file, line and reason.
- ``prepare_sft`` / ``prepare_rl``: a malformed row is never dropped silently: without a rejects
  path it raises :class:`DataError` naming the file, the row and the field; with one it is written
  there as ``{"file", "row", "field", "reason", "raw", "excerpt"}`` (``raw``: the row as parsed,
  ``null`` when it did not parse or cannot be written as JSON; ``excerpt``: the start of the line
  then) and counted. Every call returns a frozen :class:`PrepReport` with
  ``rows_read == rows_written + rows_rejected``. Output is JSONL, one record per line, each with
  ``metadata.file`` and ``metadata.row``; every line written is valid UTF-8 JSON (no NaN).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from retool.data.jsonl import iter_json
from retool.data.rl import RL_SOURCES, RLSource, rl_record
from retool.data.rows import LINE, DataError, PrepReport, RowError, describe
from retool.data.sft import sft_record
from retool.text.dialect import get_dialect
from retool.text.trace import DEFAULT_TOOLS

__all__ = ["SAMPLES_DIR", "iter_rows", "prepare_rl", "prepare_sft", "read_jsonl", "sample_path"]

SAMPLES_DIR = Path(__file__).with_name("samples")


def _parquet_rows(path: Path) -> Iterator[tuple[int, Any]]:
    from datasets import Dataset

    try:
        rows = Dataset.from_parquet(str(path), keep_in_memory=True)
    except OSError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow / datasets raise many types; each becomes a named error
        raise DataError(str(path), 0, "<file>", f"cannot read parquet: {type(exc).__name__}: {str(exc)[:200]}") from None
    for i, row in enumerate(rows, start=1):
        yield i, row


def iter_rows(path: str | os.PathLike[str]) -> Iterator[tuple[int, Any]]:
    """``(row number, row or RowError)`` for a JSONL (1-based line numbers) or parquet (1-based) file."""
    p = Path(path)
    if p.suffix == ".parquet":
        yield from _parquet_rows(p)
        return
    with open(p, "rb") as fh:
        yield from iter_json(fh)


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Records of a prepared JSONL file; a line that is not a JSON object raises :class:`DataError`."""
    out = []
    for row_no, row in iter_rows(path):
        if isinstance(row, RowError):
            raise DataError(str(path), row_no, row.field, row.reason)
        if not isinstance(row, dict):
            raise DataError(str(path), row_no, LINE, f"not a JSON object: {describe(row)}")
        out.append(row)
    return out


def _json_line(obj: Any) -> str:
    """``obj`` as one JSON line that is valid UTF-8 (lone surrogates escaped); raises ``ValueError``
    (NaN, an unserialisable value) or ``RecursionError``."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(obj, ensure_ascii=True, allow_nan=False)
    return text + "\n"


def _reject_line(in_path: str, row_no: int, row: Any, err: RowError) -> str:
    entry = {"file": in_path, "row": row_no, "field": err.field, "reason": err.reason,
             "raw": None if isinstance(row, RowError) else row, "excerpt": err.excerpt}
    try:
        return _json_line(entry)
    except (ValueError, TypeError, RecursionError):  # a parquet row with NaN, bytes, ...
        return _json_line({**entry, "raw": None, "excerpt": repr(row)[:200] if not isinstance(row, RowError) else None})


def _prepare(in_path: Any, out_path: Any, convert: Callable[[Any], dict[str, Any]], rejects_path: Any) -> PrepReport:
    in_path, out_path = str(in_path), str(out_path)
    read = written = rejected = tool_calls = 0
    sources: dict[str, int] = {}
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    rej: IO[str] | None = open(rejects_path, "w", encoding="utf-8") if rejects_path else None
    try:
        with open(out_path, "w", encoding="utf-8") as out:
            for row_no, row in iter_rows(in_path):
                read += 1
                try:
                    if isinstance(row, RowError):
                        raise row
                    record = convert(row)
                except RowError as err:
                    if rej is None:
                        raise DataError(in_path, row_no, err.field, err.reason) from None
                    rej.write(_reject_line(in_path, row_no, row, err))
                    rejected += 1
                    continue
                record["metadata"].update(file=in_path, row=row_no)
                out.write(_json_line(record))
                written += 1
                name = record["metadata"]["source"]
                sources[name] = sources.get(name, 0) + 1
                tool_calls += _tool_calls(record)
    finally:
        if rej is not None:
            rej.close()
    return PrepReport(
        source_path=in_path, out_path=out_path, rows_read=read, rows_written=written, rows_rejected=rejected,
        rejects_path=str(rejects_path) if rejects_path else None, sources=tuple(sources.items()), tool_calls=tool_calls,
    )


def _tool_calls(record: dict[str, Any]) -> int:
    """Calls in one written record: OpenAI ``tool_calls`` entries, or the calls of its dialect's parse."""
    messages = record.get("messages", ())
    if record.get("dialect"):
        speaks = get_dialect(record["dialect"])
        return sum(len(speaks.parse(m["content"], DEFAULT_TOOLS).tool_calls) for m in messages if m.get("role") == "assistant")
    return sum(len(m.get("tool_calls") or ()) for m in messages)


def prepare_sft(in_path: str | os.PathLike[str], out_path: str | os.PathLike[str], *,
                rejects_path: str | os.PathLike[str] | None = None, dialect: str = "qwen3") -> PrepReport:
    """ReTool-SFT JSONL/parquet -> tool-calling chat records (JSONL) in ``dialect`` (qwen3 tool
    turns, or retool-code kept native with its interpreter spans masked 0 when trained)."""
    get_dialect(dialect)  # an unknown name raises before any file is written
    return _prepare(in_path, out_path, lambda row: sft_record(row, dialect), rejects_path)


def prepare_rl(in_path: str | os.PathLike[str], out_path: str | os.PathLike[str], *, source: RLSource = "auto",
               rejects_path: str | os.PathLike[str] | None = None) -> PrepReport:
    """DAPO / AIME JSONL/parquet -> ``{prompt, label}`` records asking for the boxed answer (JSONL)."""
    if source not in RL_SOURCES:
        raise ValueError(f"source must be 'dapo', 'aime' or 'auto', got {source!r}")
    return _prepare(in_path, out_path, lambda row: rl_record(row, source), rejects_path)


def sample_path(name: str) -> Path:
    """A shipped sample file (``retool_sft_sample.jsonl``, ``dapo_sample.jsonl``, ...)."""
    path = SAMPLES_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"no shipped sample {name!r} in {SAMPLES_DIR}")
    return path
