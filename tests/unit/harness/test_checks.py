"""The checks behind ``retool verify`` (retool.harness.checks): each passes on the embedded default
where that is cheap, and each self-test catches its known-bad input (a template without tools,
an always-true checker, an unisolated sandbox, a wrong rotary base)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from retool.harness.checks import CHECKS, check_answers, check_grammar, check_masks
from retool.harness.verify import VerifyConfig


def always_true(response: str, gold: str) -> bool:
    """A checker that credits everything: what a broken extractor looks like to the reward."""
    return True


def test_the_registry_lists_every_check_once_in_order() -> None:
    assert [spec.name for spec in CHECKS] == ["grammar", "masks", "sandbox-battery", "answers", "pipeline",
                                              "conversion", "sandbox-throughput"]


# -- grammar --------------------------------------------------------------------------------------


def test_grammar_check_passes_on_the_embedded_default() -> None:
    result = check_grammar(VerifyConfig())
    assert result.ok, result.detail


def test_grammar_check_fails_on_a_template_without_tools(tmp_path, tiny_tok: Any) -> None:
    tok = copy.deepcopy(tiny_tok)
    tok.chat_template = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    tok.save_pretrained(tmp_path)
    result = check_grammar(VerifyConfig(model_dir=str(tmp_path)))
    assert not result.ok and "tools block" in result.detail


# -- masks ----------------------------------------------------------------------------------------


def test_mask_check_passes_on_the_shipped_sft_samples() -> None:
    result = check_masks(VerifyConfig())
    assert result.ok, result.detail


def test_mask_check_counts_the_masked_tool_tokens() -> None:
    result = check_masks(VerifyConfig())
    assert result.figure.startswith("11 conversations, ") and " 0 tool tokens" not in result.figure


# -- answers --------------------------------------------------------------------------------------


def test_answers_check_passes_with_our_checker() -> None:
    result = check_answers(VerifyConfig())
    assert result.ok, result.detail
    assert result.data["precision"] >= 0.99 and result.data["recall"] >= 0.97


def test_an_always_true_checker_fails_the_answers_check() -> None:
    result = check_answers(VerifyConfig(checker="tests.unit.harness.test_checks:always_true"))
    assert not result.ok and result.data["precision"] < 0.99


# -- sandbox battery ------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_sandbox_that_lets_import_os_through_fails_the_battery() -> None:
    from retool.harness.checks import check_sandbox_battery

    result = check_sandbox_battery(VerifyConfig(sandbox_factory="retool.sandbox.naive:NaiveSandbox"))
    assert not result.ok and result.data["escaped"]


# -- conversion -----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_conversion_check_passes_on_the_embedded_default_with_its_self_test() -> None:
    from retool.harness.checks import check_conversion

    result = check_conversion(VerifyConfig())
    assert result.ok, result.detail
    assert result.figure.startswith("rotary base 5e+06")


@pytest.mark.timeout(300)
def test_a_checkpoint_with_the_wrong_rotary_base_fails_the_conversion_check(tmp_path) -> None:
    from retool.checkpoint import convert
    from retool.embedded.models import tiny_model_dir
    from retool.harness.checks import check_conversion

    convert(str(tiny_model_dir()), str(tmp_path / "wrong"), rotary_base=1_000_000, force=True)
    result = check_conversion(VerifyConfig(megatron_dir=str(tmp_path / "wrong")))
    assert not result.ok and "rotary base 1000000 != rope_theta 5000000" in result.detail


# -- pipeline -------------------------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_pipeline_check_passes_on_the_embedded_default() -> None:
    from retool.harness.checks import check_pipeline

    result = check_pipeline(VerifyConfig())
    assert result.ok, result.detail
