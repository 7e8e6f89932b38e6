"""``retool bench``: measure, save and gate (argument parsing and dispatch).

Subcommands:
- ``retool bench run [--json PATH] [--quick] [--only GROUP,...]``: runs each measurement directly
  (parser vs a naive regex parser, masking vs per-segment re-tokenization, answer checking vs
  math-verify, sandbox vs spawn-per-call, rollout overlapped vs serial, train step vs a plain HF
  step, and ``adversarial``: each text reader's time per KB of hostile text over typical text, per
  hostile family, shown also as a family x reader matrix), prints the table and writes a
  :mod:`retool.harness.bench.gate` results file. A measurement that cannot run here (math-verify
  missing, a part not installed) is reported as skipped with the reason; an adversarial case that
  raises or overruns is an error result in the file (the gate fails it), not a failed run.
- ``retool bench compare OLD NEW [--max-regression 10%] [--group-max-regression GROUP=F ...]
  [--group-ceiling GROUP=RATIO|off ...] [--allow-missing]``: the gate; exit 1 on a ratio
  regression, a result past its group's ceiling (``adversarial``: 150x, hostile over typical per KB;
  every new result, old figure or not), an error result, or a benchmark missing from NEW unless
  allowed; 2 on unreadable input. Either file may be a results file or
  ``pytest --benchmark-json`` output (compare files made the same way: the routes share names,
  but workload sizes differ). Wall-clock groups (``sandbox-wall``) move with the machine's load;
  on a shared runner give them their own threshold, e.g. ``--group-max-regression sandbox-wall=60%``.
- ``retool bench sandbox [--concurrency 1,8,32,128] [--snippet trivial|cpu|import] [--n N]``:
  executions/s and p50/p99 latency of our sandbox against the spawn-per-call baseline
  (delegates to :mod:`retool.sandbox.bench`).

Every ratio is ours over the baseline measured in the same process, interleaved round by round,
taking each side's best round of process CPU time (wall time for the sandbox, whose work runs in
other processes), so load on a shared machine hits both alike and mostly not at all. The groups and
their measurements live in :mod:`retool.harness.bench.suite`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Mapping

from retool.harness.bench.results import BenchResult
from retool.harness.bench.suite import GROUPS, measure_group
from retool.harness.bench.worstcase import format_matrix

__all__ = ["add_arguments", "run"]


# ---- the command -----------------------------------------------------------------------------


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 1,8,32, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected integers >= 1, got {text!r}")
    return values


def _groups(text: str) -> tuple[str, ...]:
    groups = tuple(g.strip() for g in text.split(",") if g.strip())
    bad = [g for g in groups if g not in GROUPS]
    if bad or not groups:
        raise argparse.ArgumentTypeError(f"unknown group(s) {bad or text!r}; choose from {', '.join(GROUPS)}")
    return groups


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench_command", required=True)
    run_p = sub.add_parser("run", help="run every measurement against its baseline, print and save the ratios")
    run_p.add_argument("--json", metavar="PATH", help="write the results file here")
    run_p.add_argument("--quick", action="store_true", help="small workloads (seconds, noisier)")
    run_p.add_argument("--only", type=_groups, default=GROUPS, metavar="GROUP,...",
                       help=f"run only these groups ({', '.join(GROUPS)})")
    cmp_p = sub.add_parser("compare", help="the regression gate on two results files")
    cmp_p.add_argument("old", help="baseline results (retool bench run --json, or pytest --benchmark-json)")
    cmp_p.add_argument("new", help="results to gate")
    cmp_p.add_argument("--max-regression", default="10%", metavar="FRACTION",
                       help="largest tolerated worsening of a ratio: '10%%' or '0.1' (default 10%%)")
    cmp_p.add_argument("--group-max-regression", action="append", default=[], metavar="GROUP=FRACTION",
                       help="a looser (or tighter) threshold for one group, e.g. sandbox=50%% (repeatable)")
    cmp_p.add_argument("--group-ceiling", action="append", default=[], metavar="GROUP=RATIO",
                       help="an absolute bound on a group's ratios (default adversarial=5); 'GROUP=off' drops one "
                            "(repeatable)")
    cmp_p.add_argument("--allow-missing", action="store_true",
                       help="do not fail when a benchmark in OLD is absent from NEW (e.g. GPU-only ones)")
    sb_p = sub.add_parser("sandbox", help="sandbox executions/s and p50/p99 against spawn-per-call")
    sb_p.add_argument("--concurrency", type=_int_list, default=(1, 8, 32, 128), metavar="N,...",
                      help="concurrency levels (default 1,8,32,128)")
    sb_p.add_argument("--snippet", choices=("trivial", "cpu", "import"), default="trivial",
                      help="what each execution runs (default trivial)")
    sb_p.add_argument("--n", type=int, default=None, metavar="N", help="executions per level (default: per level)")
    sb_p.add_argument("--json", metavar="PATH", help="also write the rows as JSON")


def run(args: argparse.Namespace) -> int:
    return {"run": _run_all, "compare": _compare, "sandbox": _sandbox}[args.bench_command](args)


def _compare(args: argparse.Namespace) -> int:
    from retool.harness.bench import gate as bench
    from retool.harness.bench.results import load_results

    try:
        max_regression = bench.parse_fraction(args.max_regression)
        per_group = {}
        for item in args.group_max_regression:
            group, sep, value = item.partition("=")
            if not sep or not group.strip():
                raise ValueError(f"--group-max-regression takes GROUP=FRACTION, got {item!r}")
            per_group[group.strip()] = bench.parse_fraction(value)
        ceilings = _ceilings(args.group_ceiling, bench.DEFAULT_CEILINGS)
        old, new = load_results(args.old), load_results(args.new)
    except ValueError as exc:
        print(f"retool bench compare: {exc}", file=sys.stderr)
        return 2
    comparison = bench.compare(old, new, max_regression=max_regression, group_max_regression=per_group,
                               ceilings=ceilings)
    print(bench.format_comparison(comparison))
    if comparison.missing and args.allow_missing and not comparison.regressions:
        print(f"(--allow-missing: {len(comparison.missing)} missing benchmark(s) tolerated)")
        return 0
    return 0 if comparison.ok else 1


def _ceilings(items: list[str], defaults: Mapping[str, float]) -> dict[str, float]:
    out = dict(defaults)
    for item in items:
        group, sep, value = item.partition("=")
        group, value = group.strip(), value.strip()
        if not sep or not group:
            raise ValueError(f"--group-ceiling takes GROUP=RATIO or GROUP=off, got {item!r}")
        if value.lower() == "off":
            out.pop(group, None)
            continue
        try:
            ratio = float(value.removesuffix("x"))
        except ValueError:
            raise ValueError(f"--group-ceiling {item!r}: the ratio must be a number like 5 or 5x, or off") from None
        if not math.isfinite(ratio) or ratio <= 0:
            raise ValueError(f"--group-ceiling {item!r}: the ratio must be a finite number > 0")
        out[group] = ratio
    return out


def _run_all(args: argparse.Namespace) -> int:
    from retool.harness.bench import gate as bench
    from retool.harness.bench import results as bench_results

    results: list[BenchResult] = []
    skipped: list[str] = []
    failed: list[str] = []
    for group in args.only:
        print(f"measuring {group} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            got = measure_group(group, args.quick)
        except ImportError as exc:
            skipped.append(f"{group}: skipped, {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - one broken part must not hide the other figures
            failed.append(f"{group}: FAILED, {type(exc).__name__}: {exc}")
            continue
        results += got
        print(f"  {group}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    out = bench_results.make_results(results)
    print(bench.format_results(out))
    matrix = format_matrix(results)
    if matrix:
        print("\nadversarial (rows: hostile family; columns: reader):\n" + matrix)
    for line in skipped + failed:
        print(line)
    if args.json:
        print(f"wrote {bench_results.save_results(out, args.json)}")
    return 1 if failed else 0


def _sandbox(args: argparse.Namespace) -> int:
    import asyncio

    try:
        from retool.sandbox.bench import bench_table, format_table
    except ImportError as exc:
        print(f"retool bench sandbox: the sandbox is not available in this build ({exc})", file=sys.stderr)
        return 2
    if args.n is not None and args.n < 1:
        print(f"retool bench sandbox: --n must be >= 1, got {args.n}", file=sys.stderr)
        return 2
    print(f"measuring the {args.snippet!r} snippet at concurrency {','.join(map(str, args.concurrency))} "
          "(ours, the bare fork-server, spawn-per-call) ...", file=sys.stderr, flush=True)
    rows = asyncio.run(bench_table(args.concurrency, snippets=(args.snippet,), runs_per_level=args.n))
    print(format_table(rows))
    if args.json:
        from dataclasses import asdict
        from pathlib import Path

        Path(args.json).write_text(json.dumps([{"runner": r.runner, "snippet": r.snippet, **asdict(r.result)}
                                               for r in rows], indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    failed = [r for r in rows if r.result.failures]
    for r in failed:
        print(f"FAIL: {r.runner} gave wrong output on {r.result.failures}/{r.result.n} runs at concurrency "
              f"{r.result.concurrency}", file=sys.stderr)
    return 1 if failed else 0
