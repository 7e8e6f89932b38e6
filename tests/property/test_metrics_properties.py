"""Properties of the step metrics over any valid rollout batch."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retool.train.metrics import METRIC_KEYS, pass_at_k, parse_metrics_text, step_metrics
from retool.train.watch import DEFAULT_BANDS, check
from tests.strategies.metrics import record_batches

RATE_KEYS = [
    "retool/tool_success_rate", "retool/malformed_call_rate", "reward/exact_match", "sandbox/timeout_rate",
    "sandbox/error_rate", "sandbox/memory_rate", "rollout/truncated_ratio", "rollout/aborted_ratio", "rollout/failed_ratio",
    "rollout/tool_time_share", "eval/accuracy",
]


def all_k(records) -> tuple[int, ...]:
    group_size = sum(1 for r in records if r.group_id == records[0].group_id)
    return tuple(range(1, group_size + 1))


@given(record_batches())
def test_rates_lie_in_unit_interval(records) -> None:
    m = step_metrics(records, k_values=all_k(records))
    for key in RATE_KEYS + [k for k in m if k.startswith("eval/pass@")]:
        assert 0.0 <= m[key] <= 1.0, (key, m[key])
    assert 0.0 <= m["reward/format_bonus"] <= 0.1 + 1e-12


@given(record_batches())
def test_call_outcome_rates_partition_executed_calls(records) -> None:
    m = step_metrics(records)
    total = m["retool/tool_success_rate"] + m["sandbox/error_rate"] + m["sandbox/timeout_rate"] + m["sandbox/memory_rate"]
    executed = sum(r.tool_calls for r in records)
    assert total == pytest.approx(1.0 if executed else 0.0)


@given(record_batches())
def test_pass_at_k_is_monotone_in_k_and_starts_at_accuracy(records) -> None:
    ks = all_k(records)
    m = step_metrics(records, k_values=ks)
    series = [m[f"eval/pass@{k}"] for k in ks]
    assert all(a <= b + 1e-12 for a, b in zip(series, series[1:]))
    # equal group sizes: pass@1 is the correct share, which is exact match and accuracy
    assert series[0] == pytest.approx(m["eval/accuracy"]) == pytest.approx(m["reward/exact_match"])
    # pass@n is the share of groups with at least one correct sample
    groups = {r.group_id for r in records}
    solved = {r.group_id for r in records if r.correct}
    assert series[-1] == pytest.approx(len(solved) / len(groups))


@given(st.integers(1, 30).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_pass_at_k_matches_the_sampling_definition(nck) -> None:
    n, c, k = nck
    # probability that k draws without replacement include at least one correct sample
    all_wrong = math.prod((n - c - i) / (n - i) for i in range(k)) if n - c >= k else 0.0
    assert pass_at_k(n, c, k) == pytest.approx(1.0 - all_wrong)


@given(record_batches())
def test_metrics_are_finite_floats_with_fixed_keys(records) -> None:
    m = step_metrics(records)
    assert set(m) == set(METRIC_KEYS) | {"eval/pass@1"}
    assert all(type(v) is float and math.isfinite(v) for v in m.values())
    assert m["rollout/response_len_no_tool_tokens"] >= 0.0


@given(st.lists(record_batches(max_groups=2, max_group_size=2), min_size=1, max_size=4))
def test_watch_reads_what_metrics_write(batches) -> None:
    text = "".join(json.dumps({"step": i, **step_metrics(b)}) + "\n" for i, b in enumerate(batches))
    rows = parse_metrics_text(text)
    report = check(rows, DEFAULT_BANDS, warmup_steps=0)
    assert report.missing == ()  # every banded metric is produced by step_metrics
    assert report.rows_checked == len(batches)
