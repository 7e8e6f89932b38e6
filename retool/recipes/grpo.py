"""The GRPO recipe: the policy as its own engine, the sandbox, the reward, :func:`retool.train.grpo.rl_train`.

Contract: ``await run_grpo(prompts, model, run)`` reads the prompts
(:func:`~retool.recipes.inputs.rl_prompts`), loads the policy, builds the reference model
(``run.ref_model``: ``"same"`` a frozen copy, ``"none"`` no KL reference, or a dir), an
``HFEngine`` on the policy itself, the sandbox (``"isolated"``: the kernel-isolated
``PythonSandbox``, refusing a host without its layers unless ``sandbox_allow_weaker``; ``"naive"``:
unisolated, for hosts without the kernel layers, never for untrusted models; or, with
``sandbox_url``, a ``RemoteSandbox`` on a ``retool sandbox serve`` farm) and the reward
:func:`retool.reward.score`, then runs :func:`~retool.train.grpo.rl_train`. The sandbox is closed
however the run ends. ``run.rl.grpo.n_samples_per_prompt`` must equal
``run.rollout.n_samples_per_prompt`` (``rl_iteration`` raises naming both otherwise).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from retool.embedded.models import load_model
from retool.recipes.inputs import load_policy, rl_prompts
from retool.reward import RewardConfig, score
from retool.rollout.config import RolloutConfig
from retool.rollout.engines.hf import HFEngine
from retool.train.common import TrainResult, pick_device
from retool.train.grpo import RLConfig, rl_train

__all__ = ["GRPORun", "run_grpo"]


@dataclass(frozen=True, kw_only=True)
class GRPORun:
    """Everything a GRPO run needs besides its data and policy."""

    rl: RLConfig
    rollout: RolloutConfig
    ref_model: str = field(default="same", metadata={"help": "reference model for KL: 'same' (a frozen copy of the policy), 'none' or a local dir"})
    sandbox: Literal["isolated", "naive"] = field(default="isolated", metadata={"help": "'isolated' (kernel layers) or 'naive' (unisolated: only for hosts without the layers, never for untrusted models)"})
    sandbox_allow_weaker: bool = field(default=False, metadata={"help": "start the isolated sandbox even where some kernel layer is missing (see `retool sandbox info`)"})
    sandbox_url: str | None = field(default=None, metadata={"help": "run tool calls on a sandbox farm (`retool sandbox serve`) at this URL instead of in-process; --sandbox is then unused"})
    sandbox_token_file: str | None = field(default=None, metadata={"help": "file whose first line is the farm's bearer token (with --sandbox-url)"})

    def __post_init__(self) -> None:
        if self.sandbox not in ("isolated", "naive"):
            raise ValueError(f"sandbox must be 'isolated' or 'naive', got {self.sandbox!r}")
        if self.sandbox_url is not None and not self.sandbox_url.startswith(("http://", "https://")):
            raise ValueError(f"sandbox_url must be an http(s) URL, got {self.sandbox_url!r}")
        if self.sandbox_token_file is not None and self.sandbox_url is None:
            raise ValueError("sandbox_token_file needs sandbox_url")


def _reference(policy: Any, ref_model: str) -> Any | None:
    if ref_model == "same":
        return copy.deepcopy(policy)
    if ref_model == "none":
        return None
    return load_model(ref_model)[0]


def _sandbox(run: GRPORun) -> Any:
    if run.sandbox_url is not None:
        from retool.sandbox.service.config import read_token
        from retool.sandbox.service.remote import RemoteSandbox

        token = read_token(run.sandbox_token_file) if run.sandbox_token_file else None
        return RemoteSandbox(run.sandbox_url, token=token)
    if run.sandbox == "naive":
        from retool.sandbox.naive import NaiveSandbox

        return NaiveSandbox()
    from retool.sandbox.supervisor import PythonSandbox

    return PythonSandbox(allow_weaker=run.sandbox_allow_weaker)


def _reward(dialect: str) -> Any:
    """The reward reading responses in the rollout's dialect."""
    config = RewardConfig(dialect=dialect)
    return lambda response, label: score(response, label, config)


async def run_grpo(prompts: str | Sequence[Any], model: str, run: GRPORun) -> TrainResult:
    records = rl_prompts(prompts) if isinstance(prompts, str) else list(prompts)
    policy, tokenizer = load_policy(model)
    device = pick_device(run.rl.device)
    ref = _reference(policy, run.ref_model)
    policy.to(device)
    engine = HFEngine(policy, tokenizer, device=str(device), default_seed=run.rl.seed)
    sandbox = _sandbox(run)
    try:
        if run.sandbox_url is not None:
            await sandbox.start()  # the farm's settings, and a clear error when it is not there
        return await rl_train(policy, ref, tokenizer, records, run.rl, engine=engine, sandbox=sandbox,
                              rollout_config=run.rollout, reward_fn=_reward(run.rollout.dialect))
    finally:
        await sandbox.close()
