"""The way back: a Megatron torch_dist checkpoint (ours, or one a miles/Megatron-LM run saved) -> HF Qwen3.

Contract:
- :func:`read_torch_dist_tensors` reads the model tensors of a torch_dist directory with
  ``torch.distributed.checkpoint`` alone (no model is built, no process group): the global,
  TP/PP-independent tensors, layers stacked on dim 0. Optimizer states and RNG objects in a
  training checkpoint are skipped; a model tensor the architecture needs and the checkpoint lacks
  raises ``KeyError`` naming it.
- :func:`megatron_to_hf_state` is pure, the exact inverse of
  :func:`retool.checkpoint.conversion.hf_to_megatron_state` on the checkpoint's (TE spec) names:
  the fused norms go back to ``input_layernorm``/``post_attention_layernorm``, ``linear_qkv`` is
  split per query group into ``q_proj/k_proj/v_proj``, ``linear_fc1`` into ``gate_proj`` (first
  half) and ``up_proj``, the embedding rows (and the untied output layer's) are cut back to the
  vocabulary. Tied models get no ``lm_head.weight`` (as ``save_pretrained`` writes them). Values and
  dtypes are copied bit for bit.
- :func:`export` writes ``HF_DIR`` (must not exist or be empty): every file of the ``like`` HF dir
  except weights (config, tokenizer, chat template, generation config), and the weights as
  ``model.safetensors`` or, past ``max_shard_bytes``, numbered shards with
  ``model.safetensors.index.json``, every tensor in the stored ``params_dtype`` (the dtype a
  Megatron-LM run trains its model in; older conversions of ours kept bf16 models' norms in
  float32, which casts back exactly). The stored args must match the ``like`` config field by field
  (:func:`retool.checkpoint.args.compare_args`, rotary base included); any mismatch raises
  ``ValueError`` listing every one, before anything is written.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from retool.checkpoint.args import MegatronArgs, compare_args, megatron_args_from_hf
from retool.checkpoint.layout import resolve_torch_dist_dir

DEFAULT_MAX_SHARD_BYTES = 5 * 1024**3
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
INDEX_NAMES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
_LAYER_TENSORS = (  # checkpoint names under ``decoder.layers.`` (TE spec), stacked (L, ...)
    "self_attention.linear_qkv.layer_norm_weight", "self_attention.linear_qkv.weight",
    "self_attention.linear_proj.weight", "mlp.linear_fc1.layer_norm_weight", "mlp.linear_fc1.weight",
    "mlp.linear_fc2.weight",
)
_QK_NORMS = ("self_attention.q_layernorm.weight", "self_attention.k_layernorm.weight")


@dataclass(frozen=True, kw_only=True)
class ExportReport:
    megatron_dir: str  # the torch_dist directory read
    hf_dir: str
    args: MegatronArgs
    num_tensors: int
    num_bytes: int
    files: tuple[str, ...]  # weight files written
    seconds: float


def model_tensor_names(args: MegatronArgs) -> tuple[str, ...]:
    """The checkpoint's model tensor names for this architecture."""
    names = ["embedding.word_embeddings.weight", "decoder.final_layernorm.weight"]
    names += ["decoder.layers." + n for n in _LAYER_TENSORS + (_QK_NORMS if args.qk_layernorm else ())]
    if not args.tie_embeddings:
        names.append("output_layer.weight")
    return tuple(names)


def read_torch_dist_tensors(folder: str | os.PathLike[str], names: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """The named global tensors of a torch_dist directory, read on CPU in their stored dtype."""
    import torch.distributed.checkpoint as dcp

    reader = dcp.FileSystemReader(str(folder))
    metadata = reader.read_metadata().state_dict_metadata
    missing = [n for n in names if not isinstance(metadata.get(n), dcp.metadata.TensorStorageMetadata)]
    if missing:
        raise KeyError(f"torch_dist checkpoint {str(folder)!r} lacks model tensors {missing}")
    state = {n: torch.empty(metadata[n].size, dtype=metadata[n].properties.dtype) for n in names}
    dcp.load(state, storage_reader=reader, no_dist=True)
    return state


def _unpad(weight: torch.Tensor, rows: int) -> torch.Tensor:
    if weight.shape[0] < rows:
        raise ValueError(f"embedding has {weight.shape[0]} rows, fewer than the vocabulary's {rows}")
    return weight[:rows].clone()


def megatron_to_hf_state(mg: dict[str, torch.Tensor], args: MegatronArgs) -> dict[str, torch.Tensor]:
    """Checkpoint (TE-spec, stacked) tensors -> HF Qwen3 tensors (see the module contract)."""
    h, d, groups = args.hidden_size, args.kv_channels, args.num_query_groups
    per_group = args.num_attention_heads // groups
    ffn = args.ffn_hidden_size

    def layer(name: str) -> torch.Tensor:
        key = "decoder.layers." + name
        if key not in mg:
            raise KeyError(f"checkpoint tensors lack {key!r}")
        stacked = mg[key]
        if stacked.shape[0] != args.num_layers:
            raise ValueError(f"{key!r} stacks {stacked.shape[0]} layers, the args say {args.num_layers}")
        return stacked

    out = {"model.embed_tokens.weight": _unpad(mg["embedding.word_embeddings.weight"], args.vocab_size),
           "model.norm.weight": mg["decoder.final_layernorm.weight"].clone()}
    if not args.tie_embeddings:
        out["lm_head.weight"] = _unpad(mg["output_layer.weight"], args.vocab_size)
    qkv_all, fc1_all = layer("self_attention.linear_qkv.weight"), layer("mlp.linear_fc1.weight")
    for i in range(args.num_layers):
        p = f"model.layers.{i}."
        qkv = qkv_all[i].reshape(groups, (per_group + 2) * d, h)  # (G, (Q+2)*d, h)
        q, k, v = torch.split(qkv, [per_group * d, d, d], dim=1)  # (G, Q*d, h), (G, d, h), (G, d, h)
        out.update({
            p + "input_layernorm.weight": layer("self_attention.linear_qkv.layer_norm_weight")[i].clone(),
            p + "self_attn.q_proj.weight": q.reshape(groups * per_group * d, h).clone(),
            p + "self_attn.k_proj.weight": k.reshape(groups * d, h).clone(),
            p + "self_attn.v_proj.weight": v.reshape(groups * d, h).clone(),
            p + "self_attn.o_proj.weight": layer("self_attention.linear_proj.weight")[i].clone(),
            p + "post_attention_layernorm.weight": layer("mlp.linear_fc1.layer_norm_weight")[i].clone(),
            p + "mlp.gate_proj.weight": fc1_all[i, :ffn].clone(),  # (ffn, h)
            p + "mlp.up_proj.weight": fc1_all[i, ffn:].clone(),  # (ffn, h)
            p + "mlp.down_proj.weight": layer("mlp.linear_fc2.weight")[i].clone(),
        })
        if args.qk_layernorm:
            out[p + "self_attn.q_norm.weight"] = layer("self_attention.q_layernorm.weight")[i].clone()
            out[p + "self_attn.k_norm.weight"] = layer("self_attention.k_layernorm.weight")[i].clone()
    return out


def _shards(state: dict[str, torch.Tensor], max_shard_bytes: int) -> list[dict[str, torch.Tensor]]:
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = tensor
        size += nbytes
    return shards


def _write_weights(state: dict[str, torch.Tensor], out: Path, max_shard_bytes: int) -> tuple[str, ...]:
    from safetensors.torch import save_file

    shards = _shards(state, max_shard_bytes)
    if len(shards) == 1:
        save_file(shards[0], str(out / "model.safetensors"), metadata={"format": "pt"})
        return ("model.safetensors",)
    names = tuple(f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards)))
    weight_map = {}
    for name, shard in zip(names, shards):
        save_file(shard, str(out / name), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(shard, name))
    total = sum(t.numel() * t.element_size() for t in state.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    return names


def _copy_assets(like: Path, out: Path) -> None:
    for item in sorted(like.iterdir()):
        if item.is_file() and not item.name.endswith(WEIGHT_SUFFIXES) and item.name not in INDEX_NAMES:
            shutil.copy2(item, out / item.name)


def export(megatron_dir: str | os.PathLike[str], hf_dir: str | os.PathLike[str], *, like: str | os.PathLike[str],
           max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES) -> ExportReport:
    """Write the checkpoint's weights as an HF model dir shaped like ``like`` (see the module contract)."""
    from retool.checkpoint.conversion import load_stored_args, read_hf_config, torch_dtype

    start = time.perf_counter()
    if max_shard_bytes <= 0:
        raise ValueError(f"max_shard_bytes must be positive, got {max_shard_bytes!r}")
    folder = resolve_torch_dist_dir(megatron_dir)
    like_dir = Path(like)
    expected = megatron_args_from_hf(read_hf_config(like_dir))
    stored = load_stored_args(folder)
    bad = [c.message for c in compare_args(stored, expected) if not c.ok]
    if bad:
        raise ValueError(f"the checkpoint's stored args disagree with {str(like_dir)!r}'s config: " + "; ".join(bad))
    out = Path(hf_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"output directory {str(out)!r} is not empty")
    dtype = torch_dtype(stored.params_dtype)
    state = {name: tensor.to(dtype) for name, tensor in
             megatron_to_hf_state(read_torch_dist_tensors(folder, model_tensor_names(stored)), stored).items()}
    out.mkdir(parents=True, exist_ok=True)
    _copy_assets(like_dir, out)
    files = _write_weights(state, out, max_shard_bytes)
    return ExportReport(megatron_dir=str(folder), hf_dir=str(out), args=stored, num_tensors=len(state),
                        num_bytes=sum(t.numel() * t.element_size() for t in state.values()), files=files,
                        seconds=time.perf_counter() - start)
