"""``retool serve``: serve a transformers model with SGLang's ``/generate`` schema (see retool.rollout.engines.server).

Binds to 127.0.0.1 by default; any other host needs ``--allow-remote`` (the server has no auth).
"""

from __future__ import annotations

import argparse
import signal
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="a local Hugging Face model directory, or 'tiny'")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=30000, help="port (0 picks a free one; default 30000)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--seed", type=int, default=0, help="seed for requests without sampling_seed")
    parser.add_argument("--allow-remote", action="store_true", help="allow binding a non-loopback address")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    from retool.text.dialect import DIALECT_NAMES

    parser.add_argument("--dialect", choices=DIALECT_NAMES, default=None,
                        help="stop requests that send no stop strings at this dialect's call closer and forged markup "
                             "(retool-code: </code>, <interpreter>; default: none added, as SGLang)")


def run(args: argparse.Namespace) -> int:
    from retool.rollout.engines import HFEngine
    from retool.embedded.models import load_model, tiny_model
    from retool.rollout.engines.server import GenerateServer

    try:
        model, tokenizer = tiny_model() if args.model == "tiny" else load_model(args.model)
    except OSError as exc:  # a missing directory, no config.json, unreadable weights: an argument error
        print(f"retool serve: --model {args.model}: {exc}", file=sys.stderr)
        return 2
    engine = HFEngine(model, tokenizer, device=args.device, default_seed=args.seed)
    try:
        from retool.text.dialect import get_dialect

        stops = get_dialect(args.dialect).stops() if args.dialect else ()
        server = GenerateServer(engine, host=args.host, port=args.port, model_name=args.model,
                                allow_remote=args.allow_remote, verbose=args.verbose, default_stop=stops)
    except (ValueError, OSError) as exc:
        print(f"retool serve: {exc}", file=sys.stderr)
        return 2
    dialect = f", default stops of {args.dialect}" if args.dialect else ""
    print(f"serving {args.model} on {server.url} (POST /generate, GET /health{dialect}); Ctrl-C stops", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)  # stop as cleanly on SIGTERM as on Ctrl-C
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
