"""Contract tests of ``retool.sandbox.bench`` on tiny ``n``: what ``measure_throughput`` counts
(calls, in-flight bound, failures against ``expect``), the spawn-per-call baseline, runner
construction, ``bench_table``/``measure_layer_overhead`` argument checks and rows, and
``format_table``'s rows and ratios. Behaviour only: no assertion depends on how fast anything is."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from retool.sandbox import LAYERS, PythonSandbox, SandboxUnavailableError, isolation
from retool.sandbox.bench import (
    RUNNER_KINDS,
    SNIPPETS,
    BenchRow,
    SpawnPerCallRunner,
    ThroughputResult,
    bench_table,
    default_runs,
    format_table,
    make_runner,
    measure_layer_overhead,
    measure_throughput,
)
from tests.capabilities import requires_isolation, sandbox_options


class CountingRunner:
    """Answers after a short sleep; records the calls and the peak number in flight."""

    def __init__(self, answers: list[str] | None = None) -> None:
        self.answers = answers or []
        self.calls = 0
        self.in_flight = 0
        self.peak = 0

    async def execute_code(self, code: str) -> str:
        answer = self.answers[self.calls % len(self.answers)] if self.answers else code
        self.calls += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.005)
        self.in_flight -= 1
        return answer


# --- measure_throughput ----------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_every_call_is_made_and_counted() -> None:
    runner = CountingRunner()
    result = await measure_throughput(runner, "x", concurrency=3, n=7)
    assert (runner.calls, result.n, result.concurrency, result.failures) == (7, 7, 3, 0)


@pytest.mark.asyncio
@pytest.mark.parametrize("concurrency", [1, 4])
async def test_no_more_than_concurrency_calls_are_in_flight(concurrency: int) -> None:
    runner = CountingRunner()
    await measure_throughput(runner, "x", concurrency=concurrency, n=12)
    assert runner.peak == concurrency


@pytest.mark.asyncio
async def test_calls_whose_text_lacks_the_expected_output_are_failures() -> None:
    runner = CountingRunner(["4\n", "Error: boom", "4\n", "[timeout]"])
    assert (await measure_throughput(runner, "x", 2, 8, expect="4")).failures == 4


@pytest.mark.asyncio
async def test_without_expect_nothing_is_a_failure() -> None:
    assert (await measure_throughput(CountingRunner(["Error"]), "x", 1, 3)).failures == 0


@pytest.mark.asyncio
async def test_rate_and_latencies_are_positive_and_ordered() -> None:
    result = await measure_throughput(CountingRunner(), "x", 2, 5)
    assert result.exec_per_s > 0 and 0 < result.p50_s <= result.p99_s and result.cpu_ms_per_exec >= 0


@pytest.mark.asyncio
@pytest.mark.parametrize(("concurrency", "n"), [(0, 1), (1, 0), (-1, 5)])
async def test_non_positive_concurrency_or_n_is_rejected(concurrency: int, n: int) -> None:
    runner = CountingRunner()
    with pytest.raises(ValueError, match="positive"):
        await measure_throughput(runner, "x", concurrency, n)
    assert runner.calls == 0


@pytest.mark.asyncio
async def test_a_real_sandbox_is_measured_without_failures() -> None:
    async with PythonSandbox(timeout=10, concurrency=2, zygotes=1, uid_base=62300, **sandbox_options()) as sandbox:
        result = await measure_throughput(sandbox, "print(2 + 2)", 2, 4, expect="4")
    assert (result.n, result.failures) == (4, 0) and result.cpu_ms_per_exec > 0


# --- SpawnPerCallRunner ----------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_spawn_per_call_returns_stdout_and_stderr_together() -> None:
    runner = SpawnPerCallRunner()
    text = await runner.execute_code("import sys\nprint('out')\nsys.stderr.write('err')")
    assert text == "out\nerr" and runner.python == sys.executable


@pytest.mark.asyncio
async def test_spawn_per_call_inherits_the_parent_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETOOL_BENCH_TEST", "visible")
    assert await SpawnPerCallRunner().execute_code("import os\nprint(os.environ['RETOOL_BENCH_TEST'])") == "visible\n"


@pytest.mark.asyncio
async def test_spawn_per_call_times_out_with_a_marker() -> None:
    runner = SpawnPerCallRunner(timeout_s=0.3)
    assert await runner.execute_code("import time\ntime.sleep(30)") == "[timeout after 0.3 s]"


def test_spawn_per_call_rejects_a_non_positive_timeout() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        SpawnPerCallRunner(timeout_s=0)


@pytest.mark.asyncio
@pytest.mark.parametrize("name", sorted(SNIPPETS))
async def test_each_benchmark_snippet_prints_what_it_is_checked_for(name: str) -> None:
    code, expect = SNIPPETS[name]  # "import" runs numpy, a dependency of retool-harness
    assert expect in await SpawnPerCallRunner(timeout_s=60).execute_code(code)


# --- make_runner -----------------------------------------------------------------------------------
# make_runner("sandbox") is the benchmark's subject, ours with every default layer: it refuses a host
# without one, so the tests that build it need them all.
@pytest.mark.asyncio
async def test_make_runner_builds_the_baselines_on_any_host() -> None:
    spawn = make_runner("spawn-per-call", concurrency=2)
    bare = make_runner("bare-fork-server", concurrency=2)
    try:
        assert isinstance(spawn, SpawnPerCallRunner) and spawn.timeout_s == 60
        assert {v for k, v in bare.layers().items() if k != "import_guard"} == {"disabled by config"}
    finally:
        for runner in (spawn, bare):
            await runner.close()


@requires_isolation
@pytest.mark.asyncio
async def test_make_runner_builds_ours_with_every_layer() -> None:
    ours = make_runner("sandbox", concurrency=2)
    try:
        assert ours.config.layers == frozenset(LAYERS) and ours.config.timeout_s == 60 and ours.config.concurrency == 2
        assert {v for k, v in ours.layers().items() if k != "import_guard"} == {"active"}
    finally:
        await ours.close()


def test_make_runner_refuses_to_measure_ours_without_a_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    probed = isolation.probe_layers()
    monkeypatch.setattr(isolation, "probe_layers", lambda: {**probed, "uid": "not root (simulated)"})
    with pytest.raises(SandboxUnavailableError, match="uid: not root \\(simulated\\)"):
        make_runner("sandbox", concurrency=1)


@requires_isolation
@pytest.mark.asyncio
async def test_make_runner_allows_the_modules_its_snippet_needs() -> None:
    runner = make_runner("sandbox", concurrency=1, snippet="import")
    try:
        assert "numpy" in runner.config.allowed_modules and "math" in runner.config.allowed_modules
    finally:
        await runner.close()


def test_make_runner_rejects_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="runner kind"):
        make_runner("docker", concurrency=1)


def test_runner_kinds_are_the_three_compared() -> None:
    assert RUNNER_KINDS == ("sandbox", "bare-fork-server", "spawn-per-call")


# --- bench_table and measure_layer_overhead --------------------------------------------------------
@pytest.mark.asyncio
@pytest.mark.parametrize(("concurrencies", "snippets"), [((), ("trivial",)), ((1, 0), ("trivial",)),
                                                         ((1,), ("nonexistent",))])
async def test_bench_table_rejects_bad_arguments(concurrencies: tuple[int, ...], snippets: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        await bench_table(concurrencies, snippets=snippets)


@requires_isolation
@pytest.mark.asyncio
async def test_bench_table_gives_one_row_per_runner_and_level() -> None:
    rows = await bench_table((1, 2), runs_per_level=2, include_bare=False)
    assert [(r.runner, r.snippet, r.result.concurrency) for r in rows] == [
        ("sandbox", "trivial", 1), ("sandbox", "trivial", 2),
        ("spawn-per-call", "trivial", 1), ("spawn-per-call", "trivial", 2)]
    assert all(r.result.n == 2 and r.result.failures == 0 for r in rows)


@pytest.mark.asyncio
@pytest.mark.parametrize("kw", [{"rounds": 0}, {"n_per_round": 0}])
async def test_layer_overhead_rejects_empty_rounds(kw: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="positive"):
        await measure_layer_overhead(**kw)


@requires_isolation
@pytest.mark.asyncio
async def test_layer_overhead_reports_both_sides_and_their_difference() -> None:
    result = await measure_layer_overhead(rounds=1, n_per_round=2, concurrency=1)
    assert (result.rounds, result.n_per_round) == (1, 2)
    assert result.overhead_ms == pytest.approx(result.with_layers_ms - result.bare_ms)


# --- format_table ----------------------------------------------------------------------------------
def row(runner: str, level: int, rate: float, cpu_ms: float = 1.0, p50_s: float = 0.01, snippet: str = "trivial") -> BenchRow:
    return BenchRow(runner=runner, snippet=snippet, result=ThroughputResult(
        exec_per_s=rate, p50_s=p50_s, p99_s=2 * p50_s, n=10, concurrency=level, failures=0, cpu_ms_per_exec=cpu_ms))


def test_the_table_header_names_the_cpus_and_every_row_is_listed() -> None:
    rows = [row("sandbox", 1, 200.0), row("spawn-per-call", 1, 20.0)]
    lines = format_table(rows).splitlines()
    assert lines[0].startswith(f"# {os.cpu_count()} CPUs, load average")
    assert lines[1].split() == ["runner", "snippet", "conc", "n", "exec/s", "p50", "ms", "p99", "ms", "cpu", "ms", "fail"]
    assert lines[2].split()[:5] == ["sandbox", "trivial", "1", "10", "200.0"]
    assert lines[3].split()[:5] == ["spawn-per-call", "trivial", "1", "10", "20.0"]


def test_the_summary_gives_the_ratio_to_the_baseline() -> None:
    text = format_table([row("sandbox", 4, 300.0), row("spawn-per-call", 4, 30.0)])
    assert text.splitlines()[-1] == "trivial @ 4: 10.0x spawn-per-call"


def test_the_summary_gives_the_layer_cost_over_the_bare_fork_server() -> None:
    text = format_table([row("sandbox", 2, 100.0, cpu_ms=3.0, p50_s=0.004),
                         row("bare-fork-server", 2, 120.0, cpu_ms=2.5, p50_s=0.003)])
    assert text.splitlines()[-1] == "trivial @ 2: layers add +0.50 CPU-ms/exec, +1.00 ms p50"


def test_levels_without_our_sandbox_get_no_summary() -> None:
    text = format_table([row("spawn-per-call", 1, 30.0)])
    assert len(text.splitlines()) == 3


def test_default_runs_give_every_runner_several_rounds_of_its_level() -> None:
    assert default_runs("sandbox", 32) == 640 and default_runs("bare-fork-server", 1) == 200
    assert default_runs("spawn-per-call", 32) == 128 and default_runs("spawn-per-call", 2) == 16
