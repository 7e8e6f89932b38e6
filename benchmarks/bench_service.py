"""The sandbox as a service, in one run: executions/s through ``retool sandbox serve`` (a separate
process, reached by ``RemoteSandbox`` over loopback HTTP) against the in-process ``PythonSandbox``
and against spawn-per-call, at concurrency 32 and 128, on the trivial snippet.

Both sandboxes have every default layer and 128 slots; the service and the in-process sandbox
are measured in paired rounds (alternating which goes first), each round's ratio taken, and the
median ratio recorded under the gate's convention (``service_exec_per_s_over_inprocess_c{level}``,
group ``sandbox-wall``: wall clock, as noisy as the machine's load). The goal: the service keeps at
least 70% of in-process throughput at concurrency 32 on 2 cores. With ``--benchmark-disable``
(CI) each case runs a few executions so the file never rots; run
``pytest benchmarks/bench_service.py --benchmark-enable -s`` for figures. No timing is asserted.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from retool.harness.bench.results import make_result
from retool.sandbox import PythonSandbox
from retool.sandbox.bench import SNIPPETS, SpawnPerCallRunner, ThroughputResult, measure_throughput
from retool.sandbox.service.remote import RemoteSandbox
from tests.capabilities import missing_isolation, skip_unless_isolation

ROOT = Path(__file__).resolve().parents[1]
LEVELS = (32, 128)
CODE, EXPECT = SNIPPETS["trivial"]
SLOTS = 128
FIGURES: dict[str, str] = {}
ENABLED: list[bool] = []  # whether timings were taken (not --benchmark-disable)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def runners(loop: asyncio.AbstractEventLoop) -> Iterator[dict[str, Any]]:
    if missing_isolation():
        skip_unless_isolation()  # the figures are for every layer, as in bench_sandbox.py
    argv = [sys.executable, "-m", "retool.cli.sandbox_serve", "--port", "0", "--preset", "retool",
            "--concurrency", str(SLOTS), "--timeout-s", "60", "--uid-base", "64000", "--max-queue", "1024"]
    server = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("serving "), line
        remote = RemoteSandbox(line.split()[1])
        local = PythonSandbox(concurrency=SLOTS, timeout=60, uid_base=64400)
        spawn = SpawnPerCallRunner(timeout_s=60)
        loop.run_until_complete(local.start())
        loop.run_until_complete(remote.start())
        for runner in (local, remote):  # warm: zygotes started, connections open
            loop.run_until_complete(measure_throughput(runner, CODE, SLOTS, 2 * SLOTS, EXPECT))
        yield {"in-process": local, "service": remote, "spawn-per-call": spawn}
        loop.run_until_complete(remote.close())
        loop.run_until_complete(local.close())
    finally:
        server.terminate()
        server.wait(60)


def _rate(loop: asyncio.AbstractEventLoop, runner: Any, level: int, n: int) -> ThroughputResult:
    result = loop.run_until_complete(measure_throughput(runner, CODE, level, n, EXPECT))
    assert result.failures == 0, f"{result.failures}/{n} runs gave the wrong output"
    return result


@pytest.mark.parametrize("level", LEVELS)
def test_service_over_in_process(benchmark: Any, loop: asyncio.AbstractEventLoop, runners: dict[str, Any],
                                 record_ratio: Any, level: int) -> None:
    timing = not benchmark.disabled
    ENABLED[:] = [timing]
    rounds, n = (5, max(3 * level, 200)) if timing else (1, 4)
    pairs: list[tuple[ThroughputResult, ThroughputResult]] = []

    def target() -> None:
        for index in range(rounds):
            order = ("in-process", "service") if index % 2 == 0 else ("service", "in-process")
            got = {name: _rate(loop, runners[name], level, n) for name in order}
            pairs.append((got["service"], got["in-process"]))

    benchmark.pedantic(target, rounds=1, iterations=1)
    ratio = statistics.median(s.exec_per_s / i.exec_per_s for s, i in pairs)
    service = statistics.median(s.exec_per_s for s, _ in pairs)
    local = statistics.median(i.exec_per_s for _, i in pairs)
    spawn = _rate(loop, runners["spawn-per-call"], level, max(level, 32) if timing else 2)
    benchmark.extra_info.update(service_exec_per_s=service, in_process_exec_per_s=local,
                                spawn_per_call_exec_per_s=spawn.exec_per_s,
                                service_p99_ms=statistics.median(s.p99_s for s, _ in pairs) * 1e3,
                                ratio_per_round=[s.exec_per_s / i.exec_per_s for s, i in pairs], rounds=rounds, n=n)
    record_ratio(make_result(name=f"service_exec_per_s_over_inprocess_c{level}", group="sandbox-wall",
                             value=ratio, baseline=1.0,
                             unit="service exec/s as a fraction of in-process (median of paired rounds)"))
    FIGURES[f"c{level}"] = (f"@{level:>3}: service {service:6.1f}/s, in-process {local:6.1f}/s "
                            f"(median ratio {ratio:.0%} of {rounds} paired rounds), spawn-per-call {spawn.exec_per_s:5.1f}/s "
                            f"-> service {service / spawn.exec_per_s:.1f}x spawn-per-call")


def test_figures_in_this_run(capsys: pytest.CaptureFixture[str]) -> None:
    if not FIGURES:
        skip_unless_isolation()
        pytest.skip("needs the throughput cases of this file in the same session (they were deselected)")
    if not all(ENABLED):
        return  # a few executions per case: figures would be noise
    with capsys.disabled():
        print(f"\nservice vs in-process vs spawn-per-call ({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}):")
        print("\n".join(FIGURES[k] for k in sorted(FIGURES)))
