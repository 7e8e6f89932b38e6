"""Source data into the project's records: ReTool-SFT rows to tool-calling chats, DAPO / AIME rows to prompts.

- :mod:`~retool.data.sources`: ``sft_record(row)`` and ``rl_record(row, source)`` (pure; a bad row
  raises ``RowError`` naming the field), ``prepare_sft`` / ``prepare_rl`` (file to file, a bad row
  is an error naming file, row and field, or goes to a rejects file with the reason; counts are
  reported), ``read_jsonl`` / ``iter_rows`` (JSONL or parquet) and ``sample_path(name)``.
- ``samples/``: small shipped samples of each source, the offline default's data.
"""

from retool import lazy_exports

_EXPORTS = dict.fromkeys(
    ("DataError", "PrepReport", "QUESTION_MARKER", "RowError", "SAMPLES_DIR", "inline_assistant_text", "iter_rows",
     "prepare_rl", "prepare_sft", "read_jsonl", "rl_record", "sample_path", "sft_record", "split_trajectory"),
    ".sources",
)
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
