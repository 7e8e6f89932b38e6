"""``retool checkpoint`` (retool.cli.checkpoint): convert the tiny model (exit 0), an override
disagreeing with rope_theta refused (exit 2 naming both), check with --args-only (0 on a match,
1 on a mismatch), and bad paths or arguments exit 2 naming the value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retool.cli import main
from retool.embedded.models import tiny_model_dir

HF = str(tiny_model_dir())


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ckpt") / "right"
    assert main(["checkpoint", "convert", HF, str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def forced_wrong(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ckpt") / "wrong"
    assert main(["checkpoint", "convert", HF, str(out), "--rotary-base", "1000000", "--force"]) == 0
    return out


def test_convert_prints_the_stored_rotary_base_and_the_configs(tmp_path, capsys) -> None:
    assert main(["checkpoint", "convert", HF, str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "rotary_base 5000000 (HF rope_theta 5000000)" in out and "forced override" not in out


def test_convert_refuses_an_override_disagreeing_with_rope_theta_naming_both(tmp_path, capsys) -> None:
    assert main(["checkpoint", "convert", HF, str(tmp_path / "out"), "--rotary-base", "1000000"]) == 2
    err = capsys.readouterr().err
    assert "rotary base override 1000000 disagrees with the HF config's rope_theta 5000000" in err
    assert not (tmp_path / "out").exists()


def test_convert_refuses_a_non_empty_output_dir_naming_it(converted: Path, capsys) -> None:
    assert main(["checkpoint", "convert", HF, str(converted)]) == 2
    assert f"output directory {str(converted)!r} is not empty" in capsys.readouterr().err


def test_check_args_only_passes_on_a_right_conversion(converted: Path, capsys) -> None:
    assert main(["checkpoint", "check", HF, str(converted), "--args-only"]) == 0
    assert "PASS: the megatron checkpoint matches its Hugging Face original" in capsys.readouterr().out


def test_check_args_only_exits_1_on_a_wrong_rotary_base(forced_wrong: Path, capsys) -> None:
    assert main(["checkpoint", "check", HF, str(forced_wrong), "--args-only"]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH" in out and "rotary base 1000000 != rope_theta 5000000" in out


def test_check_json_writes_the_full_report(converted: Path, tmp_path) -> None:
    path = tmp_path / "sub" / "report.json"
    assert main(["checkpoint", "check", HF, str(converted), "--args-only", "--json", str(path)]) == 0
    assert json.loads(path.read_text())["ok"] is True


def test_check_on_a_missing_megatron_dir_exits_2_naming_it(tmp_path, capsys) -> None:
    missing = tmp_path / "no-such-ckpt"
    assert main(["checkpoint", "check", HF, str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("retool checkpoint check: error: ") and str(missing) in err


def test_convert_of_a_missing_hf_dir_exits_2_naming_it(tmp_path, capsys) -> None:
    assert main(["checkpoint", "convert", str(tmp_path / "no-hf"), str(tmp_path / "out")]) == 2
    assert "no-hf" in capsys.readouterr().err


def test_check_refuses_a_non_positive_token_count(converted: Path, capsys) -> None:
    assert main(["checkpoint", "check", HF, str(converted), "--num-tokens", "0"]) == 2
    assert "--num-tokens must be positive, got 0" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "bad"), [
    (["checkpoint", "check", HF, "x", "--atol", "tiny"], "'tiny'"),
    (["checkpoint", "convert", HF, "x", "--rotary-base", "big"], "'big'"),
    (["checkpoint", "inspect", HF], "'inspect'"),
])
def test_a_bad_argument_exits_2_naming_the_value(argv: list[str], bad: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and bad in capsys.readouterr().err
