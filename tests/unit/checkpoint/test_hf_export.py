"""retool.checkpoint.hf_export: the way back, HF -> Megatron -> HF, bit for bit, on real conversions on CPU.

The tiny model's round trip runs on this folder's shared conversions; the model with Qwen3-4B's
real widths (hidden 2560, 32 heads, 8 query groups, head_dim 128, ffn 9728, vocab 151936, tied;
2 layers, bf16 as the checkpoint is published) is written straight from random bf16 tensors and
converted once for the module (marked slow).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from retool.checkpoint import convert, export, megatron_args_from_hf, megatron_to_hf_state
from retool.embedded.models import tiny_qwen3_config
from tests.unit.checkpoint.hf_models import VOCAB, save_hf

pytestmark = [pytest.mark.timeout(300), pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    tensors: dict[str, torch.Tensor] = {}
    for file in sorted(folder.glob("*.safetensors")):
        tensors.update(load_file(str(file)))
    return tensors


def _bit_identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> list[str]:
    """Names whose dtype, shape or bytes differ (and names only one side has)."""
    bad = sorted(set(a) ^ set(b))
    for name in set(a) & set(b):
        x, y = a[name], b[name]
        if x.dtype != y.dtype or x.shape != y.shape or not torch.equal(x.contiguous().view(torch.uint8),
                                                                       y.contiguous().view(torch.uint8)):
            bad.append(name)
    return bad


def _logits(folder: Path, ids: torch.Tensor) -> torch.Tensor:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True).eval()
    with torch.no_grad():
        return model(input_ids=ids).logits  # (B, T, V)


@pytest.fixture(scope="module")
def exported(workdir: Path, hf_dir: Path, good_dir: Path) -> Path:
    export(good_dir, workdir / "hf-back", like=hf_dir)
    return workdir / "hf-back"


# ---- the tiny model ----------------------------------------------------------------------------


def test_the_round_trip_gives_back_every_tensor_bit_for_bit(hf_dir: Path, exported: Path) -> None:
    assert _bit_identical(_weights(hf_dir), _weights(exported)) == []


def test_the_exported_model_computes_the_same_logits_exactly(hf_dir: Path, exported: Path) -> None:
    ids = torch.arange(48).reshape(2, 24) * 37 % VOCAB  # (B, T)
    assert torch.equal(_logits(hf_dir, ids), _logits(exported, ids))


def test_the_export_carries_the_like_dirs_config_and_one_weight_file(hf_dir: Path, exported: Path) -> None:
    assert json.loads((exported / "config.json").read_text()) == json.loads((hf_dir / "config.json").read_text())
    assert sorted(p.name for p in exported.glob("*.safetensors")) == ["model.safetensors"]


def test_untied_and_bf16_models_round_trip_bit_for_bit(workdir: Path) -> None:
    hf = save_hf(workdir / "hf-untied-bf16", seed=5, dtype=torch.bfloat16, tie_word_embeddings=False)
    convert(hf, workdir / "megatron-untied-bf16")
    export(workdir / "megatron-untied-bf16", workdir / "back-untied-bf16", like=hf)
    back = _weights(workdir / "back-untied-bf16")
    assert "lm_head.weight" in back and back["lm_head.weight"].dtype == torch.bfloat16
    assert _bit_identical(_weights(hf), back) == []


def test_shards_past_the_limit_load_with_their_index(hf_dir: Path, good_dir: Path, workdir: Path) -> None:
    report = export(good_dir, workdir / "hf-sharded", like=hf_dir, max_shard_bytes=64 * 1024)
    index = json.loads((workdir / "hf-sharded" / "model.safetensors.index.json").read_text())
    assert len(report.files) > 1 and set(index["weight_map"].values()) == set(report.files)
    ids = torch.arange(16)[None] * 11 % VOCAB  # (1, T)
    assert torch.equal(_logits(hf_dir, ids), _logits(workdir / "hf-sharded", ids))


@pytest.fixture(scope="module")
def trained_layout(workdir: Path, good_dir: Path) -> Path:
    """The good checkpoint re-saved as a training run leaves it: ``iter_0000012/`` + tracker ``12``, with an
    optimizer-state tensor and an RNG object beside the model (Megatron-LM's ``generate_state_dict`` keys)."""
    from megatron.core import dist_checkpointing
    from megatron.core.dist_checkpointing.mapping import ShardedObject, ShardedTensor

    from retool.checkpoint import load_megatron
    from retool.checkpoint.conversion import te_sharded_state_dict
    from retool.checkpoint.megatron_cpu import megatron_session, synchronous_save_queue

    root = workdir / "trained-run"
    (root / "iter_0000012").mkdir(parents=True)
    with megatron_session():
        model, args = load_megatron(good_dir)
        exp_avg = torch.zeros(args.padded_vocab_size, args.hidden_size)  # (V_padded, h)
        state = {"model": te_sharded_state_dict(model), "args": args.to_namespace(), "iteration": 12,
                 "checkpoint_version": 3.0,
                 "optimizer": {"exp_avg": ShardedTensor.from_rank_offsets(
                     "optimizer.state.exp_avg.embedding.word_embeddings.weight", exp_avg)},
                 "rng_state": ShardedObject("rng_state", {"seed": 0}, (1,), (0,), replica_id=0)}
        with synchronous_save_queue():
            dist_checkpointing.save(state, str(root / "iter_0000012"))
    (root / "latest_checkpointed_iteration.txt").write_text("12")
    return root


@pytest.mark.parametrize("where", ["root", "iteration_dir"])
def test_a_training_runs_checkpoint_exports_skipping_optimizer_and_rng_state(hf_dir: Path, trained_layout: Path,
                                                                             tmp_path: Path, where: str) -> None:
    from torch.distributed.checkpoint import FileSystemReader

    stored = FileSystemReader(str(trained_layout / "iter_0000012")).read_metadata().state_dict_metadata
    assert "optimizer.state.exp_avg.embedding.word_embeddings.weight" in stored
    assert any(name.startswith("rng_state") for name in stored)
    source = trained_layout if where == "root" else trained_layout / "iter_0000012"
    report = export(source, tmp_path / "hf", like=hf_dir)
    assert report.megatron_dir == str(trained_layout / "iter_0000012")
    assert _bit_identical(_weights(hf_dir), _weights(tmp_path / "hf")) == []


def test_a_like_config_with_another_rotary_base_is_refused_before_writing(hf_dir: Path, good_dir: Path,
                                                                          workdir: Path) -> None:
    like = workdir / "hf-like-1e6"
    shutil.copytree(hf_dir, like, dirs_exist_ok=True)
    config = json.loads((like / "config.json").read_text())
    config["rope_parameters"]["rope_theta"] = 1_000_000.0
    (like / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="rotary base 5000000 != rope_theta 1000000"):
        export(good_dir, workdir / "hf-never", like=like)
    assert not (workdir / "hf-never").exists()


def test_export_refuses_a_non_empty_output_dir(hf_dir: Path, good_dir: Path, exported: Path) -> None:
    with pytest.raises(FileExistsError, match="not empty"):
        export(good_dir, exported, like=hf_dir)


def test_export_of_a_directory_without_a_checkpoint_names_it(hf_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="is not a Megatron checkpoint"):
        export(tmp_path, tmp_path / "out", like=hf_dir)


# ---- the pure inverse mapping ------------------------------------------------------------------


def _stacked(args) -> dict[str, torch.Tensor]:
    """Checkpoint-form tensors for ``args`` (layers stacked on dim 0), random values."""
    h, d, L = args.hidden_size, args.kv_channels, args.num_layers
    qkv_rows = (args.num_attention_heads + 2 * args.num_query_groups) * d
    return {
        "embedding.word_embeddings.weight": torch.randn(args.padded_vocab_size, h),
        "decoder.final_layernorm.weight": torch.randn(h),
        "decoder.layers.self_attention.linear_qkv.layer_norm_weight": torch.randn(L, h),
        "decoder.layers.self_attention.linear_qkv.weight": torch.randn(L, qkv_rows, h),
        "decoder.layers.self_attention.q_layernorm.weight": torch.randn(L, d),
        "decoder.layers.self_attention.k_layernorm.weight": torch.randn(L, d),
        "decoder.layers.self_attention.linear_proj.weight": torch.randn(L, h, args.num_attention_heads * d),
        "decoder.layers.mlp.linear_fc1.layer_norm_weight": torch.randn(L, h),
        "decoder.layers.mlp.linear_fc1.weight": torch.randn(L, 2 * args.ffn_hidden_size, h),
        "decoder.layers.mlp.linear_fc2.weight": torch.randn(L, h, args.ffn_hidden_size),
    }


def test_the_inverse_mapping_is_undone_by_the_forward_mapping() -> None:
    from retool.checkpoint import hf_to_megatron_state

    args = megatron_args_from_hf(tiny_qwen3_config(VOCAB, num_attention_heads=6, num_key_value_heads=2))
    stacked = _stacked(args)
    stacked["embedding.word_embeddings.weight"][VOCAB:] = 0  # the padding rows hold zeros, as converted
    forward = hf_to_megatron_state(megatron_to_hf_state(stacked, args), args)
    assert torch.equal(forward["embedding.word_embeddings.weight"], stacked["embedding.word_embeddings.weight"])
    for i in range(args.num_layers):
        assert torch.equal(forward[f"decoder.layers.{i}.self_attention.linear_qkv.weight"],
                           stacked["decoder.layers.self_attention.linear_qkv.weight"][i])
        assert torch.equal(forward[f"decoder.layers.{i}.mlp.linear_fc1.weight"],
                           stacked["decoder.layers.mlp.linear_fc1.weight"][i])


def test_a_missing_checkpoint_tensor_is_named() -> None:
    args = megatron_args_from_hf(tiny_qwen3_config(VOCAB))
    stacked = _stacked(args)
    del stacked["decoder.layers.mlp.linear_fc2.weight"]
    with pytest.raises(KeyError, match="decoder.layers.mlp.linear_fc2.weight"):
        megatron_to_hf_state(stacked, args)


def test_a_layer_count_disagreeing_with_the_args_is_named() -> None:
    args = megatron_args_from_hf(tiny_qwen3_config(VOCAB))
    stacked = _stacked(args)
    stacked["decoder.layers.mlp.linear_fc2.weight"] = stacked["decoder.layers.mlp.linear_fc2.weight"][:1]
    with pytest.raises(ValueError, match="stacks 1 layers, the args say 2"):
        megatron_to_hf_state(stacked, args)


# ---- Qwen3-4B's real widths, 2 layers ------------------------------------------------------------

QWEN3_4B_WIDTHS = {"hidden_size": 2560, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
                   "intermediate_size": 9728, "vocab_size": 151936, "tie_word_embeddings": True, "rms_norm_eps": 1e-6}


def _save_random_bf16(folder: Path, config) -> Path:
    """An HF dir of random bf16 weights for ``config``, written without building the model's weights."""
    from safetensors.torch import save_file
    from transformers import Qwen3ForCausalLM

    with torch.device("meta"):
        shapes = {n: t.shape for n, t in Qwen3ForCausalLM(config).state_dict().items() if n != "lm_head.weight"}
    generator = torch.Generator().manual_seed(0)
    tensors = {}
    for name, shape in shapes.items():
        tensor = torch.empty(shape, dtype=torch.bfloat16)
        centre = 1.0 if name.endswith("norm.weight") else 0.0
        tensor.uniform_(centre - 0.04, centre + 0.04, generator=generator)  # uniform_: 1.5x faster than normal_
        tensors[name] = tensor
    folder.mkdir(parents=True)
    config.save_pretrained(folder)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


@pytest.fixture(scope="module")
def real_widths(workdir: Path) -> tuple[Path, Path]:
    from transformers import Qwen3Config

    config = Qwen3Config(num_hidden_layers=2, max_position_embeddings=4096, dtype="bfloat16",
                         rope_parameters={"rope_type": "default", "rope_theta": 5_000_000.0}, **QWEN3_4B_WIDTHS)
    hf = _save_random_bf16(workdir / "hf-qwen3-4b-widths", config)
    convert(hf, workdir / "megatron-qwen3-4b-widths")
    export(workdir / "megatron-qwen3-4b-widths", workdir / "back-qwen3-4b-widths", like=hf)
    return hf, workdir / "back-qwen3-4b-widths"


@pytest.mark.slow
def test_qwen3_4b_widths_round_trip_bit_for_bit(real_widths: tuple[Path, Path]) -> None:
    hf, back = real_widths
    original = _weights(hf)
    assert original["model.embed_tokens.weight"].shape == (151936, 2560)
    assert original["model.layers.1.self_attn.q_proj.weight"].shape == (32 * 128, 2560)
    assert _bit_identical(original, _weights(back)) == []


@pytest.mark.slow
def test_qwen3_4b_widths_logits_are_identical_after_the_round_trip(real_widths: tuple[Path, Path]) -> None:
    hf, back = real_widths
    ids = torch.tensor([[151644, 872, 198, 3838, 374, 220, 17, 10, 17, 30, 151645, 198]])  # (1, T)
    assert torch.equal(_logits(hf, ids), _logits(back, ids))
