"""``retool plot METRICS.jsonl -o metrics.png``: the banded metrics over steps, bands shaded.

One panel per band (default: the recipe's six), the metric over steps as a line, the healthy
band shaded green, the warm-up steps the watch ignores shaded grey, each range breach marked with
a red cross, and for a trend band the regression line over the last window (red when it is not
trending up). A metric missing from the log gets a panel that says so. Uses matplotlib's Agg
backend (no display needed). Exit status: 0 when the image was written (breaches are for
``retool watch`` to gate on), 2 when the metrics or bands file cannot be read.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from retool.train.metrics import read_metrics
from retool.train.watch import (
    DEFAULT_BANDS,
    DEFAULT_WARMUP_STEPS,
    DEFAULT_WINDOW,
    Band,
    WatchReport,
    check,
    load_bands,
    slope,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("metrics", type=Path, help="metrics JSONL file, one {\"step\": N, ...} object per line")
    parser.add_argument("-o", "--output", type=Path, default=Path("metrics.png"), help="PNG to write")
    parser.add_argument("--bands", type=Path, default=None, help="bands file (.json or .toml); default: the recipe's")
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW, help="steps in the trend regression window")
    parser.add_argument("--warmup-steps", type=int, default=DEFAULT_WARMUP_STEPS, help="steps the watch ignores")
    parser.add_argument("--dpi", type=int, default=100, help="image resolution")


def _points(rows: list[dict], metric: str) -> list[tuple[int, float]]:
    out = []
    for row in rows:
        value = row.get(metric)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            out.append((int(row["step"]), float(value)))
    return out


def _panel(ax, band: Band, rows: list[dict], report: WatchReport, window: int, warmup_steps: int) -> None:
    points = _points(rows, band.metric)
    ax.set_title(f"{band.metric}  [{band.describe()}]", fontsize=9, loc="left")
    ax.grid(True, alpha=0.3)
    if not points:
        ax.text(0.5, 0.5, "missing from the metrics log", ha="center", va="center", transform=ax.transAxes, color="crimson")
        ax.set_yticks([])
        return
    steps = [s for s, _ in points]
    values = [v for _, v in points]
    ax.plot(steps, values, color="tab:blue", linewidth=1.4, marker="." if len(points) <= 60 else None)
    bounds = [b for b in (band.low, band.high) if b is not None]
    low_y, high_y = min(values + bounds), max(values + bounds)
    pad = (high_y - low_y) * 0.08 or max(abs(high_y), 1.0) * 0.1
    ax.set_ylim(low_y - pad, high_y + pad)
    if bounds:
        ax.axhspan(band.low if band.low is not None else low_y - pad, band.high if band.high is not None else high_y + pad,
                   color="tab:green", alpha=0.15, linewidth=0)
        for bound in bounds:
            ax.axhline(bound, color="tab:green", linewidth=0.8, linestyle="--")
    if warmup_steps > 0 and steps[0] < warmup_steps:
        ax.axvspan(steps[0], min(warmup_steps, steps[-1]), color="grey", alpha=0.15, linewidth=0)
    range_breaches = [b for b in report.breaches if b.metric == band.metric and b.value is not None and b.kind != "not_trending_up"]
    if range_breaches:
        ax.scatter([b.step for b in range_breaches], [b.value for b in range_breaches], marker="x", color="crimson", s=40, zorder=3)
    if band.trend == "up":
        checked = [(float(s), v) for s, v in points if s >= warmup_steps][-window:]
        if len(checked) >= window:
            fit = slope(checked)
            mean_x = sum(x for x, _ in checked) / len(checked)
            mean_y = sum(y for _, y in checked) / len(checked)
            xs = [checked[0][0], checked[-1][0]]
            colour = "tab:green" if fit > 0 else "crimson"
            ax.plot(xs, [mean_y + fit * (x - mean_x) for x in xs], color=colour, linewidth=2, linestyle="--",
                    label=f"slope {fit:+.3g}/step")
            ax.legend(loc="best", fontsize=8)


def plot(rows: list[dict], bands: tuple[Band, ...], output: Path, *, window: int, warmup_steps: int,
         dpi: int = 100, title: str = "") -> WatchReport:
    """Draw one panel per band into ``output`` (PNG); return the watch report it was drawn from."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report = check(rows, bands, window=window, warmup_steps=warmup_steps)
    columns = 2 if len(bands) > 1 else 1
    grid_rows = math.ceil(len(bands) / columns)
    fig, axes = plt.subplots(grid_rows, columns, figsize=(6.0 * columns, 2.8 * grid_rows), squeeze=False, sharex=True)
    try:
        for index, ax in enumerate(axes.flat):
            if index >= len(bands):
                ax.set_visible(False)
                continue
            _panel(ax, bands[index], rows, report, window, warmup_steps)
            if index // columns == grid_rows - 1 or index + columns >= len(bands):
                ax.set_xlabel("step")
                ax.xaxis.set_tick_params(labelbottom=True)
        verdict = "healthy" if report.ok else f"{len(report.breaches)} breaches, {len(report.missing)} missing"
        fig.suptitle(f"{title}  ({verdict})\ngreen: healthy band   grey: warm-up (not checked)   red x: breach".strip(),
                     fontsize=10)
        fig.tight_layout()
        output.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(output, dpi=dpi, format="png")
    finally:
        plt.close(fig)
    return report


def run(args: argparse.Namespace) -> int:
    try:
        bands = load_bands(args.bands) if args.bands is not None else DEFAULT_BANDS
        if not bands:
            raise ValueError("no bands to plot")
        rows = read_metrics(args.metrics)
        report = plot(rows, tuple(bands), args.output, window=args.window, warmup_steps=args.warmup_steps,
                      dpi=args.dpi, title=args.metrics.name)
    except (OSError, ValueError) as exc:
        print(f"retool plot: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.output} ({len(bands)} panels, {len(report.breaches)} breaches, {len(report.missing)} missing)")
    return 0
