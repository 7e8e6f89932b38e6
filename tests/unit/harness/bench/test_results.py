"""The benchmark results file (retool.harness.bench.results): make/save/load round trip, the readers'
named errors, the pytest-benchmark conversion and pair_ratios."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from retool.harness import bench

MACHINE = {"cpu_count": 2, "platform": "Linux", "python": "3.11.7", "torch": "2.13.0", "cuda_device": None}


def _entry(name: str, ratio: float, *, higher_is_better: bool = True, group: str = "parser") -> dict:
    return {"name": name, "group": group, "value": ratio * 10.0, "unit": "MB/s", "baseline": 10.0,
            "ratio": ratio, "higher_is_better": higher_is_better}


def _write(tmp_path: Path, name: str, data: Any) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return str(path)


# -- moved from test_gate.py (assertions unchanged) ------------------------------------------------


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


# -- further contract points -----------------------------------------------------------------------


def test_make_result_ratio_is_value_over_baseline() -> None:
    r = bench.make_result(name="lat", group="g", value=3.0, baseline=12.0, unit="ms", higher_is_better=False)
    assert (r.ratio, r.value, r.baseline, r.higher_is_better) == (0.25, 3.0, 12.0, False)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, 0.0])
def test_make_result_refuses_a_value_that_is_not_finite_and_positive(value: float) -> None:
    with pytest.raises(ValueError, match=r"benchmark 'x': value must be a finite number > 0"):
        bench.make_result(name="x", group="g", value=value, baseline=1.0, unit="/s")


def test_make_results_refuses_repeated_names() -> None:
    r = bench.make_result(name="same", group="g", value=1.0, baseline=1.0, unit="/s")
    with pytest.raises(ValueError, match=r"repeated: \['same'\]"):
        bench.make_results([r, r], machine=MACHINE)


def test_machine_info_has_the_documented_keys() -> None:
    assert set(bench.machine_info()) == {"cpu_count", "platform", "python", "torch", "cuda_device"}


def test_saved_file_has_the_documented_layout(tmp_path) -> None:
    results = bench.make_results([bench.make_result(name="x", group="g", value=2.0, baseline=1.0, unit="/s")],
                                 machine=MACHINE)
    data = json.loads(bench.save_results(results, tmp_path / "r.json").read_text(encoding="utf-8"))
    assert set(data) == {"machine", "created", "results"} and data["machine"] == MACHINE
    assert data["results"] == [{"name": "x", "group": "g", "value": 2.0, "unit": "/s", "baseline": 1.0, "ratio": 2.0,
                                "higher_is_better": True}]


def test_a_ratio_only_entry_loads_with_null_value_and_baseline(tmp_path) -> None:
    (r,) = bench.load_results(_write(tmp_path, "r.json", {"results": [{"name": "only", "ratio": 1.5}]})).results
    assert (r.value, r.baseline, r.ratio, r.higher_is_better, r.group, r.unit) == (None, None, 1.5, True, "", "")


def test_load_error_names_a_non_boolean_higher_is_better(tmp_path) -> None:
    path = _write(tmp_path, "hib.json", {"results": [{"name": "x", "ratio": 1.0, "higher_is_better": "yes"}]})
    with pytest.raises(ValueError, match=r"hib\.json: results\[0\] \('x'\): 'higher_is_better' must be true or false"):
        bench.load_results(path)


def test_load_rejects_a_file_without_a_results_list(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"nolist\.json: expected an object with a 'results' list"):
        bench.load_results(_write(tmp_path, "nolist.json", {"benchmark": []}))


def test_from_pytest_benchmark_takes_the_name_and_group_from_extra_info(tmp_path) -> None:
    data = _pytest_benchmark_json()
    data["benchmarks"][0]["extra_info"].update(name="parser_mb_per_s", group="parser")
    results = bench.from_pytest_benchmark(_write(tmp_path, "pb.json", data))
    assert results.results[0].name == "parser_mb_per_s" and results.results[0].group == "parser"


def test_from_pytest_benchmark_refuses_repeated_names(tmp_path) -> None:
    data = _pytest_benchmark_json()
    data["benchmarks"][1]["extra_info"]["name"] = "test_parser_ratio"
    with pytest.raises(ValueError, match=r"pb\.json: benchmark names repeat: \['test_parser_ratio'\]"):
        bench.from_pytest_benchmark(_write(tmp_path, "pb.json", data))


def test_pair_ratios_skips_a_case_whose_metric_is_missing() -> None:
    cases = [_case("sandbox", 8, 300.0), _case("spawn-per-call", 8, 30.0)]
    cases[0]["extra_info"] = {}
    out = bench.pair_ratios(cases, key="runner", ours="sandbox", baseline="spawn-per-call", metric="exec_per_s",
                            name="n{level}", unit="/s", group="sandbox")
    assert out == cases


def test_pair_ratios_output_loads_as_gated_results(tmp_path) -> None:
    cases = [_case("sandbox", 8, 300.0), _case("spawn-per-call", 8, 30.0)]
    paired = bench.pair_ratios(cases, key="runner", ours="sandbox", baseline="spawn-per-call", metric="exec_per_s",
                               name="sandbox_c{level}", unit="/s", group="sandbox")
    doc = {"benchmarks": [{**b, "fullname": f"benchmarks/bench_sandbox.py::{b['name']}", "group": None} for b in paired]}
    results = bench.load_results(_write(tmp_path, "pb.json", doc))
    assert [(r.name, r.group, r.ratio) for r in results.results] == [("sandbox_c8", "sandbox", pytest.approx(10.0))]
    assert results.ungated == ("test_throughput[spawn-per-call-trivial-8]",)


# -- error results (a case that raised or overran) ---------------------------------------------------


def _error(name: str = "adversarial_parse_trace_nested_json") -> bench.BenchResult:
    return bench.make_error_result(name=name, group="adversarial", unit="us/KB", error="RecursionError: deep",
                                   baseline=3.0, higher_is_better=False)


def test_an_error_result_is_saved_with_a_null_ratio_in_strict_json_and_read_back(tmp_path) -> None:
    ok = bench.make_result(name="x", group="adversarial", value=2.0, baseline=1.0, unit="us/KB", higher_is_better=False)
    path = bench.save_results(bench.make_results([ok, _error()], machine=MACHINE), tmp_path / "r.json")
    raw = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert raw["results"][1]["ratio"] is None and raw["results"][1]["error"] == "RecursionError: deep"
    assert "error" not in raw["results"][0]  # a measured result's layout is unchanged
    loaded = bench.load_results(path).results
    assert loaded[0] == ok
    assert loaded[1].error == "RecursionError: deep" and loaded[1].value is None and loaded[1].baseline == 3.0
    assert loaded[1].ratio != loaded[1].ratio  # NaN


def test_make_error_result_needs_an_error_text() -> None:
    with pytest.raises(ValueError, match="an error result needs a non-empty error text"):
        bench.make_error_result(name="e", group="g", unit="u", error="  ")


def test_a_null_ratio_without_an_error_is_still_refused(tmp_path) -> None:
    path = _write(tmp_path, "n.json", {"results": [{"name": "n", "ratio": None}]})
    with pytest.raises(ValueError, match=r"results\[0\] \('n'\): 'ratio' must be a finite number"):
        bench.load_results(path)


def test_an_empty_error_text_in_a_file_is_refused_naming_the_field(tmp_path) -> None:
    path = _write(tmp_path, "e.json", {"results": [{"name": "e", "ratio": None, "error": ""}]})
    with pytest.raises(ValueError, match=r"\('e'\): 'error' must be a non-empty string"):
        bench.load_results(path)


def test_from_pytest_benchmark_reads_an_error_entry_as_an_error_result(tmp_path) -> None:
    extra = _error().to_dict()
    path = _write(tmp_path, "pb.json", {"benchmarks": [
        {"name": "test_hostile[nested_json-parse_trace]", "fullname": "benchmarks/bench_adversarial.py::t",
         "extra_info": extra}]})
    (r,) = bench.load_results(path).results
    assert (r.name, r.group, r.error) == ("adversarial_parse_trace_nested_json", "adversarial", "RecursionError: deep")
