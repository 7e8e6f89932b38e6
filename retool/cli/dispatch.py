"""The ``retool`` command: a thin dispatcher over per-area command modules.

Contract: this is the only place (with the ``retool.cli.*`` command modules it dispatches to) where flags and
files become configs. Each area module named in ``COMMANDS`` defines
``add_arguments(parser: argparse.ArgumentParser) -> None`` and ``run(args) -> int`` (the exit
status). Modules are imported only when their command is invoked, so ``retool --help`` and every
command start fast and one area's heavy imports never slow another.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "verify": ("retool.cli.verify", "check every part of the pipeline on the embedded default"),
    "sandbox": ("retool.cli.sandbox", "sandbox info, escape audit and throughput"),
    "answers": ("retool.cli.answers", "validate answer checkers on a labelled corpus"),
    "data": ("retool.cli.data", "convert SFT and RL source data into the project's records"),
    "checkpoint": ("retool.cli.checkpoint", "HF -> Megatron conversion and the rotary-base check"),
    "train": ("retool.cli.train", "SFT and GRPO training on a transformers model"),
    "watch": ("retool.cli.watch", "check training metrics against the recipe's health bands"),
    "plot": ("retool.cli.plot", "plot training metrics with the health bands shaded"),
    "demo": ("retool.cli.demo", "does the recipe learn? SFT then GRPO on CPU, and its broken twins"),
    "bench": ("retool.cli.bench", "benchmarks and the regression gate"),
    "serve": ("retool.cli.serve", "serve a transformers model with SGLang's /generate schema"),
}


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="retool",
        description="ReTool harness: verified parts of the think-with-code RL pipeline.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n"
        + "\n".join(f"  {name:<11} {help_}" for name, (_, help_) in COMMANDS.items())
        + "\n\nRun 'retool COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("command", nargs="?", choices=sorted(COMMANDS), metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    if not argv or argv[0] in ("-h", "--help"):
        top.print_help()
        return 0 if argv else 2
    if argv[0] == "--version":
        from retool import __version__

        print(f"retool-harness {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        top.error(f"unknown command {name!r}; choose from {', '.join(sorted(COMMANDS))}")
    module_name, help_ = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        print(f"retool: command {name!r} is not available in this build ({module_name} missing)", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog=f"retool {name}", description=help_)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    return int(module.run(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
