"""The converted checkpoint's keys against the two layer specs a Megatron launch may build.

Local spec (``--transformer-impl local``): built here on CPU with megatron-core 0.16.1 and asked
for its ``sharded_state_dict()``.

Transformer Engine spec (Megatron's and miles's default; TE is not installed here, so its key set
is stated from the sources, megatron-core 0.16.1 as installed):
- ``megatron/core/models/gpt/gpt_layer_specs.py``, ``get_gpt_layer_with_transformer_engine_spec``
  (what miles's ``model_provider`` builds for a dense model): ``input_layernorm`` and
  ``pre_mlp_layernorm`` are ``IdentityOp`` (no state); ``linear_qkv`` and ``mlp.linear_fc1`` are
  ``TELayerNormColumnParallelLinear``; ``linear_proj`` and ``mlp.linear_fc2`` are
  ``TERowParallelLinear``; ``core_attention`` is ``TEDotProductAttention``; the q/k norms are
  ``TENorm`` (``TESpecProvider.layer_norm(for_qk=True)``, TE >= 1.9).
- ``megatron/core/extensions/transformer_engine.py``: the linears' ``sharded_state_dict`` is their
  TE module's ``state_dict`` (``LayerNormLinear``: ``layer_norm_weight``, ``weight``,
  ``_extra_state``, no ``layer_norm_bias`` for RMSNorm, no ``bias`` without ``add_bias_linear``;
  ``Linear``: ``weight``, ``_extra_state``); ``TEDotProductAttention.sharded_state_dict`` is empty
  unless ``softmax_type == "learnable"``; ``TENorm`` returns ``te.pytorch.RMSNorm``, whose base
  ``transformer_engine/pytorch/ops/op.py`` ``BasicOperation`` defines ``get_extra_state``, so
  ``sharded_state_dict_default`` (``megatron/core/transformer/utils.py``) stores its ``weight``
  and an ``_extra_state`` object.
- The embedding, the final norm (the block's ``LayerNormImpl`` for a layer spec) and the output
  layer (``tensor_parallel.ColumnParallelLinear``) are built by ``GPTModel`` alike for both specs.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest

from retool.checkpoint.layout import TE_ONLY_EXTRA_STATES

pytestmark = [pytest.mark.timeout(180), pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]

TE_SPEC_LAYER_KEYS = frozenset({
    "self_attention.linear_qkv.layer_norm_weight", "self_attention.linear_qkv.weight",
    "self_attention.linear_qkv._extra_state",
    "self_attention.q_layernorm.weight", "self_attention.q_layernorm._extra_state",
    "self_attention.k_layernorm.weight", "self_attention.k_layernorm._extra_state",
    "self_attention.linear_proj.weight", "self_attention.linear_proj._extra_state",
    "mlp.linear_fc1.layer_norm_weight", "mlp.linear_fc1.weight", "mlp.linear_fc1._extra_state",
    "mlp.linear_fc2.weight", "mlp.linear_fc2._extra_state",
})
MODEL_KEYS_TIED = frozenset({"embedding.word_embeddings.weight", "decoder.final_layernorm.weight"})
TE_SPEC_KEYS_TIED = MODEL_KEYS_TIED | {"decoder.layers." + k for k in TE_SPEC_LAYER_KEYS}


def _checkpoint_keys(root: Path) -> set[str]:
    """Keys of the torch_dist files (a ShardedObject is stored as ``key/shard_<offsets>``)."""
    from torch.distributed.checkpoint import FileSystemReader

    metadata = FileSystemReader(str(root / "release")).read_metadata().state_dict_metadata
    return {name.split("/shard_")[0] for name in metadata}


def _local_spec_request(root: Path) -> dict:
    """The sharded state dict a local-spec model built from the stored args asks a load for."""
    from retool.checkpoint import build_gpt_model, load_stored_args

    return build_gpt_model(load_stored_args(root)).sharded_state_dict()


def _te_spec_request(root: Path) -> dict:
    """The local request plus the TE-only q/k-norm objects: the key set a TE-spec model asks for."""
    request = _local_spec_request(root)
    for name in [n for n in request if n.endswith("self_attention.linear_qkv._extra_state")]:
        prefix = name.removesuffix("self_attention.linear_qkv._extra_state")
        for suffix in TE_ONLY_EXTRA_STATES:
            request[prefix + suffix] = dataclasses.replace(request[name], key="decoder.layers." + suffix, data=io.BytesIO())
    return request


def test_the_checkpoint_keys_are_the_te_specs(good_dir: Path) -> None:
    assert _checkpoint_keys(good_dir) == TE_SPEC_KEYS_TIED


def test_the_local_specs_keys_are_the_checkpoints_but_the_te_only_norm_states(good_dir: Path) -> None:
    from retool.checkpoint.megatron_cpu import megatron_session

    with megatron_session():
        local = {value.key for value in _local_spec_request(good_dir).values()}
    on_disk = _checkpoint_keys(good_dir)
    assert local <= on_disk
    assert on_disk - local == {"decoder.layers." + k for k in TE_ONLY_EXTRA_STATES}


def test_an_untied_model_adds_only_the_output_layer(workdir: Path) -> None:
    from retool.checkpoint import convert
    from tests.unit.checkpoint.hf_models import save_hf

    root = workdir / "megatron-untied"
    if not root.exists():
        convert(save_hf(workdir / "hf-untied", tie_word_embeddings=False), root)
    assert _checkpoint_keys(root) == TE_SPEC_KEYS_TIED | {"output_layer.weight"}


@pytest.mark.parametrize("spec", ["local", "transformer_engine"])
def test_a_request_with_each_specs_keys_loads_under_megatron_lms_default_strictness(good_dir: Path, spec: str) -> None:
    from megatron.core import dist_checkpointing

    from retool.checkpoint.layout import resolve_torch_dist_dir
    from retool.checkpoint.megatron_cpu import megatron_session

    with megatron_session():
        request = _te_spec_request(good_dir) if spec == "transformer_engine" else _local_spec_request(good_dir)
        keys = {value.key for value in request.values()}
        assert spec == "local" or keys == TE_SPEC_KEYS_TIED
        loaded = dist_checkpointing.load({"model": request}, str(resolve_torch_dist_dir(good_dir)),
                                         strict="assume_ok_unexpected")  # Megatron-LM's --dist-ckpt-strictness default
    assert set(loaded["model"]) == set(request)


def test_no_norm_extra_state_is_added_where_the_model_has_no_qk_norms(workdir: Path) -> None:
    from retool.checkpoint import build_gpt_model, megatron_args_from_hf
    from retool.checkpoint.conversion import te_sharded_state_dict
    from retool.checkpoint.megatron_cpu import megatron_session
    from retool.embedded.models import tiny_qwen3_config

    args = dataclasses.replace(megatron_args_from_hf(tiny_qwen3_config(1000)), qk_layernorm=False)
    with megatron_session():
        model = build_gpt_model(args)
        assert set(te_sharded_state_dict(model)) == set(model.sharded_state_dict())
