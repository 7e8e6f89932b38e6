"""retool.rollout.engines.server over real HTTP on loopback: SGLang's /generate schema, and SGLangEngine against it."""

from __future__ import annotations

import argparse
import asyncio

import pytest

from retool.cli import serve as server_cli
from retool.rollout.engines import EngineError, HFEngine, SamplingParams, SGLangEngine, http_client_module
from retool.embedded.models import tiny_model
from retool.rollout.engines.server import GenerateServer

httpx = http_client_module()


@pytest.fixture(scope="module")
def engine() -> HFEngine:
    model, tokenizer = tiny_model()
    return HFEngine(model, tokenizer)


@pytest.fixture(scope="module")
def server(engine: HFEngine):
    with GenerateServer(engine, model_name="tiny") as srv:
        yield srv


@pytest.fixture(scope="module")
def prompt(engine: HFEngine) -> list[int]:
    return engine.tokenizer("Compute 6 times 7.", add_special_tokens=False)["input_ids"]


def test_health_and_model_info(server: GenerateServer) -> None:
    assert httpx.get(f"{server.url}/health").status_code == 200
    assert httpx.get(f"{server.url}/get_model_info").json()["model_path"] == "tiny"


def test_generate_answers_in_sglang_schema(server: GenerateServer, prompt: list[int]) -> None:
    body = {"input_ids": prompt, "sampling_params": {"max_new_tokens": 5, "ignore_eos": True, "sampling_seed": 1}, "return_logprob": True, "rid": "r1"}
    out = httpx.post(f"{server.url}/generate", json=body).json()
    meta = out["meta_info"]
    assert meta["id"] == "r1" and meta["finish_reason"] == {"type": "length", "length": 5}
    assert meta["prompt_tokens"] == len(prompt) and meta["completion_tokens"] == 5
    assert [e[1] for e in meta["output_token_logprobs"]] == out["output_ids"]
    assert all(isinstance(e[0], float) and e[0] <= 0 for e in meta["output_token_logprobs"])


def test_logprobs_are_only_sent_when_asked(server: GenerateServer, prompt: list[int]) -> None:
    out = httpx.post(f"{server.url}/generate", json={"input_ids": prompt, "sampling_params": {"max_new_tokens": 2}}).json()
    assert "output_token_logprobs" not in out["meta_info"]


def test_text_input_is_tokenized_like_input_ids(server: GenerateServer, engine: HFEngine, prompt: list[int]) -> None:
    params = {"max_new_tokens": 6, "temperature": 0}
    by_text = httpx.post(f"{server.url}/generate", json={"text": "Compute 6 times 7.", "sampling_params": params}).json()
    by_ids = httpx.post(f"{server.url}/generate", json={"input_ids": prompt, "sampling_params": params}).json()
    assert by_text["output_ids"] == by_ids["output_ids"]


def test_stop_string_is_trimmed_from_text_unless_no_stop_trim(server: GenerateServer, engine: HFEngine, prompt: list[int]) -> None:
    free = engine.generate_sync(prompt, SamplingParams(temperature=0, max_new_tokens=8, ignore_eos=True))
    stop = free.text[len(free.text) // 2 :][:3] or free.text
    params = {"max_new_tokens": 8, "temperature": 0, "ignore_eos": True, "stop": stop, "skip_special_tokens": False}
    trimmed = httpx.post(f"{server.url}/generate", json={"input_ids": prompt, "sampling_params": params}).json()
    kept = httpx.post(f"{server.url}/generate", json={"input_ids": prompt, "sampling_params": {**params, "no_stop_trim": True}}).json()
    assert kept["meta_info"]["finish_reason"] == {"type": "stop", "matched": stop}
    assert kept["output_ids"] == trimmed["output_ids"]
    assert stop in kept["text"] and trimmed["text"] == kept["text"][: kept["text"].find(stop)]


@pytest.mark.parametrize(
    "body",
    [
        {"sampling_params": {}},
        {"input_ids": [[1, 2]], "sampling_params": {}},
        {"input_ids": [1, 10**9]},
        {"input_ids": [1], "sampling_params": {"temperature": -1}},
        {"input_ids": [1], "sampling_params": {"stop": [3]}},
    ],
)
def test_malformed_request_is_http_400(server: GenerateServer, body: dict) -> None:
    response = httpx.post(f"{server.url}/generate", json=body)
    assert response.status_code == 400 and response.json()["error"]["message"]


@pytest.mark.asyncio
async def test_sglang_engine_over_http_equals_the_local_engine(server: GenerateServer, engine: HFEngine, prompt: list[int]) -> None:
    client = SGLangEngine(server.url)
    for params in (
        SamplingParams(temperature=1.0, top_p=0.9, top_k=50, max_new_tokens=24, seed=7),
        SamplingParams(temperature=0, max_new_tokens=10, ignore_eos=True, stop=("</tool_call>",)),
    ):
        remote = await client.generate(prompt, params)
        local = engine.generate_sync(prompt, params)
        assert remote.output_ids == local.output_ids and remote.finish_reason == local.finish_reason
        assert remote.output_logprobs == pytest.approx(local.output_logprobs, abs=1e-6)
        assert remote.text == local.text
    await client.aclose()


@pytest.mark.asyncio
async def test_concurrent_requests_are_all_answered(server: GenerateServer, prompt: list[int]) -> None:
    client = SGLangEngine(server.url)
    gens = await asyncio.gather(*(client.generate(prompt, SamplingParams(max_new_tokens=6, ignore_eos=True, seed=s)) for s in range(6)))
    await client.aclose()
    assert all(len(g.output_ids) == 6 for g in gens)


def test_bad_request_through_the_client_names_the_problem(server: GenerateServer) -> None:
    client = SGLangEngine(server.url)
    with pytest.raises(EngineError, match="400"):
        asyncio.run(client.generate([10**9], SamplingParams(max_new_tokens=1)))


def test_refuses_a_non_loopback_address_by_default(engine: HFEngine) -> None:
    with pytest.raises(ValueError, match="not a loopback address"):
        GenerateServer(engine, host="0.0.0.0")


def test_close_stops_serving(engine: HFEngine) -> None:
    srv = GenerateServer(engine).start()
    url = srv.url
    assert httpx.get(f"{url}/health").status_code == 200
    srv.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health", timeout=2)


def test_serve_cli_refuses_remote_bind_without_flag(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    server_cli.add_arguments(parser)
    args = parser.parse_args(["--model", "tiny", "--host", "0.0.0.0", "--port", "0"])
    assert server_cli.run(args) == 2
    assert "not a loopback address" in capsys.readouterr().err


@pytest.mark.slow
def test_retool_serve_command_serves_and_stops_on_sigterm() -> None:
    import re
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "retool.cli", "serve", "--model", "tiny", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, line
        body = {"input_ids": [1, 2, 3], "sampling_params": {"max_new_tokens": 3, "ignore_eos": True}, "return_logprob": True}
        out = httpx.post(f"{match.group(0)}/generate", json=body, timeout=60).json()
        assert len(out["meta_info"]["output_token_logprobs"]) == 3
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("key", ["bogus", "return_top_p", "max_tokens"])
def test_an_unknown_sampling_key_is_http_400_naming_it(server: GenerateServer, prompt: list[int], key: str) -> None:
    """SGLang builds ``SamplingParams(**sampling_params)`` and refuses a key it does not know; so do we."""
    response = httpx.post(f"{server.url}/generate", json={"input_ids": prompt, "sampling_params": {key: 1}})
    assert response.status_code == 400 and repr(key) in response.json()["error"]["message"]


def test_a_known_sglang_key_we_cannot_honour_is_http_400(server: GenerateServer, prompt: list[int]) -> None:
    response = httpx.post(f"{server.url}/generate", json={"input_ids": prompt, "sampling_params": {"min_p": 0.1}})
    assert response.status_code == 400 and "min_p" in response.json()["error"]["message"]


def test_the_sampling_params_miles_sends_are_accepted(server: GenerateServer, prompt: list[int]) -> None:
    params = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "max_new_tokens": 2, "stop": None, "stop_token_ids": None,
              "skip_special_tokens": False, "no_stop_trim": True, "spaces_between_special_tokens": False}
    response = httpx.post(f"{server.url}/generate", json={"input_ids": prompt, "sampling_params": params})
    assert response.status_code == 200


def test_meta_info_carries_the_weight_version(engine: HFEngine, prompt: list[int]) -> None:
    with GenerateServer(engine, weight_version="3") as srv:
        first = httpx.post(f"{srv.url}/generate", json={"input_ids": prompt, "sampling_params": {"max_new_tokens": 1}})
        srv.weight_version = "4"
        second = httpx.post(f"{srv.url}/generate", json={"input_ids": prompt, "sampling_params": {"max_new_tokens": 1}})
    assert (first.json()["meta_info"]["weight_version"], second.json()["meta_info"]["weight_version"]) == ("3", "4")


def test_cached_tokens_count_the_prefix_served_before(engine: HFEngine, prompt: list[int]) -> None:
    with GenerateServer(engine) as srv:
        body = {"input_ids": prompt, "sampling_params": {"max_new_tokens": 2, "ignore_eos": True}, "return_logprob": True}
        first = httpx.post(f"{srv.url}/generate", json=body).json()
        longer = prompt + first["output_ids"] + [5]
        second = httpx.post(f"{srv.url}/generate", json={**body, "input_ids": longer}).json()
    assert first["meta_info"]["cached_tokens"] == 0
    assert second["meta_info"]["cached_tokens"] == len(prompt) + 2 and second["meta_info"]["prompt_tokens"] == len(longer)


def test_faults_inject_5xx_then_an_abort_then_serve(engine: HFEngine, prompt: list[int]) -> None:
    from retool.rollout.engines.server import ServerFaults

    faults = ServerFaults(http_5xx=1, aborts=1)
    with GenerateServer(engine, faults=faults) as srv:
        body = {"input_ids": prompt, "sampling_params": {"max_new_tokens": 1}}
        replies = [httpx.post(f"{srv.url}/generate", json=body, headers={"X-SMG-Routing-Key": "k"}) for _ in range(3)]
    assert [r.status_code for r in replies] == [503, 200, 200]
    assert replies[1].json()["meta_info"]["finish_reason"]["type"] == "abort"
    assert replies[2].json()["meta_info"]["finish_reason"]["type"] in ("stop", "length")
    assert len(faults.requests) == 3 and faults.requests[0]["headers"]["x-smg-routing-key"] == "k"


def test_top_p_token_ids_are_returned_when_custom_params_ask(server: GenerateServer, prompt: list[int]) -> None:
    params = {"max_new_tokens": 4, "ignore_eos": True, "temperature": 1.0, "top_p": 0.5, "sampling_seed": 1,
              "custom_params": {"return_top_p_token_ids": True}}
    meta = httpx.post(f"{server.url}/generate", json={"input_ids": prompt, "sampling_params": params,
                                                      "return_logprob": True}).json()["meta_info"]
    ids, offsets = meta["top_p_token_ids"], meta["top_p_token_offsets"]
    sampled = [entry[1] for entry in meta["output_token_logprobs"]]
    assert len(offsets) == len(sampled) + 1 and offsets[-1] == len(ids)
    assert all(tok in ids[offsets[i]:offsets[i + 1]] for i, tok in enumerate(sampled))
