"""Per-sample rollout records, the per-step training metrics computed from them, and the JSONL log.

Contract:
- ``SampleRecord`` is what the rollout fills for every sample (one GRPO group = the samples that
  share ``group_id``). It validates its own invariants and raises ``ValueError`` naming the field.
- ``step_metrics(records, ...)`` is pure: it returns exactly the keys in ``METRIC_KEYS`` plus one
  ``eval/pass@k`` per requested k. All values are plain floats. Divisor conventions:

  ====================================  =====================================================
  key                                   definition
  ====================================  =====================================================
  retool/tool_calls_per_sample          mean over samples of ``tool_calls`` (well-formed, executed)
  retool/tool_success_rate              ``"ok"`` statuses / executed calls (pooled over the batch)
  retool/avg_code_length_chars          mean code length over executed calls (pooled)
  retool/malformed_call_rate            malformed / (executed + malformed) calls
  sandbox/timeout_rate                  ``"timeout"`` statuses / executed calls
  sandbox/memory_rate                   ``"memory"`` statuses / executed calls
  sandbox/error_rate                    every other failure (error, forbidden, output_limit,
                                        crashed) / executed calls; so success + error + timeout
                                        + memory rates sum to 1 when any call ran
  reward/exact_match                    share of samples with ``correct`` (never the shaped mean)
  reward/format_bonus                   ``format_bonus`` (0.1 in the recipe) x share of samples
                                        with ``format_valid``: the mean format term of the reward
  reward/mean                           mean shaped ``reward`` (correct + format + tool terms)
  rollout/truncated_ratio               share of samples with status ``"truncated"``
  rollout/aborted_ratio                 share of samples with status ``"aborted"``
  rollout/response_len_no_tool_tokens   mean of ``response_tokens - tool_tokens`` (model tokens)
  rollout/tool_time_share               sum ``tool_time_s`` / sum ``wall_time_s``
  eval/accuracy                         share of correct samples (the same as exact match; kept
                                        under the name eval dashboards use)
  eval/pass@k                           unbiased estimator 1 - C(n-c, k)/C(n, k) per group of
                                        n samples with c correct, averaged over groups (k above
                                        the smallest group's n raises ValueError)
  ====================================  =====================================================

  Every per-call rate is 0.0 when no call ran (and the code length 0.0), every time share 0.0
  when no time was recorded. All samples count, whatever their status: an aborted sample is
  recorded with the reward and correctness the rollout gave it (no reward, not correct).
- ``write_metrics_line`` appends one ``{"step": N, ...}`` JSON object per line;
  ``read_metrics`` / ``parse_metrics_text`` read them back and raise ``ValueError`` naming the
  file and line number of a bad line.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from retool.data.jsonl import decode_json_line
from retool.data.rows import RowError

if TYPE_CHECKING:
    from retool.rollout.batch import RolloutSample

SAMPLE_STATUSES: tuple[str, ...] = ("completed", "truncated", "aborted", "failed")
# The sandbox's ExecutionResult.status values (one per executed, well-formed call).
TOOL_STATUSES: tuple[str, ...] = ("ok", "error", "timeout", "memory", "forbidden", "output_limit", "crashed")
FORMAT_BONUS = 0.1  # the recipe's reward for a valid format
_TIME_TOLERANCE_S = 1e-6

METRIC_KEYS: tuple[str, ...] = (
    "retool/tool_calls_per_sample",
    "retool/tool_success_rate",
    "retool/avg_code_length_chars",
    "retool/malformed_call_rate",
    "reward/exact_match",
    "reward/format_bonus",
    "reward/mean",
    "sandbox/timeout_rate",
    "sandbox/error_rate",
    "sandbox/memory_rate",
    "rollout/truncated_ratio",
    "rollout/aborted_ratio",
    "rollout/failed_ratio",
    "rollout/response_len_no_tool_tokens",
    "rollout/tool_time_share",
    "eval/accuracy",
)


@dataclass(frozen=True, kw_only=True)
class SampleRecord:
    """What one rollout sample did.

    ``group_id``: the prompt's index in the batch (samples sharing it form a GRPO group);
    ``sample_index``: the sample's index within its group. ``turns``: model turns generated.
    ``tool_calls``: well-formed calls executed by the sandbox; ``tool_statuses`` and
    ``code_lengths_chars`` have one entry per executed call, in order. ``malformed_calls``: calls
    that got an error response without running (bad JSON, unknown tool, missing code).
    ``response_tokens``: every token after the prompt (model and tool tokens, the response
    length); ``tool_tokens``: the loss-masked tool-response tokens among them.
    ``generation_time_s`` and ``tool_time_s``: wall-clock time spent generating and waiting on the
    sandbox (calls of one turn counted once), each at most ``wall_time_s``.
    """

    group_id: int
    sample_index: int
    status: str
    turns: int
    tool_calls: int
    malformed_calls: int
    tool_statuses: tuple[str, ...]
    code_lengths_chars: tuple[int, ...]
    response_tokens: int
    tool_tokens: int
    reward: float
    correct: bool
    format_valid: bool
    generation_time_s: float
    tool_time_s: float
    wall_time_s: float

    def __post_init__(self) -> None:
        if self.status not in SAMPLE_STATUSES:
            raise ValueError(f"SampleRecord.status must be one of {SAMPLE_STATUSES}, got {self.status!r}")
        for name in ("group_id", "sample_index", "turns", "tool_calls", "malformed_calls", "response_tokens", "tool_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"SampleRecord.{name} must be an int >= 0, got {value!r}")
        if not isinstance(self.tool_statuses, tuple) or not isinstance(self.code_lengths_chars, tuple):
            raise ValueError(
                f"SampleRecord.tool_statuses and code_lengths_chars must be tuples, got "
                f"{type(self.tool_statuses).__name__} and {type(self.code_lengths_chars).__name__}"
            )
        if len(self.tool_statuses) != self.tool_calls:
            raise ValueError(f"SampleRecord has tool_calls={self.tool_calls} but {len(self.tool_statuses)} tool_statuses")
        if len(self.code_lengths_chars) != self.tool_calls:
            raise ValueError(
                f"SampleRecord has tool_calls={self.tool_calls} but {len(self.code_lengths_chars)} code_lengths_chars"
            )
        for status in self.tool_statuses:
            if status not in TOOL_STATUSES:
                raise ValueError(f"SampleRecord.tool_statuses entry must be one of {TOOL_STATUSES}, got {status!r}")
        for length in self.code_lengths_chars:
            if not isinstance(length, int) or isinstance(length, bool) or length < 0:
                raise ValueError(f"SampleRecord.code_lengths_chars entry must be an int >= 0, got {length!r}")
        if self.tool_tokens > self.response_tokens:
            raise ValueError(f"SampleRecord.tool_tokens={self.tool_tokens} exceeds response_tokens={self.response_tokens}")
        if not isinstance(self.correct, bool) or not isinstance(self.format_valid, bool):
            raise ValueError(f"SampleRecord.correct/format_valid must be bool, got {self.correct!r}/{self.format_valid!r}")
        for name in ("reward", "generation_time_s", "tool_time_s", "wall_time_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"SampleRecord.{name} must be a finite number, got {value!r}")
        for name in ("generation_time_s", "tool_time_s", "wall_time_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"SampleRecord.{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("generation_time_s", "tool_time_s"):
            if getattr(self, name) > self.wall_time_s + _TIME_TOLERANCE_S:
                raise ValueError(f"SampleRecord.{name}={getattr(self, name)!r} exceeds wall_time_s={self.wall_time_s!r}")

    @classmethod
    def from_rollout(cls, sample: RolloutSample) -> SampleRecord:
        """The record of one :class:`~retool.rollout.batch.RolloutSample` (an aborted sample's
        missing reward is recorded as 0.0)."""
        return cls(
            group_id=sample.group_id, sample_index=sample.sample_index, status=sample.status, turns=sample.turns,
            tool_calls=sample.tool_calls, malformed_calls=sample.malformed_calls, tool_statuses=sample.tool_statuses,
            code_lengths_chars=sample.code_lengths_chars, response_tokens=sample.response_length,
            tool_tokens=sample.tool_tokens, reward=0.0 if sample.reward is None else float(sample.reward),
            correct=sample.correct, format_valid=sample.format_valid, generation_time_s=sample.generation_time_s,
            tool_time_s=sample.tool_time_s, wall_time_s=sample.wall_time_s,
        )


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one group of ``n`` samples with ``c`` correct: 1 - C(n-c, k) / C(n, k)."""
    if not (0 <= c <= n) or not (1 <= k <= n):
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def _mean(values: Sequence[float]) -> float:
    return float(sum(values)) / len(values) if values else 0.0


def _share(count: int, total: int) -> float:
    return count / total if total else 0.0


def step_metrics(
    records: Sequence[SampleRecord], *, k_values: Sequence[int] = (1,), format_bonus: float = FORMAT_BONUS
) -> dict[str, float]:
    """The metrics of one rollout step (see the module docstring for every definition)."""
    if not records:
        raise ValueError("step_metrics needs at least one SampleRecord, got none")
    for record in records:
        if not isinstance(record, SampleRecord):
            raise TypeError(f"step_metrics expects SampleRecord items, got {type(record).__name__}")
    seen: set[tuple[int, int]] = set()
    groups: dict[int, list[SampleRecord]] = {}
    for record in records:
        key = (record.group_id, record.sample_index)
        if key in seen:
            raise ValueError(f"duplicate SampleRecord for group_id={key[0]}, sample_index={key[1]}")
        seen.add(key)
        groups.setdefault(record.group_id, []).append(record)
    for k in k_values:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k_values entries must be ints >= 1, got {k!r}")
        smallest = min(len(group) for group in groups.values())
        if k > smallest:
            raise ValueError(f"pass@{k} needs groups of at least {k} samples; the smallest group has {smallest}")

    statuses = [status for record in records for status in record.tool_statuses]
    lengths = [length for record in records for length in record.code_lengths_chars]
    executed = len(statuses)
    malformed = sum(record.malformed_calls for record in records)
    n = len(records)
    other_failures = sum(1 for status in statuses if status not in ("ok", "timeout", "memory"))
    wall_s = sum(record.wall_time_s for record in records)
    tool_s = sum(record.tool_time_s for record in records)
    correct_share = _share(sum(record.correct for record in records), n)

    metrics: dict[str, float] = {
        "retool/tool_calls_per_sample": _mean([record.tool_calls for record in records]),
        "retool/tool_success_rate": _share(statuses.count("ok"), executed),
        "retool/avg_code_length_chars": _mean(lengths),
        "retool/malformed_call_rate": _share(malformed, executed + malformed),
        "reward/exact_match": correct_share,
        "reward/format_bonus": float(format_bonus) * _share(sum(record.format_valid for record in records), n),
        "reward/mean": _mean([float(record.reward) for record in records]),
        "sandbox/timeout_rate": _share(statuses.count("timeout"), executed),
        "sandbox/error_rate": _share(other_failures, executed),
        "sandbox/memory_rate": _share(statuses.count("memory"), executed),
        "rollout/truncated_ratio": _share(sum(record.status == "truncated" for record in records), n),
        "rollout/aborted_ratio": _share(sum(record.status == "aborted" for record in records), n),
        "rollout/failed_ratio": _share(sum(record.status == "failed" for record in records), n),
        "rollout/response_len_no_tool_tokens": _mean([record.response_tokens - record.tool_tokens for record in records]),
        "rollout/tool_time_share": min(1.0, tool_s / wall_s) if wall_s > 0 else 0.0,
        "eval/accuracy": correct_share,
    }
    for k in k_values:
        per_group = [pass_at_k(len(group), sum(r.correct for r in group), k) for group in groups.values()]
        metrics[f"eval/pass@{k}"] = _mean(per_group)
    return metrics


def write_metrics_line(path: str | os.PathLike[str], step: int, metrics: Mapping[str, float]) -> None:
    """Append ``{"step": step, **metrics}`` as one JSON line (creating the file and its folder)."""
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be an int >= 0, got {step!r}")
    if "step" in metrics:
        raise ValueError("metrics must not contain the key 'step'; it is written from the step argument")
    row: dict[str, object] = {"step": step}
    for key, value in metrics.items():
        if not isinstance(key, str):
            raise ValueError(f"metric names must be str, got {key!r}")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"metric {key!r} must be a finite number, got {value!r}")
        row[key] = float(value)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(row, allow_nan=False) + "\n"
    with target.open("a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()


def _parse_row(line: bytes | str, where: str) -> dict:
    try:
        row = decode_json_line(line, allow_nan=True)
    except RowError as err:
        raise ValueError(f"{where}: {err.reason}") from None
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(row).__name__}")
    step = row.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        shown = repr(step) if not isinstance(step, int) or step.bit_length() < 64 else "a huge int"
        raise ValueError(f"{where}: 'step' must be an int >= 0, got {shown}")
    return row


def parse_metrics_text(text: str | bytes, *, source: str = "<metrics>", allow_partial_tail: bool = False) -> list[dict]:
    """Rows of a metrics JSONL text (``str``, or ``bytes`` decoded line by line); blank lines skipped.

    Total: every bad line (not JSON, nested past the bound, invalid UTF-8, NUL, not an object, a
    bad ``step``) raises ``ValueError`` naming ``source`` and the 1-based line number, never
    another exception. With ``allow_partial_tail`` a last line without its newline that does not
    parse (a writer caught mid-line) is left out instead. Linear in the text.
    """
    newline = b"\n" if isinstance(text, bytes) else "\n"
    lines = text.split(newline)
    tail_unterminated = not text.endswith(newline)
    rows: list[dict] = []
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        is_tail = index == len(lines) - 1 and tail_unterminated
        try:
            rows.append(_parse_row(line, f"{source}:{index + 1}"))
        except ValueError:
            if allow_partial_tail and is_tail:
                break
            raise
    return rows


def read_metrics(path: str | os.PathLike[str], *, allow_partial_tail: bool = False) -> list[dict]:
    """Rows of a metrics JSONL file (see ``parse_metrics_text``); the file's bytes are decoded per
    line, so invalid UTF-8 names its line. ``retool.train.metrics_log.MetricsTail`` is the reader that
    skips bad lines (as named rejects) instead of raising."""
    return parse_metrics_text(Path(path).read_bytes(), source=str(path), allow_partial_tail=allow_partial_tail)


def metric_series(rows: Iterable[Mapping[str, object]], metric: str) -> list[tuple[int, object]]:
    """``(step, value)`` for every row that has ``metric``, in row order."""
    return [(int(row["step"]), row[metric]) for row in rows if metric in row]
