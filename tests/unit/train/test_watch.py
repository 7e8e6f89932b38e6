"""The health watch flags each band breach on synthetic metrics and passes a healthy run."""

from __future__ import annotations

import json

import pytest

from retool.train.watch import (
    DEFAULT_BANDS,
    MAX_BANDS_FILE_BYTES,
    Band,
    check,
    load_bands,
    slope,
)
from tests.strategies.metrics import healthy_rows, with_value


def only(report, metric: str):
    assert {b.metric for b in report.breaches} == {metric}, [b.message() for b in report.breaches]
    return [b for b in report.breaches if b.metric == metric]


def test_healthy_run_passes() -> None:
    report = check(healthy_rows())
    assert report.ok, [b.message() for b in report.breaches]
    assert report.missing == ()
    assert {c.status for c in report.checks} == {"ok"}
    assert report.rows_checked == 15  # 20 rows minus the 5 warm-up steps


def test_tool_calls_per_sample_collapse_is_flagged() -> None:
    (breach,) = only(check(with_value(healthy_rows(), "retool/tool_calls_per_sample", 12, 0.3)), "retool/tool_calls_per_sample")
    assert (breach.step, breach.value, breach.kind) == (12, 0.3, "below")
    assert "tool-response mask" in breach.advice


def test_tool_calls_per_sample_above_band_is_flagged() -> None:
    (breach,) = only(check(with_value(healthy_rows(), "retool/tool_calls_per_sample", 7, 4.5)), "retool/tool_calls_per_sample")
    assert breach.kind == "above"


def test_tool_success_rate_low_is_flagged() -> None:
    (breach,) = only(check(with_value(healthy_rows(), "retool/tool_success_rate", 9, 0.6)), "retool/tool_success_rate")
    assert breach.kind == "below"
    assert "allowed modules" in breach.advice


def test_code_length_too_long_is_flagged() -> None:
    (breach,) = only(check(with_value(healthy_rows(), "retool/avg_code_length_chars", 15, 640.0)), "retool/avg_code_length_chars")
    assert (breach.kind, breach.value) == ("above", 640.0)
    assert "Too long" in breach.advice


def test_code_length_too_short_is_flagged() -> None:
    (breach,) = only(check(with_value(healthy_rows(), "retool/avg_code_length_chars", 15, 12.0)), "retool/avg_code_length_chars")
    assert breach.kind == "below"


def test_exact_match_flat_at_zero_is_flagged() -> None:
    rows = [{**row, "reward/exact_match": 0.0} for row in healthy_rows()]
    (breach,) = only(check(rows), "reward/exact_match")
    assert breach.kind == "not_trending_up"
    assert breach.step == 19 and breach.value == 0.0
    assert "retool answers validate" in breach.advice


def test_exact_match_falling_is_flagged_over_last_window_only() -> None:
    rows = healthy_rows(30)
    rows = [{**row, "reward/exact_match": 0.5 - 0.01 * (row["step"] - 20)} if row["step"] >= 20 else row for row in rows]
    (breach,) = only(check(rows, window=10), "reward/exact_match")
    assert breach.value == pytest.approx(-0.01)
    assert check(rows[:20], window=10).ok


def test_format_bonus_low_is_flagged() -> None:
    (breach,) = only(check(with_value(healthy_rows(), "reward/format_bonus", 10, 0.04)), "reward/format_bonus")
    assert breach.kind == "below"
    assert "stop strings" in breach.advice


def test_timeout_rate_high_is_flagged() -> None:
    (breach,) = only(check(with_value(healthy_rows(), "sandbox/timeout_rate", 18, 0.1)), "sandbox/timeout_rate")
    assert breach.kind == "above"
    assert "python_timeout" in breach.advice


def test_every_default_band_has_advice() -> None:
    assert len(DEFAULT_BANDS) == 6
    assert all(band.advice for band in DEFAULT_BANDS)


def test_missing_metric_is_reported_and_fails() -> None:
    rows = [{k: v for k, v in row.items() if k != "sandbox/timeout_rate"} for row in healthy_rows()]
    report = check(rows)
    assert report.missing == ("sandbox/timeout_rate",)
    assert not report.ok
    assert report.breaches == ()


def test_no_rows_makes_every_band_missing() -> None:
    report = check([])
    assert set(report.missing) == {band.metric for band in DEFAULT_BANDS}


def test_non_finite_value_is_an_invalid_breach() -> None:
    (breach,) = only(check(with_value(healthy_rows(), "sandbox/timeout_rate", 8, float("nan"))), "sandbox/timeout_rate")
    assert (breach.kind, breach.value) == ("invalid", None)


def test_warmup_steps_are_not_checked() -> None:
    rows = with_value(healthy_rows(), "retool/tool_success_rate", 2, 0.1)
    assert check(rows).ok
    assert not check(rows, warmup_steps=0).ok


def test_trend_is_pending_before_window_fills() -> None:
    rows = [{**row, "reward/exact_match": 0.0} for row in healthy_rows(12)]
    report = check(rows, window=10)  # 7 rows after warm-up
    assert report.ok
    (trend,) = [c for c in report.checks if c.band.metric == "reward/exact_match"]
    assert trend.status == "pending"


def test_slope_is_least_squares() -> None:
    assert slope([(0, 1.0), (1, 3.0), (2, 5.0)]) == pytest.approx(2.0)
    assert slope([(0, 1.0), (1, 0.0), (2, 1.0)]) == pytest.approx(0.0)
    assert slope([(1, 1.0)]) == 0.0


@pytest.mark.parametrize(
    "kwargs",
    [dict(metric="m"), dict(metric="m", low=2.0, high=1.0), dict(metric="m", trend="down"), dict(metric="", low=0.0)],
)
def test_band_rejects_bad_definitions(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Band(**kwargs)


def test_check_rejects_bad_window_and_rows() -> None:
    with pytest.raises(ValueError, match="window"):
        check(healthy_rows(), window=1)
    with pytest.raises(ValueError, match="row 1"):
        check([{"step": 0}, {"x": 1.0}])


def test_load_bands_json_replaces_defaults(tmp_path) -> None:
    path = tmp_path / "bands.json"
    path.write_text(json.dumps({"bands": [{"metric": "sandbox/timeout_rate", "high": 0.2}]}))
    (band,) = load_bands(path)
    assert band.high == 0.2
    assert "python_timeout" in band.advice  # advice taken from the default band
    assert check(with_value(healthy_rows(), "sandbox/timeout_rate", 10, 0.1), [band]).ok


def test_load_bands_toml_extends_defaults(tmp_path) -> None:
    path = tmp_path / "bands.toml"
    path.write_text(
        'extend_defaults = true\n'
        '[[bands]]\nmetric = "retool/tool_calls_per_sample"\nlow = 0.5\nhigh = 5.0\n'
        '[[bands]]\nmetric = "rollout/truncated_ratio"\nhigh = 0.1\nadvice = "raise the response budget"\n'
    )
    bands = load_bands(path)
    by_metric = {band.metric: band for band in bands}
    assert len(bands) == 7
    assert by_metric["retool/tool_calls_per_sample"].low == 0.5
    assert by_metric["rollout/truncated_ratio"].advice == "raise the response budget"
    assert by_metric["sandbox/timeout_rate"] == DEFAULT_BANDS[-1]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"bands": [{"metric": "m", "lo": 1}]}', "band 0: unknown band keys"),
        ('{"bands": [{"metric": "m", "low": 3, "high": 1}]}', "band 0: Band for m has low"),
        ('{"bands": [{"metric": "m", "low": 1}, {"metric": "m", "high": 2}]}', "more than one band"),
        ('{"nope": 1}', "'bands' list"),
        ("{bad", "cannot parse"),
    ],
)
def test_load_bands_errors_name_the_problem(tmp_path, text: str, match: str) -> None:
    path = tmp_path / "bands.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_bands(path)


def test_check_names_a_row_that_is_not_an_object() -> None:
    with pytest.raises(ValueError, match="metrics row 1 is not an object: list"):
        check([{"step": 0}, [1, 2]])


@pytest.mark.parametrize(
    ("data", "match"),
    [(b'{"bands": [{"metric": "\xff"}]}', "invalid UTF-8 at byte 23"), (b"[" * 100_000, "cannot parse bands file")],
)
def test_load_bands_names_the_file_for_bytes_it_cannot_parse(tmp_path, data: bytes, match: str) -> None:
    path = tmp_path / "bands.json"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=match) as info:
        load_bands(path)
    assert str(path) in str(info.value)


def test_load_bands_refuses_a_file_over_its_bound(tmp_path) -> None:
    path = tmp_path / "bands.json"
    path.write_bytes(b" " * (MAX_BANDS_FILE_BYTES + 1))
    with pytest.raises(ValueError, match="larger than"):
        load_bands(path)


def test_load_bands_toml_nested_too_deeply_names_the_file(tmp_path) -> None:
    path = tmp_path / "bands.toml"
    path.write_text("bands = " + "[" * 50_000)
    with pytest.raises(ValueError, match="cannot parse bands file"):
        load_bands(path)


def test_rows_all_inside_warmup_are_warmup_not_missing() -> None:
    report = check(healthy_rows(3), warmup_steps=5)  # steps 0..2
    assert report.missing == ()
    assert set(report.warmup_only) == {band.metric for band in DEFAULT_BANDS}
    assert report.all_in_warmup and report.rows_in_warmup == 3


def test_rows_all_inside_warmup_fail_the_report() -> None:
    assert not check(healthy_rows(3), warmup_steps=5).ok


def test_metric_logged_only_during_warmup_is_warmup_only() -> None:
    rows = [row if row["step"] < 5 else {k: v for k, v in row.items() if k != "sandbox/timeout_rate"}
            for row in healthy_rows()]
    report = check(rows, warmup_steps=5)
    assert (report.warmup_only, report.missing, report.all_in_warmup) == (("sandbox/timeout_rate",), (), False)
