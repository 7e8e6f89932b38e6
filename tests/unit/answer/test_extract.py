"""The extraction policy: what counts as the model's final answer."""

from __future__ import annotations

import pytest

from retool.answer.extract import Extraction, extract_answer, final_model_text
from retool.text.grammar import format_tool_call, tool_turn_text


def turn(code: str, output: str) -> str:
    return format_tool_call("code_interpreter", {"code": code}) + tool_turn_text([output])


def test_last_closed_box_wins() -> None:
    assert extract_answer("First \\boxed{3}. On reflection \\boxed{4}.") == Extraction("4", ("4",), "boxed", "last box")


def test_nested_braces_are_balanced() -> None:
    assert extract_answer("so \\boxed{\\frac{\\sqrt{3}}{2}}").answer == "\\frac{\\sqrt{3}}{2}"


def test_fbox_counts_as_a_box() -> None:
    assert extract_answer("\\fbox{12}").answer == "12"


def test_answer_line_is_the_fallback() -> None:
    got = extract_answer("Work...\nAnswer: 17\n")
    assert (got.answer, got.source) == ("17", "answer_line")


def test_final_answer_line_is_read() -> None:
    assert extract_answer("**Final Answer:** 9").answer == "9"


def test_box_in_tool_response_is_not_an_answer() -> None:
    got = extract_answer("Compute.\n" + turn("print(r'\\boxed{42}')", "\\boxed{42}") + "Done.")
    assert got.answer is None and "no \\boxed{}" in got.reason


def test_box_in_code_string_is_not_an_answer() -> None:
    got = extract_answer("Compute.\n" + turn("s = '\\\\boxed{42}'\nprint(1)", "1") + "Done.")
    assert got.answer is None


def test_only_text_after_last_response_counts() -> None:
    got = extract_answer("Guess \\boxed{5}.\n" + turn("print(6)", "6") + "Hmm, let me stop.")
    assert got.answer is None


def test_answer_after_last_response_is_read() -> None:
    assert extract_answer("Guess \\boxed{5}.\n" + turn("print(6)", "6") + "So \\boxed{6}.").answer == "6"


def test_prose_answer_then_tool_call_without_response_gets_nothing() -> None:
    text = "The answer is \\boxed{7}.\n" + format_tool_call("code_interpreter", {"code": "print(7)"})
    got = extract_answer(text)
    assert got.answer is None and "tool call follows" in got.reason
    assert final_model_text(text)[0] is None


@pytest.mark.parametrize("text,values", [
    ("\\boxed{1} or \\boxed{2}", ("1", "2")),
    ("\\boxed{1}, \\boxed{2} and \\boxed{3}", ("1", "2", "3")),
    ("$\\boxed{1}$ \\text{and} $\\boxed{2}$", ("1", "2")),
])
def test_chained_boxes_form_one_multi_valued_answer(text: str, values: tuple[str, ...]) -> None:
    got = extract_answer(text)
    assert got.values == values and got.answer == ", ".join(values)


def test_boxes_separated_by_prose_are_not_chained() -> None:
    assert extract_answer("\\boxed{1} was wrong; recomputing gives \\boxed{2}").values == ("2",)


@pytest.mark.parametrize("text", [
    "\\boxed{3} or maybe \\boxed{4}",
    "It is either \\boxed{3} or \\boxed{4}",
    "I'm not sure, but \\boxed{3}",
    "Perhaps \\boxed{3}",
    "\\boxed{3 \\text{ or maybe } 4}",
    "The answer is \\boxed{3}, but it could be 4",
    "Answer: probably 3",
    "I think the answer is $\\boxed{7}$, but it might be $\\boxed{8}$.",
])
def test_hedged_answers_get_no_credit(text: str) -> None:
    got = extract_answer(text)
    assert got.answer is None and "hedge" in got.reason


@pytest.mark.parametrize("text", ["This might be surprising, but the answer is \\boxed{5}.",
                                  "which could be simplified to \\boxed{5}", "Either way, the total is \\boxed{5}."])
def test_modal_words_before_the_box_are_not_hedges(text: str) -> None:
    assert extract_answer(text).answer == "5"


def test_alternative_after_the_box_is_a_hedge() -> None:
    assert "hedge" in extract_answer("\\boxed{3}, or 4").reason


def test_either_way_is_not_a_hedge() -> None:
    assert extract_answer("Either way, the total is \\boxed{12}.").answer == "12"


def test_empty_box_gets_no_credit() -> None:
    assert extract_answer("\\boxed{ }").reason == "empty box"


def test_unclosed_last_box_gets_no_credit() -> None:
    got = extract_answer("\\boxed{3} then \\boxed{\\frac{1}{2}")
    assert got.answer is None and "not closed" in got.reason


def test_oversized_answer_gets_no_credit() -> None:
    got = extract_answer("\\boxed{" + "1, " * 1000 + "1}")
    assert got.answer is None and "max_answer_chars" in got.reason


def test_oversized_response_gets_no_credit() -> None:
    got = extract_answer("x" * 2_000_001 + "\\boxed{1}")
    assert got.answer is None and "max_response_chars" in got.reason


@pytest.mark.parametrize("text", [None, 5, "", "<tool_call>", "\\boxed{", "}}}{{{", "<tool_response>\\boxed{1}"])
def test_extraction_never_raises(text: object) -> None:
    got = extract_answer(text)  # type: ignore[arg-type]
    assert isinstance(got, Extraction) and got.answer is None


@pytest.mark.parametrize("tail", ["\n\nWait, that's wrong: I counted the corner twice.", " Hold on, let me recheck.",
                                  " Hmm, that is incorrect."])
def test_retraction_after_the_box_gets_no_credit(tail: str) -> None:
    got = extract_answer("So the answer is $\\boxed{42}$." + tail)
    assert got.answer is None and "retracted" in got.reason


def test_closing_remark_after_the_box_is_not_a_retraction() -> None:
    assert extract_answer("So the answer is $\\boxed{42}$.\n\nThis matches the computation above.").answer == "42"


def test_the_same_box_repeated_is_one_value() -> None:
    got = extract_answer("\\boxed{42} \\boxed{42}")
    assert (got.answer, got.values) == ("42", ("42",))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("tail", [".", " ", "*", "_"])
def test_answer_line_with_a_long_trailing_run_is_refused_in_linear_time(tail: str) -> None:
    got = extract_answer("Answer: 1" + tail * 200_000 + "x")
    assert got.answer is None and got.reason == "answer of 200002 characters exceeds max_answer_chars=1000"


def test_too_many_chained_boxes_get_no_credit() -> None:
    assert extract_answer("\\boxed{1} " * 100).reason == "more than 64 chained boxes"


def test_empty_answer_line_gets_no_credit() -> None:
    assert extract_answer("Answer: ** .").reason == "empty 'Answer:' line"


@pytest.mark.timeout(30)
def test_many_long_answer_lines_are_refused_in_linear_time() -> None:
    got = extract_answer(("Answer: 1" + " " * 1000 + "x\n") * 200)
    assert got.answer is None and got.reason == "answer of 1002 characters exceeds max_answer_chars=1000"


def test_the_last_of_many_answer_lines_wins() -> None:
    assert extract_answer("Answer: 12\n" * 50 + "Final answer: 13").answer == "13"


@pytest.mark.parametrize("text", [
    "<code>print(r'\\boxed{5}')</code>\n<interpreter>\n\\boxed{5}\n</interpreter>\nThat settles it.",
    "```python\nprint(5)\n```\n```output\n\\boxed{5}\n```\nThat settles it.",
    "<interpreter>\n\\boxed{5}\n",
])
def test_a_box_only_inside_native_tool_output_is_not_an_answer(text: str) -> None:
    assert extract_answer(text).answer is None


def test_the_answer_after_native_tool_output_is_read() -> None:
    text = "<code>print(2+3)</code>\n<interpreter>\n\\boxed{4}\n</interpreter>\nSo the answer is \\boxed{5}."
    assert extract_answer(text).answer == "5"


@pytest.mark.parametrize("text", ["So \\boxed{\\phantom{5}}.", "So \\boxed{\\color{white}5}."])
def test_a_box_of_invisible_content_gets_no_credit(text: str) -> None:
    assert extract_answer(text).answer is None


def test_a_box_hidden_in_invisible_content_is_not_the_answer() -> None:
    assert extract_answer("So \\boxed{41}\\phantom{\\boxed{42}}.").answer == "41"


@pytest.mark.parametrize("text,answer", [("So \\boxed 7.", "7"), ("So \\boxed\\pi", "\\pi"), ("So \\boxed x", "x")])
def test_a_box_with_a_one_token_argument_is_read(text: str, answer: str) -> None:
    assert extract_answer(text).answer == answer


def test_a_braced_box_after_a_bare_one_wins() -> None:
    assert extract_answer("First \\boxed 7, then \\boxed{8}.").answer == "8"


@pytest.mark.parametrize("text", ["Final Answer: The final answer is $7$. I hope it is correct.",
                                  "So.\nThe final answer is $7$. I hope it is correct."])
def test_the_minerva_answer_format_is_read(text: str) -> None:
    assert extract_answer(text).answer == "$7$"


def test_a_bare_box_before_more_digits_is_no_box() -> None:
    assert extract_answer("So \\boxed 12.").answer is None  # TeX boxes only the 1


@pytest.mark.parametrize("text", ["The answer is not \\boxed{5}.", "Is it \\boxed{5}?", "So \\boxed{5}. Actually, it is 6.",
                                  "<think>So \\boxed{5}.</think>\nI could not finish."])
def test_negated_questioned_retracted_or_thought_boxes_get_no_credit(text: str) -> None:
    assert extract_answer(text).answer is None


def test_the_answer_after_the_reasoning_is_read() -> None:
    assert extract_answer("<think>Maybe \\boxed{4}?</think>\nSo \\boxed{5}.").answer == "5"


@pytest.mark.parametrize("text", ["~~\\boxed{5}~~ So \\boxed{6}.", "\\cancel{\\boxed{5}} So \\boxed{6}.",
                                  "<span style=\"display:none\">\\boxed{5}</span> So \\boxed{6}."])
def test_a_struck_out_or_hidden_box_is_not_the_answer(text: str) -> None:
    assert extract_answer(text).answer == "6"


@pytest.mark.parametrize("text", ["It is approximately \\boxed{5}.", "It is roughly $\\boxed{5}$.", "It is $\\approx \\boxed{5}$."])
def test_an_approximate_box_gets_no_credit(text: str) -> None:
    assert extract_answer(text).answer is None


@pytest.mark.parametrize("text", ["So \\boxed{5}. I could be wrong.", "My best guess is \\boxed{5}.",
                                  "So \\boxed{5}, if I'm not mistaken.", "So \\boxed{5}. I am not sure."])
def test_doubt_near_or_after_the_box_gets_no_credit(text: str) -> None:
    assert extract_answer(text).answer is None


def test_a_negated_condition_is_not_doubt() -> None:
    assert extract_answer("Since x is not positive, the answer is \\boxed{5}.").answer == "5"


@pytest.mark.parametrize("tail", ["\n<code>print(5)</code>", "\n```python\nprint(5)\n```"])
def test_a_native_tool_call_after_the_box_leaves_no_answer(tail: str) -> None:
    assert extract_answer("So the answer is \\boxed{5}." + tail).answer is None


@pytest.mark.parametrize("after", ["nein, das ist falsch.", "C'est faux.", "Es incorrecto.", "Неверно.", "不对。", "いや、間違いです。"])
def test_a_retraction_in_another_language_takes_the_credit_away(after: str) -> None:
    assert extract_answer(f"So the answer is \\boxed{{64}}, {after}").answer is None


@pytest.mark.parametrize("after", ["ohne Fehler.", "sans erreur.", "como se espera.", "答案是这个。"])
def test_a_clean_ending_in_another_language_keeps_the_box(after: str) -> None:
    assert extract_answer(f"So the answer is \\boxed{{64}}, {after}").answer == "64"
