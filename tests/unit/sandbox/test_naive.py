"""Contract tests of ``retool.sandbox.naive``, the deliberately INSECURE reference: its regex
deny-list blocks the obvious spellings and is bypassed by trivial variants, it runs as the caller
with the caller's environment in a throwaway cwd, it has no output cap, its timeout kills only
the direct child, and ``reuse_worker=True`` lets one snippet poison the next. Each insecurity is
asserted, since the audit relies on them to show its probes can fail."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import AsyncIterator

import psutil
import pytest
import pytest_asyncio

from retool.sandbox import NaiveSandbox


@pytest_asyncio.fixture()
async def naive() -> AsyncIterator[NaiveSandbox]:
    sandbox = NaiveSandbox(timeout_s=5.0)
    yield sandbox
    await sandbox.close()


# --- the deny-list blocks the obvious --------------------------------------------------------------
@pytest.mark.asyncio
@pytest.mark.parametrize("code", ["import os", "from os import path", "import subprocess", "import socket",
                                  "import shutil", "import ctypes", "__import__('os')", "eval('1')", "exec('1')"])
async def test_the_deny_list_blocks_the_obvious_spellings(naive: NaiveSandbox, code: str) -> None:
    assert (await naive.execute_code(code)).startswith("Error: forbidden pattern")


# --- ... and is bypassable -------------------------------------------------------------------------
@pytest.mark.asyncio
@pytest.mark.parametrize("code", ["import math, os\nprint(os.getpid() > 0)",
                                  "import math, socket\nprint(hasattr(socket, 'socket'))",
                                  "import math, subprocess\nprint(callable(subprocess.run))"])
async def test_an_import_list_slips_past_the_deny_list(naive: NaiveSandbox, code: str) -> None:
    assert await naive.execute_code(code) == "True\n"


@pytest.mark.asyncio
async def test_it_runs_with_the_callers_environment(naive: NaiveSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETOOL_NAIVE_TEST_SECRET", "hunter2")
    text = await naive.execute_code("import math, os\nprint(os.environ['RETOOL_NAIVE_TEST_SECRET'])")
    assert text == "hunter2\n"


@pytest.mark.asyncio
async def test_it_runs_as_the_caller(naive: NaiveSandbox) -> None:
    assert await naive.execute_code("import math, os\nprint(os.getuid())") == f"{os.getuid()}\n"


@pytest.mark.asyncio
async def test_its_cwd_is_a_throwaway_temp_dir(naive: NaiveSandbox) -> None:
    cwd = (await naive.execute_code("import math, os\nprint(os.getcwd())")).strip()
    assert os.path.dirname(cwd) == os.path.realpath(tempfile.gettempdir())
    assert os.path.basename(cwd).startswith("naive-") and not os.path.exists(cwd)


@pytest.mark.asyncio
async def test_its_output_is_not_capped(naive: NaiveSandbox) -> None:
    assert len(await naive.execute_code("print('A' * 300000)")) == 300001


@pytest.mark.asyncio
async def test_errors_come_back_as_the_traceback_text(naive: NaiveSandbox) -> None:
    assert "ZeroDivisionError" in await naive.execute_code("1 / 0")


@pytest.mark.asyncio
async def test_the_timeout_kills_the_direct_child_but_grandchildren_survive() -> None:
    sandbox = NaiveSandbox(timeout_s=0.5)
    tag = "41.%d" % (time.time_ns() % 10**6)  # sleep's argument doubles as a unique marker
    code = f"import math, subprocess\nsubprocess.Popen(['sleep', '{tag}'])\nwhile True:\n    pass"
    try:
        assert await sandbox.execute_code(code) == "Error: timeout"
        survivors = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", tag]]
        assert survivors, "the grandchild should outlive the timeout (that is the insecurity)"
    finally:
        for proc in psutil.process_iter(["cmdline"]):
            if proc.info["cmdline"] == ["sleep", tag]:
                proc.kill()
        await sandbox.close()


def test_a_non_positive_timeout_is_rejected() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        NaiveSandbox(timeout_s=0)


# --- the reused worker -----------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_a_reused_worker_lets_one_snippet_poison_the_next() -> None:
    sandbox = NaiveSandbox(timeout_s=5.0, reuse_worker=True)
    try:
        assert await sandbox.execute_code("x = 41\nabs = lambda v: 'POISONED'") == ""
        assert await sandbox.execute_code("print(x + 1, abs(-1))") == "42 POISONED\n"
    finally:
        await sandbox.close()


@pytest.mark.asyncio
async def test_a_reused_worker_reports_errors_and_keeps_serving() -> None:
    sandbox = NaiveSandbox(timeout_s=5.0, reuse_worker=True)
    try:
        assert "ZeroDivisionError" in await sandbox.execute_code("1 / 0")
        assert await sandbox.execute_code("print('still here')") == "still here\n"
    finally:
        await sandbox.close()


@pytest.mark.asyncio
async def test_close_ends_the_worker_and_removes_its_cwd() -> None:
    sandbox = NaiveSandbox(timeout_s=5.0, reuse_worker=True)
    cwd = (await sandbox.execute_code("import math, os\nprint(os.getcwd())")).strip()
    worker = sandbox._worker
    assert worker is not None and os.path.isdir(cwd)
    await sandbox.close()
    assert worker.returncode is not None and not os.path.exists(cwd)


@pytest.mark.asyncio
async def test_a_hung_worker_times_out_and_the_next_call_gets_a_fresh_one() -> None:
    sandbox = NaiveSandbox(timeout_s=0.5, reuse_worker=True)
    try:
        await sandbox.execute_code("y = 1")
        assert await sandbox.execute_code("while True:\n    pass") == "Error: timeout or worker failure"
        assert "NameError" in await sandbox.execute_code("print(y)")
    finally:
        await sandbox.close()
