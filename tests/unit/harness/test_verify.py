"""The verify runner: results for every check, failures never crash the run, JSON report.

The checks themselves (retool.harness.checks) are tested in test_checks.py and checks/.
"""

from __future__ import annotations

import json

import pytest

from retool.harness.verify import CheckResult, CheckSpec, VerifyConfig, run_checks, write_json


def _passing(config):
    return CheckResult(name="x", ok=True, figure="1 thing")


def _raising(config):
    raise RuntimeError("part is broken")


def test_a_raising_check_is_a_failed_result_and_later_checks_still_run():
    report = run_checks([CheckSpec("bad", "bad", _raising), CheckSpec("good", "good", _passing)], VerifyConfig())
    bad, good = report.results
    assert (bad.ok, good.ok, report.ok) == (False, True, False)
    assert "RuntimeError: part is broken" in bad.detail and "part is broken" in bad.data["traceback"]


def test_results_take_the_registered_name_and_a_duration():
    (result,) = run_checks([CheckSpec("named", "t", _passing)], VerifyConfig()).results
    assert result.name == "named" and result.duration_s >= 0


def test_json_report_holds_every_check(tmp_path):
    report = run_checks([CheckSpec("a", "a", _passing), CheckSpec("b", "b", _raising)], VerifyConfig())
    write_json(report, str(tmp_path / "r.json"))
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["ok"] is False and [c["name"] for c in data["checks"]] == ["a", "b"]


# -- verify fails loudly when one part is broken ---------------------------------------------------


def always_true(response: str, gold: str) -> bool:
    """A checker that credits everything: what a broken extractor looks like to the reward."""
    return True


def test_verify_command_exits_non_zero_on_a_failing_check(tmp_path, capsys):
    from retool.cli import main

    code = main(["verify", "--only", "answers", "--checker", "tests.unit.harness.test_verify:always_true", "--json", str(tmp_path / "r.json")])
    assert code == 1
    assert json.loads((tmp_path / "r.json").read_text())["checks"][0]["ok"] is False


def test_config_file_keys_are_checked(tmp_path):
    import argparse

    from retool.cli.verify import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    (tmp_path / "v.toml").write_text('[verify]\nchecker = "strict-box"\nmin_recall = 0.5\n')
    config = config_from_args(parser.parse_args(["--config", str(tmp_path / "v.toml")]))
    assert (config.checker, config.min_recall) == ("strict-box", 0.5)
    (tmp_path / "bad.toml").write_text('modle = "x"\n')
    with pytest.raises(SystemExit, match="modle"):
        config_from_args(parser.parse_args(["--config", str(tmp_path / "bad.toml")]))


# -- further contract points -----------------------------------------------------------------------


def test_run_checks_reports_progress_for_each_check_in_order() -> None:
    started: list[str] = []
    done: list[str] = []
    run_checks([CheckSpec("a", "a", _passing), CheckSpec("b", "b", _raising)], VerifyConfig(),
               on_start=lambda spec: started.append(spec.name), on_done=lambda result: done.append(result.name))
    assert started == done == ["a", "b"]


def test_a_report_is_ok_only_when_every_check_is() -> None:
    assert run_checks([CheckSpec("a", "a", _passing)], VerifyConfig()).ok
    assert not run_checks([CheckSpec("a", "a", _passing), CheckSpec("b", "b", _raising)], VerifyConfig()).ok


def test_a_host_without_a_sandbox_layer_fails_the_check_with_the_allow_weaker_advice() -> None:
    from retool.sandbox import SandboxUnavailableError

    def missing_layer(config: VerifyConfig) -> CheckResult:
        raise SandboxUnavailableError("isolation layers unavailable: uid: not root")

    (result,) = run_checks([CheckSpec("sandbox-battery", "t", missing_layer)], VerifyConfig()).results
    assert not result.ok and "SandboxUnavailableError" in result.detail
    assert "--sandbox-allow-weaker" in result.advice
