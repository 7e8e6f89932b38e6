"""The regression gate (retool.harness.bench.gate): compare(), the tables and parse_fraction.

The results file and its readers are tested in test_results.py; the ``retool bench`` command in
tests/unit/cli/test_bench.py.
"""

from __future__ import annotations

import pytest

from retool.harness import bench

MACHINE = {"cpu_count": 2, "platform": "Linux", "python": "3.11.7", "torch": "2.13.0", "cuda_device": None}


def _entry(name: str, ratio: float, *, higher_is_better: bool = True, group: str = "parser") -> dict:
    return {"name": name, "group": group, "value": ratio * 10.0, "unit": "MB/s", "baseline": 10.0,
            "ratio": ratio, "higher_is_better": higher_is_better}


def _results(*entries: dict) -> bench.Results:
    return bench.results_from_dict({"machine": MACHINE, "created": "2026-11-25T00:00:00+00:00",
                                    "results": list(entries)}, "test")


def test_compare_flags_a_throughput_ratio_that_fell_beyond_the_threshold() -> None:
    c = bench.compare(_results(_entry("parse", 10.0)), _results(_entry("parse", 8.5)), max_regression=0.10)
    assert [x.name for x in c.regressions] == ["parse"]
    assert c.changes[0].change == pytest.approx(-0.15)
    assert not c.ok


def test_compare_passes_a_drop_within_the_threshold() -> None:
    c = bench.compare(_results(_entry("parse", 10.0)), _results(_entry("parse", 9.1)), max_regression=0.10)
    assert c.regressions == () and c.ok


def test_compare_treats_a_rising_latency_ratio_as_the_regression() -> None:
    old = _results(_entry("p99", 0.5, higher_is_better=False))
    assert bench.compare(old, _results(_entry("p99", 0.6, higher_is_better=False))).regressions
    assert bench.compare(old, _results(_entry("p99", 0.3, higher_is_better=False))).ok


def test_compare_reports_missing_and_new_benchmarks() -> None:
    c = bench.compare(_results(_entry("a", 2.0), _entry("b", 3.0)), _results(_entry("a", 2.0), _entry("c", 1.0)))
    assert c.missing == ("b",) and c.added == ("c",)
    assert not c.ok  # a benchmark that vanished does not pass silently
    text = bench.format_comparison(c)
    assert "MISSING" in text and "new (no old figure" in text and "FAIL" in text


def test_format_comparison_names_the_regressed_benchmark() -> None:
    text = bench.format_comparison(bench.compare(_results(_entry("mask", 4.0)), _results(_entry("mask", 2.0))))
    line = next(line for line in text.splitlines() if line.startswith("mask"))
    assert "REGRESSED" in line and "-50.0%" in line


@pytest.mark.parametrize(("text", "expected"), [("10%", 0.10), ("0.1", 0.1), (" 5 % ", 0.05), ("0", 0.0)])
def test_parse_fraction_accepts_percent_and_fraction(text: str, expected: float) -> None:
    assert bench.parse_fraction(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["ten", "150%", "-1%", "1.0", ""])
def test_parse_fraction_rejects_nonsense_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match="max regression"):
        bench.parse_fraction(text)


def test_a_group_threshold_loosens_only_that_group() -> None:
    old = _results(_entry("sb", 10.0, group="sandbox"), _entry("parse", 10.0))
    new = _results(_entry("sb", 7.0, group="sandbox"), _entry("parse", 7.0))
    c = bench.compare(old, new, max_regression=0.10, group_max_regression={"sandbox": 0.5})
    assert [x.name for x in c.regressions] == ["parse"]
    assert "[group threshold 50%]" in bench.format_comparison(c)


# -- further contract points -----------------------------------------------------------------------


def test_an_improvement_has_a_positive_change_in_either_direction() -> None:
    faster = bench.compare(_results(_entry("t", 2.0)), _results(_entry("t", 3.0))).changes[0]
    lower = bench.compare(_results(_entry("l", 0.5, higher_is_better=False)),
                          _results(_entry("l", 0.25, higher_is_better=False))).changes[0]
    assert faster.change == pytest.approx(0.5) and lower.change == pytest.approx(1.0)


def test_a_drop_exactly_at_the_threshold_passes() -> None:
    assert bench.compare(_results(_entry("p", 10.0)), _results(_entry("p", 9.0)), max_regression=0.10).ok


@pytest.mark.parametrize("bad", [1.0, -0.1])
def test_compare_refuses_a_threshold_outside_zero_to_one(bad: float) -> None:
    with pytest.raises(ValueError, match=rf"max_regression: max regression must be a fraction in \[0, 1\), got {bad}"):
        bench.compare(_results(_entry("p", 1.0)), _results(_entry("p", 1.0)), max_regression=bad)


def test_compare_refuses_a_group_threshold_outside_zero_to_one_naming_the_group() -> None:
    with pytest.raises(ValueError, match=r"sandbox: max regression must be a fraction"):
        bench.compare(_results(_entry("p", 1.0)), _results(_entry("p", 1.0)), group_max_regression={"sandbox": 2.0})


def test_format_comparison_passes_with_the_machines_named() -> None:
    text = bench.format_comparison(bench.compare(_results(_entry("p", 1.0)), _results(_entry("p", 1.0))))
    assert text.splitlines()[0] == "old: 2 CPUs, Linux, Python 3.11.7, torch 2.13.0, GPU none"
    assert text.splitlines()[-1].startswith("PASS: 1 benchmarks within their threshold (10%")


def test_format_results_has_one_row_per_benchmark_with_its_ratio() -> None:
    results = _results(_entry("parse", 4.0), {"name": "p99", "group": "sandbox", "ratio": 0.5, "higher_is_better": False})
    rows = bench.format_results(results).splitlines()[3:]
    assert [row.split()[:2] for row in rows] == [["parser", "parse"], ["sandbox", "p99"]]
    assert "4x" in rows[0] and rows[1].split()[2:4] == ["-", "-"] and rows[1].endswith("(lower is better)")


# -- group ceilings and error results (the adversarial group) -----------------------------------------


def _adv(name: str, ratio: float) -> dict:
    return _entry(name, ratio, higher_is_better=False, group="adversarial")


def _err(name: str) -> dict:
    return {"name": name, "group": "adversarial", "unit": "us/KB", "ratio": None, "higher_is_better": False,
            "error": "RecursionError: maximum recursion depth exceeded"}


FIVE = {"adversarial": 5.0}


def test_the_adversarial_group_is_held_to_150_times_typical_by_default() -> None:
    assert bench.DEFAULT_CEILINGS == {"adversarial": 150.0}
    assert not bench.compare(_results(_adv("a", 20.0)), _results(_adv("a", 1000.0))).ok  # a quadratic reader
    assert bench.compare(_results(_adv("a", 20.0)), _results(_adv("a", 150.0))).ok


def test_a_group_is_held_to_its_ceiling_even_when_it_improved() -> None:
    c = bench.compare(_results(_adv("a", 7.0)), _results(_adv("a", 6.0)), ceilings=FIVE)  # better, still over
    assert not c.ok and [b.name for b in c.breaches] == ["a"] and c.regressions == ()
    assert "OVER CEILING: 6x is above the group ceiling 5x" in bench.format_comparison(c)
    assert bench.compare(_results(_adv("a", 7.0)), _results(_adv("a", 5.0)), ceilings=FIVE).ok  # at it passes


def test_a_new_result_over_its_ceiling_fails_without_an_old_figure() -> None:
    c = bench.compare(_results(_entry("p", 1.0)), _results(_entry("p", 1.0), _adv("new_case", 40.0)), ceilings=FIVE)
    assert c.added == ("new_case",) and [b.name for b in c.breaches] == ["new_case"] and not c.ok
    line = next(line for line in bench.format_comparison(c).splitlines() if line.startswith("new_case"))
    assert "OVER CEILING: 40x" in line
    assert bench.format_comparison(c).splitlines()[-1] == "FAIL: 1 over their group ceiling"


def test_within_its_ceiling_the_group_ignores_relative_noise_unless_a_group_threshold_is_given() -> None:
    old, new = _results(_adv("a", 1.0)), _results(_adv("a", 3.0))  # three times worse, within 5x
    assert bench.compare(old, new, max_regression=0.10, ceilings=FIVE).ok
    c = bench.compare(old, new, group_max_regression={"adversarial": 0.5}, ceilings=FIVE)
    assert [x.name for x in c.regressions] == ["a"] and not c.ok


def test_an_error_result_in_the_new_file_fails_the_gate_naming_the_error() -> None:
    c = bench.compare(_results(_adv("a", 1.0), _entry("p", 1.0)), _results(_err("a"), _entry("p", 1.0)))
    assert not c.ok and c.missing == () and [(b.name, b.error is not None) for b in c.breaches] == [("a", True)]
    assert [x.name for x in c.changes] == ["p"]  # no relative change for a pair with an error side
    text = bench.format_comparison(c)
    assert "ERROR: RecursionError: maximum recursion depth exceeded" in text
    assert text.splitlines()[-1] == "FAIL: 1 error results"


def test_an_error_result_fails_even_in_a_group_without_a_ceiling() -> None:
    entry = {**_err("e"), "group": "parser"}
    assert not bench.compare(_results(entry), _results(entry), ceilings={}).ok


def test_an_old_error_that_now_measures_within_the_ceiling_passes() -> None:
    c = bench.compare(_results(_err("a")), _results(_adv("a", 2.0)))
    assert c.ok and c.changes == ()


def test_no_ceilings_leaves_only_the_relative_rule() -> None:
    assert bench.compare(_results(_adv("a", 40.0)), _results(_adv("a", 40.0)), ceilings={}).ok


def test_a_custom_ceiling_applies_to_its_group_and_a_floor_to_a_throughput_group() -> None:
    assert not bench.compare(_results(_adv("a", 3.0)), _results(_adv("a", 3.0)), ceilings={"adversarial": 2.0}).ok
    c = bench.compare(_results(_entry("t", 0.5)), _results(_entry("t", 0.5)), ceilings={"parser": 0.8})
    assert [b.name for b in c.breaches] == ["t"] and "below the group ceiling 0.8x" in c.breaches[0].reason


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
def test_a_ceiling_must_be_a_finite_positive_ratio(bad: float) -> None:
    with pytest.raises(ValueError, match="adversarial: a ceiling must be a finite ratio > 0"):
        bench.compare(_results(_adv("a", 1.0)), _results(_adv("a", 1.0)), ceilings={"adversarial": bad})


def test_format_results_shows_an_error_row_with_its_reason() -> None:
    rows = bench.format_results(_results(_adv("a", 2.0), _err("b"))).splitlines()[3:]
    assert "2x" in rows[0]
    assert rows[1].split()[:5] == ["adversarial", "b", "-", "-", "ERROR"]
    assert rows[1].endswith("RecursionError: maximum recursion depth exceeded")
