"""Generation engines: ``await engine.generate(input_ids, params) -> Generation`` (see :mod:`retool.rollout.config`).

- :mod:`~retool.rollout.engines.sglang`: ``SGLangEngine``, SGLang's native ``/generate`` over HTTP
  with retries; a server still unreachable raises ``EngineError`` naming the URL.
- :mod:`~retool.rollout.engines.hf`: ``HFEngine``, a local transformers model with a KV cache, off
  the event loop, logprobs as SGLang reports them.
- :mod:`~retool.rollout.engines.forced`: ``ForcedPolicyEngine``, a real model teacher-forced along
  scripted turns (for checks and benchmarks).
- :mod:`~retool.rollout.engines.server`: ``GenerateServer``, a transformers model served on
  loopback with SGLang's ``/generate`` schema (``retool serve``).
"""

from retool import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("Engine", "EngineError", "FinishReason", "Generation", "SamplingParams"), "retool.rollout.config"),
    **dict.fromkeys(("RETRIED_4XX", "BoundEngine", "SGLangEngine", "generation_from_sglang", "http_client_module"),
                    ".sglang"),
    "HFEngine": ".hf",
    "ForcedPolicyEngine": ".forced", "tool_heavy_turns": ".forced",
    **dict.fromkeys(("SGLANG_SAMPLING_KEYS", "BadRequest", "GenerateServer", "ServerFaults", "parse_sampling_params",
                     "sglang_response"), ".server"),
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
