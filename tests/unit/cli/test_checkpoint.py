"""``retool checkpoint`` (retool.cli.checkpoint): convert the tiny model (exit 0), an override
disagreeing with rope_theta refused (exit 2 naming both), check with --args-only (0 on a match,
1 on a mismatch, the layout line), export (exit 0), check-args on miles's qwen3-4B model script against
Qwen3-4B-Instruct-2507's config (1 on the 1e6 default, 0 with the fix after ``--``, 2 on an unreadable
line), and bad paths or arguments exit 2 naming the value."""

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


def test_check_prints_that_the_frameworks_read_the_root_as_a_megatron_checkpoint(converted: Path, capsys) -> None:
    assert main(["checkpoint", "check", HF, str(converted), "--args-only"]) == 0
    assert capsys.readouterr().out.startswith("layout: Megatron checkpoint root (tracker -> release/) (ok)")


def test_export_writes_the_hf_dir_and_exits_0(converted: Path, tmp_path, capsys) -> None:
    assert main(["checkpoint", "export", str(converted), str(tmp_path / "hf"), "--like", HF]) == 0
    assert "exported" in capsys.readouterr().out
    assert {"config.json", "model.safetensors"} <= {p.name for p in (tmp_path / "hf").iterdir()}


def test_export_without_like_is_a_usage_error(converted: Path, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["checkpoint", "export", str(converted), str(tmp_path / "hf")])
    assert exc.value.code == 2 and "--like" in capsys.readouterr().err


# ---- check-args ------------------------------------------------------------------------------------

QWEN3_4B_SCRIPT = """MODEL_ARGS=(
   --swiglu --num-layers 36 --hidden-size 2560 --ffn-hidden-size 9728 --num-attention-heads 32
   --group-query-attention --num-query-groups 8 --use-rotary-position-embeddings --disable-bias-linear
   --normalization "RMSNorm" --norm-epsilon 1e-6
   --rotary-base "${MODEL_ARGS_ROTARY_BASE:-1000000}"
   --vocab-size 151936 --kv-channels 128 --qk-layernorm
)
"""


@pytest.fixture
def instruct_2507(tmp_path: Path) -> Path:
    """config.json with Qwen3-4B-Instruct-2507's architecture (rope_theta 5000000)."""
    folder = tmp_path / "Qwen3-4B-Instruct-2507"
    folder.mkdir()
    folder.joinpath("config.json").write_text(json.dumps({
        "model_type": "qwen3", "num_hidden_layers": 36, "hidden_size": 2560, "intermediate_size": 9728,
        "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "rms_norm_eps": 1e-6,
        "vocab_size": 151936, "tie_word_embeddings": True, "hidden_act": "silu", "max_position_embeddings": 262144,
        "rope_theta": 5000000}))
    return folder


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "qwen3-4B.sh"
    path.write_text(QWEN3_4B_SCRIPT)
    return path


def test_check_args_exits_1_on_the_base_models_rotary_default(instruct_2507: Path, script: Path, capsys) -> None:
    assert main(["checkpoint", "check-args", str(instruct_2507), "--flags-file", str(script)]) == 1
    out = capsys.readouterr().out
    assert "FAIL: 1 mismatch(es)" in out and "fix: --rotary-base 5000000" in out
    assert "read as its default '1000000'" in out


def test_check_args_passes_once_the_launch_overrides_the_base(instruct_2507: Path, script: Path, capsys) -> None:
    argv = ["checkpoint", "check-args", str(instruct_2507), "--flags-file", str(script), "--", "--rotary-base", "5000000",
            "--lr", "1e-6"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "PASS: the launch builds the HF model's architecture" in out and "not checked): --lr" in out


def test_check_args_takes_flags_alone_after_the_separator(instruct_2507: Path, capsys) -> None:
    assert main(["checkpoint", "check-args", str(instruct_2507), "--", "--rotary-base", "5000000"]) == 1
    assert "--num-layers unset but the HF model has num_hidden_layers 36" in capsys.readouterr().out


def test_check_args_names_the_unreadable_line_of_a_script_and_exits_2(instruct_2507: Path, tmp_path, capsys) -> None:
    bad = tmp_path / "bad.sh"
    bad.write_text("MODEL_ARGS=(\n  --rotary-base $BASE\n)\n")
    assert main(["checkpoint", "check-args", str(instruct_2507), "--flags-file", str(bad)]) == 2
    assert f"{bad}:2: a shell expansion" in capsys.readouterr().err


def test_check_args_without_any_flags_exits_2(instruct_2507: Path, capsys) -> None:
    assert main(["checkpoint", "check-args", str(instruct_2507)]) == 2
    assert "no flags to check" in capsys.readouterr().err
