"""DAPO / AIME rows -> RL prompts that ask for the boxed answer the reward pays for.

Contract (pure; total: a malformed row raises :class:`~retool.data.rows.RowError` naming the
field, never another exception; linear time in the row's text):
- The recipe's prompt asks for ``Answer: \\boxed{...}`` on the last line, as the upstream ReTool runs
  do: the format bonus needs the final answer in a closed box, and DAPO-Math's own instruction
  (``Answer: $Answer``) would never earn it. :func:`box_prompt` gives ``(prompt, how)``:
  DAPO's instruction sentence (``DAPO_INSTRUCTION``) becomes ``BOX_INSTRUCTION`` and DAPO's
  reminder (``DAPO_REMINDER``) becomes ``BOX_REMINDER`` (``how == "rewritten"``); a prompt without
  ``BOX_INSTRUCTION`` after that (an AIME or plain problem) is wrapped as DAPO's prompts are:
  ``PREAMBLE BOX_INSTRUCTION\\n\\n<problem>\\n\\nBOX_REMINDER`` (``"added"``; the reminder is not
  added twice); a prompt that already asks for the box is unchanged (``"present"``). It is
  idempotent: ``box_prompt(box_prompt(p)[0]) == (box_prompt(p)[0], "present")``. Matching is on
  the exact sentences (``str.replace``), so another wording of an instruction is kept and the box
  instruction is added to it.
- :func:`rl_record` gives ``{"prompt": str, "label": str, "metadata": {"source", "instruction"}}``
  (``instruction`` is ``how``). DAPO: ``prompt`` (a string, or chat messages whose last ``user``
  content is taken) and ``label`` or ``reward_model.ground_truth``. AIME: ``problem``/``Problem``
  (or ``prompt``) and ``answer``/``Answer`` (or ``label``). ``source="auto"`` tries DAPO's fields,
  then AIME's. The prompt is a text field (``MAX_TEXT_CHARS``, no NUL, valid Unicode). A label is
  a non-empty string (stripped; at most ``MAX_LABEL_CHARS``) or a finite number: an int becomes its
  decimal string, an integer-valued float below 2**53 its integer string ("34", not "34.0"), any
  other float its ``repr``; bools, ``None``, lists, objects, NaN and infinities are refused.
- :func:`prepared_rl_record` keeps a prepared record (``{"prompt": str, "label": str, "metadata":
  {"source": str, ...}}``, what :func:`rl_record` and ``prepare_rl`` write) as it is, except that
  a prompt prepared before the box instruction existed gets it now (``metadata.instruction`` says
  how); it returns ``None`` for a row that is not a prepared record.
"""

from __future__ import annotations

import math
from itertools import islice
from collections.abc import Mapping
from typing import Any, Literal

from retool.data.rows import MAX_LABEL_CHARS, RowError, describe, text_field

__all__ = ["BOX_INSTRUCTION", "BOX_REMINDER", "DAPO_INSTRUCTION", "DAPO_REMINDER", "PREAMBLE", "RL_SOURCES",
           "box_prompt", "prepared_rl_record", "rl_record"]

RLSource = Literal["dapo", "aime", "auto"]
RL_SOURCES: tuple[str, ...] = ("dapo", "aime", "auto")

PREAMBLE = "Solve the following math problem step by step."
DAPO_INSTRUCTION = ("The last line of your response should be of the form Answer: $Answer (without quotes) where $Answer "
                    "is the answer to the problem.")
DAPO_REMINDER = 'Remember to put your answer on its own line after "Answer:".'
BOX_INSTRUCTION = ("The last line of your response should be of the form Answer: \\boxed{$Answer} where $Answer is the "
                   "answer to the problem.")
BOX_REMINDER = 'Remember to put your answer in \\boxed{} on its own line after "Answer:".'
_EXACT_FLOAT = 2.0**53


def box_prompt(prompt: str) -> tuple[str, str]:
    """``(prompt asking for Answer: \\boxed{...}, "rewritten" | "added" | "present")``; see the contract."""
    new = prompt.replace(DAPO_INSTRUCTION, BOX_INSTRUCTION).replace(DAPO_REMINDER, BOX_REMINDER)
    if BOX_INSTRUCTION in new:
        return new, ("present" if new == prompt else "rewritten")
    tail = "" if BOX_REMINDER in new else f"\n\n{BOX_REMINDER}"
    return f"{PREAMBLE} {BOX_INSTRUCTION}\n\n{new.strip()}{tail}", "added"


def _label_text(value: Any, field: str) -> str:
    if isinstance(value, bool) or value is None:
        raise RowError(field, f"expected a string or number label, got {describe(value)}")
    if isinstance(value, int):
        if value.bit_length() > 3 * MAX_LABEL_CHARS:  # more digits than a label may have
            raise RowError(field, f"integer label of {value.bit_length()} bits exceeds the bound of {MAX_LABEL_CHARS} chars")
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RowError(field, f"label is not finite: {value!r}")
        return str(int(value)) if value.is_integer() and abs(value) < _EXACT_FLOAT else repr(value)
    if isinstance(value, str):
        label = text_field(value, field, max_chars=MAX_LABEL_CHARS + len(value) - len(value.strip())).strip()
        if label:
            return label
        raise RowError(field, f"expected a non-empty label, got {describe(value)}")
    raise RowError(field, f"expected a string or number label, got {describe(value)}")


def _prompt_text(value: Any, field: str) -> str:
    if isinstance(value, str):
        if value.strip():
            return text_field(value, field)
        raise RowError(field, "empty prompt text")
    if isinstance(value, list):
        users = [(k, m) for k, m in enumerate(value) if isinstance(m, Mapping) and m.get("role") == "user"]
        if users and isinstance(users[-1][1].get("content"), str) and users[-1][1]["content"].strip():
            return text_field(users[-1][1]["content"], f"{field}[{users[-1][0]}].content")
        raise RowError(field, "chat prompt has no user message with non-empty string content")
    raise RowError(field, f"expected a non-empty string or a list of chat messages, got {describe(value)}")


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
    """One DAPO / AIME row -> ``{"prompt", "label", "metadata": {"source", "instruction"}}`` (raises :class:`RowError`)."""
    if source not in RL_SOURCES:
        raise ValueError(f"source must be 'dapo', 'aime' or 'auto', got {source!r}")
    if not isinstance(row, Mapping):
        raise RowError("<row>", f"expected a JSON object, got {describe(row)}")
    names = ("dapo", "aime") if source == "auto" else (source,)
    for name in names:
        prompt_fields, label_fields = _RL_FIELDS[name]
        pf = next((f for f in prompt_fields if _get(row, f) is not None), None)
        if pf is None:
            continue
        lf = next((f for f in label_fields if _get(row, f) is not None), None)
        if lf is None:
            raise RowError(" | ".join(label_fields), f"missing label for a {name} row")
        prompt, how = box_prompt(_prompt_text(_get(row, pf), pf))
        label = _label_text(_get(row, lf), lf)
        return {"prompt": text_field(prompt, pf), "label": label, "metadata": {"source": name, "instruction": how}}
    wanted = sorted({f for n in names for f in _RL_FIELDS[n][0]})
    keys = sorted(str(k)[:40] for k in islice(row, 50))[:10]
    raise RowError(" | ".join(wanted), f"no prompt field; row has keys {keys}")


def prepared_rl_record(row: Any) -> dict[str, Any] | None:
    """A prepared RL record kept as it is (the box instruction added if it lacks it), or ``None``."""
    if not isinstance(row, Mapping) or not isinstance(row.get("metadata"), Mapping):
        return None
    prompt, label, metadata = row.get("prompt"), row.get("label"), row["metadata"]
    if not (isinstance(prompt, str) and isinstance(label, str) and isinstance(metadata.get("source"), str)):
        return None
    boxed, how = box_prompt(text_field(prompt, "prompt"))
    if not text_field(label, "label", max_chars=MAX_LABEL_CHARS).strip():
        raise RowError("label", "empty label")
    if how == "present" and "instruction" in metadata:
        return dict(row)
    return {**row, "prompt": boxed, "metadata": {**metadata, "instruction": how}}
