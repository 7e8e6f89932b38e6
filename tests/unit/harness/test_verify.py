"""The verify runner: results for every check, failures never crash the run, JSON report."""

from __future__ import annotations

import json

import pytest

from retool.harness.verify import CheckResult, CheckSpec, VerifyConfig, run_checks, write_json
from retool.harness.checks import check_grammar, check_masks


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


def test_grammar_check_passes_on_the_embedded_default():
    result = check_grammar(VerifyConfig())
    assert result.ok, result.detail


def test_grammar_check_fails_on_a_template_without_tools(tmp_path, tiny_tok):
    import copy

    tok = copy.deepcopy(tiny_tok)
    tok.chat_template = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    tok.save_pretrained(tmp_path)
    result = check_grammar(VerifyConfig(model_dir=str(tmp_path)))
    assert not result.ok and "tools block" in result.detail


def test_mask_check_passes_on_the_shipped_sft_samples():
    result = check_masks(VerifyConfig())
    assert result.ok, result.detail


# -- verify fails loudly when one part is broken ---------------------------------------------------


def always_true(response: str, gold: str) -> bool:
    """A checker that credits everything: what a broken extractor looks like to the reward."""
    return True


def test_an_always_true_checker_fails_the_answers_check():
    from retool.harness.checks import check_answers

    result = check_answers(VerifyConfig(checker="tests.unit.harness.test_verify:always_true"))
    assert not result.ok and result.data["precision"] < 0.99


def test_verify_command_exits_non_zero_on_a_failing_check(tmp_path, capsys):
    from retool.cli import main

    code = main(["verify", "--only", "answers", "--checker", "tests.unit.harness.test_verify:always_true", "--json", str(tmp_path / "r.json")])
    assert code == 1
    assert json.loads((tmp_path / "r.json").read_text())["checks"][0]["ok"] is False


@pytest.mark.slow
def test_a_sandbox_that_lets_import_os_through_fails_the_battery():
    from retool.harness.checks import check_sandbox_battery

    result = check_sandbox_battery(VerifyConfig(sandbox_factory="retool.sandbox.naive:NaiveSandbox"))
    assert not result.ok and result.data["escaped"]


@pytest.mark.timeout(300)
def test_a_checkpoint_with_the_wrong_rotary_base_fails_the_conversion_check(tmp_path):
    from retool.checkpoint import convert
    from retool.embedded.models import tiny_model_dir
    from retool.harness.checks import check_conversion

    convert(str(tiny_model_dir()), str(tmp_path / "wrong"), rotary_base=1_000_000, force=True)
    result = check_conversion(VerifyConfig(megatron_dir=str(tmp_path / "wrong")))
    assert not result.ok and "rotary base 1000000 != rope_theta 5000000" in result.detail


@pytest.mark.timeout(300)
def test_pipeline_check_passes_on_the_embedded_default():
    from retool.harness.checks import check_pipeline

    result = check_pipeline(VerifyConfig())
    assert result.ok, result.detail


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
