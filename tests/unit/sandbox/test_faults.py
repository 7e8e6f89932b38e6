"""Faults from outside: a zygote or the supervisor itself SIGKILLed mid-run. Nothing the snippet
started survives, and nothing stays on disk once a sandbox starts again (the startup sweep)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from retool.sandbox import PythonSandbox
from tests.capabilities import sandbox_options

REPO = str(Path(__file__).resolve().parents[3])
# A supervisor in its own process: starts a long run, reports its zygote trees and scratch, waits.
SUPERVISOR = """
import asyncio, json, sys
from retool.sandbox import PythonSandbox

async def main():
    box = PythonSandbox(timeout=60, concurrency=2, zygotes=1, allowed_modules=('time',), scratch_root=sys.argv[1],
                        **json.loads(sys.argv[2]))
    await box.start()
    task = asyncio.create_task(box.run("import time\\nwhile True:\\n    open('f', 'w').write('x')\\n    time.sleep(0.01)"))
    await asyncio.sleep(1.0)
    print(json.dumps({"zygotes": box.zygote_pids(), "scratch": box._scratch}), flush=True)
    await task

asyncio.run(main())
"""


def tree(pids: list[int]) -> list[psutil.Process]:
    out = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            out += [proc, *proc.children(recursive=True)]
        except psutil.Error:
            pass
    return out


def test_a_sigkilled_supervisor_leaves_no_process_and_its_scratch_is_swept(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", SUPERVISOR, str(tmp_path), json.dumps(sandbox_options())],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
        inside = tree(info["zygotes"])
        assert len(inside) >= 2  # a zygote and the running child at least
        # the waiting parents outside a pid namespace are the supervisor's children
        inside += [p for p in psutil.Process(proc.pid).children() if p not in inside]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        _, alive = psutil.wait_procs(inside, timeout=10)
        assert alive == []
        assert os.path.isdir(info["scratch"])  # left by the killed supervisor ...
        box = PythonSandbox(concurrency=2, zygotes=1, scratch_root=str(tmp_path), **sandbox_options())
        asyncio.run(box.start())
        assert not os.path.exists(info["scratch"])  # ... and swept by the next one in its uid range
        asyncio.run(box.close())
        assert list(tmp_path.iterdir()) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.asyncio
async def test_a_sigkilled_zygote_mid_run_takes_every_descendant_with_it() -> None:
    code = "import time\nwhile True:\n    open('f', 'w').write('x')\n    time.sleep(0.01)"
    async with PythonSandbox(timeout=60, concurrency=2, zygotes=1, allowed_modules=("time", "os"),
                             **sandbox_options()) as box:
        await box.start()
        tasks = [asyncio.create_task(box.run(code)) for _ in range(2)]
        deadline = time.monotonic() + 10
        serving = []  # the zygote (of the tier holding time and os) whose tree holds both runs
        while time.monotonic() < deadline and not serving:
            serving = [pid for pid in box.zygote_pids() if len(tree([pid])) >= 3]
            await asyncio.sleep(0.05)
        assert serving
        inside = tree(serving)
        os.kill(serving[0], signal.SIGKILL)
        results = await asyncio.wait_for(asyncio.gather(*tasks), 10)
        _, alive = psutil.wait_procs(inside, timeout=5)
        after = await box.run("import os\nprint(os.listdir('.'))")
    assert [r.status for r in results] == ["crashed", "crashed"] and alive == []
    assert (after.status, after.stdout) == ("ok", "[]\n")
