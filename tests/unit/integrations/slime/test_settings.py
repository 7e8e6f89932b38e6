"""retool.integrations.slime.settings: args built the way miles/slime build them, read into our config.

Framework facts (miles/utils/arguments.py, slime/utils/arguments.py): ``--custom-config-path`` is read with
``yaml.safe_load`` and every key set on args; ``--rollout-max-context-len`` defaults to None and then no
context cap applies (miles/rollout/generate_utils/generate_endpoint_utils.py caps only ``if
args.rollout_max_context_len``); ``--eval-max-context-len`` unset takes the rollout one; miles's HTTP helper
tries 60 times, 1 s apart (miles/utils/http_utils.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from retool.integrations.slime.settings import (RETOOL_ARGS, check_retool_args, config_from_args, context_cap,
                                                engine_retries, engine_timeout_s)
from tests.unit.integrations import frameworks as fw

README = Path(__file__).resolve().parents[4] / "README.md"


def _readme_yaml() -> str:
    """The retool.yaml of the README's launch block (between ``cat > retool.yaml <<'YAML'`` and ``YAML``)."""
    text = README.read_text()
    match = re.search(r"cat > retool\.yaml <<'YAML'\n(.*?)\n\s*YAML\n", text, re.S)
    assert match, "the README's launch block has no retool.yaml"
    return "\n".join(line.strip() for line in match.group(1).splitlines())


def _args(**kw) -> SimpleNamespace:
    return fw.framework_args("http://127.0.0.1:1", "unused", **kw)


def test_the_readme_custom_config_sets_every_retool_setting(tmp_path) -> None:
    path = tmp_path / "retool.yaml"
    path.write_text(_readme_yaml())
    args = fw.load_custom_config(_args(), str(path))
    assert {k for k in vars(args) if k.startswith("retool_")} == set(RETOOL_ARGS)
    check_retool_args(args)
    config = config_from_args(args, fw.train_sampling_params(args))
    assert (config.max_turns, config.max_tool_calls, config.max_abort_retries) == (
        args.retool_max_turns, args.retool_max_tool_calls, args.retool_max_abort_retries)
    assert engine_retries(args) == (args.retool_engine_retries, args.retool_engine_retry_interval_s)
    assert engine_timeout_s(args) == args.retool_engine_timeout_s


def test_custom_config_values_reach_the_rollout_config(tmp_path) -> None:
    path = tmp_path / "retool.yaml"
    path.write_text("retool_max_turns: 3\nretool_max_tool_calls: 2\nretool_system_prompt: Use the tool.\n")
    config = config_from_args(fw.load_custom_config(_args(), str(path)), {"max_new_tokens": 64})
    assert (config.max_turns, config.max_tool_calls, config.system_prompt) == (3, 2, "Use the tool.")


def test_an_unknown_retool_setting_is_refused_by_name(tmp_path) -> None:
    path = tmp_path / "retool.yaml"
    path.write_text("retool_max_turn: 3\n")  # a typo of retool_max_turns
    with pytest.raises(ValueError, match="retool_max_turn'"):
        check_retool_args(fw.load_custom_config(_args(), str(path)))


def test_by_default_requests_are_retried_as_miles_post_retries() -> None:
    assert engine_retries(_args()) == (59, 1.0)


def test_an_unset_context_len_caps_nothing_beyond_the_budget() -> None:
    config = config_from_args(_args(rollout_max_response_len=10_000), {"max_new_tokens": 10_000}, prompt_len=500)
    assert config.max_context_len == 10_500 and context_cap(_args()) is None


def test_a_set_context_len_is_the_cap() -> None:
    assert config_from_args(_args(rollout_max_context_len=9216), {}, prompt_len=500).max_context_len == 9216


def test_evaluation_reads_the_eval_budget_and_context_cap() -> None:
    args = _args(rollout_max_response_len=8192, eval_max_response_len=16384, rollout_max_context_len=9216,
                 eval_max_context_len=32768)
    config = config_from_args(args, fw.eval_sampling_params(args), evaluation=True)
    assert (config.rollout_max_response_len, config.max_context_len) == (16384, 32768)


def test_evaluation_without_an_eval_context_len_takes_the_rollout_one() -> None:
    args = _args(rollout_max_context_len=9216)
    assert config_from_args(args, fw.eval_sampling_params(args), evaluation=True).max_context_len == 9216


def test_evaluation_fills_missing_sampling_from_the_eval_args() -> None:
    args = _args(eval_temperature=0.6, eval_top_p=0.95, eval_top_k=20)
    sampling = config_from_args(args, {"max_new_tokens": 64}, evaluation=True).sampling
    assert (sampling.temperature, sampling.top_p, sampling.top_k) == (0.6, 0.95, 20)


def test_slimes_custom_params_pass_through() -> None:
    args = _args(rollout_top_p=0.9)
    sampling = config_from_args(args, fw.train_sampling_params(args)).sampling
    assert sampling.custom_params == {"return_top_p_token_ids": True} and sampling.wants_top_p_token_ids


def test_chat_template_kwargs_come_from_apply_chat_template_kwargs() -> None:
    config = config_from_args(_args(apply_chat_template_kwargs={"enable_thinking": False}), {})
    assert dict(config.chat_template_kwargs) == {"enable_thinking": False}
