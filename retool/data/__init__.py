"""Source data into the project's records: ReTool-SFT rows to tool-calling chats, DAPO / AIME rows to prompts.

Every function here that reads data text is total and linear-time: a malformed row is a
``RowError`` naming the field (a ``DataError`` naming file, row and field once it has a file),
never another exception, within the bounds of :mod:`~retool.data.rows` (line 16 MiB, nesting 64,
text field 1,000,000 chars, label 1,000 chars).

- :mod:`~retool.data.rows`: ``RowError``, ``DataError``, ``PrepReport`` and the bounds.
- :mod:`~retool.data.jsonl`: ``decode_json_line`` and ``iter_json`` (bytes in, value or ``RowError``
  out: invalid UTF-8, NUL, NaN, deep nesting and oversized lines are named rejects).
- :mod:`~retool.data.sft`: ``sft_record(row)``, ``split_trajectory``, ``inline_assistant_text``.
- :mod:`~retool.data.rl`: ``rl_record(row, source)``, ``box_prompt`` and ``BOX_INSTRUCTION``: the
  prepared RL prompt asks for ``Answer: \\boxed{...}`` (DAPO's ``Answer: $Answer`` is rewritten,
  AIME problems get the instruction), so a policy that follows it can earn the format bonus.
- :mod:`~retool.data.files`: ``prepare_sft`` / ``prepare_rl`` (file to file, a bad row is an error
  naming file, row and field, or goes to a rejects file with the reason; counts are reported),
  ``read_jsonl`` / ``iter_rows`` (JSONL or parquet) and ``sample_path(name)``.
- :mod:`~retool.data.sources`: all of these under one import path.
- ``samples/``: small shipped samples of each source, the offline default's data.
"""

from retool import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("DataError", "MAX_JSON_DEPTH", "MAX_LABEL_CHARS", "MAX_LINE_BYTES", "MAX_TEXT_CHARS", "PrepReport",
                     "RowError"), ".rows"),
    **dict.fromkeys(("decode_json_line", "iter_json"), ".jsonl"),
    **dict.fromkeys(("QUESTION_MARKER", "inline_assistant_text", "sft_record", "split_trajectory"), ".sft"),
    **dict.fromkeys(("BOX_INSTRUCTION", "BOX_REMINDER", "box_prompt", "prepared_rl_record", "rl_record"), ".rl"),
    **dict.fromkeys(("SAMPLES_DIR", "iter_rows", "prepare_rl", "prepare_sft", "read_jsonl", "sample_path"), ".files"),
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
