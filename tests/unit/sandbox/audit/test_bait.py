"""Contract tests of ``retool.sandbox.audit.bait``: ``Bait.add`` deduplication, and what
``BaitMixin.setup`` plants per technique (canary file and fd, env secret, decoy process,
loopback listeners that record hits) and ``teardown`` removes. The auditor is the real one
(``retool.sandbox.audit.runner._Auditor``); the listeners and decoys are real."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from collections.abc import AsyncIterator

import psutil
import pytest
import pytest_asyncio

from retool.sandbox.audit.runner import _Auditor
from tests.unit.sandbox.audit.cases import fake_bait, techniques_named

TWO = techniques_named("open_canary_direct", "kill_decoy")


def make_auditor() -> _Auditor:
    return _Auditor(object(), TWO, timeout_s=1.0, slack_s=1.0, concurrency=2, mem_bytes=1 << 28,
                    disk_bytes=1 << 24, max_output_chars=10_000, run_hazardous=False)


@pytest_asyncio.fixture()
async def planted() -> AsyncIterator[_Auditor]:
    auditor = make_auditor()
    await auditor.setup()
    try:
        yield auditor
    finally:
        await auditor.teardown()


def test_add_keeps_each_evidence_once_in_order() -> None:
    bait = fake_bait(0, TWO[0])
    for effect, evidence in (("network", "a"), ("network", "b"), ("network", "a"), ("signal", "c")):
        bait.add(effect, evidence)
    assert bait.effects == {"network": ["a", "b"], "signal": ["c"]}


@pytest.mark.asyncio
async def test_one_bait_per_technique_with_distinct_secrets(planted: _Auditor) -> None:
    assert [b.technique for b in planted.baits] == list(TWO) and set(planted.by_name) == {t.name for t in TWO}
    secrets = [s for b in planted.baits for s in (b.canary_secret, b.env_secret, b.decoy_secret)]
    assert len(set(secrets)) == len(secrets) and all(len(s) == 32 for s in secrets)
    assert all(b.marker.startswith(planted.run_marker) for b in planted.baits)


@pytest.mark.asyncio
async def test_the_canary_is_a_private_file_holding_its_secret(planted: _Auditor) -> None:
    for bait in planted.baits:
        assert os.path.dirname(bait.canary_path) == planted.canary_dir
        assert stat.S_IMODE(os.stat(bait.canary_path).st_mode) == 0o600
        with open(bait.canary_path, "rb") as fh:
            assert fh.read() == bait.canary_bytes and bait.canary_secret.encode() in bait.canary_bytes


@pytest.mark.asyncio
async def test_the_canary_is_also_open_on_an_inheritable_fd(planted: _Auditor) -> None:
    for bait in planted.baits:
        assert os.get_inheritable(bait.fd) and os.path.samestat(os.fstat(bait.fd), os.stat(bait.canary_path))


@pytest.mark.asyncio
async def test_the_env_secret_is_set_in_the_auditors_environment(planted: _Auditor) -> None:
    for bait in planted.baits:
        assert bait.env_name.startswith(planted.env_prefix) and os.environ[bait.env_name] == bait.env_secret


@pytest.mark.asyncio
async def test_the_decoy_runs_with_its_secret_in_argv_and_environment(planted: _Auditor) -> None:
    for bait in planted.baits:
        decoy = psutil.Process(bait.decoy.pid)
        assert bait.decoy.poll() is None and bait.decoy_secret in " ".join(decoy.cmdline())
        assert decoy.environ() == {"RETOOL_DECOY_SECRET": bait.decoy_secret}


@pytest.mark.asyncio
async def test_the_tcp_listener_records_a_connection_and_its_data(planted: _Auditor) -> None:
    bait = planted.baits[0]
    reader, writer = await asyncio.open_connection("127.0.0.1", bait.tcp_port)
    writer.write(b"hello")
    await writer.drain()
    await reader.read()  # the listener closes after reading
    writer.close()
    assert bait.hits == [b"tcp-connect", b"hello"] and planted.baits[1].hits == []


@pytest.mark.asyncio
async def test_the_udp_listener_records_each_datagram(planted: _Auditor) -> None:
    bait = planted.baits[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"ping", ("127.0.0.1", bait.udp_port))
    for _ in range(100):
        if bait.hits:
            break
        await asyncio.sleep(0.01)
    assert bait.hits == [b"udp:ping"]


@pytest.mark.asyncio
async def test_teardown_removes_everything_it_planted() -> None:
    auditor = make_auditor()
    await auditor.setup()
    decoys = [b.decoy for b in auditor.baits]
    ports = [b.tcp_port for b in auditor.baits]
    fds = [b.fd for b in auditor.baits]
    await auditor.teardown()
    assert not os.path.exists(auditor.canary_dir)
    assert not [k for k in os.environ if k.startswith(auditor.env_prefix)]
    assert all(d is not None and d.returncode is not None for d in decoys)
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)
    for port in ports:
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)


@pytest.mark.asyncio
async def test_teardown_after_a_partial_setup_does_not_raise() -> None:
    auditor = make_auditor()
    await auditor.teardown()  # nothing planted yet: only the canary dir exists
    assert not os.path.exists(auditor.canary_dir)
