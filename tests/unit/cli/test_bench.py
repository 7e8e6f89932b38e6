"""``retool bench`` (retool.cli.bench): the gate's exit codes (0 pass, 1 regression, 2 bad input),
argument errors naming the bad value, and a real ``bench run`` whose file the gate reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from retool.cli import main
from retool.harness import bench

MACHINE = {"cpu_count": 2, "platform": "Linux", "python": "3.11.7", "torch": "2.13.0", "cuda_device": None}


def _entry(name: str, ratio: float, *, higher_is_better: bool = True, group: str = "parser") -> dict:
    return {"name": name, "group": group, "value": ratio * 10.0, "unit": "MB/s", "baseline": 10.0,
            "ratio": ratio, "higher_is_better": higher_is_better}


def _write(tmp_path: Path, name: str, data: Any) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return str(path)


def _files(tmp_path: Path, old_ratio: float, new_ratio: float) -> tuple[str, str]:
    doc = lambda r: {"machine": MACHINE, "created": "", "results": [_entry("parse", r)]}  # noqa: E731
    return _write(tmp_path, "old.json", doc(old_ratio)), _write(tmp_path, "new.json", doc(new_ratio))


# -- moved from tests/unit/harness/bench/test_gate.py (assertions unchanged) -----------------------


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


def test_cli_compare_takes_a_group_threshold(tmp_path) -> None:
    old, new = _files(tmp_path, 10.0, 8.0)  # group "parser"
    assert main(["bench", "compare", old, new, "--group-max-regression", "parser=25%"]) == 0
    assert main(["bench", "compare", old, new, "--group-max-regression", "parser"]) == 2


# -- argument errors name the bad value ----------------------------------------------------------


@pytest.mark.parametrize(("argv", "bad"), [
    (["bench", "run", "--only", "parser,gpu"], "'gpu'"),
    (["bench", "sandbox", "--concurrency", "1,0"], "'1,0'"),
    (["bench", "sandbox", "--concurrency", "a,b"], "'a,b'"),
    (["bench", "sandbox", "--snippet", "huge"], "'huge'"),
    (["bench", "sandbox", "--n", "many"], "'many'"),
    (["bench", "frobnicate"], "'frobnicate'"),
])
def test_a_bad_argument_exits_2_naming_the_value(argv: list[str], bad: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert bad in capsys.readouterr().err


@pytest.mark.parametrize(("flags", "bad"), [
    (["--max-regression", "ten"], "'ten'"),
    (["--max-regression", "150%"], "'150%'"),
    (["--group-max-regression", "=10%"], "'=10%'"),
    (["--group-max-regression", "sandbox=lots"], "'lots'"),
])
def test_a_bad_threshold_exits_2_naming_it(tmp_path, flags: list[str], bad: str, capsys) -> None:
    old, new = _files(tmp_path, 1.0, 1.0)
    assert main(["bench", "compare", old, new, *flags]) == 2
    assert bad in capsys.readouterr().err


def test_a_malformed_results_file_exits_2_naming_the_file_and_entry(tmp_path, capsys) -> None:
    old, _ = _files(tmp_path, 1.0, 1.0)
    bad = _write(tmp_path, "bad.json", {"results": [{"name": "p", "ratio": "fast"}]})
    assert main(["bench", "compare", old, bad]) == 2
    assert "bad.json: results[0] ('p'): 'ratio'" in capsys.readouterr().err


def test_sandbox_refuses_a_zero_run_count_before_measuring(capsys) -> None:
    assert main(["bench", "sandbox", "--concurrency", "1", "--n", "0"]) == 2
    assert "--n must be >= 1, got 0" in capsys.readouterr().err


# -- the gate on files ----------------------------------------------------------------------------


def test_compare_accepts_a_pytest_benchmark_file_against_a_results_file(tmp_path, capsys) -> None:
    old, _ = _files(tmp_path, 10.0, 10.0)
    pb = _write(tmp_path, "pb.json", {"benchmarks": [
        {"name": "test_parse", "fullname": "benchmarks/bench_grammar.py::test_parse", "group": None,
         "extra_info": {"name": "parse", "group": "parser", "ratio": 10.0}}]})
    assert main(["bench", "compare", old, pb]) == 0
    assert "PASS: 1 benchmarks" in capsys.readouterr().out


def test_allow_missing_does_not_excuse_a_regression(tmp_path) -> None:
    old = _write(tmp_path, "old.json", {"results": [_entry("a", 10.0), _entry("gpu_only", 1.0)]})
    new = _write(tmp_path, "new.json", {"results": [_entry("a", 5.0)]})
    assert main(["bench", "compare", old, new, "--allow-missing"]) == 1


def test_allow_missing_says_how_many_it_tolerated(tmp_path, capsys) -> None:
    old = _write(tmp_path, "old.json", {"results": [_entry("a", 1.0), _entry("gpu_only", 1.0)]})
    new = _write(tmp_path, "new.json", {"results": [_entry("a", 1.0)]})
    main(["bench", "compare", old, new, "--allow-missing"])
    assert "(--allow-missing: 1 missing benchmark(s) tolerated)" in capsys.readouterr().out


# -- the adversarial group: ceilings and error results ------------------------------------------------


def _adv(name: str, ratio: float | None, error: str | None = None) -> dict:
    entry = {"name": name, "group": "adversarial", "unit": "us/KB", "ratio": ratio, "higher_is_better": False}
    return entry if error is None else {**entry, "error": error}


def test_compare_fails_an_adversarial_ratio_over_the_ceiling_unless_turned_off(tmp_path, capsys) -> None:
    doc = {"results": [_adv("adversarial_parse_trace_closers", 800.0)]}
    old, new = _write(tmp_path, "old.json", doc), _write(tmp_path, "new.json", doc)
    assert main(["bench", "compare", old, new]) == 1
    assert "OVER CEILING: 800x is above the group ceiling 150x" in capsys.readouterr().out
    assert main(["bench", "compare", old, new, "--group-ceiling", "adversarial=1000"]) == 0
    assert main(["bench", "compare", old, new, "--group-ceiling", "adversarial=off"]) == 0
    assert main(["bench", "compare", old, new, "--group-ceiling", "adversarial=750x"]) == 1


def test_compare_fails_an_error_result_whatever_the_ceilings(tmp_path, capsys) -> None:
    old = _write(tmp_path, "old.json", {"results": [_adv("c", 1.0)]})
    new = _write(tmp_path, "new.json", {"results": [_adv("c", None, "RecursionError: deep")]})
    assert main(["bench", "compare", old, new, "--group-ceiling", "adversarial=off"]) == 1
    assert "ERROR: RecursionError: deep" in capsys.readouterr().out


@pytest.mark.parametrize(("flag", "bad"), [("adversarial", "'adversarial'"), ("=5", "'=5'"),
                                           ("adversarial=lots", "'adversarial=lots'"), ("adversarial=0", "'adversarial=0'")])
def test_a_bad_ceiling_exits_2_naming_it(tmp_path, flag: str, bad: str, capsys) -> None:
    old, new = _files(tmp_path, 1.0, 1.0)
    assert main(["bench", "compare", old, new, "--group-ceiling", flag]) == 2
    assert bad in capsys.readouterr().err


def test_run_records_adversarial_error_results_prints_the_matrix_and_exits_0(tmp_path, monkeypatch, capsys) -> None:
    import retool.cli.bench as cli_bench

    got = [bench.make_result(name="adversarial_parse_trace_closers", group="adversarial", value=3.0, baseline=1.0,
                             unit="us/KB", higher_is_better=False),
           bench.make_error_result(name="adversarial_read_metrics_nested_json", group="adversarial", unit="us/KB",
                                   error="RecursionError: deep", higher_is_better=False)]
    monkeypatch.setattr(cli_bench, "measure_group", lambda group, quick: got)
    path = tmp_path / "adv.json"
    assert main(["bench", "run", "--only", "adversarial", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "adversarial (rows: hostile family; columns: reader):" in out
    assert "of 2 cases past it; ceiling 150x: 0 over, 1 error results" in out and "ERROR" in out
    assert [r.error for r in bench.load_results(path).results] == [None, "RecursionError: deep"]
    assert main(["bench", "compare", str(path), str(path)]) == 1  # the gate fails the error result


def test_run_measures_the_real_adversarial_group_into_a_file_the_gate_reads(tmp_path, monkeypatch, capsys) -> None:
    from retool.harness.bench import worstcase

    real = worstcase.measure_adversarial
    monkeypatch.setattr(worstcase, "measure_adversarial",
                        lambda **kw: real(**{**kw, "n_chars": 1024, "rounds": 1}, targets=("find_boxed",)))
    path = tmp_path / "adv.json"
    assert main(["bench", "run", "--quick", "--only", "adversarial", "--json", str(path)]) == 0
    names = [r.name for r in bench.load_results(path).results]
    assert names == [f"adversarial_find_boxed_{f}" for f in bench.FAMILIES]
    out = capsys.readouterr().out
    assert "FAILED" not in out and "skipped" not in out and f"{len(bench.FAMILIES)} cases" in out
