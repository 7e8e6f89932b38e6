"""``retool sandbox audit``: the command-line side of the battery (:mod:`retool.cli.sandbox` calls it).

Contract: ``load_factory("pkg.mod:Name")`` returns the callable (``Name`` may be dotted) or
raises ValueError with the reason; ``add_audit_arguments(parser)`` adds --sandbox, --url, --token-file, --timeout-s,
--memory-limit, --timeout-slack-s, --only, --no-hazardous, --list and --preset (the default
sandbox's module preset, e.g. ``recipe``); ``run_audit_command(args)``
prints the report and returns 0 when every technique was blocked (or skipped), 1 on any escape
or unattributed effect, 2 on errors or bad arguments. The default sandbox is
``retool.sandbox.PythonSandbox`` with a short timeout (``AUDIT_TIMEOUT_S``) and
``AUDIT_MEMORY_LIMIT``, so the hang and memory techniques end quickly; a sandbox with ``close``
or ``aclose`` is closed after the battery. ``--url URL`` audits a farm (``retool sandbox serve``)
through ``RemoteSandbox`` instead, unchanged (its settings, read from the farm, set the bounds;
serve it with a short ``--timeout-s`` so the hang techniques end quickly); ``--token-file`` holds
its token.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from retool.sandbox.audit.report import AuditReport, format_report
from retool.sandbox.audit.techniques import TECHNIQUES

__all__ = ["AUDIT_MEMORY_LIMIT", "AUDIT_TIMEOUT_S", "add_audit_arguments", "load_factory", "run_audit_command"]

AUDIT_TIMEOUT_S = 3.0  # the CLI's default sandbox: short, so the hang techniques end quickly
AUDIT_MEMORY_LIMIT = "256MB"


def load_factory(spec: str) -> Callable[[], Any]:
    """``"pkg.mod:Name"`` (``Name`` may be dotted) -> the callable; ValueError with the reason."""
    from retool import load_callable

    return load_callable(spec, what="--sandbox", example="pkg.module:Factory")


def add_audit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sandbox", metavar="PKG.MOD:FACTORY", default=None,
                        help="zero-argument callable returning an object with async execute_code(code) -> str "
                             "(default: retool.sandbox.PythonSandbox)")
    parser.add_argument("--url", default=None, metavar="URL",
                        help="audit a sandbox farm (`retool sandbox serve`) at this URL through RemoteSandbox")
    parser.add_argument("--token-file", default=None, metavar="FILE", help="the farm's bearer token (with --url)")
    parser.add_argument("--timeout-s", type=float, default=None,
                        help="the audit's hang bound (plus slack); for the default sandbox also its timeout "
                             f"(default {AUDIT_TIMEOUT_S:g} s: the hang techniques each wait this long)")
    parser.add_argument("--memory-limit", default=AUDIT_MEMORY_LIMIT,
                        help=f"memory limit of the default sandbox (default {AUDIT_MEMORY_LIMIT}: the memory bombs "
                             "allocate just past it); the isolation layers are the same at any limit")
    parser.add_argument("--timeout-slack-s", type=float, default=3.0, help="grace over the timeout before a hang")
    parser.add_argument("--only", action="append", default=None, metavar="NAME", help="run only this technique")
    parser.add_argument("--no-hazardous", action="store_true", help="skip fork/memory/disk bombs and kill-all")
    parser.add_argument("--list", action="store_true", help="list the techniques and exit")
    parser.add_argument("--preset", default=None, metavar="NAME",
                        help="module preset of the default sandbox (recipe: numpy, sympy, mpmath, ... pre-imported)")


def run_audit_command(args: argparse.Namespace) -> int:
    """0 when every technique was blocked, 1 on any escape, 2 on errors or bad arguments."""
    import sys  # noqa: PLC0415

    from retool.sandbox.audit.runner import audit  # noqa: PLC0415

    if args.list:
        for t in TECHNIQUES:
            print(f"{t.name:34} {t.category:14} {' '.join(t.aims)}{'  [hazardous]' if t.hazardous else ''}")
        return 0
    try:
        techniques = TECHNIQUES
        if args.only:
            unknown = sorted(set(args.only) - {t.name for t in TECHNIQUES})
            if unknown:
                raise ValueError(f"unknown technique(s) {unknown}; see --list")
            techniques = tuple(t for t in TECHNIQUES if t.name in args.only)
        if args.url and args.sandbox:
            raise ValueError("--url and --sandbox are exclusive: audit one sandbox")
        if args.token_file and not args.url:
            raise ValueError("--token-file needs --url")
        kwargs: dict[str, Any] = {}
        if args.url:
            from retool.sandbox.service.config import read_token  # noqa: PLC0415
            from retool.sandbox.service.remote import RemoteSandbox  # noqa: PLC0415

            token = read_token(args.token_file) if args.token_file else None
            factory = lambda: RemoteSandbox(args.url, token=token)  # noqa: E731
        elif args.sandbox:
            factory = load_factory(args.sandbox)
        else:
            factory = load_factory("retool.sandbox:PythonSandbox")
            kwargs = {"timeout": args.timeout_s or AUDIT_TIMEOUT_S, "memory_limit": args.memory_limit}
            if args.preset is not None:
                kwargs["module_preset"] = args.preset
    except ValueError as exc:
        print(f"retool sandbox audit: {exc}", file=sys.stderr)
        return 2
    try:
        sandbox = factory(**kwargs)
    except Exception as exc:  # noqa: BLE001 (report why the sandbox would not start)
        print(f"retool sandbox audit: {args.sandbox or 'PythonSandbox'} failed to start: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2

    async def main() -> AuditReport:
        try:
            if args.url:
                await sandbox.start()  # the farm's settings bound the battery; an absent farm says so
            return await audit(sandbox, techniques=techniques, timeout_slack_s=args.timeout_slack_s,
                               timeout_s=args.timeout_s, run_hazardous=not args.no_hazardous)
        finally:
            closer = getattr(sandbox, "close", None) or getattr(sandbox, "aclose", None)
            if callable(closer):
                result = closer()
                if inspect.isawaitable(result):
                    await result

    try:
        report = asyncio.run(main())
    except (TypeError, ConnectionError) as exc:
        print(f"retool sandbox audit: {exc}", file=sys.stderr)
        return 2
    print(format_report(report))
    if report.escaped or report.unattributed:
        return 1
    return 0 if report.ok else 2
