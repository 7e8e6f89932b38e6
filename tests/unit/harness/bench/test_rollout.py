"""Rollout throughput (retool.harness.bench.rollout): serial vs overlapped on the tiny model with the
real sandbox, at small sizes. Only the accounting is asserted, never the speed."""

from __future__ import annotations

import math

import pytest

from retool.harness.bench.rollout import (
    RolloutBenchResult,
    RolloutMeasurement,
    bench_results,
    format_result,
    measure_rollout,
)
from tests.capabilities import sandbox_options

SAMPLES, CALLS = 2, 1


@pytest.fixture(scope="module")
def result() -> RolloutBenchResult:
    return measure_rollout(samples=SAMPLES, tool_calls_per_sample=CALLS, tool_latency_s=0.0, rounds=1,
                           sandbox_allow_weaker=bool(sandbox_options()))


def test_the_two_modes_are_serial_and_overlapped(result: RolloutBenchResult) -> None:
    assert (result.serial.mode, result.overlapped.mode) == ("serial", "overlapped")


@pytest.mark.parametrize("mode", ["serial", "overlapped"])
def test_every_sample_makes_the_requested_tool_calls(result: RolloutBenchResult, mode: str) -> None:
    m = getattr(result, mode)
    assert (m.samples, m.tool_calls) == (SAMPLES, SAMPLES * CALLS)


def test_both_modes_generate_the_same_teacher_forced_tokens(result: RolloutBenchResult) -> None:
    assert result.serial.model_tokens == result.overlapped.model_tokens > 0


@pytest.mark.parametrize("mode", ["serial", "overlapped"])
def test_response_tokens_include_the_tool_tokens(result: RolloutBenchResult, mode: str) -> None:
    m = getattr(result, mode)
    assert m.response_tokens > m.model_tokens


@pytest.mark.parametrize("mode", ["serial", "overlapped"])
def test_tokens_per_s_is_model_tokens_over_wall_time(result: RolloutBenchResult, mode: str) -> None:
    m = getattr(result, mode)
    assert m.tokens_per_s == pytest.approx(m.model_tokens / m.wall_s)
    assert 0.0 <= m.tool_time_share <= 1.0


def test_speedup_is_overlapped_over_serial_tokens_per_s(result: RolloutBenchResult) -> None:
    assert result.speedup == pytest.approx(result.overlapped.tokens_per_s / result.serial.tokens_per_s)


def test_bench_results_records_the_speedup_as_the_gated_ratio(result: RolloutBenchResult) -> None:
    (r,) = bench_results(result)
    assert (r.name, r.group, r.higher_is_better) == ("rollout_tokens_per_s_overlapped", "rollout", True)
    assert r.ratio == pytest.approx(result.speedup)


def test_format_result_has_a_row_per_mode_and_the_speedup(result: RolloutBenchResult) -> None:
    lines = format_result(result).splitlines()
    assert [line.split()[0] for line in lines[1:3]] == ["serial", "overlapped"]
    assert lines[-1] == f"overlapped / serial tokens/s: {result.speedup:.2f}x"


def _measurement(mode: str, tokens_per_s: float) -> RolloutMeasurement:
    return RolloutMeasurement(mode=mode, samples=1, model_tokens=0, response_tokens=0, tool_calls=0, wall_s=1.0,
                              tokens_per_s=tokens_per_s, tool_time_share=0.0)


def test_speedup_is_nan_when_serial_made_no_tokens() -> None:
    assert math.isnan(RolloutBenchResult(serial=_measurement("serial", 0.0), overlapped=_measurement("overlapped", 5.0)).speedup)


@pytest.mark.parametrize(("kwargs", "named"), [
    ({"rounds": 0}, "0, 8, 3"),
    ({"samples": 0}, "2, 0, 3"),
    ({"tool_calls_per_sample": -1}, "2, 8, -1"),
])
def test_bad_sizes_raise_value_error_naming_them(kwargs: dict, named: str) -> None:
    with pytest.raises(ValueError, match=f"got {named}"):
        measure_rollout(**kwargs)
