"""A deliberately INSECURE reference sandbox: a test double that proves the escape battery bites.

DO NOT USE THIS TO RUN UNTRUSTED CODE. It reproduces the designs found in the field on purpose:
a regex deny-list over the source (``import math, os`` and ``import math, socket`` pass it), a
fresh ``python3`` per call that runs as the caller's user with the caller's full environment
(only its working directory is a throwaway temp dir, to keep the caller's tree clean), no rlimits, no namespaces, no output cap, and a timeout that kills only the
direct child (grandchildren survive). With ``reuse_worker=True`` it instead keeps one long-lived
interpreter that ``exec``s every snippet in the same process, so one snippet can poison the next.

It exists for two callers only: ``tests/unit/sandbox/audit/`` (the audit must report escapes for
it, which shows every probe can fail) and ``retool verify`` (which must fail loudly on a sandbox
that lets ``import os`` through). Contract: ``async execute_code(code) -> str`` like
``retool.sandbox.PythonSandbox``; ``close()`` ends the worker it started.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import tempfile

# The kind of deny-list the field ships: it matches text, not behaviour.
DENY_PATTERNS: tuple[str, ...] = (
    r"\bimport\s+os\b",
    r"\bfrom\s+os\b",
    r"\bimport\s+(subprocess|socket|shutil|ctypes)\b",
    r"__import__",
    r"\beval\s*\(",
    r"\bexec\s*\(",
)

_WORKER = r"""
import contextlib, io, json, sys, traceback
ns = {"__name__": "__main__"}
for line in sys.stdin:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        try:
            exec(compile(json.loads(line), "<snippet>", "exec"), ns)
        except BaseException:
            traceback.print_exc()
    sys.__stdout__.write(json.dumps(buf.getvalue()) + "\n")
    sys.__stdout__.flush()
"""


class NaiveSandbox:
    """Insecure on purpose (see the module docstring): a regex filter and a bare ``python3``."""

    def __init__(self, *, timeout_s: float = 5.0, reuse_worker: bool = False, python: str = sys.executable):
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
        self.timeout_s = timeout_s
        self.reuse_worker = reuse_worker
        self.python = python
        self._worker: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self._cwd: tempfile.TemporaryDirectory | None = None

    async def execute_code(self, code: str) -> str:
        for pattern in DENY_PATTERNS:
            if re.search(pattern, code):
                return f"Error: forbidden pattern {pattern!r}"
        if self.reuse_worker:
            async with self._lock:
                return await self._run_in_worker(code)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryDirectory(prefix="naive-") as cwd:
            proc = await asyncio.create_subprocess_exec(
                self.python, "-c", code, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out, cwd=cwd
            )
            try:
                await asyncio.wait_for(proc.wait(), self.timeout_s)
            except TimeoutError:
                return "Error: timeout"
            finally:
                if proc.returncode is None:
                    proc.kill()  # the direct child only, as in the field
                    await proc.wait()
            out.seek(0)
            return out.read().decode("utf-8", errors="replace")

    async def _run_in_worker(self, code: str) -> str:
        if self._worker is None or self._worker.returncode is not None:
            self._cwd = self._cwd or tempfile.TemporaryDirectory(prefix="naive-worker-")
            self._worker = await asyncio.create_subprocess_exec(
                self.python, "-u", "-c", _WORKER, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL, limit=1 << 26, cwd=self._cwd.name,
            )
        worker = self._worker
        assert worker.stdin is not None and worker.stdout is not None
        try:
            worker.stdin.write((json.dumps(code) + "\n").encode())
            await worker.stdin.drain()
            line = await asyncio.wait_for(worker.stdout.readline(), self.timeout_s)
            return json.loads(line) if line else "Error: worker died"
        except (TimeoutError, ConnectionError, ValueError):
            await self.close()
            return "Error: timeout or worker failure"
        except asyncio.CancelledError:
            await self.close()
            raise

    async def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None and worker.returncode is None:
            worker.kill()
            await worker.wait()
        if self._cwd is not None:
            self._cwd.cleanup()
            self._cwd = None
