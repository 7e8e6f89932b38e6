"""The answer worker pool: hard deadline, kill and replace, thread safety, close."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from retool.answer import AnswerConfig, Verdict, compare
from retool.answer.worker import AnswerChecker, default_checker

SLOW = ("(x+y+z)^{30}(x-y)^{30}", "(x^2+xy+xz-yx-y^2-yz)^{30}")  # equal; ~4 s of simplify on this host


@pytest.fixture(scope="module")
def checker():
    with AnswerChecker(workers=2) as c:
        yield c


def test_symbolic_verdict_comes_from_the_worker(checker: AnswerChecker) -> None:
    assert checker.compare("2\\sqrt{2}", "\\sqrt{8}") == Verdict(True, "equal", "symbolic")


def test_overrun_is_killed_at_the_deadline_and_the_worker_replaced(checker: AnswerChecker) -> None:
    config = AnswerConfig(timeout_s=0.3)
    checker.compare("\\sqrt{2}", "\\sqrt{2}+0")  # warm a worker so start-up is outside the deadline
    before = checker.timeouts
    start = time.perf_counter()
    verdict = checker.compare(*SLOW, config)
    elapsed = time.perf_counter() - start
    assert verdict.method == "timeout" and not verdict.equal
    assert elapsed < 0.3 + 5.0  # the deadline plus killing the worker, on a loaded host
    assert checker.timeouts == before + 1
    assert checker.compare("\\sqrt{9}", "3").equal  # a fresh worker serves the next call


def test_dead_worker_gives_error_verdict_and_is_replaced(checker: AnswerChecker) -> None:
    checker.compare("\\sqrt{2}", "\\sqrt{2}+0")
    for pid in checker.worker_pids():
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.1)
    first = checker.compare("\\sqrt{4}", "2")
    assert first.method == "error" or first.equal
    assert checker.compare("\\sqrt{4}", "2").equal


def test_concurrent_calls_from_threads_get_their_own_verdicts(checker: AnswerChecker) -> None:
    pairs = [(f"\\sqrt{{{n * n}}} + \\pi", f"{n} + \\pi", True) for n in range(2, 8)]
    pairs += [(f"\\sqrt{{{n * n + 1}}}", f"{n}", False) for n in range(2, 8)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        verdicts = list(pool.map(lambda p: checker.compare(p[0], p[1]), pairs))
    assert [v.equal for v in verdicts] == [p[2] for p in pairs]
    assert all(v.method == "symbolic" for v in verdicts)


def test_closed_checker_refuses_work() -> None:
    c = AnswerChecker()
    c.close()
    with pytest.raises(RuntimeError, match="closed"):
        c.compare("\\sqrt{2}", "\\sqrt{2}")
    assert compare("\\sin(x) + 1", "1 + \\sin(x)", checker=c).method == "error"


def test_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="workers must be >= 1, got 0"):
        AnswerChecker(workers=0)


def test_default_checker_is_shared() -> None:
    assert default_checker() is default_checker()


def test_forked_child_starts_its_own_workers_and_leaves_the_parents_alone(checker: AnswerChecker) -> None:
    checker.compare("x + 1", "1 + x")
    parent_pids = checker.worker_pids()
    assert parent_pids
    pid = os.fork()
    if pid == 0:  # the child: the parent's workers are forgotten, and closing must not kill them
        ok = checker.worker_pids() == () and checker.compare("x + 2", "2 + x").equal
        checker.close()
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert checker.worker_pids() == parent_pids
    assert checker.compare("x + 3", "3 + x").equal
