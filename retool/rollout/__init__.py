"""Multi-turn generation with the code interpreter: token ids in, samples with exact masks out.

Contract: every sample's trajectory is built from the engine's sampled ids, never re-tokenized;
after every turn ``len(tokens) == prompt_len + response_length`` and
``len(loss_mask) == len(rollout_log_probs) == response_length`` hold (checked), tool tokens carry
mask 0 and logprob 0.0, and the status (completed, truncated, aborted, failed) is set once.

- :mod:`~retool.rollout.config`: the leaf: ``RolloutConfig``, ``SamplingParams``, ``Generation``
  and the ``Engine`` / ``Sandbox`` protocols the rollout talks to.
- :mod:`~retool.rollout.state`: the trajectory and its invariants; :mod:`~retool.rollout.loop`: one
  sample's turn loop; :mod:`~retool.rollout.batch`: ``generate_batch`` (all samples in flight).
- :mod:`~retool.rollout.prompt`: a prompt already chat-templated by the framework
  (``--apply-chat-template``) gets the tools block in its system turn, exact ids.
- :mod:`retool.rollout.engines`: SGLang over HTTP, a local transformers model, a scripted policy
  and a loopback server speaking SGLang's schema.

``generate`` is the miles/slime entry point (``--custom-generate-function-path
retool.rollout.generate``), an alias of :func:`retool.integrations.slime.generate`: the one name
here that resolves to a higher layer, kept because launch scripts name this path.
"""

from retool import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("Engine", "EngineError", "FinishReason", "Generation", "RolloutConfig", "SamplingParams", "Sandbox"),
                    ".config"),
    **dict.fromkeys(("RolloutPrompt", "RolloutSample", "RewardFn", "as_prompt", "generate_batch", "render_prompt_ids",
                     "rollout_one"), ".batch"),
    **dict.fromkeys(("FORGED_MARKUP", "SampleRun", "run_sample"), ".loop"),
    **dict.fromkeys(("is_templated", "templated_prompt_ids", "with_tools_block"), ".prompt"),
    **dict.fromkeys(("RolloutInvariantError", "StatusCell", "Trajectory"), ".state"),
    "generate": "retool.integrations.slime",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
