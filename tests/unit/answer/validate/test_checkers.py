"""retool.answer.validate.checkers: the built-in checkers (``retool``, ``math-verify``,
``strict-box``) and ``load_checker`` (built-ins by name, ``pkg.mod:fn`` specs, ``ValueError`` with
the reason for anything else).

``retool`` must be exactly the reward's answer term and total on model-written text (hostile
responses give a boolean, never an exception); ``strict-box`` reads only the response's last 100
characters and compares strings.
"""

from __future__ import annotations

import time

import pytest

from retool.answer.validate import corpus as validate
from retool.answer.validate import load_checker, load_corpus
from retool.answer.validate.checkers import (BUILTIN_CHECKERS, math_verify_checker, math_verify_final_checker, retool_checker,
                                             strict_box_checker)
from tests.capabilities import missing_math_verify, requires_math_verify
from tests.unit.answer.validate.tiny_corpus import says_yes


TOOL_TURN = (
    "Let me compute.\n<tool_call>\n{\"name\": \"code_interpreter\", \"arguments\": {\"code\": \"print(6*7)\"}}\n"
    "</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n{output}\n</tool_response><|im_end|>\n"
    "<|im_start|>assistant\n"
)

def _after_tool(output: str) -> str:
    return TOOL_TURN.replace("{output}", output)


# ---- load_checker and the strict box (moved from test_corpus.py) --------------------------------


def test_load_checker_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="neither a built-in"):
        load_checker("nonsense")
    with pytest.raises(ValueError, match="cannot import module 'no_such_pkg_xyz.mod'"):
        load_checker("no_such_pkg_xyz.mod:fn")
    with pytest.raises(ValueError, match="has no attribute 'missing'"):
        load_checker("retool.answer.validate:missing")
    with pytest.raises(ValueError, match="not callable"):
        load_checker("retool.answer.validate:BUILTIN_CHECKERS")
    assert load_checker("tests.unit.answer.validate.tiny_corpus:says_yes") is says_yes


def test_strict_box_reads_only_the_tail_and_compares_strings() -> None:
    assert validate.strict_box_checker("so $\\boxed{\\frac{1}{2}}$", "\\frac{1}{2}")
    assert not validate.strict_box_checker("so $\\boxed{\\dfrac{1}{2}}$", "\\frac{1}{2}")
    assert not validate.strict_box_checker("$\\boxed{7}$" + " filler" * 30, "7")


def test_our_checker_is_exactly_the_rewards_answer_term() -> None:
    from retool.reward import score

    cases = load_corpus()[::10]  # a spread over the categories
    assert [validate.retool_checker(c.response, c.gold) for c in cases] == [score(c.response, c.gold).correct for c in cases]


# ---- load_checker -------------------------------------------------------------------------------


def test_every_builtin_name_resolves_to_its_checker() -> None:
    wanted = {"retool": retool_checker, "math-verify": math_verify_checker,
              "math-verify-final": math_verify_final_checker, "strict-box": strict_box_checker}
    names = [n for n in BUILTIN_CHECKERS if not n.startswith("math-verify") or missing_math_verify() is None]
    assert set(BUILTIN_CHECKERS) == set(wanted)
    assert all(load_checker(name) is wanted[name] for name in names)


def test_a_malformed_spec_is_rejected_naming_the_expected_form() -> None:
    with pytest.raises(ValueError, match="pkg.mod:fn"):
        load_checker("retool.answer.validate:")


# ---- strict box ---------------------------------------------------------------------------------


def test_strict_box_strips_whitespace_around_both_sides() -> None:
    assert strict_box_checker("so \\boxed{ 7 }\n", " 7")


def test_strict_box_reads_nested_braces_of_the_last_box() -> None:
    assert strict_box_checker("\\boxed{1} then \\boxed{\\frac{\\sqrt{2}}{2}}", "\\frac{\\sqrt{2}}{2}")


def test_strict_box_uses_the_last_box_only() -> None:
    assert not strict_box_checker("\\boxed{7} no wait \\boxed{8}", "7")


@pytest.mark.parametrize("response", ["\\boxed{7", "\\boxed 7", "the answer is 7", "", "\\boxed{7}}" + "{" * 5 + "\\boxed{"])
def test_strict_box_gives_no_credit_without_a_closed_last_box(response: str) -> None:
    assert strict_box_checker(response, "7") is False


# ---- ours ---------------------------------------------------------------------------------------


def test_ours_credits_an_equal_spelling_after_the_last_tool_response() -> None:
    assert retool_checker(_after_tool("1234") + "So the answer is $\\boxed{1{,}234}$.", "1234") is True


def test_ours_gives_no_credit_for_a_box_printed_by_the_tool() -> None:
    assert retool_checker(_after_tool("\\boxed{42}") + "Done.", "42") is False


def test_ours_gives_no_credit_for_a_hedged_answer() -> None:
    assert retool_checker("It is \\boxed{42} or maybe \\boxed{43}.", "42") is False


def test_ours_gives_no_credit_for_an_unequal_answer() -> None:
    assert retool_checker("Thus \\boxed{\\frac{1}{3}}.", "0.5") is False


@pytest.mark.parametrize("response", [
    "\\boxed{" + "9" * 100_000 + "}",  # a huge digit run
    "\\boxed{" + "{" * 500 + "1" + "}" * 500 + "}",  # deep nesting
    "}" * 5000 + "\\boxed{5}}}{{",  # unbalanced braces around the box
    "\x00\\boxed{\x00}\x00",  # NUL bytes
    "x" * 2_000_000,  # a very long response
    "\\boxed{\ud800}",  # a lone surrogate
])
def test_ours_answers_hostile_responses_with_a_boolean(response: str) -> None:
    assert retool_checker(response, "5") in (True, False)


def test_ours_answers_a_flood_of_unclosed_boxes_in_linear_time() -> None:
    response = "\\boxed{" * 1200  # 8.4 kB: linear work takes well under a millisecond
    start = time.perf_counter()
    assert retool_checker(response, "5") is False
    assert time.perf_counter() - start < 0.1


# ---- math-verify as users run it ----------------------------------------------------------------


@requires_math_verify
def test_math_verify_credits_an_equal_value_in_the_response() -> None:
    assert math_verify_checker("so $\\boxed{\\frac{1}{2}}$", "0.5") is True


@requires_math_verify
def test_math_verify_rejects_an_unequal_value() -> None:
    assert math_verify_checker("so $\\boxed{\\frac{1}{3}}$", "0.5") is False
