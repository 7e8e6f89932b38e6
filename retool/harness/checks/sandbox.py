"""The sandbox checks: the escape and limits battery, and executions/s against spawn-per-call.

Contract:
- :func:`check_sandbox_battery` runs :func:`retool.sandbox.audit.audit` with ``techniques``
  (default: every one in ``TECHNIQUES``) against a fresh sandbox from ``config.sandbox_factory``
  (default: ``PythonSandbox`` with every layer on). It passes only when every technique was run
  and blocked and no effect went unattributed; an escape, an error, a skip or a missing finding
  fails, named with its effects. Zero techniques is a failure.
- :func:`check_throughput` runs ``print(2 + 2)`` ``config.bench_executions`` times through
  ``PythonSandbox`` and a quarter as many (at least 8) through a fresh interpreter per call, at
  concurrency 32: it passes at a ratio of 5x or more with every output right in both.
  ``bench_executions < 1`` is a failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from retool.harness.verify import CheckResult, VerifyConfig

__all__ = ["check_sandbox_battery", "check_throughput"]


def check_sandbox_battery(config: VerifyConfig, *, techniques: Sequence[Any] | None = None) -> CheckResult:
    """See the module contract; ``techniques`` narrows the battery (a tuple of ``Technique``)."""
    from retool import load_callable
    from retool.sandbox.audit import TECHNIQUES, audit

    battery = TECHNIQUES if techniques is None else tuple(techniques)
    if not battery:
        return CheckResult(name="sandbox-battery", ok=False, figure="0 techniques",
                           detail="no techniques to run: a battery of zero cases passes any sandbox",
                           advice="run the full battery (retool.sandbox.audit.TECHNIQUES)", data={"escaped": []})
    factory = (load_callable(config.sandbox_factory, what="--sandbox", example="pkg.module:Factory")
               if config.sandbox_factory else _default_sandbox_factory(config))
    sandbox = factory()
    try:
        report = asyncio.run(audit(sandbox, techniques=battery))
    finally:
        _close(sandbox)
    escaped = [f.name for f in report.results if f.verdict != "blocked"]
    named = [f"{f.name} ({f.verdict}{': ' + ', '.join(f.effects) if f.effects else ''})"
             for f in report.results if f.verdict != "blocked"]
    missing = sorted({t.name for t in battery} - {f.name for f in report.results})
    problems = named[:8] + ([f"... {len(named) - 8} more"] if len(named) > 8 else [])
    problems += [f"unattributed effect: {u}" for u in report.unattributed]
    problems += [f"no finding for {', '.join(missing[:8])}"] if missing else []
    blocked = len(report.results) - len(escaped)
    return CheckResult(
        name="sandbox-battery",
        ok=not problems,
        figure=f"{blocked}/{len(battery)} techniques blocked" + weaker_note(config),
        detail="" if not problems else "escaped or failed: " + "; ".join(problems),
        advice="" if not problems else "the sandbox lets code out: use retool.sandbox.PythonSandbox with every layer on",
        data={"escaped": escaped, "unattributed": list(report.unattributed), "missing": missing},
    )


def _default_sandbox_factory(config: VerifyConfig):
    from retool.sandbox import PythonSandbox

    return lambda: PythonSandbox(timeout=3, memory_limit="256MB", allow_weaker=config.sandbox_allow_weaker)


def weaker_note(config: VerifyConfig) -> str:
    """`` (weaker: uid missing)`` when the checks run our sandbox without some default layer, else ``""``."""
    if not config.sandbox_allow_weaker or config.sandbox_factory:
        return ""
    from retool.sandbox.isolation import probe_layers

    missing = sorted(name for name, why in probe_layers().items() if why)
    return f" (weaker: {', '.join(missing)} missing)" if missing else ""


def _close(sandbox: Any) -> None:
    close = getattr(sandbox, "close", None)
    if close is None:
        return
    result = close()
    if asyncio.iscoroutine(result):
        asyncio.run(result)


def check_throughput(config: VerifyConfig) -> CheckResult:
    """See the module contract."""
    if config.bench_executions < 1:
        return CheckResult(name="sandbox-throughput", ok=False, figure=f"bench_executions={config.bench_executions}",
                           detail="no executions to measure (zero cases would pass any sandbox)",
                           advice="set --bench-executions to 1 or more (default 64)")
    return asyncio.run(_throughput(config))


async def _throughput(config: VerifyConfig) -> CheckResult:
    from retool.sandbox import PythonSandbox
    from retool.sandbox.bench import SpawnPerCallRunner, measure_throughput, warm_up

    concurrency, n = 32, config.bench_executions
    async with PythonSandbox(timeout=30, concurrency=concurrency, allow_weaker=config.sandbox_allow_weaker) as ours:
        await warm_up(ours, concurrency)
        fast = await measure_throughput(ours, "print(2 + 2)", concurrency, n, expect="4")
    slow = await measure_throughput(SpawnPerCallRunner(timeout_s=30), "print(2 + 2)", concurrency, max(n // 4, 8), expect="4")
    ratio = fast.exec_per_s / slow.exec_per_s
    ok = ratio >= 5 and fast.failures == 0 and slow.failures == 0
    return CheckResult(
        name="sandbox-throughput",
        ok=ok,
        figure=(f"{fast.exec_per_s:.0f} exec/s vs {slow.exec_per_s:.0f} spawn-per-call = {ratio:.1f}x at concurrency "
                f"{concurrency}; p99 {fast.p99_s * 1e3:.0f} ms; {fast.cpu_ms_per_exec:.1f} vs {slow.cpu_ms_per_exec:.1f} CPU-ms"
                + weaker_note(config)),
        detail="" if ok else (f"ratio {ratio:.1f}x below 5x or wrong outputs ({fast.failures} of {fast.n} ours, "
                              f"{slow.failures} of {slow.n} spawn-per-call)"),
        advice="" if ok else "run `retool bench sandbox` on an idle machine; check `retool sandbox info`",
        data={"ratio": ratio, "ours_exec_per_s": fast.exec_per_s, "spawn_exec_per_s": slow.exec_per_s},
    )
