"""The isolated worker pool that runs a checker case by case without trusting it.

Contract:
- :class:`IsolatedPool` runs each check in one forked worker process with a per-case time bound;
  a check that raises, returns a non-boolean or runs past the bound comes back as a
  :class:`retool.answer.validate.report.CheckResult` with ``predicted`` None and the reason in ``error``;
  after an overrun or a worker death the worker is replaced and the next check starts a fresh one.
  :meth:`IsolatedPool.close` stops the worker.
- :func:`run_check` is the same check inline (no time bound): ``int``/``float`` results equal to 0
  or 1 (numpy scalars and 0-d tensors included) are read as booleans, anything else is a checker
  error; any exception but ``KeyboardInterrupt`` is recorded, ``SystemExit`` included.
- The forked worker does not share the parent's answer-checker pool (``retool.answer.worker``):
  its inherited handle is dropped and a fresh pool starts lazily in the child.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
import time
from collections.abc import Sequence

from retool.answer.validate.checkers import Checker
from retool.answer.validate.report import Case, CheckResult


def _as_bool(value: object) -> bool:
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()  # a numpy scalar or a 0-d tensor
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise TypeError(f"checker returned {type(value).__name__} {value!r:.60}, not a bool")


def run_check(checker: Checker, case: Case) -> CheckResult:
    start = time.perf_counter()
    try:
        predicted: bool | None = _as_bool(checker(case.response, case.gold))
        error = None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - a user checker may raise anything, SystemExit included
        predicted, error = None, f"raised {type(exc).__name__}: {str(exc)[:200]}"
    return CheckResult(case_id=case.id, predicted=predicted, error=error, elapsed_s=time.perf_counter() - start)


def _forget_inherited_pools() -> None:
    """The forked child must not share the parent's answer-checker workers (their pipes)."""
    answer_worker = sys.modules.get("retool.answer.worker")
    if answer_worker is not None and hasattr(answer_worker, "_default"):
        answer_worker._default = None  # a fresh pool starts lazily in this child
        answer_worker._default_lock = threading.Lock()  # a parent thread may have held it at fork


def _worker(conn, checker: Checker, cases: Sequence[Case]) -> None:  # runs in the forked child
    _forget_inherited_pools()
    while True:
        try:
            index = conn.recv()
        except EOFError:
            return
        if index is None:
            return
        result = run_check(checker, cases[index])
        conn.send((result.predicted, result.error, result.elapsed_s))


class IsolatedPool:
    """One forked worker; replaced whenever a check overruns its bound or the worker dies."""

    def __init__(self, checker: Checker, cases: Sequence[Case]) -> None:
        self._ctx = multiprocessing.get_context("fork")
        self._checker, self._cases = checker, cases
        self._proc = None
        self._conn = None

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(target=_worker, args=(child, self._checker, self._cases), daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join(timeout=5)
            self._conn.close()
        self._proc = self._conn = None

    def check(self, index: int, timeout_s: float) -> CheckResult:
        case = self._cases[index]
        if self._proc is None:
            self._start()
        start = time.perf_counter()
        try:
            self._conn.send(index)
            if self._conn.poll(timeout_s):
                predicted, error, elapsed_s = self._conn.recv()
                return CheckResult(case_id=case.id, predicted=predicted, error=error, elapsed_s=elapsed_s)
        except (EOFError, OSError, BrokenPipeError):
            self._proc.join(timeout=1)
            code = self._proc.exitcode
            self._kill()
            return CheckResult(case_id=case.id, predicted=None, error=f"worker died (exit code {code})",
                               elapsed_s=time.perf_counter() - start)
        self._kill()
        return CheckResult(case_id=case.id, predicted=None, error=f"timed out after {timeout_s:g} s",
                           elapsed_s=time.perf_counter() - start)

    def close(self) -> None:
        if self._proc is not None:
            try:
                self._conn.send(None)
            except (OSError, BrokenPipeError):
                pass
            self._proc.join(timeout=2)
            self._kill()
