"""HF Qwen3 -> megatron-core conversion and the rotary-base check.

The pieces live in
- :mod:`retool.checkpoint.args`: :class:`MegatronArgs`, :func:`megatron_args_from_hf` (the rope
  base from ``rope_parameters["rope_theta"]`` or a legacy ``rope_theta``; a disagreeing override
  raises unless forced), :func:`compare_args` (pure, field by field);
- :mod:`retool.checkpoint.conversion`: :func:`convert` (HF dir -> torch_dist checkpoint with
  Megatron-LM-style ``args`` in the common state), :func:`hf_to_megatron_state` (pure weight
  mapping), :func:`build_gpt_model`, :func:`load_megatron`;
- :mod:`retool.checkpoint.parity`: :func:`check` (stored args vs HF config, then logits parity),
  returning a :class:`CheckReport` whose ``failures`` name field, both values and consequence;
- :mod:`retool.checkpoint.megatron_cpu`: the CPU-only adaptation of megatron-core 0.16.1.
"""

from retool import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("CHECKED_FIELDS", "FieldCheck", "MegatronArgs", "args_from_namespace", "compare_args",
                     "megatron_args_from_hf", "rope_base_of"), ".args"),
    **dict.fromkeys(("DEFAULT_ATOL", "CheckReport", "LogitsCheck", "check", "default_tokens", "megatron_logits"), ".parity"),
    **dict.fromkeys(("ConversionReport", "build_gpt_model", "convert", "hf_to_megatron_state", "load_megatron",
                     "load_stored_args"), ".conversion"),
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
