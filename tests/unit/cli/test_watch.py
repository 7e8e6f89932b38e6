"""``retool watch``: table, advice, exit status, JSON report, and --follow on a growing file."""

from __future__ import annotations

import json
import _thread
import signal
import threading
import time
from pathlib import Path

import pytest

from retool.cli import main
from retool.train.metrics import write_metrics_line
from tests.strategies.metrics import healthy_rows, with_value


def write_rows(path: Path, rows: list[dict]) -> Path:
    for row in rows:
        write_metrics_line(path, row["step"], {k: v for k, v in row.items() if k != "step"})
    return path


def test_healthy_file_exits_zero_with_table(tmp_path, capsys) -> None:
    path = write_rows(tmp_path / "metrics.jsonl", healthy_rows())
    assert main(["watch", str(path)]) == 0
    out = capsys.readouterr().out
    assert "retool/tool_success_rate" in out and ">= 0.85" in out
    assert "OK: every banded metric is inside its band" in out


def test_breach_exits_one_and_prints_advice(tmp_path, capsys) -> None:
    path = write_rows(tmp_path / "metrics.jsonl", with_value(healthy_rows(), "sandbox/timeout_rate", 11, 0.3))
    assert main(["watch", str(path)]) == 1
    out = capsys.readouterr().out
    assert "BREACH sandbox/timeout_rate at step 11: 0.3 (above band" in out
    assert "advice: Raise python_timeout" in out
    assert "FAIL: 1 breaches, 0 missing metrics" in out


def test_missing_metric_exits_one(tmp_path, capsys) -> None:
    rows = [{k: v for k, v in row.items() if k != "reward/format_bonus"} for row in healthy_rows()]
    path = write_rows(tmp_path / "metrics.jsonl", rows)
    assert main(["watch", str(path)]) == 1
    assert "MISSING reward/format_bonus" in capsys.readouterr().out


def test_many_breaches_are_summarised(tmp_path, capsys) -> None:
    rows = [{**row, "retool/tool_calls_per_sample": 0.0} for row in healthy_rows()]
    path = write_rows(tmp_path / "metrics.jsonl", rows)
    assert main(["watch", str(path)]) == 1
    out = capsys.readouterr().out
    assert "... and 10 more breaches of retool/tool_calls_per_sample" in out
    assert out.count("advice: Falling toward 0") == 1


def test_json_report_is_written(tmp_path, capsys) -> None:
    path = write_rows(tmp_path / "metrics.jsonl", with_value(healthy_rows(), "retool/tool_success_rate", 6, 0.5))
    report_path = tmp_path / "out" / "report.json"
    assert main(["watch", str(path), "--json", str(report_path)]) == 1
    report = json.loads(report_path.read_text())
    assert report["ok"] is False
    (breach,) = report["breaches"]
    assert (breach["metric"], breach["step"], breach["kind"]) == ("retool/tool_success_rate", 6, "below")
    assert breach["advice"]


def test_bands_file_changes_the_verdict(tmp_path, capsys) -> None:
    path = write_rows(tmp_path / "metrics.jsonl", with_value(healthy_rows(), "sandbox/timeout_rate", 11, 0.05))
    bands = tmp_path / "bands.toml"
    bands.write_text('extend_defaults = true\n[[bands]]\nmetric = "sandbox/timeout_rate"\nhigh = 0.1\n')
    assert main(["watch", str(path)]) == 1
    assert main(["watch", str(path), "--bands", str(bands)]) == 0


def test_bad_json_line_exits_two_naming_the_line(tmp_path, capsys) -> None:
    path = write_rows(tmp_path / "metrics.jsonl", healthy_rows(3))
    with path.open("a") as handle:
        handle.write("{oops\n")
    assert main(["watch", str(path)]) == 2
    assert "metrics.jsonl:4: not valid JSON" in capsys.readouterr().err


def test_missing_file_exits_two(tmp_path, capsys) -> None:
    assert main(["watch", str(tmp_path / "absent.jsonl")]) == 2
    assert "absent.jsonl" in capsys.readouterr().err


def test_follow_sees_rows_a_writer_appends(tmp_path, capsys) -> None:
    path = tmp_path / "live.jsonl"  # does not exist yet: the watch waits for it
    rows = with_value(healthy_rows(), "retool/avg_code_length_chars", 14, 900.0)
    done = threading.Event()

    def writer() -> None:
        for row in rows:
            line = json.dumps(row) + "\n"
            with path.open("a") as handle:  # half a line first: a writer caught mid-line
                handle.write(line[:10])
                handle.flush()
                time.sleep(0.002)
                handle.write(line[10:])
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        status = main(["watch", str(path), "--follow", "--interval-s", "0.005", "--max-polls", "2000",
                       "--until-step", "19"])
    finally:
        thread.join()
    assert done.is_set()
    out = capsys.readouterr().out
    assert status == 1
    live = out.index("BREACH retool/avg_code_length_chars at step 14: 900")
    assert live < out.index("health watch:")  # printed while following, before the final report
    assert "step 19: 20 rows" in out
    assert "(20 rows checked)" not in out and "(15 rows checked)" in out


def test_follow_stops_after_max_polls_without_a_file(tmp_path, capsys) -> None:
    path = tmp_path / "never.jsonl"
    assert main(["watch", str(path), "--follow", "--interval-s", "0.001", "--max-polls", "3"]) == 1
    assert "(0 rows checked)" in capsys.readouterr().out


def test_follow_stops_on_ctrl_c_with_the_final_report(tmp_path, capsys) -> None:
    path = write_rows(tmp_path / "live.jsonl", healthy_rows())

    def interrupter() -> None:
        time.sleep(1.0)  # long after the follow loop started, even on a loaded machine
        _thread.interrupt_main()  # what Ctrl-C delivers: KeyboardInterrupt in the main thread

    # interrupt_main does nothing while SIGINT is ignored or default (an earlier test or a parent may
    # leave it so): Python's own handler, as in an interactive shell, for the length of the test
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    thread = threading.Thread(target=interrupter)
    thread.start()
    try:
        status = main(["watch", str(path), "--follow", "--interval-s", "0.01", "--max-polls", "20000"])
    finally:
        thread.join()
        signal.signal(signal.SIGINT, previous)
    out = capsys.readouterr().out
    assert "stopped" in out
    assert status == 0 and "(15 rows checked)" in out


@pytest.mark.parametrize(("bad", "reason"), [(b"[" * 100_000 + b"\n", "nests deeper than"),
                                             (b'{"step": 3, "x": "\xff"}\n', "invalid UTF-8")])
def test_a_hostile_line_exits_two_naming_it_after_the_report(tmp_path, capsys, bad: bytes, reason: str) -> None:
    path = write_rows(tmp_path / "metrics.jsonl", healthy_rows(3))
    with path.open("ab") as handle:
        handle.write(bad)
    assert main(["watch", str(path)]) == 2
    captured = capsys.readouterr()
    assert "metrics.jsonl:4: " in captured.err and reason in captured.err
    assert "health watch:" in captured.out  # the rows that did read are still checked and reported


def test_follow_goes_on_past_a_bad_line(tmp_path, capsys) -> None:
    path = write_rows(tmp_path / "live.jsonl", healthy_rows(3))
    with path.open("a") as handle:
        handle.write("{oops\n")
    rows = healthy_rows(6)[3:]
    write_rows(tmp_path / "rest.jsonl", rows)
    with path.open("a") as handle:
        handle.write((tmp_path / "rest.jsonl").read_text())
    assert main(["watch", str(path), "--follow", "--interval-s", "0.001", "--max-polls", "2"]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("live.jsonl:4: not valid JSON") == 1 and "step 5: 6 rows" in captured.out


def test_rows_all_inside_warmup_say_so_instead_of_missing(tmp_path, capsys) -> None:
    path = write_rows(tmp_path / "metrics.jsonl", healthy_rows(3))
    assert main(["watch", str(path), "--warmup-steps", "5"]) == 1
    out = capsys.readouterr().out
    assert "WARM-UP: all 3 rows are inside the warm-up window (step < 5)" in out
    assert "MISSING" not in out
