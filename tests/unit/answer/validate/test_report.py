"""retool.answer.validate.report: the confusion matrix and metric definitions of ``summarise``,
per-category rows, disagreements, ``format_report``, ``compare`` and ``ValidationReport.to_dict``.

The first tests run a real checker through ``evaluate`` on the tiny corpus (see ``tiny_corpus``);
the rest build ``CheckResult`` rows by hand, since ``summarise`` is pure.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from retool.answer.validate import corpus as validate
from retool.answer.validate import evaluate
from retool.answer.validate.report import (Case, CheckResult, ValidationReport, compare, format_report,
                                           summarise)
from tests.unit.answer.validate.tiny_corpus import TINY, raises_on_hacks, says_yes


def _result(case_id: str, predicted: bool | None, error: str | None = None, elapsed_s: float = 0.001) -> CheckResult:
    return CheckResult(case_id=case_id, predicted=predicted, error=error, elapsed_s=elapsed_s)


def _labelled(cid: str, expected: bool, category: str = "ints", gold: str = "42", note: str = "") -> Case:
    return Case(id=cid, category=category, response="r", gold=gold, expected=expected, note=note)


# ---- metrics on the tiny corpus (moved from test_corpus.py) -----------------------------------


def test_confusion_matrix_and_metrics_on_a_known_corpus() -> None:
    report = evaluate(TINY, says_yes, name="yes")
    assert (report.true_positives, report.false_positives, report.true_negatives, report.false_negatives) == (3, 1, 2, 2)
    assert report.precision == pytest.approx(3 / 4)
    assert report.recall == pytest.approx(3 / 5)
    assert report.accuracy == pytest.approx(5 / 8)
    assert report.errors == 0


def test_per_category_rows_count_agreements_and_errors_by_kind() -> None:
    rows = {row.category: row for row in evaluate(TINY, says_yes).categories}
    assert (rows["ints"].cases, rows["ints"].agree, rows["ints"].false_positives, rows["ints"].false_negatives) == (3, 2, 0, 1)
    assert (rows["fracs"].cases, rows["fracs"].agree, rows["fracs"].false_negatives) == (3, 2, 1)
    assert (rows["hacks"].cases, rows["hacks"].agree, rows["hacks"].false_positives) == (2, 1, 1)


def test_every_disagreement_is_listed_with_its_case_id_and_kind() -> None:
    report = evaluate(TINY, says_yes)
    assert {(d.case_id, d.reason) for d in report.disagreements} == {
        ("fp1", "false positive"), ("fn1", "false negative"), ("fn2", "false negative")}


def test_format_report_shows_metrics_categories_and_disagreements() -> None:
    text = validate.format_report(evaluate(TINY, says_yes, name="yes"))
    assert "precision 0.7500  recall 0.6000  accuracy 0.6250" in text
    assert "fracs" in text and "hacks" in text
    assert "fp1 [hacks] expected False: false positive" in text


def test_compare_puts_checkers_side_by_side() -> None:
    text = validate.compare([evaluate(TINY, says_yes, name="yes"), evaluate(TINY, raises_on_hacks, name="raiser")])
    header, precision_row = text.splitlines()[0], text.splitlines()[1]
    assert "yes" in header and "raiser" in header
    assert precision_row.split()[1:] == ["0.7500", "0.5000"]


def test_a_checker_that_credits_nothing_has_zero_recall_and_vacuous_precision() -> None:
    report = evaluate(TINY, lambda response, gold: False, isolate=False)
    assert (report.precision, report.recall, report.accuracy) == (1.0, 0.0, 3 / 8)


# ---- summarise: the definitions, on hand-built results ----------------------------------------


def test_summarise_rejects_results_that_do_not_pair_with_the_cases() -> None:
    with pytest.raises(ValueError, match="2 cases but 1 results"):
        summarise("x", [_labelled("a", True), _labelled("b", False)], [_result("a", True)])


def test_empty_corpus_has_vacuous_precision_and_recall_and_zero_accuracy() -> None:
    report = summarise("empty", [], [])
    assert (report.cases, report.precision, report.recall, report.accuracy) == (0, 1.0, 1.0, 0.0)
    assert (report.total_check_s, report.mean_check_s, report.p99_check_s, report.max_check_s) == (0.0, 0.0, 0.0, 0.0)


def test_an_error_against_an_expected_true_is_a_false_negative() -> None:
    report = summarise("x", [_labelled("a", True)], [_result("a", None, "raised ValueError: bad")])
    assert (report.false_negatives, report.false_positives, report.errors) == (1, 0, 1)


def test_an_error_against_an_expected_false_is_a_false_positive() -> None:
    report = summarise("x", [_labelled("a", False)], [_result("a", None, "timed out after 1 s")])
    assert (report.false_positives, report.false_negatives, report.errors) == (1, 0, 1)


def test_an_error_is_a_disagreement_whose_reason_is_the_error_text() -> None:
    report = summarise("x", [_labelled("a", False, gold="7", note="why")], [_result("a", None, "worker died (exit code 3)")])
    (d,) = report.disagreements
    assert (d.case_id, d.predicted, d.reason, d.gold, d.note) == ("a", None, "worker died (exit code 3)", "7", "why")


def test_an_error_is_counted_in_its_category_row_not_as_an_agreement() -> None:
    report = summarise("x", [_labelled("a", True, "sets"), _labelled("b", True, "sets")],
                       [_result("a", None, "boom"), _result("b", True)])
    (row,) = report.categories
    assert (row.category, row.cases, row.agree, row.errors) == ("sets", 2, 1, 1)


def test_category_rows_are_sorted_by_name() -> None:
    cases = [_labelled("a", True, "zeta"), _labelled("b", True, "alpha"), _labelled("c", True, "mid")]
    report = summarise("x", cases, [_result(c.id, True) for c in cases])
    assert [row.category for row in report.categories] == ["alpha", "mid", "zeta"]


def test_agreements_are_not_listed_as_disagreements() -> None:
    cases = [_labelled("a", True), _labelled("b", False)]
    report = summarise("x", cases, [_result("a", True), _result("b", False)])
    assert report.disagreements == () and report.accuracy == 1.0


def test_check_time_statistics_cover_every_result() -> None:
    cases = [_labelled(str(i), True) for i in range(4)]
    times = [0.1, 0.4, 0.2, 0.3]
    report = summarise("x", cases, [_result(c.id, True, elapsed_s=t) for c, t in zip(cases, times)])
    assert report.total_check_s == pytest.approx(1.0)
    assert report.mean_check_s == pytest.approx(0.25)
    assert report.max_check_s == pytest.approx(0.4)


def test_p99_is_the_nearest_rank_99th_percentile() -> None:
    cases = [_labelled(str(i), True) for i in range(100)]
    report = summarise("x", cases, [_result(c.id, True, elapsed_s=(i + 1) / 100) for i, c in enumerate(cases)])
    assert report.p99_check_s == pytest.approx(0.99)  # the 99th of 100 sorted times, not the maximum


def test_to_dict_is_plain_json_with_every_disagreement() -> None:
    report = summarise("x", [_labelled("a", True), _labelled("b", False)], [_result("a", False), _result("b", None, "e")])
    data = json.loads(json.dumps(report.to_dict()))
    assert data["name"] == "x" and data["cases"] == 2
    assert [d["case_id"] for d in data["disagreements"]] == ["a", "b"]
    assert {f.name for f in dataclasses.fields(ValidationReport)} == set(data)


# ---- format_report and compare ------------------------------------------------------------------


def _two_disagreements() -> ValidationReport:
    return summarise("x", [_labelled("a", True), _labelled("b", True)], [_result("a", False), _result("b", False)])


def test_format_report_can_cap_the_disagreements_shown_and_says_so() -> None:
    text = format_report(_two_disagreements(), max_disagreements=1)
    assert "disagreements: 2 (showing 1)" in text
    assert "    a [ints]" in text and "    b [ints]" not in text


def test_format_report_keeps_each_disagreement_on_one_line_whatever_the_gold() -> None:
    hostile = "1\n2\x00" + "9" * 10_000
    report = summarise("x", [_labelled("a", True, gold=hostile)], [_result("a", False)])
    lines = [line for line in format_report(report).splitlines() if line.startswith("    a [")]
    assert len(lines) == 1 and len(lines[0]) < 200


def test_compare_needs_at_least_one_report() -> None:
    with pytest.raises(ValueError, match="at least one report"):
        compare([])


def test_compare_marks_a_category_a_checker_never_saw() -> None:
    only_ints = summarise("first", [_labelled("a", True, "ints")], [_result("a", True)])
    only_sets = summarise("second", [_labelled("b", True, "sets")], [_result("b", False)])
    rows = {line.split()[0]: line.split()[1:] for line in compare([only_ints, only_sets]).splitlines() if line.strip()}
    assert rows["ints"] == ["1/1", "-"]
    assert rows["sets"] == ["-", "0/1"]


# ---- the record types ---------------------------------------------------------------------------


def test_case_and_check_result_are_frozen_keyword_only_records() -> None:
    case = _labelled("a", True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        case.gold = "43"  # type: ignore[misc]
    with pytest.raises(TypeError):
        CheckResult("a", True, None, 0.0)  # type: ignore[misc]
