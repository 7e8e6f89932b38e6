"""HF Qwen3 -> megatron-core conversion and the rotary-base check: the public API in one place.

Contract: re-exports, nothing else. The pieces live in
- :mod:`retool.checkpoint_args`: :class:`MegatronArgs`, :func:`megatron_args_from_hf` (the rope
  base from ``rope_parameters["rope_theta"]`` or a legacy ``rope_theta``; a disagreeing override
  raises unless forced), :func:`compare_args` (pure, field by field);
- :mod:`retool.checkpoint_convert`: :func:`convert` (HF dir -> torch_dist checkpoint with
  Megatron-LM-style ``args`` in the common state), :func:`hf_to_megatron_state` (pure weight
  mapping), :func:`build_gpt_model`, :func:`load_megatron`;
- :mod:`retool.checkpoint_check`: :func:`check` (stored args vs HF config, then logits parity),
  returning a :class:`CheckReport` whose ``failures`` name field, both values and consequence;
- :mod:`retool.megatron_cpu`: the CPU-only adaptation of megatron-core 0.16.1.
"""

from __future__ import annotations

from retool.checkpoint_args import (
    CHECKED_FIELDS,
    FieldCheck,
    MegatronArgs,
    args_from_namespace,
    compare_args,
    megatron_args_from_hf,
    rope_base_of,
)
from retool.checkpoint_check import DEFAULT_ATOL, CheckReport, LogitsCheck, check, default_tokens, megatron_logits
from retool.checkpoint_convert import (
    ConversionReport,
    build_gpt_model,
    convert,
    hf_to_megatron_state,
    load_megatron,
    load_stored_args,
)

__all__ = [
    "CHECKED_FIELDS",
    "DEFAULT_ATOL",
    "CheckReport",
    "ConversionReport",
    "FieldCheck",
    "LogitsCheck",
    "MegatronArgs",
    "args_from_namespace",
    "build_gpt_model",
    "check",
    "compare_args",
    "convert",
    "default_tokens",
    "hf_to_megatron_state",
    "load_megatron",
    "load_stored_args",
    "megatron_args_from_hf",
    "megatron_logits",
    "rope_base_of",
]
