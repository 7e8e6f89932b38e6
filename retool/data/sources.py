"""Data preparation: ReTool-SFT trajectories -> tool-calling chat records; DAPO / AIME -> RL prompts.

Contract:
- SFT (:func:`sft_record`, pure). A ReTool-SFT row has ``messages``: an optional ``system`` turn,
  one ``user`` turn (the instruction, then the problem after ``*user question:*``) and one
  ``assistant`` turn holding the whole trajectory inline: prose, ``<code>```python ...```</code>``,
  ``<interpreter>...</interpreter>``, ..., final text with ``<answer>...\\boxed{}...</answer>``.
  It becomes chat messages in our grammar: the user turn holds only the problem (the original
  instruction describes the inline tags we no longer use; the tool list reaches the model through
  the chat template), each ``<code>`` block becomes an assistant turn (the prose before it as
  ``content``) with an OpenAI-style ``tool_calls`` entry calling ``code_interpreter`` with the
  fence-stripped code, each ``<interpreter>`` block a ``tool`` message, and the text after the last
  one (``<answer>`` tags kept verbatim) the final assistant turn. Prose and outputs are stripped of
  surrounding whitespace. ``metadata.original`` holds the source messages unchanged, and
  :func:`inline_assistant_text` is the inverse of the trajectory split: it rebuilds the inline text
  in the canonical layout (``prose\\n\\n<code>\\n```python\\n...\\n```\\n</code>\\n<interpreter>\\n
  ...\\n</interpreter>\\n\\n``), so a canonically laid-out source round-trips byte for byte and any
  source satisfies ``sft_record(inline(sft_record(x))) == sft_record(x)`` on the messages.
- RL (:func:`rl_record`, pure) gives ``{"prompt": str, "label": str, "metadata": {...}}``. DAPO:
  ``prompt`` (a string, or chat messages whose last ``user`` content is taken) and ``label`` or
  ``reward_model.ground_truth``. AIME: ``problem``/``Problem`` (or ``prompt``) and
  ``answer``/``Answer`` (or ``label``). ``source="auto"`` tries DAPO's fields, then AIME's. An
  integer-valued number label becomes its integer string ("34", not "34.0").
- A malformed row is never dropped silently: without a rejects path it raises :class:`DataError`
  naming the file, the row (1-based; the line number for JSONL) and the field; with one it is
  written there as ``{"file", "row", "field", "reason", "raw"}`` and counted. Every call returns a
  frozen :class:`PrepReport`. JSONL is read line by line (so a line that is not JSON is itself a
  named, rejectable row); parquet through ``datasets``. Output is JSONL, one record per line.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from retool.text.grammar import CODE_INTERPRETER, find_boxed, strip_code_fences

RLSource = Literal["dapo", "aime", "auto"]
QUESTION_MARKER = "*user question:*"
_BLOCK = re.compile(r"<code>(.*?)</code>|<interpreter>(.*?)</interpreter>", re.DOTALL)
_STRAY = re.compile(r"</?(?:code|interpreter)>")
SAMPLES_DIR = Path(__file__).with_name("samples")


class RowError(ValueError):
    """A malformed source row: the field at fault and why (file and row are added by the caller)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"field {field!r}: {reason}")
        self.field, self.reason = field, reason


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


# ---------------------------------------------------------------------------------------------
# SFT


def _assistant_call(prose: str, code: str) -> dict[str, Any]:
    call = {"type": "function", "function": {"name": CODE_INTERPRETER.name, "arguments": {"code": code}}}
    return {"role": "assistant", "content": prose, "tool_calls": [call]}


def split_trajectory(text: str) -> list[dict[str, Any]]:
    """The inline assistant trajectory -> assistant / tool messages (raises :class:`RowError`)."""
    field = "messages[assistant].content"
    out: list[dict[str, Any]] = []
    cursor, expect = 0, "code"
    for m in _BLOCK.finditer(text):
        between = text[cursor : m.start()]
        if _STRAY.search(between):
            raise RowError(field, f"unbalanced <code>/<interpreter> tag near char {cursor + _STRAY.search(between).start()}")
        if m.group(1) is not None:
            if expect != "code":
                raise RowError(field, f"<code> block at char {m.start()} follows a <code> block with no <interpreter> output")
            code = strip_code_fences(m.group(1).strip())
            if not code.strip():
                raise RowError(field, f"empty <code> block at char {m.start()}")
            out.append(_assistant_call(between.strip(), code))
            expect = "interpreter"
        else:
            if expect != "interpreter":
                raise RowError(field, f"<interpreter> block at char {m.start()} has no <code> block before it")
            if between.strip():
                raise RowError(field, f"text between </code> and <interpreter> at char {cursor} would be lost: {between.strip()[:40]!r}")
            out.append({"role": "tool", "content": m.group(2).strip()})
            expect = "code"
        cursor = m.end()
    if expect == "interpreter":
        raise RowError(field, "the last <code> block has no <interpreter> output")
    final = text[cursor:]
    if _STRAY.search(final):
        raise RowError(field, f"unbalanced <code>/<interpreter> tag near char {cursor + _STRAY.search(final).start()}")
    final = final.strip()
    if not final:
        raise RowError(field, "no final answer text after the last tool output")
    if not any(span.closed for span in find_boxed(final)):
        raise RowError(field, f"final text has no closed \\boxed{{}}: {final[-60:]!r}")
    out.append({"role": "assistant", "content": final})
    return out


def inline_assistant_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """Inverse of :func:`split_trajectory` (canonical layout), over the messages after the user turn."""
    parts: list[str] = []
    for msg in messages:
        role = msg.get("role")
        if role == "assistant" and msg.get("tool_calls"):
            prose = msg.get("content") or ""
            code = msg["tool_calls"][0]["function"]["arguments"]["code"]
            parts.append(f"{prose}\n\n" if prose else "")
            parts.append(f"<code>\n```python\n{code}\n```\n</code>")
        elif role == "tool":
            parts.append(f"\n<interpreter>\n{msg.get('content', '')}\n</interpreter>\n\n")
        elif role == "assistant":
            parts.append(msg.get("content") or "")
    return "".join(parts)


def sft_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """One ReTool-SFT row -> ``{"messages", "tools", "metadata": {"source", "original"}}``."""
    msgs = row.get("messages") if isinstance(row, Mapping) else None
    if not isinstance(msgs, list) or not msgs:
        raise RowError("messages", f"expected a non-empty list of chat messages, got {type(msgs).__name__}")
    for k, msg in enumerate(msgs):
        if not isinstance(msg, Mapping) or not isinstance(msg.get("content"), str) or not isinstance(msg.get("role"), str):
            raise RowError(f"messages[{k}]", "expected {'role': str, 'content': str}")
    roles = [m["role"] for m in msgs]
    body = roles[1:] if roles[0] == "system" else roles
    if body != ["user", "assistant"]:
        raise RowError("messages", f"expected roles [system,] user, assistant; got {roles}")
    user = msgs[-2]["content"]
    problem = user.split(QUESTION_MARKER, 1)[1] if QUESTION_MARKER in user else user
    if not problem.strip():
        raise RowError(f"messages[{len(msgs) - 2}].content", "empty problem text")
    head = [{"role": "system", "content": msgs[0]["content"]}] if roles[0] == "system" else []
    out = head + [{"role": "user", "content": problem.strip()}] + split_trajectory(msgs[-1]["content"])
    original = [{"role": m["role"], "content": m["content"]} for m in msgs]
    return {"messages": out, "tools": [CODE_INTERPRETER.to_json()], "metadata": {"source": "retool-sft", "original": original}}


# ---------------------------------------------------------------------------------------------
# RL


def _label_text(value: Any, field: str) -> str:
    if isinstance(value, bool) or value is None:
        raise RowError(field, f"expected a string or number label, got {value!r}")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise RowError(field, f"label is not finite: {value!r}")
        return str(int(value)) if float(value).is_integer() else repr(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise RowError(field, f"expected a non-empty label, got {value!r}")


def _prompt_text(value: Any, field: str) -> str:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, list):
        users = [m for m in value if isinstance(m, Mapping) and m.get("role") == "user"]
        if users and isinstance(users[-1].get("content"), str) and users[-1]["content"].strip():
            return users[-1]["content"]
        raise RowError(field, "chat prompt has no user message with non-empty string content")
    raise RowError(field, f"expected a non-empty string or a list of chat messages, got {type(value).__name__}")


_RL_FIELDS: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "dapo": (("prompt",), ("label", "reward_model.ground_truth")),
    "aime": (("problem", "Problem", "prompt"), ("answer", "Answer", "label")),
}


def _get(row: Mapping[str, Any], dotted: str) -> Any:
    value: Any = row
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def rl_record(row: Mapping[str, Any], source: RLSource = "auto") -> dict[str, Any]:
    """One DAPO / AIME row -> ``{"prompt", "label", "metadata": {"source"}}`` (raises :class:`RowError`)."""
    if not isinstance(row, Mapping):
        raise RowError("<row>", f"expected a JSON object, got {type(row).__name__}")
    names = ("dapo", "aime") if source == "auto" else (source,)
    if any(n not in _RL_FIELDS for n in names):
        raise ValueError(f"source must be 'dapo', 'aime' or 'auto', got {source!r}")
    for name in names:
        prompt_fields, label_fields = _RL_FIELDS[name]
        pf = next((f for f in prompt_fields if _get(row, f) is not None), None)
        if pf is None:
            continue
        lf = next((f for f in label_fields if _get(row, f) is not None), None)
        if lf is None:
            raise RowError(" | ".join(label_fields), f"missing label for a {name} row")
        prompt = _prompt_text(_get(row, pf), pf)
        return {"prompt": prompt, "label": _label_text(_get(row, lf), lf), "metadata": {"source": name}}
    wanted = sorted({f for n in names for f in _RL_FIELDS[n][0]})
    raise RowError(" | ".join(wanted), f"no prompt field; row has keys {sorted(row)[:10]}")


# ---------------------------------------------------------------------------------------------
# files


def iter_rows(path: str | os.PathLike[str]) -> Iterator[tuple[int, Any]]:
    """``(row number, row or RowError)`` for a JSONL (1-based line numbers) or parquet (1-based) file."""
    p = Path(path)
    if p.suffix == ".parquet":
        from datasets import Dataset

        for i, row in enumerate(Dataset.from_parquet(str(p), keep_in_memory=True), start=1):
            yield i, row
        return
    with open(p, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as exc:
                yield lineno, RowError("<line>", f"not valid JSON: {exc.msg} at column {exc.colno}")


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Records of a prepared JSONL file; a line that is not a JSON object raises :class:`DataError`."""
    out = []
    for row_no, row in iter_rows(path):
        if isinstance(row, RowError) or not isinstance(row, dict):
            raise DataError(str(path), row_no, "<line>", getattr(row, "reason", "not a JSON object"))
        out.append(row)
    return out


def _prepare(in_path: Any, out_path: Any, convert: Any, rejects_path: Any) -> PrepReport:
    in_path, out_path = str(in_path), str(out_path)
    read = written = rejected = tool_calls = 0
    sources: dict[str, int] = {}
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    rej = open(rejects_path, "w", encoding="utf-8") if rejects_path else None
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
                    raw = row if not isinstance(row, RowError) else None
                    entry = {"file": in_path, "row": row_no, "field": err.field, "reason": err.reason, "raw": raw}
                    rej.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
                    rejected += 1
                    continue
                record["metadata"].update(file=in_path, row=row_no)
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                written += 1
                name = record["metadata"]["source"]
                sources[name] = sources.get(name, 0) + 1
                tool_calls += sum(len(m.get("tool_calls") or ()) for m in record.get("messages", ()))
    finally:
        if rej is not None:
            rej.close()
    return PrepReport(
        source_path=in_path, out_path=out_path, rows_read=read, rows_written=written, rows_rejected=rejected,
        rejects_path=str(rejects_path) if rejects_path else None, sources=tuple(sources.items()), tool_calls=tool_calls,
    )


def prepare_sft(in_path: str | os.PathLike[str], out_path: str | os.PathLike[str], *, rejects_path: str | os.PathLike[str] | None = None) -> PrepReport:
    """ReTool-SFT JSONL/parquet -> tool-calling chat records (JSONL)."""
    return _prepare(in_path, out_path, sft_record, rejects_path)


def prepare_rl(in_path: str | os.PathLike[str], out_path: str | os.PathLike[str], *, source: RLSource = "auto",
               rejects_path: str | os.PathLike[str] | None = None) -> PrepReport:
    """DAPO / AIME JSONL/parquet -> ``{prompt, label}`` records (JSONL)."""
    if source not in ("dapo", "aime", "auto"):
        raise ValueError(f"source must be 'dapo', 'aime' or 'auto', got {source!r}")
    return _prepare(in_path, out_path, lambda row: rl_record(row, source), rejects_path)


def sample_path(name: str) -> Path:
    """A shipped sample file (``retool_sft_sample.jsonl``, ``dapo_sample.jsonl``, ...)."""
    path = SAMPLES_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"no shipped sample {name!r} in {SAMPLES_DIR}")
    return path
