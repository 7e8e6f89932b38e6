"""Hugging Face Qwen3 -> megatron-core ``GPTModel`` conversion, saved as torch_dist in the Megatron layout.

Contract:
- :func:`hf_to_megatron_state` is pure: HF tensors in, megatron-core tensors out (new tensors,
  inputs untouched). Mapping per layer ``i`` (h = hidden, d = kv channels, G = query groups,
  Q = heads per group):
  ``input_layernorm`` -> ``input_layernorm``; ``q_proj/k_proj/v_proj`` -> ``linear_qkv``, rows
  interleaved per query group as megatron splits them: ``[q_g0 (Q*d), k_g0 (d), v_g0 (d), q_g1...]``;
  ``q_norm/k_norm`` -> ``q_layernorm/k_layernorm``; ``o_proj`` -> ``linear_proj``;
  ``post_attention_layernorm`` -> ``pre_mlp_layernorm``; ``cat(gate_proj, up_proj)`` ->
  ``linear_fc1`` (megatron's SwiGLU reads the first half as the gate); ``down_proj`` ->
  ``linear_fc2``; ``embed_tokens`` -> ``word_embeddings`` and, when untied, ``lm_head`` ->
  ``output_layer``, both zero-padded to ``padded_vocab_size`` rows; ``norm`` -> ``final_layernorm``.
- :func:`convert` reads ``config.json`` and ``*.safetensors`` from an HF dir, builds the model
  (:func:`build_gpt_model`, the local spec: RMSNorm, SwiGLU, qk-layernorm, GQA, RoPE with the
  args' ``rotary_base``), loads the mapped weights (strictly: any missing or unexpected tensor is
  an error naming it), casts every tensor to the weights' dtype (the local spec builds its norms
  in float32) and saves with ``dist_checkpointing`` (torch_dist) together with
  Megatron-LM-style ``args`` (``checkpoint_version``, ``iteration``) in the common state, in the
  layout a Megatron launch loads (:mod:`retool.checkpoint.layout`): ``OUT_DIR/release/`` plus
  ``OUT_DIR/latest_checkpointed_iteration.txt`` holding ``release``. The keys are the Transformer
  Engine spec's (the local spec's ``sharded_state_dict_keys_map`` already names the fused norms
  ``linear_qkv.layer_norm_weight``/``linear_fc1.layer_norm_weight``, and its linears store an
  empty ``_extra_state``); the q/k norms' TE-only ``_extra_state`` objects are added, empty.
- :func:`load_stored_args` / :func:`load_megatron` take the root, the iteration directory or a
  flat torch_dist directory (older conversions); the latter builds a model from the stored args
  and loads its weights.
- The save is synchronous and forks its writer processes (no spawned helper: see
  :func:`retool.checkpoint.megatron_cpu.synchronous_save_queue`). On CPU-only hosts
  :mod:`retool.checkpoint.megatron_cpu` adapts megatron-core first.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from retool.checkpoint.args import MegatronArgs, args_from_namespace, megatron_args_from_hf
from retool.checkpoint.layout import (RELEASE_DIRNAME, TE_ONLY_EXTRA_STATES, resolve_torch_dist_dir,
                                      write_release_tracker)
from retool.checkpoint.megatron_cpu import megatron_session, synchronous_save_queue

CHECKPOINT_VERSION = 3.0  # what Megatron-LM writes for torch_dist checkpoints


@dataclass(frozen=True, kw_only=True)
class ConversionReport:
    hf_dir: str
    out_dir: str
    args: MegatronArgs
    config_rope_theta: float
    forced_rotary_base: bool  # True when an override disagreeing with the config was forced
    num_tensors: int
    num_parameters: int
    seconds: float


def torch_dtype(name: str) -> torch.dtype:
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unknown params_dtype {name!r}")
    return dtype


def build_gpt_model(args: MegatronArgs, *, dtype: torch.dtype | None = None):
    """A megatron-core ``GPTModel`` (local spec) with this architecture, uninitialised weights."""
    import torch.nn.functional as F
    from megatron.core.models.gpt import GPTModel
    from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
    from megatron.core.transformer.transformer_config import TransformerConfig

    if args.normalization != "RMSNorm" or not args.swiglu or args.add_bias_linear or args.add_qkv_bias:
        raise ValueError(
            f"only the Qwen3 layout builds here (RMSNorm, SwiGLU, no bias); got normalization="
            f"{args.normalization!r} swiglu={args.swiglu} add_bias_linear={args.add_bias_linear} "
            f"add_qkv_bias={args.add_qkv_bias}"
        )
    config = TransformerConfig(
        num_layers=args.num_layers,
        hidden_size=args.hidden_size,
        ffn_hidden_size=args.ffn_hidden_size,
        num_attention_heads=args.num_attention_heads,
        num_query_groups=args.num_query_groups,
        kv_channels=args.kv_channels,
        layernorm_epsilon=args.norm_epsilon,
        normalization="RMSNorm",
        qk_layernorm=args.qk_layernorm,
        gated_linear_unit=True,
        activation_func=F.silu,
        add_bias_linear=False,
        add_qkv_bias=False,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        params_dtype=dtype or torch_dtype(args.params_dtype),
        use_cpu_initialization=True,
        perform_initialization=False,
        bias_activation_fusion=False,
        bias_dropout_fusion=False,
        masked_softmax_fusion=False,
        persist_layer_norm=False,
        apply_rope_fusion=False,
    )
    spec = get_gpt_layer_local_spec(qk_layernorm=args.qk_layernorm, normalization="RMSNorm")
    model = GPTModel(
        config=config,
        transformer_layer_spec=spec,
        vocab_size=args.padded_vocab_size,
        max_sequence_length=args.max_position_embeddings,
        share_embeddings_and_output_weights=args.tie_embeddings,
        position_embedding_type="rope",
        rotary_percent=1.0,
        rotary_base=args.rotary_base,
    )
    return model.eval()


def _pad_rows(weight: torch.Tensor, rows: int) -> torch.Tensor:
    if weight.shape[0] == rows:
        return weight.clone()
    pad = weight.new_zeros((rows - weight.shape[0], *weight.shape[1:]))
    return torch.cat([weight, pad], dim=0)  # (rows, h)


def _take(hf: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    if name not in hf:
        raise KeyError(f"HF weights lack {name!r}")
    return hf[name]


def hf_to_megatron_state(hf: dict[str, torch.Tensor], args: MegatronArgs) -> dict[str, torch.Tensor]:
    """Map HF Qwen3 tensors to megatron-core local-spec names (see the module contract)."""
    h, d, groups = args.hidden_size, args.kv_channels, args.num_query_groups
    per_group = args.num_attention_heads // groups
    out: dict[str, torch.Tensor] = {
        "embedding.word_embeddings.weight": _pad_rows(_take(hf, "model.embed_tokens.weight"), args.padded_vocab_size),
        "decoder.final_layernorm.weight": _take(hf, "model.norm.weight").clone(),
    }
    if not args.tie_embeddings:
        out["output_layer.weight"] = _pad_rows(_take(hf, "lm_head.weight"), args.padded_vocab_size)
    for i in range(args.num_layers):
        src, dst = f"model.layers.{i}.", f"decoder.layers.{i}."
        q = _take(hf, src + "self_attn.q_proj.weight").reshape(groups, per_group * d, h)  # (G, Q*d, h)
        k = _take(hf, src + "self_attn.k_proj.weight").reshape(groups, d, h)  # (G, d, h)
        v = _take(hf, src + "self_attn.v_proj.weight").reshape(groups, d, h)  # (G, d, h)
        qkv = torch.cat([q, k, v], dim=1).reshape(groups * (per_group + 2) * d, h)  # (G*(Q+2)*d, h)
        fc1 = torch.cat([_take(hf, src + "mlp.gate_proj.weight"), _take(hf, src + "mlp.up_proj.weight")], dim=0)
        out.update({
            dst + "input_layernorm.weight": _take(hf, src + "input_layernorm.weight").clone(),
            dst + "self_attention.linear_qkv.weight": qkv,
            dst + "self_attention.linear_proj.weight": _take(hf, src + "self_attn.o_proj.weight").clone(),
            dst + "pre_mlp_layernorm.weight": _take(hf, src + "post_attention_layernorm.weight").clone(),
            dst + "mlp.linear_fc1.weight": fc1,  # (2*ffn, h): gate rows then up rows
            dst + "mlp.linear_fc2.weight": _take(hf, src + "mlp.down_proj.weight").clone(),
        })
        if args.qk_layernorm:
            out[dst + "self_attention.q_layernorm.weight"] = _take(hf, src + "self_attn.q_norm.weight").clone()
            out[dst + "self_attention.k_layernorm.weight"] = _take(hf, src + "self_attn.k_norm.weight").clone()
    return out


def read_hf_config(hf_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """``config.json`` of an HF model dir, raw (legacy and transformers-5 fields as written)."""
    folder = Path(hf_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"HF model directory {str(folder)!r} does not exist")
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{str(folder)!r} is not a Hugging Face model directory (no config.json)")
    return json.loads(config_path.read_text())


def read_hf_dir(hf_dir: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``(config.json as a dict, every tensor of its *.safetensors files)``."""
    from safetensors.torch import load_file

    config = read_hf_config(hf_dir)
    folder = Path(hf_dir)
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no *.safetensors weights in {str(folder)!r}")
    tensors: dict[str, torch.Tensor] = {}
    for file in files:
        tensors.update(load_file(str(file)))
    return config, tensors


def _load_strict(model: Any, state: dict[str, torch.Tensor]) -> None:
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("._extra_state")]
    if missing or result.unexpected_keys:
        raise ValueError(f"weight mapping mismatch: missing {missing}, unexpected {list(result.unexpected_keys)}")


def convert(hf_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
            rotary_base: float | None = None, force: bool = False) -> ConversionReport:
    """Convert an HF Qwen3 dir to a torch_dist megatron-core checkpoint (see the module contract)."""
    import time

    from megatron.core import dist_checkpointing

    from retool.checkpoint.args import rope_base_of

    start = time.perf_counter()
    config, hf = read_hf_dir(hf_dir)
    args = megatron_args_from_hf(config, rotary_base_override=rotary_base, force=force)
    weight_dtype = hf["model.embed_tokens.weight"].dtype if "model.embed_tokens.weight" in hf else None
    if weight_dtype is not None and str(weight_dtype).removeprefix("torch.") != args.params_dtype:
        args = replace(args, params_dtype=str(weight_dtype).removeprefix("torch."))
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"output directory {str(out)!r} is not empty")
    out.mkdir(parents=True, exist_ok=True)
    state = hf_to_megatron_state(hf, args)
    with megatron_session():
        model = build_gpt_model(args)
        _load_strict(model, state)
        model.to(torch_dtype(args.params_dtype))  # the local spec's torch norms are built in float32
        sharded = {
            "model": te_sharded_state_dict(model),
            "args": args.to_namespace(),
            "checkpoint_version": CHECKPOINT_VERSION,
            "iteration": 0,
        }
        (out / RELEASE_DIRNAME).mkdir()
        with synchronous_save_queue():
            dist_checkpointing.save(sharded, str(out / RELEASE_DIRNAME))
        write_release_tracker(out)  # last: a root with a tracker is a complete checkpoint
    config_base = rope_base_of(config)
    return ConversionReport(
        hf_dir=str(hf_dir),
        out_dir=str(out),
        args=args,
        config_rope_theta=config_base,
        forced_rotary_base=args.rotary_base != config_base,
        num_tensors=len(state),
        num_parameters=sum(p.numel() for p in model.parameters()),
        seconds=time.perf_counter() - start,
    )


def te_sharded_state_dict(model: Any) -> dict[str, Any]:
    """``model.sharded_state_dict()`` plus the TE spec's empty q/k-norm ``_extra_state`` objects."""
    sharded = model.sharded_state_dict()
    for name in list(sharded):
        if not name.endswith(".self_attention.linear_qkv._extra_state"):
            continue
        template = sharded[name]  # same per-layer offsets and replica id as the objects to add
        layer_prefix = name.removesuffix("self_attention.linear_qkv._extra_state")
        for suffix in TE_ONLY_EXTRA_STATES:
            if layer_prefix + suffix.replace("_extra_state", "weight") in sharded:  # the norm exists (qk_layernorm)
                sharded[layer_prefix + suffix] = replace(template, key="decoder.layers." + suffix, data=None)
    return sharded


def load_stored_args(megatron_dir: str | os.PathLike[str]) -> MegatronArgs:
    """The :class:`MegatronArgs` stored in a torch_dist checkpoint's common state (root, iteration or flat dir)."""
    from megatron.core import dist_checkpointing

    folder = resolve_torch_dist_dir(megatron_dir)
    common = dist_checkpointing.load_common_state_dict(str(folder))
    if "args" not in common:
        raise ValueError(f"checkpoint {str(folder)!r} stores no 'args' in its common state")
    return args_from_namespace(common["args"])


def load_megatron(megatron_dir: str | os.PathLike[str], args: MegatronArgs | None = None):
    """``(model, args)``: a ``GPTModel`` built from the stored (or given) args, weights loaded.

    Needs an active :func:`retool.checkpoint.megatron_cpu.megatron_session`.
    """
    from megatron.core import dist_checkpointing

    args = args or load_stored_args(megatron_dir)
    model = build_gpt_model(args)
    folder = resolve_torch_dist_dir(megatron_dir)
    loaded = dist_checkpointing.load({"model": model.sharded_state_dict()}, str(folder))
    _load_strict(model, loaded["model"])
    return model, args
