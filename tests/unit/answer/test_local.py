"""retool.answer.local: ``compare_local`` in this process. The guards (length, digit runs,
bracket nesting; prediction and gold, before any other step), identical text, the structure
trees (tuples, intervals, sets and lists, matrices, equations, degree and percent conventions),
the exact fast path (``symbolic=False``: an undecidable pair is ``method="undecided"``) against the
symbolic path (``symbolic=True``), and internal errors raising (``compare`` is the total wrapper).

Hostile model text (huge digit runs, deep nesting, unbalanced braces, NUL bytes, very long
strings) always gives a ``Verdict`` with a reason.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retool.answer.config import AnswerConfig, Verdict
from retool.answer.local import compare_local

DEFAULT = AnswerConfig()
METHODS = {"identical", "fast", "symbolic", "rejected", "timeout", "error", "undecided"}


def fast(pred: str, gold: str, config: AnswerConfig = DEFAULT) -> Verdict:
    return compare_local(pred, gold, config, symbolic=False)


def full(pred: str, gold: str, config: AnswerConfig = DEFAULT) -> Verdict:
    return compare_local(pred, gold, config, symbolic=True)


# ---- guards -------------------------------------------------------------------------------------


def test_guard_rejects_answers_longer_than_max_answer_chars() -> None:
    verdict = fast("12345", "1", AnswerConfig(max_answer_chars=4))
    assert verdict.method == "rejected" and not verdict.equal
    assert "max_answer_chars=4" in verdict.reason


def test_guard_accepts_answers_of_exactly_max_answer_chars() -> None:
    assert fast("1234", "1234.0", AnswerConfig(max_answer_chars=6)).method == "fast"


def test_guard_rejects_digit_runs_longer_than_max_digits() -> None:
    verdict = fast("1234", "1", AnswerConfig(max_digits=3))
    assert verdict.method == "rejected" and "max_digits=3" in verdict.reason


def test_guard_accepts_digit_runs_of_exactly_max_digits() -> None:
    assert fast("123", "\\frac{246}{2}", AnswerConfig(max_digits=3)) == Verdict(True, "equal", "fast")


def test_guard_rejects_bracket_nesting_deeper_than_max_depth() -> None:
    verdict = fast("((1))", "1", AnswerConfig(max_depth=1))
    assert verdict.method == "rejected" and "bracket nesting 2 exceeds max_depth=1" in verdict.reason


def test_guard_counts_nesting_not_the_number_of_brackets() -> None:
    # three brackets, more than max_depth=2, but never nested deeper than one
    assert fast("(1) + (2) + (3)", "6", AnswerConfig(max_depth=2)) == Verdict(True, "equal", "fast")


def test_guard_rejects_deep_nesting_after_unmatched_closing_brackets() -> None:
    assert fast(")" * 41 + "(" * 41 + "1" + ")" * 41, "1").method == "rejected"


def test_guard_names_the_prediction_when_the_prediction_is_rejected() -> None:
    assert fast("9" * 401, "1").reason.startswith("prediction rejected:")


def test_guard_names_the_gold_when_the_gold_is_rejected() -> None:
    assert fast("1", "9" * 401).reason.startswith("gold rejected:")


def test_guard_runs_before_the_identical_text_check() -> None:
    assert fast("9" * 401, "9" * 401).method == "rejected"


def test_pathological_values_inside_the_limits_are_rejected_not_computed() -> None:
    verdict = fast("9^{9^{9^{9}}}", "1")
    assert verdict.method == "rejected" and "pathological" in verdict.reason


def test_max_bits_bounds_the_exact_powers_the_fast_path_computes() -> None:
    assert fast("2^{100}", "1", AnswerConfig(max_bits=50)).method == "rejected"
    assert fast("2^{10}", "1024", AnswerConfig(max_bits=50)) == Verdict(True, "equal", "fast")


def test_max_nodes_bounds_the_symbolic_expression_tree() -> None:
    assert full("\\ln(x) + \\ln(y)", "\\ln(xy)", AnswerConfig(max_nodes=3)).method == "rejected"


# ---- identical text -----------------------------------------------------------------------------


def test_identical_text_after_stripping_is_equal_without_parsing() -> None:
    assert fast("  \\frac{1}{2} ", "\\frac{1}{2}") == Verdict(True, "identical text", "identical")


def test_two_empty_answers_are_not_equal() -> None:
    assert fast("  ", "") == Verdict(False, "empty answer", "identical")


# ---- fast path versus symbolic --------------------------------------------------------------------


def test_fast_path_decides_exact_numbers() -> None:
    assert fast("\\frac{1}{2}", "0.5") == Verdict(True, "equal", "fast")


def test_fast_path_rejects_unequal_numbers() -> None:
    assert fast("\\frac{1}{3}", "0.333") == Verdict(False, "not equal", "fast")


def test_without_symbolic_an_undecidable_pair_is_undecided_and_not_equal() -> None:
    assert fast("2\\ln 2", "\\ln 4") == Verdict(False, "outside the fast grammar", "undecided")


def test_with_symbolic_the_undecidable_pair_is_decided() -> None:
    assert full("2\\sqrt{2}", "\\sqrt{8}") == Verdict(True, "equal", "symbolic")


def test_symbolic_decides_the_fast_paths_undecided_equations() -> None:
    assert fast("\\sin(x)=1", "1=\\sin(x)").method == "undecided"
    assert full("\\sin(x)=1", "1=\\sin(x)").equal is True


def test_symbolic_never_returns_undecided() -> None:
    assert full("\\sqrt{2}+x", "\\sqrt{3}+y").method != "undecided"


def test_fast_path_may_reject_an_irrational_with_a_float_bound() -> None:
    assert fast("12\\sqrt{2}", "12") == Verdict(False, "not equal", "fast")


def test_fast_path_rejects_an_expression_in_a_variable_against_a_number() -> None:
    assert fast("2x", "4") == Verdict(False, "not equal", "fast")


# ---- structures -----------------------------------------------------------------------------------


def test_tuples_are_ordered() -> None:
    assert fast("(2, 1)", "(1, 2)").equal is False
    assert fast("(1,2)", "(1, 2)").equal is True


def test_interval_brackets_must_match() -> None:
    assert fast("[1, 2)", "(1, 2)").equal is False


def test_sets_and_bare_lists_are_unordered() -> None:
    assert fast("\\{3, 1, 2\\}", "1, 2, 3") == Verdict(True, "equal", "fast")


def test_a_list_with_a_repeated_value_is_not_a_different_multiset() -> None:
    assert fast("1, 2, 2", "1, 1, 2").equal is False


def test_a_bare_list_in_order_equals_a_tuple() -> None:
    assert fast("1, 2", "(1, 2)").equal is True
    assert fast("2, 1", "(1, 2)").equal is False


def test_a_braced_set_never_equals_a_tuple() -> None:
    assert fast("\\{1, 2\\}", "(1, 2)").equal is False


def test_matrices_compare_entrywise_and_by_shape() -> None:
    assert fast("\\begin{pmatrix}0.5 & 1\\end{pmatrix}", "\\begin{bmatrix}\\frac{1}{2} & 1\\end{bmatrix}").equal is True
    assert fast("\\begin{pmatrix}1&2\\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}").equal is False


def test_a_label_equation_equals_its_right_side() -> None:
    assert fast("x = 5", "5") == Verdict(True, "equal", "fast")


def test_degree_mark_equals_the_angle_in_radians_but_a_bare_number_does_not() -> None:
    assert fast("45^\\circ", "\\frac{\\pi}{4}").equal is True
    assert fast("45", "\\frac{\\pi}{4}").equal is False


def test_percent_sign_is_dropped_never_divided() -> None:
    assert fast("50\\%", "50").equal is True
    assert fast("50\\%", "0.5").equal is False


def test_words_compare_case_insensitively_but_single_letters_do_not() -> None:
    assert fast("Yes", "yes").equal is True
    assert fast("A", "a").equal is False


def test_an_unordered_list_verdict_does_not_depend_on_the_golds_order() -> None:
    assert fast("45^\\circ, 45", "45, \\frac{\\pi}{4}") == fast("45^\\circ, 45", "\\frac{\\pi}{4}, 45")


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5).flatmap(lambda n: st.lists(st.lists(st.sampled_from([True, False, None]), min_size=n, max_size=n),
                                                    min_size=n, max_size=n)))
def test_bag_matching_finds_a_pairing_exactly_when_one_exists(table) -> None:
    from retool.answer.local import _perfect_matching

    n = len(table)
    for ok in ((True,), (True, None)):
        exists = any(all(table[i][p[i]] in ok for i in range(n)) for p in itertools.permutations(range(n)))
        assert _perfect_matching(table, ok) is exists


# ---- hostile model text and internal errors -------------------------------------------------------

HOSTILE = {
    "huge_digit_run": "9" * 100_000,
    "deep_nesting": "{" * 500 + "1" + "}" * 500,
    "deep_parentheses": "(" * 45 + "1" + ")" * 45,
    "unbalanced_open": "\\frac{{{1",
    "unbalanced_close": "}}}{{{",
    "closers_only": ")" * 900,
    "nul_bytes": "\x00\\frac{1}{2}\x00",
    "only_nul": "\x00" * 999,
    "very_long": "x+" * 1_000_000,
    "lone_surrogate": "\ud800",
    "lone_backslash": "\\",
    "unclosed_environment": "\\begin{pmatrix}1 & 2",
    "spaced_digit_groups": "1" + " 000" * 200,
}


@pytest.mark.parametrize("symbolic", [False, True], ids=["fast", "symbolic"])
@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_text_gives_an_unequal_verdict_with_a_reason(text: str, symbolic: bool) -> None:
    verdict = compare_local(text, "1", DEFAULT, symbolic=symbolic)
    assert isinstance(verdict, Verdict) and verdict.method in METHODS
    assert verdict.equal is False and verdict.reason


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_gold_gives_a_verdict_with_a_reason(text: str) -> None:
    verdict = fast("1", text)
    assert isinstance(verdict, Verdict) and verdict.equal is False and verdict.reason


def test_internal_errors_raise_instead_of_becoming_verdicts() -> None:
    broken = AnswerConfig(max_digits=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        fast("1.5", "3/2", broken)


def test_the_fast_path_proves_a_scaled_equation_without_sympy() -> None:
    assert fast("\\frac{x^2}{4}+\\frac{y^2}{9}=1", "9x^2+4y^2=36") == Verdict(True, "equal", "fast")


def test_the_fast_path_solves_a_linear_inequality() -> None:
    assert fast("2x - 6 > 0", "(3, \\infty)") == Verdict(True, "equal", "fast")


def test_an_implicit_product_after_a_slash_is_left_to_sympy() -> None:
    assert fast("1/2x", "\\frac{x}{2}").method == "undecided"
