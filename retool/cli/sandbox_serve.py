"""``retool sandbox serve``: SandboxFusion's HTTP API (``POST /run_code``) served by our sandbox.

Contract: ``add_serve_arguments(parser)`` adds --host (127.0.0.1), --port (8080; 0 picks one),
--token-file, --preset (retool | fusion), --module-preset, --concurrency, --timeout-s, --memory-limit, --max-queue,
--max-request-bytes, --drain-timeout-s, --uid-base and --allow-weaker; ``run_serve(args) -> int``
serves until SIGTERM or SIGINT, then drains (see :mod:`retool.sandbox.service.server`) and
returns 0. It prints one line ``serving <url>`` (flushed) once it accepts connections. Exit 2
with the reason for a bad flag (a non-loopback --host without --token-file, an unreadable or
short token file, an unknown preset) or a sandbox that cannot start (a missing kernel layer
without --allow-weaker). The token file holds the token on its first line; it is read once.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

from retool.sandbox.service.config import read_token

__all__ = ["add_serve_arguments", "main", "run_serve"]


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1; any other needs --token-file)")
    parser.add_argument("--port", type=int, default=8080, help="TCP port (default 8080, 0 = any free port)")
    parser.add_argument("--token-file", default=None, metavar="FILE",
                        help="file whose first line is the bearer token clients must send")
    parser.add_argument("--preset", default="retool", help="sandbox settings: retool (the recipe's) or fusion "
                        "(SandboxFusion-like: scripts, any stdlib module, 1 MiB output)")
    parser.add_argument("--module-preset", default=None, metavar="NAME",
                        help="modules allowed and pre-imported, e.g. recipe (numpy, sympy, ...; see `retool sandbox info`)")
    parser.add_argument("--concurrency", type=int, default=None, help="runs at once (default: the preset's)")
    parser.add_argument("--timeout-s", type=float, default=None, help="cap on run_timeout (default: the preset's)")
    parser.add_argument("--memory-limit", default=None, help="cap on memory per run, e.g. 4GB (default: the preset's)")
    parser.add_argument("--max-queue", type=int, default=256, help="waiting runs before 429 (default 256)")
    parser.add_argument("--max-request-bytes", type=int, default=2 * 2**20, help="request body cap (default 2 MiB)")
    parser.add_argument("--drain-timeout-s", type=float, default=30.0,
                        help="on shutdown, how long running runs may finish (default 30)")
    parser.add_argument("--uid-base", type=int, default=None, help="first slot uid (default 61000)")
    parser.add_argument("--allow-weaker", action="store_true",
                        help="start even where a kernel isolation layer is missing (see `retool sandbox info`)")


def _build(args: argparse.Namespace) -> tuple[Any, Any]:
    from retool.sandbox.config import parse_size
    from retool.sandbox.service.presets import preset_config
    from retool.sandbox.service.server import ServiceConfig
    from retool.sandbox.supervisor import PythonSandbox

    token = read_token(args.token_file) if args.token_file else None
    service = ServiceConfig(host=args.host, port=args.port, token=token, max_queue=args.max_queue,
                            max_request_bytes=args.max_request_bytes, drain_timeout_s=args.drain_timeout_s)
    overrides: dict[str, Any] = {"allow_weaker": bool(args.allow_weaker)}
    if args.module_preset is not None:
        overrides["module_preset"] = args.module_preset
    if args.concurrency is not None:
        overrides["concurrency"] = args.concurrency
    if args.timeout_s is not None:
        overrides["timeout_s"] = args.timeout_s
    if args.memory_limit is not None:
        overrides["memory_limit_bytes"] = parse_size(args.memory_limit)
    if args.uid_base is not None:
        overrides["uid_base"] = args.uid_base
    return PythonSandbox(preset_config(args.preset, **overrides)), service


async def _serve(sandbox: Any, service_config: Any) -> int:
    from retool.sandbox.service.server import SandboxService

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    service = SandboxService(sandbox, service_config)
    try:
        await service.start()
        inactive = [k for k, v in sandbox.layers().items() if not v.startswith("active")]
        print(f"serving {service.url} (layers off: {', '.join(inactive) or 'none'})", flush=True)
        await stop.wait()
        print("draining: finishing runs in flight", file=sys.stderr, flush=True)
        await service.stop()
    finally:
        await sandbox.close()
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from retool.sandbox.supervisor import SandboxUnavailableError

    try:
        sandbox, service_config = _build(args)
    except (ValueError, SandboxUnavailableError) as exc:
        print(f"retool sandbox serve: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_serve(sandbox, service_config))
    except OSError as exc:  # the port is taken, the address is not ours, ...
        print(f"retool sandbox serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    """``python -m retool.cli.sandbox_serve``: the same as ``retool sandbox serve``."""
    parser = argparse.ArgumentParser(prog="retool sandbox serve", description=__doc__.splitlines()[0])
    add_serve_arguments(parser)
    return run_serve(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
