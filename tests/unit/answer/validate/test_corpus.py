"""retool.answer.validate.corpus: ``evaluate`` (isolated or inline, never raising because of the
checker), ``load_corpus`` (malformed rows name file, line and field), the speed measures,
``benchmark_mix`` and the shipped corpus.

Metrics and reports are tested in ``test_report.py``, the worker pool in ``test_pool.py`` and the
built-in checkers in ``test_checkers.py``; the tiny corpus they share is ``tiny_corpus``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from retool.answer.validate import corpus as validate
from retool.answer.validate import Case, evaluate, load_checker, load_corpus
from tests.unit.answer.validate.tiny_corpus import TINY, raises_on_hacks, says_yes


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


# ---- corpus loading ---------------------------------------------------------------------------


def _write(tmp_path, rows: list[object]) -> str:
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return str(path)


GOOD = {"id": "a", "category": "ints", "response": "\\boxed{1}", "gold": "1", "expected": True, "note": ""}


def test_load_corpus_reads_good_rows(tmp_path: Path) -> None:
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
def test_malformed_rows_name_the_file_line_and_field(tmp_path: Path, row: object, message: str) -> None:
    path = _write(tmp_path, [GOOD, row])
    with pytest.raises(ValueError, match=message) as info:
        load_corpus(path)
    assert f"{path}:2:" in str(info.value)


def test_duplicate_ids_are_rejected_with_both_lines(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"corpus.jsonl:2: field 'id' duplicates 'a' from line 1"):
        load_corpus(_write(tmp_path, [GOOD, GOOD]))


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


def test_benchmark_mix_is_mostly_integer_golds_without_pathological_cases() -> None:
    mix = validate.benchmark_mix(load_corpus())
    integer_share = sum(c.gold.lstrip("+-").isdigit() for c in mix) / len(mix)
    assert integer_share >= 0.75
    assert not {c.category for c in mix} & {"power_tower", "huge_output", "tiny_value"}
    assert len({c.id for c in mix}) == len(mix)




# ---- contract edges of evaluate, load_corpus, the measures and the mix -----------------------


@pytest.mark.parametrize("timeout_s", [0, -1.0])
def test_evaluate_rejects_a_non_positive_time_bound(timeout_s: float) -> None:
    with pytest.raises(ValueError, match="timeout_s must be positive"):
        evaluate(TINY, says_yes, timeout_s=timeout_s)


def test_evaluate_names_the_report_after_the_checker_name() -> None:
    assert evaluate(TINY[:1], says_yes, name="mine", isolate=False).name == "mine"


def test_a_raising_checker_inline_is_recorded_not_raised() -> None:
    report = evaluate(TINY, raises_on_hacks, isolate=False)
    assert report.errors == 4 and report.true_positives == 3


def test_load_corpus_of_a_missing_file_raises_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="absent.jsonl: cannot read corpus"):
        load_corpus(tmp_path / "absent.jsonl")


def test_load_corpus_of_an_empty_file_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="corpus has no cases"):
        load_corpus(_write(tmp_path, [""]))


def test_load_corpus_skips_blank_lines_and_defaults_the_note(tmp_path: Path) -> None:
    row = {k: v for k, v in GOOD.items() if k != "note"}
    (case,) = load_corpus(_write(tmp_path, ["", row, "   "]))
    assert case == Case(id="a", category="ints", response="\\boxed{1}", gold="1", expected=True, note="")


def test_the_word_default_loads_the_shipped_corpus() -> None:
    assert load_corpus("default") == load_corpus()


def test_measure_latencies_needs_a_case_and_a_positive_repeat() -> None:
    with pytest.raises(ValueError, match="at least one case"):
        validate.measure_latencies_s(says_yes, [])
    with pytest.raises(ValueError, match="repeat must be >= 1"):
        validate.measure_latencies_s(says_yes, TINY, repeat=0)


def test_measure_latencies_times_a_raising_checker_without_raising() -> None:
    assert len(validate.measure_latencies_s(raises_on_hacks, TINY)) == len(TINY)


def test_benchmark_mix_of_a_corpus_without_eligible_cases_raises() -> None:
    word = Case(id="w", category="text", response="\\boxed{B}", gold="B", expected=True)
    with pytest.raises(ValueError, match="no integer, rational or expression cases"):
        validate.benchmark_mix([word])


def test_benchmark_mix_keeps_every_fourth_expression_case() -> None:
    exprs = [Case(id=f"e{i}", category="expression", response="r", gold="x+1", expected=True) for i in range(8)]
    assert [c.id for c in validate.benchmark_mix(exprs)] == ["e0", "e4"]
