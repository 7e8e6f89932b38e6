"""Megatron-style args for a Qwen3-architecture model, and the field-by-field rotary-base check.

Contract (pure: no I/O, no torch):
- :class:`MegatronArgs` is the architecture a megatron-core ``GPTModel`` must be built with to
  reproduce a Hugging Face Qwen3 model, including ``rotary_base`` (RoPE has no weights: the base
  lives only in these args, so a wrong one loads silently and garbles generations).
- :func:`megatron_args_from_hf` derives them from a ``transformers`` config object or a raw
  ``config.json`` dict. The rope base comes from ``rope_parameters["rope_theta"]`` (transformers 5)
  or a legacy top-level ``rope_theta``. An override that disagrees with the config raises
  ``ValueError`` naming both values unless ``force=True``. Unsupported architectures (not qwen3,
  biases, non-SiLU activation, sliding window, rope scaling) raise naming the field and value.
- :meth:`MegatronArgs.to_namespace` / :func:`args_from_namespace` map to and from the
  ``argparse.Namespace`` Megatron-LM stores as ``args`` in a checkpoint's common state (Megatron-LM
  flag names: ``untie_embeddings_and_output_weights``, ``num_query_groups``, ``kv_channels``...),
  so checkpoints written by Megatron-LM itself can be checked too.
- :func:`compare_args` returns one :class:`FieldCheck` per field; a mismatch is a result whose
  ``message`` names the field, both values and what it breaks, e.g.
  ``"rotary base 1000000 != rope_theta 5000000: generations will be garbled"``.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ARGS_FORMAT_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class MegatronArgs:
    num_layers: int
    hidden_size: int
    ffn_hidden_size: int
    num_attention_heads: int
    num_query_groups: int
    kv_channels: int
    norm_epsilon: float
    vocab_size: int  # the tokenizer/config vocabulary
    padded_vocab_size: int  # rows of the embedding table (vocab rounded up, Megatron-style)
    tie_embeddings: bool
    rotary_base: float
    max_position_embeddings: int
    qk_layernorm: bool = True
    swiglu: bool = True
    normalization: str = "RMSNorm"
    add_bias_linear: bool = False
    add_qkv_bias: bool = False
    params_dtype: str = "float32"

    def __post_init__(self) -> None:
        for name in ("num_layers", "hidden_size", "ffn_hidden_size", "num_attention_heads",
                     "num_query_groups", "kv_channels", "vocab_size", "padded_vocab_size",
                     "max_position_embeddings"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.num_attention_heads % self.num_query_groups:
            raise ValueError(
                f"num_attention_heads {self.num_attention_heads} is not a multiple of "
                f"num_query_groups {self.num_query_groups}"
            )
        if self.padded_vocab_size < self.vocab_size:
            raise ValueError(f"padded_vocab_size {self.padded_vocab_size} < vocab_size {self.vocab_size}")
        if not (self.rotary_base > 0 and math.isfinite(self.rotary_base)):
            raise ValueError(f"rotary_base must be positive and finite, got {self.rotary_base!r}")
        if not self.norm_epsilon > 0:
            raise ValueError(f"norm_epsilon must be positive, got {self.norm_epsilon!r}")

    def to_namespace(self) -> argparse.Namespace:
        """The Megatron-LM-style ``args`` stored in a checkpoint's common state."""
        rotary = int(self.rotary_base) if float(self.rotary_base).is_integer() else self.rotary_base
        return argparse.Namespace(
            num_layers=self.num_layers,
            hidden_size=self.hidden_size,
            ffn_hidden_size=self.ffn_hidden_size,
            num_attention_heads=self.num_attention_heads,
            group_query_attention=self.num_query_groups != self.num_attention_heads,
            num_query_groups=self.num_query_groups,
            kv_channels=self.kv_channels,
            norm_epsilon=self.norm_epsilon,
            normalization=self.normalization,
            swiglu=self.swiglu,
            qk_layernorm=self.qk_layernorm,
            untie_embeddings_and_output_weights=not self.tie_embeddings,
            position_embedding_type="rope",
            use_rotary_position_embeddings=True,
            rotary_base=rotary,
            rotary_percent=1.0,
            rotary_interleaved=False,
            add_bias_linear=self.add_bias_linear,
            add_qkv_bias=self.add_qkv_bias,
            vocab_size=self.vocab_size,
            padded_vocab_size=self.padded_vocab_size,
            max_position_embeddings=self.max_position_embeddings,
            params_dtype=self.params_dtype,
            bf16=self.params_dtype == "bfloat16",
            fp16=self.params_dtype == "float16",
            transformer_impl="local",
            tensor_model_parallel_size=1,
            pipeline_model_parallel_size=1,
            ckpt_format="torch_dist",
            retool_args_version=ARGS_FORMAT_VERSION,
        )


def _get(ns: Any, name: str, default: Any = None) -> Any:
    if isinstance(ns, Mapping):
        return ns.get(name, default)
    return getattr(ns, name, default)


def args_from_namespace(ns: Any) -> MegatronArgs:
    """Read stored Megatron-LM ``args`` (Namespace or dict). Missing core fields raise naming them."""
    missing = [n for n in ("num_layers", "hidden_size", "num_attention_heads") if _get(ns, n) is None]
    if missing:
        raise ValueError(f"stored args lack {', '.join(missing)}: not a Megatron GPT checkpoint's args")
    heads = int(_get(ns, "num_attention_heads"))
    hidden = int(_get(ns, "hidden_size"))
    groups = _get(ns, "num_query_groups") if _get(ns, "group_query_attention", True) else None
    vocab = _get(ns, "vocab_size") or _get(ns, "padded_vocab_size")
    if vocab is None:
        raise ValueError("stored args lack vocab_size and padded_vocab_size")
    ffn = _get(ns, "ffn_hidden_size") or 4 * hidden
    return MegatronArgs(
        num_layers=int(_get(ns, "num_layers")),
        hidden_size=hidden,
        ffn_hidden_size=int(ffn),
        num_attention_heads=heads,
        num_query_groups=int(groups or heads),
        kv_channels=int(_get(ns, "kv_channels") or hidden // heads),
        norm_epsilon=float(_get(ns, "norm_epsilon", 1e-5)),
        vocab_size=int(vocab),
        padded_vocab_size=int(_get(ns, "padded_vocab_size") or vocab),
        tie_embeddings=not bool(_get(ns, "untie_embeddings_and_output_weights", False)),
        rotary_base=float(_get(ns, "rotary_base", 10000)),  # Megatron-LM's default when unset
        max_position_embeddings=int(_get(ns, "max_position_embeddings") or _get(ns, "seq_length") or 4096),
        qk_layernorm=bool(_get(ns, "qk_layernorm", False)),
        swiglu=bool(_get(ns, "swiglu", False)),
        normalization=str(_get(ns, "normalization", "LayerNorm")),
        add_bias_linear=bool(_get(ns, "add_bias_linear", True)),
        add_qkv_bias=bool(_get(ns, "add_qkv_bias", False)),
        params_dtype=str(_get(ns, "params_dtype", "float32")).removeprefix("torch."),
    )


def _config_dict(config: Any) -> dict[str, Any]:
    if isinstance(config, Mapping):
        return dict(config)
    if hasattr(config, "to_dict"):
        return dict(config.to_dict())
    raise TypeError(f"expected a transformers config or a config.json dict, got {type(config).__name__}")


def rope_base_of(config: Any) -> float:
    """The rope base of an HF config (object or dict), from either generation of the format."""
    cfg = _config_dict(config)
    params = cfg.get("rope_parameters")
    if isinstance(params, Mapping) and params.get("rope_theta") is not None:
        rope_type = params.get("rope_type", params.get("type", "default"))
        base = params["rope_theta"]
    elif cfg.get("rope_theta") is not None:
        scaling = cfg.get("rope_scaling") or {}
        rope_type = scaling.get("rope_type", scaling.get("type", "default"))
        base = cfg["rope_theta"]
    else:
        raise ValueError("HF config has neither rope_parameters['rope_theta'] nor rope_theta")
    if rope_type not in (None, "default"):
        raise ValueError(f"rope_type {rope_type!r} is not supported (only plain RoPE converts exactly)")
    return float(base)


def padded_vocab(vocab_size: int, divisible_by: int = 128) -> int:
    return -(-vocab_size // divisible_by) * divisible_by


def megatron_args_from_hf(config: Any, rotary_base_override: float | None = None, force: bool = False) -> MegatronArgs:
    """Derive :class:`MegatronArgs` from a Qwen3 HF config (see the module contract)."""
    cfg = _config_dict(config)
    model_type = cfg.get("model_type")
    if model_type != "qwen3":
        raise ValueError(f"model_type {model_type!r} is not supported: only 'qwen3' converts")
    for name, wanted in (("attention_bias", False), ("hidden_act", "silu"), ("use_sliding_window", False)):
        value = cfg.get(name, wanted)
        if value != wanted:
            raise ValueError(f"HF config {name}={value!r} is not supported (need {wanted!r})")
    base = rope_base_of(cfg)
    if rotary_base_override is not None and float(rotary_base_override) != base:
        if not force:
            raise ValueError(
                f"rotary base override {_num(rotary_base_override)} disagrees with the HF config's "
                f"rope_theta {_num(base)}: the converted model would generate garbled text; "
                "pass force=True (--force) to convert anyway"
            )
        base = float(rotary_base_override)
    heads = int(cfg["num_attention_heads"])
    hidden = int(cfg["hidden_size"])
    vocab = int(cfg["vocab_size"])
    dtype = str(cfg.get("dtype") or cfg.get("torch_dtype") or "float32").removeprefix("torch.")
    return MegatronArgs(
        num_layers=int(cfg["num_hidden_layers"]),
        hidden_size=hidden,
        ffn_hidden_size=int(cfg["intermediate_size"]),
        num_attention_heads=heads,
        num_query_groups=int(cfg.get("num_key_value_heads") or heads),
        kv_channels=int(cfg.get("head_dim") or hidden // heads),
        norm_epsilon=float(cfg.get("rms_norm_eps", 1e-6)),
        vocab_size=vocab,
        padded_vocab_size=padded_vocab(vocab),
        tie_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        rotary_base=base,
        max_position_embeddings=int(cfg.get("max_position_embeddings") or 4096),
        params_dtype=dtype,
    )


@dataclass(frozen=True, kw_only=True)
class FieldCheck:
    field: str
    hf_name: str
    stored: Any
    expected: Any
    ok: bool
    message: str


# field -> (label in messages, HF config name, what a mismatch breaks)
CHECKED_FIELDS: dict[str, tuple[str, str, str]] = {
    "rotary_base": ("rotary base", "rope_theta", "generations will be garbled"),
    "num_layers": ("num layers", "num_hidden_layers", "the checkpoint does not hold the model's layers"),
    "hidden_size": ("hidden size", "hidden_size", "weight shapes disagree: the checkpoint will not load"),
    "num_attention_heads": ("attention heads", "num_attention_heads", "attention is split into the wrong heads"),
    "num_query_groups": ("query groups", "num_key_value_heads", "the fused QKV weight is read in the wrong GQA layout"),
    "kv_channels": ("kv channels", "head_dim", "heads have the wrong size: the checkpoint will not load"),
    "ffn_hidden_size": ("ffn hidden size", "intermediate_size", "MLP shapes disagree: the checkpoint will not load"),
    "vocab_size": ("vocab size", "vocab_size", "token ids map to the wrong embeddings"),
    "norm_epsilon": ("norm epsilon", "rms_norm_eps", "every RMSNorm is computed differently: logits drift"),
    "tie_embeddings": ("tied embeddings", "tie_word_embeddings", "the output layer is missing or ignored"),
    "qk_layernorm": ("qk layernorm", "q_norm/k_norm", "query/key norms are skipped: attention is wrong"),
    "swiglu": ("swiglu", "hidden_act=silu (gated)", "the MLP computes a different function"),
    "normalization": ("normalization", "RMSNorm", "the norms compute a different function"),
    "add_bias_linear": ("linear bias", "no bias", "bias parameters that the HF model does not have"),
    "add_qkv_bias": ("qkv bias", "attention_bias", "bias parameters that the HF model does not have"),
}


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e18:
        return str(int(value))
    return str(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0)
    return a == b


def compare_args(stored: MegatronArgs, expected: MegatronArgs) -> tuple[FieldCheck, ...]:
    """One check per field in :data:`CHECKED_FIELDS`: stored (Megatron) vs expected (from HF)."""
    checks = []
    for name, (label, hf_name, breaks) in CHECKED_FIELDS.items():
        got, want = getattr(stored, name), getattr(expected, name)
        ok = _same(got, want)
        if name == "vocab_size" and ok and stored.padded_vocab_size < want:
            ok = False
        message = "ok" if ok else f"{label} {_num(got)} != {hf_name} {_num(want)}: {breaks}"
        checks.append(FieldCheck(field=name, hf_name=hf_name, stored=got, expected=want, ok=ok, message=message))
    return tuple(checks)
