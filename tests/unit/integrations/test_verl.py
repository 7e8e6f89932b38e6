"""verl's custom reward entry point: its signature, loading by file path as verl does, the scores.

verl itself is not installed (it pins an older transformers than ours): the test holds to the
signature verl's reward managers call, ``compute_score(data_source=, solution_str=,
ground_truth=, extra_info=)``, and to its loader, which imports the file by path
(``importlib.util.spec_from_file_location("custom_module", path)``) and reads ``name`` from it.
"""

from __future__ import annotations

import importlib.util
import inspect
import math

import pytest

import retool.integrations.verl as verl_entry
from retool.reward import RewardConfig, reward_dict, score
from retool.text.grammar import format_tool_call, tool_turn_text

GOOD = ("Let me compute.\n" + format_tool_call("code_interpreter", {"code": "print(6*7)"}) + tool_turn_text(["42"])
        + "So the answer is \\boxed{42}.")


def load_like_verl() -> object:
    spec = importlib.util.spec_from_file_location("custom_module", verl_entry.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, "compute_score")


def test_the_signature_is_verls_custom_reward_signature() -> None:
    params = inspect.signature(verl_entry.compute_score).parameters
    assert list(params)[:4] == ["data_source", "solution_str", "ground_truth", "extra_info"]
    assert params["extra_info"].default is None


def test_verls_loader_finds_it_by_file_path() -> None:
    compute_score = load_like_verl()
    out = compute_score(data_source="retool", solution_str=GOOD, ground_truth="42", extra_info={"index": 0})  # type: ignore[operator]
    assert out["score"] == pytest.approx(score(GOOD, "42").total)


def test_the_dict_is_the_score_and_the_breakdown() -> None:
    out = verl_entry.compute_score("retool", GOOD, "42")
    assert out == reward_dict(score(GOOD, "42"))
    assert out["acc"] == 1.0 and out["num_tool_calls"] == 1 and out["pred"] == "42"


def test_a_wrong_answer_scores_less_with_the_same_keys() -> None:
    right, wrong = verl_entry.compute_score("retool", GOOD, "42"), verl_entry.compute_score("retool", GOOD, "41")
    assert wrong["score"] < right["score"] and wrong["acc"] == 0.0 and set(wrong) == set(right)


def test_reward_kwargs_can_pass_a_reward_config() -> None:
    config = RewardConfig(format_weight=0.0, tool_weight=0.0)
    assert verl_entry.compute_score("retool", GOOD, "42", reward_config=config)["score"] == 1.0


@pytest.mark.parametrize("solution", [None, "", 12, "\\boxed{", "x" * 2_000_000, "\x00\udcff"])
def test_junk_never_raises_and_scores_a_finite_float(solution: object) -> None:
    out = verl_entry.compute_score("retool", solution, "42", None)
    assert isinstance(out["score"], float) and math.isfinite(out["score"])


def test_reward_kwargs_can_name_the_native_dialect() -> None:
    from retool.text.native import format_code_block, interpreter_text

    native = "Let me run it.\n\n" + format_code_block("print(6*7)") + interpreter_text(["\\boxed{41}"]) + "So \\boxed{42}."
    out = verl_entry.compute_score("retool", native, "42", dialect="retool-code")
    assert (out["acc"], out["num_tool_calls"], out["score"]) == (1.0, 1, pytest.approx(1.15))
    assert verl_entry.compute_score("retool", native, "42")["num_tool_calls"] == 0  # qwen3 sees no call


def test_an_unknown_dialect_is_refused_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="choose one of qwen3, retool-code"):
        verl_entry.compute_score("retool", GOOD, "42", dialect="code")
