"""HF Qwen3 <-> megatron-core checkpoints in the layout a Megatron launch loads, and their checks.

The pieces live in
- :mod:`retool.checkpoint.args`: :class:`MegatronArgs`, :func:`megatron_args_from_hf` (the rope
  base from ``rope_parameters["rope_theta"]`` or a legacy ``rope_theta``; a disagreeing override
  raises unless forced), :func:`compare_args` (pure, field by field);
- :mod:`retool.checkpoint.layout`: the Megatron-LM directory layout (tracker file + ``release/``
  or ``iter_NNNNNNN/``), the miles/slime rule :func:`is_megatron_checkpoint`,
  :func:`resolve_torch_dist_dir`, and the TE spec's extra state keys;
- :mod:`retool.checkpoint.conversion`: :func:`convert` (HF dir -> torch_dist checkpoint in that
  layout with Megatron-LM-style ``args`` in the common state, TE spec keys),
  :func:`hf_to_megatron_state` (pure weight mapping), :func:`build_gpt_model`, :func:`load_megatron`;
- :mod:`retool.checkpoint.hf_export`: :func:`export` (a Megatron checkpoint, ours or a training run's,
  -> HF dir like a given one), :func:`megatron_to_hf_state` (the pure inverse mapping);
- :mod:`retool.checkpoint.parity`: :func:`check` (layout, stored args vs HF config, then logits
  parity), returning a :class:`CheckReport` whose ``failures`` name field, both values and consequence;
- :mod:`retool.checkpoint.launch` and :mod:`retool.checkpoint.model_script`: the launch-flags
  check (:func:`check_launch` over :func:`parse_flags` of flags or a model script's
  ``MODEL_ARGS`` read by :func:`read_model_args`);
- :mod:`retool.checkpoint.megatron_cpu`: the CPU-only adaptation of megatron-core 0.16.1.
"""

from retool import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("CHECKED_FIELDS", "FieldCheck", "MegatronArgs", "args_from_namespace", "compare_args",
                     "megatron_args_from_hf", "rope_base_of"), ".args"),
    **dict.fromkeys(("DEFAULT_ATOL", "CheckReport", "LogitsCheck", "check", "default_tokens", "megatron_logits"), ".parity"),
    **dict.fromkeys(("ConversionReport", "build_gpt_model", "convert", "hf_to_megatron_state", "load_megatron",
                     "load_stored_args"), ".conversion"),
    **dict.fromkeys(("ExportReport", "export", "megatron_to_hf_state"), ".hf_export"),
    **dict.fromkeys(("is_megatron_checkpoint", "resolve_torch_dist_dir"), ".layout"),
    **dict.fromkeys(("LAUNCH_FIELDS", "LaunchFlags", "check_launch", "parse_flags"), ".launch"),
    **dict.fromkeys(("ModelArgs", "read_model_args"), ".model_script"),
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
