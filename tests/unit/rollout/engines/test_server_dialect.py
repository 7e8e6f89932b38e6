"""``retool serve --dialect``: a request that sends no stop strings gets the dialect's stops (so a
client that sends none, like the upstream ReTool rollout, still stops at ``</code>``); one that sends
its own keeps them; without a dialect nothing is added. Real HTTP on loopback, the real tiny model."""

from __future__ import annotations

import pytest

from retool.embedded.models import tiny_model
from retool.rollout.engines import HFEngine, http_client_module
from retool.rollout.engines.server import GenerateServer
from retool.text.dialect import RETOOL_CODE

httpx = http_client_module()


class RecordingEngine(HFEngine):
    """The real engine, recording the sampling parameters each request reached it with."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seen = []

    def generate_sync(self, input_ids, params, **kwargs):
        self.seen.append(params)
        return super().generate_sync(input_ids, params, **kwargs)


@pytest.fixture(scope="module")
def engine() -> RecordingEngine:
    model, tokenizer = tiny_model()
    return RecordingEngine(model, tokenizer)


def _generate(url: str, sampling: dict) -> dict:
    body = {"input_ids": [1, 2, 3], "sampling_params": {"max_new_tokens": 2, **sampling}}
    response = httpx.post(f"{url}/generate", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_request_without_stops_gets_the_dialects(engine) -> None:
    with GenerateServer(engine, default_stop=RETOOL_CODE.stops()) as server:
        _generate(server.url, {})
    assert engine.seen[-1].stop == ("</code>", "</tool_call>", "<interpreter>", "<|im_start|>")


def test_a_request_with_its_own_stops_keeps_them(engine) -> None:
    with GenerateServer(engine, default_stop=RETOOL_CODE.stops()) as server:
        _generate(server.url, {"stop": ["DONE"]})
    assert engine.seen[-1].stop == ("DONE",)


def test_without_a_dialect_nothing_is_added(engine) -> None:
    with GenerateServer(engine) as server:
        _generate(server.url, {})
    assert engine.seen[-1].stop == ()


def test_the_cli_refuses_an_unknown_dialect(capsys) -> None:
    from retool.cli import main

    with pytest.raises(SystemExit):
        main(["serve", "--model", "tiny", "--dialect", "native"])
    assert "invalid choice: 'native'" in capsys.readouterr().err
