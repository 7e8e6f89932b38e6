"""retool.rollout.engines.sglang: reading SGLang's /generate body, and SGLangEngine's retries and errors."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from retool.rollout.engines import EngineError, SamplingParams, SGLangEngine, generation_from_sglang


def test_sglang_body_is_read_into_ids_logprobs_and_finish_reason() -> None:
    body = {
        "text": "ab</tool_call>",
        "output_ids": [5, 6, 9],
        "meta_info": {
            "finish_reason": {"type": "stop", "matched": "</tool_call>"},
            "output_token_logprobs": [[-0.5, 5, None], [-1.25, 6, None], [-0.0, 9, None]],
        },
    }
    gen = generation_from_sglang(body)
    assert gen.output_ids == (5, 6, 9) and gen.output_logprobs == (-0.5, -1.25, -0.0)
    assert gen.finish_reason == "stop" and gen.matched == "</tool_call>" and gen.text == "ab</tool_call>"


@pytest.mark.parametrize(
    "meta",
    [
        {"finish_reason": {"type": "stop", "matched": 2}},  # no logprob array
        {"finish_reason": {"type": "stop", "matched": 2}, "output_token_logprobs": None},
        {"finish_reason": {"type": "length", "length": 1}, "output_token_logprobs": [[None, 5, None]]},
        {"finish_reason": {"type": "abort", "message": "client disconnected"}, "output_token_logprobs": []},
        {"finish_reason": None, "output_token_logprobs": []},
    ],
)
def test_unusable_sglang_body_is_an_abort_not_a_crash(meta: dict) -> None:
    gen = generation_from_sglang({"text": "x", "meta_info": meta})
    assert gen.finish_reason == "abort" and gen.output_ids == () and gen.abort_reason


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.asyncio
async def test_down_server_is_a_clear_error_naming_the_url() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    client = SGLangEngine(url, max_retries=2, backoff_s=0.01)
    with pytest.raises(EngineError, match=f"{url}/generate.*3 attempts"):
        await client.generate([1, 2, 3], SamplingParams(max_new_tokens=2))
    await client.aclose()


class _Scripted(BaseHTTPRequestHandler):
    """Answers from a list of (status, body) pairs, one per request; records the request bodies."""

    protocol_version = "HTTP/1.1"
    replies: list[tuple[int, dict]] = []
    seen: list[dict] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        self.seen.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        status, body = self.replies.pop(0)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def scripted_server():
    handler = type("Handler", (_Scripted,), {"replies": [], "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


_OK = {"text": "x", "meta_info": {"finish_reason": {"type": "length", "length": 1}, "output_token_logprobs": [[-0.25, 42, None]]}}


@pytest.mark.asyncio
async def test_server_errors_are_retried_with_backoff_then_succeed(scripted_server) -> None:
    handler, url = scripted_server
    handler.replies.extend([(503, {}), (500, {}), (200, _OK)])
    client = SGLangEngine(url, max_retries=2, backoff_s=0.01)
    gen = await client.generate([1, 2], SamplingParams(max_new_tokens=1, stop=("</tool_call>",)))
    await client.aclose()
    assert gen.output_ids == (42,) and gen.finish_reason == "length" and len(handler.seen) == 3
    request = handler.seen[-1]
    assert request["input_ids"] == [1, 2] and request["return_logprob"] is True
    assert request["sampling_params"]["stop"] == ["</tool_call>"] and request["sampling_params"]["no_stop_trim"] is True


@pytest.mark.asyncio
async def test_retries_are_bounded(scripted_server) -> None:
    handler, url = scripted_server
    handler.replies.extend([(503, {})] * 3)
    client = SGLangEngine(url, max_retries=2, backoff_s=0.0)
    with pytest.raises(EngineError, match="HTTP 503"):
        await client.generate([1], SamplingParams(max_new_tokens=1))
    await client.aclose()
    assert len(handler.seen) == 3


@pytest.mark.asyncio
async def test_bad_request_is_not_retried(scripted_server) -> None:
    handler, url = scripted_server
    handler.replies.extend([(400, {"error": {"message": "bad input_ids"}}), (200, _OK)])
    client = SGLangEngine(url, max_retries=3, backoff_s=0.0)
    with pytest.raises(EngineError, match="HTTP 400.*bad input_ids"):
        await client.generate([1], SamplingParams(max_new_tokens=1))
    await client.aclose()
    assert len(handler.seen) == 1


@pytest.mark.asyncio
async def test_missing_logprobs_over_http_is_an_abort(scripted_server) -> None:
    handler, url = scripted_server
    handler.replies.append((200, {"text": "x", "meta_info": {"finish_reason": {"type": "stop", "matched": 2}}}))
    client = SGLangEngine(url, max_retries=0)
    gen = await client.generate([1], SamplingParams(max_new_tokens=1))
    await client.aclose()
    assert gen.finish_reason == "abort" and "output_token_logprobs" in gen.abort_reason


@pytest.mark.asyncio
async def test_a_rate_limit_429_is_retried_then_succeeds(scripted_server) -> None:
    """Issue 13 point 1: miles's HTTP helper (miles/utils/http_utils.py ``_post``) retries every error;
    we retry the transient 4xx (408, 429) with the 5xx, never a 400."""
    handler, url = scripted_server
    handler.replies.extend([(429, {"error": {"message": "too many requests"}}), (408, {}), (200, _OK)])
    client = SGLangEngine(url, max_retries=2, backoff_s=0.0)
    gen = await client.generate([1], SamplingParams(max_new_tokens=1))
    await client.aclose()
    assert gen.output_ids == (42,) and len(handler.seen) == 3


@pytest.mark.asyncio
async def test_bound_extras_reach_the_request(scripted_server) -> None:
    handler, url = scripted_server
    handler.replies.append((200, _OK))
    client = SGLangEngine(url, max_retries=0)
    bound = client.bind(payload={"lora_path": "miles_lora"})
    await bound.generate([1], SamplingParams(max_new_tokens=1, custom_params={"return_top_p_token_ids": True}))
    await client.aclose()
    request = handler.seen[-1]
    assert request["lora_path"] == "miles_lora"
    assert request["sampling_params"]["custom_params"] == {"return_top_p_token_ids": True}


def test_meta_info_weight_version_and_cache_counts_are_read() -> None:
    body = {"text": "a", "meta_info": {"finish_reason": {"type": "stop", "matched": 2}, "weight_version": 3,
                                       "prompt_tokens": 9, "cached_tokens": 4, "output_token_logprobs": [[-0.1, 2, None]]}}
    gen = generation_from_sglang(body)
    assert (gen.weight_version, gen.prompt_tokens, gen.cached_tokens) == ("3", 9, 4)


def test_an_abort_keeps_the_weight_version() -> None:
    gen = generation_from_sglang({"meta_info": {"finish_reason": {"type": "abort"}, "weight_version": "5"}})
    assert gen.finish_reason == "abort" and gen.weight_version == "5"


@pytest.mark.parametrize("encode", [list, lambda xs: __import__("base64").b64encode(
    __import__("struct").pack(f"<{len(xs)}i", *xs)).decode()])
def test_top_p_token_ids_are_read_from_lists_or_base64_int32(encode) -> None:
    meta = {"finish_reason": {"type": "length", "length": 2}, "output_token_logprobs": [[-0.1, 5, None], [-0.2, 6, None]],
            "top_p_token_ids": encode([5, 9, 6]), "top_p_token_offsets": encode([0, 2, 3])}
    gen = generation_from_sglang({"text": "", "meta_info": meta})
    assert gen.top_p_token_ids == (5, 9, 6) and gen.top_p_token_offsets == (0, 2, 3)


def test_top_p_offsets_that_do_not_span_the_tokens_are_an_abort() -> None:
    meta = {"finish_reason": {"type": "length", "length": 1}, "output_token_logprobs": [[-0.1, 5, None]],
            "top_p_token_ids": [5, 9], "top_p_token_offsets": [0, 1, 2]}
    gen = generation_from_sglang({"text": "", "meta_info": meta})
    assert gen.finish_reason == "abort" and "top_p_token_offsets" in gen.abort_reason
