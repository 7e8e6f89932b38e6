"""check_answer / compare: every equivalence category, both directions, and the guards."""

from __future__ import annotations

import pytest

from retool.answer import AnswerConfig, Verdict, check_answer, compare
from retool.answer.worker import AnswerChecker


@pytest.fixture(scope="module")
def checker():
    with AnswerChecker() as c:
        yield c


EQUAL = {
    "integer_plain": ("42", "42"),
    "integer_decimal_zero": ("42.0", "42"),
    "integer_plus": ("+42", "42"),
    "integer_thousands_comma": ("4,200", "4200"),
    "integer_thousands_latex": ("1{,}000{,}000", "1000000"),
    "integer_thin_space": ("1\\,000", "1000"),
    "integer_space_groups": ("1 000", "1000"),
    "integer_unicode_minus": ("\u22123", "-3"),
    "integer_text_wrapper": ("\\text{42}", "42"),
    "integer_dollar": ("\\$42", "42"),
    "integer_math_dollars": ("$42$", "42"),
    "integer_trailing_period": ("42.", "42"),
    "integer_unit_text": ("42\\text{ cm}", "42"),
    "integer_big": ("123456789012345678901234567890", "123456789012345678901234567890.0"),
    "frac_dfrac": ("\\dfrac{1}{2}", "\\frac{1}{2}"),
    "frac_tfrac": ("\\tfrac{3}{4}", "0.75"),
    "frac_slash": ("3/4", "\\frac{3}{4}"),
    "frac_unbraced": ("\\frac12", "0.5"),
    "frac_unreduced": ("\\frac{6}{8}", "\\frac{3}{4}"),
    "frac_negative": ("-\\frac{1}{2}", "\\frac{-1}{2}"),
    "frac_mixed_number": ("2\\frac{1}{2}", "\\frac{5}{2}"),
    "decimal_exact": ("0.125", "\\frac{1}{8}"),
    "decimal_repeating": ("0.\\overline{3}", "\\frac{1}{3}"),
    "radical_simplified": ("2\\sqrt{2}", "\\sqrt{8}"),
    "radical_rationalised": ("\\frac{1}{\\sqrt{2}}", "\\frac{\\sqrt{2}}{2}"),
    "radical_unbraced": ("\\sqrt2", "\\sqrt{2}"),
    "frac_unbraced_denominator": ("\\frac{\\sqrt{3}}2", "\\frac{\\sqrt{3}}{2}"),
    "radical_perfect_square": ("\\sqrt{49}", "7"),
    "pi_multiple": ("\\frac{\\pi}{2}", "\\pi/2"),
    "pi_product": ("2\\pi", "\\pi \\cdot 2"),
    "percent_sign_dropped": ("50\\%", "50"),
    "percent_both": ("12.5\\%", "12.5%"),
    "degree_mark_dropped": ("45^\\circ", "45"),
    "degree_unicode": ("45\u00b0", "45"),
    "degree_to_radians": ("45^\\circ", "\\frac{\\pi}{4}"),
    "scientific_times": ("1.5\\times 10^{3}", "1500"),
    "scientific_e": ("2.5e-3", "\\frac{1}{400}"),
    "scientific_cdot": ("3 \\cdot 10^{-2}", "0.03"),
    "tuple_spacing": ("(1,2)", "(1, 2)"),
    "tuple_values": ("(\\frac{1}{2}, 3)", "(0.5, 3.0)"),
    "set_unordered": ("\\{3, 1, 2\\}", "\\{1, 2, 3\\}"),
    "list_unordered": ("2, 1", "1, 2"),
    "list_and": ("1 \\text{ and } 2", "\\{1, 2\\}"),
    "list_of_equations": ("x = 1, x = 2", "1, 2"),
    "plus_minus_alone": ("\\pm 1", "\\{-1, 1\\}"),
    "interval_membership": ("x \\in (0, 1]", "(0, 1]"),
    "plus_minus": ("3 \\pm \\sqrt{2}", "3 - \\sqrt{2}, 3 + \\sqrt{2}"),
    "interval_closed": ("[1, 2]", "[1,2]"),
    "interval_half_open_infinity": ("(-\\infty, 3]", "(-\\infty,3]"),
    "interval_union": ("(-\\infty, 0) \\cup (1, \\infty)", "(-\\infty,0)\\cup(1,\\infty)"),
    "matrix_brackets": ("\\begin{pmatrix}1 & 2\\\\ 3 & 4\\end{pmatrix}", "\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}"),
    "matrix_values": ("\\begin{pmatrix}0.5 & 1\\end{pmatrix}", "\\begin{pmatrix}\\frac{1}{2} & 1\\end{pmatrix}"),
    "expression_log": ("\\log_{10} 1000", "3"),
    "expression_binomial": ("\\binom{5}{2}", "10"),
    "expression_factorial": ("5!", "120"),
    "expression_power": ("2^{10}", "1024"),
    "expression_trig": ("\\cos\\frac{\\pi}{3}", "\\frac{1}{2}"),
    "expression_symbolic": ("x^2 + 2x + 1", "(x+1)^2"),
    "equation_label": ("x = 5", "5"),
    "equation_label_subscript": ("a_1 = 7", "7"),
    "equation_point": ("(x, y) = (1, 2)", "(1, 2)"),
    "equation_line": ("y = 2x + 3", "y = 3 + 2x"),
    "equation_chained": ("\\frac{6}{2} = 3", "3"),
    "inequality_turned_around": ("x > 3", "3 < x"),
    "inequality_as_interval": ("-1 \\le x < 2", "[-1, 2)"),
    "ray_as_interval": ("x \\ge 3", "[3, \\infty)"),
    "set_builder": ("\\{x \\mid x > 2\\}", "(2, \\infty)"),
    "equation_sides_swapped": ("2x + 1 = 5", "5 = 2x + 1"),
    "empty_set_spellings": ("\\varnothing", "\\{\\}"),
    "unit_with_power": ("100\\text{ cm}^2", "100"),
    "trailing_comma": ("5,", "5"),
    "text_choice": ("(B)", "B"),
    "text_words": ("Yes", "yes"),
    "tiny_equal": ("\\frac{1}{2^{99}}", "2^{-99}"),
    # issue 18 recall classes
    "unit_textbf": ("5\\textbf{ meters}", "5"), "unit_mbox_squared": ("5\\mbox{ cm}^2", "5"),
    "unit_square_words": ("12 square units", "12"), "unit_trailing_noun": ("12 apples", "12"),
    "unit_same_unit_spelled": ("5 meters", "5\\text{ m}"), "gold_in_dollars": ("12", "$$12$$"),
    "ellipse_scaled": ("\\frac{x^2}{4}+\\frac{y^2}{9}=1", "9x^2+4y^2=36"),
    "line_solved_for_other_variable": ("y = 2x+3", "x = \\frac{y-3}{2}"),
    "inequality_negated_and_flipped": ("-x < -3", "x > 3"), "inequality_rearranged": ("2x - 6 > 0", "x > 3"),
    "thousands_math_style": ("1,\\!000", "1000"), "currency_and_separator": ("\\$1,\\!000", "1000"),
    "euro_sign": ("\u20ac5", "5"), "percent_pct": ("50 pct", "50"), "percent_percentage": ("50 percentage", "50"),
    "percent_per_cent": ("50 per cent", "50"), "or_without_spaces": ("2or3", "2, 3"),
    "solutions_semicolon": ("x=2; x=3", "2, 3"), "solutions_quad_and": ("2 \\quad\\text{and}\\quad 3", "2, 3"),
    "labelled_pairs": ("p=5,q=2;p=7,q=2", "(5,2),(7,2)"), "plain_times_sqrt": ("2*sqrt(2)", "2\\sqrt{2}"),
    "plain_sqrt_space": ("sqrt 2", "\\sqrt{2}"), "plain_mixed_number": ("1 1/2", "\\frac{3}{2}"),
    "plain_inf": ("inf", "\\infty"), "plain_interval": ("(-inf, 3]", "(-\\infty, 3]"), "plain_pi": ("2pi", "2\\pi"),
    "real_line": ("\\mathbb{R}", "(-\\infty, \\infty)"),
    "array_in_brackets": ("\\left[\\begin{array}{cc}1&2\\\\3&4\\end{array}\\right]", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}"),
    "upright_imaginary_unit": ("3+4\\mathrm{i}", "3+4i"), "segment_name": ("AB = 5", "5"),
    "nested_radical_commuted": ("\\sqrt{3+2\\sqrt{2}}", "\\sqrt{2\\sqrt{2}+3}"),
}

NOT_EQUAL = {
    "integer_off_by_one": ("41", "42"),
    "integer_sign": ("-42", "42"),
    "integer_digit_swap": ("24", "42"),
    "integer_vs_list": ("1, 2", "1"),
    "integer_thousands_not_list": ("1,234", "1"),
    "repeating_decimal": ("0.3333333", "\\frac{1}{3}"),
    "inexact_root": ("1.414", "\\sqrt{2}"),
    "inexact_pi": ("3.14159", "\\pi"),
    "tiny_values_exact": ("\\frac{1}{2^{99}}", "\\frac{1}{2^{98}}"),
    "tiny_decimal": ("0.0000001", "0.0000002"),
    "frac_other": ("\\frac{2}{3}", "\\frac{3}{2}"),
    "radical_other": ("\\sqrt{3}", "\\sqrt{2}"),
    "percent_not_fraction": ("50\\%", "0.5"),
    "bare_degrees_not_radians": ("45", "\\frac{\\pi}{4}"),
    "tuple_order": ("(2, 1)", "(1, 2)"),
    "tuple_length": ("(1, 2, 3)", "(1, 2)"),
    "interval_open_vs_closed": ("[1, 2)", "(1, 2)"),
    "interval_closed_vs_open": ("[1, 2]", "[1, 2)"),
    "set_missing_element": ("\\{1, 2\\}", "\\{1, 2, 3\\}"),
    "set_vs_tuple": ("\\{1, 2\\}", "(1, 2)"),
    "other_root": ("x = 2", "-2"),
    "list_extra_root": ("2, -2", "2"),
    "matrix_transposed": ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{pmatrix}1&3\\\\2&4\\end{pmatrix}"),
    "matrix_shape": ("\\begin{pmatrix}1&2\\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}"),
    "expression_other": ("x^2 + 1", "(x+1)^2"),
    "log_other": ("\\log_{10} 100", "3"),
    "text_choice_other": ("(A)", "B"),
    "words_vs_number": ("seven", "7"),
    "inequality_direction": ("x < 3", "x > 3"),
    "empty": ("", "5"),
    "or_more_is_not_a_unit": ("5 \\text{ or more}", "5"),
    "strict_vs_non_strict": ("x \\le 3", "x < 3"),
    "ray_endpoint_closed_vs_open": ("x > 3", "[3, \\infty)"),
    "empty_set_vs_zero": ("\\emptyset", "0"),
    "equation_other_constant": ("2x + 1 = 5", "2x + 1 = 6"),
    "power_tower": ("9^{9^{9^{9}}}", "9"),
    # issue 18 precision classes: an equation with variables is not its value
    "expression_equals_value": ("x + 2 = 7", "7"), "value_equals_expression": ("7 = x+2", "x+2"),
    "product_equals_value": ("xy = 6", "6"), "scaled_but_not_solved": ("2x = 10", "x = 5"),
    "invisible_answer": ("\\phantom{5}", "5"), "different_units": ("5\\text{ cm}", "5\\text{ m}"),
    "determinant_vs_matrix": ("\\begin{vmatrix}1&2\\\\3&4\\end{vmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}"),
    "ellipse_other_axes": ("\\frac{x^2}{4}+\\frac{y^2}{9}=1", "\\frac{x^2}{9}+\\frac{y^2}{4}=1"),
    "inequality_scaled_negative_unflipped": ("-x > -3", "x > 3"), "curve_times_a_variable": ("x(x-1) = 0", "x - 1 = 0"),
    "hundred_is_not_a_unit": ("5 hundred", "5"), "latex_hundred_is_not_a_unit": ("5\\text{ hundred}", "5"),
    "approximation_inside_the_box": ("\\frac{2}{3} \\approx 0.667", "\\frac{2}{3}"),
    "dollars_vs_cents": ("\\$5", "5 cents"),
}


@pytest.mark.parametrize("pred,gold", EQUAL.values(), ids=EQUAL.keys())
def test_equal_category_is_accepted(pred: str, gold: str, checker: AnswerChecker) -> None:
    assert compare(pred, gold, checker=checker).equal, compare(pred, gold, checker=checker)


@pytest.mark.parametrize("pred,gold", EQUAL.values(), ids=EQUAL.keys())
def test_equal_category_is_symmetric(pred: str, gold: str, checker: AnswerChecker) -> None:
    assert compare(gold, pred, checker=checker).equal


@pytest.mark.parametrize("pred,gold", NOT_EQUAL.values(), ids=NOT_EQUAL.keys())
def test_near_miss_is_rejected(pred: str, gold: str, checker: AnswerChecker) -> None:
    assert not compare(pred, gold, checker=checker).equal


@pytest.mark.parametrize("pred,gold", NOT_EQUAL.values(), ids=NOT_EQUAL.keys())
def test_near_miss_is_rejected_both_ways(pred: str, gold: str, checker: AnswerChecker) -> None:
    assert not compare(gold, pred, checker=checker).equal


@pytest.mark.parametrize("pred", ["42", "4{,}200", "\\frac{3}{4}", "(1, 2)", "\\{1,2\\}", "x = 5", "2.5e-3", "50\\%"])
def test_numeric_answers_never_reach_sympy(pred: str) -> None:
    verdict = compare(pred, "42", AnswerConfig(symbolic=False))
    assert verdict.method in ("fast", "identical")


def test_integer_gold_decided_without_worker() -> None:
    config = AnswerConfig(symbolic=False)
    assert check_answer("  +1,234 ", "1234", config=config)
    assert not check_answer("1235", "1234", config=config)


def test_undecidable_without_symbolic_is_not_equal() -> None:
    verdict = compare("2\\ln 2", "\\ln 4", AnswerConfig(symbolic=False))
    assert verdict == Verdict(False, "outside the fast grammar", "undecided")


@pytest.mark.parametrize("pred", ["1" * 5000, "9" * 401, "{" * 60 + "1" + "}" * 60, "x" * 2_000_000])
def test_pathological_prediction_is_rejected_before_any_parsing(pred: str) -> None:
    verdict = compare(pred, "1", AnswerConfig(symbolic=False))
    assert not verdict.equal and verdict.method == "rejected"


def test_power_tower_is_rejected_without_the_worker() -> None:
    verdict = compare("9^{9^{9^{9}}}", "1", AnswerConfig(symbolic=False))
    assert verdict.method == "rejected" and "exponent" in verdict.reason


def test_symbolic_power_tower_is_rejected_by_the_guard(checker: AnswerChecker) -> None:
    verdict = compare("x^{9^{9^{9}}}", "x", checker=checker)
    assert not verdict.equal and verdict.method in ("symbolic", "rejected")


@pytest.mark.parametrize("pred", [None, 42, b"42", 3.0])
def test_non_text_inputs_never_raise(pred: object) -> None:
    verdict = compare(pred, "42", AnswerConfig(symbolic=False))  # type: ignore[arg-type]
    assert isinstance(verdict, Verdict)


def test_integer_inputs_compare_as_text() -> None:
    assert check_answer(42, "42")  # type: ignore[arg-type]


def test_raise_on_error_surfaces_internal_errors() -> None:
    broken = AnswerConfig(max_digits=None)  # type: ignore[arg-type]
    assert compare("1.5", "3/2", broken).method == "error"
    with pytest.raises(TypeError):
        compare("1.5", "3/2", broken, raise_on_error=True)


def test_check_answer_is_the_verdict_flag(checker: AnswerChecker) -> None:
    assert check_answer("\\sqrt{4}", "2", checker=checker) is True
    assert check_answer("\\sqrt{5}", "2", checker=checker) is False


@pytest.mark.parametrize(("pred", "gold", "equal"), [
    ("1010_2", "1010_2", True), ("1010_{2}", "1010_2", True), ("22_4", "1010_2", True), ("1A_{16}", "26_{10}", True),
    ("1010_3", "1010_2", False), ("212_4", "212_3", False), ("x_2", "y_2", False),
])
def test_base_numerals_are_equal_only_when_they_name_the_same_number(pred: str, gold: str, equal: bool) -> None:
    assert compare(pred, gold).equal is equal


def test_an_expression_in_a_variable_that_is_constant_equals_its_value() -> None:
    assert compare("\\sin^2 x + \\cos^2 x", "1").equal
    assert not compare("\\sin x", "1").equal
