"""Contract tests of ``retool.sandbox.audit.judge``: which effect each kind of output evidence
gives and to whom (``check_output``), what a bait sweep sees and how it attributes it
(``sweep_baits``), marker files (``_scan_files``) and leaked processes (``_kill_leaks``). Real
bait planted by the real auditor; effects caused from this process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator

import psutil
import pytest
import pytest_asyncio

from retool.sandbox.audit.runner import _Auditor
from tests.unit.sandbox.audit.cases import techniques_named

THREE = techniques_named("open_canary_direct", "kill_decoy", "socket_tcp_connect")
CAP = 1000


@pytest_asyncio.fixture()
async def auditor() -> AsyncIterator[_Auditor]:
    a = _Auditor(object(), THREE, timeout_s=1.0, slack_s=1.0, concurrency=3, mem_bytes=1 << 28,
                 disk_bytes=1 << 24, max_output_chars=CAP, run_hazardous=False)
    await a.setup()
    try:
        yield a
    finally:
        await a.teardown()


# --- check_output --------------------------------------------------------------------------------
@pytest.mark.asyncio
@pytest.mark.parametrize(("effect", "secret_of"), [("canary_read", "canary_secret"), ("env_leak", "env_secret"),
                                                   ("proc_leak", "decoy_secret")])
async def test_a_secret_in_output_is_charged_to_the_caller_naming_whose(auditor: _Auditor, effect: str,
                                                                       secret_of: str) -> None:
    caller, victim = auditor.baits[0], auditor.baits[2]
    auditor.check_output(caller, f"look: {getattr(victim, secret_of)}\n", "technique")
    assert list(caller.effects) == [effect] and victim.technique.name in caller.effects[effect][0]
    assert victim.effects == {}


@pytest.mark.asyncio
async def test_a_secret_inside_a_longer_hex_run_is_still_found(auditor: _Auditor) -> None:
    bait = auditor.baits[0]
    auditor.check_output(bait, "deadbeef" + bait.canary_secret + "cafe", "technique")
    assert "canary_read" in bait.effects


@pytest.mark.asyncio
async def test_clean_output_gives_no_effect(auditor: _Auditor) -> None:
    bait = auditor.baits[0]
    auditor.check_output(bait, "PermissionError\n" + bait.marker + "\n" + "0" * 31, "technique")
    assert bait.effects == {}


@pytest.mark.asyncio
async def test_the_breach_marker_is_a_limit_breach(auditor: _Auditor) -> None:
    bait = auditor.baits[1]
    auditor.check_output(bait, f"{bait.marker}-BREACH 123", "technique")
    assert list(bait.effects) == ["limit_breach"]


@pytest.mark.asyncio
async def test_the_hosts_passwd_needs_its_first_and_last_line(auditor: _Auditor) -> None:
    # the rule, on a passwd of known shape (the host's may have a single line)
    auditor.passwd = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin"
    lines = auditor.passwd.splitlines()
    bait = auditor.baits[0]
    auditor.check_output(bait, lines[0], "technique")
    assert bait.effects == {}
    auditor.check_output(bait, f"{lines[0]}\n...\n{lines[-1]}", "technique")
    assert list(bait.effects) == ["host_file"]


@pytest.mark.asyncio
async def test_a_one_line_passwd_is_never_taken_for_the_host_file(auditor: _Auditor) -> None:
    auditor.passwd = "root:x:0:0:root:/root:/bin/bash"  # first line == last line: too common to prove a read
    bait = auditor.baits[0]
    auditor.check_output(bait, auditor.passwd, "technique")
    assert bait.effects == {}


@pytest.mark.asyncio
async def test_output_over_the_cap_is_a_flood_and_only_its_ends_are_scanned(auditor: _Auditor) -> None:
    bait = auditor.baits[0]
    hidden = "x" * (3 * CAP) + bait.env_secret + "x" * (3 * CAP)
    auditor.check_output(bait, hidden, "technique")
    assert list(bait.effects) == ["output_flood"]
    auditor.check_output(bait, "x" * (5 * CAP) + bait.canary_secret, "technique")
    assert "canary_read" in bait.effects


# --- sweep_baits ---------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_an_untouched_battery_sweeps_clean(auditor: _Auditor) -> None:
    auditor.sweep_baits(auditor.baits)
    assert all(b.effects == {} for b in auditor.baits) and auditor.unattributed == []


@pytest.mark.asyncio
async def test_a_changed_canary_goes_to_the_technique_whose_marker_it_carries(auditor: _Auditor) -> None:
    victim, culprit = auditor.baits[0], auditor.baits[2]
    with open(victim.canary_path, "a") as fh:
        fh.write("PWNED " + culprit.marker)
    auditor.sweep_baits(auditor.baits)
    assert list(culprit.effects) == ["canary_write"] and victim.effects == {}
    auditor.sweep_baits(auditor.baits)  # reported once
    assert len(culprit.effects["canary_write"]) == 1


@pytest.mark.asyncio
async def test_a_removed_canary_is_a_canary_write(auditor: _Auditor) -> None:
    bait = auditor.baits[1]
    os.unlink(bait.canary_path)
    auditor.sweep_baits(auditor.baits)
    assert "gone" in bait.effects["canary_write"][0]


@pytest.mark.asyncio
async def test_a_changed_canary_without_a_marker_goes_to_a_lone_technique(auditor: _Auditor) -> None:
    victim, lone = auditor.baits[0], auditor.baits[1]
    with open(victim.canary_path, "a") as fh:
        fh.write("PWNED")
    auditor.sweep_baits([lone])
    assert "canary_write" in lone.effects and victim.effects == {}


@pytest.mark.asyncio
async def test_a_stray_file_is_attributed_by_marker_removed_and_else_unattributed(auditor: _Auditor) -> None:
    marked = os.path.join(auditor.canary_dir, "created-" + auditor.baits[2].marker)
    anonymous = os.path.join(auditor.canary_dir, "created-by-nobody")
    for path in (marked, anonymous):
        open(path, "w").close()
    auditor.sweep_baits(auditor.baits)
    assert list(auditor.baits[2].effects) == ["canary_write"]
    assert len(auditor.unattributed) == 1 and "created-by-nobody" in auditor.unattributed[0]
    assert not os.path.exists(marked) and not os.path.exists(anonymous)


@pytest.mark.asyncio
async def test_a_listener_hit_is_network_and_its_data_is_scanned(auditor: _Auditor) -> None:
    bait = auditor.baits[2]
    reader, writer = await asyncio.open_connection("127.0.0.1", bait.tcp_port)
    writer.write(bait.marker.encode() + b" " + auditor.baits[0].env_secret.encode())
    await writer.drain()
    await reader.read()
    writer.close()
    auditor.sweep_baits(auditor.baits)
    assert set(bait.effects) == {"network", "env_leak"}
    before = dict(bait.effects)
    auditor.sweep_baits(auditor.baits)
    assert bait.effects == before  # each hit reported once


@pytest.mark.asyncio
@pytest.mark.parametrize(("sig", "state"), [(signal.SIGKILL, "died"), (signal.SIGSTOP, "state T")])
async def test_a_killed_or_stopped_decoy_is_a_signal_effect(auditor: _Auditor, sig: int, state: str) -> None:
    bait = auditor.baits[1]
    assert bait.decoy is not None
    os.kill(bait.decoy.pid, sig)
    for _ in range(200):
        if (bait.decoy.poll() is not None) if sig == signal.SIGKILL else psutil.Process(bait.decoy.pid).status() == "stopped":
            break
        time.sleep(0.005)
    auditor.sweep_baits([bait])
    assert list(bait.effects) == ["signal"] and state in bait.effects["signal"][0]
    auditor.sweep_baits([bait])
    assert len(bait.effects["signal"]) == 1


# --- files and processes -------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_marker_files_in_tmp_are_found_and_removed_on_request(auditor: _Auditor) -> None:
    path = f"/tmp/{auditor.run_marker}-left"
    open(path, "w").close()
    try:
        assert path in auditor._scan_files(remove=False) and os.path.exists(path)
        assert path in auditor._scan_files(remove=True) and not os.path.exists(path)
        assert auditor._scan_files(remove=False) == []
    finally:
        if os.path.exists(path):
            os.unlink(path)


@pytest.mark.asyncio
async def test_a_grandchild_outliving_its_call_is_killed_and_reported_once(auditor: _Auditor) -> None:
    shell = subprocess.Popen(["sh", "-c", "sleep 30 & wait"], stdin=subprocess.DEVNULL)
    try:
        for _ in range(200):  # until sh has started its sleep
            children = psutil.Process(shell.pid).children()
            if children:
                break
            time.sleep(0.005)
        (grandchild,) = children
        found = auditor._kill_leaks()
        assert [f"pid {grandchild.pid}" in desc for desc, _ in found] == [True]  # sh, a direct child, is not a leak
        assert psutil.wait_procs([grandchild], timeout=5)[1] == [] and grandchild.pid in auditor.killed
        assert auditor._kill_leaks() == []
    finally:
        shell.kill()
        shell.wait()


@pytest.mark.asyncio
async def test_the_decoys_are_not_leaks(auditor: _Auditor) -> None:
    assert auditor._leaked_processes() == []
