"""Soak: many sequential and concurrent runs of every kind leave nothing behind -- no fd, process,
zombie, SysV object or scratch entry -- and the supervisor's memory stays bounded. A short soak
runs in CI; the issue's sizes (10k sequential, 512 concurrent: about 90-140 s) are marked long
(`pytest -m long`)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import psutil
import pytest

from retool.sandbox import PythonSandbox
from retool.sandbox.scratch import MARKER
from tests.capabilities import sandbox_options

MIX = (
    "print(6 * 7)",
    "1 / 0",
    "import os\nopen('f', 'w').write('x' * 1000)\nos.mkdir('d')",
    "print('y' * 100000)",
    "import os\nos.kill(os.getpid(), 9)",
    "import os\nos._exit(3)",
    "x = [0] * (1 << 40)",
    "import os\nos.write(3, b'{' * 5000)",
    "import ctypes\nctypes.CDLL(None).shmget(0x50AC, 4096, 0o1666)",
)


def sysv() -> list[str]:
    out = []
    for kind in ("shm", "msg", "sem"):
        try:
            out += Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
        except OSError:
            pass
    return sorted(out)


def state(sandbox: PythonSandbox) -> dict[str, object]:
    me = psutil.Process()
    servers = set(sandbox.zygote_pids())
    waiting = {psutil.Process(p).ppid() for p in servers} - {me.pid}
    others = [p for p in me.children(recursive=True) if p.pid not in servers | waiting]
    return {"fds": len(os.listdir("/proc/self/fd")), "others": others, "ipc": sysv(),
            "zombies": [p for p in me.children() if p.status() == psutil.STATUS_ZOMBIE]}


async def soak(sequential: int, concurrent: int, concurrency: int) -> None:
    async with PythonSandbox(timeout=5, memory_limit="256MB", concurrency=concurrency, allowed_modules=("os", "ctypes"),
                             **sandbox_options()) as sandbox:
        await sandbox.start()  # every zygote of every tier
        await asyncio.gather(*(sandbox.run(code) for code in MIX * 2))  # warm
        before, rss_before = state(sandbox), psutil.Process().memory_info().rss
        for i in range(sequential):
            await sandbox.run(MIX[i % len(MIX)])
        results = await asyncio.gather(*(sandbox.run(MIX[i % len(MIX)]) for i in range(concurrent)))
        await asyncio.sleep(0.2)
        after, rss_after = state(sandbox), psutil.Process().memory_info().rss
        root = sandbox._scratch
        assert root is not None
        entries = sorted(os.listdir(root))
        leftovers = [e for s in range(concurrency) for e in os.listdir(os.path.join(root, f"slot-{s}"))]
    assert {r.status for r in results} >= {"ok", "error", "crashed", "output_limit"}
    assert sandbox.free_slots() == concurrency
    assert after == before, (before, after)
    assert entries == sorted([MARKER] + [f"slot-{s}" for s in range(concurrency)]) and leftovers == []
    assert rss_after - rss_before < 64 << 20


@pytest.mark.asyncio
async def test_a_short_soak_leaves_nothing_behind() -> None:
    await soak(sequential=300, concurrent=64, concurrency=8)


@pytest.mark.long
@pytest.mark.slow
@pytest.mark.asyncio
async def test_ten_thousand_sequential_and_512_concurrent_runs_leave_nothing_behind() -> None:
    await soak(sequential=10_000, concurrent=512, concurrency=32)
