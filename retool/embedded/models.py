"""The tiny Qwen3-architecture model of the embedded default, and loading a user's model.

Contract:
- :func:`tiny_qwen3_config` builds a ``transformers.Qwen3Config`` for a 2-layer, 64-wide model
  (4 query heads, 2 key/value heads, head_dim 16, SwiGLU, RMSNorm, qk-norm, tied embeddings)
  with rope base 5,000,000 (the Qwen3-4B-Instruct-2507 value) stored where transformers 5 keeps
  it, ``config.rope_parameters["rope_theta"]``.
- :func:`tiny_model` returns ``(model, tokenizer)``: the tiny tokenizer and a seeded random model
  sized to its vocabulary, saved once under the cache dir in Hugging Face format and loaded from
  there afterwards, so tests and the CLI reuse one artefact and load it the same way a user's
  model directory is loaded (:func:`load_model`).
- :data:`MODEL_PRESETS` names the embedded sizes: ``"tiny"`` (the default above), ``"tiny-rope10k"``
  (the same 2 x 64 model with rope base 10,000) and ``"small"`` (4 layers, 128 wide, 4/2 heads of
  32, SwiGLU 384, rope base 10,000: about 0.9M parameters with the tiny vocabulary). The two
  demo presets use rope base 10,000 because a model trained from scratch must learn to copy digits
  across about 20 positions: with base 5e6 and 16-wide heads only two rotary pairs turn fast
  enough to tell such offsets apart, and the copy is not learned in a CPU budget (measured in the
  README's demo section). :func:`embedded_model` gives ``(model, tokenizer)`` of a preset by name,
  built and cached as :func:`tiny_model` does; an unknown name raises naming the presets.
- :func:`rope_theta_of` reads the rope base from a config of either generation (transformers 5
  ``rope_parameters`` or a legacy top-level ``rope_theta``), raising where there is none.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retool.embedded.tokenizer import _tiny_key, cache_dir, load_tokenizer, tiny_tokenizer

QWEN3_4B_INSTRUCT_2507_ROPE_THETA = 5_000_000.0


@dataclass(frozen=True, kw_only=True)
class TinyModelConfig:
    num_layers: int = 2
    hidden_size: int = 64
    intermediate_size: int = 128
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 16
    rope_theta: float = QWEN3_4B_INSTRUCT_2507_ROPE_THETA
    max_position_embeddings: int = 4096
    rms_norm_eps: float = 1e-6
    tie_word_embeddings: bool = True
    seed: int = 0


def tiny_qwen3_config(vocab_size: int, config: TinyModelConfig = TinyModelConfig(), **overrides: Any):
    from transformers import Qwen3Config

    if vocab_size <= 0:
        raise ValueError(f"vocab_size must be positive, got {vocab_size}")
    kwargs: dict[str, Any] = dict(
        vocab_size=vocab_size,
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads,
        head_dim=config.head_dim,
        max_position_embeddings=config.max_position_embeddings,
        rms_norm_eps=config.rms_norm_eps,
        tie_word_embeddings=config.tie_word_embeddings,
        rope_parameters={"rope_type": "default", "rope_theta": config.rope_theta},
        attention_dropout=0.0,
    )
    kwargs.update(overrides)
    return Qwen3Config(**kwargs)


def rope_theta_of(config: Any) -> float:
    params = getattr(config, "rope_parameters", None)
    if isinstance(params, dict) and "rope_theta" in params:
        return float(params["rope_theta"])
    legacy = getattr(config, "rope_theta", None)
    if legacy is not None:
        return float(legacy)
    raise ValueError(f"config of type {type(config).__name__} has neither rope_parameters['rope_theta'] nor rope_theta")


def build_tiny_model(vocab_size: int, config: TinyModelConfig = TinyModelConfig()):
    import torch
    from transformers import Qwen3ForCausalLM

    torch.manual_seed(config.seed)
    model = Qwen3ForCausalLM(tiny_qwen3_config(vocab_size, config))
    return model.eval()


def tiny_model_dir(config: TinyModelConfig = TinyModelConfig()) -> Path:
    """The directory holding the cached tiny model + tokenizer (built on first use)."""
    tok = tiny_tokenizer()
    tag = _tiny_key(len(tok))
    fields = "-".join(str(v) for v in config.__dict__.values())
    target = cache_dir() / f"tiny-qwen3-{tag}-{fields}".replace(".", "_")
    if not (target / "config.json").is_file():
        model = build_tiny_model(len(tok), config)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-model-", dir=target.parent))
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        try:
            os.rename(tmp, target)
        except OSError:  # another process built the same model first
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_model(path: str | os.PathLike[str], *, dtype: Any = None, device: str | None = None):
    """Load ``(model, tokenizer)`` from a local Hugging Face directory, offline."""
    from transformers import AutoModelForCausalLM

    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} is not a Hugging Face model directory (no config.json)")
    kwargs: dict[str, Any] = {"local_files_only": True}
    if dtype is not None:
        kwargs["dtype"] = dtype
    model = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
    if device is not None:
        model = model.to(device)
    return model.eval(), load_tokenizer(folder)


def tiny_model(config: TinyModelConfig = TinyModelConfig(), *, device: str | None = None):
    """``(model, tokenizer)`` of the embedded default (see the module docstring)."""
    return load_model(tiny_model_dir(config), device=device)


SMALL_MODEL_CONFIG = TinyModelConfig(num_layers=4, hidden_size=128, intermediate_size=384, num_attention_heads=4,
                                     num_key_value_heads=2, head_dim=32, rope_theta=10_000.0)
MODEL_PRESETS: dict[str, TinyModelConfig] = {
    "tiny": TinyModelConfig(), "tiny-rope10k": TinyModelConfig(rope_theta=10_000.0), "small": SMALL_MODEL_CONFIG,
}


def embedded_model(name: str, *, device: str | None = None):
    """``(model, tokenizer)`` of the embedded preset ``name`` (see the module docstring)."""
    if name not in MODEL_PRESETS:
        raise ValueError(f"unknown embedded model {name!r}; the presets are {sorted(MODEL_PRESETS)}")
    return tiny_model(MODEL_PRESETS[name], device=device)
