"""The health watch flags each band breach on synthetic metrics and passes a healthy run; its metrics reader
is total on a file a trainer is appending to."""

from __future__ import annotations

import json
import os

import pytest

from retool.train.watch import (
    DEFAULT_BANDS,
    MAX_BANDS_FILE_BYTES,
    Band,
    MetricsReject,
    MetricsTail,
    check,
    load_bands,
    metrics_row,
    read_metrics_log,
    slope,
)
from tests.strategies.metrics import healthy_rows, with_value
from tests.unit.data.timing import LINEAR_RATIO_BOUND, doubling_ratio


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


# -- the metrics reader ------------------------------------------------------------------------------


def _line(step: int, **values: object) -> bytes:
    return json.dumps({"step": step, **values}).encode() + b"\n"


def _append(path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)


def test_a_tail_reads_only_what_was_appended_at_each_poll(tmp_path) -> None:
    path = tmp_path / "m.jsonl"
    tail = MetricsTail(path=path)
    _append(path, _line(0, a=1.0) + _line(1, a=2.0))
    first = tail.poll()
    _append(path, _line(2, a=3.0))
    second = tail.poll()
    assert [r["step"] for r in first.rows] == [0, 1] and [r["step"] for r in second.rows] == [2]
    assert [r["step"] for r in tail.rows] == [0, 1, 2] and tail.poll().rows == ()


def test_a_half_written_last_line_is_left_pending_and_read_once_complete(tmp_path) -> None:
    path = tmp_path / "m.jsonl"
    whole = _line(0, a=1.0) + _line(1, a=2.0)
    _append(path, whole[:-9])
    tail = MetricsTail(path=path)
    first = tail.poll()
    assert [r["step"] for r in first.rows] == [0] and first.rejects == () and first.pending_bytes > 0
    _append(path, whole[-9:])
    second = tail.poll()
    assert second.rows == ({"step": 1, "a": 2.0},) and second.pending_bytes == 0
    assert tail.poll().rows == () and len(tail.rows) == 2


def test_a_line_written_one_byte_per_poll_is_read_once(tmp_path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_bytes(b"")
    tail = MetricsTail(path=path)
    for byte in _line(7, a=0.5):
        _append(path, bytes([byte]))
        tail.poll()
    assert tail.rows == [{"step": 7, "a": 0.5}] and tail.rejects == []


def test_a_missing_file_is_nothing_yet(tmp_path) -> None:
    tail = MetricsTail(path=tmp_path / "not-yet.jsonl")
    assert tail.poll().rows == () and tail.rows == []


def test_an_invalid_utf8_line_is_rejected_alone(tmp_path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_bytes(_line(0) + b'{"step": 1, "a": "\xc3\x28"}\n' + _line(2))
    log = read_metrics_log(path)
    assert [r["step"] for r in log.rows] == [0, 2]
    (reject,) = log.rejects
    assert reject.line == 2 and reject.reason.startswith("invalid UTF-8 at byte 18")


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (b"[" * 100_000, "not valid JSON"),
        (b"[" * 70 + b"]" * 70, "nests deeper than 64"),
        (b'{"step": 1}\x00', "NUL byte at byte 11"),
        (b"[1, 2]", "expected a JSON object, got list"),
        (b'"text"', "expected a JSON object, got str"),
        (b'{"a": 1}', "'step' must be an int >= 0, got None"),
        (b'{"step": true}', "'step' must be an int >= 0, got True"),
        (b'{"step": -1}', "'step' must be an int >= 0, got -1"),
        (b'{"step": 1.0}', "'step' must be an int >= 0, got 1.0"),
        (b'{"step": [1]}', "'step' must be an int >= 0, got list"),
        (b'{"step": ' + b"9" * 5000 + b"}", "not valid JSON"),
        (b"{not json", "not valid JSON"),
    ],
)
def test_a_malformed_line_is_a_named_reject_and_the_next_line_is_read(tmp_path, bad: bytes, reason: str) -> None:
    path = tmp_path / "m.jsonl"
    path.write_bytes(_line(0) + bad + b"\n" + _line(2))
    log = read_metrics_log(path)
    assert [r["step"] for r in log.rows] == [0, 2]
    (reject,) = log.rejects
    assert reject.line == 2 and reason in reject.reason
    assert reject.message(str(path)).startswith(f"{path}:2: ")


def test_nan_and_infinity_values_are_read_and_checked_as_invalid_breaches(tmp_path) -> None:
    rows = with_value(with_value(healthy_rows(), "sandbox/timeout_rate", 8, float("nan")), "retool/tool_success_rate", 9,
                      float("inf"))
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))  # json.dumps writes NaN and Infinity
    assert "NaN" in path.read_text() and "Infinity" in path.read_text()
    log = read_metrics_log(path)
    assert log.rejects == () and len(log.rows) == len(rows)
    kinds = {(b.metric, b.kind) for b in check(list(log.rows), warmup_steps=0).breaches}
    assert {("sandbox/timeout_rate", "invalid"), ("retool/tool_success_rate", "invalid")} <= kinds


def test_a_line_over_the_bound_is_read_past_in_chunks_and_rejected(tmp_path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_bytes(_line(0) + b'{"step": 1, "s": "' + b"x" * 5_000 + b'"}\n' + _line(2))
    tail = MetricsTail(path=path, max_line_bytes=1_000, chunk_bytes=256)
    poll = tail.poll()
    assert [r["step"] for r in poll.rows] == [0, 2]
    (reject,) = poll.rejects
    assert reject.line == 2 and reject.reason == "line of 5020 bytes exceeds the bound of 1000 bytes"


def test_an_oversized_line_still_being_written_is_rejected_once_it_ends(tmp_path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_bytes(b'{"step": 1, "s": "' + b"x" * 3_000)
    tail = MetricsTail(path=path, max_line_bytes=1_000)
    assert tail.poll().rejects == ()
    _append(path, b'"}\n' + _line(2))
    poll = tail.poll()
    assert [r.line for r in poll.rejects] == [1] and [r["step"] for r in poll.rows] == [2]


def test_crlf_line_ends_and_a_bom_are_accepted(tmp_path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + _line(0)[:-1] + b"\r\n\r\n" + _line(1)[:-1] + b"\r\n")
    log = read_metrics_log(path)
    assert [r["step"] for r in log.rows] == [0, 1] and log.rejects == ()


def test_line_numbers_count_blank_lines(tmp_path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_bytes(_line(0) + b"\n\n" + b"oops\n")
    assert [r.line for r in read_metrics_log(path).rejects] == [4]


def test_a_file_that_shrinks_is_read_again_from_its_start(tmp_path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_bytes(_line(0) + _line(1) + _line(2))
    tail = MetricsTail(path=path)
    tail.poll()
    path.write_bytes(_line(0, a=9.0))  # the trainer restarted and truncated its log
    poll = tail.poll()
    assert poll.restarted and poll.rows == ({"step": 0, "a": 9.0},) and tail.rows == [{"step": 0, "a": 9.0}]


def test_a_replaced_file_is_read_again_from_its_start(tmp_path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_bytes(_line(0))
    tail = MetricsTail(path=path)
    tail.poll()
    fresh = tmp_path / "fresh.jsonl"
    fresh.write_bytes(_line(5) + _line(6) + _line(7))
    keep = tmp_path / "keep.jsonl"
    os.rename(path, keep)  # keep the old inode alive so the new file cannot reuse it
    os.rename(fresh, path)
    poll = tail.poll()
    assert poll.restarted and [r["step"] for r in tail.rows] == [5, 6, 7]


def test_final_reads_a_complete_last_line_without_its_newline(tmp_path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_bytes(_line(0) + _line(1)[:-1])
    assert [r["step"] for r in read_metrics_log(path).rows] == [0, 1]


def test_final_rejects_a_truncated_last_line_saying_it_is_incomplete(tmp_path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_bytes(_line(0) + _line(1)[:-5])
    log = read_metrics_log(path)
    assert [r["step"] for r in log.rows] == [0]
    (reject,) = log.rejects
    assert reject.line == 2 and "incomplete last line" in reject.reason


def test_metrics_row_is_total_on_text_and_bytes() -> None:
    assert metrics_row('{"step": 3}', 1) == {"step": 3}
    assert isinstance(metrics_row(b"\xff", 1), MetricsReject)


@pytest.mark.parametrize("kwargs", [dict(max_line_bytes=0), dict(chunk_bytes=0), dict(max_line_bytes=True)])
def test_a_tail_refuses_bad_bounds(tmp_path, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        MetricsTail(path=tmp_path / "m.jsonl", **kwargs)


def test_reading_a_log_is_linear_in_its_size(tmp_path) -> None:
    small, large = tmp_path / "s.jsonl", tmp_path / "l.jsonl"
    rows = [json.dumps(r).encode() + b"\n" for r in healthy_rows(20)]
    small.write_bytes(b"".join(rows) * 200)
    large.write_bytes(b"".join(rows) * 400)
    assert doubling_ratio(read_metrics_log, small, large) < LINEAR_RATIO_BOUND


def test_a_long_line_read_in_small_chunks_is_linear(tmp_path) -> None:
    small, large = tmp_path / "s.jsonl", tmp_path / "l.jsonl"
    small.write_bytes(b'{"step": 1, "s": "' + b"x" * 200_000 + b'"}\n')
    large.write_bytes(b'{"step": 1, "s": "' + b"x" * 400_000 + b'"}\n')

    def read(path) -> MetricsTail:
        tail = MetricsTail(path=path, chunk_bytes=64)
        tail.poll()
        assert len(tail.rows) == 1
        return tail

    assert doubling_ratio(read, small, large) < LINEAR_RATIO_BOUND


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
