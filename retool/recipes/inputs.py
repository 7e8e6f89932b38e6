"""What a recipe starts from: a policy by name, SFT examples and RL prompts by path.

Contract: :func:`load_policy` gives ``(model, tokenizer)`` for ``"tiny"`` (the embedded default)
or a local Hugging Face dir. :func:`sft_examples` and :func:`rl_prompts` read a JSONL or parquet
file, or ``"sample"`` for the shipped sample; rows already prepared (``retool data``) are kept as
they are (an RL record prepared before the boxed-answer instruction existed gets it, see
:func:`retool.data.rl.prepared_rl_record`), raw source rows are converted; a bad row raises
``DataError`` naming file, row and field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from retool.data.files import read_jsonl, sample_path
from retool.data.rl import prepared_rl_record, rl_record
from retool.data.rows import DataError, RowError
from retool.data.sft import sft_record
from retool.embedded.models import load_model, tiny_model

__all__ = ["load_policy", "rl_prompts", "sft_examples"]


def load_policy(model: str) -> tuple[Any, Any]:
    """``(model, tokenizer)``: the embedded tiny Qwen3 for ``"tiny"``, else a local HF dir."""
    return tiny_model() if model == "tiny" else load_model(model)


def _is_prepared_sft(record: dict[str, Any]) -> bool:
    return ("tools" in record or "dialect" in record
            or any(m.get("tool_calls") or m.get("role") == "tool" for m in record.get("messages", ())))


def sft_examples(path_arg: str, dialect: str = "qwen3") -> list[dict[str, Any]]:
    """Prepared SFT records or raw ReTool-SFT rows (converted into ``dialect``) from ``path_arg`` (or ``"sample"``)."""
    path = sample_path("retool_sft_sample.jsonl") if path_arg == "sample" else Path(path_arg)
    out = []
    for k, rec in enumerate(read_jsonl(path), start=1):
        try:
            out.append(rec if _is_prepared_sft(rec) else sft_record(rec, dialect))
        except RowError as err:
            raise DataError(str(path), k, err.field, err.reason) from None
    return out


def rl_prompts(path_arg: str) -> list[dict[str, Any]]:
    """``{prompt, label}`` records from prepared or raw DAPO / AIME rows at ``path_arg`` (or ``"sample"``)."""
    path = sample_path("dapo_sample.jsonl") if path_arg == "sample" else Path(path_arg)
    out = []
    for k, rec in enumerate(read_jsonl(path), start=1):
        try:
            prepared = prepared_rl_record(rec)
            out.append(prepared if prepared is not None else rl_record(rec))
        except RowError as err:
            raise DataError(str(path), k, err.field, err.reason) from None
    return out
