"""SGLang's native ``POST /generate`` as an :class:`~retool.rollout.config.Engine`.

Contract:
``SGLangEngine`` speaks SGLang's native ``POST /generate`` (``input_ids``, ``sampling_params``
with ``no_stop_trim=True`` and ``skip_special_tokens=False``, ``return_logprob=True``) and reads
``meta_info.finish_reason`` and ``meta_info.output_token_logprobs``. Transport errors and 5xx
answers are retried ``max_retries`` times with exponential backoff; a server still unreachable
after that raises ``EngineError`` naming the URL. A 4xx answer (our request was wrong) raises at
once.
:func:`generation_from_sglang` reads one response body; anything unusable (no logprobs, a
length mismatch, an abort) is a ``Generation`` with ``finish_reason="abort"`` and the reason,
never an exception. :func:`http_client_module` is ``httpx`` (what miles/slime use), else its
successor ``httpx2``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from retool.rollout.config import EngineError, Generation, SamplingParams

__all__ = ["SGLangEngine", "generation_from_sglang", "http_client_module"]


def http_client_module():
    """``httpx`` (what miles/slime use), else its successor ``httpx2`` (same API; huggingface_hub
    2.x, a transformers dependency, installs it)."""
    try:
        import httpx
    except ImportError:
        import httpx2 as httpx
    return httpx


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
