"""Sandbox throughput, in one run: ours (all layers) vs the bare fork-server (layers off) vs a
fresh interpreter per call (the ReTool recipe's design), for trivial, CPU-heavy, import-heavy
(numpy) and sympy snippets (the module pre-imported by ours, imported per call by the baseline)
at concurrency 1, 8, 32 and 128, and ours against the fork floor of a lean process. Ours is measured with
every default layer or not at all: on a host without one its cases skip, naming the layer.

Each case records executions/s, p50/p99 latency and CPU-ms per call in ``extra_info``; the last
test prints the ratios (ours / spawn-per-call, ours - bare). With ``--benchmark-disable`` (CI)
each case runs only a few executions so the file never rots; run
``pytest benchmarks/bench_sandbox.py --benchmark-enable -s`` for figures. No timing is asserted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from retool.sandbox import SandboxUnavailableError
from retool.sandbox.bench import (
    RUNNER_KINDS,
    SNIPPET_MODULES,
    SNIPPETS,
    ThroughputResult,
    make_runner,
    measure_fork_floor,
    measure_throughput,
    warm_up,
)
from tests.capabilities import skip_unless_isolation

LEVELS = (1, 8, 32, 128)
RUNNERS = RUNNER_KINDS
RESULTS: dict[tuple[str, str, int], ThroughputResult] = {}
ENABLED: list[bool] = []  # whether timings were taken (not --benchmark-disable)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def runners(loop: asyncio.AbstractEventLoop) -> Iterator[dict[tuple[str, str], Any]]:
    """(kind, snippet) -> a started runner; sandboxes are shared by snippets needing the same modules."""
    made: dict[tuple[str, tuple[str, ...]], Any] = {}
    table: dict[tuple[str, str], Any] = {}
    for kind in RUNNERS:
        for snippet in SNIPPETS:
            key = (kind, SNIPPET_MODULES.get(snippet, ()))
            if key not in made:
                try:
                    made[key] = make_runner(kind, concurrency=max(LEVELS), snippet=snippet)
                except SandboxUnavailableError:
                    made[key] = None  # the cases of this runner skip with the reason
                else:
                    loop.run_until_complete(warm_up(made[key], max(LEVELS)))
            table[(kind, snippet)] = made[key]
    yield table
    for runner in made.values():
        if runner is not None:
            loop.run_until_complete(runner.close())


def _n(runner: str, level: int, enabled: bool) -> int:
    if not enabled:
        return 1 if runner == "spawn-per-call" else 3
    if runner == "spawn-per-call":
        return max(level, 16)
    return max(4 * level, 100)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("snippet", sorted(SNIPPETS))
@pytest.mark.parametrize("runner", RUNNERS)
def test_throughput(benchmark: Any, loop: asyncio.AbstractEventLoop, runners: dict[tuple[str, str], Any],
                    runner: str, snippet: str, level: int) -> None:
    if runners.get((runner, snippet)) is None:  # ours refused this host: its figures are for every layer
        skip_unless_isolation()
    code, expect = SNIPPETS[snippet]
    n = _n(runner, level, not benchmark.disabled)
    ENABLED[:] = [not benchmark.disabled]
    results: list[ThroughputResult] = []

    def target() -> None:
        results.append(loop.run_until_complete(measure_throughput(runners[(runner, snippet)], code, level, n, expect)))

    benchmark.pedantic(target, rounds=1, iterations=1)
    (result,) = results
    RESULTS[(runner, snippet, level)] = result
    benchmark.extra_info.update(exec_per_s=result.exec_per_s, p50_ms=result.p50_s * 1e3, p99_ms=result.p99_s * 1e3,
                                cpu_ms_per_exec=result.cpu_ms_per_exec, n=n)
    assert result.failures == 0, f"{runner} gave wrong output on {result.failures}/{n} {snippet} runs"


def test_ratios_in_this_run(capsys: pytest.CaptureFixture[str]) -> None:
    lines = []
    for snippet in sorted(SNIPPETS):
        for level in LEVELS:
            ours = RESULTS.get(("sandbox", snippet, level))
            base = RESULTS.get(("spawn-per-call", snippet, level))
            bare = RESULTS.get(("bare-fork-server", snippet, level))
            if ours and base and bare:
                lines.append(f"{snippet:>8} @ {level:>3}: {ours.exec_per_s:7.1f}/s = {ours.exec_per_s / base.exec_per_s:5.1f}x "
                             f"spawn-per-call ({base.exec_per_s:.1f}/s); layers {ours.cpu_ms_per_exec - bare.cpu_ms_per_exec:+.2f} "
                             f"CPU-ms/exec, {(ours.p50_s - bare.p50_s) * 1e3:+.2f} ms p50")
    if not lines:
        skip_unless_isolation()  # ours could not start: no ratio to give
        pytest.skip("needs the throughput cases of this file in the same session (they were deselected)")
    if not all(ENABLED):
        return  # a few executions per case: ratios would be noise
    floor = measure_fork_floor(500)  # the physical limit, measured in the same run
    for snippet in sorted(SNIPPETS):
        ours = RESULTS.get(("sandbox", snippet, 32))
        if ours:
            lines.append(f"{snippet:>8} @  32: {ours.cpu_ms_per_exec:.2f} CPU-ms/exec = "
                         f"{ours.cpu_ms_per_exec / floor:.1f}x the fork floor of a lean process ({floor:.2f} CPU-ms)")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
