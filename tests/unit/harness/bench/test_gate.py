"""The regression gate: results format, compare(), the pytest-benchmark converter, the CLI's exit codes."""

from __future__ import annotations

import json

import pytest

from retool.harness import bench
from retool.cli import main

MACHINE = {"cpu_count": 2, "platform": "Linux", "python": "3.11.7", "torch": "2.13.0", "cuda_device": None}


def _entry(name: str, ratio: float, *, higher_is_better: bool = True, group: str = "parser") -> dict:
    return {"name": name, "group": group, "value": ratio * 10.0, "unit": "MB/s", "baseline": 10.0,
            "ratio": ratio, "higher_is_better": higher_is_better}


def _results(*entries: dict) -> bench.Results:
    return bench.results_from_dict({"machine": MACHINE, "created": "2026-11-25T00:00:00+00:00",
                                    "results": list(entries)}, "test")


def _write(tmp_path, name: str, data) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return str(path)


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


def test_load_results_round_trips_a_saved_file(tmp_path) -> None:
    results = bench.make_results([bench.make_result(name="x", group="g", value=6.0, baseline=2.0, unit="tok/s")],
                                 machine=MACHINE)
    loaded = bench.load_results(bench.save_results(results, tmp_path / "r.json"))
    assert loaded.results == results.results and loaded.results[0].ratio == 3.0
    assert set(loaded.machine) == {"cpu_count", "platform", "python", "torch", "cuda_device"}


def test_load_error_names_the_file_and_the_entry(tmp_path) -> None:
    path = _write(tmp_path, "bad.json", {"machine": {}, "results": [_entry("ok", 1.0), {"name": "broken", "ratio": "fast"}]})
    with pytest.raises(ValueError, match=r"bad\.json: results\[1\] \('broken'\): 'ratio'"):
        bench.load_results(path)


def test_load_error_names_the_file_on_invalid_json(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"trunc\.json: not valid JSON"):
        bench.load_results(_write(tmp_path, "trunc.json", '{"results": ['))


def test_load_error_names_a_missing_file(tmp_path) -> None:
    with pytest.raises(ValueError, match="nowhere.json: cannot read"):
        bench.load_results(tmp_path / "nowhere.json")


def test_load_rejects_a_repeated_benchmark_name(tmp_path) -> None:
    with pytest.raises(ValueError, match="'dup' appears twice"):
        bench.load_results(_write(tmp_path, "d.json", {"results": [_entry("dup", 1.0), _entry("dup", 2.0)]}))


def test_make_result_refuses_a_zero_baseline() -> None:
    with pytest.raises(ValueError, match="baseline must be a finite number > 0, got 0"):
        bench.make_result(name="x", group="g", value=1.0, baseline=0.0, unit="/s")


def _pytest_benchmark_json() -> dict:
    stats = {"min": 0.01, "max": 0.02, "mean": 0.015, "rounds": 5}
    return {
        "machine_info": {"python_version": "3.11.7", "system": "Linux", "release": "6.18", "cpu": {"count": 2}},
        "datetime": "2026-11-25T19:00:00", "version": "5.3.1",
        "benchmarks": [
            {"group": None, "name": "test_parser_ratio", "fullname": "benchmarks/bench_grammar.py::test_parser_ratio",
             "stats": stats, "extra_info": {"ratio": 4.0, "value": 40.0, "baseline": 10.0, "unit": "MB/s"}},
            {"group": "sandbox", "name": "test_p99", "fullname": "benchmarks/bench_sandbox.py::test_p99",
             "stats": stats, "extra_info": {"ratio": 0.2, "higher_is_better": False}},
            {"group": None, "name": "test_raw_timing", "fullname": "benchmarks/bench_x.py::test_raw_timing",
             "stats": stats, "extra_info": {}},
        ],
    }


def test_from_pytest_benchmark_reads_ratios_from_extra_info(tmp_path) -> None:
    results = bench.from_pytest_benchmark(_write(tmp_path, "pb.json", _pytest_benchmark_json()))
    by = {r.name: r for r in results.results}
    assert set(by) == {"test_parser_ratio", "test_p99"}
    assert by["test_parser_ratio"] == bench.BenchResult(name="test_parser_ratio", group="bench_grammar", value=40.0,
                                                       unit="MB/s", baseline=10.0, ratio=4.0, higher_is_better=True)
    assert by["test_p99"].group == "sandbox" and by["test_p99"].higher_is_better is False and by["test_p99"].value is None
    assert results.ungated == ("test_raw_timing",)
    assert results.machine["cpu_count"] == 2


def test_load_results_accepts_a_pytest_benchmark_file(tmp_path) -> None:
    path = _write(tmp_path, "pb.json", _pytest_benchmark_json())
    assert bench.load_results(path).results == bench.from_pytest_benchmark(path).results


def test_from_pytest_benchmark_error_names_the_entry(tmp_path) -> None:
    data = _pytest_benchmark_json()
    data["benchmarks"][0]["extra_info"]["ratio"] = -1.0
    with pytest.raises(ValueError, match=r"pb\.json: benchmarks\[0\] \('test_parser_ratio'\): 'ratio' must be > 0"):
        bench.from_pytest_benchmark(_write(tmp_path, "pb.json", data))


def _files(tmp_path, old_ratio: float, new_ratio: float) -> tuple[str, str]:
    doc = lambda r: {"machine": MACHINE, "created": "", "results": [_entry("parse", r)]}  # noqa: E731
    return _write(tmp_path, "old.json", doc(old_ratio)), _write(tmp_path, "new.json", doc(new_ratio))


def test_cli_compare_exits_1_on_a_regression(tmp_path, capsys) -> None:
    old, new = _files(tmp_path, 10.0, 8.0)
    assert main(["bench", "compare", old, new, "--max-regression", "10%"]) == 1
    assert "REGRESSED" in capsys.readouterr().out


def test_cli_compare_exits_0_within_the_threshold(tmp_path, capsys) -> None:
    old, new = _files(tmp_path, 10.0, 8.0)
    assert main(["bench", "compare", old, new, "--max-regression", "0.25"]) == 0
    assert "PASS" in capsys.readouterr().out


def test_cli_compare_exits_2_on_an_unreadable_file(tmp_path, capsys) -> None:
    old, _ = _files(tmp_path, 1.0, 1.0)
    assert main(["bench", "compare", old, str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err


def test_cli_compare_missing_benchmark_fails_unless_allowed(tmp_path) -> None:
    old = _write(tmp_path, "old.json", {"results": [_entry("a", 1.0), _entry("gpu_only", 1.0)]})
    new = _write(tmp_path, "new.json", {"results": [_entry("a", 1.0)]})
    assert main(["bench", "compare", old, new]) == 1
    assert main(["bench", "compare", old, new, "--allow-missing"]) == 0


def test_cli_run_writes_a_results_file_the_gate_reads(tmp_path, capsys) -> None:
    path = tmp_path / "run.json"
    assert main(["bench", "run", "--quick", "--only", "parser", "--json", str(path)]) == 0
    (result,) = bench.load_results(path).results
    assert result.name == "parser_mb_per_s" and result.ratio == pytest.approx(result.value / result.baseline)
    assert "parser_mb_per_s" in capsys.readouterr().out
    assert main(["bench", "compare", str(path), str(path)]) == 0


def test_cli_rejects_a_bad_concurrency_list() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bench", "sandbox", "--concurrency", "1,0"])
    assert exc.value.code == 2


def test_best_seconds_refuses_sides_of_different_lengths() -> None:
    from retool.harness.bench.workloads import best_seconds

    with pytest.raises(ValueError, match=r"same number .* got \[2, 1\]"):
        best_seconds([[lambda: None, lambda: None], [lambda: None]], rounds=1)


def test_a_group_threshold_loosens_only_that_group() -> None:
    old = _results(_entry("sb", 10.0, group="sandbox"), _entry("parse", 10.0))
    new = _results(_entry("sb", 7.0, group="sandbox"), _entry("parse", 7.0))
    c = bench.compare(old, new, max_regression=0.10, group_max_regression={"sandbox": 0.5})
    assert [x.name for x in c.regressions] == ["parse"]
    assert "[group threshold 50%]" in bench.format_comparison(c)


def test_cli_compare_takes_a_group_threshold(tmp_path) -> None:
    old, new = _files(tmp_path, 10.0, 8.0)  # group "parser"
    assert main(["bench", "compare", old, new, "--group-max-regression", "parser=25%"]) == 0
    assert main(["bench", "compare", old, new, "--group-max-regression", "parser"]) == 2


def _case(runner: str, level: int, exec_per_s: float) -> dict:
    return {"name": f"test_throughput[{runner}-trivial-{level}]", "params": {"runner": runner, "snippet": "trivial",
            "level": level}, "extra_info": {"exec_per_s": exec_per_s}}


def test_pair_ratios_puts_ours_over_its_twin_in_extra_info() -> None:
    cases = [_case("sandbox", 8, 300.0), _case("spawn-per-call", 8, 30.0), _case("sandbox", 32, 200.0)]
    out = bench.pair_ratios(cases, key="runner", ours="sandbox", baseline="spawn-per-call", metric="exec_per_s",
                            name="sandbox_{snippet}_exec_per_s_c{level}", unit="/s", group="sandbox")
    assert out[0]["extra_info"]["ratio"] == pytest.approx(10.0)
    assert out[0]["extra_info"]["name"] == "sandbox_trivial_exec_per_s_c8"
    assert "ratio" not in out[1]["extra_info"] and "ratio" not in out[2]["extra_info"]  # the baseline; no twin
    assert "ratio" not in cases[0]["extra_info"]  # input untouched
