"""The answers check: an answer checker against the labelled corpus, with its self-tests.

Contract: :func:`check_answers` evaluates ``config.checker`` (default: ours) on ``cases`` (default:
the shipped labelled corpus, :func:`retool.answer.validate.load_corpus`) and passes when precision
>= ``config.min_precision`` and recall >= ``config.min_recall``. Self-test on the same cases: an
always-true checker must fail the precision threshold and an always-false one the recall
threshold, else the corpus cannot tell a broken checker from a good one. A corpus without cases
labelled correct and cases labelled wrong (zero cases included) is a failure: either ratio would
be vacuous.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from retool.harness.verify import CheckResult, VerifyConfig

__all__ = ["check_answers"]


def _always_true(response: str, gold: str) -> bool:
    return True


def _always_false(response: str, gold: str) -> bool:
    return False


def check_answers(config: VerifyConfig, *, cases: Sequence[Any] | None = None) -> CheckResult:
    """See the module contract; ``cases`` are ``retool.answer.validate.Case`` rows (default: the shipped corpus)."""
    from retool.answer.validate import evaluate, load_checker, load_corpus

    cases = load_corpus() if cases is None else tuple(cases)
    right = sum(1 for c in cases if c.expected)
    wrong = len(cases) - right
    if not right or not wrong:
        missing = "no labelled cases" if not cases else f"no case labelled {'correct' if not right else 'wrong'}"
        return CheckResult(
            name="answers", ok=False, figure=f"{len(cases)} cases ({right} correct, {wrong} wrong)",
            detail=f"{missing}: precision and recall need both kinds, or a broken checker passes",
            advice="use the shipped corpus (retool.answer.validate.load_corpus) or label both kinds",
        )
    name = config.checker or "retool"
    report = evaluate(cases, load_checker(name), name=name)
    ok = report.precision >= config.min_precision and report.recall >= config.min_recall
    always_true = evaluate(cases, _always_true, name="always-true", isolate=False)
    always_false = evaluate(cases, _always_false, name="always-false", isolate=False)
    self_test = [f"an always-{kind} checker passes this corpus ({what} {value:.3f})"
                 for kind, what, value, floor in (("true", "precision", always_true.precision, config.min_precision),
                                                  ("false", "recall", always_false.recall, config.min_recall))
                 if value >= floor]
    worst = ", ".join(d.case_id for d in report.disagreements[:5])
    detail = [] if ok else [f"{len(report.disagreements)} disagreements, e.g. {worst}"]
    detail += [f"self-test failed: {s}" for s in self_test]
    return CheckResult(
        name="answers",
        ok=ok and not self_test,
        figure=f"precision {report.precision:.3f}, recall {report.recall:.3f} on {report.cases} cases",
        detail="; ".join(detail),
        advice="" if ok else "run `retool answers validate --checker ...` to see every disagreement",
        data={"precision": report.precision, "recall": report.recall, "disagreements": len(report.disagreements)},
    )
