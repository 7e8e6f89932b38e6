"""Pipes, the read-side watch and the verdict of one sandboxed execution (supervisor side).

Contract: ``open_pipes(code)`` returns the four child-side fds (code read end with the code
already written, stdout/stderr/record write ends) and the three parent read ends;
``watch_streams`` reads them without blocking the loop, enforces ``max_output_bytes`` (calls
``kill`` once the cap is passed) and the wall-clock timeout (calls ``kill`` at the deadline) and
returns whether the deadline hit; ``judge`` turns what the supervisor saw into an
``ExecutionResult``. ``judge`` is pure: the same observations give the same verdict.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import re
import signal
import time
from collections.abc import Callable
from typing import Any

from retool.sandbox.config import ExecutionResult, SandboxConfig, signal_name

_F_SETPIPE_SZ = 1031
RECORD_CAP = 4096  # bytes of fd 3 the supervisor reads at most; past it fd 3 is closed
_CLAIMABLE = frozenset({"ok", "error", "memory", "forbidden"})
_OK_RECORD = b'{"status": "ok"}'
SETUP_FAILED_EXIT = 71
_STDOUT, _STDERR, _RECORD = 0, 1, 2


def open_pipes(code: bytes) -> tuple[list[int], list[int]]:
    """Child fds [code_r, out_w, err_w, rec_w] and parent fds [out_r, err_r, rec_r]."""
    code_r, code_w = os.pipe2(os.O_CLOEXEC)
    try:
        if len(code) > 65536:
            fcntl.fcntl(code_w, _F_SETPIPE_SZ, 1 << 20)
        view = memoryview(code)
        while view:
            view = view[os.write(code_w, view):]
    finally:
        os.close(code_w)
    child, parent = [code_r], []
    for _ in range(3):
        r, w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        os.set_blocking(w, True)
        child.append(w)
        parent.append(r)
    return child, parent


async def watch_streams(loop: asyncio.AbstractEventLoop, execution: Any, read_fds: list[int],
                        config: SandboxConfig, kill: Callable[[], None], start: float, *,
                        abort: asyncio.Future[None] | None = None,
                        kill_hard: Callable[[], None] | None = None) -> bool:
    """Collect output until the child exited and every pipe hit EOF; True when it timed out.

    ``abort`` done (the call was cancelled) or the deadline: ``kill`` the child's group, wait up
    to ``kill_grace_s`` for its exit, then ``kill_hard`` (its zygote) and wait again. Every pipe
    is closed on return, whatever happened."""
    cap = config.max_output_bytes
    open_fds = set(read_fds)
    all_eof = loop.create_future()

    def close(fd: int) -> None:
        if fd in open_fds:
            open_fds.discard(fd)
            loop.remove_reader(fd)
            os.close(fd)
            if not open_fds and not all_eof.done():
                all_eof.set_result(None)

    def on_readable(index: int, fd: int) -> None:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            close(fd)
            return
        buf = execution.streams.setdefault(index, bytearray())
        if index == _RECORD:
            buf += chunk[: RECORD_CAP + 1 - len(buf)]
            if len(buf) > RECORD_CAP:  # not a record any more: stop reading (the child gets EPIPE)
                close(fd)
            return
        execution.output_bytes += len(chunk)
        room = cap + 1 - (execution.output_bytes - len(chunk))
        buf += chunk[: max(0, room)]
        if execution.output_bytes > cap and not execution.over_cap:
            execution.over_cap = True
            kill()
            for other in list(open_fds):  # stop reading: the child is being killed
                if other != read_fds[_RECORD]:
                    close(other)

    for index, fd in enumerate(read_fds):
        loop.add_reader(fd, on_readable, index, fd)
    timed_out = False
    deadline = start + config.timeout_s
    stop = abort if abort is not None else loop.create_future()
    try:
        await asyncio.wait((execution.exited, stop), timeout=max(0.0, deadline - time.monotonic()),
                           return_when=asyncio.FIRST_COMPLETED)
        if not execution.exited.done():
            timed_out = not stop.done()
            kill()  # the deadline passed or the call was cancelled: the child's group goes first
            await asyncio.wait((execution.exited,), timeout=config.kill_grace_s)
            if not execution.exited.done() and kill_hard is not None:
                kill_hard()  # the zygote did not answer: it goes, and its children with it
                await asyncio.wait((execution.exited,), timeout=config.kill_grace_s)
        # The child is gone; its pipes reach EOF at once unless a descendant holds them.
        if not stop.done() and not all_eof.done():
            await asyncio.wait((all_eof,), timeout=0.5 if not timed_out else 0.05)
    finally:
        for fd in list(open_fds):
            close(fd)
        if not execution.exited.done():
            execution.exited.cancel()
    return timed_out


_EXCEPTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,199}")


def parse_record(raw: bytes) -> dict[str, str | None] | None:
    """The child's completion record as ``{"status", "exception"}``, or None when it is not one.

    Total and bounded: at most ``RECORD_CAP`` bytes are looked at (the reader stops taking
    more), the record must be one flat JSON object (no nesting, so no recursion), ``status`` one
    of the claimable statuses and ``exception`` absent or an exception class name. Pure.
    """
    if raw == _OK_RECORD:  # the common record, as the child writes it: no parse needed
        return {"status": "ok", "exception": None}
    if not isinstance(raw, (bytes, bytearray)) or len(raw) > RECORD_CAP or raw.count(b"{") != 1 or b"[" in raw:
        return None
    try:
        record = json.loads(bytes(raw).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or set(record) - {"status", "exception"}:
        return None
    status, exception = record.get("status"), record.get("exception")
    if not isinstance(status, str) or status not in _CLAIMABLE:
        return None
    if exception is not None and not (isinstance(exception, str) and _EXCEPTION_NAME.fullmatch(exception)):
        return None
    return {"status": status, "exception": exception}


def judge(execution: Any, timed_out: bool, config: SandboxConfig, duration_s: float) -> ExecutionResult:
    """The verdict from the supervisor's observations (timer, output count, wait status, record)."""
    out = bytes(execution.streams.get(_STDOUT, b""))
    err = bytes(execution.streams.get(_STDERR, b""))
    cap = config.max_output_bytes
    out = out[:cap]
    err = err[: max(0, cap - len(out))]
    stdout = out.decode("utf-8", "replace")
    stderr = err.decode("utf-8", "replace")
    status_raw = execution.exited.result() if execution.exited.done() and not execution.exited.cancelled() else None
    common = {"stdout": stdout, "stderr": stderr, "duration_s": duration_s}
    try:
        exit_code = os.waitstatus_to_exitcode(status_raw) if status_raw is not None else None
    except (ValueError, TypeError, OverflowError):  # not an exit or a termination: never raise on it
        exit_code, status_raw = None, None
    code = exit_code if exit_code is not None and exit_code >= 0 else None
    sig = -exit_code if exit_code is not None and exit_code < 0 else None
    common.update(exit_code=code, term_signal=sig)
    if execution.over_cap:
        return ExecutionResult(status="output_limit", detail=f"output passed {cap} bytes", **common)
    if timed_out:
        return ExecutionResult(status="timeout", detail=f"wall-clock limit {config.timeout_s:g} s", **common)
    if status_raw is None:
        return ExecutionResult(status="crashed", detail="the zygote serving this call died", **common)
    if sig is not None:
        if sig == signal.SIGXCPU or sig == signal.SIGKILL and duration_s >= config.timeout_s:
            return ExecutionResult(status="timeout", detail=f"CPU time limit (signal {sig})", **common)
        return ExecutionResult(status="crashed", detail=f"killed by {signal_name(sig)}", **common)
    record = parse_record(bytes(execution.streams.get(_RECORD, b"")))
    if code == 0 and record is not None:
        return ExecutionResult(status=record["status"], exception=record.get("exception"),
                               detail="completed" if record["status"] == "ok" else record["exception"] or f"reported {record['status']}",
                               **common)
    if code == SETUP_FAILED_EXIT and record is None:
        return ExecutionResult(status="crashed", detail="sandbox setup failed in the child", **common)
    return ExecutionResult(status="error", detail=f"the process exited with status {code} before the code finished",
                           **common)
