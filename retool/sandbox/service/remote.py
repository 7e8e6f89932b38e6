"""``RemoteSandbox``: the Sandbox protocol over HTTP, against ``retool sandbox serve``.

Contract: ``RemoteSandbox(url, token=None, *, timeout_s=None, retries=5, max_connections=256,
connect_timeout_s=5.0)``; ``await start()`` (optional: reads the server's limits from ``/health``
into ``config``: ``timeout_s``, ``memory_limit_bytes``, ``concurrency``, ``max_output_bytes``, so
code that reads a sandbox's limits, like the escape battery, sees the farm's),
``await run(code) -> ExecutionResult``, ``await execute_code(code) -> str`` (the server's
model-facing text: the same text as an in-process ``PythonSandbox`` with the server's settings),
``await close()`` / ``async with``. One pooled keep-alive ``httpx.AsyncClient`` per sandbox.

Retries only where the run certainly did not happen: the connection could not be made, or the
server answered 429 (its queue is full; ``Retry-After`` is honoured) or 503 (draining; the run
was not started). A failure after the request was sent (read timeout, reset, a 5xx) is never
retried: it returns ``status="crashed"`` with the reason, as does giving up. Like
``PythonSandbox``, nothing a snippet does makes these raise; a call after ``close()`` raises
``RuntimeError``. ``timeout_s`` is the per-request HTTP bound (default: the server's run timeout
plus 60 s of queueing).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any

import httpx

from retool.sandbox.config import ExecutionResult
from retool.sandbox.service.protocol import result_from_verdict

_QUEUE_SLACK_S = 60.0


@dataclass(frozen=True, kw_only=True)
class RemoteLimits:
    """The farm's limits as ``/health`` reports them (names as in ``SandboxConfig``)."""

    timeout_s: float
    memory_limit_bytes: int
    concurrency: int
    max_output_bytes: int
    max_code_bytes: int


def _crashed(detail: str) -> ExecutionResult:
    return ExecutionResult(status="crashed", stdout="", stderr="", duration_s=0.0, detail=detail[:500])


class RemoteSandbox:
    """See the module contract."""

    def __init__(self, url: str, token: str | None = None, *, timeout_s: float | None = None, retries: int = 5,
                 max_connections: int = 256, connect_timeout_s: float = 5.0) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"url must be an http(s) URL, got {url!r}")
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self.url = url.rstrip("/")
        self.config: RemoteLimits | None = None
        self._token, self._timeout_s, self._retries = token, timeout_s, retries
        self._connect_timeout_s = connect_timeout_s
        self._limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._client: httpx.AsyncClient | None = None
        self._closed = False

    def _http(self) -> httpx.AsyncClient:
        if self._closed:
            raise RuntimeError("RemoteSandbox used after close()")
        if self._client is None:
            headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
            self._client = httpx.AsyncClient(headers=headers, limits=self._limits,
                                             timeout=httpx.Timeout(None, connect=self._connect_timeout_s))
        return self._client

    async def start(self) -> RemoteLimits:
        """Read the farm's limits from ``/health`` (raises ``ConnectionError`` naming the URL when it cannot)."""
        try:
            response = await self._http().get(f"{self.url}/health", timeout=self._connect_timeout_s + 10)
            limits = response.json()["limits"]
            self.config = RemoteLimits(timeout_s=float(limits["max_timeout_s"]),
                                       memory_limit_bytes=int(limits["max_memory_bytes"]),
                                       concurrency=int(limits["concurrency"]),
                                       max_output_bytes=int(limits["max_output_bytes"]),
                                       max_code_bytes=int(limits["max_code_bytes"]))
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise ConnectionError(f"no retool sandbox service at {self.url}: {type(exc).__name__}: {exc}") from exc
        return self.config

    async def execute_code(self, code: str) -> str:
        result, text = await self._call(code)
        return text if text is not None else _crashed_text(result)

    async def run(self, code: str) -> ExecutionResult:
        return (await self._call(code))[0]

    async def _call(self, code: str) -> tuple[ExecutionResult, str | None]:
        client = self._http()
        if not isinstance(code, str):
            return ExecutionResult(status="error", stdout="", stderr="", duration_s=0.0,
                                   detail="code must be a str"), None
        run_timeout = self.config.timeout_s if self.config is not None else 0  # 0 = the server's cap
        payload = {"code": code, "language": "python", "run_timeout": run_timeout}
        bound = self._timeout_s or ((self.config.timeout_s if self.config else 120.0) + _QUEUE_SLACK_S)
        for attempt in range(self._retries + 1):
            last = attempt == self._retries
            try:
                response = await client.post(f"{self.url}/run_code", json=payload, timeout=httpx.Timeout(bound, connect=self._connect_timeout_s))
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:  # never sent
                if last:
                    return _crashed(f"remote sandbox unreachable at {self.url}: {type(exc).__name__}: {exc}"), None
                await asyncio.sleep(min(2.0, 0.05 * 2**attempt) * (1 + random.random()))
                continue
            except httpx.HTTPError as exc:  # sent: the run may have happened, never run it twice
                return _crashed(f"remote sandbox call failed after sending: {type(exc).__name__}: {exc}"), None
            if response.status_code in (429, 503) and not last:
                await asyncio.sleep(_retry_after(response, attempt))
                continue
            return _parse(response)
        raise AssertionError("unreachable")  # the loop returns on its last attempt

    async def close(self) -> None:
        self._closed = True
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def __aenter__(self) -> RemoteSandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _retry_after(response: httpx.Response, attempt: int) -> float:
    try:
        hinted = float(response.headers.get("retry-after", ""))
    except ValueError:
        hinted = 0.0
    base = max(hinted, min(2.0, 0.05 * 2**attempt))
    return base * (1 + 0.5 * random.random())


def _parse(response: httpx.Response) -> tuple[ExecutionResult, str | None]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict):
        detail = body.get("detail") if isinstance(body, dict) else response.text[:300]
        return _crashed(f"remote sandbox answered HTTP {response.status_code}: {detail}"), None
    result = result_from_verdict(body.get("retool"))
    if result is None:
        return _crashed(f"remote sandbox error: {body.get('message') or 'response without a verdict'}"), None
    text = body["retool"].get("text")
    return result, text if isinstance(text, str) else None


def _crashed_text(result: ExecutionResult) -> str:
    return f"[crashed: the remote sandbox did not run the code: {result.detail}]"


__all__ = ["RemoteLimits", "RemoteSandbox"]
