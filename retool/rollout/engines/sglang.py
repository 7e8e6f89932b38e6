"""SGLang's native ``POST /generate`` as an :class:`~retool.rollout.config.Engine`.

Contract:
``SGLangEngine`` speaks SGLang's native ``POST /generate`` (``input_ids``, ``sampling_params``
with ``no_stop_trim=True`` and ``skip_special_tokens=False`` and any ``custom_params``,
``return_logprob=True``) and reads ``meta_info.finish_reason``, ``meta_info.output_token_logprobs``,
``weight_version``, ``prompt_tokens``, ``cached_tokens`` and the top-p nucleus
(``top_p_token_ids`` / ``top_p_token_offsets``, lists or base64 little-endian int32).
Transport errors, 5xx answers and the transient 4xx (408 timeout, 429 too many requests) are
retried ``max_retries`` times, waiting ``backoff_s * backoff_factor ** (attempt - 1)`` between
attempts (miles's own HTTP helper: 60 attempts, 1 s apart, is ``max_retries=59, backoff_s=1,
backoff_factor=1``); a server still failing after that raises ``EngineError`` naming the URL and
the last answer. Any other 4xx (our request was wrong, e.g. SGLang's 400 for an unknown sampling
key) raises at once: the same request cannot succeed on a retry. ``engine.bind(headers=...,
payload=...)`` is the same client with per-request extras (a routing-key header, ``lora_path``).
:func:`generation_from_sglang` reads one response body; anything unusable (no logprobs, a
length mismatch, an abort) is a ``Generation`` with ``finish_reason="abort"`` and the reason,
never an exception. :func:`http_client_module` is ``httpx`` (what miles/slime use), else its
successor ``httpx2``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from retool.rollout.config import EngineError, Generation, SamplingParams

__all__ = ["RETRIED_4XX", "BoundEngine", "SGLangEngine", "generation_from_sglang", "http_client_module"]

RETRIED_4XX = frozenset({408, 429})  # a timeout or rate limit: the same request can succeed later
_TOP_P_IDS = ("top_p_token_ids", "top_p_kept_token_ids")
_TOP_P_OFFSETS = ("top_p_token_offsets", "top_p_kept_token_offsets")


def http_client_module():
    """``httpx`` (what miles/slime use), else its successor ``httpx2`` (same API; huggingface_hub
    2.x, a transformers dependency, installs it)."""
    try:
        import httpx
    except ImportError:
        import httpx2 as httpx
    return httpx


def _int_array(value: Any) -> tuple[int, ...] | None:
    """A list of ints, or base64 of little-endian int32 (how SGLang ships big arrays); None if neither."""
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(raw) % 4:
            return None
        return struct.unpack(f"<{len(raw) // 4}i", raw)
    if isinstance(value, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return tuple(value)
    return None


def _meta_fields(meta: Mapping[str, Any]) -> dict[str, Any]:
    """weight_version, prompt_tokens and cached_tokens as miles's Sample.update_from_meta_info reads them."""
    out: dict[str, Any] = {}
    if meta.get("weight_version") is not None:
        out["weight_version"] = str(meta["weight_version"])
    for key in ("prompt_tokens", "cached_tokens"):
        value = meta.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            out[key] = value
    return out


def generation_from_sglang(body: Any) -> Generation:
    """Read one ``/generate`` response body; anything unusable is an abort carrying the reason."""
    if not isinstance(body, dict) or not isinstance(body.get("meta_info"), dict):
        return Generation.aborted(f"response has no meta_info: {str(body)[:200]!r}")
    meta = body["meta_info"]
    fields = _meta_fields(meta)
    finish = meta.get("finish_reason")
    kind = finish.get("type") if isinstance(finish, dict) else None
    if kind == "abort":
        return Generation.aborted(f"server aborted: {finish.get('message', finish)}", **fields)
    if kind not in ("stop", "length"):
        return Generation.aborted(f"unknown finish_reason {finish!r}", **fields)
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
    top_p_ids = next((_int_array(meta[k]) for k in _TOP_P_IDS if k in meta), None)
    top_p_offsets = next((_int_array(meta[k]) for k in _TOP_P_OFFSETS if k in meta), None)
    if (top_p_ids is None) != (top_p_offsets is None):
        return Generation.aborted("response has top-p token ids without offsets (or the reverse)", **fields)
    text = body.get("text", "")
    try:
        return Generation(
            output_ids=tuple(ids),
            output_logprobs=tuple(logprobs),
            finish_reason=kind,
            matched=finish.get("matched") if kind == "stop" else None,
            text=text if isinstance(text, str) else "",
            top_p_token_ids=top_p_ids,
            top_p_token_offsets=top_p_offsets,
            **fields,
        )
    except ValueError as exc:  # the top-p spans do not fit the tokens
        return Generation.aborted(f"unusable response: {exc}", **fields)


class SGLangEngine:
    """Client for a running SGLang server or router (or ``retool serve``) over HTTP."""

    def __init__(self, url: str, *, timeout_s: float = 600.0, max_retries: int = 3, backoff_s: float = 0.5,
                 backoff_factor: float = 2.0) -> None:
        if max_retries < 0 or backoff_s < 0 or timeout_s <= 0 or backoff_factor < 1:
            raise ValueError(f"bad retry settings: timeout_s={timeout_s} max_retries={max_retries} backoff_s={backoff_s} "
                             f"backoff_factor={backoff_factor}")
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.backoff_factor = backoff_factor
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

    async def _post(self, route: str, payload: dict[str, Any], headers: Mapping[str, str] | None = None) -> Any:
        httpx = http_client_module()

        url = f"{self.url}{route}"
        last = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff_s * self.backoff_factor ** (attempt - 1))
            try:
                response = await self._client().post(url, json=payload, headers=dict(headers or {}))
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code >= 500 or response.status_code in RETRIED_4XX:
                last = f"HTTP {response.status_code}: {response.text[:200]}"
                continue
            if response.status_code >= 400:
                raise EngineError(f"{url} rejected the request: HTTP {response.status_code}: {response.text[:500]}")
            try:
                return response.json()
            except ValueError:
                return response.text
        raise EngineError(f"SGLang server at {url} failed after {self.max_retries + 1} attempts: {last}")

    async def generate(self, input_ids: Sequence[int], params: SamplingParams, *,
                       headers: Mapping[str, str] | None = None, payload: Mapping[str, Any] | None = None) -> Generation:
        body = {
            **dict(payload or {}),
            "input_ids": [int(t) for t in input_ids],
            "sampling_params": params.to_sglang(),
            "return_logprob": True,
        }
        return generation_from_sglang(await self._post("/generate", body, headers))

    def bind(self, *, headers: Mapping[str, str] | None = None, payload: Mapping[str, Any] | None = None) -> BoundEngine:
        """This client with extra headers and request fields on every ``generate`` (one sample's routing key,
        ``lora_path``); the connection pool is shared."""
        return BoundEngine(self, headers=dict(headers or {}), payload=dict(payload or {}))

    async def health(self) -> bool:
        httpx = http_client_module()

        try:
            response = await self._client().get(f"{self.url}/health")
        except httpx.TransportError:
            return False
        return response.status_code == 200


class BoundEngine:
    """:meth:`SGLangEngine.bind`'s result: an Engine sending fixed extras with every request."""

    def __init__(self, engine: SGLangEngine, *, headers: dict[str, str], payload: dict[str, Any]) -> None:
        self.engine, self.headers, self.payload = engine, headers, payload

    async def generate(self, input_ids: Sequence[int], params: SamplingParams) -> Generation:
        return await self.engine.generate(input_ids, params, headers=self.headers, payload=self.payload)
