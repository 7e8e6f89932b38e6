"""HF Qwen3 -> megatron-core conversion and the rotary-base check, on a real tiny model on CPU."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest
import torch

from retool.checkpoint import (
    CheckReport,
    MegatronArgs,
    args_from_namespace,
    check,
    compare_args,
    convert,
    hf_to_megatron_state,
    megatron_args_from_hf,
    rope_base_of,
)
from retool.embedded.models import TinyModelConfig, tiny_qwen3_config

pytestmark = [pytest.mark.timeout(180), pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]

VOCAB = 1000  # not a multiple of 128: exercises the padded embedding rows


def _save_hf(folder: Path, *, seed: int = 0, dtype: torch.dtype = torch.float32, **overrides) -> Path:
    from transformers import Qwen3ForCausalLM

    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(tiny_qwen3_config(VOCAB, **overrides)).to(dtype)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("checkpoint")


@pytest.fixture(scope="module")
def hf_dir(workdir) -> Path:
    return _save_hf(workdir / "hf")


@pytest.fixture(scope="module")
def good_dir(workdir, hf_dir) -> Path:
    convert(hf_dir, workdir / "megatron")
    return workdir / "megatron"


@pytest.fixture(scope="module")
def wrong_base_dir(workdir, hf_dir) -> Path:
    convert(hf_dir, workdir / "megatron-1e6", rotary_base=1_000_000, force=True)
    return workdir / "megatron-1e6"


@pytest.fixture(scope="module")
def good_report(hf_dir, good_dir) -> CheckReport:
    return check(hf_dir, good_dir)


@pytest.fixture(scope="module")
def wrong_base_report(hf_dir, wrong_base_dir) -> CheckReport:
    return check(hf_dir, wrong_base_dir)


# ---- conversion round trip ---------------------------------------------------------------------


def test_converted_checkpoint_reproduces_hf_logits(good_report):
    assert good_report.ok, good_report.failures
    assert good_report.logits is not None and good_report.logits.max_abs_diff < 1e-4


def test_stored_args_are_megatron_lm_style_with_the_config_rotary_base(good_dir):
    from megatron.core import dist_checkpointing

    common = dist_checkpointing.load_common_state_dict(str(good_dir))
    args = common["args"]
    assert isinstance(args, argparse.Namespace)
    assert args.rotary_base == 5_000_000
    assert (args.num_layers, args.hidden_size, args.num_attention_heads, args.num_query_groups, args.kv_channels) == (2, 64, 4, 2, 16)
    assert args.untie_embeddings_and_output_weights is False
    assert (args.vocab_size, args.padded_vocab_size) == (VOCAB, 1024)


def test_checkpoint_is_torch_dist_on_disk(good_dir):
    names = {p.name for p in good_dir.iterdir()}
    assert {"metadata.json", "common.pt", ".metadata"} <= names
    assert any(name.endswith(".distcp") for name in names)
    assert json.loads((good_dir / "metadata.json").read_text())["sharded_backend"] == "torch_dist"


def test_bf16_weights_convert_in_bf16_and_keep_parity(workdir):
    hf = _save_hf(workdir / "hf-bf16", seed=3, dtype=torch.bfloat16)
    report = convert(hf, workdir / "megatron-bf16")
    assert report.args.params_dtype == "bfloat16"
    result = check(hf, workdir / "megatron-bf16")
    assert result.ok, result.failures


# ---- the rotary-base check -----------------------------------------------------------------------


def test_wrong_base_is_named_in_the_args_check(wrong_base_report):
    assert not wrong_base_report.ok
    assert "rotary base 1000000 != rope_theta 5000000: generations will be garbled" in wrong_base_report.failures
    assert [f.field for f in wrong_base_report.fields if not f.ok] == ["rotary_base"]


def test_wrong_base_is_caught_by_the_logits_check(wrong_base_report):
    logits = wrong_base_report.logits
    assert logits is not None and not logits.ok
    assert logits.max_abs_diff > 10 * logits.atol


def test_shards_are_identical_whatever_the_base(good_dir, wrong_base_dir):
    shards = sorted(p.name for p in good_dir.glob("*.distcp"))
    assert shards == sorted(p.name for p in wrong_base_dir.glob("*.distcp"))
    for name in shards:
        assert (good_dir / name).read_bytes() == (wrong_base_dir / name).read_bytes()


def test_other_weights_under_right_args_fail_only_the_logits_check(workdir, good_dir):
    other = _save_hf(workdir / "hf-seed1", seed=1)
    report = check(other, good_dir)
    assert all(f.ok for f in report.fields)
    assert report.logits is not None and not report.logits.ok


def test_other_architecture_is_a_reported_mismatch_not_an_exception(workdir, good_dir):
    other = _save_hf(workdir / "hf-1layer", config=TinyModelConfig(num_layers=1))
    report = check(other, good_dir)
    assert "num layers 2 != num_hidden_layers 1: the checkpoint does not hold the model's layers" in report.failures
    assert report.logits is not None and not report.logits.ok


def test_check_without_logits_compares_args_only(hf_dir, wrong_base_dir):
    report = check(hf_dir, wrong_base_dir, compare_logits=False)
    assert report.logits is None and not report.ok


def test_check_of_a_missing_checkpoint_raises_naming_it(hf_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        check(hf_dir, tmp_path / "nowhere")


def test_check_rejects_token_ids_outside_the_vocab(hf_dir, good_dir):
    with pytest.raises(ValueError, match="token ids must lie in"):
        check(hf_dir, good_dir, tokens=[1, 2, VOCAB])


# ---- args from the HF config --------------------------------------------------------------------


def test_override_disagreeing_with_config_raises_naming_both_values():
    with pytest.raises(ValueError, match="override 1000000 disagrees with the HF config's rope_theta 5000000"):
        megatron_args_from_hf(tiny_qwen3_config(VOCAB), rotary_base_override=1e6)


def test_forced_override_is_used():
    assert megatron_args_from_hf(tiny_qwen3_config(VOCAB), rotary_base_override=1e6, force=True).rotary_base == 1e6


def test_agreeing_override_is_accepted():
    assert megatron_args_from_hf(tiny_qwen3_config(VOCAB), rotary_base_override=5_000_000).rotary_base == 5e6


def test_legacy_top_level_rope_theta_is_read():
    legacy = tiny_qwen3_config(VOCAB).to_dict()
    legacy.pop("rope_parameters")
    legacy["rope_theta"] = 1_000_000.0
    assert rope_base_of(legacy) == 1e6
    assert megatron_args_from_hf(legacy).rotary_base == 1e6


def test_legacy_config_dir_converts_with_its_base(workdir, hf_dir):
    legacy = workdir / "hf-legacy"
    shutil.copytree(hf_dir, legacy)
    config = json.loads((legacy / "config.json").read_text())
    config["rope_theta"] = config.pop("rope_parameters")["rope_theta"]
    (legacy / "config.json").write_text(json.dumps(config))
    report = convert(legacy, workdir / "megatron-legacy")
    assert report.args.rotary_base == 5e6
    assert check(legacy, workdir / "megatron-legacy").ok


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"model_type": "qwen2"}, "model_type 'qwen2'"),
        ({"attention_bias": True}, "attention_bias=True"),
        ({"rope_parameters": {"rope_type": "yarn", "rope_theta": 1e6, "factor": 4.0}}, "rope_type 'yarn'"),
        ({"rope_parameters": None}, "neither"),
    ],
)
def test_unsupported_config_raises_naming_the_field(change, match):
    with pytest.raises(ValueError, match=match):
        megatron_args_from_hf({**tiny_qwen3_config(VOCAB).to_dict(), **change})


def test_args_survive_the_megatron_namespace_round_trip():
    args = megatron_args_from_hf(tiny_qwen3_config(VOCAB, tie_word_embeddings=False))
    assert args_from_namespace(args.to_namespace()) == args


def test_megatron_lm_defaults_apply_to_sparse_args():
    ns = argparse.Namespace(num_layers=2, hidden_size=64, num_attention_heads=4, vocab_size=128)
    args = args_from_namespace(ns)
    assert (args.rotary_base, args.kv_channels, args.num_query_groups, args.ffn_hidden_size) == (10000, 16, 4, 256)


def test_compare_args_reports_every_differing_field():
    expected = megatron_args_from_hf(tiny_qwen3_config(VOCAB))
    fields = {f.name: getattr(expected, f.name) for f in expected.__dataclass_fields__.values()}
    stored = MegatronArgs(**{**fields, "num_query_groups": 4, "norm_epsilon": 1e-5, "tie_embeddings": False})
    bad = {c.field: c.message for c in compare_args(stored, expected) if not c.ok}
    assert set(bad) == {"num_query_groups", "norm_epsilon", "tie_embeddings"}
    assert bad["num_query_groups"].startswith("query groups 4 != num_key_value_heads 2")


# ---- the weight mapping (pure) -------------------------------------------------------------------


def _labelled_hf_state(args: MegatronArgs) -> dict[str, torch.Tensor]:
    """HF tensors whose every row holds its own (projection, row) label, to trace the layout."""
    h, d = args.hidden_size, args.kv_channels
    state = {"model.embed_tokens.weight": torch.randn(args.vocab_size, h), "model.norm.weight": torch.ones(h)}
    rows = {"q": args.num_attention_heads * d, "k": args.num_query_groups * d, "v": args.num_query_groups * d}
    for i in range(args.num_layers):
        p = f"model.layers.{i}."
        for code, (name, n) in enumerate(rows.items()):
            state[p + f"self_attn.{name}_proj.weight"] = (code * 1000 + torch.arange(n, dtype=torch.float32))[:, None].expand(n, h)
        state[p + "self_attn.o_proj.weight"] = torch.randn(h, rows["q"])
        state[p + "self_attn.q_norm.weight"] = torch.ones(d)
        state[p + "self_attn.k_norm.weight"] = torch.ones(d)
        state[p + "input_layernorm.weight"] = torch.ones(h)
        state[p + "post_attention_layernorm.weight"] = torch.ones(h)
        state[p + "mlp.gate_proj.weight"] = torch.full((args.ffn_hidden_size, h), 1.0)
        state[p + "mlp.up_proj.weight"] = torch.full((args.ffn_hidden_size, h), 2.0)
        state[p + "mlp.down_proj.weight"] = torch.randn(h, args.ffn_hidden_size)
    return state


def test_qkv_rows_are_interleaved_per_query_group():
    args = megatron_args_from_hf(tiny_qwen3_config(VOCAB, num_attention_heads=6, num_key_value_heads=2))
    qkv = hf_to_megatron_state(_labelled_hf_state(args), args)["decoder.layers.0.self_attention.linear_qkv.weight"]
    labels = qkv[:, 0].tolist()
    d, per_group = args.kv_channels, 3
    expected = []
    for g in range(2):
        expected += [0 * 1000 + g * per_group * d + r for r in range(per_group * d)]  # the group's 3 query heads
        expected += [1 * 1000 + g * d + r for r in range(d)]  # its key head
        expected += [2 * 1000 + g * d + r for r in range(d)]  # its value head
    assert labels == expected


def test_fc1_holds_gate_rows_then_up_rows_and_embeddings_are_zero_padded():
    args = megatron_args_from_hf(tiny_qwen3_config(VOCAB))
    out = hf_to_megatron_state(_labelled_hf_state(args), args)
    fc1 = out["decoder.layers.1.mlp.linear_fc1.weight"]
    assert fc1.shape == (2 * args.ffn_hidden_size, args.hidden_size)
    assert bool((fc1[: args.ffn_hidden_size] == 1.0).all()) and bool((fc1[args.ffn_hidden_size:] == 2.0).all())
    emb = out["embedding.word_embeddings.weight"]
    assert emb.shape == (1024, args.hidden_size) and bool((emb[VOCAB:] == 0).all())
    assert "output_layer.weight" not in out


def test_missing_hf_tensor_raises_naming_it():
    args = megatron_args_from_hf(tiny_qwen3_config(VOCAB))
    state = _labelled_hf_state(args)
    del state["model.layers.1.self_attn.k_norm.weight"]
    with pytest.raises(KeyError, match="model.layers.1.self_attn.k_norm.weight"):
        hf_to_megatron_state(state, args)


def test_convert_refuses_a_non_empty_output_dir(hf_dir, good_dir):
    with pytest.raises(FileExistsError, match="not empty"):
        convert(hf_dir, good_dir)


# ---- CLI -----------------------------------------------------------------------------------------


def test_cli_check_exits_non_zero_and_prints_the_mismatch(hf_dir, wrong_base_dir, tmp_path, capsys):
    from retool.cli import main

    status = main(["checkpoint", "check", str(hf_dir), str(wrong_base_dir), "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert status == 1
    assert "rotary base 1000000 != rope_theta 5000000: generations will be garbled" in out
    assert json.loads((tmp_path / "r.json").read_text())["ok"] is False


def test_cli_check_passes_a_good_conversion(hf_dir, good_dir, capsys):
    from retool.cli import main

    assert main(["checkpoint", "check", str(hf_dir), str(good_dir), "--atol", "1e-4"]) == 0
    assert "PASS" in capsys.readouterr().out


def test_cli_convert_refuses_a_disagreeing_base_without_force(hf_dir, tmp_path, capsys):
    from retool.cli import main

    assert main(["checkpoint", "convert", str(hf_dir), str(tmp_path / "out"), "--rotary-base", "1e6"]) == 2
    assert "1000000 disagrees with the HF config's rope_theta 5000000" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_args_only_check_fails_on_the_base_without_building_models(hf_dir, wrong_base_dir, capsys):
    from retool.cli import main

    assert main(["checkpoint", "check", str(hf_dir), str(wrong_base_dir), "--args-only"]) == 1
    out = capsys.readouterr().out
    assert "rotary_base" in out and "MISMATCH" in out and "logits" not in out


def test_cli_check_of_a_missing_dir_is_a_clear_error(hf_dir, tmp_path, capsys):
    from retool.cli import main

    assert main(["checkpoint", "check", str(hf_dir), str(tmp_path / "absent")]) == 2
    assert "is not a torch_dist checkpoint" in capsys.readouterr().err
