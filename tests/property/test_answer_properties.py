"""Properties of check_answer: reflexive on canonical forms, never equates distinct numbers, total."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from retool.answer import AnswerConfig, Verdict, check_answer, compare
from retool.answer.extract import extract_answer
from retool.answer.worker import AnswerChecker
from tests.strategies.answers import (
    fraction_spelling,
    integer_spelling,
    latex_noise,
    spelled_fractions,
    spelled_integers,
    styles,
)

FAST = AnswerConfig(symbolic=False)


@pytest.fixture(scope="module")
def checker():
    with AnswerChecker() as c:
        yield c


@given(spelled_integers())
def test_every_integer_spelling_equals_the_canonical_integer(case: tuple[int, str]) -> None:
    n, text = case
    assert check_answer(text, str(n), config=FAST), text


@given(spelled_integers())
def test_integer_spellings_are_reflexive(case: tuple[int, str]) -> None:
    _, text = case
    assert check_answer(text, text, config=FAST)


@given(st.integers(-10**30, 10**30), st.integers(-10**30, 10**30), styles, styles)
def test_distinct_integers_are_never_equal_in_any_spelling(a: int, b: int, sa: int, sb: int) -> None:
    assume(a != b)
    assert not check_answer(integer_spelling(a, sa), integer_spelling(b, sb), config=FAST)


@given(st.integers(-50, 50), st.integers(1, 5), styles, styles)
def test_nearby_integers_are_never_equal(a: int, delta: int, sa: int, sb: int) -> None:
    assert not check_answer(integer_spelling(a, sa), integer_spelling(a + delta, sb), config=FAST)


@given(spelled_fractions())
def test_every_fraction_spelling_equals_the_canonical_fraction(case: tuple[Fraction, str]) -> None:
    q, text = case
    assert check_answer(text, f"\\frac{{{q.numerator}}}{{{q.denominator}}}", config=FAST), text


@given(spelled_fractions(), spelled_fractions())
def test_distinct_fractions_are_never_equal(x: tuple[Fraction, str], y: tuple[Fraction, str]) -> None:
    assume(x[0] != y[0])
    assert not check_answer(x[1], y[1], config=FAST)


@given(st.lists(st.integers(-99, 99), min_size=1, max_size=5), styles)
def test_tuples_and_sets_are_reflexive(items: list[int], style: int) -> None:
    spelled = ", ".join(fraction_spelling(Fraction(i, 1), style + k) for k, i in enumerate(items))
    for text in (f"({spelled})", f"[{spelled}]", f"\\{{{spelled}\\}}"):
        assert check_answer(text, text.replace(" ", ""), config=FAST), text


@given(st.lists(st.integers(-99, 99), min_size=2, max_size=5, unique=True))
def test_sets_ignore_order_and_tuples_do_not(items: list[int]) -> None:
    forward, backward = ", ".join(map(str, items)), ", ".join(map(str, reversed(items)))
    assert check_answer(f"\\{{{backward}\\}}", f"\\{{{forward}\\}}", config=FAST)
    assert not check_answer(f"({backward})", f"({forward})", config=FAST)


@given(st.integers(0, 10**6), st.integers(1, 9))
def test_truncated_decimals_never_equal_thirds(n: int, places: int) -> None:
    q = Fraction(3 * n + 1, 3)
    decimal = f"{int(q)}.{str((q - int(q)) * 10**places // 1).split('/')[0].rjust(places, '0')}"
    assert not check_answer(decimal, f"\\frac{{{q.numerator}}}{{3}}", config=FAST)


@given(latex_noise(), latex_noise())
def test_fast_path_is_total_on_arbitrary_text(pred: str, gold: str) -> None:
    verdict = compare(pred, gold, FAST)
    assert isinstance(verdict, Verdict) and verdict.method != "error", verdict


@pytest.mark.slow
@given(pred=latex_noise(), gold=st.sampled_from(["42", "\\frac{1}{2}", "\\sqrt{2}", "(1, 2)", "x + 1"]))
def test_full_check_is_total_and_bounded_on_arbitrary_text(pred: str, gold: str, checker: AnswerChecker) -> None:
    config = AnswerConfig(timeout_s=2.0)
    start = time.perf_counter()
    verdict = compare(pred, gold, config, checker=checker)
    assert isinstance(verdict, Verdict) and verdict.method != "error", verdict
    assert time.perf_counter() - start < config.timeout_s + 15.0  # deadline + a worker restart on a loaded host


@given(st.text(max_size=300))
def test_extraction_is_total_on_arbitrary_text(text: str) -> None:
    got = extract_answer(text)
    assert got.answer is None or got.source in ("boxed", "answer_line")


@given(spelled_integers(), st.sampled_from([0, 0, 0, 1, -1, 10, -1000]))
def test_reward_credits_an_integer_answer_exactly_when_it_equals_the_label(case: tuple[int, str], delta: int) -> None:
    from retool.reward import score

    n, text = case
    label = n + delta
    got = score(f"Computing carefully, the result is $\\boxed{{{text}}}$.", str(label))
    assert got.correct == (n == label) and got.r_ans == (1.0 if n == label else 0.0)


_SMALL = st.fractions(min_value=-20, max_value=20, max_denominator=12)


@given(st.lists(st.tuples(st.sampled_from([1, 2, 3, 5, 6, 7, 10]), _SMALL), min_size=1, max_size=4),
       st.lists(st.tuples(st.sampled_from([1, 2, 3, 5, 6, 7, 10]), _SMALL), min_size=1, max_size=4))
def test_surd_arithmetic_agrees_with_floats(xs: list[tuple[int, Fraction]], ys: list[tuple[int, Fraction]]) -> None:
    from retool.answer.surds import sqrt_rational, surd_arith

    def build(terms: list[tuple[int, Fraction]]):
        value = Fraction(0)
        for n, c in terms:
            value = surd_arith(value, surd_arith(c, sqrt_rational(Fraction(n)), "*"), "+")
        return value

    a, b = build(xs), build(ys)
    fa, fb = float(a), float(b)
    for op, expected in (("+", fa + fb), ("-", fa - fb), ("*", fa * fb)):
        assert float(surd_arith(a, b, op)) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    if b != 0:
        assert float(surd_arith(surd_arith(a, b, "/"), b, "*")) == pytest.approx(fa, rel=1e-9, abs=1e-9)


@given(st.lists(st.tuples(_SMALL, st.integers(0, 3), st.integers(0, 2)), min_size=1, max_size=5), st.permutations(range(5)))
def test_a_polynomial_equals_itself_written_in_any_term_order(terms: list[tuple[Fraction, int, int]], order: list[int]) -> None:
    def term(c: Fraction, i: int, j: int) -> str:
        return f"({c.numerator}/{c.denominator})x^{i}y^{j}"

    texts = [term(*t) for t in terms]
    shuffled = [texts[k] for k in order if k < len(texts)]
    assert check_answer(" + ".join(texts), " + ".join(shuffled), config=FAST)


@given(st.text(alphabet=st.sampled_from(list("<>/`~-!interpretcodeoutput{}\\boxed phantom\n")), max_size=3000))
def test_own_text_is_total_and_no_longer_than_the_text(text: str) -> None:
    from retool.text.regions import own_text

    own, cut = own_text(text)
    assert isinstance(own, str) and 0 <= cut <= len(text) and len(own) <= len(text) - cut
