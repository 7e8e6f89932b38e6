"""Fixtures shared by the benchmark files (nothing here reaches the tests under ``tests/``).

- ``record_ratio(result)``: stores a :class:`retool.bench.BenchResult` in ``benchmark.extra_info``
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

from retool.bench import BenchResult


@pytest.fixture
def timing(benchmark: Any) -> bool:
    return not benchmark.disabled


@pytest.fixture
def record_ratio(benchmark: Any) -> Callable[[BenchResult], BenchResult]:
    def record(result: BenchResult) -> BenchResult:
        if not isinstance(result, BenchResult):
            raise TypeError(f"record_ratio takes a retool.bench.BenchResult, got {type(result).__name__}")
        benchmark.extra_info.update(name=result.name, group=result.group, value=result.value,
                                    baseline=result.baseline, unit=result.unit, ratio=result.ratio,
                                    higher_is_better=result.higher_is_better)
        if not benchmark.disabled:
            print(f"\n{result.name}: {result.value:.4g} vs baseline {result.baseline:.4g} {result.unit} "
                  f"= {result.ratio:.3g}x")
        return result

    return record
