"""The sandbox as an HTTP service: SandboxFusion's ``POST /run_code`` over one ``PythonSandbox``.

Contract: ``SandboxService(sandbox, config)``; ``await start()`` starts the zygotes, then listens
(``url`` says where; port 0 picks a free one); ``await stop()`` drains; ``async with`` does both.
Routes: ``POST /run_code`` (:mod:`~retool.sandbox.service.protocol`), ``GET /health`` (open to
all: ``{"status": "ok"|"draining", "limits"}``, 503 while draining, for load balancers) and
``GET /metrics`` (JSON, or Prometheus text with ``?format=prometheus``;
:mod:`~retool.sandbox.service.metrics`).

Who may use it: ``ServiceConfig`` refuses a bind to anything but loopback without a token. With
a token, every route but ``/health`` needs ``Authorization: Bearer <token>`` or the path prefix
``/t/<token>`` (for clients that only take a URL: ``sandbox-fusion``, verl's tool), compared in
constant time; otherwise 401. Caps whatever the request says: the body (``max_request_bytes``,
refused from Content-Length before reading it: 413), ``run_timeout`` and ``memory_limit_MB`` (the
sandbox's own limits), the code with its files (the sandbox's code limit). Back-pressure: at most
``concurrency`` runs in flight and ``max_queue`` waiting; past that 429 with ``Retry-After``.
A malformed request is a 400 (or 408/411/413/431) with the reason, never a crash.

Shutdown (``stop``): stop accepting, answer queued runs 503 (never started, so safe to retry),
let running runs finish for ``drain_timeout_s``, then stop the rest and answer each with a
``SandboxError`` saying it was stopped; every accepted request gets exactly one answer, and no run
is made twice by the server. Idle keep-alive connections are closed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import logging
import secrets
import time
from typing import Any

from retool.sandbox.config import ExecutionResult, format_result
from retool.sandbox.service.config import ServiceConfig, is_loopback
from retool.sandbox.service.http import MAX_HEADER_BYTES, HTTPError, Request, answer_and_close, read_request, response_bytes
from retool.sandbox.service.metrics import ServiceMetrics, prometheus
from retool.sandbox.service.protocol import (
    Refusal,
    RunRequest,
    ServiceLimits,
    build_code,
    parse_run_request,
    response_for,
    sandbox_error,
)

_log = logging.getLogger(__name__)


class SandboxService:
    """See the module contract."""

    def __init__(self, sandbox: Any, config: ServiceConfig | None = None) -> None:
        self.sandbox, self.config = sandbox, config or ServiceConfig()
        cfg = sandbox.config
        self.limits = ServiceLimits(max_timeout_s=cfg.timeout_s, max_memory_bytes=cfg.memory_limit_bytes,
                                    max_code_bytes=cfg.max_code_bytes, max_fetch_bytes=self.config.max_fetch_bytes,
                                    print_last_expression=cfg.print_last_expression)
        self.metrics = ServiceMetrics()
        self._concurrency = cfg.concurrency
        self._server: asyncio.AbstractServer | None = None
        self._slots: asyncio.Semaphore | None = None
        self._drain: asyncio.Event | None = None
        self._queued = self._running = 0
        self._runs: set[asyncio.Task[dict[str, Any]]] = set()
        self._conns: set[asyncio.StreamWriter] = set()
        self._busy: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self.address: tuple[str, int] | None = None
        self._effective: dict[tuple[float, int], Any] = {}

    @property
    def url(self) -> str:
        if self.address is None:
            raise RuntimeError("SandboxService.url read before start()")
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def draining(self) -> bool:
        return self._drain is not None and self._drain.is_set()

    async def start(self) -> None:
        self._slots, self._drain = asyncio.Semaphore(self._concurrency), asyncio.Event()
        await self.sandbox.start()
        self._server = await asyncio.start_server(self._connection, self.config.host, self.config.port,
                                                  limit=MAX_HEADER_BYTES)
        self.address = self._server.sockets[0].getsockname()[:2]

    async def __aenter__(self) -> SandboxService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Drain (see the module contract). Idempotent; always completes."""
        if self._drain is None or self._drain.is_set():
            return
        self._drain.set()
        if self._server is not None:
            self._server.close()
        for writer in self._conns - self._busy:
            writer.close()
        if self._runs:
            _, late = await asyncio.wait(tuple(self._runs), timeout=self.config.drain_timeout_s)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        if self._handlers:
            await asyncio.wait(tuple(self._handlers), timeout=5.0)
        for writer in tuple(self._conns):
            writer.close()

    # -- connections ----------------------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        self._conns.add(writer)
        if len(self._conns) > self.config.max_connections:
            self.metrics.reject(503)
            try:
                await answer_and_close(reader, writer, response_bytes(
                    503, {"detail": f"over {self.config.max_connections} connections"}, keep_alive=False,
                    extra={"Retry-After": str(self.config.retry_after_s)}))
            finally:
                self._conns.discard(writer)
                if task is not None:
                    self._handlers.discard(task)
                writer.close()
            return

        async def send_continue() -> None:
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()

        try:
            while not self.draining:
                try:
                    request = await read_request(reader, self.config.max_request_bytes, self.config.io_timeout_s,
                                                 send_continue)
                except HTTPError as err:
                    self.metrics.reject(err.code)
                    await answer_and_close(reader, writer, response_bytes(err.code, {"detail": err.reason},
                                                                           keep_alive=False))
                    return
                if request is None:
                    return
                self._busy.add(writer)
                try:
                    try:
                        code, body, extra = await self._route(request)
                    except Exception as exc:  # a bug of ours: answered and logged; the server goes on
                        _log.exception("request %s %s failed", request.method, request.path[:100])
                        code, body, extra = 500, {"detail": f"internal error: {type(exc).__name__}"}, None
                    keep = request.keep_alive and not self.draining
                    kind = "text/plain; version=0.0.4" if isinstance(body, str) else None
                    data = response_bytes(code, body, keep_alive=keep, extra=extra, content_type=kind)
                    writer.write(data.partition(b"\r\n\r\n")[0] + b"\r\n\r\n" if request.method == "HEAD" else data)
                    await writer.drain()
                finally:
                    self._busy.discard(writer)
                if not keep:
                    return
        except (ConnectionError, OSError):
            return
        finally:
            self._conns.discard(writer)
            if task is not None:
                self._handlers.discard(task)
            writer.close()

    def _authorized(self, request: Request) -> tuple[bool, str]:
        """(authorized, the path without a ``/t/<token>`` prefix)."""
        path, given = request.path, None
        if path.startswith("/t/"):
            given, _, rest = path[3:].partition("/")
            path = "/" + rest
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
        if self.config.token is None:
            return True, path
        ok = given is not None and hmac.compare_digest(given.encode(), self.config.token.encode())
        return ok, path

    async def _route(self, request: Request) -> tuple[int, dict[str, Any] | str, dict[str, str] | None]:
        ok, path = self._authorized(request)
        if path == "/health" and request.method in ("GET", "HEAD"):
            status = "draining" if self.draining else "ok"
            limits = {**dataclasses.asdict(self.limits), "concurrency": self._concurrency,
                      "max_output_bytes": self.sandbox.config.max_output_bytes,
                      "allowed_modules": self.sandbox.config.allowed_modules,
                      "max_request_bytes": self.config.max_request_bytes, "languages": ["python"]}
            return (503 if self.draining else 200), {"status": status, "limits": limits}, None
        if path not in ("/run_code", "/metrics"):
            return self._reject(404, f"no route {path[:100]!r}: POST /run_code, GET /health, GET /metrics")
        if not ok:
            return self._reject(401, "missing or wrong token (Authorization: Bearer <token> or /t/<token>/...)",
                                {"WWW-Authenticate": "Bearer"})
        if path == "/metrics":
            if request.method != "GET":
                return self._reject(405, "GET /metrics")
            snap = self.metrics.snapshot(queued=self._queued, running=self._running)
            snap["layers"] = self.sandbox.layers()
            return 200, (prometheus(snap) if "format=prometheus" in request.query else snap), None
        if request.method != "POST":
            return self._reject(405, "POST /run_code")
        parsed = parse_run_request(request.body, self.limits)
        if isinstance(parsed, Refusal):
            if not parsed.sandbox_error:
                return self._reject(400, parsed.reason)
            self.metrics.record("refused", 0.0)
            return 200, sandbox_error(parsed.reason), None
        if self.draining:
            return self._reject(503, "the server is shutting down: the run was not started")
        if self._queued + self._running >= self._concurrency + self.config.max_queue:
            return self._reject(429, f"queue full ({self._running} running, {self._queued} queued): retry later",
                                {"Retry-After": str(self.config.retry_after_s)})
        return await self._admit(parsed)

    def _reject(self, code: int, reason: str, extra: dict[str, str] | None = None) -> tuple[int, dict[str, Any], dict[str, str] | None]:
        self.metrics.reject(code)
        return code, {"detail": reason}, extra

    # -- runs -----------------------------------------------------------------------------------
    async def _admit(self, request: RunRequest) -> tuple[int, dict[str, Any], dict[str, str] | None]:
        assert self._slots is not None and self._drain is not None
        if not self._slots.locked():  # a free slot: no waiting machinery
            await self._slots.acquire()
            return await self._start(request)
        self._queued += 1
        try:
            acquire = asyncio.ensure_future(self._slots.acquire())
            drain = asyncio.ensure_future(self._drain.wait())
            await asyncio.wait((acquire, drain), return_when=asyncio.FIRST_COMPLETED)
            drain.cancel()
            got = acquire.done() and not acquire.cancelled()
            if not got or self.draining:
                if got:
                    self._slots.release()
                acquire.cancel()
                return self._reject(503, "the server shut down before the run started: it was not run (safe to retry)")
        finally:
            self._queued -= 1
        return await self._start(request)

    async def _start(self, request: RunRequest) -> tuple[int, dict[str, Any], dict[str, str] | None]:
        """Run ``request`` in the slot the caller holds (released when the run ends)."""
        assert self._slots is not None
        self._running += 1
        run = asyncio.ensure_future(self._execute(request))
        self._runs.add(run)
        try:
            return 200, await asyncio.shield(run), None
        finally:
            if run.done():
                self._runs.discard(run)
                self._running -= 1
                self._slots.release()
            else:  # this handler was cancelled: the run goes on and frees its slot when it ends
                run.add_done_callback(self._run_ended)

    def _run_ended(self, run: asyncio.Task[dict[str, Any]]) -> None:
        assert self._slots is not None
        self._runs.discard(run)
        self._running -= 1
        self._slots.release()

    async def _execute(self, request: RunRequest) -> dict[str, Any]:
        nonce = secrets.token_hex(16)
        code = build_code(request, self.limits, nonce)
        start = time.monotonic()
        try:
            if request.timeout_s < self.limits.max_timeout_s:
                try:
                    result = await asyncio.wait_for(self.sandbox.run(code), request.timeout_s)
                except (TimeoutError, asyncio.TimeoutError):
                    result = ExecutionResult(status="timeout", stdout="", stderr="", duration_s=time.monotonic() - start,
                                             detail=f"wall-clock limit {request.timeout_s:g} s (run_timeout)")
            else:
                result = await self.sandbox.run(code)
        except asyncio.CancelledError:
            self.metrics.record("cancelled", time.monotonic() - start)
            return sandbox_error("the server shut down before the run finished: it was stopped, not completed")
        self.metrics.record(result.status, time.monotonic() - start)
        key = (request.timeout_s, request.memory_bytes or self.limits.max_memory_bytes)
        effective = self._effective.get(key)
        if effective is None:  # the config the text names: this run's timeout and memory
            effective = dataclasses.replace(self.sandbox.config, timeout_s=key[0], memory_limit_bytes=key[1])
            if len(self._effective) < 256:
                self._effective[key] = effective
        body = response_for(result, request, nonce, "")
        shown = dataclasses.replace(result, stdout=body["run_result"]["stdout"])
        body["retool"]["text"] = format_result(shown, effective)
        return body


__all__ = ["SandboxService", "ServiceConfig", "is_loopback"]
