"""``retool watch METRICS.jsonl``: check training metrics against the recipe's health bands.

Prints one line per band (range, last value, status) and, for each breached band, the breaches
and the recipe's advice. Exit status: 0 healthy, 1 any breach or a banded metric missing, 2 the
metrics or bands file cannot be read (the message names the file and line).

Lines are read with :class:`retool.train.metrics_log.MetricsTail` (total: a line that is not a metrics
row, even 100k ``[`` or invalid UTF-8, is a named reject, never a traceback). Each reject is
printed on stderr as ``FILE:LINE: reason`` and makes the exit status 2, after the report of the
rows that did read.

``--follow`` tails a file a trainer is writing: every ``--interval-s`` it reads what was appended
(a last line caught mid-write waits for its newline), prints range breaches as they appear, and stops on
Ctrl-C, after ``--max-polls`` polls or once a row at ``--until-step`` is read; then it prints the full report (trend included) and exits
with the same status rules. ``--json PATH`` writes the report as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from retool.train.metrics_log import MetricsReject, MetricsTail
from retool.train.watch import (
    DEFAULT_BANDS,
    DEFAULT_WARMUP_STEPS,
    DEFAULT_WINDOW,
    Band,
    WatchReport,
    check,
    load_bands,
)

_SHOWN_PER_METRIC = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("metrics", type=Path, help="metrics JSONL file, one {\"step\": N, ...} object per line")
    parser.add_argument("--bands", type=Path, default=None, help="bands file (.json or .toml); default: the recipe's")
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW, help="steps in the trend regression window")
    parser.add_argument("--warmup-steps", type=int, default=DEFAULT_WARMUP_STEPS,
                        help="rows with step below this are not checked")
    parser.add_argument("--follow", action="store_true", help="keep watching the file as it grows (Ctrl-C stops)")
    parser.add_argument("--interval-s", type=float, default=5.0, help="seconds between polls with --follow")
    parser.add_argument("--max-polls", type=int, default=None, help="stop --follow after this many polls")
    parser.add_argument("--until-step", type=int, default=None,
                        help="stop --follow once a row with this step (or later) has been read")
    parser.add_argument("--json", type=Path, default=None, dest="json_path", help="write the report as JSON here")


def format_report(report: WatchReport, source: str) -> str:
    lines = [f"health watch: {source} ({report.rows_checked} rows checked)", ""]
    header = f"{'metric':<32} {'band':<22} {'last step':>9} {'last value':>11}  status"
    lines += [header, "-" * len(header)]
    for item in report.checks:
        value = "-" if item.last_value is None else f"{item.last_value:.4g}"
        step = "-" if item.last_step is None else str(item.last_step)
        status = item.status if not item.breaches else f"breach x{item.breaches}"
        if item.slope is not None:
            status += f" (slope {item.slope:+.3g}/step)"
        lines.append(f"{item.band.metric:<32} {item.band.describe():<22} {step:>9} {value:>11}  {status}")
    if report.all_in_warmup:
        lines.append("")
        lines.append(f"WARM-UP: all {report.rows_in_warmup} rows are inside the warm-up window (step < "
                     f"{report.warmup_steps}), so nothing was checked yet; train more steps or lower --warmup-steps")
    elif report.warmup_only:
        lines.append("")
        lines.append(f"WARM-UP {', '.join(report.warmup_only)}: logged only inside the warm-up window (step < "
                     f"{report.warmup_steps}), not checked yet")
    for metric in report.missing:
        lines.append("")
        lines.append(f"MISSING {metric}: no checked row has it; is the trainer logging it under this name?")
    shown_advice: set[str] = set()
    by_metric: dict[str, list] = {}
    for breach in report.breaches:
        by_metric.setdefault(breach.metric, []).append(breach)
    for metric, breaches in by_metric.items():
        lines.append("")
        for breach in breaches[:_SHOWN_PER_METRIC]:
            lines.append(f"BREACH {breach.message()}")
        if len(breaches) > _SHOWN_PER_METRIC:
            lines.append(f"  ... and {len(breaches) - _SHOWN_PER_METRIC} more breaches of {metric}")
        advice = breaches[0].advice
        if advice and metric not in shown_advice:
            lines.append(f"  advice: {advice}")
            shown_advice.add(metric)
    lines.append("")
    if report.ok:
        lines.append("OK: every banded metric is inside its band")
    else:
        warm = f", {len(report.warmup_only)} only in the warm-up window" if report.warmup_only else ""
        lines.append(f"FAIL: {len(report.breaches)} breaches, {len(report.missing)} missing metrics{warm}")
    return "\n".join(lines)


def _bands(args: argparse.Namespace) -> tuple[Band, ...]:
    return load_bands(args.bands) if args.bands is not None else DEFAULT_BANDS


def _finish(report: WatchReport, args: argparse.Namespace, rejects: list[MetricsReject]) -> int:
    print(format_report(report, str(args.metrics)))
    if args.json_path is not None:
        args.json_path.parent.mkdir(parents=True, exist_ok=True)
        args.json_path.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    if rejects:
        print(f"retool watch: {len(rejects)} line(s) of {args.metrics} are not metrics rows (listed above)",
              file=sys.stderr)
        return 2
    return 0 if report.ok else 1


def _print_rejects(rejects: tuple[MetricsReject, ...], source: str) -> None:
    for reject in rejects:
        print(f"retool watch: {reject.message(source)}", file=sys.stderr, flush=True)


def _follow(args: argparse.Namespace, bands: tuple[Band, ...]) -> int:
    printed: set[tuple[str, int, str]] = set()
    tail = MetricsTail(path=args.metrics)
    polls = 0
    print(f"following {args.metrics} every {args.interval_s:g}s (Ctrl-C stops)", flush=True)
    try:
        while args.max_polls is None or polls < args.max_polls:
            if polls:
                time.sleep(args.interval_s)
            polls += 1
            fresh = tail.poll()
            _print_rejects(fresh.rejects, str(args.metrics))
            if fresh.rows:
                print(f"step {tail.rows[-1]['step']}: {len(tail.rows)} rows", flush=True)
            report = check(tail.rows, bands, window=args.window, warmup_steps=args.warmup_steps)
            for breach in report.breaches:
                key = (breach.metric, breach.step, breach.kind)
                if breach.kind != "not_trending_up" and key not in printed:
                    printed.add(key)
                    print(f"BREACH {breach.message()}", flush=True)
            if args.until_step is not None and any(row["step"] >= args.until_step for row in tail.rows):
                break
    except KeyboardInterrupt:
        print("stopped", flush=True)
    _print_rejects(tail.poll().rejects, str(args.metrics))  # what arrived since; a half-written last line waits
    return _finish(check(tail.rows, bands, window=args.window, warmup_steps=args.warmup_steps), args, tail.rejects)


def run(args: argparse.Namespace) -> int:
    if args.interval_s <= 0:
        print(f"retool watch: --interval-s must be > 0, got {args.interval_s}", file=sys.stderr)
        return 2
    if args.max_polls is not None and args.max_polls < 1:
        print(f"retool watch: --max-polls must be >= 1, got {args.max_polls}", file=sys.stderr)
        return 2
    try:
        bands = _bands(args)
        if args.follow:
            return _follow(args, bands)
        if not Path(args.metrics).is_file():
            raise FileNotFoundError(f"no metrics file at {args.metrics}")
        tail = MetricsTail(path=args.metrics)
        _print_rejects(tail.poll(final=True).rejects, str(args.metrics))
        report = check(tail.rows, bands, window=args.window, warmup_steps=args.warmup_steps)
    except (OSError, ValueError) as exc:
        print(f"retool watch: {exc}", file=sys.stderr)
        return 2
    return _finish(report, args, tail.rejects)
