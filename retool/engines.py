"""Generation engines: token ids and sampling parameters in, token ids and their logprobs out.

Contract:
- ``Engine`` is the edge the rollout talks to: ``await engine.generate(input_ids, params)`` returns a
  ``Generation`` whose ``output_ids`` and ``output_logprobs`` have the same length (checked on
  construction). ``finish_reason`` is ``"stop"`` (a stop string, a stop token id or EOS; the stop
  is *kept* in the output, ``matched`` names it), ``"length"`` (``max_new_tokens`` reached) or
  ``"abort"`` (the engine gave up on this request, e.g. SGLang aborted it or sent no logprobs:
  an abort carries no tokens and is never an exception).
- ``SGLangEngine`` speaks SGLang's native ``POST /generate`` (``input_ids``, ``sampling_params``
  with ``no_stop_trim=True`` and ``skip_special_tokens=False``, ``return_logprob=True``) and reads
  ``meta_info.finish_reason`` and ``meta_info.output_token_logprobs``. Transport errors and 5xx
  answers are retried ``max_retries`` times with exponential backoff; a server still unreachable
  after that raises ``EngineError`` naming the URL. A 4xx answer (our request was wrong) raises at
  once.
- ``HFEngine`` runs a local transformers causal LM with a KV cache, off the event loop
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
  rollout benchmark uses as a tool-calling policy.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

FinishReason = Literal["stop", "length", "abort"]


def http_client_module():
    """``httpx`` (what miles/slime use), else its successor ``httpx2`` (same API; huggingface_hub
    2.x, a transformers dependency, installs it)."""
    try:
        import httpx
    except ImportError:
        import httpx2 as httpx
    return httpx


class EngineError(RuntimeError):
    """The engine could not serve a request at all (server down, bad request): not the model's fault."""


@dataclass(frozen=True, kw_only=True)
class SamplingParams:
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1  # -1: no top-k (SGLang's convention)
    max_new_tokens: int = 1024
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()
    seed: int | None = None
    ignore_eos: bool = False

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k == 0 or self.top_k < -1:
            raise ValueError(f"top_k must be -1 or >= 1, got {self.top_k}")
        if self.max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {self.max_new_tokens}")
        object.__setattr__(self, "stop", tuple(self.stop))
        object.__setattr__(self, "stop_token_ids", tuple(int(t) for t in self.stop_token_ids))

    def replace(self, **changes: Any) -> SamplingParams:
        return dataclasses.replace(self, **changes)

    def to_sglang(self) -> dict[str, Any]:
        """The ``sampling_params`` object of SGLang's ``/generate`` request."""
        out: dict[str, Any] = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "max_new_tokens": self.max_new_tokens,
            "stop": list(self.stop),
            "stop_token_ids": list(self.stop_token_ids),
            "no_stop_trim": True,
            "skip_special_tokens": False,
            "spaces_between_special_tokens": False,
            "ignore_eos": self.ignore_eos,
        }
        if self.seed is not None:
            out["sampling_seed"] = self.seed
        return out


@dataclass(frozen=True, kw_only=True)
class Generation:
    output_ids: tuple[int, ...]
    output_logprobs: tuple[float, ...]
    finish_reason: FinishReason
    matched: str | int | None = None
    text: str = ""
    abort_reason: str = ""

    def __post_init__(self) -> None:
        if len(self.output_ids) != len(self.output_logprobs):
            raise ValueError(
                f"output_ids ({len(self.output_ids)}) and output_logprobs ({len(self.output_logprobs)}) differ in length"
            )
        if self.finish_reason not in ("stop", "length", "abort"):
            raise ValueError(f"finish_reason must be stop|length|abort, got {self.finish_reason!r}")

    @classmethod
    def aborted(cls, reason: str) -> Generation:
        return cls(output_ids=(), output_logprobs=(), finish_reason="abort", abort_reason=reason)


@runtime_checkable
class Engine(Protocol):
    async def generate(self, input_ids: Sequence[int], params: SamplingParams) -> Generation: ...


def generation_from_sglang(body: Any) -> Generation:
    """Read one ``/generate`` response body; anything unusable is an abort carrying the reason."""
    if not isinstance(body, dict) or not isinstance(body.get("meta_info"), dict):
        return Generation.aborted(f"response has no meta_info: {str(body)[:200]!r}")
    meta = body["meta_info"]
    finish = meta.get("finish_reason")
    kind = finish.get("type") if isinstance(finish, dict) else None
    if kind == "abort":
        return Generation.aborted(f"server aborted: {finish.get('message', finish)}")
    if kind not in ("stop", "length"):
        return Generation.aborted(f"unknown finish_reason {finish!r}")
    entries = meta.get("output_token_logprobs")
    if not isinstance(entries, list):
        return Generation.aborted("response has no output_token_logprobs")
    ids: list[int] = []
    logprobs: list[float] = []
    for entry in entries:
        if not isinstance(entry, (list, tuple)) or len(entry) < 2 or entry[0] is None:
            return Generation.aborted(f"malformed output_token_logprobs entry {entry!r}")
        logprobs.append(float(entry[0]))
        ids.append(int(entry[1]))
    text = body.get("text", "")
    return Generation(
        output_ids=tuple(ids),
        output_logprobs=tuple(logprobs),
        finish_reason=kind,
        matched=finish.get("matched") if kind == "stop" else None,
        text=text if isinstance(text, str) else "",
    )


class SGLangEngine:
    """Client for a running SGLang server or router (or ``retool serve``) over HTTP."""

    def __init__(self, url: str, *, timeout_s: float = 600.0, max_retries: int = 3, backoff_s: float = 0.5) -> None:
        if max_retries < 0 or backoff_s < 0 or timeout_s <= 0:
            raise ValueError(f"bad retry settings: timeout_s={timeout_s} max_retries={max_retries} backoff_s={backoff_s}")
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self._loop: Any = None  # an httpx client is bound to the event loop that created it
        self._http: Any = None

    def _client(self) -> Any:
        httpx = http_client_module()

        loop = asyncio.get_running_loop()
        if self._http is None or self._loop is not loop or self._http.is_closed:
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout_s, connect=min(10.0, self.timeout_s)),
                limits=httpx.Limits(max_connections=1024, max_keepalive_connections=256),
            )
            self._loop = loop
        return self._http

    async def aclose(self) -> None:
        if self._http is not None and self._loop is asyncio.get_running_loop():
            await self._http.aclose()
        self._http = self._loop = None

    async def _post(self, route: str, payload: dict[str, Any]) -> Any:
        httpx = http_client_module()

        url = f"{self.url}{route}"
        last = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = await self._client().post(url, json=payload)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code >= 500:
                last = f"HTTP {response.status_code}: {response.text[:200]}"
                continue
            if response.status_code >= 400:
                raise EngineError(f"{url} rejected the request: HTTP {response.status_code}: {response.text[:500]}")
            try:
                return response.json()
            except ValueError:
                return response.text
        raise EngineError(f"SGLang server at {url} failed after {self.max_retries + 1} attempts: {last}")

    async def generate(self, input_ids: Sequence[int], params: SamplingParams) -> Generation:
        payload = {
            "input_ids": [int(t) for t in input_ids],
            "sampling_params": params.to_sglang(),
            "return_logprob": True,
        }
        return generation_from_sglang(await self._post("/generate", payload))

    async def health(self) -> bool:
        httpx = http_client_module()

        try:
            response = await self._client().get(f"{self.url}/health")
        except httpx.TransportError:
            return False
        return response.status_code == 200


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
                if token in stop_ids:
                    return self._done(out_ids, out_lps, "stop", token)
                if window:  # a stop string completed by this token lies in the last few tokens' text
                    tail = self.tokenizer.decode(out_ids[-window:], skip_special_tokens=False)
                    hit = next((stop for stop in params.stop if stop and stop in tail), None)
                    if hit is not None:
                        return self._done(out_ids, out_lps, "stop", hit)
                step_ids = torch.tensor([[token]], dtype=torch.long, device=self.device)  # (1, 1)
        if forced_ids is not None and len(out_ids) < params.max_new_tokens:
            return self._done(out_ids, out_lps, "stop", None)  # the forced text ended without a stop
        return self._done(out_ids, out_lps, "length", None)

    def _done(self, ids: list[int], lps: list[float], reason: FinishReason, matched: Any) -> Generation:
        text = self.tokenizer.decode(ids, skip_special_tokens=False)
        return Generation(output_ids=tuple(ids), output_logprobs=tuple(lps), finish_reason=reason, matched=matched, text=text)


def _sample(logits: Any, params: SamplingParams, generator: Any) -> tuple[int, float]:
    """Sample one token from ``logits`` (V,); return it with its logprob at temperature T (before top-k/p)."""
    import torch

    if params.temperature == 0:
        logprobs = torch.log_softmax(logits, dim=-1)  # (V,)
        token = int(torch.argmax(logits))
        return token, float(logprobs[token])
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
    token = int(torch.multinomial(probs / probs.sum(), 1, generator=generator))
    return token, float(logprobs[token])
