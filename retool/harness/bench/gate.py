"""The benchmark regression gate: a pure comparison of two results files, and the tables.

Contract:
- Every benchmark is recorded as a *ratio* against a baseline measured in the same run on the same
  machine (ours vs spawn-per-call, ours vs a naive regex parser, ...), so load on a shared runner
  or a faster machine moves both sides alike and the ratio stays comparable across runs. The file
  format, its readers and the ``pytest --benchmark-json`` conversion live in
  :mod:`retool.harness.bench.results`.
- :func:`compare` gates on ratios only: a benchmark regresses when its ratio got worse by more than
  ``max_regression`` (a fraction: 0.10 means a throughput ratio fell below 90% of the old one, or a
  latency ratio rose above 110%), or than ``group_max_regression[group]`` for the groups named
  there. Benchmarks missing from the new file, and new ones, are reported (and do not pass
  silently: :attr:`Comparison.ok` is False when any went missing).
- Ceilings: a group named in ``ceilings`` (default :data:`DEFAULT_CEILINGS`: ``adversarial`` 150,
  hostile over typical time per KB: every reader of model text is linear, and a return of
  super-linear work, 1000x or more at the group's 32k characters, fails it; the *goal* is 5x,
  :data:`retool.harness.bench.worstcase.GOAL`, and the measured figures are in the README) is also
  held to an absolute bound on every
  new result, old figure or not: a lower-is-better ratio above it (a higher-is-better one below it)
  is a :class:`Breach`. Within its ceiling such a group is gated on the ceiling alone (its ratios of
  two small timings are noisy), unless ``group_max_regression`` names it too.
- An error result in the new file (:func:`retool.harness.bench.results.make_error_result`: the
  measured code raised or overran) is always a breach; a pair with an error on either side has no
  relative change.
- :func:`parse_fraction` reads ``"10%"`` or ``"0.1"``; :func:`format_comparison` and
  :func:`format_results` render the tables. Everything here is pure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from retool.harness.bench.results import Results

__all__ = ["DEFAULT_CEILINGS", "Breach", "Change", "Comparison", "compare", "format_comparison", "format_results",
           "parse_fraction"]

DEFAULT_CEILINGS: Mapping[str, float] = {"adversarial": 150.0}


@dataclass(frozen=True, kw_only=True)
class Change:
    name: str
    group: str
    old_ratio: float
    new_ratio: float
    change: float  # signed fraction of the old ratio; > 0 is an improvement in either direction
    regressed: bool
    higher_is_better: bool
    threshold: float  # the max regression this benchmark was held to


@dataclass(frozen=True, kw_only=True)
class Breach:
    """A new result over its group's ceiling, or an error result."""

    name: str
    group: str
    ratio: float  # NaN for an error result
    ceiling: float | None
    error: str | None
    higher_is_better: bool

    @property
    def reason(self) -> str:
        if self.error is not None:
            return f"ERROR: {self.error}"
        side = "above" if not self.higher_is_better else "below"
        return f"OVER CEILING: {self.ratio:.3g}x is {side} the group ceiling {self.ceiling:g}x"


@dataclass(frozen=True, kw_only=True)
class Comparison:
    changes: tuple[Change, ...]
    missing: tuple[str, ...]  # in old, not in new
    added: tuple[str, ...]  # in new, not in old
    max_regression: float
    old_machine: Mapping[str, Any] = field(default_factory=dict)
    new_machine: Mapping[str, Any] = field(default_factory=dict)
    breaches: tuple[Breach, ...] = ()

    @property
    def regressions(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.regressed)

    @property
    def ok(self) -> bool:
        return not self.regressions and not self.missing and not self.breaches


# ---- the gate --------------------------------------------------------------------------------


def parse_fraction(text: str | float) -> float:
    """``"10%"`` -> 0.10, ``"0.1"`` -> 0.1; must lie in [0, 1)."""
    raw = text
    try:
        if isinstance(text, str):
            text = text.strip()
            value = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
        else:
            value = float(text)
    except ValueError:
        raise ValueError(f"max regression must be like '10%' or '0.1', got {raw!r}") from None
    if not (0.0 <= value < 1.0) or not math.isfinite(value):
        raise ValueError(f"max regression must be in [0%, 100%), got {raw!r}")
    return value


def compare(old: Results, new: Results, *, max_regression: float = 0.10,
            group_max_regression: Mapping[str, float] | None = None,
            ceilings: Mapping[str, float] | None = None) -> Comparison:
    """Per benchmark present in both: the ratio change; regressions beyond ``max_regression``, or
    beyond ``group_max_regression[group]`` for the groups named there (noisier ones, such as
    wall-clock sandbox figures on a shared runner). Then every new result against its group's
    ceiling (``ceilings``, default :data:`DEFAULT_CEILINGS`; pass ``{}`` for none) and every new
    error result: the breaches."""
    per_group = dict(group_max_regression or {})
    for label, x in [("max_regression", max_regression), *per_group.items()]:
        if not (0.0 <= x < 1.0):
            raise ValueError(f"{label}: max regression must be a fraction in [0, 1), got {x!r}")
    ceilings = dict(DEFAULT_CEILINGS if ceilings is None else ceilings)
    for group, x in ceilings.items():
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or x <= 0:
            raise ValueError(f"{group}: a ceiling must be a finite ratio > 0, got {x!r}")
    old_by, new_by = {r.name: r for r in old.results}, {r.name: r for r in new.results}
    changes = []
    for name, o in old_by.items():
        n = new_by.get(name)
        if n is None or n.error is not None or o.error is not None:
            continue
        hib, group = n.higher_is_better, n.group or o.group
        threshold = per_group.get(group, max_regression)
        change = (n.ratio / o.ratio - 1.0) if hib else (o.ratio / n.ratio - 1.0)
        worse = (1.0 - n.ratio / o.ratio) if hib else (n.ratio / o.ratio - 1.0)
        gated = group in per_group or group not in ceilings
        changes.append(Change(name=name, group=group, old_ratio=o.ratio, new_ratio=n.ratio, change=change,
                              regressed=gated and worse > threshold + 1e-12, higher_is_better=hib, threshold=threshold))
    breaches = []
    for n in new.results:
        ceiling = ceilings.get(n.group)
        over = ceiling is not None and (n.ratio < ceiling if n.higher_is_better else n.ratio > ceiling)
        if n.error is not None or over:
            breaches.append(Breach(name=n.name, group=n.group, ratio=n.ratio, ceiling=ceiling, error=n.error,
                                   higher_is_better=n.higher_is_better))
    return Comparison(changes=tuple(changes), missing=tuple(n for n in old_by if n not in new_by),
                      added=tuple(n for n in new_by if n not in old_by), max_regression=max_regression,
                      old_machine=dict(old.machine), new_machine=dict(new.machine), breaches=tuple(breaches))


def _machine_line(m: Mapping[str, Any]) -> str:
    return (f"{m.get('cpu_count', '?')} CPUs, {m.get('platform') or '?'}, Python {m.get('python') or '?'}, "
            f"torch {m.get('torch') or '-'}, GPU {m.get('cuda_device') or 'none'}")


def format_comparison(c: Comparison) -> str:
    """A table of old/new ratios and the change, then missing/new benchmarks and the verdict."""
    width = max([len(x.name) for x in c.changes] + [len(n) for n in c.missing + c.added] + [9])
    lines = [f"old: {_machine_line(c.old_machine)}", f"new: {_machine_line(c.new_machine)}", "",
             f"{'benchmark':<{width}}  {'old ratio':>10}  {'new ratio':>10}  {'change':>8}  verdict"]
    breach_of = {b.name: b for b in c.breaches}
    for x in sorted(c.changes, key=lambda x: (x.group, x.name)):
        verdict = "REGRESSED" if x.regressed else "ok"
        if x.name in breach_of:
            verdict = ("REGRESSED; " if x.regressed else "") + breach_of.pop(x.name).reason
        arrow = ("" if x.higher_is_better else " (lower is better)") + (
            f" [group threshold {x.threshold:.0%}]" if x.threshold != c.max_regression else "")
        lines.append(f"{x.name:<{width}}  {x.old_ratio:>10.3g}  {x.new_ratio:>10.3g}  {x.change:>+8.1%}  {verdict}{arrow}")
    for name in c.missing:
        lines.append(f"{name:<{width}}  {'':>10}  {'-':>10}  {'':>8}  MISSING from the new results")
    for name in c.added:
        note = breach_of.pop(name).reason if name in breach_of else "new (no old figure to compare)"
        lines.append(f"{name:<{width}}  {'-':>10}  {'':>10}  {'':>8}  {note}")
    for b in breach_of.values():  # in both files, but one side an error result
        new = "error" if b.error is not None else f"{b.ratio:.3g}"
        lines.append(f"{b.name:<{width}}  {'':>10}  {new:>10}  {'':>8}  {b.reason}")
    n_reg = len(c.regressions)
    lines.append("")
    if c.ok:
        lines.append(f"PASS: {len(c.changes)} benchmarks within their threshold ({c.max_regression:.0%} unless noted)"
                     + (f"; {len(c.added)} new" if c.added else ""))
    else:
        n_err = sum(b.error is not None for b in c.breaches)
        parts = ([f"{n_reg} regressed beyond their threshold ({c.max_regression:.0%} unless noted)"] if n_reg else []) + (
            [f"{len(c.missing)} missing"] if c.missing else []) + (
            [f"{len(c.breaches) - n_err} over their group ceiling"] if len(c.breaches) > n_err else []) + (
            [f"{n_err} error results"] if n_err else [])
        lines.append("FAIL: " + ", ".join(parts))
    return "\n".join(lines)


def format_results(results: Results) -> str:
    """The results as a table: group, benchmark, value, baseline, ratio."""
    width = max([len(r.name) for r in results.results] + [9])
    gw = max([len(r.group) for r in results.results] + [5])
    lines = [f"machine: {_machine_line(results.machine)}", "",
             f"{'group':<{gw}}  {'benchmark':<{width}}  {'value':>12}  {'baseline':>12}  {'ratio':>8}  unit"]
    for r in results.results:
        value = "-" if r.value is None else f"{r.value:.4g}"
        base = "-" if r.baseline is None else f"{r.baseline:.4g}"
        hint = "" if r.higher_is_better else " (lower is better)"
        ratio = "ERROR" if r.error is not None else f"{r.ratio:>7.3g}x"
        lines.append(f"{r.group:<{gw}}  {r.name:<{width}}  {value:>12}  {base:>12}  {ratio:>8}  {r.unit}{hint}"
                     + (f"  {r.error}" if r.error is not None else ""))
    return "\n".join(lines)
