"""Benchmark results and the regression gate: a machine-independent format and a pure comparison.

Contract:
- Every benchmark is recorded as a *ratio* against a baseline measured in the same run on the same
  machine (ours vs spawn-per-call, ours vs a naive regex parser, ...), so load on a shared runner
  or a faster machine moves both sides alike and the ratio stays comparable across runs.
- Results file (JSON)::

      {"machine": {"cpu_count", "platform", "python", "torch", "cuda_device"},
       "created": "2026-11-25T19:30:00+00:00",
       "results": [{"name", "group", "value", "unit", "baseline", "ratio", "higher_is_better"}]}

  ``ratio`` is ``value / baseline`` (both in ``unit``); ``higher_is_better`` says which way is good
  for the ratio (True for throughput, False for latency). ``value`` and ``baseline`` may be null
  when a benchmark only reports its ratio; ``name`` is unique within a file.
- :func:`compare` gates on ratios only: a benchmark regresses when its ratio got worse by more than
  ``max_regression`` (a fraction: 0.10 means a throughput ratio fell below 90% of the old one, or a
  latency ratio rose above 110%). Benchmarks missing from the new file, and new ones, are reported
  (and do not pass silently: :attr:`Comparison.ok` is False when any went missing).
- :func:`from_pytest_benchmark` converts ``pytest --benchmark-json`` output. Convention: a
  benchmark test records ``benchmark.extra_info["ratio"]`` (required to be gated), and
  ``["value"]``, ``["baseline"]``, ``["unit"]``, optionally ``["higher_is_better"]`` (default True)
  ``["group"]`` (default: the pytest-benchmark group, else the test module) and ``["name"]``
  (default: the test's name; the shared recorder uses ``retool bench run``'s names, so files from
  either route compare with each other). Entries without
  a ratio are plain timings, machine-dependent, and are not gated; they are listed in
  :attr:`Results.ungated`.
- :func:`pair_ratios` derives the ratio for suites that measure ours and the baseline as separate
  parametrized cases (the sandbox benchmark), from their ``extra_info``.
- Everything here is pure except :func:`machine_info` (reads the interpreter and torch) and the
  file readers :func:`load_results`, :func:`from_pytest_benchmark` and :func:`save_results`.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
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


@dataclass(frozen=True, kw_only=True)
class Results:
    machine: Mapping[str, Any]
    created: str
    results: tuple[BenchResult, ...]
    ungated: tuple[str, ...] = ()  # plain timings seen on conversion (not written to the file)

    def to_dict(self) -> dict[str, Any]:
        return {"machine": dict(self.machine), "created": self.created, "results": [asdict(r) for r in self.results]}


@dataclass(frozen=True, kw_only=True)
class Change:
    name: str
    group: str
    old_ratio: float
    new_ratio: float
    change: float  # signed fraction of the old ratio; > 0 is an improvement in either direction
    regressed: bool
    higher_is_better: bool
    threshold: float  # the max regression this benchmark was held to


@dataclass(frozen=True, kw_only=True)
class Comparison:
    changes: tuple[Change, ...]
    missing: tuple[str, ...]  # in old, not in new
    added: tuple[str, ...]  # in new, not in old
    max_regression: float
    old_machine: Mapping[str, Any] = field(default_factory=dict)
    new_machine: Mapping[str, Any] = field(default_factory=dict)

    @property
    def regressions(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.regressed)

    @property
    def ok(self) -> bool:
        return not self.regressions and not self.missing


def make_result(*, name: str, group: str, value: float, baseline: float, unit: str,
                higher_is_better: bool = True) -> BenchResult:
    """A result whose ratio is ``value / baseline``; both must be finite and positive."""
    for label, x in (("value", value), ("baseline", baseline)):
        if not isinstance(x, (int, float)) or not math.isfinite(x) or x <= 0:
            raise ValueError(f"benchmark {name!r}: {label} must be a finite number > 0, got {x!r}")
    return BenchResult(name=name, group=group, value=float(value), unit=unit, baseline=float(baseline),
                       ratio=float(value) / float(baseline), higher_is_better=higher_is_better)


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
    ratio = _number(entry, "ratio", where, optional=False)
    if ratio <= 0:
        raise ValueError(f"{where}: 'ratio' must be > 0, got {ratio!r}")
    hib = entry.get("higher_is_better", True)
    if not isinstance(hib, bool):
        raise ValueError(f"{where}: 'higher_is_better' must be true or false, got {hib!r}")
    group, unit = entry.get("group") or default_group, entry.get("unit") or ""
    if not isinstance(group, str) or not isinstance(unit, str):
        raise ValueError(f"{where}: 'group' and 'unit' must be strings, got {group!r} and {unit!r}")
    return BenchResult(name=name, group=group, unit=unit, ratio=ratio, higher_is_better=hib,
                       value=_number(entry, "value", where, optional=True),
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
        if not isinstance(extra, Mapping) or extra.get("ratio") is None:
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


# ---- the gate --------------------------------------------------------------------------------


def parse_fraction(text: str | float) -> float:
    """``"10%"`` -> 0.10, ``"0.1"`` -> 0.1; must lie in [0, 1)."""
    raw = text
    try:
        if isinstance(text, str):
            text = text.strip()
            value = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
        else:
            value = float(text)
    except ValueError:
        raise ValueError(f"max regression must be like '10%' or '0.1', got {raw!r}") from None
    if not (0.0 <= value < 1.0) or not math.isfinite(value):
        raise ValueError(f"max regression must be in [0%, 100%), got {raw!r}")
    return value


def compare(old: Results, new: Results, *, max_regression: float = 0.10,
            group_max_regression: Mapping[str, float] | None = None) -> Comparison:
    """Per benchmark present in both: the ratio change; regressions beyond ``max_regression``, or
    beyond ``group_max_regression[group]`` for the groups named there (noisier ones, such as
    wall-clock sandbox figures on a shared runner)."""
    per_group = dict(group_max_regression or {})
    for label, x in [("max_regression", max_regression), *per_group.items()]:
        if not (0.0 <= x < 1.0):
            raise ValueError(f"{label}: max regression must be a fraction in [0, 1), got {x!r}")
    old_by, new_by = {r.name: r for r in old.results}, {r.name: r for r in new.results}
    changes = []
    for name, o in old_by.items():
        n = new_by.get(name)
        if n is None:
            continue
        hib, group = n.higher_is_better, n.group or o.group
        threshold = per_group.get(group, max_regression)
        change = (n.ratio / o.ratio - 1.0) if hib else (o.ratio / n.ratio - 1.0)
        worse = (1.0 - n.ratio / o.ratio) if hib else (n.ratio / o.ratio - 1.0)
        changes.append(Change(name=name, group=group, old_ratio=o.ratio, new_ratio=n.ratio, change=change,
                              regressed=worse > threshold + 1e-12, higher_is_better=hib, threshold=threshold))
    return Comparison(changes=tuple(changes), missing=tuple(n for n in old_by if n not in new_by),
                      added=tuple(n for n in new_by if n not in old_by), max_regression=max_regression,
                      old_machine=dict(old.machine), new_machine=dict(new.machine))


def _machine_line(m: Mapping[str, Any]) -> str:
    return (f"{m.get('cpu_count', '?')} CPUs, {m.get('platform') or '?'}, Python {m.get('python') or '?'}, "
            f"torch {m.get('torch') or '-'}, GPU {m.get('cuda_device') or 'none'}")


def format_comparison(c: Comparison) -> str:
    """A table of old/new ratios and the change, then missing/new benchmarks and the verdict."""
    width = max([len(x.name) for x in c.changes] + [len(n) for n in c.missing + c.added] + [9])
    lines = [f"old: {_machine_line(c.old_machine)}", f"new: {_machine_line(c.new_machine)}", "",
             f"{'benchmark':<{width}}  {'old ratio':>10}  {'new ratio':>10}  {'change':>8}  verdict"]
    for x in sorted(c.changes, key=lambda x: (x.group, x.name)):
        verdict = "REGRESSED" if x.regressed else "ok"
        arrow = ("" if x.higher_is_better else " (lower is better)") + (
            f" [group threshold {x.threshold:.0%}]" if x.threshold != c.max_regression else "")
        lines.append(f"{x.name:<{width}}  {x.old_ratio:>10.3g}  {x.new_ratio:>10.3g}  {x.change:>+8.1%}  {verdict}{arrow}")
    for name in c.missing:
        lines.append(f"{name:<{width}}  {'':>10}  {'-':>10}  {'':>8}  MISSING from the new results")
    for name in c.added:
        lines.append(f"{name:<{width}}  {'-':>10}  {'':>10}  {'':>8}  new (no old figure to compare)")
    n_reg = len(c.regressions)
    lines.append("")
    if c.ok:
        lines.append(f"PASS: {len(c.changes)} benchmarks within their threshold ({c.max_regression:.0%} unless noted)"
                     + (f"; {len(c.added)} new" if c.added else ""))
    else:
        parts = ([f"{n_reg} regressed beyond their threshold ({c.max_regression:.0%} unless noted)"] if n_reg else []) + (
            [f"{len(c.missing)} missing"] if c.missing else [])
        lines.append("FAIL: " + ", ".join(parts))
    return "\n".join(lines)


def format_results(results: Results) -> str:
    """The results as a table: group, benchmark, value, baseline, ratio."""
    width = max([len(r.name) for r in results.results] + [9])
    gw = max([len(r.group) for r in results.results] + [5])
    lines = [f"machine: {_machine_line(results.machine)}", "",
             f"{'group':<{gw}}  {'benchmark':<{width}}  {'value':>12}  {'baseline':>12}  {'ratio':>8}  unit"]
    for r in results.results:
        value = "-" if r.value is None else f"{r.value:.4g}"
        base = "-" if r.baseline is None else f"{r.baseline:.4g}"
        hint = "" if r.higher_is_better else " (lower is better)"
        lines.append(f"{r.group:<{gw}}  {r.name:<{width}}  {value:>12}  {base:>12}  {r.ratio:>7.3g}x  {r.unit}{hint}")
    return "\n".join(lines)
