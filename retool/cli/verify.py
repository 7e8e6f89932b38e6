"""``retool verify``: run every check, print a table, write a JSON report, exit non-zero on failure.

The options that set :class:`~retool.harness.verify.VerifyConfig` fields are derived from it
(``VERIFY_FLAGS``): their defaults and help are the config's. ``--config FILE`` gives the same
settings by flag name (``model``, ``min_precision``, ...); a flag given on the command line wins.
"""

from __future__ import annotations

import argparse
import os
import sys

from retool.cli.flags import ConfigFlag, add_config_flags
from retool.harness.verify import VerifyConfig

__all__ = ["FILE_KEYS", "VERIFY_FLAGS", "add_arguments", "config_from_args", "run"]


VERIFY_FLAGS: tuple[ConfigFlag, ...] = (
    ConfigFlag("--model", "model_dir", metavar="DIR"),
    ConfigFlag("--sandbox", "sandbox_factory", metavar="PKG.MOD:FACTORY"),
    ConfigFlag("--sandbox-allow-weaker", "sandbox_allow_weaker"),
    ConfigFlag("--checker", "checker", metavar="PKG.MOD:FN"),
    ConfigFlag("--megatron", "megatron_dir", metavar="DIR"),
    ConfigFlag("--min-precision", "min_precision"),
    ConfigFlag("--min-recall", "min_recall"),
    ConfigFlag("--bench-executions", "bench_executions", metavar="N"),
    ConfigFlag("--seed", "seed"),
    ConfigFlag("--dialect", "dialect"),
)
# --config file keys: the flag names without dashes (model, sandbox, checker, megatron, ...)
FILE_KEYS: dict[str, ConfigFlag] = {spec.flag.lstrip("-").replace("-", "_"): spec for spec in VERIFY_FLAGS}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_flags(parser, {VerifyConfig: VERIFY_FLAGS}, unset_absent=True)
    parser.add_argument("--config", metavar="FILE",
                        help=f"a TOML or JSON file with any of: {', '.join(FILE_KEYS)} (flags win over the file)")
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


def config_from_args(args: argparse.Namespace) -> VerifyConfig:
    """The file's values (by flag name), then the flags given on the command line over them."""
    file = _load_file(args.config) if args.config else {}
    unknown = sorted(set(file) - set(FILE_KEYS))
    if unknown:
        raise SystemExit(f"retool verify: --config {args.config}: unknown key(s) {unknown}; known: {sorted(FILE_KEYS)}")
    values = {FILE_KEYS[key].path: value for key, value in file.items()}
    values.update({spec.path: getattr(args, spec.dest) for spec in VERIFY_FLAGS if hasattr(args, spec.dest)})
    config = VerifyConfig(**values)
    if config.model_dir is not None and not os.path.isdir(config.model_dir):
        raise SystemExit(f"retool verify: --model {config.model_dir!r} is not a directory")
    return config


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
