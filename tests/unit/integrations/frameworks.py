"""miles's and slime's own rollout code, restated for tests: the objects they build and what they do with ours.

Each piece restates the framework's behaviour, not its code, from its source (paths in radixark/miles and
THUDM/slime, read through the search tool):

- ``FrameworkSample``: the fields of ``Sample`` (miles/utils/types.py, slime/utils/types.py) that a custom
  generate and reward meet, its ``Status`` enum, ``PrefixCacheInfo.add`` (adds ``cached_tokens`` and
  ``prompt_tokens``), ``get_reward_value`` (``reward`` if not ``args.reward_key`` else
  ``reward[args.reward_key]``) and ``effective_response_length``.
- ``framework_args``: the args namespace with the frameworks' names and defaults (miles/utils/arguments.py:
  ``--rollout-max-context-len`` None, ``--reward-key`` / ``--eval-reward-key`` None, ``--group-rm`` off,
  ``--eval-max-response-len`` / ``--eval-max-context-len`` None, ``--lora-rank`` 0, router policy None).
- ``train_sampling_params``: what ``GenerateState.__init__`` builds (miles/rollout/sglang_rollout.py; slime adds
  ``custom_params={"return_top_p_token_ids": True}`` when ``rollout_top_p != 1``, slime/rollout/sglang_rollout.py);
  ``eval_sampling_params``: what ``eval_rollout_single_dataset`` builds from the dataset config, whose
  ``max_response_len`` and sampling default to ``--eval-*`` then ``--rollout-*``.
- ``load_custom_config``: ``miles_validate_args`` / slime's ``_validate_args``: ``yaml.safe_load(f) or {}`` then
  ``setattr(args, k, v)`` for every key.
- ``generate_and_rm`` / ``generate_and_rm_group``: call the custom generate (with ``evaluation=`` only when its
  signature has it: slime's inspect check, miles's ``LegacyGenerateFnAdapter``), skip the reward of an ABORTED
  sample (its reward stays as generate left it), else ``await reward_func(args, sample)`` when reward is None;
  with ``--group-rm`` the group's rewards come from one ``reward_func(args, group)`` call, set in place with
  miles's ``inplace_set_reward_field`` check that no reward was set before.
- ``rollout_groups``: miles/rollout/inference_rollout/inference_rollout_train.py: a group task that raises is
  logged and dropped; every other group is kept (no dynamic filter: the default).
- ``rollout_metrics``: miles/ray/rollout.py ``compute_metrics_from_samples`` (zero-std groups labelled by
  ``round(reward, 1)``, the prefix-cache hit rate, non-generation time) and miles/utils/metric_utils.py pass@k
  (``num_correct = sum(val == 1)``).
- ``convert_to_train_data``: ``RolloutManager._convert_samples_to_train_data`` and ``_post_process_rewards``
  (``torch.tensor(raw_rewards)`` reshaped to ``(-1, n_samples_per_prompt)``, GRPO mean/std), the loss-mask length
  check, and slime's top-p replay check (``rollout_top_p < 1`` needs ``rollout_top_p_token_ids`` with
  ``response_length + 1`` offsets).
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
import yaml

_log = logging.getLogger(__name__)


@dataclass
class FrameworkSample:
    class Status(enum.Enum):
        PENDING = "pending"
        COMPLETED = "completed"
        TRUNCATED = "truncated"
        ABORTED = "aborted"
        FAILED = "failed"

    @dataclass
    class PrefixCacheInfo:
        cached_tokens: int = 0
        total_prompt_tokens: int = 0

        def add(self, meta_info: dict) -> None:
            self.cached_tokens += meta_info.get("cached_tokens", 0)
            self.total_prompt_tokens += meta_info.get("prompt_tokens", 0)

    group_index: int | None = None
    index: int | None = None
    prompt: Any = ""
    tokens: list[int] = field(default_factory=list)
    response: str = ""
    response_length: int = 0
    label: str | None = None
    reward: Any = None
    loss_mask: list[int] | None = None
    weight_versions: list[str] = field(default_factory=list)
    rollout_log_probs: list[float] | None = None
    rollout_top_p_token_ids: Any = None
    rollout_top_p_token_offsets: Any = None
    status: Status = Status.PENDING
    metadata: dict = field(default_factory=dict)
    session_id: str | None = None
    routing_key: str | None = None
    non_generation_time: float = 0.0
    prefix_cache_info: PrefixCacheInfo = field(default_factory=PrefixCacheInfo)

    def get_reward_value(self, args: Any) -> Any:
        return self.reward if not args.reward_key else self.reward[args.reward_key]

    @property
    def effective_response_length(self) -> int:
        return sum(self.loss_mask) if self.loss_mask is not None else self.response_length

    def validate(self) -> None:  # miles's Sample.validate
        assert self.response_length >= 0 and len(self.tokens) >= self.response_length
        if self.loss_mask is not None:
            assert len(self.loss_mask) == self.response_length, "loss_mask length != response_length"
        if self.rollout_log_probs is not None:
            assert len(self.rollout_log_probs) == self.response_length, "rollout_log_probs length != response_length"


def framework_args(server_url: str, hf_checkpoint: str, **overrides: Any) -> SimpleNamespace:
    host, port = server_url.removeprefix("http://").rsplit(":", 1)
    args = SimpleNamespace(
        sglang_router_ip=host, sglang_router_port=int(port), hf_checkpoint=hf_checkpoint,
        rollout_max_response_len=40, rollout_max_context_len=None, rollout_temperature=1.0, rollout_top_p=1.0,
        rollout_top_k=-1, rollout_stop=None, rollout_stop_token_ids=None, rollout_skip_special_tokens=False,
        n_samples_per_prompt=2, advantage_estimator="grpo", rewards_normalization=True, grpo_std_normalization=True,
        reward_key=None, eval_reward_key=None, group_rm=False, partial_rollout=False, custom_config_path=None,
        eval_max_response_len=None, eval_max_context_len=None, eval_temperature=None, eval_top_p=None, eval_top_k=None,
        sglang_router_policy=None, lora_rank=0, lora_adapter_path=None, lora_train_only=False,
    )
    for key, value in overrides.items():
        setattr(args, key, value)
    return args


def train_sampling_params(args: Any) -> dict[str, Any]:
    params: dict[str, Any] = dict(
        temperature=args.rollout_temperature, top_p=args.rollout_top_p, top_k=args.rollout_top_k,
        max_new_tokens=args.rollout_max_response_len, stop=args.rollout_stop, stop_token_ids=args.rollout_stop_token_ids,
        skip_special_tokens=args.rollout_skip_special_tokens, no_stop_trim=True, spaces_between_special_tokens=False,
    )
    if args.rollout_top_p != 1.0:
        params["custom_params"] = {"return_top_p_token_ids": True}
    return params


def eval_sampling_params(args: Any) -> dict[str, Any]:
    def pick(name: str) -> Any:
        value = getattr(args, f"eval_{name}")
        return getattr(args, f"rollout_{name}") if value is None else value

    return dict(
        temperature=pick("temperature"), top_p=pick("top_p"), top_k=pick("top_k"),
        max_new_tokens=pick("max_response_len"), stop=args.rollout_stop, stop_token_ids=args.rollout_stop_token_ids,
        skip_special_tokens=args.rollout_skip_special_tokens, no_stop_trim=True, spaces_between_special_tokens=False,
    )


def load_custom_config(args: Any, path: str) -> Any:
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    for key, value in data.items():
        setattr(args, key, value)
    return args


async def generate_and_rm(args: Any, sample: Any, sampling_params: dict[str, Any], generate: Any, reward_func: Any,
                          *, evaluation: bool = False) -> Any:
    if "evaluation" in inspect.signature(generate).parameters:
        sample = await generate(args, sample, dict(sampling_params), evaluation=evaluation)
    else:
        sample = await generate(args, sample, dict(sampling_params))
    if args.group_rm or sample.status == FrameworkSample.Status.ABORTED:
        return sample
    if sample.reward is None:
        sample.reward = await reward_func(args, sample)
    return sample


async def generate_and_rm_group(args: Any, group: list[Any], sampling_params: dict[str, Any], generate: Any,
                                reward_func: Any) -> list[Any]:
    group = list(await asyncio.gather(*(generate_and_rm(args, s, sampling_params, generate, reward_func) for s in group)))
    if args.group_rm:
        rewards = await reward_func(args, group)
        for sample, reward in zip(group, rewards, strict=True):
            assert sample.reward is None, f"Overriding sample.reward from {sample.reward} to {reward}"
            sample.reward = reward
    return group


async def rollout_groups(args: Any, groups: list[list[Any]], generate: Any, reward_func: Any) -> list[list[Any]]:
    kept = []
    for group in groups:
        try:
            kept.append(await generate_and_rm_group(args, group, train_sampling_params(args), generate, reward_func))
        except Exception as exc:  # miles: "[rollout] Task raised exception", the group is dropped
            _log.error("[rollout] Task raised exception: %r", exc)
    return kept


def pass_at_k(rewards: list[float], group_size: int) -> dict[str, float]:
    val = np.array(rewards).reshape(-1, group_size)
    out = {}
    for k in [2**i for i in range(int(np.log2(group_size)) + 1)]:
        correct = np.sum(val == 1, axis=1)
        est = [1.0 if n - c < k else 1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1))
               for n, c in zip(np.full(len(val), group_size), correct)]
        out[f"pass@{k}"] = float(np.mean(est))
    return out


def rollout_metrics(args: Any, samples: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"response_len/mean": float(np.mean([s.effective_response_length for s in samples]))}
    groups: dict[Any, list[Any]] = {}
    for s in samples:
        groups.setdefault(s.group_index, []).append(s)
    zero_std = [g for g in groups.values() if all(g[0].get_reward_value(args) == s.get_reward_value(args) for s in g)]
    for g in zero_std:
        label = f"zero_std/count_{round(g[0].get_reward_value(args), 1)}"
        out[label] = out.get(label, 0) + 1
    cached = sum(s.prefix_cache_info.cached_tokens for s in samples)
    prompt = sum(s.prefix_cache_info.total_prompt_tokens for s in samples)
    out["prefix_cache_hit_rate"] = cached / prompt if prompt > 0 else 0.0
    out["non_generation_time/max"] = max(s.non_generation_time for s in samples)
    return out


def convert_to_train_data(args: Any, samples: list[Any]) -> dict[str, Any]:
    raw = [s.get_reward_value(args) for s in samples]
    rewards = torch.tensor(raw, dtype=torch.float).reshape(-1, args.n_samples_per_prompt)
    rewards = rewards - rewards.mean(dim=-1, keepdim=True)
    rewards = rewards / (rewards.std(dim=-1, keepdim=True) + 1e-6)
    for s in samples:
        s.validate()
        if args.rollout_top_p < 1:
            assert s.rollout_top_p_token_ids is not None, "rollout_top_p < 1 needs rollout_top_p_token_ids"
            assert len(s.rollout_top_p_token_offsets) == s.response_length + 1
    return {"tokens": [s.tokens for s in samples], "rewards": rewards.flatten().tolist(), "raw_reward": raw,
            "loss_masks": [s.loss_mask for s in samples]}


def eval_rewards(args: Any, samples: list[Any]) -> list[Any]:
    key = args.eval_reward_key or args.reward_key
    return [s.reward if not key else s.reward[key] for s in samples]
