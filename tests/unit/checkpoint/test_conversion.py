"""retool.checkpoint.conversion: HF Qwen3 -> megatron-core conversion on a real tiny model on CPU
(the round trip's logits parity, Megatron-LM-style stored args, the release layout, bf16 and
legacy configs), the pure weight mapping, and the ``retool checkpoint`` CLI over real conversions.

The shared checkpoints are this folder's ``conftest.py`` fixtures (skipped naming megatron-core
where it is absent); the args are tested in ``test_args.py``, ``check`` in ``test_parity.py``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest
import torch

from retool.checkpoint import CheckReport, MegatronArgs, check, convert, hf_to_megatron_state, megatron_args_from_hf
from retool.embedded.models import tiny_qwen3_config
from tests.capabilities import requires_megatron
from tests.unit.checkpoint.hf_models import VOCAB
from tests.unit.checkpoint.hf_models import save_hf as _save_hf

pytestmark = [pytest.mark.timeout(180), pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]


# ---- conversion round trip ---------------------------------------------------------------------


def test_converted_checkpoint_reproduces_hf_logits(good_report: CheckReport) -> None:
    assert good_report.ok, good_report.failures
    assert good_report.logits is not None and good_report.logits.max_abs_diff < 1e-4


def test_stored_args_are_megatron_lm_style_with_the_config_rotary_base(good_dir: Path) -> None:
    from megatron.core import dist_checkpointing

    common = dist_checkpointing.load_common_state_dict(str(good_dir / "release"))
    args = common["args"]
    assert isinstance(args, argparse.Namespace)
    assert args.rotary_base == 5_000_000
    assert (args.num_layers, args.hidden_size, args.num_attention_heads, args.num_query_groups, args.kv_channels) == (2, 64, 4, 2, 16)
    assert args.untie_embeddings_and_output_weights is False
    assert (args.vocab_size, args.padded_vocab_size) == (VOCAB, 1024)


def test_checkpoint_is_torch_dist_on_disk_in_its_release_directory(good_dir: Path) -> None:
    names = {p.name for p in (good_dir / "release").iterdir()}
    assert {"metadata.json", "common.pt", ".metadata"} <= names
    assert any(name.endswith(".distcp") for name in names)
    assert json.loads((good_dir / "release" / "metadata.json").read_text())["sharded_backend"] == "torch_dist"


def test_the_root_holds_only_the_release_tracker_and_the_release_directory(good_dir: Path) -> None:
    assert sorted(p.name for p in good_dir.iterdir()) == ["latest_checkpointed_iteration.txt", "release"]
    assert (good_dir / "latest_checkpointed_iteration.txt").read_text() == "release"


def test_bf16_weights_convert_in_bf16_and_keep_parity(workdir: Path) -> None:
    hf = _save_hf(workdir / "hf-bf16", seed=3, dtype=torch.bfloat16)
    report = convert(hf, workdir / "megatron-bf16")
    assert report.args.params_dtype == "bfloat16"
    result = check(hf, workdir / "megatron-bf16")
    assert result.ok, result.failures


def test_shards_are_identical_whatever_the_base(good_dir: Path, wrong_base_dir: Path) -> None:
    good, wrong = good_dir / "release", wrong_base_dir / "release"
    shards = sorted(p.name for p in good.glob("*.distcp"))
    assert shards and shards == sorted(p.name for p in wrong.glob("*.distcp"))
    for name in shards:
        assert (good / name).read_bytes() == (wrong / name).read_bytes()


def test_legacy_config_dir_converts_with_its_base(workdir: Path, hf_dir: Path) -> None:
    legacy = workdir / "hf-legacy"
    shutil.copytree(hf_dir, legacy)
    config = json.loads((legacy / "config.json").read_text())
    config["rope_theta"] = config.pop("rope_parameters")["rope_theta"]
    (legacy / "config.json").write_text(json.dumps(config))
    report = convert(legacy, workdir / "megatron-legacy")
    assert report.args.rotary_base == 5e6
    assert check(legacy, workdir / "megatron-legacy").ok


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


def test_qkv_rows_are_interleaved_per_query_group() -> None:
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


def test_fc1_holds_gate_rows_then_up_rows_and_embeddings_are_zero_padded() -> None:
    args = megatron_args_from_hf(tiny_qwen3_config(VOCAB))
    out = hf_to_megatron_state(_labelled_hf_state(args), args)
    fc1 = out["decoder.layers.1.mlp.linear_fc1.weight"]
    assert fc1.shape == (2 * args.ffn_hidden_size, args.hidden_size)
    assert bool((fc1[: args.ffn_hidden_size] == 1.0).all()) and bool((fc1[args.ffn_hidden_size:] == 2.0).all())
    emb = out["embedding.word_embeddings.weight"]
    assert emb.shape == (1024, args.hidden_size) and bool((emb[VOCAB:] == 0).all())
    assert "output_layer.weight" not in out


def test_missing_hf_tensor_raises_naming_it() -> None:
    args = megatron_args_from_hf(tiny_qwen3_config(VOCAB))
    state = _labelled_hf_state(args)
    del state["model.layers.1.self_attn.k_norm.weight"]
    with pytest.raises(KeyError, match="model.layers.1.self_attn.k_norm.weight"):
        hf_to_megatron_state(state, args)


def test_the_mapping_leaves_its_input_tensors_untouched() -> None:
    args = megatron_args_from_hf(tiny_qwen3_config(VOCAB))
    state = _labelled_hf_state(args)
    before = {k: v.clone() for k, v in state.items()}
    for tensor in hf_to_megatron_state(state, args).values():
        tensor.add_(1.0)  # an output sharing storage with an input would change it
    assert set(state) == set(before) and all(torch.equal(state[k], before[k]) for k in state)


def test_untied_output_layer_is_mapped_and_zero_padded() -> None:
    args = megatron_args_from_hf(tiny_qwen3_config(VOCAB, tie_word_embeddings=False))
    state = {**_labelled_hf_state(args), "lm_head.weight": torch.ones(VOCAB, args.hidden_size)}
    out = hf_to_megatron_state(state, args)["output_layer.weight"]
    assert out.shape == (1024, args.hidden_size)
    assert bool((out[:VOCAB] == 1).all()) and bool((out[VOCAB:] == 0).all())


@requires_megatron
def test_convert_of_a_missing_hf_dir_raises_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        convert(tmp_path / "no-such-model", tmp_path / "out")


def test_convert_refuses_a_non_empty_output_dir(hf_dir: Path, good_dir: Path) -> None:
    with pytest.raises(FileExistsError, match="not empty"):
        convert(hf_dir, good_dir)


# ---- CLI -----------------------------------------------------------------------------------------


def test_cli_check_exits_non_zero_and_prints_the_mismatch(hf_dir: Path, wrong_base_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from retool.cli import main

    status = main(["checkpoint", "check", str(hf_dir), str(wrong_base_dir), "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert status == 1
    assert "rotary base 1000000 != rope_theta 5000000: generations will be garbled" in out
    assert json.loads((tmp_path / "r.json").read_text())["ok"] is False


def test_cli_check_passes_a_good_conversion(hf_dir: Path, good_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from retool.cli import main

    assert main(["checkpoint", "check", str(hf_dir), str(good_dir), "--atol", "1e-4"]) == 0
    assert "PASS" in capsys.readouterr().out


def test_cli_convert_refuses_a_disagreeing_base_without_force(hf_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from retool.cli import main

    assert main(["checkpoint", "convert", str(hf_dir), str(tmp_path / "out"), "--rotary-base", "1e6"]) == 2
    assert "1000000 disagrees with the HF config's rope_theta 5000000" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_args_only_check_fails_on_the_base_without_building_models(hf_dir: Path, wrong_base_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from retool.cli import main

    assert main(["checkpoint", "check", str(hf_dir), str(wrong_base_dir), "--args-only"]) == 1
    out = capsys.readouterr().out
    assert "rotary_base" in out and "MISMATCH" in out and "logits" not in out


def test_cli_check_of_a_missing_dir_is_a_clear_error(hf_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from retool.cli import main

    assert main(["checkpoint", "check", str(hf_dir), str(tmp_path / "absent")]) == 2
    err = capsys.readouterr().err
    assert "is not a Megatron checkpoint: no latest_checkpointed_iteration.txt and no torch_dist files" in err
