"""A small, total HTTP/1.1 reader and writer for the service (stdlib asyncio streams).

Contract: ``await read_request(reader, max_body_bytes, timeout_s, on_continue)`` returns a
``Request``, ``None`` on a clean EOF between requests, or raises ``HTTPError(code, reason)`` for
anything malformed (bad request line, header section over the reader's limit, no or bad
Content-Length on a body, chunked bodies (411), a body over ``max_body_bytes`` (413, refused from
the header before any of it is read), a client too slow (408)). ``on_continue`` is awaited before
the body when the client sent ``Expect: 100-continue``. ``response_bytes(code, body, ...)`` builds
one response; ``await answer_and_close(reader, writer, data)`` sends a final one, half-closes and
discards what the client still sends for up to 1 s (so a refused upload reads its 413, not a
reset). Header names are lower-cased; a header given twice keeps its last value.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

MAX_HEADER_BYTES = 16 * 1024
REASONS = {100: "Continue", 200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
           405: "Method Not Allowed", 408: "Request Timeout", 411: "Length Required", 413: "Payload Too Large",
           429: "Too Many Requests", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
           503: "Service Unavailable"}


class HTTPError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    version: str
    headers: dict[str, str]
    body: bytes

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return connection == "keep-alive"
        return connection != "close"


async def read_request(reader: asyncio.StreamReader, max_body_bytes: int, timeout_s: float,
                       on_continue: Callable[[], Awaitable[None]] | None = None) -> Request | None:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout_s)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise HTTPError(400, "connection closed inside the request head") from None
    except asyncio.LimitOverrunError:
        raise HTTPError(431, f"request head over {MAX_HEADER_BYTES} bytes") from None
    except (TimeoutError, asyncio.TimeoutError):
        raise HTTPError(408, f"no complete request head within {timeout_s:g} s") from None
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # latin-1 decodes every byte; kept for totality
        raise HTTPError(400, "request head is not text") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.1", "HTTP/1.0") or not parts[1].startswith("/"):
        raise HTTPError(400, f"bad request line {lines[0][:100]!r}")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or " " in name:
            raise HTTPError(400, f"bad header line {line[:100]!r}")
        headers[name.lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise HTTPError(411, "chunked bodies are not accepted: send Content-Length")
    raw_length = headers.get("content-length", "0" if method in ("GET", "HEAD") else None)
    if raw_length is None:
        raise HTTPError(411, f"{method} needs a Content-Length")
    if not raw_length.isdigit() or len(raw_length) > 18:
        raise HTTPError(400, f"bad Content-Length {raw_length[:30]!r}")
    length = int(raw_length)
    if length > max_body_bytes:
        raise HTTPError(413, f"body of {length} bytes is over the {max_body_bytes}-byte limit")
    if length and on_continue is not None and headers.get("expect", "").lower() == "100-continue":
        await on_continue()
    try:
        body = await asyncio.wait_for(reader.readexactly(length), timeout_s) if length else b""
    except asyncio.IncompleteReadError:
        raise HTTPError(400, "connection closed inside the body") from None
    except (TimeoutError, asyncio.TimeoutError):
        raise HTTPError(408, f"body not received within {timeout_s:g} s") from None
    path, _, query = target.partition("?")
    return Request(method=method, path=path, query=query, version=version, headers=headers, body=body)


def response_bytes(code: int, body: bytes | dict[str, Any] | str, *, keep_alive: bool = True,
                   content_type: str | None = None, extra: dict[str, str] | None = None) -> bytes:
    if isinstance(body, dict):
        data, kind = json.dumps(body).encode(), "application/json"
    elif isinstance(body, str):
        data, kind = body.encode(), "text/plain; charset=utf-8"
    else:
        data, kind = body, "application/octet-stream"
    head = [f"HTTP/1.1 {code} {REASONS.get(code, 'Status')}", f"Content-Type: {content_type or kind}",
            f"Content-Length: {len(data)}", f"Connection: {'keep-alive' if keep_alive else 'close'}"]
    head += [f"{k}: {v}" for k, v in (extra or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data


async def answer_and_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> None:
    """Send a final answer, half-close and discard what the client still sends for up to 1 s
    (closing with unread bytes would reset the connection and lose the answer)."""
    try:
        writer.write(data)
        await writer.drain()
        writer.write_eof()
        async with asyncio.timeout(1.0):
            while await reader.read(65536):
                pass
    except (OSError, TimeoutError, asyncio.LimitOverrunError, ValueError):
        pass
    finally:
        writer.close()


__all__ = ["HTTPError", "MAX_HEADER_BYTES", "Request", "answer_and_close", "read_request", "response_bytes"]
