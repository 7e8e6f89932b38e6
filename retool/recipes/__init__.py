"""Recipes: the wiring that turns components into a run. No component logic lives here.

- :mod:`~retool.recipes.inputs`: a policy by name (``"tiny"`` or a local dir), SFT examples and RL
  prompts from a prepared file, a raw source file or the shipped ``sample``.
- :mod:`~retool.recipes.sft`: ``run_sft``: examples -> :func:`retool.train.sft.sft_train`.
- :mod:`~retool.recipes.grpo`: ``run_grpo``: the policy as its own engine (``HFEngine``), the
  kernel-isolated sandbox (or the naive one, for hosts without the kernel layers), the reward of
  :func:`retool.reward.score`, and :func:`retool.train.grpo.rl_train`.
- :mod:`~retool.recipes.pipeline`: ``run_pipeline``: tiny SFT -> rollout with the real sandbox ->
  reward -> one GRPO step, every invariant on (``retool verify``'s pipeline check).

Each takes frozen configs built by the caller (the CLI derives them from flags) and returns the
run's result; none reads flags or environment.
"""

from retool import lazy_exports

_EXPORTS = {
    "load_policy": ".inputs", "rl_prompts": ".inputs", "sft_examples": ".inputs",
    "run_sft": ".sft", "GRPORun": ".grpo", "run_grpo": ".grpo", "PipelineResult": ".pipeline", "run_pipeline": ".pipeline",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
