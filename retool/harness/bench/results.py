"""Benchmark results: the machine-independent results file, its reader, and the conversion of
``pytest --benchmark-json`` output.

Contract:
- Every benchmark is recorded as a *ratio* against a baseline measured in the same run on the same
  machine, so load on a shared runner or a faster machine moves both sides alike.
- Results file (JSON)::

      {"machine": {"cpu_count", "platform", "python", "torch", "cuda_device"},
       "created": "2026-11-25T19:30:00+00:00",
       "results": [{"name", "group", "value", "unit", "baseline", "ratio", "higher_is_better"}]}

  ``ratio`` is ``value / baseline`` (both in ``unit``); ``higher_is_better`` says which way is good
  for the ratio (True for throughput, False for latency). ``value`` and ``baseline`` may be null
  when a benchmark only reports its ratio; ``name`` is unique within a file. An *error result*
  (:func:`make_error_result`) carries ``"error": "<what went wrong>"`` and ``"ratio": null``: a case
  that could not be measured because the measured code raised or overran (the adversarial group);
  in memory its ratio is NaN and the gate fails it. The readers raise ``ValueError`` naming the
  file, the entry and the field of the first malformed value.
- :func:`from_pytest_benchmark` converts ``pytest --benchmark-json`` output (:func:`load_results`
  does so on the fly for a file with ``benchmarks``). Convention: a benchmark test records
  ``benchmark.extra_info["ratio"]`` (required to be gated; an error result has ``["error"]``
  instead), and ``["value"]``, ``["baseline"]``, ``["unit"]``, optionally ``["higher_is_better"]`` (default True) ``["group"]`` (default: the
  pytest-benchmark group, else the test module) and ``["name"]`` (default: the test's name; the
  shared recorder uses ``retool bench run``'s names, so files from either route compare with each
  other). Entries without a ratio are plain timings, machine-dependent, and are not gated; they
  are listed in :attr:`Results.ungated`.
- :func:`pair_ratios` derives the ratio for suites that measure ours and the baseline as separate
  parametrized cases (the sandbox benchmark), from their ``extra_info``.
- Everything here is pure except :func:`machine_info` (reads the interpreter and torch) and the
  file readers :func:`load_results`, :func:`from_pytest_benchmark` and :func:`save_results`.
- Re-exported by :mod:`retool.harness.bench.gate`, the public entry point.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


@dataclass(frozen=True, kw_only=True)
class BenchResult:
    name: str
    group: str
    value: float | None
    unit: str
    baseline: float | None
    ratio: float
    higher_is_better: bool = True
    error: str | None = None  # set on an error result (value None, ratio NaN): the case did not complete

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.error is None:
            del out["error"]
        else:
            out["ratio"] = None
        return out


@dataclass(frozen=True, kw_only=True)
class Results:
    machine: Mapping[str, Any]
    created: str
    results: tuple[BenchResult, ...]
    ungated: tuple[str, ...] = ()  # plain timings seen on conversion (not written to the file)

    def to_dict(self) -> dict[str, Any]:
        return {"machine": dict(self.machine), "created": self.created, "results": [r.to_dict() for r in self.results]}


def make_result(*, name: str, group: str, value: float, baseline: float, unit: str,
                higher_is_better: bool = True) -> BenchResult:
    """A result whose ratio is ``value / baseline``; both must be finite and positive."""
    for label, x in (("value", value), ("baseline", baseline)):
        if not isinstance(x, (int, float)) or not math.isfinite(x) or x <= 0:
            raise ValueError(f"benchmark {name!r}: {label} must be a finite number > 0, got {x!r}")
    return BenchResult(name=name, group=group, value=float(value), unit=unit, baseline=float(baseline),
                       ratio=float(value) / float(baseline), higher_is_better=higher_is_better)


def make_error_result(*, name: str, group: str, unit: str, error: str, baseline: float | None = None,
                      higher_is_better: bool = True) -> BenchResult:
    """A case that did not complete (the measured code raised or overran): ratio NaN, ``error`` set."""
    if not isinstance(error, str) or not error.strip():
        raise ValueError(f"benchmark {name!r}: an error result needs a non-empty error text, got {error!r}")
    return BenchResult(name=name, group=group, value=None, unit=unit, higher_is_better=higher_is_better,
                       baseline=None if baseline is None else float(baseline), ratio=math.nan, error=error)


def machine_info() -> dict[str, Any]:
    """CPU count, platform, Python, torch version and the CUDA device's name (None without one)."""
    torch_version, cuda = None, None
    try:
        import torch

        torch_version = torch.__version__
        cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        pass
    return {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
            "torch": torch_version, "cuda_device": cuda}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def make_results(results: Sequence[BenchResult], *, machine: Mapping[str, Any] | None = None) -> Results:
    names = [r.name for r in results]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"benchmark names must be unique, repeated: {dupes}")
    return Results(machine=dict(machine_info() if machine is None else machine), created=now_iso(),
                   results=tuple(results))


def save_results(results: Results, path: str | os.PathLike[str]) -> Path:
    out = Path(path)
    out.write_text(json.dumps(results.to_dict(), indent=2) + "\n", encoding="utf-8")
    return out


# ---- reading ---------------------------------------------------------------------------------


def _number(entry: Mapping[str, Any], key: str, where: str, *, optional: bool) -> float | None:
    x = entry.get(key)
    if x is None and optional:
        return None
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        raise ValueError(f"{where}: {key!r} must be a finite number, got {x!r}")
    return float(x)


def _result_from(entry: Any, where: str, *, default_group: str = "") -> BenchResult:
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(entry).__name__}")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: 'name' must be a non-empty string, got {name!r}")
    where = f"{where} ({name!r})"
    error = entry.get("error")
    if error is not None and (not isinstance(error, str) or not error.strip()):
        raise ValueError(f"{where}: 'error' must be a non-empty string or absent, got {error!r}")
    ratio = _number(entry, "ratio", where, optional=error is not None)
    if ratio is not None and ratio <= 0:
        raise ValueError(f"{where}: 'ratio' must be > 0, got {ratio!r}")
    hib = entry.get("higher_is_better", True)
    if not isinstance(hib, bool):
        raise ValueError(f"{where}: 'higher_is_better' must be true or false, got {hib!r}")
    group, unit = entry.get("group") or default_group, entry.get("unit") or ""
    if not isinstance(group, str) or not isinstance(unit, str):
        raise ValueError(f"{where}: 'group' and 'unit' must be strings, got {group!r} and {unit!r}")
    return BenchResult(name=name, group=group, unit=unit, higher_is_better=hib, error=error,
                       ratio=math.nan if error is not None else ratio,
                       value=None if error is not None else _number(entry, "value", where, optional=True),
                       baseline=_number(entry, "baseline", where, optional=True))


def _read_json(path: str | os.PathLike[str]) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read benchmark results: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc


def results_from_dict(data: Any, where: str) -> Results:
    if not isinstance(data, Mapping) or not isinstance(data.get("results"), list):
        raise ValueError(f"{where}: expected an object with a 'results' list (a 'retool bench' results file)")
    machine = data.get("machine") or {}
    if not isinstance(machine, Mapping):
        raise ValueError(f"{where}: 'machine' must be an object, got {machine!r}")
    results = tuple(_result_from(e, f"{where}: results[{i}]") for i, e in enumerate(data["results"]))
    seen: set[str] = set()
    for i, r in enumerate(results):
        if r.name in seen:
            raise ValueError(f"{where}: results[{i}]: benchmark name {r.name!r} appears twice")
        seen.add(r.name)
    return Results(machine=dict(machine), created=str(data.get("created") or ""), results=results)


def load_results(path: str | os.PathLike[str]) -> Results:
    """Read a results file; a pytest-benchmark JSON (it has ``benchmarks``) is converted on the fly."""
    data = _read_json(path)
    if isinstance(data, Mapping) and "benchmarks" in data and "results" not in data:
        return _from_pytest_benchmark_data(data, str(path))
    return results_from_dict(data, str(path))


def _from_pytest_benchmark_data(data: Mapping[str, Any], where: str) -> Results:
    benches = data.get("benchmarks")
    if not isinstance(benches, list):
        raise ValueError(f"{where}: 'benchmarks' must be a list (pytest --benchmark-json output)")
    results: list[BenchResult] = []
    ungated: list[str] = []
    for i, bench in enumerate(benches):
        if not isinstance(bench, Mapping) or not isinstance(bench.get("name"), str):
            raise ValueError(f"{where}: benchmarks[{i}]: expected an object with a 'name'")
        extra = bench.get("extra_info") or {}
        if not isinstance(extra, Mapping) or (extra.get("ratio") is None and extra.get("error") is None):
            ungated.append(bench["name"])
            continue
        module = str(bench.get("fullname", "")).split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
        entry = {**extra, "name": extra.get("name") or bench["name"]}
        results.append(_result_from(entry, f"{where}: benchmarks[{i}]", default_group=bench.get("group") or module))
    machine_src = data.get("machine_info") or {}
    machine = {"cpu_count": (machine_src.get("cpu") or {}).get("count") if isinstance(machine_src.get("cpu"), Mapping) else None,
               "platform": machine_src.get("system", "") + " " + machine_src.get("release", ""),
               "python": machine_src.get("python_version"), "torch": None, "cuda_device": None}
    names = [r.name for r in results]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: benchmark names repeat: {sorted({n for n in names if names.count(n) > 1})}")
    return Results(machine=machine, created=str(data.get("datetime") or ""), results=tuple(results),
                   ungated=tuple(ungated))


def pair_ratios(benchmarks: Sequence[Mapping[str, Any]], *, key: str, ours: str, baseline: str, metric: str,
                name: str, unit: str, group: str, higher_is_better: bool = True) -> list[dict[str, Any]]:
    """For a parametrized benchmark that measures each side as its own case (param ``key`` is
    ``ours`` or ``baseline``, the other params equal), a copy of ``benchmarks`` where each ``ours``
    case carries the gate's ``extra_info`` (ratio of ``extra_info[metric]`` over its baseline twin's;
    ``name`` is formatted with the other params). Cases without a twin or the metric stay as they are."""
    def others(b: Mapping[str, Any]) -> tuple:
        return tuple(sorted((k, str(v)) for k, v in (b.get("params") or {}).items() if k != key))

    twins = {others(b): b for b in benchmarks if (b.get("params") or {}).get(key) == baseline}
    out = []
    for b in benchmarks:
        b = dict(b)
        twin = twins.get(others(b)) if (b.get("params") or {}).get(key) == ours else None
        value = (b.get("extra_info") or {}).get(metric)
        base = (twin.get("extra_info") or {}).get(metric) if twin else None
        if twin is not None and isinstance(value, (int, float)) and isinstance(base, (int, float)) and value > 0 and base > 0:
            label = name.format(**{k: v for k, v in (b.get("params") or {}).items() if k != key})
            r = make_result(name=label, group=group, value=value, baseline=base, unit=unit, higher_is_better=higher_is_better)
            b["extra_info"] = {**(b.get("extra_info") or {}), **asdict(r)}
        out.append(b)
    return out


def from_pytest_benchmark(path: str | os.PathLike[str]) -> Results:
    """Convert a ``pytest --benchmark-json PATH`` file (see the module docstring's convention)."""
    data = _read_json(path)
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: expected a pytest-benchmark JSON object")
    return _from_pytest_benchmark_data(data, str(path))

