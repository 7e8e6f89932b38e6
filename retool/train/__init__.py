"""Training: pure losses, SFT epochs and GRPO steps on transformers models, metrics and the watch.

- :mod:`~retool.train.losses`: pure tensor functions (masked CE, group advantages, PPO-clip with
  dual clip, KL k1/k2/k3, entropy); masked positions contribute exactly nothing.
- :mod:`~retool.train.common`: devices, padding, resumable checkpoints, the per-step log.
- :mod:`~retool.train.sft`: ``SFTConfig``, ``sft_train``; :mod:`~retool.train.grpo`: ``RLConfig``,
  ``RLBatch``, ``grpo_step``, and ``rl_iteration`` / ``rl_train`` (rollout -> reward -> step).
- :mod:`~retool.train.metrics`: per-sample records, per-step metrics (exact match is the share
  of correct samples, never the shaped mean), the JSONL log.
- :mod:`~retool.train.metrics_log`: a metrics log read while a trainer appends to it (total).
- :mod:`~retool.train.watch`: the recipe's health bands checked over a metrics log.
"""

from retool import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("GRPOConfig", "GRPOLossResult", "PolicyLossResult", "broadcast_advantages", "entropy_from_logits",
                     "group_advantages", "grpo_loss", "kl_estimate", "masked_cross_entropy", "masked_mean",
                     "ppo_policy_loss", "token_logprobs"), ".losses"),
    **dict.fromkeys(("StepLog", "TrainResult", "load_checkpoint", "pad_batch", "pick_device", "save_checkpoint"),
                    ".common"),
    **dict.fromkeys(("SFTConfig", "encode_examples", "evaluate_sft_loss", "sft_batch_loss", "sft_train"), ".sft"),
    **dict.fromkeys(("RLBatch", "RLConfig", "StepStats", "batch_advantages", "compute_logprobs", "grpo_step",
                     "rl_iteration", "rl_train"), ".grpo"),
    **dict.fromkeys(("METRIC_KEYS", "SampleRecord", "pass_at_k", "read_metrics", "step_metrics", "write_metrics_line"),
                    ".metrics"),
    **dict.fromkeys(("Band", "DEFAULT_BANDS", "WatchReport", "load_bands"), ".watch"),
    **dict.fromkeys(("MetricsTail", "read_metrics_log"), ".metrics_log"),
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
