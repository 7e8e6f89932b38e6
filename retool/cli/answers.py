"""``retool answers``: validate answer checkers against a labelled corpus.

    retool answers validate [CORPUS.jsonl|default] [--checker NAME|pkg.mod:fn]
                            [--compare NAME|pkg.mod:fn ...] [--min-precision 0.99] [--min-recall 0.97]
                            [--json PATH] [--show-disagreements N] [--timeout-s 10]

Prints precision, recall, accuracy, the per-category table and the disagreements of the checker
(``retool`` by default), then of every ``--compare`` checker and a side-by-side table. Exit status:
0 when the checker under test meets both thresholds, 1 when it does not (so it gates CI), 2 when
the corpus or a checker cannot be loaded. Thresholds apply to ``--checker`` only; ``--compare``
checkers are reported, never gated. CORPUS defaults to the shipped corpus
(``retool/answer/validate/answer_corpus.jsonl``); put it before ``--compare``, which takes several names.
Every check runs in a worker process with a per-case time bound (``--timeout-s``): a checker that
raises or hangs is reported as a disagreement with the reason, never a crash.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    v = sub.add_parser("validate", help="run checkers over a labelled JSONL corpus and gate on precision/recall",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    v.add_argument("corpus", nargs="?", default="default",
                   help="labelled JSONL corpus (id, category, response, gold, expected, note); default: the shipped one")
    v.add_argument("--checker", default="retool",
                   help="checker under test: retool, math-verify, strict-box or pkg.mod:fn (default: retool)")
    v.add_argument("--compare", nargs="+", action="extend", default=[], metavar="CHECKER",
                   help="further checkers reported side by side (not gated)")
    v.add_argument("--min-precision", type=float, default=0.99, help="fail below this precision (default 0.99)")
    v.add_argument("--min-recall", type=float, default=0.97, help="fail below this recall (default 0.97)")
    v.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the reports as JSON")
    v.add_argument("--show-disagreements", type=int, default=None, metavar="N",
                   help="print at most N disagreements per checker (default: all)")
    v.add_argument("--timeout-s", type=float, default=10.0, help="per-case time bound for each check (default 10)")


def _validate(args: argparse.Namespace) -> int:
    from retool.answer.validate import corpus as validate

    for name in ("min_precision", "min_recall"):
        value = getattr(args, name)
        if not 0.0 <= value <= 1.0:
            print(f"retool answers: --{name.replace('_', '-')} must be in [0, 1], got {value}", file=sys.stderr)
            return 2
    if args.timeout_s <= 0 or (args.show_disagreements is not None and args.show_disagreements < 0):
        print("retool answers: --timeout-s must be positive and --show-disagreements non-negative", file=sys.stderr)
        return 2
    try:
        cases = validate.load_corpus(args.corpus)
        specs = [args.checker, *[c for c in args.compare if c != args.checker]]
        checkers = [(spec, validate.load_checker(spec)) for spec in specs]
    except ValueError as exc:
        print(f"retool answers: {exc}", file=sys.stderr)
        return 2
    corpus_name = "shipped corpus" if args.corpus == "default" else args.corpus
    print(f"corpus: {corpus_name} ({len(cases)} cases, {sum(c.expected for c in cases)} labelled correct)\n")
    reports = []
    for spec, checker in checkers:
        report = validate.evaluate(cases, checker, name=spec, timeout_s=args.timeout_s)
        reports.append(report)
        print(validate.format_report(report, max_disagreements=args.show_disagreements))
        print()
    if len(reports) > 1:
        print(validate.compare(reports))
        print()
    main = reports[0]
    failures = []
    if main.precision < args.min_precision:
        failures.append(f"precision {main.precision:.4f} < {args.min_precision}")
    if main.recall < args.min_recall:
        failures.append(f"recall {main.recall:.4f} < {args.min_recall}")
    passed = not failures
    if args.json is not None:
        payload = {
            "corpus": str(args.corpus), "cases": len(cases), "checker": args.checker,
            "min_precision": args.min_precision, "min_recall": args.min_recall, "passed": passed,
            "reports": [r.to_dict() for r in reports],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    if passed:
        print(f"PASS: {main.name} precision {main.precision:.4f} >= {args.min_precision}, "
              f"recall {main.recall:.4f} >= {args.min_recall}")
        return 0
    print(f"FAIL: {main.name} " + "; ".join(failures))
    return 1


def run(args: argparse.Namespace) -> int:
    if args.action == "validate":
        return _validate(args)
    raise ValueError(f"unknown answers action {args.action!r}")
