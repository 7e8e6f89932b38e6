"""The model checks (retool.harness.checks.model): the pipeline passes on the tiny model and fails on
its broken twin (a GRPO step with the advantage's sign flipped); the conversion check passes with
its self-test and fails on a wrong rotary base, from its own conversion and from ``--megatron``,
running its self-test in both modes."""

from __future__ import annotations

from pathlib import Path

import pytest

from retool.harness.checks.model import check_conversion, check_pipeline
from retool.harness.verify import VerifyConfig
from tests.capabilities import requires_isolation, requires_megatron
from tests.unit.harness.twins import flipped_grpo_step, wrong_base_convert

# -- pipeline -------------------------------------------------------------------------------------


@requires_isolation
@pytest.mark.timeout(300)
def test_pipeline_check_passes_on_the_embedded_default() -> None:
    result = check_pipeline(VerifyConfig())
    assert result.ok, result.detail
    good, worse = result.data["rewards"]
    d_good, d_worse = result.data["logprob_deltas"]
    assert good > worse and d_good > 0 > d_worse


@requires_isolation
@pytest.mark.timeout(300)
def test_twin_a_grpo_step_with_the_advantage_sign_flipped_fails_the_pipeline_check() -> None:
    result = check_pipeline(VerifyConfig(), grpo_step=flipped_grpo_step)
    assert not result.ok and "GRPO moved log-probabilities the wrong way" in result.detail
    d_good, d_worse = result.data["logprob_deltas"]
    assert d_good < 0 < d_worse


def _credits_all_but_41(response: str, label: object) -> float:
    """A reward under which the free sample does as well as the tool-using one (a capable model)."""
    return 0.0 if "41" in response else 1.0


@requires_isolation
@pytest.mark.timeout(300)
def test_a_free_sample_no_worse_than_the_forced_one_is_replaced_so_the_rewards_cannot_tie() -> None:
    result = check_pipeline(VerifyConfig(), reward_fn=_credits_all_but_41)
    assert result.data["worse_sample"] == "forced wrong" and result.data["rewards"] == [1.0, 0.0]
    assert "GRPO direction unchecked" not in result.detail and "wrong way" not in result.detail
    d_good, d_worse = result.data["logprob_deltas"]
    assert d_good > 0 > d_worse


# -- conversion -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny model converted with the right rotary base (5e6) and with Qwen3's default 1e6."""
    from retool.checkpoint import convert
    from retool.embedded.models import tiny_model_dir

    root = tmp_path_factory.mktemp("conversion")
    convert(str(tiny_model_dir()), str(root / "right"))
    wrong_base_convert(str(tiny_model_dir()), str(root / "wrong"))
    return {"right": root / "right", "wrong": root / "wrong"}


def _caught(result) -> bool:
    test = result.data["self_test"]
    return test["caught_by_args"] and test["caught_by_logits"] and test["max_abs_diff"] > 1e-2


@requires_megatron
@pytest.mark.timeout(300)
def test_conversion_check_passes_on_the_embedded_default_with_its_self_test() -> None:
    result = check_conversion(VerifyConfig())
    assert result.ok, result.detail
    assert result.figure.startswith("rotary base 5e+06") and "self-test: base 1e+06 caught" in result.figure
    assert _caught(result) and result.data["self_test"]["megatron_dir"] == "converted"


@requires_megatron
@pytest.mark.timeout(300)
def test_twin_a_conversion_with_the_wrong_rotary_base_fails_the_check() -> None:
    result = check_conversion(VerifyConfig(), convert=wrong_base_convert)
    assert not result.ok and "rotary base 1000000 != rope_theta 5000000" in result.detail
    assert "logits differ from the HF model" in result.detail and _caught(result)


@requires_megatron
@pytest.mark.timeout(300)
def test_twin_a_megatron_checkpoint_with_the_wrong_rotary_base_fails_the_check(converted: dict[str, Path]) -> None:
    result = check_conversion(VerifyConfig(megatron_dir=str(converted["wrong"])))
    assert not result.ok and "rotary base 1000000 != rope_theta 5000000" in result.detail
    assert result.figure.startswith("rotary base 1e+06")


@requires_megatron
@pytest.mark.timeout(300)
def test_with_megatron_a_right_checkpoint_passes_and_the_self_test_runs(converted: dict[str, Path]) -> None:
    result = check_conversion(VerifyConfig(megatron_dir=str(converted["right"])))
    assert result.ok, result.detail
    assert _caught(result) and result.data["self_test"]["megatron_dir"] == "--megatron"
    assert result.data["megatron_dir"] == str(converted["right"])
