"""Sandbox throughput measurement: executions/s and latency percentiles under a concurrency.

Contract: ``await measure_throughput(runner, code, concurrency, n)`` runs ``code`` ``n`` times
through ``runner.execute_code`` with at most ``concurrency`` calls in flight and returns
``ThroughputResult(exec_per_s, p50_s, p99_s, n, concurrency, failures)``; ``failures`` counts calls
whose text does not contain ``expect`` (when given), so a runner that breaks is never reported
as fast. ``SpawnPerCallRunner`` is the baseline that the ReTool recipe's sandbox represents: a
fresh interpreter process per call (``asyncio`` subprocess, ``python -c code``, the parent's
environment minus nothing, a wall-clock timeout), no isolation. ``bench_table`` measures ours
(all layers), ours without layers (the bare fork-server) and the baseline over a list of
concurrencies and returns rows for printing; ``measure_layer_overhead`` gives the CPU-ms per
execution that the security layers add over the bare fork-server (paired rounds, median);
``measure_fork_floor`` is the CPU-ms of one fork + exit + wait of a lean interpreter (the
physical floor of any fork-per-execution design, measured in the same run);
``retool sandbox bench`` and ``benchmarks/`` call them.
Figures depend on the machine and its load: report them with the CPU count and load average.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

SNIPPETS: dict[str, tuple[str, str]] = {  # name -> (code, text the output must contain)
    "trivial": ("print(2 + 2)", "4"),
    "cpu": ("print(sum(i * i for i in range(200_000)))", "2666646666700000"),
    "import": ("import numpy as np\nprint(int(np.arange(10).sum()))", "45"),
    "sympy": ("import sympy as sp\nx = sp.Symbol('x')\nprint(sp.factor(x**2 - 1), sp.diff(sp.sin(x) * x, x))",
              "(x - 1)*(x + 1) x*cos(x) + sin(x)"),
}
SNIPPET_MODULES: dict[str, tuple[str, ...]] = {"import": ("numpy",), "sympy": ("sympy",)}  # allowed on top of the defaults
RUNNER_KINDS: tuple[str, ...] = ("sandbox", "bare-fork-server", "spawn-per-call")


class CodeRunner(Protocol):
    async def execute_code(self, code: str) -> str: ...


@dataclass(frozen=True, kw_only=True)
class ThroughputResult:
    exec_per_s: float
    p50_s: float
    p99_s: float
    n: int
    concurrency: int
    failures: int
    cpu_ms_per_exec: float  # supervisor + zygotes + children (or spawned processes), per call


def _cpu_s(runner: Any) -> float:
    """CPU seconds of this process, its reaped children and the runner's zygote trees."""
    t = os.times()
    own = t.user + t.system + t.children_user + t.children_system
    return own + (_zygote_tree_cpu_s(runner) if hasattr(runner, "zygote_pids") else 0.0)


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        raise ValueError("no latencies to summarise")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


async def measure_throughput(runner: CodeRunner, code: str, concurrency: int, n: int,
                             expect: str | None = None) -> ThroughputResult:
    """Run ``code`` ``n`` times, ``concurrency`` at a time; wall-clock rate and latencies."""
    if concurrency <= 0 or n <= 0:
        raise ValueError(f"concurrency and n must be positive, got concurrency={concurrency} n={n}")
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    failures = 0

    async def one() -> None:
        nonlocal failures
        async with gate:
            started = time.perf_counter()
            text = await runner.execute_code(code)
            latencies.append(time.perf_counter() - started)
            if expect is not None and expect not in text:
                failures += 1

    cpu_before = _cpu_s(runner)
    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    wall = time.perf_counter() - started
    cpu = _cpu_s(runner) - cpu_before
    latencies.sort()
    return ThroughputResult(exec_per_s=n / wall, p50_s=_percentile(latencies, 0.5), p99_s=_percentile(latencies, 0.99),
                            n=n, concurrency=concurrency, failures=failures, cpu_ms_per_exec=cpu / n * 1e3)


class SpawnPerCallRunner:
    """Baseline: one fresh ``python -c`` per call (default: this interpreter, with ``site``)."""

    def __init__(self, *, python: str | None = None, timeout_s: float = 120.0) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.python = python or sys.executable
        self.timeout_s = timeout_s

    async def execute_code(self, code: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            self.python, "-c", code, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), self.timeout_s)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            return f"[timeout after {self.timeout_s:g} s]"
        return out.decode("utf-8", "replace")

    async def close(self) -> None:
        return None


@dataclass(frozen=True, kw_only=True)
class BenchRow:
    runner: str
    snippet: str
    result: ThroughputResult


def make_runner(kind: str, *, concurrency: int, snippet: str = "trivial", module_preset: str | None = None) -> Any:
    """A runner of ``kind`` (see ``RUNNER_KINDS``) able to run ``snippet``; timeout 60 s."""
    from retool.sandbox import DEFAULT_ALLOWED_MODULES, PythonSandbox  # noqa: PLC0415

    if kind == "spawn-per-call":
        return SpawnPerCallRunner(timeout_s=60)
    if kind not in RUNNER_KINDS:
        raise ValueError(f"runner kind must be one of {RUNNER_KINDS}, got {kind!r}")
    modules = DEFAULT_ALLOWED_MODULES + SNIPPET_MODULES.get(snippet, ())
    layers = {} if kind == "sandbox" else {"layers": frozenset()}
    return PythonSandbox(concurrency=concurrency, timeout=60, allowed_modules=modules, module_preset=module_preset,
                         **layers)


async def warm_up(runner: Any, concurrency: int) -> None:
    """Start the zygotes and run a few calls so start-up is not part of the rate."""
    if hasattr(runner, "start"):
        await runner.start()
    await asyncio.gather(*(runner.execute_code("1") for _ in range(min(concurrency, 8))))


def default_runs(kind: str, level: int) -> int:
    """Executions per level when none is given: enough for the steady state at that concurrency
    (20 rounds of ``level`` for a forking runner, 4 for the slow baseline). Pure."""
    return max(4 * level, 16) if kind == "spawn-per-call" else max(20 * level, 200)


async def bench_table(concurrencies: Sequence[int], *, snippets: Sequence[str] = ("trivial",),
                      runs_per_level: int | None = None, include_baseline: bool = True,
                      include_bare: bool = True, module_preset: str | None = None) -> list[BenchRow]:
    """Ours (all layers), the bare fork-server and the spawn-per-call baseline, per level."""
    unknown = [s for s in snippets if s not in SNIPPETS]
    if unknown or not concurrencies or min(concurrencies) <= 0:
        raise ValueError(f"snippets must be in {sorted(SNIPPETS)} and concurrencies positive, got {snippets} {concurrencies}")
    kinds = [k for k in RUNNER_KINDS if (k != "bare-fork-server" or include_bare) and (k != "spawn-per-call" or include_baseline)]
    rows: list[BenchRow] = []
    for snippet in snippets:
        code, expect = SNIPPETS[snippet]
        for kind in kinds:
            runner = make_runner(kind, concurrency=max(concurrencies), snippet=snippet, module_preset=module_preset)
            try:
                await warm_up(runner, max(concurrencies))
                for level in concurrencies:
                    n = runs_per_level or default_runs(kind, level)
                    result = await measure_throughput(runner, code, level, n, expect)
                    rows.append(BenchRow(runner=kind, snippet=snippet, result=result))
            finally:
                await runner.close()
    return rows


@dataclass(frozen=True, kw_only=True)
class LayerOverhead:
    """Per-execution CPU of the sandbox processes (zygotes + children), layers on vs off."""

    with_layers_ms: float
    bare_ms: float
    overhead_ms: float  # median over paired rounds of (with - bare)
    rounds: int
    n_per_round: int


def _zygote_tree_cpu_s(runner: Any) -> float:
    import psutil  # noqa: PLC0415

    total = 0.0
    for pid in runner.zygote_pids():
        try:
            z = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += z.user + z.system + z.children_user + z.children_system
    return total


async def measure_layer_overhead(*, rounds: int = 5, n_per_round: int = 200, concurrency: int = 8,
                                 code: str = "print(2 + 2)") -> LayerOverhead:
    """Alternate rounds of the same snippet through ours and the bare fork-server and compare
    the CPU their zygotes and children spent per execution (the supervisor's share is the same
    code path for both). Pairing and the median keep a loaded machine's drift out of the ratio."""
    if rounds <= 0 or n_per_round <= 0:
        raise ValueError(f"rounds and n_per_round must be positive, got {rounds} {n_per_round}")
    ours = make_runner("sandbox", concurrency=concurrency)
    bare = make_runner("bare-fork-server", concurrency=concurrency)
    per_exec: dict[str, list[float]] = {"ours": [], "bare": []}
    try:
        for runner in (ours, bare):
            await warm_up(runner, concurrency)
        for _ in range(rounds):
            for name, runner in (("ours", ours), ("bare", bare)):
                before = _zygote_tree_cpu_s(runner)
                await measure_throughput(runner, code, concurrency, n_per_round)
                per_exec[name].append((_zygote_tree_cpu_s(runner) - before) / n_per_round * 1e3)
    finally:
        await ours.close()
        await bare.close()
    diffs = sorted(a - b for a, b in zip(per_exec["ours"], per_exec["bare"]))
    return LayerOverhead(with_layers_ms=sorted(per_exec["ours"])[rounds // 2], bare_ms=sorted(per_exec["bare"])[rounds // 2],
                         overhead_ms=diffs[rounds // 2], rounds=rounds, n_per_round=n_per_round)


_FORK_FLOOR = """
import os, sys, time
n = int(sys.argv[1])
t = os.times(); start = t.user + t.system + t.children_user + t.children_system
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
t = os.times()
print((t.user + t.system + t.children_user + t.children_system - start) / n * 1e3)
"""


def measure_fork_floor(n: int = 500, *, python: str | None = None) -> float:
    """CPU-ms per fork + exit + wait of a lean process (``python -I -S``, nothing imported):
    the physical floor of any fork-per-execution design on this machine, measured now."""
    import subprocess  # noqa: PLC0415

    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    out = subprocess.run([python or sys.executable, "-I", "-S", "-c", _FORK_FLOOR, str(n)], capture_output=True,
                         text=True, check=True, timeout=300)
    return float(out.stdout.strip())


def format_table(rows: Sequence[BenchRow], fork_floor_ms: float | None = None) -> str:
    """Rows plus, per snippet and level, the ratio of ours to the baseline and the layer cost."""
    load = os.getloadavg()[0]
    lines = [f"# {os.cpu_count()} CPUs, load average {load:.1f} (shared machine: figures are indicative)",
             f"{'runner':<18}{'snippet':<9}{'conc':>5}{'n':>6}{'exec/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'cpu ms':>8}{'fail':>5}"]
    by_key = {(r.runner, r.snippet, r.result.concurrency): r.result for r in rows}
    for r in rows:
        t = r.result
        lines.append(f"{r.runner:<18}{r.snippet:<9}{t.concurrency:>5}{t.n:>6}{t.exec_per_s:>10.1f}"
                     f"{t.p50_s * 1e3:>9.1f}{t.p99_s * 1e3:>9.1f}{t.cpu_ms_per_exec:>8.2f}{t.failures:>5}")
    for (runner, snippet, level), ours in by_key.items():
        if runner != "sandbox":
            continue
        base = by_key.get(("spawn-per-call", snippet, level))
        bare = by_key.get(("bare-fork-server", snippet, level))
        parts = [f"{snippet} @ {level}:"]
        if base:
            parts.append(f"{ours.exec_per_s / base.exec_per_s:.1f}x spawn-per-call")
        if bare:
            parts.append(f"layers add {ours.cpu_ms_per_exec - bare.cpu_ms_per_exec:+.2f} CPU-ms/exec, "
                         f"{(ours.p50_s - bare.p50_s) * 1e3:+.2f} ms p50")
        if fork_floor_ms:
            parts.append(f"{ours.cpu_ms_per_exec:.2f} CPU-ms/exec = {ours.cpu_ms_per_exec / fork_floor_ms:.1f}x "
                         f"the fork floor ({fork_floor_ms:.2f})")
        lines.append(" ".join(parts))
    return "\n".join(lines)
