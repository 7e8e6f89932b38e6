"""Answer-checking speed: ours against math-verify on two mixes, in the same run, with cold caches.

Mixes (from the dev split): :func:`retool.answer.validate.benchmark_mix` (DAPO/AIME-like: integer
golds with their hacks and near misses, a minority of fractions and expressions) and
:func:`retool.answer.validate.symbolic_mix` (symbolic-heavy: fractions, radicals, pi, intervals,
tuples, sets, matrices, expressions, equations). Both checkers see the same whole responses and are
called as their users call them (math-verify as verl and open-r1 do: ``parse("\\boxed{" + gold +
"}")``, ``parse(response)``, ``verify(gold, pred)``).

Fairness: every round starts cold for both: ours with a fresh answer worker (its parse cache empty;
sympy's lazy imports warmed at start-up, outside any check), math-verify after
``sympy.core.cache.clear_cache()``; both are warmed once on other cases first (imports done). Each
case's time is its best over the rounds, so preemption on a shared machine does not decide the
ratio, and no round is served from a cache filled by an earlier one.

Targets (issue 18), asserted with ``--benchmark-enable``: ours >= 10x math-verify's checks/s on the
DAPO-like mix and >= 5x on the symbolic-heavy mix, our p99 on the symbolic-heavy mix under 50 ms. A
plain CI run (benchmarks disabled, one round) asserts only that ours is faster and the p99 under the
symbolic deadline, so a loaded runner cannot flake it. The time bound: with the pathological
categories added, the p99 of our checks stays under the symbolic deadline and no check runs past
the deadline plus the worker's kill-and-replace.
"""

from __future__ import annotations

import pytest

from retool.answer import AnswerChecker, AnswerConfig, check_answer, extract_answer
from retool.answer.validate import corpus as validate
from tests.capabilities import requires_math_verify

DAPO_TARGET_RATIO = 10.0
SYMBOLIC_TARGET_RATIO = 5.0
SYMBOLIC_P99_TARGET_S = 0.050


@pytest.fixture(scope="module")
def corpus() -> tuple[validate.Case, ...]:
    return validate.load_corpus()


@pytest.fixture(scope="module")
def mix(corpus) -> tuple[validate.Case, ...]:
    cases = validate.benchmark_mix(corpus)
    validate.measure_latencies_s(validate.retool_checker, cases)  # starts our symbolic worker
    return cases


@pytest.fixture(scope="module")
def symbolic(corpus) -> tuple[validate.Case, ...]:
    return validate.symbolic_mix(corpus)


def _check_all(checker, cases) -> int:
    return sum(bool(checker(c.response, c.gold)) for c in cases)


def test_bench_ours_on_dapo_like_mix(benchmark, mix) -> None:
    benchmark.extra_info["cases"] = len(mix)
    correct = benchmark.pedantic(_check_all, args=(validate.retool_checker, mix), rounds=3, iterations=1)
    assert 0 < correct < len(mix)  # the mix holds both credited and rejected responses


@requires_math_verify
def test_bench_math_verify_on_dapo_like_mix(benchmark, mix) -> None:
    validate.measure_latencies_s(validate.math_verify_checker, mix[:5])
    benchmark.extra_info["cases"] = len(mix)
    benchmark.pedantic(_check_all, args=(validate.math_verify_checker, mix), rounds=3, iterations=1)


def _cold_rounds_s(cases, rounds: int, warm) -> tuple[list[float], list[float]]:
    """Per-case best times over ``rounds`` cold rounds: (ours, math-verify)."""
    from sympy.core.cache import clear_cache

    ours_passes, theirs_passes = [], []
    validate.measure_latencies_s(validate.math_verify_checker, warm)
    for _ in range(rounds):
        with AnswerChecker() as checker:  # a fresh worker: nothing cached from an earlier round
            def ours(response: str, gold: str) -> bool:
                extraction = extract_answer(response)
                return extraction.answer is not None and check_answer(extraction.answer, gold, checker=checker)

            validate.measure_latencies_s(ours, warm)  # starts the worker (outside the timing)
            ours_passes.append(validate.measure_latencies_s(ours, cases))
        clear_cache()
        theirs_passes.append(validate.measure_latencies_s(validate.math_verify_checker, cases))
    return [min(t) for t in zip(*ours_passes)], [min(t) for t in zip(*theirs_passes)]


_WARM = tuple(validate.Case(id=f"warm-{i}", category="warm", response=f"So the answer is $\\boxed{{{pred}}}$.", gold=gold,
                            expected=True) for i, (pred, gold) in enumerate([
    ("\\frac{3}{7}", "\\frac{6}{14}"), ("y = 4x - 1", "4x - 1 = y"), ("\\sqrt[3]{5}", "5^{1/3}"), ("(1, 9]", "(1, 9]"),
    ("t^2 - 1", "(t-1)(t+1)"), ("\\log_3 7", "\\frac{\\ln 7}{\\ln 3}")]))


def _p99(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[max(0, int(0.99 * len(ordered) + 0.999999) - 1)]


@requires_math_verify
@pytest.mark.parametrize("name", ["dapo_like", "symbolic_heavy"])
def test_ours_checks_per_second_against_math_verify(benchmark, corpus, name) -> None:
    cases = validate.benchmark_mix(corpus) if name == "dapo_like" else validate.symbolic_mix(corpus)
    warm = _WARM  # not in either mix
    rounds = 1 if benchmark.disabled else 5
    ours_s, theirs_s = _cold_rounds_s(cases, rounds, warm)
    ours, theirs = len(cases) / sum(ours_s), len(cases) / sum(theirs_s)
    ratio, p99 = ours / theirs, _p99(ours_s)
    benchmark.extra_info.update({"mix": name, "cases": len(cases), "ours_checks_per_s": ours,
                                 "math_verify_checks_per_s": theirs, "ratio": ratio, "ours_p99_s": p99,
                                 "math_verify_p99_s": _p99(theirs_s)})
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)  # the figures travel in extra_info
    print(f"\n{name}: {len(cases)} cases, checks/s ours {ours:.1f}, math-verify {theirs:.1f}, ratio {ratio:.1f}x; "
          f"p99 ours {p99 * 1e3:.1f} ms, math-verify {_p99(theirs_s) * 1e3:.1f} ms")
    target = DAPO_TARGET_RATIO if name == "dapo_like" else SYMBOLIC_TARGET_RATIO
    floor = 1.0 if benchmark.disabled else target
    assert ratio >= floor, f"{name}: ours {ours:.1f}/s vs math-verify {theirs:.1f}/s: {ratio:.2f}x < {floor}x"
    if name == "symbolic_heavy":
        ceiling = AnswerConfig().timeout_s if benchmark.disabled else SYMBOLIC_P99_TARGET_S
        assert p99 <= ceiling, f"symbolic-heavy p99 {p99 * 1e3:.1f} ms over {ceiling * 1e3:.0f} ms"


def test_our_latency_is_bounded_by_the_hard_time_limit(benchmark, corpus, mix) -> None:
    pathological = tuple(c for c in corpus if c.category in ("power_tower", "huge_output"))
    cases = mix + pathological
    latencies = sorted(validate.measure_latencies_s(validate.retool_checker, cases))
    p99 = latencies[max(0, int(0.99 * len(latencies)) - 1)]
    limit_s = AnswerConfig().timeout_s
    benchmark.extra_info.update({"p99_s": p99, "max_s": latencies[-1], "limit_s": limit_s})
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    assert p99 <= limit_s, f"p99 {p99:.3f} s over the {limit_s} s limit"
    assert latencies[-1] <= limit_s + 5.0, f"max {latencies[-1]:.3f} s: the deadline did not hold"
