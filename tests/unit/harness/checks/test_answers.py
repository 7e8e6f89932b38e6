"""The answers check (retool.harness.checks.answers): passes with our checker, fails on its broken
twin (an always-true checker), on a corpus with one kind of label only, and when its self-test
cannot bite (thresholds an always-false checker meets)."""

from __future__ import annotations

from retool.answer.validate import load_corpus
from retool.harness.checks.answers import check_answers
from retool.harness.verify import VerifyConfig


def test_answers_check_passes_with_our_checker() -> None:
    result = check_answers(VerifyConfig())
    assert result.ok, result.detail
    assert result.data["precision"] >= 0.99 and result.data["recall"] >= 0.97


def test_twin_an_always_true_checker_fails_the_answers_check() -> None:
    result = check_answers(VerifyConfig(checker="tests.unit.harness.twins:always_true"))
    assert not result.ok and result.data["precision"] < 0.99
    assert "disagreements" in result.detail


def test_a_corpus_labelled_correct_only_fails_as_vacuous() -> None:
    positives = [c for c in load_corpus() if c.expected]
    result = check_answers(VerifyConfig(checker="tests.unit.harness.twins:always_true"), cases=positives)
    assert not result.ok and "no case labelled wrong" in result.detail


def test_a_corpus_labelled_wrong_only_fails_as_vacuous() -> None:
    negatives = [c for c in load_corpus() if not c.expected][:20]
    result = check_answers(VerifyConfig(), cases=negatives)
    assert not result.ok and "no case labelled correct" in result.detail


def test_thresholds_an_always_false_checker_meets_fail_the_self_test() -> None:
    result = check_answers(VerifyConfig(min_recall=0.0))
    assert not result.ok and "self-test failed: an always-false checker passes this corpus (recall 0.000)" in result.detail
