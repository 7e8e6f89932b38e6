"""``retool answers``: validate answer checkers against a labelled corpus.

    retool answers validate [CORPUS.jsonl|default] [--split dev|heldout|all] [--checker NAME|pkg.mod:fn]
                            [--compare NAME|pkg.mod:fn ...] [--min-precision 0.99] [--min-recall 0.97]
                            [--max-hard-negative-fp 0] [--json PATH] [--show-disagreements N]
                            [--show-heldout-cases] [--timeout-s 10]

Prints precision, recall, accuracy, hard-negative false positives, the per-category table and the
disagreements of the checker (``retool`` by default), then of every ``--compare`` checker and a
side-by-side table. ``--compare math-verify`` reports it twice: raw (as verl and open-r1 call it, gold
boxed) and ``math-verify-final`` (after our final-text policy). CORPUS ``default`` is the shipped
corpus: its ``dev`` and ``heldout`` splits are reported separately (``--split`` picks one, or ``all``
for both as one corpus). The held-out split is reported as aggregates only (no case, gold or
category) unless ``--show-heldout-cases``: whoever reads its cases must move them to dev before
tuning the checker on them. Put CORPUS before ``--compare``, which takes several names.

Exit status: 0 when the checker under test meets the thresholds on every reported split, 1 when it
does not (so it gates CI), 2 when the corpus or a checker cannot be loaded. Thresholds apply to
``--checker`` only; ``--compare`` checkers are reported, never gated. Every check runs in a worker
process with a per-case time bound (``--timeout-s``): a checker that raises or hangs is reported as
a disagreement with the reason, never a crash.
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
    v.add_argument("--split", choices=("dev", "heldout", "all"), default=None,
                   help="with the shipped corpus: report one split, or all as one corpus (default: dev and heldout apart)")
    v.add_argument("--checker", default="retool",
                   help="checker under test: retool, math-verify, math-verify-final, strict-box or pkg.mod:fn")
    v.add_argument("--compare", nargs="+", action="extend", default=[], metavar="CHECKER",
                   help="further checkers reported side by side (not gated)")
    v.add_argument("--min-precision", type=float, default=0.99, help="fail below this precision (default 0.99)")
    v.add_argument("--min-recall", type=float, default=0.97, help="fail below this recall (default 0.97)")
    v.add_argument("--max-hard-negative-fp", type=int, default=0,
                   help="fail above this many false positives on hard negatives (reward hacks; default 0)")
    v.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the reports as JSON")
    v.add_argument("--show-disagreements", type=int, default=None, metavar="N",
                   help="print at most N disagreements per checker (default: all)")
    v.add_argument("--show-heldout-cases", action="store_true",
                   help="print the held-out split's categories and disagreements too (then move them to dev)")
    v.add_argument("--timeout-s", type=float, default=10.0, help="per-case time bound for each check (default 10)")


def _load(args: argparse.Namespace) -> dict[str, tuple]:
    from retool.answer.validate import corpus as validate

    if args.corpus != "default":
        if args.split is not None:
            raise ValueError("--split applies to the shipped corpus ('default') only")
        return {args.corpus: validate.load_corpus(args.corpus)}
    if args.split is not None:
        return validate.load_splits(args.split)
    splits = validate.load_splits("dev")
    if validate.HELDOUT_CORPUS_PATH.is_file():
        splits.update(validate.load_splits("heldout"))
    return splits


def _specs(args: argparse.Namespace) -> list[str]:
    specs = [args.checker]
    for spec in args.compare:
        for name in (spec, "math-verify-final") if spec == "math-verify" else (spec,):
            if name not in specs:
                specs.append(name)
    return specs


def _failures(report, args: argparse.Namespace) -> list[str]:
    failures = []
    if report.precision < args.min_precision:
        failures.append(f"precision {report.precision:.4f} < {args.min_precision}")
    if report.recall < args.min_recall:
        failures.append(f"recall {report.recall:.4f} < {args.min_recall}")
    if report.hard_negative_false_positives > args.max_hard_negative_fp:
        failures.append(f"{report.hard_negative_false_positives} hard-negative false positives > {args.max_hard_negative_fp}")
    return failures


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
        splits = _load(args)
        checkers = [(spec, validate.load_checker(spec)) for spec in _specs(args)]
    except ValueError as exc:
        print(f"retool answers: {exc}", file=sys.stderr)
        return 2
    failures: list[str] = []
    payload_splits = {}
    for split, cases in splits.items():
        hidden = split == "heldout" and not args.show_heldout_cases
        label = f"shipped corpus, split {split}" if args.corpus == "default" else split
        print(f"corpus: {label} ({len(cases)} cases, {sum(c.expected for c in cases)} labelled correct)\n")
        reports = [validate.evaluate(cases, checker, name=spec, timeout_s=args.timeout_s) for spec, checker in checkers]
        for report in reports:
            print(validate.format_aggregate(report) if hidden
                  else validate.format_report(report, max_disagreements=args.show_disagreements))
            print()
        if len(reports) > 1:
            print(validate.compare(reports, categories=not hidden))
            print()
        failures += [f"{split}: {f}" if len(splits) > 1 else f for f in _failures(reports[0], args)]
        payload_splits[split] = {"cases": len(cases), "reports": [
            r.to_dict() if not hidden else {k: v for k, v in r.to_dict().items() if k not in ("categories", "disagreements")}
            for r in reports]}
    passed = not failures
    if args.json is not None:
        first = next(iter(payload_splits.values()))
        payload = {
            "corpus": str(args.corpus), "cases": first["cases"], "checker": args.checker,
            "min_precision": args.min_precision, "min_recall": args.min_recall, "passed": passed,
            "reports": first["reports"], "splits": payload_splits,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    name = args.checker
    if passed:
        print(f"PASS: {name} precision >= {args.min_precision}, recall >= {args.min_recall}, hard-negative false "
              f"positives <= {args.max_hard_negative_fp} on " + ", ".join(splits))
        return 0
    print(f"FAIL: {name} " + "; ".join(failures))
    return 1


def run(args: argparse.Namespace) -> int:
    if args.action == "validate":
        return _validate(args)
    raise ValueError(f"unknown answers action {args.action!r}")
