"""The benchmark suite behind ``retool bench run``: each group measured against its baseline.

Contract: ``measure_group(group, quick)`` returns the group's :class:`~retool.harness.bench.results.BenchResult`
list (every value a ratio against a baseline measured in the same process); ``GROUPS`` names the
groups. A part that cannot run here raises ``ImportError`` naming what is missing; an unknown group
raises ``ValueError`` naming the choices. The workload builders live in
:mod:`retool.harness.bench.workloads` (parser, masking, answer checking), :mod:`retool.harness.bench.train`
(train step), :mod:`retool.harness.bench.rollout`, :mod:`retool.harness.bench.worstcase`
(``adversarial``: hostile vs typical text per KB, 32k characters, 8k with ``quick``; a case that
raises or overruns is an error result, never an exception) and :mod:`retool.sandbox.bench`, so the
pytest benchmarks time exactly what this suite times.
"""

from __future__ import annotations

from retool.harness.bench.results import BenchResult, make_result
from retool.harness.bench.train import measure_train_step, measure_train_step_gpu
from retool.harness.bench.workloads import measure_answer, measure_masking, measure_parser

__all__ = ["GROUPS", "measure_group"]

GROUPS = ("parser", "masking", "answer", "sandbox", "rollout", "train", "adversarial")


def measure_group(group: str, quick: bool) -> list[BenchResult]:
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
    if group == "adversarial":
        from retool.harness.bench.worstcase import measure_adversarial

        return measure_adversarial(n_chars=8_192 if quick else 32_768, rounds=2 if quick else 5,
                                   timeout_s=2.0 if quick else 10.0)
    raise ValueError(f"unknown benchmark group {group!r}; choose from {', '.join(GROUPS)}")


def _sandbox_results(quick: bool) -> list[BenchResult]:
    """Trivial snippets, ours vs spawn-per-call: CPU-ms per execution (group ``sandbox``: stable on
    a loaded machine) and, in group ``sandbox-wall`` (wall clock: as noisy as the machine's load),
    executions/s per level, p99 at the top level, and the bare fork-server over ours (the layers)."""
    import asyncio

    from retool.sandbox.bench import bench_table

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
    from retool.harness.bench.rollout import bench_results, measure_rollout

    size = dict(samples=4, tool_calls_per_sample=2, tool_latency_s=0.1) if quick else dict(
        samples=8, tool_calls_per_sample=3, tool_latency_s=0.2)
    return list(bench_results(measure_rollout(**size)))
