"""The pooled HTTP/1.1 client against real loopback servers: reuse, framings, and what was sent."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest

from retool.sandbox.service.client import HTTPPool, NotSent, SentFailure

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def with_server(handler: Handler, body: Callable[[str, list[int]], Awaitable[object]]) -> object:
    connections: list[int] = []

    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(counted, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await body(f"http://127.0.0.1:{port}", connections)
    finally:
        server.close()


def answering(*responses: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for response in responses:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int([ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length")][0].split(b":")[1])
            await reader.readexactly(length)
            writer.write(response)
            await writer.drain()
    return handler


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_keep_alive_connections_are_reused() -> None:
    async def body(url: str, connections: list[int]) -> object:
        pool = HTTPPool(url)
        try:
            out = [(await pool.request("POST", "/x", b"abc")).body for _ in range(3)]
        finally:
            await pool.close()
        return out, len(connections)

    assert asyncio.run(with_server(answering(OK, OK, OK), body)) == ([b"ok"] * 3, 1)


def test_chunked_and_read_until_close_bodies_are_read() -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n"
    until_close = b"HTTP/1.0 200 OK\r\n\r\nall of it"

    async def body(url: str, connections: list[int]) -> object:
        pool = HTTPPool(url)
        try:
            return (await pool.request("GET", "/")).body
        finally:
            await pool.close()

    assert asyncio.run(with_server(answering(chunked), body)) == b"abcde"
    assert asyncio.run(with_server(answering(until_close), body)) == b"all of it"


def test_a_refused_connection_is_not_sent() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def go() -> None:
        pool = HTTPPool(f"http://127.0.0.1:{port}")
        await pool.request("GET", "/")

    with pytest.raises(NotSent):
        asyncio.run(go())


@pytest.mark.parametrize("reply", [b"", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", b"garbage\r\n\r\n"])
def test_anything_wrong_after_sending_is_a_sent_failure(reply: bytes) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()

    async def body(url: str, connections: list[int]) -> object:
        pool = HTTPPool(url)
        try:
            return await pool.request("POST", "/", b"")
        finally:
            await pool.close()

    with pytest.raises(SentFailure):
        asyncio.run(with_server(handler, body))


def test_a_slow_answer_past_the_timeout_is_a_sent_failure() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(2)

    async def body(url: str, connections: list[int]) -> object:
        pool = HTTPPool(url)
        try:
            return await pool.request("GET", "/", timeout_s=0.2)
        finally:
            await pool.close()

    with pytest.raises(SentFailure, match="Timeout"):
        asyncio.run(with_server(handler, body))


def test_a_connection_the_server_closed_is_not_reused() -> None:
    async def one_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await answering(OK)(reader, writer)  # answers, then the handler returns and the socket closes

    async def body(url: str, connections: list[int]) -> object:
        pool = HTTPPool(url)
        try:
            first = (await pool.request("GET", "/")).body
            await asyncio.sleep(0.1)  # the server's FIN arrives
            second = (await pool.request("GET", "/")).body
        finally:
            await pool.close()
        return first, second, len(connections)

    assert asyncio.run(with_server(one_then_close, body)) == (b"ok", b"ok", 2)


def test_a_path_prefix_in_the_url_is_kept() -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append((await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")[0])
        writer.write(OK)
        await writer.drain()

    async def body(url: str, connections: list[int]) -> object:
        pool = HTTPPool(url + "/t/secret/")
        try:
            return await pool.request("GET", "/health")
        finally:
            await pool.close()

    asyncio.run(with_server(handler, body))
    assert seen == [b"GET /t/secret/health HTTP/1.1"]


def test_a_non_http_url_is_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        HTTPPool("ftp://example.org")
