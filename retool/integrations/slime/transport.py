"""The engine requests of one miles/slime sample: the client, its routing header, LoRA, and a record of the turns.

Contract:
- :func:`engine_for` is one :class:`~retool.rollout.engines.sglang.SGLangEngine` per router URL
  (``http://{sglang_router_ip}:{sglang_router_port}``), time limit and retry schedule (see
  :func:`retool.integrations.slime.settings.engine_retries`).
- :func:`routing_headers` is miles's ``X-SMG-Routing-Key`` header, so every turn of one sample
  reaches the same worker under consistent-hash routing: the sample's ``routing_key`` (miles) or,
  under ``router_policy`` / ``sglang_router_policy`` ``consistent_hashing``, its ``session_id``
  (slime); when the policy routes by key (``consistent_hashing`` or ``manual``) and the sample has
  none, a fresh uuid is set on ``sample.routing_key`` first, as miles's group rollout does.
- :func:`request_payload` adds ``lora_path`` (miles's adapter name ``miles_lora``) when the args
  carry a rollout LoRA (``lora_rank > 0`` or ``lora_adapter_path``, not ``lora_train_only``).
- :class:`TurnRecorder` wraps the engine for one sample: it keeps the generations of the current
  attempt (an attempt starts when the prompt alone is sent) and the last :class:`EngineError`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from retool.rollout.config import Engine, EngineError, Generation, SamplingParams
from retool.rollout.engines.sglang import SGLangEngine

__all__ = ["LORA_ADAPTER_NAME", "ROUTING_HEADER", "TurnRecorder", "engine_for", "request_payload", "routing_headers"]

ROUTING_HEADER = "X-SMG-Routing-Key"
LORA_ADAPTER_NAME = "miles_lora"
_KEYED_POLICIES = ("consistent_hashing", "manual")
_ENGINES: dict[tuple[str, int, float, float], SGLangEngine] = {}


def engine_for(args: Any, retries: int, interval_s: float, timeout_s: float = 3600.0) -> SGLangEngine:
    url = f"http://{args.sglang_router_ip}:{args.sglang_router_port}"
    key = (url, retries, interval_s, timeout_s)
    if key not in _ENGINES:
        _ENGINES[key] = SGLangEngine(url, timeout_s=timeout_s, max_retries=retries, backoff_s=interval_s,
                                     backoff_factor=1.0)
    return _ENGINES[key]


def routing_headers(args: Any, sample: Any) -> dict[str, str]:
    policy = getattr(args, "sglang_router_policy", None) or getattr(args, "router_policy", None)
    key = getattr(sample, "routing_key", None)
    if not key and policy == "consistent_hashing":
        key = getattr(sample, "session_id", None)
    if not key and policy in _KEYED_POLICIES:
        key = str(uuid.uuid4())
        sample.routing_key = key
    return {ROUTING_HEADER: str(key)} if key else {}


def request_payload(args: Any) -> dict[str, Any]:
    lora = (getattr(args, "lora_rank", 0) or 0) > 0 or getattr(args, "lora_adapter_path", None) is not None
    if lora and not getattr(args, "lora_train_only", False):
        return {"lora_path": LORA_ADAPTER_NAME}
    return {}


class TurnRecorder:
    """An Engine that records the current attempt's generations and the last engine error."""

    def __init__(self, engine: Engine, prompt_len: int) -> None:
        self.engine = engine
        self.prompt_len = prompt_len
        self.turns: list[Generation] = []
        self.engine_error: EngineError | None = None

    async def generate(self, input_ids: Sequence[int], params: SamplingParams) -> Generation:
        if len(input_ids) == self.prompt_len:  # a new attempt starts from the prompt alone
            self.turns, self.engine_error = [], None
        try:
            gen = await self.engine.generate(input_ids, params)
        except EngineError as exc:
            self.engine_error = exc
            raise
        self.turns.append(gen)
        return gen
