"""``retool sandbox info | audit | bench | serve``: layer report, escape battery, throughput, the service.

Contract: ``add_arguments(parser)`` / ``run(args) -> int`` as dispatched by ``retool.cli``.
- ``info [--json]``: which isolation layers are active on this host (and why not), the kernel,
  Landlock ABI, effective uid and the per-slot uid range; exit 1 when a default layer is
  unavailable (the default sandbox would refuse to start), else 0.
- ``audit [--sandbox pkg.mod:Factory] ...``: the escape and limits battery of ``retool.sandbox.audit``
  (options and exit status: :mod:`retool.cli.sandbox_audit`).
- ``bench [--concurrency 1,8,32,128] [--snippets trivial,cpu,import,sympy] [--n N] [--preset NAME]``:
  executions/s, p50/p99 latency and CPU-ms per call for ours, the bare fork-server and
  spawn-per-call, each against the fork floor of a lean process measured in the same run
  (``--fork-floor N``, 0 to skip), then the CPU-ms per execution the security layers add
  (``--overhead-rounds``, 0 to skip).
- ``serve [--host 127.0.0.1] [--port 8080] [--token-file F] [--preset retool|fusion] ...``:
  SandboxFusion's HTTP API served by our sandbox (options and exit status:
  :mod:`retool.cli.sandbox_serve`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys

from retool.cli.sandbox_audit import add_audit_arguments, run_audit_command
from retool.cli.sandbox_serve import add_serve_arguments, run_serve


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    info = sub.add_parser("info", help="which isolation layers are active here")
    info.add_argument("--json", action="store_true", help="print a JSON object instead of text")
    audit = sub.add_parser("audit", help="run the escape and limits battery against a sandbox")
    add_audit_arguments(audit)
    serve = sub.add_parser("serve", help="serve SandboxFusion's HTTP API (POST /run_code) from this sandbox")
    add_serve_arguments(serve)
    bench = sub.add_parser("bench", help="throughput: ours vs bare fork-server vs spawn-per-call")
    bench.add_argument("--concurrency", default="1,8,32,128", help="comma-separated levels (default 1,8,32,128)")
    bench.add_argument("--snippets", default="trivial", help="comma-separated: trivial, cpu, import, sympy")
    bench.add_argument("--n", type=int, default=None, help="executions per level (default 20 rounds of the level, at least 200; the spawn-per-call baseline 4 rounds, at least 16)")
    bench.add_argument("--no-baseline", action="store_true", help="skip spawn-per-call (slow)")
    bench.add_argument("--no-bare", action="store_true", help="skip the bare fork-server")
    bench.add_argument("--preset", default=None, help="module preset of our sandbox (e.g. recipe: numpy, sympy, ...)")
    bench.add_argument("--fork-floor", type=int, default=500, metavar="N",
                       help="forks of a lean process timed for the fork floor (0 to skip)")
    bench.add_argument("--overhead-rounds", type=int, default=5,
                       help="paired rounds for the layer-overhead figure (0 to skip)")


def _info() -> dict[str, object]:
    from retool.sandbox import isolation, seccomp  # noqa: PLC0415
    from retool.sandbox import LAYERS, MODULE_PRESETS, SandboxConfig  # noqa: PLC0415

    reasons = isolation.probe_layers()
    config = SandboxConfig()
    return {
        "layers": {name: "available" if reasons[name] is None else f"unavailable: {reasons[name]}" for name in LAYERS},
        "kernel": platform.release(),
        "machine": platform.machine(),
        "landlock_abi": isolation.landlock_abi(),
        "seccomp_list": seccomp.summary(),
        "euid": os.geteuid(),
        "slot_uids": f"{config.uid_base}..{config.uid_base + config.concurrency - 1} (uid_base + slot)",
        "python": sys.executable,
        "default_allowed_modules": list(config.allowed_modules or ()),
        "module_presets": {name: list(mods) for name, mods in MODULE_PRESETS.items()},
        "cpus": os.cpu_count(),
    }


def _parse_levels(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SystemExit(f"retool sandbox bench: --concurrency must be comma-separated ints, got {text!r}") from None
    if not levels or min(levels) <= 0:
        raise SystemExit(f"retool sandbox bench: --concurrency levels must be positive, got {text!r}")
    return levels


def run(args: argparse.Namespace) -> int:
    if args.action == "info":
        report = _info()
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            for name, state in report["layers"].items():  # type: ignore[union-attr]
                print(f"{name:<13} {state}")
            for key in ("kernel", "machine", "landlock_abi", "seccomp_list", "euid", "slot_uids", "python", "cpus"):
                print(f"{key:<13} {report[key]}")
            print(f"{'modules':<13} {', '.join(report['default_allowed_modules'])}")  # type: ignore[arg-type]
            for name, mods in report["module_presets"].items():  # type: ignore[union-attr]
                print(f"{'preset ' + name:<13} {', '.join(mods)}")
        return 1 if any(v != "available" for v in report["layers"].values()) else 0  # type: ignore[union-attr]
    if args.action == "audit":
        return int(run_audit_command(args))
    if args.action == "serve":
        return run_serve(args)
    import asyncio  # noqa: PLC0415

    from retool.sandbox.bench import SNIPPETS, bench_table, format_table  # noqa: PLC0415

    levels = _parse_levels(args.concurrency)
    snippets = [s.strip() for s in args.snippets.split(",") if s.strip()]
    if not snippets or any(s not in SNIPPETS for s in snippets):
        print(f"retool sandbox bench: --snippets must be among {', '.join(SNIPPETS)}, got {args.snippets!r}", file=sys.stderr)
        return 2
    if args.n is not None and args.n <= 0:
        print(f"retool sandbox bench: --n must be positive, got {args.n}", file=sys.stderr)
        return 2
    from retool.sandbox import MODULE_PRESETS  # noqa: PLC0415
    from retool.sandbox.bench import measure_fork_floor  # noqa: PLC0415

    if args.preset is not None and args.preset not in MODULE_PRESETS:
        print(f"retool sandbox bench: --preset must be one of {', '.join(MODULE_PRESETS)}, got {args.preset!r}", file=sys.stderr)
        return 2
    rows = asyncio.run(bench_table(levels, snippets=snippets, runs_per_level=args.n,
                                   include_baseline=not args.no_baseline, include_bare=not args.no_bare,
                                   module_preset=args.preset))
    print(format_table(rows, measure_fork_floor(args.fork_floor) if args.fork_floor > 0 else None))
    if args.overhead_rounds > 0:
        from retool.sandbox.bench import measure_layer_overhead  # noqa: PLC0415

        cost = asyncio.run(measure_layer_overhead(rounds=args.overhead_rounds))
        print(f"security layers: {cost.with_layers_ms:.2f} vs bare {cost.bare_ms:.2f} CPU-ms per execution "
              f"(zygotes + children) -> {cost.overhead_ms:+.2f} ms (median of {cost.rounds} paired rounds "
              f"of {cost.n_per_round})")
    return 1 if any(r.result.failures for r in rows) else 0
