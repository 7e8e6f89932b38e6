"""The demo's broken twins: each swaps one real part of the GRPO stage for the bug users meet.

Contract: :func:`parts` gives ``(step, reward, shape)`` for a twin name (``"none"``: the real
:func:`retool.train.grpo.grpo_step`, :func:`retool.reward.score` and the batch as the rollout built
it). A twin never edits the part it breaks; it wraps it:

- ``"tool-mask"``: tool responses in the loss of both stages, as when one mask builder, used for
  SFT and RL alike, ignores the tool turns. SFT (:func:`leak_tool_tokens_sft`): every token from the
  first trained one to the end of the example, tool turns included; GRPO (:func:`leak_tool_tokens`):
  every response token (miles/slime train on them with their rollout log-probs of 0.0 recomputed by
  the policy, and per-token normalisation counts them).
- ``"flip-advantage"`` (:func:`flipped_step`): the real step on negated rewards, so every group
  advantage changes sign.
- ``"tool-output-reward"`` (:func:`tool_output_reward`): the answer term paid when the label appears
  anywhere in the response, tool output included (a text printed by code counts as the answer);
  ``correct`` stays the real check, so exact match is still measured honestly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from retool.reward import score
from retool.train.grpo import RLBatch, RLConfig, grpo_step

__all__ = ["TWINS", "flipped_step", "healthy_reward", "leak_tool_tokens", "leak_tool_tokens_sft", "parts",
           "tool_output_reward"]

TWINS: tuple[str, ...] = ("none", "tool-mask", "flip-advantage", "tool-output-reward")


def leak_tool_tokens(batch: RLBatch) -> RLBatch:
    """Twin "tool-mask": every response token in the loss, tool responses included."""
    return dataclasses.replace(batch, loss_masks=tuple((1,) * len(m) for m in batch.loss_masks))


def leak_tool_tokens_sft(pairs: Sequence[tuple[Sequence[int], Sequence[int]]]) -> list[tuple[list[int], list[int]]]:
    """Twin "tool-mask", SFT stage: each ``(ids, mask)`` example trains on every token from its first
    trained one to its end (tool turns included); an example with no trained token is kept as it is."""
    out = []
    for ids, mask in pairs:
        first = next((i for i, m in enumerate(mask) if m), len(mask))
        out.append((list(ids), [0] * first + [1] * (len(mask) - first)))
    return out


def flipped_step(policy: Any, ref: Any, batch: RLBatch, config: RLConfig, optimizer: Any) -> Any:
    """Twin "flip-advantage": the real step on negated rewards (group advantages change sign)."""
    flipped = tuple(None if r is None else -r for r in batch.rewards)
    return grpo_step(policy, ref, dataclasses.replace(batch, rewards=flipped), config, optimizer)


def tool_output_reward(response: str, label: Any) -> Any:
    """Twin "tool-output-reward": the answer term paid when ``label`` appears anywhere in the response
    (tool output included); ``correct`` stays the real check."""
    real = score(response, label)
    r_ans = 1.0 if label is not None and str(label) in response else 0.0
    return dataclasses.replace(real, r_ans=r_ans, total=r_ans + real.r_fmt + real.r_use)


def healthy_reward(response: str, label: Any) -> Any:
    """The real reward (:func:`retool.reward.score` with the recipe's defaults)."""
    return score(response, label)


def _same(batch: RLBatch) -> RLBatch:
    return batch


def parts(twin: str) -> tuple[Callable[..., Any], Callable[[str, Any], Any], Callable[[RLBatch], RLBatch]]:
    """``(step, reward, shape)`` of ``twin`` (see the module contract)."""
    if twin not in TWINS:
        raise ValueError(f"twin must be one of {TWINS}, got {twin!r}")
    step = flipped_step if twin == "flip-advantage" else grpo_step
    reward = tool_output_reward if twin == "tool-output-reward" else healthy_reward
    shape = leak_tool_tokens if twin == "tool-mask" else _same
    return step, reward, shape
