"""retool.rollout.engines: SamplingParams/Generation contracts, HFEngine on the tiny model, SGLangEngine errors."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from retool.rollout.engines import EngineError, Generation, HFEngine, SamplingParams, SGLangEngine, generation_from_sglang
from retool.embedded.models import tiny_model


@pytest.fixture(scope="module")
def engine() -> HFEngine:
    model, tokenizer = tiny_model()
    return HFEngine(model, tokenizer)


@pytest.fixture(scope="module")
def prompt(engine: HFEngine) -> list[int]:
    return engine.tokenizer("The answer is", add_special_tokens=False)["input_ids"]


def test_sampling_params_request_keeps_stops_and_special_tokens() -> None:
    body = SamplingParams(stop=("</tool_call>",), stop_token_ids=(7,), seed=3, max_new_tokens=9).to_sglang()
    assert body["no_stop_trim"] is True and body["skip_special_tokens"] is False
    assert body["stop"] == ["</tool_call>"] and body["stop_token_ids"] == [7]
    assert body["sampling_seed"] == 3 and body["max_new_tokens"] == 9


@pytest.mark.parametrize("bad", [dict(temperature=-0.1), dict(top_p=0.0), dict(top_k=0), dict(max_new_tokens=-1)])
def test_sampling_params_reject_out_of_range_values(bad: dict) -> None:
    with pytest.raises(ValueError):
        SamplingParams(**bad)


def test_generation_rejects_ids_and_logprobs_of_different_length() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        Generation(output_ids=(1, 2), output_logprobs=(-0.1,), finish_reason="stop")


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


def test_stop_string_ends_generation_and_is_kept(engine: HFEngine, prompt: list[int]) -> None:
    free = engine.generate_sync(prompt, SamplingParams(temperature=0, max_new_tokens=12, ignore_eos=True))
    k = 6
    target = engine.tokenizer.decode(list(free.output_ids[: k + 1]), skip_special_tokens=False)
    prefix = engine.tokenizer.decode(list(free.output_ids[:k]), skip_special_tokens=False)
    stop = target[len(prefix) - 1 :] if len(target) > len(prefix) else target[-1:]
    first = next(i for i in range(1, 13) if stop in engine.tokenizer.decode(list(free.output_ids[:i]), skip_special_tokens=False))
    gen = engine.generate_sync(prompt, SamplingParams(temperature=0, max_new_tokens=12, ignore_eos=True, stop=(stop,)))
    assert gen.finish_reason == "stop" and gen.matched == stop
    assert gen.output_ids == free.output_ids[:first]
    assert gen.text.endswith(stop) or stop in gen.text[-len(stop) - 8 :]


def test_stop_token_id_ends_generation_and_is_kept(engine: HFEngine, prompt: list[int]) -> None:
    free = engine.generate_sync(prompt, SamplingParams(temperature=0, max_new_tokens=12, ignore_eos=True))
    stop_id = free.output_ids[4]
    first = free.output_ids.index(stop_id)
    gen = engine.generate_sync(prompt, SamplingParams(temperature=0, max_new_tokens=12, ignore_eos=True, stop_token_ids=(stop_id,)))
    assert gen.finish_reason == "stop" and gen.matched == stop_id
    assert gen.output_ids == free.output_ids[: first + 1]


def test_eos_ends_generation_unless_ignored(engine: HFEngine, prompt: list[int]) -> None:
    eos = engine.tokenizer.eos_token_id
    for seed in range(40):
        gen = engine.generate_sync(prompt, SamplingParams(max_new_tokens=40, seed=seed))
        assert eos not in gen.output_ids[:-1]
        if gen.finish_reason == "stop":
            assert gen.output_ids[-1] == eos and gen.matched == eos
            ignored = engine.generate_sync(prompt, SamplingParams(max_new_tokens=40, seed=seed, ignore_eos=True))
            assert ignored.finish_reason == "length" and len(ignored.output_ids) == 40
            return
    pytest.fail("no seed out of 40 sampled EOS within 40 tokens from the tiny model")


def test_max_new_tokens_gives_length(engine: HFEngine, prompt: list[int]) -> None:
    gen = engine.generate_sync(prompt, SamplingParams(max_new_tokens=7, ignore_eos=True, seed=1))
    assert gen.finish_reason == "length" and len(gen.output_ids) == len(gen.output_logprobs) == 7


@pytest.mark.parametrize("temperature", [0.0, 0.7, 1.0, 1.5])
def test_logprobs_are_the_full_forward_log_softmax_at_temperature(engine: HFEngine, prompt: list[int], temperature: float) -> None:
    params = SamplingParams(temperature=temperature, top_k=20, top_p=0.9, max_new_tokens=10, ignore_eos=True, seed=5)
    gen = engine.generate_sync(prompt, params)
    ids = torch.tensor([prompt + list(gen.output_ids)])  # (1, T)
    with torch.inference_mode():
        logits = engine.model(input_ids=ids).logits[0, len(prompt) - 1 : -1].float()  # (N, V)
    scale = temperature if temperature > 0 else 1.0
    expected = torch.log_softmax(logits / scale, dim=-1).gather(1, torch.tensor(gen.output_ids)[:, None])[:, 0]  # (N,)
    assert torch.allclose(torch.tensor(gen.output_logprobs), expected, atol=1e-4)


def test_same_seed_same_generation_and_other_seeds_differ(engine: HFEngine, prompt: list[int]) -> None:
    runs = [engine.generate_sync(prompt, SamplingParams(max_new_tokens=16, ignore_eos=True, seed=s)) for s in (11, 11, 12, 13)]
    assert runs[0] == runs[1]
    assert len({r.output_ids for r in runs}) == 3


def test_top_k_one_is_greedy(engine: HFEngine, prompt: list[int]) -> None:
    greedy = engine.generate_sync(prompt, SamplingParams(temperature=0, max_new_tokens=12, ignore_eos=True))
    top1 = engine.generate_sync(prompt, SamplingParams(temperature=1.0, top_k=1, max_new_tokens=12, ignore_eos=True, seed=3))
    assert top1.output_ids == greedy.output_ids


@pytest.mark.asyncio
async def test_generation_runs_off_the_event_loop(engine: HFEngine, prompt: list[int]) -> None:
    in_flight = True
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while in_flight:
            await asyncio.sleep(0.001)
            ticks += 1

    beat = asyncio.create_task(heartbeat())
    await asyncio.sleep(0)
    gens = await asyncio.gather(*(engine.generate(prompt, SamplingParams(max_new_tokens=48, ignore_eos=True, seed=s)) for s in range(3)))
    in_flight = False
    await beat
    assert ticks >= 3 and all(len(g.output_ids) == 48 for g in gens)


# ------------------------------------------------------------------------------ SGLangEngine errors


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


def test_forced_tokens_are_scored_by_the_model_and_obey_stops(engine: HFEngine, prompt: list[int]) -> None:
    tok = engine.tokenizer
    forced = tok("x = 1\n</tool_call> never reached", add_special_tokens=False)["input_ids"]
    gen = engine.generate_sync(prompt, SamplingParams(temperature=0.8, stop=("</tool_call>",)), forced_ids=forced)
    cut = tok("x = 1\n</tool_call>", add_special_tokens=False)["input_ids"]
    assert gen.output_ids == tuple(cut) and gen.finish_reason == "stop" and gen.matched == "</tool_call>"
    with torch.inference_mode():
        logits = engine.model(input_ids=torch.tensor([prompt + cut])).logits[0, len(prompt) - 1 : -1]  # (N, V)
    expected = torch.log_softmax(logits / 0.8, dim=-1).gather(1, torch.tensor(cut)[:, None])[:, 0]  # (N,)
    assert torch.allclose(torch.tensor(gen.output_logprobs), expected, atol=1e-4)
