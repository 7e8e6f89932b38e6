"""The service's HTTP/1.1 reader on a real ``asyncio.StreamReader``: total, capped, keep-alive aware."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retool.sandbox.service.http import MAX_HEADER_BYTES, HTTPError, Request, read_request, response_bytes


def read(raw: bytes, *, max_body: int = 1000, timeout_s: float = 1.0, eof: bool = True) -> Request | None:
    async def go() -> Request | None:
        reader = asyncio.StreamReader(limit=MAX_HEADER_BYTES)
        reader.feed_data(raw)
        if eof:
            reader.feed_eof()
        return await read_request(reader, max_body, timeout_s)

    return asyncio.run(go())


def code_of(raw: bytes, **kwargs: object) -> int:
    with pytest.raises(HTTPError) as err:
        read(raw, **kwargs)  # type: ignore[arg-type]
    return err.value.code


def test_a_post_with_content_length_is_read_whole() -> None:
    request = read(b"POST /run_code?x=1 HTTP/1.1\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello")
    assert request is not None
    assert (request.method, request.path, request.query, request.body) == ("POST", "/run_code", "x=1", b"hello")
    assert request.headers["x-a"] == "b" and request.keep_alive


def test_clean_eof_between_requests_is_none() -> None:
    assert read(b"") is None


def test_http_1_0_closes_unless_asked_and_1_1_keeps_alive_unless_asked() -> None:
    assert not read(b"GET /health HTTP/1.0\r\n\r\n").keep_alive  # type: ignore[union-attr]
    assert read(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive  # type: ignore[union-attr]
    assert not read(b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive  # type: ignore[union-attr]


@pytest.mark.parametrize(("raw", "code"), [
    (b"NONSENSE\r\n\r\n", 400),
    (b"GET health HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/2\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nno colon\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\n\r\n", 411),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411),
    (b"POST / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n", 413),
    (b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort", 400),
    (b"GET / HTTP/1.1\r\nHost: x", 400),
])
def test_malformed_requests_raise_http_errors_with_their_code(raw: bytes, code: int) -> None:
    assert code_of(raw) == code


def test_a_head_over_the_limit_is_431() -> None:
    assert code_of(b"GET /" + b"a" * (MAX_HEADER_BYTES + 10) + b" HTTP/1.1\r\n\r\n") == 431


def test_a_client_that_stops_sending_is_408() -> None:
    assert code_of(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", eof=False, timeout_s=0.2) == 408
    assert code_of(b"GET / HTTP/1.1\r\n", eof=False, timeout_s=0.2) == 408


@given(st.binary(max_size=400))
def test_reading_never_raises_anything_but_http_error(raw: bytes) -> None:
    try:
        read(raw, timeout_s=0.05)
    except HTTPError:
        pass


def test_responses_carry_length_type_and_connection() -> None:
    raw = response_bytes(429, {"detail": "full"}, keep_alive=False, extra={"Retry-After": "1"})
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 429 Too Many Requests")
    assert b"Content-Length: %d" % len(payload) in head and b"Connection: close" in head
    assert b"Retry-After: 1" in head and payload == b'{"detail": "full"}'
