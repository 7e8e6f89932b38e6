"""A small pooled HTTP/1.1 client on asyncio streams (``RemoteSandbox``'s transport).

Why not httpx: at 32-128 requests in flight its per-request cost (about 6 ms of CPU here) was
larger than a sandboxed execution itself; this client costs about 0.2 ms.

Contract: ``HTTPPool(url, max_connections=256, connect_timeout_s=5.0, idle_s=20.0)``;
``await request(method, path, body=b"", headers=None, timeout_s=60.0) -> Response`` (``status``,
``headers`` lower-cased, ``body``), reusing keep-alive connections (at most ``max_connections``
open; a connection idle longer than ``idle_s`` or already closed by the server is dropped, never
reused). It raises ``NotSent`` when the request could not be sent at all (connection refused or
timed out; safe to retry) and ``SentFailure`` for anything after the request was written (reset,
EOF, a malformed response, ``timeout_s`` passed: the server may have acted on it). Responses are
read by Content-Length, chunked encoding or until close; a response over ``max_response_bytes``
is a ``SentFailure``. ``await close()`` closes every connection.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_RESPONSE_BYTES = 64 * 2**20


class NotSent(ConnectionError):
    """The request never left: no connection could be made."""


class SentFailure(ConnectionError):
    """The request was written, then the exchange failed: it may have been acted on."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter, float]


class HTTPPool:
    def __init__(self, url: str, *, max_connections: int = 256, connect_timeout_s: float = 5.0, idle_s: float = 20.0,
                 max_response_bytes: int = MAX_RESPONSE_BYTES) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url must be http(s)://host[:port][/prefix], got {url!r}")
        self.host, self.tls = parts.hostname, parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.prefix = parts.path.rstrip("/")
        self.connect_timeout_s, self.idle_s, self.max_response_bytes = connect_timeout_s, idle_s, max_response_bytes
        self._idle: list[_Conn] = []
        self._gate = asyncio.Semaphore(max_connections)
        self._open: set[asyncio.StreamWriter] = set()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self._idle:
            reader, writer, since = self._idle.pop()
            if time.monotonic() - since < self.idle_s and not reader.at_eof() and not writer.is_closing():
                return reader, writer
            self._drop(writer)
        context = ssl.create_default_context() if self.tls else None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, ssl=context, limit=2**16), self.connect_timeout_s)
        except (OSError, asyncio.TimeoutError, TimeoutError) as exc:
            raise NotSent(f"cannot connect to {self.host}:{self.port}: {type(exc).__name__}: {exc}") from exc
        self._open.add(writer)
        return reader, writer

    def _drop(self, writer: asyncio.StreamWriter) -> None:
        self._open.discard(writer)
        writer.close()

    async def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
                      timeout_s: float = 60.0) -> Response:
        async with self._gate:
            reader, writer = await self._connect()
            head = [f"{method} {self.prefix}{path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                    f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
            try:
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
                response, keep = await asyncio.wait_for(self._read(reader), timeout_s)
            except BaseException as exc:
                self._drop(writer)
                if isinstance(exc, (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
                                    asyncio.TimeoutError, TimeoutError)):
                    raise SentFailure(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
                raise
            if keep:
                self._idle.append((reader, writer, time.monotonic()))
            else:
                self._drop(writer)
            return response

    async def _read(self, reader: asyncio.StreamReader) -> tuple[Response, bool]:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        version, _, rest = head[0].partition(" ")
        if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
            raise ValueError(f"bad status line {head[0][:80]!r}")
        status = int(rest[:3])
        headers = {}
        for line in head[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        keep = headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await self._chunked(reader)
        elif "content-length" in headers:
            length = int(headers["content-length"])
            if not 0 <= length <= self.max_response_bytes:
                raise ValueError(f"response of {length} bytes")
            body = await reader.readexactly(length)
        else:
            body, keep = await reader.read(self.max_response_bytes + 1), False
        if len(body) > self.max_response_bytes:
            raise ValueError(f"response over {self.max_response_bytes} bytes")
        return Response(status=status, headers=headers, body=body), keep

    async def _chunked(self, reader: asyncio.StreamReader) -> bytes:
        out = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip() or b"x", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return bytes(out)
            if len(out) + size > self.max_response_bytes:
                raise ValueError(f"response over {self.max_response_bytes} bytes")
            out += await reader.readexactly(size)
            await reader.readexactly(2)

    async def close(self) -> None:
        self._idle.clear()
        for writer in tuple(self._open):
            self._drop(writer)


__all__ = ["HTTPPool", "NotSent", "Response", "SentFailure"]
