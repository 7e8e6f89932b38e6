"""retool.answer.validate: metrics, isolation of misbehaving checkers, corpus loading and the shipped corpus."""

from __future__ import annotations

import json
import os
import time
from collections import Counter

import pytest

from retool.answer.validate import corpus as validate
from retool.answer.validate import Case, evaluate, load_checker, load_corpus

# ---- a tiny corpus with a known confusion matrix ----------------------------------------------
# The checker below answers from the response text itself ("YES"/"NO"), so each case's outcome is
# fixed by construction: TP 3, FP 1, TN 2, FN 2 -> precision 3/4, recall 3/5, accuracy 5/8.


def _case(cid: str, category: str, says: str, expected: bool) -> Case:
    return Case(id=cid, category=category, response=f"verdict: {says}", gold="42", expected=expected, note="")


TINY = (
    _case("tp1", "ints", "YES", True),
    _case("tp2", "ints", "YES", True),
    _case("tp3", "fracs", "YES", True),
    _case("fp1", "hacks", "YES", False),
    _case("tn1", "hacks", "NO", False),
    _case("tn2", "fracs", "NO", False),
    _case("fn1", "ints", "NO", True),
    _case("fn2", "fracs", "NO", True),
)


def says_yes(response: str, gold: str) -> bool:
    return response.endswith("YES")


def raises_on_hacks(response: str, gold: str) -> bool:
    if response.endswith("NO"):
        raise RuntimeError("cannot parse this")
    return True


def hangs_on_no(response: str, gold: str) -> bool:
    if response.endswith("NO"):
        time.sleep(60)
    return response.endswith("YES")


def dies_on_no(response: str, gold: str) -> bool:
    if response.endswith("NO"):
        os._exit(3)
    return response.endswith("YES")


def returns_string(response: str, gold: str) -> str:
    return "yes"


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


def test_inline_evaluation_gives_the_same_metrics_as_isolated() -> None:
    isolated, inline = evaluate(TINY, says_yes), evaluate(TINY, says_yes, isolate=False)
    assert (inline.precision, inline.recall, inline.accuracy) == (isolated.precision, isolated.recall, isolated.accuracy)


def test_a_raising_checker_is_a_disagreement_with_the_reason() -> None:
    report = evaluate(TINY, raises_on_hacks)
    erred = {d.case_id: d.reason for d in report.disagreements if d.predicted is None}
    assert set(erred) == {"tn1", "tn2", "fn1", "fn2"}
    assert all("RuntimeError: cannot parse this" in reason for reason in erred.values())
    assert report.errors == 4
    # errors are wrong both ways: expected-False ones are false positives, expected-True ones false negatives
    assert (report.false_positives, report.false_negatives) == (1 + 2, 2)


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


# ---- corpus loading ---------------------------------------------------------------------------


def _write(tmp_path, rows: list[object]) -> str:
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return str(path)


GOOD = {"id": "a", "category": "ints", "response": "\\boxed{1}", "gold": "1", "expected": True, "note": ""}


def test_load_corpus_reads_good_rows(tmp_path) -> None:
    cases = load_corpus(_write(tmp_path, [GOOD, {**GOOD, "id": "b", "expected": False}]))
    assert [c.id for c in cases] == ["a", "b"] and cases[1].expected is False


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({k: v for k, v in GOOD.items() if k != "gold"}, "missing field 'gold'"),
        ({**GOOD, "expected": "true"}, "field 'expected' must be bool"),
        ({**GOOD, "response": 5}, "field 'response' must be str"),
        ({**GOOD, "note": 1}, "field 'note' must be str"),
        ({**GOOD, "id": ""}, "field 'id' must not be empty"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
    ],
)
def test_malformed_rows_name_the_file_line_and_field(tmp_path, row, message) -> None:
    path = _write(tmp_path, [GOOD, row])
    with pytest.raises(ValueError, match=message) as info:
        load_corpus(path)
    assert f"{path}:2:" in str(info.value)


def test_duplicate_ids_are_rejected_with_both_lines(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"corpus.jsonl:2: field 'id' duplicates 'a' from line 1"):
        load_corpus(_write(tmp_path, [GOOD, GOOD]))


def test_load_checker_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="neither a built-in"):
        load_checker("nonsense")
    with pytest.raises(ValueError, match="cannot import module 'no_such_pkg_xyz.mod'"):
        load_checker("no_such_pkg_xyz.mod:fn")
    with pytest.raises(ValueError, match="has no attribute 'missing'"):
        load_checker("retool.answer.validate:missing")
    with pytest.raises(ValueError, match="not callable"):
        load_checker("retool.answer.validate:BUILTIN_CHECKERS")
    assert load_checker("tests.unit.answer.validate.test_corpus:says_yes") is says_yes


def test_strict_box_reads_only_the_tail_and_compares_strings() -> None:
    assert validate.strict_box_checker("so $\\boxed{\\frac{1}{2}}$", "\\frac{1}{2}")
    assert not validate.strict_box_checker("so $\\boxed{\\dfrac{1}{2}}$", "\\frac{1}{2}")
    assert not validate.strict_box_checker("$\\boxed{7}$" + " filler" * 30, "7")


def test_measure_checks_per_s_is_positive_and_counts_every_pass() -> None:
    assert len(validate.measure_latencies_s(says_yes, TINY, repeat=3)) == 3 * len(TINY)
    assert validate.measure_checks_per_s(says_yes, TINY, repeat=2) > 0


# ---- the shipped corpus ---------------------------------------------------------------------

REQUIRED_CATEGORIES = {
    "integer_spelling", "rational", "radical", "pi", "percent", "degree", "scientific", "tuple", "set_list",
    "interval", "matrix", "expression", "equation", "multiple_boxes", "hedge", "box_in_tool_output",
    "box_in_code", "empty_box", "unclosed_box", "truncated", "huge_output", "answer_before_last_tool",
    "near_miss", "inexact_decimal", "tiny_value", "power_tower",
}


def test_shipped_corpus_is_well_formed_and_large_enough() -> None:
    cases = load_corpus()
    assert len(cases) >= 300
    assert len({c.id for c in cases}) == len(cases)
    assert all(c.note for c in cases), "every case explains its label"


def test_shipped_corpus_covers_every_required_category_both_ways_where_it_can() -> None:
    cases = load_corpus()
    counts = Counter(c.category for c in cases)
    assert REQUIRED_CATEGORIES <= set(counts), REQUIRED_CATEGORIES - set(counts)
    labels = {cat: {c.expected for c in cases if c.category == cat} for cat in counts}
    # equivalence categories hold both equal and unequal pairs, so a checker cannot pass by saying one thing
    for cat in ("integer_spelling", "rational", "radical", "pi", "percent", "degree", "scientific", "tuple",
                "set_list", "interval", "matrix", "expression", "equation", "tiny_value", "power_tower"):
        assert labels[cat] == {True, False}, cat
    for cat in ("hedge", "empty_box", "unclosed_box", "truncated", "near_miss"):
        assert labels[cat] == {False}, cat


@pytest.mark.slow
def test_our_checker_meets_the_issue_targets_on_the_shipped_corpus() -> None:
    # inline: our checker bounds its own symbolic work (killed worker, hard deadline)
    report = evaluate(load_corpus(), load_checker("retool"), name="retool", isolate=False)
    detail = validate.format_report(report)
    assert report.errors == 0, detail
    assert report.precision >= 0.99, detail
    assert report.recall >= 0.97, detail


def test_our_checker_is_exactly_the_rewards_answer_term() -> None:
    from retool.reward import score

    cases = load_corpus()[::10]  # a spread over the categories
    assert [validate.retool_checker(c.response, c.gold) for c in cases] == [score(c.response, c.gold).correct for c in cases]


def test_benchmark_mix_is_mostly_integer_golds_without_pathological_cases() -> None:
    mix = validate.benchmark_mix(load_corpus())
    integer_share = sum(c.gold.lstrip("+-").isdigit() for c in mix) / len(mix)
    assert integer_share >= 0.75
    assert not {c.category for c in mix} & {"power_tower", "huge_output", "tiny_value"}
    assert len({c.id for c in mix}) == len(mix)


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


def test_a_checker_that_credits_nothing_has_zero_recall_and_vacuous_precision() -> None:
    report = evaluate(TINY, lambda response, gold: False, isolate=False)
    assert (report.precision, report.recall, report.accuracy) == (1.0, 0.0, 3 / 8)
