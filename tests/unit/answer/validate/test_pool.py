"""retool.answer.validate.pool: ``IsolatedPool`` (one forked worker, a per-case time bound, replaced
after an overrun or a death, so a hanging or crashing checker costs one case) and ``run_check``
(the inline check: 0/1 numbers and 0-d array scalars read as booleans, anything else and any
exception but ``KeyboardInterrupt`` recorded as the checker's error).

Real worker processes throughout; the checkers misbehave for real (sleep, ``os._exit``, SIGKILL).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Iterator

import pytest

from retool.answer.validate import evaluate
from retool.answer.validate import corpus as validate
from retool.answer.validate.pool import IsolatedPool, run_check
from retool.answer.validate.report import Case
from tests.unit.answer.validate.tiny_corpus import TINY, dies_on_no, hangs_on_no, returns_string

pytestmark = pytest.mark.timeout(60)


def _cases(*responses: str) -> tuple[Case, ...]:
    return tuple(Case(id=f"c{i}", category="k", response=r, gold="g", expected=True) for i, r in enumerate(responses))


def misbehaves_on_request(response: str, gold: str) -> object:
    """Does what the response asks: hang, exit, be killed, interrupt, or answer ``ok``."""
    if response == "hang":
        time.sleep(60)
    elif response == "exit":
        os._exit(3)
    elif response == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif response == "interrupt":
        raise KeyboardInterrupt
    elif response == "sys.exit":
        sys.exit(0)
    return response == "ok"


@pytest.fixture
def pool_for() -> Iterator:
    pools: list[IsolatedPool] = []

    def make(cases: tuple[Case, ...]) -> IsolatedPool:
        pools.append(IsolatedPool(misbehaves_on_request, cases))
        return pools[-1]

    yield make
    for pool in pools:
        pool.close()


# ---- evaluate through the pool (moved from test_corpus.py) --------------------------------------


def test_a_hanging_checker_times_out_per_case_and_the_run_goes_on() -> None:
    start = time.monotonic()
    report = evaluate(TINY, hangs_on_no, timeout_s=0.5)
    assert time.monotonic() - start < 20
    timed_out = {d.case_id for d in report.disagreements if d.reason.startswith("timed out after 0.5 s")}
    assert timed_out == {"tn1", "tn2", "fn1", "fn2"}
    assert report.true_positives == 3  # the cases after each hang were still checked


def test_a_checker_that_kills_its_process_is_a_disagreement() -> None:
    report = evaluate(TINY, dies_on_no, timeout_s=5)
    died = {d.case_id for d in report.disagreements if d.reason == "worker died (exit code 3)"}
    assert died == {"tn1", "tn2", "fn1", "fn2"}
    assert report.true_positives == 3


def test_a_non_boolean_result_is_a_checker_error() -> None:
    report = evaluate(TINY[:1], returns_string)
    assert report.errors == 1 and "checker returned str 'yes', not a bool" in report.disagreements[0].reason


def test_numpy_booleans_count_as_booleans() -> None:
    import numpy as np

    report = evaluate(TINY, lambda response, gold: np.bool_(response.endswith("YES")), isolate=False)
    assert report.errors == 0 and report.true_positives == 3


def _child_has_no_inherited_pool(response: str, gold: str) -> bool:
    from retool.answer import worker as answer_worker

    return answer_worker._default is None  # runs in the forked worker before any symbolic check


def test_isolated_run_does_not_share_the_parents_symbolic_pool() -> None:
    from retool.answer import worker as answer_worker

    parent_pool = answer_worker.default_checker()
    report = evaluate(TINY[:2], _child_has_no_inherited_pool)
    assert report.true_positives == 2, validate.format_report(report)
    assert answer_worker.default_checker() is parent_pool  # the parent's pool is untouched


# ---- IsolatedPool directly ----------------------------------------------------------------------


def test_pool_returns_the_checkers_verdict_for_the_indexed_case(pool_for) -> None:
    pool = pool_for(_cases("no", "ok"))
    first, second = pool.check(0, 5), pool.check(1, 5)
    assert (first.case_id, first.predicted, first.error) == ("c0", False, None)
    assert (second.case_id, second.predicted, second.error) == ("c1", True, None)


def test_a_check_past_its_bound_is_a_timeout_error_returned_near_the_bound(pool_for) -> None:
    pool = pool_for(_cases("hang"))
    start = time.monotonic()
    result = pool.check(0, 0.3)
    assert time.monotonic() - start < 5
    assert (result.predicted, result.error) == (None, "timed out after 0.3 s")


def test_the_check_after_a_timeout_runs_in_a_fresh_worker(pool_for) -> None:
    pool = pool_for(_cases("hang", "ok"))
    pool.check(0, 0.3)
    result = pool.check(1, 5)
    assert (result.predicted, result.error) == (True, None)


def test_a_worker_that_exits_costs_only_its_case_with_the_exit_code(pool_for) -> None:
    pool = pool_for(_cases("exit", "ok"))
    died, after = pool.check(0, 5), pool.check(1, 5)
    assert (died.predicted, died.error) == (None, "worker died (exit code 3)")
    assert (after.predicted, after.error) == (True, None)


def test_a_worker_killed_by_a_signal_reports_the_signal_as_exit_code(pool_for) -> None:
    pool = pool_for(_cases("sigkill", "ok"))
    died, after = pool.check(0, 5), pool.check(1, 5)
    assert died.error == f"worker died (exit code {-signal.SIGKILL})"
    assert after.predicted is True


def test_a_keyboard_interrupt_inside_the_worker_costs_only_its_case(pool_for) -> None:
    pool = pool_for(_cases("interrupt", "ok"))
    interrupted, after = pool.check(0, 5), pool.check(1, 5)
    assert interrupted.predicted is None and interrupted.error.startswith("worker died")
    assert after.predicted is True


def test_close_stops_the_worker_process(pool_for) -> None:
    before = {p.pid for p in multiprocessing.active_children()}
    pool = pool_for(_cases("ok"))
    pool.check(0, 5)
    assert len({p.pid for p in multiprocessing.active_children()} - before) == 1
    pool.close()
    assert {p.pid for p in multiprocessing.active_children()} - before == set()


def test_close_of_a_pool_that_never_ran_a_check_is_a_no_op() -> None:
    before = {p.pid for p in multiprocessing.active_children()}
    IsolatedPool(misbehaves_on_request, _cases("ok")).close()
    assert {p.pid for p in multiprocessing.active_children()} == before


# ---- run_check: inline, the bool reading and the error record -----------------------------------


def _inline(value: object) -> tuple[bool | None, str | None]:
    result = run_check(lambda response, gold: value, _cases("x")[0])
    return result.predicted, result.error


@pytest.mark.parametrize(("value", "expected"), [(True, True), (False, False), (1, True), (0, False), (1.0, True), (0.0, False)])
def test_zero_and_one_numbers_are_read_as_booleans(value: object, expected: bool) -> None:
    assert _inline(value) == (expected, None)


def test_zero_dimensional_numpy_and_torch_scalars_are_read_as_booleans() -> None:
    import numpy as np
    import torch

    assert _inline(np.int64(1)) == (True, None)
    assert _inline(np.float32(0.0)) == (False, None)
    assert _inline(torch.tensor(True)) == (True, None)


@pytest.mark.parametrize("value", [2, -1, 0.5, float("nan"), None, "True", [True], b"1"])
def test_other_results_are_checker_errors_naming_the_type(value: object) -> None:
    predicted, error = _inline(value)
    assert predicted is None and error is not None and f"checker returned {type(value).__name__}" in error


def test_a_one_element_array_is_not_a_scalar_and_is_an_error() -> None:
    import numpy as np

    predicted, error = _inline(np.array([True]))
    assert predicted is None and "ndarray" in error


def test_a_raised_exception_is_recorded_with_its_type_and_message() -> None:
    def raiser(response: str, gold: str) -> bool:
        raise ZeroDivisionError("nope")

    result = run_check(raiser, _cases("x")[0])
    assert (result.predicted, result.error) == (None, "raised ZeroDivisionError: nope")


def test_system_exit_from_a_checker_is_recorded_not_propagated() -> None:
    result = run_check(misbehaves_on_request, _cases("sys.exit")[0])
    assert result.predicted is None and result.error.startswith("raised SystemExit")


def test_keyboard_interrupt_propagates_from_an_inline_check() -> None:
    with pytest.raises(KeyboardInterrupt):
        run_check(misbehaves_on_request, _cases("interrupt")[0])


def test_a_huge_exception_message_is_truncated_in_the_error() -> None:
    def raiser(response: str, gold: str) -> bool:
        raise ValueError("x" * 1_000_000)

    result = run_check(raiser, _cases("x")[0])
    assert result.error is not None and len(result.error) < 300


def test_run_check_times_the_check() -> None:
    result = run_check(lambda response, gold: time.sleep(0.05) or True, _cases("x")[0])
    assert result.predicted is True and result.elapsed_s >= 0.05
