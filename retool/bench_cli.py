"""``retool bench``: measure, save and gate (argument parsing and dispatch).

Subcommands:
- ``retool bench run [--json PATH] [--quick] [--only GROUP,...]``: runs each measurement directly
  (parser vs a naive regex parser, masking vs per-segment re-tokenization, answer checking vs
  math-verify, sandbox vs spawn-per-call, rollout overlapped vs serial, train step vs a plain HF
  step), prints the table and writes a :mod:`retool.bench` results file. A measurement that cannot
  run here (math-verify missing, a part not installed) is reported as skipped with the reason.
- ``retool bench compare OLD NEW [--max-regression 10%] [--group-max-regression GROUP=F ...]
  [--allow-missing]``: the gate; exit 1 on a ratio regression (or a benchmark missing from NEW
  unless allowed), 2 on unreadable input. Either file may be a results file or
  ``pytest --benchmark-json`` output (compare files made the same way: the routes share names,
  but workload sizes differ). Wall-clock groups (``sandbox-wall``) move with the machine's load;
  on a shared runner give them their own threshold, e.g. ``--group-max-regression sandbox-wall=60%``.
- ``retool bench sandbox [--concurrency 1,8,32,128] [--snippet trivial|cpu|import] [--n N]``:
  executions/s and p50/p99 latency of our sandbox against the spawn-per-call baseline
  (delegates to :mod:`retool.sandbox_bench`).

Every ratio is ours over the baseline measured in the same process, interleaved round by round,
taking each side's best round of process CPU time (wall time for the sandbox, whose work runs in
other processes), so load on a shared machine hits both alike and mostly not at all. The workload
builders and measurement functions live in :mod:`retool.bench_workloads` (parser, masking, answer
checking, the :func:`best_seconds` timer) and :mod:`retool.train_bench` (train step); their public
names are importable from here too, so the pytest benchmarks time exactly what this command times.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from retool.bench import BenchResult, make_result
from retool.bench_workloads import (best_seconds, masking_workload, measure_answer, measure_masking, measure_parser,
                                    naive_mask, naive_parse, parser_workload)
from retool.train_bench import (GPU_BENCH_MODEL, PEAK_BF16_FLOPS, measure_train_step, measure_train_step_gpu,
                                one_torch_thread, peak_bf16_flops, train_step_fns)

__all__ = [
    "GPU_BENCH_MODEL", "GROUPS", "PEAK_BF16_FLOPS", "add_arguments", "best_seconds", "masking_workload",
    "measure_answer", "measure_masking", "measure_parser", "measure_train_step", "measure_train_step_gpu",
    "naive_mask", "naive_parse", "one_torch_thread", "parser_workload", "peak_bf16_flops", "run", "train_step_fns",
]

GROUPS = ("parser", "masking", "answer", "sandbox", "rollout", "train")


def _measure(group: str, quick: bool) -> list[BenchResult]:
    if group == "parser":
        return [measure_parser(n_transcripts=40 if quick else 200, rounds=3 if quick else 7)]
    if group == "masking":
        return [measure_masking(n_trajectories=8 if quick else 32, rounds=2 if quick else 5)]
    if group == "answer":
        return [measure_answer(quick=quick)]
    if group == "train":
        import torch

        gpu = measure_train_step_gpu(rounds=3 if quick else 10) if torch.cuda.is_available() else []
        return [measure_train_step(rounds=5 if quick else 20), *gpu]
    if group == "sandbox":
        return _sandbox_results(quick)
    if group == "rollout":
        return _rollout_results(quick)
    raise ValueError(f"unknown benchmark group {group!r}; choose from {', '.join(GROUPS)}")


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
    from retool import bench

    try:
        max_regression = bench.parse_fraction(args.max_regression)
        per_group = {}
        for item in args.group_max_regression:
            group, sep, value = item.partition("=")
            if not sep or not group.strip():
                raise ValueError(f"--group-max-regression takes GROUP=FRACTION, got {item!r}")
            per_group[group.strip()] = bench.parse_fraction(value)
        old, new = bench.load_results(args.old), bench.load_results(args.new)
    except ValueError as exc:
        print(f"retool bench compare: {exc}", file=sys.stderr)
        return 2
    comparison = bench.compare(old, new, max_regression=max_regression, group_max_regression=per_group)
    print(bench.format_comparison(comparison))
    if comparison.missing and args.allow_missing and not comparison.regressions:
        print(f"(--allow-missing: {len(comparison.missing)} missing benchmark(s) tolerated)")
        return 0
    return 0 if comparison.ok else 1


def _run_all(args: argparse.Namespace) -> int:
    from retool import bench

    results: list[BenchResult] = []
    skipped: list[str] = []
    failed: list[str] = []
    for group in args.only:
        print(f"measuring {group} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            got = _measure(group, args.quick)
        except ImportError as exc:
            skipped.append(f"{group}: skipped, {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - one broken part must not hide the other figures
            failed.append(f"{group}: FAILED, {type(exc).__name__}: {exc}")
            continue
        results += got
        print(f"  {group}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    out = bench.make_results(results)
    print(bench.format_results(out))
    for line in skipped + failed:
        print(line)
    if args.json:
        print(f"wrote {bench.save_results(out, args.json)}")
    return 1 if failed else 0


def _sandbox_results(quick: bool) -> list[BenchResult]:
    """Trivial snippets, ours vs spawn-per-call: CPU-ms per execution (group ``sandbox``: stable on
    a loaded machine) and, in group ``sandbox-wall`` (wall clock: as noisy as the machine's load),
    executions/s per level, p99 at the top level, and the bare fork-server over ours (the layers)."""
    import asyncio

    from retool.sandbox_bench import bench_table

    levels = (1, 32) if quick else (1, 8, 32, 128)
    rows = asyncio.run(bench_table(levels, snippets=("trivial",), runs_per_level=48 if quick else None))
    by = {(r.runner, r.result.concurrency): r.result for r in rows}
    failed = [f"{r.runner}@{r.result.concurrency}" for r in rows if r.result.failures]
    if failed:
        raise RuntimeError(f"sandbox benchmark: wrong output from {', '.join(failed)}")
    out = []
    for level in levels:
        ours, base = by[("sandbox", level)], by[("spawn-per-call", level)]
        out.append(make_result(name=f"sandbox_trivial_spawn_over_ours_cpu_ms_c{level}", group="sandbox",
                               value=base.cpu_ms_per_exec, baseline=ours.cpu_ms_per_exec,
                               unit="spawn-per-call CPU-ms/exec vs ours"))
        out.append(make_result(name=f"sandbox_trivial_exec_per_s_c{level}", group="sandbox-wall", value=ours.exec_per_s,
                               baseline=base.exec_per_s, unit="executions/s vs spawn-per-call"))
    top = levels[-1]
    ours, base, bare = by[("sandbox", top)], by[("spawn-per-call", top)], by[("bare-fork-server", top)]
    out.append(make_result(name=f"sandbox_trivial_p99_ms_c{top}", group="sandbox-wall", value=ours.p99_s * 1e3,
                           baseline=base.p99_s * 1e3, unit="ms p99 vs spawn-per-call", higher_is_better=False))
    out.append(make_result(name=f"sandbox_trivial_bare_over_layers_exec_per_s_c{top}", group="sandbox-wall",
                           value=bare.exec_per_s, baseline=ours.exec_per_s, higher_is_better=False,
                           unit="bare fork-server executions/s vs ours with every layer"))
    return out


def _rollout_results(quick: bool) -> list[BenchResult]:
    from retool.rollout_bench import bench_results, measure_rollout

    size = dict(samples=4, tool_calls_per_sample=2, tool_latency_s=0.1) if quick else dict(
        samples=8, tool_calls_per_sample=3, tool_latency_s=0.2)
    return list(bench_results(measure_rollout(**size)))


def _sandbox(args: argparse.Namespace) -> int:
    import asyncio

    try:
        from retool.sandbox_bench import bench_table, format_table
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
