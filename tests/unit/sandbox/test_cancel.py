"""Cancel safety of ``PythonSandbox.run``: a call cancelled at any await point (task.cancel,
wait_for, a failing TaskGroup, a cancel during the slot's reset) kills its child before the
CancelledError propagates, and the slot comes back fresh. Judged by effect: free slots, live
processes under the zygotes, and what the next run in the same slot finds."""

from __future__ import annotations

import asyncio
import time

import psutil
import pytest

from retool.sandbox import PythonSandbox
from tests.capabilities import sandbox_options

# The cancelled run keeps rewriting its file; the next run in the slot must find an empty dir and
# keep its own file unchanged while it waits.
SLEEPER = "import time\nwhile True:\n    open('f', 'w').write('sleeper')\n    time.sleep(0.005)"
NEXT = "import os, time\nseen = sorted(os.listdir('.'))\nopen('f', 'w').write('mine')\ntime.sleep(0.3)\nprint(seen, open('f').read())"


def make(**overrides: object) -> PythonSandbox:
    options = {"timeout": 20, "concurrency": 1, "zygotes": 1, "allowed_modules": ("time", "os"),
               **sandbox_options(), **overrides}
    return PythonSandbox(**options)


def descendants(sandbox: PythonSandbox) -> set[int]:
    out = set()
    for pid in sandbox.zygote_pids():
        try:
            out |= {c.pid for c in psutil.Process(pid).children(recursive=True)}
        except psutil.Error:
            pass
    return out


async def assert_slot_clean(sandbox: PythonSandbox, idle: set[int]) -> None:
    assert sandbox.free_slots() == sandbox.config.concurrency
    assert descendants(sandbox) <= idle  # the cancelled child is gone before the cancel returned
    result = await sandbox.run(NEXT)
    assert (result.status, result.stdout) == ("ok", "[] mine\n")


@pytest.mark.asyncio
@pytest.mark.parametrize("ticks", list(range(0, 40, 3)))
async def test_a_cancel_after_any_number_of_loop_ticks_kills_the_child_and_frees_the_slot(ticks: int) -> None:
    async with make() as sandbox:
        await sandbox.start()
        idle = descendants(sandbox)
        task = asyncio.create_task(sandbox.run(SLEEPER))
        for _ in range(ticks):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await assert_slot_clean(sandbox, idle)


@pytest.mark.asyncio
@pytest.mark.parametrize("delay_s", [0.0005, 0.005, 0.05, 0.3])
async def test_wait_for_timing_out_a_call_kills_the_child_and_frees_the_slot(delay_s: float) -> None:
    async with make() as sandbox:
        await sandbox.start()
        idle = descendants(sandbox)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(sandbox.run(SLEEPER), delay_s)
        await assert_slot_clean(sandbox, idle)


@pytest.mark.asyncio
async def test_a_failing_task_group_cancels_its_calls_cleanly() -> None:
    async with make(concurrency=2) as sandbox:
        await sandbox.start()
        idle = descendants(sandbox)

        async def boom() -> None:
            await asyncio.sleep(0.3)
            raise KeyError("boom")

        with pytest.raises(BaseExceptionGroup):
            async with asyncio.TaskGroup() as group:
                group.create_task(sandbox.run(SLEEPER))
                group.create_task(sandbox.run(SLEEPER))
                group.create_task(boom())
        await assert_slot_clean(sandbox, idle)


@pytest.mark.asyncio
@pytest.mark.parametrize("delay_s", [0.05, 0.15, 0.4])
async def test_a_cancel_during_the_slot_reset_never_loses_the_slot(delay_s: float) -> None:
    code = "import os\nfor i in range(3000):\n    open(f'f{i}', 'w').close()\nos.makedirs('/'.join(['d'] * 300))"
    async with make() as sandbox:
        await sandbox.start()
        idle = descendants(sandbox)
        for _ in range(3):
            task = asyncio.create_task(sandbox.run(code))
            await asyncio.sleep(delay_s)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        await assert_slot_clean(sandbox, idle)


@pytest.mark.asyncio
async def test_repeated_cancels_of_one_call_still_end_in_a_clean_slot() -> None:
    async with make() as sandbox:
        await sandbox.start()
        idle = descendants(sandbox)
        task = asyncio.create_task(sandbox.run(SLEEPER))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        for _ in range(5):
            task.cancel()
            await asyncio.sleep(0)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < sandbox.config.kill_grace_s
        await assert_slot_clean(sandbox, idle)
