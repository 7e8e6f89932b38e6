"""retool.integrations.slime.sample: what one rollout writes into a miles/slime Sample.

Framework facts: miles's ``Sample.update_from_meta_info`` (miles/utils/types.py) appends ``weight_version`` to
``weight_versions`` and adds ``cached_tokens`` / ``prompt_tokens`` through ``PrefixCacheInfo.add``; slime's top-p
replay (``Sample.append_response_tokens``) stores ``rollout_top_p_token_ids`` flat with ``response_length + 1``
offsets and an empty span per non-trainable (tool) token.
"""

from __future__ import annotations

from retool.integrations.slime.sample import record_turns, reset, status_for, top_p_spans
from retool.rollout.config import Generation
from tests.unit.integrations.frameworks import FrameworkSample


def _gen(ids, kept=None, **meta) -> Generation:
    top_p = {}
    if kept is not None:
        offsets = [0]
        for k in kept:
            offsets.append(offsets[-1] + len(k))
        top_p = {"top_p_token_ids": tuple(t for k in kept for t in k), "top_p_token_offsets": tuple(offsets)}
    return Generation(output_ids=tuple(ids), output_logprobs=tuple(-0.1 for _ in ids), finish_reason="stop", **top_p, **meta)


def test_weight_versions_and_prefix_cache_are_added_per_call() -> None:
    sample = FrameworkSample()
    record_turns(sample, [_gen([1], weight_version="3", prompt_tokens=10, cached_tokens=0),
                          _gen([2], weight_version="4", prompt_tokens=14, cached_tokens=11)])
    assert sample.weight_versions == ["3", "4"]
    assert (sample.prefix_cache_info.cached_tokens, sample.prefix_cache_info.total_prompt_tokens) == (11, 24)


def test_top_p_spans_are_empty_on_tool_tokens_and_follow_the_model_turns() -> None:
    turns = [_gen([5, 6], kept=[[5, 9], [6]]), _gen([7], kept=[[7, 8, 1]])]
    ids, offsets = top_p_spans(turns, [1, 1, 0, 0, 1])
    assert ids == [5, 9, 6, 7, 8, 1] and offsets == [0, 2, 3, 3, 3, 6]


def test_top_p_spans_are_none_when_a_model_turn_lacks_them() -> None:
    assert top_p_spans([_gen([5], kept=[[5]]), _gen([6])], [1, 0, 1]) is None


def test_a_voided_response_has_only_empty_spans() -> None:
    ids, offsets = top_p_spans([_gen([5, 6], kept=[[5], [6]])], [0, 0])
    assert ids == [] and offsets == [0, 0, 0]


def test_reset_drops_the_old_attempt_but_not_a_reward_it_did_not_set() -> None:
    sample = FrameworkSample(tokens=[1], response="x", response_length=1, weight_versions=["1"], reward=0.5,
                             rollout_top_p_token_ids=[1], rollout_top_p_token_offsets=[0, 1])
    sample.prefix_cache_info.add({"cached_tokens": 3, "prompt_tokens": 4})
    reset(sample)
    assert (sample.tokens, sample.weight_versions, sample.rollout_top_p_token_ids, sample.reward) == ([], [], None, 0.5)
    assert sample.prefix_cache_info.total_prompt_tokens == 0


def test_reset_drops_the_reward_our_abort_set() -> None:
    sample = FrameworkSample(reward=0.0, metadata={"retool": {"reward_set_for_abort": True}})
    reset(sample)
    assert sample.reward is None


def test_status_is_the_samples_own_enum_member() -> None:
    assert status_for(FrameworkSample(), "truncated") is FrameworkSample.Status.TRUNCATED
