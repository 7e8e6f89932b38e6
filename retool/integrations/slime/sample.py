"""Writing one rollout into a miles/slime ``Sample`` (or any object with its field names).

Contract:
- :func:`reset` starts a sample from clean state (a retried or aborted sample's old response,
  weight versions, prefix-cache counts and top-p spans are dropped; a reward is dropped only when
  our own generate set it for an abort).
- :func:`status_for`: the sample class's own ``Status`` member (``FAILED`` becomes ``ABORTED`` on an
  enum without it), or the lowercase string when the class has no ``Status``.
- :func:`record_turns` does per engine call what miles's ``Sample.update_from_meta_info`` does:
  ``weight_version`` appended to ``weight_versions``; ``cached_tokens`` and ``prompt_tokens``
  added to ``prefix_cache_info`` (its ``add`` when it has one).
- :func:`top_p_spans` lays the engine's per-token nucleus over the response as slime stores it:
  ``rollout_top_p_token_ids`` flat and ``rollout_top_p_token_offsets`` of length
  ``response_length + 1``, an empty span on every mask-0 (tool) token, like slime's
  ``Sample.append_response_tokens``; None when a model turn came back without its nucleus.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from retool.rollout.config import Generation

__all__ = ["record_turns", "reset", "status_for", "top_p_spans"]

OUR_ABORT_REWARD = "reward_set_for_abort"


def reset(sample: Any) -> None:
    sample.tokens, sample.response, sample.response_length = [], "", 0
    sample.loss_mask, sample.rollout_log_probs = [], []
    meta = getattr(sample, "metadata", None)
    if isinstance(meta, dict) and isinstance(meta.get("retool"), dict) and meta["retool"].get(OUR_ABORT_REWARD):
        sample.reward = None
    if hasattr(sample, "weight_versions"):
        sample.weight_versions = []
    cache = getattr(sample, "prefix_cache_info", None)
    if cache is not None:
        cache.cached_tokens, cache.total_prompt_tokens = 0, 0
    for name in ("rollout_top_p_token_ids", "rollout_top_p_token_offsets"):
        if hasattr(sample, name):
            setattr(sample, name, None)


def status_for(sample: Any, value: str) -> Any:
    """The sample class's own Status member for ``value``; an older enum without FAILED gets ABORTED
    (a failed sample, like an aborted one, must not be trained on as if it were complete)."""
    enum = getattr(type(sample), "Status", None)
    if enum is None:
        return value
    members = getattr(enum, "__members__", {})
    if value.upper() in members:
        return members[value.upper()]
    if value == "failed" and "ABORTED" in members:
        return members["ABORTED"]
    raise ValueError(f"{type(sample).__name__}.Status has no member for rollout status {value!r}: {sorted(members)}")


def record_turns(sample: Any, turns: Sequence[Generation]) -> None:
    versions = [g.weight_version for g in turns if g.weight_version is not None]
    if versions or hasattr(sample, "weight_versions"):
        sample.weight_versions = list(getattr(sample, "weight_versions", None) or []) + versions
    cache = getattr(sample, "prefix_cache_info", None)
    for g in turns:
        info = {"cached_tokens": g.cached_tokens, "prompt_tokens": g.prompt_tokens}
        if cache is None:
            continue
        if callable(getattr(cache, "add", None)):
            cache.add(info)
        else:
            cache.cached_tokens += g.cached_tokens
            cache.total_prompt_tokens += g.prompt_tokens


def top_p_spans(turns: Sequence[Generation], loss_mask: Sequence[int]) -> tuple[list[int], list[int]] | None:
    """(ids, offsets) over the response (see the module docstring), or None."""
    model = [g for g in turns if g.finish_reason != "abort"]
    if any(g.top_p_token_ids is None for g in model if g.output_ids):
        return None
    spans: list[Sequence[int]] = []
    for g in model:
        ids, offsets = g.top_p_token_ids or (), g.top_p_token_offsets or (0,)
        spans.extend(ids[offsets[i]:offsets[i + 1]] for i in range(len(g.output_ids)))
    trained = sum(1 for m in loss_mask if m)
    if trained not in (0, len(spans)):
        return None  # the mask does not lay the model turns out in order: refuse to guess
    flat: list[int] = []
    out_offsets = [0]
    it = iter(spans)
    for m in loss_mask:
        if m and trained:
            flat.extend(int(t) for t in next(it))
        out_offsets.append(len(flat))
    return flat, out_offsets
