"""The verify runner: results for every check, failures never crash the run, JSON report."""

from __future__ import annotations

import json

from retool.verify import CheckResult, CheckSpec, VerifyConfig, run_checks, write_json
from retool.verify_checks import check_grammar, check_masks


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
