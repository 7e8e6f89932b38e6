"""``retool verify``'s options: derived from VerifyConfig, layered over a --config file, checked before any check runs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from retool.cli import main
from retool.cli import verify as verify_cli
from retool.harness.verify import VerifyConfig
from tests.capabilities import requires_megatron


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="retool verify")
    verify_cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_no_flags_and_no_file_give_the_configs_defaults() -> None:
    assert verify_cli.config_from_args(_args()) == VerifyConfig()


def test_file_keys_set_fields_by_flag_name(tmp_path: Path) -> None:
    path = tmp_path / "v.json"
    path.write_text(json.dumps({"min_precision": 0.5, "checker": "pkg.mod:fn", "bench_executions": 8}))
    config = verify_cli.config_from_args(_args("--config", str(path)))
    assert (config.min_precision, config.checker, config.bench_executions) == (0.5, "pkg.mod:fn", 8)


def test_a_flag_on_the_command_line_wins_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "v.toml"
    path.write_text('[verify]\nmin_recall = 0.5\nseed = 3\n')
    config = verify_cli.config_from_args(_args("--config", str(path), "--min-recall", "0.8"))
    assert config.min_recall == 0.8 and config.seed == 3


def test_an_unknown_file_key_is_refused_naming_it_and_the_known_keys(tmp_path: Path) -> None:
    path = tmp_path / "v.json"
    path.write_text(json.dumps({"min_precison": 0.5}))
    with pytest.raises(SystemExit, match=r"unknown key\(s\) \['min_precison'\].*min_precision"):
        verify_cli.config_from_args(_args("--config", str(path)))


def test_a_model_that_is_not_a_directory_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="nowhere.*is not a directory"):
        verify_cli.config_from_args(_args("--model", str(tmp_path / "nowhere")))


def test_every_file_key_is_a_verify_config_field_flag() -> None:
    fields = set(VerifyConfig.__dataclass_fields__)
    assert {spec.path for spec in verify_cli.FILE_KEYS.values()} <= fields


def test_list_names_every_check_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    from retool.harness.checks import CHECKS

    assert main(["verify", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(spec.name in out for spec in CHECKS)


def test_only_with_an_unknown_check_exits_2_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--only", "grammar,nope"]) == 2
    assert "nope" in capsys.readouterr().out


@requires_megatron
@pytest.mark.timeout(300)
def test_verify_with_megatron_runs_the_rotary_base_self_test_on_that_checkpoint(tmp_path: Path) -> None:
    from retool.checkpoint import convert
    from retool.embedded.models import tiny_model_dir

    convert(str(tiny_model_dir()), str(tmp_path / "megatron"))
    code = main(["verify", "--only", "conversion", "--megatron", str(tmp_path / "megatron"), "--json", str(tmp_path / "r.json")])
    (check,) = json.loads((tmp_path / "r.json").read_text())["checks"]
    assert code == 0 and check["ok"], check["detail"]
    assert check["data"]["self_test"]["megatron_dir"] == "--megatron"
    assert check["data"]["self_test"]["caught_by_args"] and check["data"]["self_test"]["caught_by_logits"]


def test_sandbox_allow_weaker_is_a_flag_and_a_file_key(tmp_path: Path) -> None:
    assert verify_cli.config_from_args(_args("--sandbox-allow-weaker")).sandbox_allow_weaker is True
    path = tmp_path / "v.json"
    path.write_text(json.dumps({"sandbox_allow_weaker": True}))
    assert verify_cli.config_from_args(_args("--config", str(path))).sandbox_allow_weaker is True
