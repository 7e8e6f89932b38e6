"""Fixtures shared by the benchmark files (nothing here reaches the tests under ``tests/``).

- ``record_ratio(result)``: stores a :class:`retool.harness.bench.gate.BenchResult` in ``benchmark.extra_info``
  under the gate's convention (``name``, ``group``, ``value``, ``baseline``, ``unit``, ``ratio``,
  ``higher_is_better``), so ``pytest benchmarks --benchmark-enable --benchmark-json=new.json``
  followed by ``retool bench compare old.json new.json`` gates on it; prints the line with ``-s``.
- ``timing``: True when timings are taken (``--benchmark-enable``), False in the plain CI run
  (``--benchmark-disable`` is in addopts), where each benchmark shrinks its workload to run in a
  few seconds and so never rots.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from retool.harness.bench.results import BenchResult


@pytest.fixture
def timing(benchmark: Any) -> bool:
    return not benchmark.disabled


@pytest.fixture
def record_ratio(benchmark: Any) -> Callable[[BenchResult], BenchResult]:
    def record(result: BenchResult) -> BenchResult:
        if not isinstance(result, BenchResult):
            raise TypeError(f"record_ratio takes a retool.harness.bench.gate.BenchResult, got {type(result).__name__}")
        benchmark.extra_info.update(name=result.name, group=result.group, value=result.value,
                                    baseline=result.baseline, unit=result.unit, ratio=result.ratio,
                                    higher_is_better=result.higher_is_better)
        if not benchmark.disabled:
            print(f"\n{result.name}: {result.value:.4g} vs baseline {result.baseline:.4g} {result.unit} "
                  f"= {result.ratio:.3g}x")
        return result

    return record


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]) -> None:
    """Gate the sandbox cases too. bench_sandbox.py measures each runner as its own parametrized
    case, so the ratios are attached here, one per case, under ``retool bench run``'s names:
    the spawn-per-call case carries its CPU-ms per execution over ours (group ``sandbox``: CPU
    time, stable under load); our case carries our executions/s over spawn-per-call's, and the bare
    fork-server's case its executions/s over ours, the layers' cost (group ``sandbox-wall``: wall
    clock, as noisy as the machine's load; loosen it with ``--group-max-regression``)."""
    from retool.harness.bench.results import pair_ratios

    entries = output_json.get("benchmarks") or []
    entries = pair_ratios(entries, key="runner", ours="spawn-per-call", baseline="sandbox", metric="cpu_ms_per_exec",
                          name="sandbox_{snippet}_spawn_over_ours_cpu_ms_c{level}",
                          unit="spawn-per-call CPU-ms/exec vs ours", group="sandbox")
    entries = pair_ratios(entries, key="runner", ours="sandbox", baseline="spawn-per-call", metric="exec_per_s",
                          name="sandbox_{snippet}_exec_per_s_c{level}", unit="executions/s vs spawn-per-call",
                          group="sandbox-wall")
    entries = pair_ratios(entries, key="runner", ours="bare-fork-server", baseline="sandbox", metric="exec_per_s",
                          name="sandbox_{snippet}_bare_over_layers_exec_per_s_c{level}",
                          unit="bare fork-server executions/s vs ours with every layer", group="sandbox-wall",
                          higher_is_better=False)
    output_json["benchmarks"] = entries
