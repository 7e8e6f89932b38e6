"""Exact metric values on hand-built rollout records, and the JSONL metrics log."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from retool.train.metrics import (
    FORMAT_BONUS,
    METRIC_KEYS,
    TOOL_STATUSES,
    SampleRecord,
    metric_series,
    parse_metrics_text,
    pass_at_k,
    read_metrics,
    step_metrics,
    write_metrics_line,
)


def record(**overrides) -> SampleRecord:
    fields = dict(
        group_id=0,
        sample_index=0,
        status="completed",
        turns=1,
        tool_calls=0,
        malformed_calls=0,
        tool_statuses=(),
        code_lengths_chars=(),
        response_tokens=10,
        tool_tokens=0,
        reward=0.0,
        correct=False,
        format_valid=False,
        generation_time_s=1.0,
        tool_time_s=0.0,
        wall_time_s=1.0,
    )
    fields.update(overrides)
    return SampleRecord(**fields)


def batch() -> list[SampleRecord]:
    """Two groups of 4; group 0 has 2 correct, group 1 has 1 correct."""
    return [
        # group 0
        record(group_id=0, sample_index=0, tool_calls=2, tool_statuses=("ok", "ok"), code_lengths_chars=(100, 60),
               response_tokens=300, tool_tokens=50, reward=1.15, correct=True, format_valid=True,
               generation_time_s=2.0, tool_time_s=1.0, wall_time_s=3.0),
        record(group_id=0, sample_index=1, tool_calls=1, tool_statuses=("timeout",), code_lengths_chars=(40,),
               malformed_calls=1, response_tokens=200, tool_tokens=20, reward=0.1, format_valid=True,
               generation_time_s=1.0, tool_time_s=2.0, wall_time_s=3.0),
        record(group_id=0, sample_index=2, tool_calls=3, tool_statuses=("ok", "error", "memory"),
               code_lengths_chars=(10, 20, 30), response_tokens=500, tool_tokens=100, reward=1.15,
               correct=True, format_valid=True, generation_time_s=1.0, tool_time_s=1.0, wall_time_s=2.0),
        record(group_id=0, sample_index=3, status="truncated", response_tokens=400, tool_tokens=0, reward=0.0,
               generation_time_s=2.0, wall_time_s=2.0),
        # group 1
        record(group_id=1, sample_index=0, tool_calls=2, tool_statuses=("ok", "forbidden"), code_lengths_chars=(200, 140),
               response_tokens=100, tool_tokens=30, reward=1.15, correct=True, format_valid=True,
               generation_time_s=1.0, tool_time_s=1.0, wall_time_s=2.0),
        record(group_id=1, sample_index=1, status="aborted", malformed_calls=2, response_tokens=50, wall_time_s=1.0),
        record(group_id=1, sample_index=2, reward=0.1, format_valid=True, response_tokens=60),
        record(group_id=1, sample_index=3, reward=0.0, response_tokens=90),
    ]


def test_counts_and_rates_match_hand_computation() -> None:
    m = step_metrics(batch())
    # executed calls: 2 + 1 + 3 + 0 + 2 = 8; ok = 4; timeout 1; memory 1; error + forbidden = 2
    assert m["retool/tool_calls_per_sample"] == pytest.approx(8 / 8)
    assert m["retool/tool_success_rate"] == pytest.approx(4 / 8)
    assert m["sandbox/timeout_rate"] == pytest.approx(1 / 8)
    assert m["sandbox/memory_rate"] == pytest.approx(1 / 8)
    assert m["sandbox/error_rate"] == pytest.approx(2 / 8)
    assert m["retool/avg_code_length_chars"] == pytest.approx((100 + 60 + 40 + 10 + 20 + 30 + 200 + 140) / 8)
    # malformed: 3 of 8 executed + 3 malformed
    assert m["retool/malformed_call_rate"] == pytest.approx(3 / 11)


def test_exact_match_is_correct_share_not_shaped_mean() -> None:
    m = step_metrics(batch())
    assert m["reward/exact_match"] == pytest.approx(3 / 8)
    assert m["eval/accuracy"] == pytest.approx(3 / 8)
    assert m["reward/mean"] == pytest.approx((1.15 + 0.1 + 1.15 + 1.15 + 0.1) / 8)
    assert m["reward/mean"] != pytest.approx(m["reward/exact_match"])


def test_format_bonus_is_weight_times_valid_share() -> None:
    assert step_metrics(batch())["reward/format_bonus"] == pytest.approx(0.1 * 5 / 8)
    assert step_metrics(batch(), format_bonus=0.2)["reward/format_bonus"] == pytest.approx(0.2 * 5 / 8)


def test_rollout_ratios_lengths_and_time_share() -> None:
    m = step_metrics(batch())
    assert m["rollout/truncated_ratio"] == pytest.approx(1 / 8)
    assert m["rollout/aborted_ratio"] == pytest.approx(1 / 8)
    model_tokens = [250, 180, 400, 400, 70, 50, 60, 90]
    assert m["rollout/response_len_no_tool_tokens"] == pytest.approx(sum(model_tokens) / 8)
    assert m["rollout/tool_time_share"] == pytest.approx(5.0 / 15.0)  # tool 1+2+1+1 s over wall 15 s


def test_pass_at_k_matches_hand_computation() -> None:
    m = step_metrics(batch(), k_values=(1, 2, 4))
    # group 0: n=4, c=2; group 1: n=4, c=1
    g0 = {1: 2 / 4, 2: 1 - 1 / 6, 4: 1.0}  # C(2,2)/C(4,2) = 1/6
    g1 = {1: 1 / 4, 2: 1 - 3 / 6, 4: 1.0}  # C(3,2)/C(4,2) = 3/6
    for k in (1, 2, 4):
        assert m[f"eval/pass@{k}"] == pytest.approx((g0[k] + g1[k]) / 2)


def test_pass_at_k_single_group_edges() -> None:
    assert pass_at_k(8, 0, 4) == 0.0
    assert pass_at_k(8, 8, 1) == 1.0
    assert pass_at_k(5, 1, 1) == pytest.approx(0.2)
    assert pass_at_k(5, 2, 3) == pytest.approx(1 - math.comb(3, 3) / math.comb(5, 3))


def test_keys_are_exactly_the_documented_ones() -> None:
    m = step_metrics(batch(), k_values=(1, 4))
    assert set(m) == set(METRIC_KEYS) | {"eval/pass@1", "eval/pass@4"}
    assert all(type(value) is float for value in m.values())


def test_rates_are_zero_when_no_call_ran() -> None:
    m = step_metrics([record(sample_index=0), record(sample_index=1)])
    for key in ("retool/tool_success_rate", "retool/avg_code_length_chars", "retool/malformed_call_rate",
                "sandbox/timeout_rate", "sandbox/error_rate", "sandbox/memory_rate"):
        assert m[key] == 0.0, key


def test_tool_time_share_is_zero_without_recorded_time() -> None:
    m = step_metrics([record(generation_time_s=0.0, wall_time_s=0.0)])
    assert m["rollout/tool_time_share"] == 0.0


def test_pass_at_k_larger_than_group_raises() -> None:
    with pytest.raises(ValueError, match="pass@8"):
        step_metrics(batch(), k_values=(8,))


def test_empty_records_and_duplicates_raise() -> None:
    with pytest.raises(ValueError, match="at least one"):
        step_metrics([])
    with pytest.raises(ValueError, match="duplicate"):
        step_metrics([record(), record()])


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"status": "done"}, "status"),
        ({"tool_calls": 1}, "tool_statuses"),
        ({"tool_calls": 1, "tool_statuses": ("ok",)}, "code_lengths_chars"),
        ({"tool_calls": 1, "tool_statuses": ("weird",), "code_lengths_chars": (3,)}, "weird"),
        ({"tool_tokens": 11}, "tool_tokens"),
        ({"turns": -1}, "turns"),
        ({"reward": float("nan")}, "reward"),
        ({"tool_time_s": 2.0}, "tool_time_s"),
        ({"correct": 1}, "correct"),
        ({"tool_statuses": ["ok"], "tool_calls": 1, "code_lengths_chars": (1,)}, "tuples"),
    ],
)
def test_record_rejects_broken_invariants(overrides: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        record(**overrides)


def test_record_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        record().reward = 1.0  # type: ignore[misc]


def test_metrics_log_round_trips(tmp_path) -> None:
    path = tmp_path / "run" / "metrics.jsonl"
    write_metrics_line(path, 0, {"reward/mean": 0.5})
    write_metrics_line(path, 1, step_metrics(batch()))
    rows = read_metrics(path)
    assert [row["step"] for row in rows] == [0, 1]
    assert rows[1]["reward/exact_match"] == pytest.approx(3 / 8)
    assert metric_series(rows, "reward/exact_match") == [(1, pytest.approx(3 / 8))]
    assert path.read_text().count("\n") == 2


def test_write_rejects_non_finite_and_step_key(tmp_path) -> None:
    with pytest.raises(ValueError, match="finite"):
        write_metrics_line(tmp_path / "m.jsonl", 0, {"x": float("inf")})
    with pytest.raises(ValueError, match="'step'"):
        write_metrics_line(tmp_path / "m.jsonl", 0, {"step": 1.0})
    with pytest.raises(ValueError, match="step"):
        write_metrics_line(tmp_path / "m.jsonl", -1, {})


def test_bad_json_line_error_names_the_line(tmp_path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({"step": 0}) + "\n\n" + "{not json\n" + json.dumps({"step": 2}) + "\n")
    with pytest.raises(ValueError, match=r"m\.jsonl:3: not valid JSON"):
        read_metrics(path)


def test_row_without_step_error_names_the_line() -> None:
    with pytest.raises(ValueError, match=r"<metrics>:2: 'step'"):
        parse_metrics_text('{"step": 0}\n{"x": 1}\n')
    with pytest.raises(ValueError, match=r"<metrics>:1: expected a JSON object"):
        parse_metrics_text("[1, 2]\n")


def test_partial_tail_is_left_out_only_when_allowed() -> None:
    text = '{"step": 0}\n{"step": 1, "x": 0.'
    assert parse_metrics_text(text, allow_partial_tail=True) == [{"step": 0}]
    with pytest.raises(ValueError, match=":2:"):
        parse_metrics_text(text)
    with pytest.raises(ValueError, match=":1:"):
        parse_metrics_text('{"step": 0,\n{"step": 1}', allow_partial_tail=True)


def test_format_bonus_default_is_the_reward_format_weight() -> None:
    from retool.reward import RewardConfig

    assert FORMAT_BONUS == RewardConfig().format_weight


def test_tool_statuses_are_the_sandbox_statuses() -> None:
    from retool.sandbox import STATUSES

    assert TOOL_STATUSES == STATUSES


def test_failed_samples_are_counted_in_their_own_ratio() -> None:
    records = [dataclasses.replace(r, status="failed") if i < 2 else r for i, r in enumerate(batch())]
    assert step_metrics(batch())["rollout/failed_ratio"] == 0.0
    assert step_metrics(records)["rollout/failed_ratio"] == pytest.approx(2 / 8)


@pytest.mark.parametrize(("bad", "reason"), [(b"[" * 100_000, "nests deeper than"), (b'{"step": 1, "x": "\xff"}', "invalid UTF-8"),
                                             (b'{"step": 1, "x": NaN', "not valid JSON")])
def test_read_metrics_names_a_hostile_line_with_a_value_error(tmp_path, bad: bytes, reason: str) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"step": 0}\n' + bad + b"\n")
    with pytest.raises(ValueError, match=f"metrics.jsonl:2: .*{reason}"):
        read_metrics(path)
