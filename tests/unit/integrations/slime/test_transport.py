"""retool.integrations.slime.transport: routing key, LoRA and the per-sample turn record.

Framework facts: miles routes by ``X-SMG-Routing-Key`` = ``sample.routing_key`` and requires one under
``--sglang-router-policy consistent_hashing|manual`` (miles/rollout/generate_utils/generate_endpoint_utils.py
``compute_routing_headers``); slime sends ``sample.session_id`` under ``router_policy == "consistent_hashing"``
(slime/rollout/sglang_rollout.py); miles adds ``lora_path = "miles_lora"`` when ``lora_rollout_enabled(args)``.
"""

from __future__ import annotations

import pytest

from retool.integrations.slime.transport import TurnRecorder, request_payload, routing_headers
from retool.rollout.config import EngineError, Generation, SamplingParams
from tests.unit.integrations.frameworks import FrameworkSample, framework_args


def _args(**kw):
    return framework_args("http://127.0.0.1:1", "unused", **kw)


def test_no_policy_and_no_key_sends_no_header() -> None:
    assert routing_headers(_args(), FrameworkSample()) == {}


def test_a_set_routing_key_is_sent() -> None:
    assert routing_headers(_args(), FrameworkSample(routing_key="k")) == {"X-SMG-Routing-Key": "k"}


def test_slimes_session_id_is_the_key_under_consistent_hashing() -> None:
    assert routing_headers(_args(router_policy="consistent_hashing"), FrameworkSample(session_id="s")) == {
        "X-SMG-Routing-Key": "s"}


@pytest.mark.parametrize("policy", ["consistent_hashing", "manual"])
def test_a_keyed_policy_gives_a_keyless_sample_a_key_once(policy: str) -> None:
    sample = FrameworkSample()
    first = routing_headers(_args(sglang_router_policy=policy), sample)
    assert first == {"X-SMG-Routing-Key": sample.routing_key} == routing_headers(_args(sglang_router_policy=policy), sample)


@pytest.mark.parametrize(("kw", "sent"), [({"lora_rank": 8}, True), ({"lora_adapter_path": "/a"}, True),
                                          ({"lora_rank": 8, "lora_train_only": True}, False), ({}, False)])
def test_lora_path_follows_milles_lora_rollout_rule(kw, sent: bool) -> None:
    assert request_payload(_args(**kw)) == ({"lora_path": "miles_lora"} if sent else {})


class _Engine:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    async def generate(self, input_ids, params):
        if self.fail:
            raise EngineError("down")
        return Generation(output_ids=(9,), output_logprobs=(-0.1,), finish_reason="stop")


@pytest.mark.asyncio
async def test_the_recorder_keeps_the_current_attempt_only() -> None:
    rec = TurnRecorder(_Engine(), prompt_len=2)
    await rec.generate([1, 2], SamplingParams())
    await rec.generate([1, 2, 9, 3], SamplingParams())
    await rec.generate([1, 2], SamplingParams())  # a retry starts again from the prompt
    assert len(rec.turns) == 1


@pytest.mark.asyncio
async def test_the_recorder_keeps_the_engine_error() -> None:
    rec = TurnRecorder(_Engine(fail=True), prompt_len=1)
    with pytest.raises(EngineError):
        await rec.generate([1], SamplingParams())
    assert str(rec.engine_error) == "down"
