"""Answer-checking throughput: ours against math-verify on a DAPO/AIME-like mix, in the same run.

The mix is :func:`retool.answer.validate.benchmark_mix` over the shipped corpus (integer golds with their
hacks and near misses, plus fractions and a few exact expressions). Both checkers see the same
whole responses and are warmed first (our symbolic worker started, math-verify's imports done); each
case's time is its best over several passes, so preemption on a shared machine does not decide the
ratio. Target (issue 4): ours >= 10x math-verify's checks/s, asserted with ``--benchmark-enable``;
a plain CI run (benchmarks disabled, one pass) asserts only that ours is faster, so a loaded runner
cannot flake it. The time bound: with the pathological categories added, the p99 of our checks stays
under the symbolic deadline and no check runs past the deadline plus the worker's kill-and-replace.
"""

from __future__ import annotations


import pytest

from retool.answer.validate import corpus as validate
from retool.answer import AnswerConfig
from tests.capabilities import requires_math_verify

TARGET_RATIO = 10.0


@pytest.fixture(scope="module")
def corpus() -> tuple[validate.Case, ...]:
    return validate.load_corpus()


@pytest.fixture(scope="module")
def mix(corpus) -> tuple[validate.Case, ...]:
    cases = validate.benchmark_mix(corpus)
    validate.measure_latencies_s(validate.retool_checker, cases)  # starts our symbolic worker
    return cases


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


def _per_case_best_s(checker, cases, rounds: int) -> list[float]:
    """Each case's fastest time over ``rounds`` passes: robust to preemption on a shared machine."""
    passes = [validate.measure_latencies_s(checker, cases) for _ in range(rounds)]
    return [min(times) for times in zip(*passes)]


@requires_math_verify
def test_ours_checks_per_second_against_math_verify(benchmark, mix) -> None:
    validate.measure_latencies_s(validate.math_verify_checker, mix[:5])
    rounds = 1 if benchmark.disabled else 5
    ours_s = sum(_per_case_best_s(validate.retool_checker, mix, rounds))
    theirs_s = sum(_per_case_best_s(validate.math_verify_checker, mix, rounds))
    ours, theirs = len(mix) / ours_s, len(mix) / theirs_s
    ratio = ours / theirs
    benchmark.extra_info.update({"ours_checks_per_s": ours, "math_verify_checks_per_s": theirs, "ratio": ratio})
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)  # the figures travel in extra_info
    print(f"\nanswer checks/s on {len(mix)} cases: ours {ours:.1f}, math-verify {theirs:.1f}, ratio {ratio:.1f}x")
    floor = 1.0 if benchmark.disabled else TARGET_RATIO
    assert ratio >= floor, f"ours {ours:.1f}/s vs math-verify {theirs:.1f}/s: {ratio:.2f}x < {floor}x"


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
