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
