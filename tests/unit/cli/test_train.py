"""``retool train``: every config flag's default is the config's own, and flags land in the right fields."""

from __future__ import annotations

import argparse

import pytest

from retool.cli import train as train_cli
from retool.cli.flags import flag_defaults
from retool.recipes.grpo import GRPORun
from retool.rollout.config import RolloutConfig
from retool.train.grpo import RLConfig
from retool.train.sft import SFTConfig


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="retool train", exit_on_error=False)
    train_cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def _rl(*extra: str) -> argparse.Namespace:
    return _parse("rl", "sample", "--model", "tiny", "--out", "/tmp/out", *extra)


def test_rl_without_flags_runs_the_recipe_defaults_of_every_config() -> None:
    run = train_cli.grpo_run_from_args(_rl())
    assert run.rl == RLConfig(out_dir="/tmp/out", metrics_path="/tmp/out/metrics.jsonl")
    assert run.rollout == RolloutConfig(seed=0)
    assert (run.ref_model, run.sandbox, run.sandbox_allow_weaker) == ("same", "isolated", False)


def test_the_group_size_flag_sets_grpo_and_rollout_alike() -> None:
    run = train_cli.grpo_run_from_args(_rl("--n-samples", "3"))
    assert run.rl.grpo.n_samples_per_prompt == run.rollout.n_samples_per_prompt == 3


def test_the_group_size_default_is_the_grpo_configs() -> None:
    assert train_cli.grpo_run_from_args(_rl()).rl.grpo.n_samples_per_prompt == 8


def test_rollout_flags_set_the_nested_sampling_params() -> None:
    run = train_cli.grpo_run_from_args(_rl("--temperature", "0.5", "--max-new-tokens", "64", "--max-response-tokens", "128",
                                           "--max-context-tokens", "512", "--max-turns", "3", "--max-tool-calls", "2"))
    r = run.rollout
    assert (r.sampling.temperature, r.sampling.max_new_tokens) == (0.5, 64)
    assert (r.rollout_max_response_len, r.max_context_len, r.max_turns, r.max_tool_calls) == (128, 512, 3, 2)


def test_the_seed_seeds_the_trainer_and_the_rollout() -> None:
    run = train_cli.grpo_run_from_args(_rl("--seed", "7"))
    assert run.rl.seed == 7 and run.rollout.seed == 7


def test_no_progress_and_metrics_path_reach_the_rl_config() -> None:
    run = train_cli.grpo_run_from_args(_rl("--no-progress", "--metrics", "/tmp/m.jsonl", "--kl-coef", "0.1"))
    assert run.rl.progress is False and run.rl.metrics_path == "/tmp/m.jsonl" and run.rl.grpo.kl_coef == 0.1


def test_sandbox_url_and_token_file_reach_the_grpo_run() -> None:
    run = train_cli.grpo_run_from_args(_rl("--sandbox-url", "http://10.0.0.5:8080", "--sandbox-token-file", "/run/t"))
    assert (run.sandbox_url, run.sandbox_token_file) == ("http://10.0.0.5:8080", "/run/t")


def test_an_unknown_sandbox_kind_is_refused_naming_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        _rl("--sandbox", "docker")
    assert exit_.value.code == 2 and "invalid choice: 'docker' (choose from 'isolated', 'naive')" in capsys.readouterr().err


@pytest.mark.parametrize(("flags", "config"), [(train_cli.SFT_FLAGS, SFTConfig), (train_cli.RL_FLAGS, RLConfig),
                                               (train_cli.ROLLOUT_FLAGS, RolloutConfig), (train_cli.RUN_FLAGS, None)])
def test_each_parsed_default_equals_its_configs_default(flags, config) -> None:
    args = _parse("sft", "d.jsonl", "--model", "tiny", "--out", "o") if config is SFTConfig else _rl()
    if config is None:  # GRPORun has required fields: compare against its field defaults directly
        expected = {"--ref-model": "same", "--sandbox": "isolated", "--sandbox-allow-weaker": False,
                    "--sandbox-url": None, "--sandbox-token-file": None}
        assert flag_defaults(GRPORun, flags) == expected
        config = GRPORun
    for flag, default in flag_defaults(config, flags).items():
        assert getattr(args, flag.lstrip("-").replace("-", "_")) == default, flag


def test_sft_flags_build_the_sft_config() -> None:
    args = _parse("sft", "d.jsonl", "--model", "tiny", "--out", "o", "--epochs", "1", "--max-length", "64",
                  "--save-every", "5", "--resume", "ck", "--batch-size", "2")
    config = train_cli.config_from_flags(SFTConfig, args, train_cli.SFT_FLAGS, fixed=train_cli._run_fields(args))
    assert (config.epochs, config.max_length_tokens, config.save_every_steps, config.resume_from) == (1, 64, 5, "ck")
    assert config.batch_size == 2 and config.out_dir == "o" and config.metrics_path == "o/metrics.jsonl"


def test_a_bad_config_value_is_an_exit_1_naming_the_field(tmp_path, capsys) -> None:
    from retool.cli import main

    code = main(["train", "sft", "sample", "--model", "tiny", "--out", str(tmp_path), "--epochs", "0"])
    assert code == 1 and "epochs" in capsys.readouterr().err
