"""Fuzzing PythonSandbox: generated and mutated programs never escape, hang, or leak.

Each example is a batch of programs (from ``tests/strategies/audit.py``: a grammar of small
statements aimed at the audit's bait, and mutations of the battery's snippets) run through
``retool.sandbox.audit.audit`` against one long-lived sandbox, so every outside probe applies: canary
unread and unwritten, listeners unreached, environment and decoy secrets unseen, decoys and the
zygotes alive, no process or marker file left, every call back within timeout + slack. On top,
after each example: the supervisor's own open fds (``/proc/self/fd``) are as many as before,
each slot's scratch dir is empty again, and no child process but the zygotes is alive; after the
sandbox closes, its scratch root is gone and no process of ours is left.

The quick variant runs a handful of examples (default profile, a few seconds each). The heavy
variant (marker ``fuzz``) adds time wasters (spins, long sleeps, floods) and bigger batches; it
runs the profile's example count under ``HYPOTHESIS_PROFILE=fuzz`` and a handful otherwise, so
plain CI runs stay cheap.
"""

from __future__ import annotations

import asyncio
import os
import stat
import tempfile
import time
from collections.abc import Iterator

import psutil
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from retool.sandbox import PythonSandbox
from retool.sandbox.audit import audit, format_report
from retool.sandbox.scratch import MARKER
from tests.capabilities import sandbox_options, skip_unless_escape_layers
from tests.strategies.audit import as_techniques, programs

TIMEOUT_S = 1.0
SLACK_S = 3.0
FUZZ_PROFILE = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"
HEAVY_EXAMPLES = settings().max_examples if FUZZ_PROFILE else 2
HEAVY_TIMEOUT_S = 0 if FUZZ_PROFILE else 300  # 0: no pytest-timeout for a long fuzzing session
# No shrinking: each example costs seconds; a failure prints the whole batch of programs instead.
PHASES = (Phase.explicit, Phase.reuse, Phase.generate)


class _Harness:
    def __init__(self) -> None:
        self.started_at = time.time()  # other tests' long-lived processes are not ours to judge
        self.loop = asyncio.new_event_loop()
        self.scratch_root = tempfile.mkdtemp(prefix="retool-fuzz-")
        os.chmod(self.scratch_root, 0o755)  # the per-slot uids must traverse it
        # the layers this host has, as long as they include every one the battery needs (the
        # fixture skips otherwise): the per-slot uid layer is defence in depth and root only
        self.sandbox = PythonSandbox(timeout=TIMEOUT_S, memory_limit="256MB", concurrency=4,
                                     scratch_root=self.scratch_root, **sandbox_options())
        self.loop.run_until_complete(self._warm())

    async def _warm(self) -> None:  # start every zygote (of every tier) now, so their pipes are in the fd baseline
        await self.sandbox.start()
        await asyncio.gather(*(self.sandbox.execute_code("print(1)") for _ in range(8)))

    def check(self, codes: list[str]) -> None:
        fds_before = len(os.listdir("/proc/self/fd"))
        report = self.loop.run_until_complete(audit(self.sandbox, techniques=as_techniques(codes),
                                                    timeout_slack_s=SLACK_S))
        assert report.ok, format_report(report) + "\n\nprograms:\n" + "\n-----\n".join(codes)
        assert all(f.duration_s <= TIMEOUT_S + SLACK_S for f in report.findings)
        assert len(os.listdir("/proc/self/fd")) == fds_before
        for root, dirs, files in os.walk(self.scratch_root):  # <root>/retool-sandbox-*/{owner.json,slot-*}, slots empty
            depth = root[len(self.scratch_root):].count(os.sep)
            assert files == ([MARKER] if depth == 1 else []) and (depth < 2 or dirs == []), (root, dirs, files)
        zygotes = set(self.sandbox.zygote_pids())
        waiting = {psutil.Process(pid).ppid() for pid in zygotes}  # with "pid": the parent outside the namespace
        others = [p for p in self._children() if p.pid not in zygotes | waiting]
        assert others == [], others

    def close(self) -> None:
        self.loop.run_until_complete(self.sandbox.close())
        self.loop.close()
        assert not os.path.exists(self.scratch_root) or not any(os.scandir(self.scratch_root))
        if os.path.exists(self.scratch_root):
            assert stat.S_ISDIR(os.stat(self.scratch_root).st_mode)
            os.rmdir(self.scratch_root)
        left = self._children()
        assert left == [], left

    def _children(self) -> list[psutil.Process]:
        return [p for p in psutil.Process().children(recursive=True)
                if p.status() != psutil.STATUS_ZOMBIE and p.create_time() >= self.started_at - 1]


@pytest.fixture(scope="module")
def harness() -> Iterator[_Harness]:
    skip_unless_escape_layers()
    h = _Harness()
    yield h
    h.close()


@given(codes=st.lists(programs(), min_size=1, max_size=4))
@settings(max_examples=4, deadline=None, phases=PHASES, suppress_health_check=[HealthCheck.too_slow])
def test_generated_programs_never_escape_hang_or_leak(harness: _Harness, codes: list[str]) -> None:
    harness.check(codes)


@pytest.mark.fuzz
@pytest.mark.timeout(HEAVY_TIMEOUT_S)
@given(codes=st.lists(programs(with_hangs=True), min_size=2, max_size=10))
@settings(max_examples=HEAVY_EXAMPLES, deadline=None, phases=PHASES, suppress_health_check=[HealthCheck.too_slow])
def test_fuzzed_program_batches_never_escape_hang_or_leak(harness: _Harness, codes: list[str]) -> None:
    harness.check(codes)
