"""A local transformers causal LM as an :class:`~retool.rollout.config.Engine` (KV cache, exact logprobs).

Contract:
``HFEngine`` runs a local transformers causal LM with a KV cache, off the event loop
(``asyncio.to_thread``) under a lock (one model is never used from two threads at once). It
stops as soon as the decoded output contains a stop string (the whole token that completed it
is kept), or at a stop token id / the tokenizer's EOS (kept). Logprobs are those of the sampled
token under the raw model distribution at temperature T, ``log_softmax(logits / T)`` *before*
top-k/top-p truncation, which is what SGLang reports; at T == 0 decoding is greedy and the
logprob is ``log_softmax(logits)``. With ``params.seed`` set, a generation is reproducible
(without it, the engine's own generator, seeded by ``default_seed``, is used). Stop strings are
looked for in the decoded text of the last ``4 * len(longest stop) + 4`` tokens after each
token, so the check costs O(1) per token. ``generate_sync(..., forced_ids=ids)`` teacher-forces
``ids`` instead of sampling (same cost and stop rules; the logprobs are the model's), which the
rollout benchmark uses as a tool-calling policy. With ``custom_params={"return_top_p_token_ids":
True}`` the generation also carries each step's kept nucleus (the ids left after temperature,
top-k and top-p; the argmax alone when greedy), as ragged ids and offsets.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Sequence
from typing import Any

from retool.rollout.config import Generation, SamplingParams

__all__ = ["HFEngine"]


class HFEngine:
    """A local transformers causal LM, sampled token by token with a KV cache."""

    def __init__(self, model: Any, tokenizer: Any, *, device: str = "cpu", default_seed: int = 0) -> None:
        import torch

        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.device = torch.device(device)
        self._lock = threading.Lock()
        self._generator = torch.Generator(device="cpu").manual_seed(default_seed)
        params = inspect.signature(self.model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        eos = tokenizer.eos_token_id
        self._eos_ids = frozenset([eos] if isinstance(eos, int) else (eos or []))

    async def generate(self, input_ids: Sequence[int], params: SamplingParams) -> Generation:
        return await asyncio.to_thread(self.generate_sync, input_ids, params)

    def generate_sync(self, input_ids: Sequence[int], params: SamplingParams, *,
                      forced_ids: Sequence[int] | None = None) -> Generation:
        """Sample (or, with ``forced_ids``, teacher-force those tokens: same cost, same stop rules,
        their logprobs under the model) until a stop, EOS or ``max_new_tokens``."""
        with self._lock:
            return self._generate_locked([int(t) for t in input_ids], params, forced_ids)

    def _generate_locked(self, input_ids: list[int], params: SamplingParams, forced_ids: Sequence[int] | None = None) -> Generation:
        import torch

        if not input_ids:
            raise ValueError("input_ids is empty")
        generator = self._generator
        if params.seed is not None:
            generator = torch.Generator(device="cpu").manual_seed(params.seed)
        stop_ids = set(params.stop_token_ids) | (set() if params.ignore_eos else self._eos_ids)
        out_ids: list[int] = []
        out_lps: list[float] = []
        nucleus: list[list[int]] | None = [] if params.wants_top_p_token_ids else None
        window = 4 * max((len(stop) for stop in params.stop), default=0) + 4 if params.stop else 0
        cache = None
        step_ids = torch.tensor([input_ids], dtype=torch.long, device=self.device)  # (1, T)
        limit = params.max_new_tokens if forced_ids is None else min(params.max_new_tokens, len(forced_ids))
        with torch.inference_mode():
            while len(out_ids) < limit:
                out = self.model(input_ids=step_ids, use_cache=True, **{self._cache_kw: cache})
                cache = out.cache if self._cache_kw == "cache" else out.past_key_values
                logits = out.logits[0, -1].float().cpu()  # (V,)
                if forced_ids is None:
                    token, logprob = _sample(logits, params, generator)
                else:
                    token = int(forced_ids[len(out_ids)])
                    logprob = float(torch.log_softmax(logits / (params.temperature or 1.0), dim=-1)[token])
                out_ids.append(token)
                out_lps.append(logprob)
                if nucleus is not None:
                    nucleus.append(_kept_ids(logits, params))
                if token in stop_ids:
                    return self._done(out_ids, out_lps, "stop", token, nucleus)
                if window:  # a stop string completed by this token lies in the last few tokens' text
                    tail = self.tokenizer.decode(out_ids[-window:], skip_special_tokens=False)
                    hit = next((stop for stop in params.stop if stop and stop in tail), None)
                    if hit is not None:
                        return self._done(out_ids, out_lps, "stop", hit, nucleus)
                step_ids = torch.tensor([[token]], dtype=torch.long, device=self.device)  # (1, 1)
        if forced_ids is not None and len(out_ids) < params.max_new_tokens:
            return self._done(out_ids, out_lps, "stop", None, nucleus)  # the forced text ended without a stop
        return self._done(out_ids, out_lps, "length", None, nucleus)

    def _done(self, ids: list[int], lps: list[float], reason: FinishReason, matched: Any,
              nucleus: list[list[int]] | None = None) -> Generation:
        text = self.tokenizer.decode(ids, skip_special_tokens=False)
        top_p: dict[str, Any] = {}
        if nucleus is not None:
            offsets = [0]
            for kept in nucleus:
                offsets.append(offsets[-1] + len(kept))
            top_p = {"top_p_token_ids": tuple(t for kept in nucleus for t in kept), "top_p_token_offsets": tuple(offsets)}
        return Generation(output_ids=tuple(ids), output_logprobs=tuple(lps), finish_reason=reason, matched=matched,
                          text=text, **top_p)


def _filtered(logits: Any, params: SamplingParams) -> tuple[Any, Any]:
    """(logprobs at temperature T, the probabilities left after top-k and top-p), both (V,); T > 0."""
    import torch

    logprobs = torch.log_softmax(logits / params.temperature, dim=-1)  # (V,)
    probs = logprobs.exp()  # (V,)
    if params.top_k > 0 and params.top_k < probs.numel():
        kth = torch.topk(probs, params.top_k).values[-1]
        probs = torch.where(probs >= kth, probs, torch.zeros_like(probs))
    if params.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)  # (V,), (V,)
        mass_before = torch.cumsum(sorted_probs, dim=0) - sorted_probs  # (V,)
        keep = mass_before < params.top_p * sorted_probs.sum()  # (V,)
        probs = torch.zeros_like(probs).scatter(0, order, sorted_probs * keep)
    return logprobs, probs


def _kept_ids(logits: Any, params: SamplingParams) -> list[int]:
    """The ids the sampler could draw at this step (ascending); the argmax alone when greedy."""
    import torch

    if params.temperature == 0:
        return [int(torch.argmax(logits))]
    return [int(t) for t in torch.nonzero(_filtered(logits, params)[1] > 0).flatten().tolist()]


def _sample(logits: Any, params: SamplingParams, generator: Any) -> tuple[int, float]:
    """Sample one token from ``logits`` (V,); return it with its logprob at temperature T (before top-k/p)."""
    import torch

    if params.temperature == 0:
        logprobs = torch.log_softmax(logits, dim=-1)  # (V,)
        token = int(torch.argmax(logits))
        return token, float(logprobs[token])
    logprobs, probs = _filtered(logits, params)
    token = int(torch.multinomial(probs / probs.sum(), 1, generator=generator))
    return token, float(logprobs[token])
