"""Contract tests of ``retool.sandbox.verdict``: ``open_pipes`` (code pre-written, blocking and
CLOEXEC flags), ``watch_streams`` over real pipes (EOF, the output cap, the deadline, the record
cap) and ``judge`` as a pure function of the supervisor's observations (timer, output count,
wait status, record claim). The execution state is the supervisor's real ``_Execution``."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import signal
import time
from collections.abc import Iterator

import pytest

from retool.sandbox import ExecutionResult, SandboxConfig
from retool.sandbox.supervisor import _Execution
from retool.sandbox.verdict import RECORD_CAP, SETUP_FAILED_EXIT, judge, open_pipes, parse_record, watch_streams

CONFIG = SandboxConfig(timeout_s=2.0, max_output_bytes=100, kill_grace_s=0.2)


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def close_all(*groups: list[int]) -> None:
    for fds in groups:
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass


# --- open_pipes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [0, 10, 200_000])
def test_the_code_is_already_written_and_closed_on_the_child_side(size: int) -> None:
    code = bytes(i % 251 for i in range(size))
    child, parent = open_pipes(code)
    try:
        assert read_all(child[0]) == code  # EOF after the code: the write end is closed
    finally:
        close_all(child, parent)


def test_four_child_fds_three_parent_fds_all_close_on_exec() -> None:
    child, parent = open_pipes(b"1")
    try:
        assert (len(child), len(parent)) == (4, 3)
        assert all(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC for fd in child + parent)
    finally:
        close_all(child, parent)


def test_parent_reads_do_not_block_and_child_writes_do() -> None:
    child, parent = open_pipes(b"")
    try:
        assert not any(os.get_blocking(fd) for fd in parent)
        assert all(os.get_blocking(fd) for fd in child[1:])
        with pytest.raises(BlockingIOError):
            os.read(parent[0], 10)
    finally:
        close_all(child, parent)


def test_each_child_write_end_feeds_its_parent_read_end() -> None:
    child, parent = open_pipes(b"")
    try:
        for i, (w, r) in enumerate(zip(child[1:], parent)):
            os.write(w, b"stream-%d" % i)
            assert os.read(r, 100) == b"stream-%d" % i
    finally:
        close_all(child, parent)


# --- judge ---------------------------------------------------------------------------------------
@pytest.fixture()
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def observed(loop: asyncio.AbstractEventLoop, *, status: int | None = 0, out: bytes = b"", err: bytes = b"",
             record: object = None, over_cap: bool = False, exited: bool = True) -> _Execution:
    """An execution as the supervisor saw it: ``status`` is the raw wait status (None = zygote died)."""
    execution = _Execution(1, loop)
    execution.streams = {0: bytearray(out), 1: bytearray(err)}
    if record is not None:
        execution.streams[2] = bytearray(record if isinstance(record, bytes) else json.dumps(record).encode())
    execution.over_cap = over_cap
    if exited:
        execution.exited.set_result(status)
    else:
        execution.exited.cancel()
    return execution


def exit_status(code: int) -> int:
    return code << 8


def verdict(execution: _Execution, timed_out: bool = False, duration_s: float = 0.1) -> ExecutionResult:
    return judge(execution, timed_out, CONFIG, duration_s)


def test_a_clean_exit_with_an_ok_record_is_ok(loop: asyncio.AbstractEventLoop) -> None:
    r = verdict(observed(loop, out=b"42\n", record={"status": "ok"}))
    assert (r.status, r.stdout, r.exit_code, r.term_signal, r.detail) == ("ok", "42\n", 0, None, "completed")


@pytest.mark.parametrize("claim", ["error", "memory", "forbidden"])
def test_the_record_tells_the_claimable_statuses_apart(loop: asyncio.AbstractEventLoop, claim: str) -> None:
    r = verdict(observed(loop, record={"status": claim, "exception": "SomeError"}))
    assert (r.status, r.exception, r.detail) == (claim, "SomeError", "SomeError")


@pytest.mark.parametrize("claim", ["timeout", "crashed", "output_limit", "fine"])
def test_a_record_cannot_claim_a_supervisor_status(loop: asyncio.AbstractEventLoop, claim: str) -> None:
    r = verdict(observed(loop, record={"status": claim}))
    assert r.status == "error" and "before the code finished" in r.detail


@pytest.mark.parametrize("raw", [b"not json", b"\xff\xfe", b'["ok"]', b'{"status": "ok"'])
def test_a_garbled_record_is_an_error(loop: asyncio.AbstractEventLoop, raw: bytes) -> None:
    assert verdict(observed(loop, record=raw)).status == "error"


@pytest.mark.parametrize("depth", [100, 100_000])
def test_a_nested_record_is_no_record_and_never_recursion(depth: int) -> None:
    assert parse_record(b'{"status": "ok", "exception": ' + b"[" * depth + b"]" * depth + b"}") is None
    assert parse_record(b'{"status": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}") is None


@pytest.mark.parametrize("exception", [{"forged": 1}, 7, "not a name!", "x" * 300, True])
def test_a_record_whose_exception_is_not_a_class_name_is_no_record(exception: object) -> None:
    assert parse_record(json.dumps({"status": "error", "exception": exception}).encode()) is None


def test_a_record_past_the_byte_cap_is_no_record() -> None:
    pad = b" " * RECORD_CAP
    assert parse_record(b'{"status": "ok"}' + pad) is None and parse_record(b'{"status": "ok"}') is not None


def test_a_record_with_unknown_keys_is_no_record() -> None:
    assert parse_record(b'{"status": "ok", "stdout": "forged"}') is None


def test_a_well_formed_record_keeps_exactly_status_and_exception() -> None:
    record = parse_record(b'{"status": "error", "exception": "ZeroDivisionError"}')
    assert record == {"status": "error", "exception": "ZeroDivisionError"}


def test_an_exit_zero_without_a_record_is_an_error_not_ok(loop: asyncio.AbstractEventLoop) -> None:
    r = verdict(observed(loop, out=b"half\n"))
    assert (r.status, r.stdout) == ("error", "half\n")
    assert r.detail == "the process exited with status 0 before the code finished"


def test_an_ok_record_after_a_nonzero_exit_is_not_trusted(loop: asyncio.AbstractEventLoop) -> None:
    r = verdict(observed(loop, status=exit_status(3), record={"status": "ok"}))
    assert (r.status, r.exit_code) == ("error", 3)


def test_setup_failure_exit_without_a_record_is_crashed(loop: asyncio.AbstractEventLoop) -> None:
    r = verdict(observed(loop, status=exit_status(SETUP_FAILED_EXIT), err=b"sandbox setup failed: X\n"))
    assert r.status == "crashed" and "setup failed" in r.detail


def test_a_fatal_signal_is_crashed_with_its_name(loop: asyncio.AbstractEventLoop) -> None:
    r = verdict(observed(loop, status=int(signal.SIGSEGV), record={"status": "ok"}))
    assert (r.status, r.term_signal, r.exit_code, r.detail) == ("crashed", signal.SIGSEGV, None, "killed by SIGSEGV")


def test_a_real_time_signal_is_crashed_with_its_number(loop: asyncio.AbstractEventLoop) -> None:
    r = verdict(observed(loop, status=40))
    assert (r.status, r.term_signal, r.detail) == ("crashed", 40, f"killed by SIGRTMIN+{40 - int(signal.SIGRTMIN)}")


def test_the_cpu_time_limit_signal_is_a_timeout(loop: asyncio.AbstractEventLoop) -> None:
    r = verdict(observed(loop, status=int(signal.SIGXCPU)))
    assert (r.status, r.term_signal) == ("timeout", signal.SIGXCPU)


def test_sigkill_at_the_deadline_is_a_timeout_and_before_it_a_crash(loop: asyncio.AbstractEventLoop) -> None:
    assert verdict(observed(loop, status=int(signal.SIGKILL)), duration_s=CONFIG.timeout_s).status == "timeout"
    assert verdict(observed(loop, status=int(signal.SIGKILL)), duration_s=0.5).status == "crashed"


def test_the_supervisor_timer_wins_over_any_record(loop: asyncio.AbstractEventLoop) -> None:
    r = verdict(observed(loop, record={"status": "ok"}), timed_out=True)
    assert r.status == "timeout" and "2 s" in r.detail


def test_passing_the_output_cap_wins_over_everything(loop: asyncio.AbstractEventLoop) -> None:
    r = verdict(observed(loop, record={"status": "ok"}, over_cap=True), timed_out=True)
    assert r.status == "output_limit" and "100 bytes" in r.detail


@pytest.mark.parametrize("exited", [True, False])
def test_no_wait_status_means_the_zygote_died(loop: asyncio.AbstractEventLoop, exited: bool) -> None:
    r = verdict(observed(loop, status=None, exited=exited, record={"status": "ok"}))
    assert (r.status, r.exit_code, r.term_signal) == ("crashed", None, None) and "zygote" in r.detail


def test_stdout_and_stderr_together_are_cut_to_the_cap(loop: asyncio.AbstractEventLoop) -> None:
    r = verdict(observed(loop, out=b"o" * 70, err=b"e" * 70, over_cap=True))
    assert (r.stdout, r.stderr) == ("o" * 70, "e" * 30)
    r = verdict(observed(loop, out=b"o" * 150, err=b"e" * 10, over_cap=True))
    assert (r.stdout, r.stderr) == ("o" * 100, "")


def test_invalid_utf8_output_is_replaced_not_raised(loop: asyncio.AbstractEventLoop) -> None:
    r = verdict(observed(loop, out=b"ok \xff\xfe\n", record={"status": "ok"}))
    assert r.stdout == "ok \ufffd\ufffd\n"


def test_judge_is_pure(loop: asyncio.AbstractEventLoop) -> None:
    execution = observed(loop, out=b"x", err=b"y", record={"status": "error", "exception": "E"})
    assert verdict(execution) == verdict(execution)


# --- watch_streams -------------------------------------------------------------------------------
async def watch(execution: _Execution, parent: list[int], config: SandboxConfig = CONFIG,
                on_kill: object = None) -> tuple[bool, int]:
    kills = 0

    def kill() -> None:
        nonlocal kills
        kills += 1
        if callable(on_kill):
            on_kill()

    timed_out = await watch_streams(asyncio.get_running_loop(), execution, parent, config, kill, time.monotonic())
    return timed_out, kills


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


@pytest.mark.asyncio
async def test_every_stream_is_collected_until_exit_and_eof() -> None:
    execution = _Execution(1, asyncio.get_running_loop())
    child, parent = open_pipes(b"")
    for fd, data in zip(child[1:], (b"out", b"err", b'{"status": "ok"}')):
        os.write(fd, data)
    close_all(child)
    execution.exited.set_result(0)
    timed_out, kills = await watch(execution, parent)
    assert (timed_out, kills) == (False, 0)
    assert {k: bytes(v) for k, v in execution.streams.items()} == {0: b"out", 1: b"err", 2: b'{"status": "ok"}'}
    assert execution.output_bytes == 6 and not any(is_open(fd) for fd in parent)
    assert judge(execution, timed_out, CONFIG, 0.1).status == "ok"


@pytest.mark.asyncio
async def test_passing_the_cap_kills_once_and_marks_the_execution() -> None:
    execution = _Execution(1, asyncio.get_running_loop())
    child, parent = open_pipes(b"")
    os.write(child[1], b"y" * 300)
    os.write(child[2], b"e" * 300)
    timed_out, kills = await watch(execution, parent, on_kill=lambda: (close_all(child), execution.exited.set_result(9)))
    assert (timed_out, kills, execution.over_cap) == (False, 1, True)
    assert len(execution.streams[0]) + len(execution.streams.get(1, b"")) <= CONFIG.max_output_bytes + 1
    assert judge(execution, timed_out, CONFIG, 0.1).status == "output_limit"


@pytest.mark.asyncio
async def test_the_deadline_kills_and_reports_a_timeout() -> None:
    config = SandboxConfig(timeout_s=0.2, kill_grace_s=0.1)
    execution = _Execution(1, asyncio.get_running_loop())
    child, parent = open_pipes(b"")
    try:
        started = time.monotonic()
        timed_out, kills = await watch(execution, parent, config)
        assert (timed_out, kills) == (True, 1) and time.monotonic() - started >= 0.2
        assert execution.exited.cancelled() and not any(is_open(fd) for fd in parent)
        assert judge(execution, timed_out, config, 0.35).status == "timeout"
    finally:
        close_all(child)


@pytest.mark.asyncio
async def test_the_record_is_capped_and_does_not_count_as_output() -> None:
    execution = _Execution(1, asyncio.get_running_loop())
    child, parent = open_pipes(b"")
    os.write(child[3], b"r" * 10_000)
    close_all(child)
    execution.exited.set_result(0)
    timed_out, kills = await watch(execution, parent)
    assert (timed_out, kills, execution.output_bytes, execution.over_cap) == (False, 0, 0, False)
    assert len(execution.streams[2]) == RECORD_CAP + 1  # one byte past the cap: read no further


@pytest.mark.asyncio
async def test_the_record_pipe_is_closed_once_past_the_cap_so_a_flood_costs_nothing() -> None:
    execution = _Execution(1, asyncio.get_running_loop())
    child, parent = open_pipes(b"")
    os.set_blocking(child[3], False)
    os.write(child[3], b"r" * (RECORD_CAP + 10))
    execution.exited.set_result(0)
    await watch(execution, parent)
    with pytest.raises(BrokenPipeError):  # the reader is gone: a writer gets EPIPE, not a reader
        os.write(child[3], b"more")
    close_all(child)


def test_the_common_ok_record_reads_the_same_as_through_json() -> None:
    fast = parse_record(b'{"status": "ok"}')
    assert fast == parse_record(b'{ "status" : "ok" }') == {"status": "ok", "exception": None}
    assert parse_record(bytearray(b'{"status": "ok"}')) == fast
