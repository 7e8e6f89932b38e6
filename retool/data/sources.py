"""The data-prep names in one import path (``retool.data.sources``), kept for the callers that use it.

The contracts live in the modules that define them: :mod:`~retool.data.rows` (errors, bounds),
:mod:`~retool.data.jsonl` (total JSON-lines reading), :mod:`~retool.data.sft` (ReTool-SFT rows),
:mod:`~retool.data.rl` (DAPO / AIME rows and the boxed-answer instruction) and
:mod:`~retool.data.files` (files, rejects, counts, shipped samples).
"""

from __future__ import annotations

from retool.data.files import SAMPLES_DIR, iter_rows, prepare_rl, prepare_sft, read_jsonl, sample_path
from retool.data.jsonl import decode_json_line
from retool.data.rl import (
    BOX_INSTRUCTION,
    BOX_REMINDER,
    DAPO_INSTRUCTION,
    DAPO_REMINDER,
    RLSource,
    box_prompt,
    prepared_rl_record,
    rl_record,
)
from retool.data.rows import (
    MAX_JSON_DEPTH,
    MAX_LABEL_CHARS,
    MAX_LINE_BYTES,
    MAX_TEXT_CHARS,
    DataError,
    PrepReport,
    RowError,
)
from retool.data.sft import QUESTION_MARKER, inline_assistant_text, sft_record, split_trajectory

__all__ = [
    "BOX_INSTRUCTION", "BOX_REMINDER", "DAPO_INSTRUCTION", "DAPO_REMINDER", "MAX_JSON_DEPTH", "MAX_LABEL_CHARS",
    "MAX_LINE_BYTES", "MAX_TEXT_CHARS", "QUESTION_MARKER", "SAMPLES_DIR", "DataError", "PrepReport", "RLSource",
    "RowError", "box_prompt", "decode_json_line", "inline_assistant_text", "iter_rows", "prepare_rl", "prepare_sft",
    "prepared_rl_record", "read_jsonl", "rl_record", "sample_path", "sft_record", "split_trajectory",
]
