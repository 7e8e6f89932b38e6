"""``retool data``: convert source files into the project's records (see :mod:`retool.data`).

    retool data sft IN OUT [--dialect qwen3|retool-code] [--rejects PATH]   ReTool-SFT -> tool-calling chats
    retool data rl IN OUT [--source dapo|aime|auto] [--rejects PATH]   DAPO / AIME -> {prompt, label}

IN is JSONL or parquet; OUT is JSONL. A malformed row stops the run with its file, row and field
(exit status 1) unless ``--rejects`` names a file to collect them in. ``IN`` may be ``sample`` to
use the shipped sample of that kind.
"""

from __future__ import annotations

import argparse
import sys

_SAMPLES = {"sft": "retool_sft_sample.jsonl", "rl": "dapo_sample.jsonl"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="kind", required=True)
    sft = sub.add_parser("sft", help="ReTool-SFT rows -> chat messages with tool calls")
    rl = sub.add_parser("rl", help="DAPO-Math / AIME rows -> {prompt, label} records")
    for p in (sft, rl):
        p.add_argument("input", metavar="IN", help="JSONL or parquet file ('sample' for the shipped sample)")
        p.add_argument("output", metavar="OUT", help="JSONL file to write")
        p.add_argument("--rejects", metavar="PATH", default=None, help="write malformed rows here instead of stopping")
    rl.add_argument("--source", choices=("dapo", "aime", "auto"), default="auto", help="source schema (default: auto)")
    from retool.text.dialect import DIALECT_NAMES

    sft.add_argument("--dialect", choices=DIALECT_NAMES, default="qwen3",
                     help="qwen3: code as tool-call turns, output as tool turns; retool-code: kept native (one assistant "
                          "message), the <interpreter> spans masked 0 when trained (default: qwen3)")


def run(args: argparse.Namespace) -> int:
    from retool.data import DataError, prepare_rl, prepare_sft, sample_path

    import datasets

    datasets.disable_progress_bars()  # one summary line instead of a bar per parquet read
    path = sample_path(_SAMPLES[args.kind]) if args.input == "sample" else args.input
    try:
        if args.kind == "sft":
            report = prepare_sft(path, args.output, rejects_path=args.rejects, dialect=args.dialect)
        else:
            report = prepare_rl(path, args.output, source=args.source, rejects_path=args.rejects)
    except DataError as err:
        print(f"retool data: {err}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as err:
        print(f"retool data: {err}", file=sys.stderr)
        return 2
    sources = ", ".join(f"{name} {count}" for name, count in report.sources) or "none"
    line = f"read {report.rows_read}, wrote {report.rows_written} ({sources}), rejected {report.rows_rejected}"
    if args.kind == "sft":
        line += f", tool calls {report.tool_calls}"
    if report.rejects_path:
        line += f" -> rejects in {report.rejects_path}"
    print(f"{line}\n-> {report.out_path}")
    return 0
