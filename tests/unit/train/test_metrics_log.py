"""The metrics log reader is total on a file a trainer is appending to: each poll reads only what
was appended, a line becomes a row or a named reject, and reading is linear in the file's size."""

from __future__ import annotations

import json
import os

import pytest

from retool.train.metrics_log import (
    MetricsReject,
    MetricsTail,
    metrics_row,
    read_metrics_log,
)
from retool.train.watch import check
from tests.strategies.metrics import healthy_rows, with_value
from tests.unit.data.timing import LINEAR_RATIO_BOUND, doubling_ratio


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
