"""``retool verify``: run every check, print a table, write a JSON report, exit non-zero on failure."""

from __future__ import annotations

import argparse
import os
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="DIR", help="a local Hugging Face model directory (default: the embedded tiny model)")
    parser.add_argument("--sandbox", metavar="PKG.MOD:FACTORY", help="a zero-argument factory of an object with async execute_code(code) -> str")
    parser.add_argument("--checker", metavar="PKG.MOD:FN", help="an answer checker (response, gold) -> bool to validate")
    parser.add_argument("--megatron", metavar="DIR", help="a Megatron torch_dist checkpoint to check against --model")
    parser.add_argument("--config", metavar="FILE", help="a TOML or JSON file with any of: model, sandbox, checker, megatron, min_precision, min_recall, bench_executions")
    parser.add_argument("--only", metavar="NAMES", help="comma-separated check names to run (default: all)")
    parser.add_argument("--json", metavar="PATH", help="write the JSON report here")
    parser.add_argument("--list", action="store_true", help="list the checks and exit")


def _load_file(path: str) -> dict:
    import json
    import tomllib

    with open(path, "rb") as fh:
        data = tomllib.load(fh) if path.endswith(".toml") else json.load(fh)
    if not isinstance(data, dict):
        raise SystemExit(f"retool verify: --config {path}: expected a table/object at the top level")
    return data.get("verify", data)


def config_from_args(args: argparse.Namespace):
    from retool.harness.verify import VerifyConfig

    file = _load_file(args.config) if args.config else {}
    known = {"model", "sandbox", "checker", "megatron", "min_precision", "min_recall", "bench_executions"}
    unknown = sorted(set(file) - known)
    if unknown:
        raise SystemExit(f"retool verify: --config {args.config}: unknown key(s) {unknown}; known: {sorted(known)}")
    pick = lambda flag, key: flag if flag is not None else file.get(key)  # noqa: E731
    model = pick(args.model, "model")
    if model is not None and not os.path.isdir(model):
        raise SystemExit(f"retool verify: --model {model!r} is not a directory")
    extra = {k: file[k] for k in ("min_precision", "min_recall", "bench_executions") if k in file}
    return VerifyConfig(
        model_dir=model,
        sandbox_factory=pick(args.sandbox, "sandbox"),
        checker=pick(args.checker, "checker"),
        megatron_dir=pick(args.megatron, "megatron"),
        **extra,
    )


def _quiet_libraries() -> None:
    """Library warnings and progress bars would bury the table; the JSON report keeps details."""
    import warnings

    os.environ.setdefault("PYTHONWARNINGS", "ignore")  # megatron's save spawns workers
    warnings.filterwarnings("ignore")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from retool.harness.verify import run_checks, write_json
    from retool.harness.checks import CHECKS

    console = Console(stderr=False, width=None if sys.stdout.isatty() else 150)
    if args.list:
        for spec in CHECKS:
            console.print(f"{spec.name:<18} {spec.title}")
        return 0
    config = config_from_args(args)
    _quiet_libraries()
    specs = CHECKS
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        missing = sorted(set(wanted) - {s.name for s in CHECKS})
        if missing:
            console.print(f"retool verify: unknown check(s) {missing}; see --list")
            return 2
        specs = tuple(s for s in CHECKS if s.name in wanted)
    status = console.status("")
    status.start()

    def on_start(spec):
        status.update(f"[bold]checking[/] {spec.title} ...")

    def on_done(result):
        mark = "[green]PASS[/]" if result.ok else "[red]FAIL[/]"
        console.print(f"{mark} {result.name:<18} {result.figure}  ({result.duration_s:.1f} s)")

    try:
        report = run_checks(specs, config, on_start, on_done)
    finally:
        status.stop()
    table = Table(title=f"retool verify: {'all checks passed' if report.ok else 'FAILED'} in {report.duration_s:.1f} s")
    for column in ("check", "result", "figure", "what to do"):
        table.add_column(column, overflow="fold")
    for r in report.results:
        todo = "" if r.ok else (r.advice + (f" ({r.detail})" if r.detail else ""))
        table.add_row(r.name, "[green]pass[/]" if r.ok else "[red]FAIL[/]", r.figure, todo)
    console.print(table)
    if args.json:
        write_json(report, args.json)
        console.print(f"JSON report: {args.json}")
    return 0 if report.ok else 1


if __name__ == "__main__":  # pragma: no cover
    parser = argparse.ArgumentParser(prog="retool verify")
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
