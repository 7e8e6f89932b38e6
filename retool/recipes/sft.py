"""The SFT recipe: examples by path, a policy by name, :func:`retool.train.sft.sft_train`.

Contract: ``run_sft(data, model, config)`` reads the examples (:func:`~retool.recipes.inputs.sft_examples`),
loads the policy (:func:`~retool.recipes.inputs.load_policy`) and trains with ``config``; it returns
the :class:`~retool.train.common.TrainResult` (checkpoints under ``config.out_dir``).
"""

from __future__ import annotations

from retool.recipes.inputs import load_policy, sft_examples
from retool.train.common import TrainResult
from retool.train.sft import SFTConfig, sft_train

__all__ = ["run_sft"]


def run_sft(data: str, model: str, config: SFTConfig) -> TrainResult:
    examples = sft_examples(data, config.dialect)  # read first: a bad row fails before the model loads
    policy, tokenizer = load_policy(model)
    return sft_train(policy, tokenizer, examples, config)
