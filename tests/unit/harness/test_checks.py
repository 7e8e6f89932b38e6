"""The check registry behind ``retool verify`` (retool.harness.checks): every check once, in order,
and none passes vacuously: each run on zero cases fails, saying what was missing.

Each check's own behaviour and its broken twins are tested in tests/unit/harness/checks/.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from retool.harness.checks import (
    CHECKS,
    check_answers,
    check_conversion,
    check_grammar,
    check_masks,
    check_pipeline,
    check_sandbox_battery,
    check_throughput,
)
from retool.harness.verify import CheckResult, VerifyConfig
from tests.capabilities import requires_isolation
from tests.unit.harness.twins import tied_reward


def test_the_registry_lists_every_check_once_in_order() -> None:
    assert [spec.name for spec in CHECKS] == ["grammar", "masks", "sandbox-battery", "answers", "pipeline",
                                              "conversion", "sandbox-throughput"]


def test_the_registry_runs_the_exported_functions() -> None:
    assert [spec.run for spec in CHECKS] == [check_grammar, check_masks, check_sandbox_battery, check_answers,
                                             check_pipeline, check_conversion, check_throughput]


# Each check on zero cases; the pipeline's "zero" is a group without a direction (every reward tied).
ZERO_CASES: dict[str, tuple[Callable[[], CheckResult], str]] = {
    "grammar": (lambda: check_grammar(VerifyConfig(), codes=()), "no hazardous tool calls"),
    "masks": (lambda: check_masks(VerifyConfig(), rows=()), "no conversations to check"),
    "sandbox-battery": (lambda: check_sandbox_battery(VerifyConfig(), techniques=()), "no techniques to run"),
    "answers": (lambda: check_answers(VerifyConfig(), cases=()), "no labelled cases"),
    "pipeline": (lambda: check_pipeline(VerifyConfig(), reward_fn=tied_reward), "GRPO direction unchecked"),
    "conversion": (lambda: check_conversion(VerifyConfig(), tokens=()), "no tokens to compare"),
    "sandbox-throughput": (lambda: check_throughput(VerifyConfig(bench_executions=0)), "no executions to measure"),
}


def test_every_registered_check_has_a_zero_case() -> None:
    assert list(ZERO_CASES) == [spec.name for spec in CHECKS]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", [pytest.param(n, marks=requires_isolation) if n == "pipeline" else n for n in ZERO_CASES])
def test_each_check_on_zero_cases_fails_saying_what_is_missing(name: str) -> None:
    run, message = ZERO_CASES[name]
    result = run()
    assert (result.name, result.ok) == (name, False)
    assert message in result.detail
