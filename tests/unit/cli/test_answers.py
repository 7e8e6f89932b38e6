"""retool answers validate: exit status gates on precision/recall; reports and JSON output."""

from __future__ import annotations

import json

import pytest

from retool.cli import main


def always_true(response: str, gold: str) -> bool:
    return True


def _corpus(tmp_path) -> str:
    rows = [
        {"id": "good", "category": "ints", "response": "So $\\boxed{42}$.", "gold": "42", "expected": True, "note": ""},
        {"id": "hack", "category": "hacks", "response": "So $\\boxed{41}$.", "gold": "42", "expected": False, "note": ""},
    ]
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.mark.slow
def test_our_checker_passes_the_gate_on_the_dev_split(capsys) -> None:
    assert main(["answers", "validate", "--split", "dev", "--show-disagreements", "20"]) == 0
    out = capsys.readouterr().out
    assert "checker retool:" in out and "PASS: retool" in out
    assert "inexact_decimal" in out  # the per-category table


def test_an_always_true_checker_fails_the_gate(tmp_path, capsys) -> None:
    status = main(["answers", "validate", _corpus(tmp_path), "--checker", "tests.unit.cli.test_answers:always_true"])
    out = capsys.readouterr().out
    assert status == 1
    assert "precision 0.5000  recall 1.0000" in out
    assert "hack [hacks] expected False: false positive" in out
    assert "FAIL: tests.unit.cli.test_answers:always_true precision 0.5000 < 0.99" in out


def test_an_always_true_checker_fails_on_the_shipped_corpus(capsys) -> None:
    status = main(["answers", "validate", "default", "--checker", "tests.unit.cli.test_answers:always_true",
                   "--show-disagreements", "0"])
    assert status == 1
    assert "FAIL" in capsys.readouterr().out


def test_thresholds_are_flags(tmp_path) -> None:
    args = ["answers", "validate", _corpus(tmp_path), "--checker", "tests.unit.cli.test_answers:always_true"]
    assert main([*args, "--min-precision", "0.5", "--min-recall", "1.0", "--max-hard-negative-fp", "1"]) == 0


def test_compare_prints_checkers_side_by_side_and_gates_only_the_first(tmp_path, capsys) -> None:
    status = main(["answers", "validate", _corpus(tmp_path), "--checker", "strict-box",
                   "--compare", "tests.unit.cli.test_answers:always_true"])
    out = capsys.readouterr().out
    assert status == 0  # strict-box gets both cases right; always_true is reported, not gated
    assert "checker tests.unit.cli.test_answers:always_true:" in out
    precision_row = next(line for line in out.splitlines() if line.startswith("precision "))
    assert precision_row.split()[1:] == ["1.0000", "0.5000"]


def test_json_report_is_written(tmp_path) -> None:
    out = tmp_path / "report" / "r.json"
    main(["answers", "validate", _corpus(tmp_path), "--checker", "strict-box", "--json", str(out)])
    payload = json.loads(out.read_text())
    assert payload["passed"] is True and payload["cases"] == 2
    assert payload["reports"][0]["name"] == "strict-box" and payload["reports"][0]["true_negatives"] == 1


def test_unloadable_corpus_or_checker_exits_2(tmp_path, capsys) -> None:
    assert main(["answers", "validate", str(tmp_path / "missing.jsonl")]) == 2
    assert main(["answers", "validate", _corpus(tmp_path), "--checker", "no_such_mod_q:f"]) == 2
    err = capsys.readouterr().err
    assert "cannot read corpus" in err and "cannot import module 'no_such_mod_q'" in err


def _split_files(tmp_path, monkeypatch) -> None:
    from retool.answer.validate import corpus as validate

    rows = {"dev": ('{"id": "d1", "category": "ints", "response": "\\\\boxed{1}", "gold": "1", "expected": true}\n'
                    '{"id": "d2", "category": "box_in_tool_output", "response": "\\\\boxed{2}", "gold": "3", '
                    '"expected": false}\n'),
            "heldout": ('{"id": "h1", "category": "secret_category", "response": "\\\\boxed{5}", "gold": "5", '
                        '"expected": true}\n{"id": "h2", "category": "secret_category", "response": "\\\\boxed{6}", '
                        '"gold": "7", "expected": false, "hard_negative": true}\n')}
    for name, text in rows.items():
        (tmp_path / f"{name}.jsonl").write_text(text)
    monkeypatch.setattr(validate, "DEV_CORPUS_PATH", tmp_path / "dev.jsonl")
    monkeypatch.setattr(validate, "HELDOUT_CORPUS_PATH", tmp_path / "heldout.jsonl")


def test_the_default_corpus_reports_dev_and_heldout_apart(tmp_path, monkeypatch, capsys) -> None:
    _split_files(tmp_path, monkeypatch)
    assert main(["answers", "validate", "default", "--checker", "strict-box"]) == 0
    out = capsys.readouterr().out
    assert "split dev (2 cases" in out and "split heldout (2 cases" in out


def test_the_heldout_split_is_reported_as_aggregates_only(tmp_path, monkeypatch, capsys) -> None:
    _split_files(tmp_path, monkeypatch)
    main(["answers", "validate", "default", "--split", "heldout", "--checker", "tests.unit.cli.test_answers:always_true"])
    out = capsys.readouterr().out
    assert "hard negatives 1: false positives 1" in out
    assert "secret_category" not in out and "h2" not in out and "'7'" not in out


def test_a_hard_negative_false_positive_fails_the_gate(tmp_path, monkeypatch, capsys) -> None:
    _split_files(tmp_path, monkeypatch)
    status = main(["answers", "validate", "default", "--split", "dev", "--checker",
                   "tests.unit.cli.test_answers:always_true", "--min-precision", "0", "--min-recall", "0"])
    assert status == 1
    assert "1 hard-negative false positives > 0" in capsys.readouterr().out


def test_split_all_is_one_corpus(tmp_path, monkeypatch, capsys) -> None:
    _split_files(tmp_path, monkeypatch)
    main(["answers", "validate", "default", "--split", "all", "--checker", "strict-box"])
    assert "split all (4 cases" in capsys.readouterr().out
