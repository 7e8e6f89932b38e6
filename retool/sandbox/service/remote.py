"""``RemoteSandbox``: the Sandbox protocol over HTTP, against ``retool sandbox serve``.

Contract: ``RemoteSandbox(url, token=None, *, timeout_s=None, retries=5, max_connections=256,
connect_timeout_s=5.0)``; ``await start()`` (reads the farm's settings from ``/health`` into ``config``, a
``SandboxConfig`` with its ``timeout_s``, ``memory_limit_bytes``, ``concurrency``,
``max_output_bytes``, ``allowed_modules`` and ``print_last_expression``, so code that reads a
sandbox's settings, like the escape battery or the rollout's ``format_result``, sees the farm's;
``async with`` calls it, and so does the first call when nothing did),
``await run(code) -> ExecutionResult``, ``await execute_code(code) -> str`` (the server's
model-facing text: the same text as an in-process ``PythonSandbox`` with the server's settings),
``await close()`` / ``async with``. One pool of keep-alive connections per sandbox
(:mod:`~retool.sandbox.service.client`), used from one event loop.

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
import json
import random

from retool.sandbox.config import ExecutionResult, SandboxConfig
from retool.sandbox.service.client import HTTPPool, NotSent, Response, SentFailure
from retool.sandbox.service.protocol import result_from_verdict

_QUEUE_SLACK_S = 60.0


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
        self.config: SandboxConfig | None = None
        self._timeout_s, self._retries = timeout_s, retries
        self._headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        self._pool = HTTPPool(self.url, max_connections=max_connections, connect_timeout_s=connect_timeout_s)
        self._closed = False
        self._start_tried = False

    def _check(self) -> HTTPPool:
        if self._closed:
            raise RuntimeError("RemoteSandbox used after close()")
        return self._pool

    async def start(self) -> SandboxConfig:
        """Read the farm's settings from ``/health`` (raises ``ConnectionError`` naming the URL when it cannot)."""
        try:
            response = await self._check().request("GET", "/health", headers=self._headers, timeout_s=15.0)
            limits = json.loads(response.body)["limits"]
            modules = limits["allowed_modules"]
            self.config = SandboxConfig(timeout_s=float(limits["max_timeout_s"]),
                                        memory_limit_bytes=int(limits["max_memory_bytes"]),
                                        concurrency=int(limits["concurrency"]),
                                        max_output_bytes=int(limits["max_output_bytes"]),
                                        max_code_bytes=int(limits["max_code_bytes"]),
                                        allowed_modules=tuple(modules) if modules is not None else None,
                                        print_last_expression=bool(limits["print_last_expression"]))
        except (ConnectionError, ValueError, KeyError, TypeError) as exc:
            raise ConnectionError(f"no retool sandbox service at {self.url}: {type(exc).__name__}: {exc}") from exc
        return self.config

    async def execute_code(self, code: str) -> str:
        result, text = await self._call(code)
        return text if text is not None else _crashed_text(result)

    async def run(self, code: str) -> ExecutionResult:
        return (await self._call(code))[0]

    async def _call(self, code: str) -> tuple[ExecutionResult, str | None]:
        pool = self._check()
        if not isinstance(code, str):
            return ExecutionResult(status="error", stdout="", stderr="", duration_s=0.0,
                                   detail="code must be a str"), None
        if self.config is None and not self._start_tried:  # read the farm's settings once, on first use
            self._start_tried = True
            try:
                await self.start()
            except ConnectionError:
                pass  # the call below says why
        run_timeout = self.config.timeout_s if self.config is not None else 0  # 0 = the server's cap
        payload = json.dumps({"code": code, "language": "python", "run_timeout": run_timeout}).encode("utf-8", "replace")
        bound = self._timeout_s or ((self.config.timeout_s if self.config else 120.0) + _QUEUE_SLACK_S)
        for attempt in range(self._retries + 1):
            last = attempt == self._retries
            try:
                response = await pool.request("POST", "/run_code", payload, self._headers, timeout_s=bound)
            except NotSent as exc:  # never sent: safe to try again
                if last:
                    return _crashed(f"remote sandbox unreachable at {self.url}: {exc}"), None
                await asyncio.sleep(min(2.0, 0.05 * 2**attempt) * (1 + random.random()))
                continue
            except SentFailure as exc:  # sent: the run may have happened, never run it twice
                return _crashed(f"remote sandbox call failed after sending: {exc}"), None
            if response.status in (429, 503) and not last:
                await asyncio.sleep(_retry_after(response, attempt))
                continue
            return _parse(response)
        raise AssertionError("unreachable")  # the loop returns on its last attempt

    async def close(self) -> None:
        self._closed = True
        await self._pool.close()

    async def __aenter__(self) -> RemoteSandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _retry_after(response: Response, attempt: int) -> float:
    try:
        hinted = float(response.headers.get("retry-after", ""))
    except ValueError:
        hinted = 0.0
    base = max(hinted, min(2.0, 0.05 * 2**attempt))
    return base * (1 + 0.5 * random.random())


def _parse(response: Response) -> tuple[ExecutionResult, str | None]:
    try:
        body = json.loads(response.body)
    except ValueError:
        body = None
    if response.status != 200 or not isinstance(body, dict):
        detail = body.get("detail") if isinstance(body, dict) else response.body[:300].decode("utf-8", "replace")
        return _crashed(f"remote sandbox answered HTTP {response.status}: {detail}"), None
    result = result_from_verdict(body.get("retool"))
    if result is None:
        return _crashed(f"remote sandbox error: {body.get('message') or 'response without a verdict'}"), None
    text = body["retool"].get("text")
    return result, text if isinstance(text, str) else None


def _crashed_text(result: ExecutionResult) -> str:
    return f"[crashed: the remote sandbox did not run the code: {result.detail}]"


__all__ = ["RemoteSandbox"]
