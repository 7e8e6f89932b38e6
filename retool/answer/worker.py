"""A pool of answer-checking worker processes with a hard, thread-safe per-call deadline.

Contract: :class:`AnswerChecker` runs :func:`retool.answer.compare_local` (``symbolic=True``) in
separate ``python -c`` child processes speaking length-prefixed JSON over pipes (no fork of the
caller, no re-import of ``__main__``: safe in threaded and asyncio programs).
Each call borrows one idle worker, sends the pair and waits at most ``config.timeout_s`` for the
verdict. On overrun (a sympy simplification that never ends, a pathological input the guards
missed) the worker is killed (SIGKILL) and a fresh one is started on the next borrow, and the call
returns ``Verdict(False, ..., "timeout")``; a worker that dies (crash, memory limit) gives
``method="error"`` and is replaced the same way. No signals are used, so calls may come from any
thread; ``workers`` bounds concurrency (extra callers wait for a free worker).

Workers import sympy once and are reused (start-up ~1-2 s, paid once per worker, outside the
per-call deadline). Each worker's address space is capped at ``memory_limit_bytes`` so a
runaway expression cannot exhaust the host. :meth:`AnswerChecker.close` kills all workers; a
checker is also a context manager. :func:`default_checker` is a lazily created, module-wide
checker (one worker) shared by :func:`retool.answer.check_answer`; it is created under a lock and
closed by ``atexit``. After ``os.fork()`` every checker in the child forgets the parent's workers
and locks (registered with ``os.register_at_fork``; the parent's workers are never killed by the
child) and starts its own on demand. Concurrency beyond the pool size waits for a free worker: the
deadline bounds each check's run time, not the queueing before it.
"""

from __future__ import annotations

import importlib.util

import atexit
import json
import os
import select
import struct
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import asdict
from pathlib import Path
from typing import Any

from retool.answer.config import AnswerConfig, Verdict

_START_TIMEOUT_S = 60.0
_HEADER = struct.Struct(">I")


def _write_frame(fd: int, obj: Any) -> None:
    data = json.dumps(obj).encode()
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes | None:
    """``size`` bytes from ``fd``; None on timeout; EOFError when the other side is gone."""
    chunks, got = [], 0
    while got < size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
        chunk = os.read(fd, size - got)
        if not chunk:
            raise EOFError("answer worker closed its pipe")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _read_frame(fd: int, deadline: float | None) -> Any:
    header = _read_exact(fd, _HEADER.size, deadline)
    if header is None:
        raise TimeoutError
    body = _read_exact(fd, _HEADER.unpack(header)[0], deadline)
    if body is None:
        raise TimeoutError
    return json.loads(body)


def _serve(memory_limit_bytes: int) -> None:  # pragma: no cover - runs in the child
    import resource

    if memory_limit_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))
    # the protocol keeps a private copy of the pipe; anything a library prints goes to /dev/null
    inp, out = os.dup(sys.stdin.fileno()), os.dup(sys.stdout.fileno())
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    from retool.answer.config import AnswerConfig
    from retool.answer.local import compare_local
    from retool.answer.symbolic import warm_up

    warm_up()
    _write_frame(out, "ready")
    while True:
        try:
            request = _read_frame(inp, None)
        except EOFError:
            return
        if request is None:
            return
        pred, gold, config_fields = request
        try:
            verdict = compare_local(pred, gold, AnswerConfig(**config_fields), symbolic=True)
            reply: Any = [verdict.equal, verdict.reason, verdict.method]
        except BaseException as exc:  # noqa: BLE001 - report every failure as a verdict
            reply = [False, f"error: {type(exc).__name__}: {exc}"[:500], "error"]
        _write_frame(out, reply)


class _Worker:
    def __init__(self, memory_limit_bytes: int) -> None:
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.process = subprocess.Popen(
            [sys.executable, "-c", f"from retool.answer.worker import _serve; _serve({int(memory_limit_bytes)})"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, close_fds=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin, self.stdout = self.process.stdin.fileno(), self.process.stdout.fileno()
        try:
            ready = _read_frame(self.stdout, time.monotonic() + _START_TIMEOUT_S)
        except (TimeoutError, EOFError):
            ready = None
        if ready != "ready":
            self.kill()
            raise RuntimeError(f"answer worker did not start within {_START_TIMEOUT_S} s")

    def call(self, request: Any, timeout_s: float) -> Any:
        _write_frame(self.stdin, request)
        return _read_frame(self.stdout, time.monotonic() + timeout_s)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


class AnswerChecker:
    """Owns the worker processes; thread-safe; use ``with AnswerChecker() as c:`` or call close()."""

    def __init__(self, *, workers: int = 1, memory_limit_bytes: int = 2 << 30) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if importlib.util.find_spec("latex2sympy2_extended") is None:  # else every symbolic check says "not equal"
            raise ImportError("the symbolic answer path needs latex2sympy2_extended (pip install latex2sympy2_extended)")
        self._memory_limit_bytes = memory_limit_bytes
        self._workers = workers
        self._slots = threading.BoundedSemaphore(workers)
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._closed = False
        self._pid = os.getpid()
        self.timeouts = 0
        self.restarts = 0
        _LIVE.add(self)

    def _after_fork_in_child(self) -> None:
        """The parent's workers and locks are not ours: forget them (never kill them)."""
        self._slots = threading.BoundedSemaphore(self._workers)
        self._lock = threading.Lock()
        self._idle = []
        self._pid = os.getpid()

    def _borrow(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise RuntimeError("AnswerChecker is closed")
            if self._idle:
                return self._idle.pop()
        return _Worker(self._memory_limit_bytes)

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            if self._closed:
                worker.kill()
            else:
                self._idle.append(worker)

    def compare(self, pred: str, gold: str, config: AnswerConfig = AnswerConfig()) -> Verdict:
        """The symbolic verdict, bounded by ``config.timeout_s`` of wall-clock time."""
        with self._slots:
            worker = self._borrow()
            try:
                equal, reason, method = worker.call([pred, gold, asdict(config)], config.timeout_s)
            except TimeoutError:
                worker.kill()
                with self._lock:
                    self.timeouts += 1
                    self.restarts += 1
                return Verdict(False, f"symbolic check exceeded {config.timeout_s} s; worker killed", "timeout")
            except (EOFError, OSError, ValueError) as exc:
                worker.kill()
                with self._lock:
                    self.restarts += 1
                return Verdict(False, f"answer worker died: {type(exc).__name__}", "error")
            self._give_back(worker)
            return Verdict(bool(equal), str(reason), str(method))

    def worker_pids(self) -> tuple[int, ...]:
        """Process ids of the idle workers (for monitoring and tests)."""
        with self._lock:
            return tuple(w.process.pid for w in self._idle)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        if os.getpid() == self._pid:
            for worker in idle:
                worker.kill()

    def __enter__(self) -> AnswerChecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_LIVE: weakref.WeakSet[AnswerChecker] = weakref.WeakSet()
_default: AnswerChecker | None = None
_default_lock = threading.Lock()


def _reset_after_fork() -> None:
    global _default_lock
    _default_lock = threading.Lock()
    for checker in list(_LIVE):
        checker._after_fork_in_child()


os.register_at_fork(after_in_child=_reset_after_fork)


def default_checker() -> AnswerChecker:
    """The shared module-wide checker (created on first use, closed at exit).

    It has ``RETOOL_ANSWER_WORKERS`` workers (default 2), each started only when concurrent
    symbolic checks need it.
    """
    global _default
    with _default_lock:
        if _default is None or _default._closed:
            _default = AnswerChecker(workers=max(1, int(os.environ.get("RETOOL_ANSWER_WORKERS", "2") or 2)))
            atexit.register(_default.close)
        return _default
