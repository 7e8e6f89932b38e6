"""retool.sandbox.wire: the control messages round-trip, and every parser is total."""

from __future__ import annotations

import json
import struct

import pytest

from retool.sandbox.wire import (
    exited_message,
    kill_message,
    parse_exited,
    parse_request,
    run_message,
)


def test_a_run_message_round_trips() -> None:
    assert parse_request(run_message(2**63 + 5, 31)) == ("run", 2**63 + 5, 31)


def test_a_kill_message_round_trips() -> None:
    assert parse_request(kill_message(7)) == ("kill", 7, 0)


def test_an_exited_message_round_trips_with_a_signal_status() -> None:
    assert parse_exited(exited_message(3, 4242, 9)) == (3, 4242, 9)


@pytest.mark.parametrize("raw", [b"", b"r", run_message(1, 2)[:-1], run_message(1, 2) + b"\0", b"x" + bytes(12),
                                 kill_message(1)[:-1], b"q" + bytes(12), json.dumps({"op": "run", "id": 1}).encode()])
def test_a_request_of_another_length_or_tag_is_none(raw: bytes) -> None:
    assert parse_request(raw) is None


@pytest.mark.parametrize("raw", [b"", run_message(1, 2), kill_message(1), exited_message(1, 2, 3)[:-1],
                                 b"y" + exited_message(1, 2, 3)[1:], b'{"ev": "ready", "pid": 1}'])
def test_an_exited_message_of_another_length_or_tag_is_none(raw: bytes) -> None:
    assert parse_exited(raw) is None


def test_the_ready_json_never_parses_as_a_message() -> None:
    ready = json.dumps({"ev": "ready", "vm_bytes": 1, "pid": 1, "huge_bytes": 0}).encode()
    assert parse_exited(ready) is None and parse_request(ready) is None


def test_an_id_out_of_range_is_refused() -> None:
    with pytest.raises(struct.error):
        run_message(-1, 0)
