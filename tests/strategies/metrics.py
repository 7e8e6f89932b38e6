"""Hypothesis strategies for rollout ``SampleRecord``s, and synthetic metrics runs for the watch."""

from __future__ import annotations

from hypothesis import strategies as st

from retool.train.metrics import SAMPLE_STATUSES, TOOL_STATUSES, SampleRecord

_WALL_S = st.floats(0.0, 100.0, allow_nan=False)
_FRACTION = st.floats(0.0, 1.0)
_TOOL_STATUS = st.sampled_from(TOOL_STATUSES)
_CODE_LENGTH = st.integers(0, 2000)


@st.composite
def sample_records(draw, *, group_id: int | None = None, sample_index: int | None = None) -> SampleRecord:
    """Any valid record: consistent call counts, tool tokens within the response, times within wall time."""
    tool_calls = draw(st.integers(0, 6))
    response_tokens = draw(st.integers(0, 4096))
    wall_time_s = draw(_WALL_S)
    correct = draw(st.booleans())
    format_valid = draw(st.booleans())
    reward = (1.0 if correct else 0.0) + (0.1 if format_valid else 0.0) + (0.05 if tool_calls else 0.0)
    return SampleRecord(
        group_id=draw(st.integers(0, 50)) if group_id is None else group_id,
        sample_index=draw(st.integers(0, 50)) if sample_index is None else sample_index,
        status=draw(st.sampled_from(SAMPLE_STATUSES)),
        turns=draw(st.integers(1, 16)),
        tool_calls=tool_calls,
        malformed_calls=draw(st.integers(0, 3)),
        tool_statuses=tuple(draw(_TOOL_STATUS) for _ in range(tool_calls)),
        code_lengths_chars=tuple(draw(_CODE_LENGTH) for _ in range(tool_calls)),
        response_tokens=response_tokens,
        tool_tokens=round(response_tokens * draw(_FRACTION)),
        reward=reward,
        correct=correct,
        format_valid=format_valid,
        generation_time_s=wall_time_s * draw(_FRACTION),
        tool_time_s=wall_time_s * draw(_FRACTION),
        wall_time_s=wall_time_s,
    )


@st.composite
def record_batches(draw, *, max_groups: int = 3, max_group_size: int = 5) -> list[SampleRecord]:
    """A rollout batch: ``groups`` GRPO groups of the same size ``n`` (n_samples_per_prompt)."""
    groups = draw(st.integers(1, max_groups))
    n = draw(st.integers(1, max_group_size))
    return [draw(sample_records(group_id=g, sample_index=i)) for g in range(groups) for i in range(n)]


def healthy_rows(steps: int = 20) -> list[dict]:
    """A synthetic metrics run inside every recipe band, exact match rising with a little noise."""
    rows = []
    for step in range(steps):
        wiggle = 0.01 * ((-1) ** step)
        rows.append({
            "step": step,
            "retool/tool_calls_per_sample": 2.0 + wiggle,
            "retool/tool_success_rate": 0.92 + wiggle,
            "retool/avg_code_length_chars": 120.0 + 10 * wiggle,
            "reward/exact_match": 0.2 + 0.01 * step + wiggle,
            "reward/format_bonus": 0.095 + 0.1 * wiggle,
            "sandbox/timeout_rate": 0.005,
        })
    return rows


def with_value(rows: list[dict], metric: str, step: int, value: float) -> list[dict]:
    """``rows`` with ``metric`` set to ``value`` at ``step``."""
    return [{**row, metric: value} if row["step"] == step else row for row in rows]
