"""The verl entry point: ReTool's reward with verl's custom reward signature.

Contract: ``compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs) ->
dict`` is what verl's reward managers call for each response (``custom_reward_function.path``
pointing at this file, ``custom_reward_function.name=compute_score``; verl loads the file by path
and passes ``reward_kwargs`` as keywords). It scores ``solution_str`` against ``ground_truth`` with
:func:`retool.reward.score` and returns :func:`retool.reward.reward_dict`'s dict: ``"score"`` (the
shaped total verl uses as the reward) plus the breakdown, the same keys for every response (verl
stacks each key across the batch into ``reward_extra_info``). ``kwargs["reward_config"]`` (a
``RewardConfig``) overrides the default shaping; ``kwargs["dialect"]`` (``custom_reward_function.
reward_kwargs.dialect=retool-code``) reads the response in that dialect (:mod:`retool.text.dialect`;
an unknown name raises ``ValueError`` naming the choices); other keywords are ignored. It never raises on
model text; ``data_source`` and ``extra_info`` are accepted and unused (one recipe, one reward).

The code interpreter for verl's rollouts is its SandboxFusion tool pointed at
``retool sandbox serve`` (the README's "The sandbox as a service" has the tool config).
"""

from __future__ import annotations

from typing import Any

from retool.reward import RewardConfig, reward_dict, score

__all__ = ["compute_score"]


def compute_score(data_source: Any, solution_str: Any, ground_truth: Any, extra_info: Any = None,
                  **kwargs: Any) -> dict[str, Any]:
    """verl's custom reward (see the module contract)."""
    config = kwargs.get("reward_config")
    if not isinstance(config, RewardConfig):
        config = RewardConfig(dialect=kwargs.get("dialect") or "qwen3")
    breakdown = score(solution_str, ground_truth, config)
    return reward_dict(breakdown)
