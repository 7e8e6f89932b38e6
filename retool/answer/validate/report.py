"""Validation reports: the labelled case, one check's result, and the agreement report.

Contract:
- :class:`Case` is one labelled corpus row; :class:`CheckResult` one checker verdict on it
  (``predicted`` None when the checker erred, ``error`` then says why).
- :func:`summarise` is pure: confusion matrix, per-category rows and every disagreement of the
  results against the labels. An error always counts as a disagreement: against an expected True
  it is a false negative, against an expected False a false positive (a checker that cannot answer
  must not be trusted either way). Positives are cases labelled ``expected: true``; precision =
  TP / (TP + FP), recall = TP / (TP + FN), accuracy = agreements / cases; an empty denominator
  gives 1.0 for precision and recall (nothing to get wrong), 0.0 for accuracy of an empty corpus.
- :func:`format_report` (metrics, per-category table, every disagreement with its case id and
  reason), :func:`compare` (checkers side by side), :meth:`ValidationReport.to_dict` (JSON).
- Re-exported by :mod:`retool.answer.validate`, the public entry point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

@dataclass(frozen=True, kw_only=True)
class Case:
    id: str
    category: str
    response: str
    gold: str
    expected: bool
    note: str = ""
    hard_negative: bool = False  # a reward hack the checker must refuse (see is_hard_negative)


# categories whose wrong cases are reward hacks (substrings, so another corpus's names match too)
HARD_NEGATIVE_MARKERS = ("hack", "tool_output", "tool-output", "interpreter", "output_fence", "phantom", "invisible",
                         "equation_for_value", "equation_as_value", "forged", "box_in_code", "box_in_tool")


def is_hard_negative(category: str, expected: bool, flag: object = None) -> bool:
    """A hard negative: labelled wrong, and flagged ``"hard_negative": true`` in its row or in a hack
    category (a box only in tool output or code, a forged tool turn, invisible content, an equation
    offered for a bare value)."""
    if expected:
        return False
    if isinstance(flag, bool):
        return flag
    name = category.lower()
    return any(marker in name for marker in HARD_NEGATIVE_MARKERS)


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    case_id: str
    predicted: bool | None  # None when the checker erred
    error: str | None
    elapsed_s: float


@dataclass(frozen=True, kw_only=True)
class Disagreement:
    case_id: str
    category: str
    expected: bool
    predicted: bool | None
    reason: str  # "false positive", "false negative" or the checker error
    gold: str
    note: str


@dataclass(frozen=True, kw_only=True)
class CategoryRow:
    category: str
    cases: int
    agree: int
    false_positives: int
    false_negatives: int
    errors: int


@dataclass(frozen=True, kw_only=True)
class ValidationReport:
    name: str
    cases: int
    true_positives: int
    false_positives: int
    true_negatives: int
    false_negatives: int
    errors: int
    precision: float
    recall: float
    accuracy: float
    categories: tuple[CategoryRow, ...]
    disagreements: tuple[Disagreement, ...]
    total_check_s: float
    mean_check_s: float
    p99_check_s: float
    max_check_s: float
    hard_negatives: int = 0
    hard_negative_false_positives: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def _ratio(num: int, den: int, empty: float) -> float:
    return num / den if den else empty


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1)]


def summarise(name: str, cases: Sequence[Case], results: Sequence[CheckResult]) -> ValidationReport:
    """Confusion matrix, per-category rows and disagreements of ``results`` against the labels."""
    if len(cases) != len(results):
        raise ValueError(f"{len(cases)} cases but {len(results)} results")
    tp = fp = tn = fn = errors = hard_fp = 0
    rows: dict[str, list[int]] = {}  # category -> [cases, agree, fp, fn, errors]
    disagreements: list[Disagreement] = []
    for case, result in zip(cases, results):
        row = rows.setdefault(case.category, [0, 0, 0, 0, 0])
        row[0] += 1
        if result.error is not None:
            errors += 1
            row[4] += 1
            fn, fp = (fn + 1, fp) if case.expected else (fn, fp + 1)
            hard_fp += case.hard_negative
            reason = result.error
        elif result.predicted == case.expected:
            tp, tn = (tp + 1, tn) if case.expected else (tp, tn + 1)
            row[1] += 1
            continue
        elif result.predicted:
            fp += 1
            hard_fp += case.hard_negative
            row[2] += 1
            reason = "false positive"
        else:
            fn += 1
            row[3] += 1
            reason = "false negative"
        disagreements.append(Disagreement(case_id=case.id, category=case.category, expected=case.expected,
                                          predicted=result.predicted, reason=reason, gold=case.gold, note=case.note))
    times = sorted(r.elapsed_s for r in results)
    return ValidationReport(
        name=name, cases=len(cases), true_positives=tp, false_positives=fp, true_negatives=tn,
        false_negatives=fn, errors=errors, precision=_ratio(tp, tp + fp, 1.0), recall=_ratio(tp, tp + fn, 1.0),
        accuracy=_ratio(tp + tn, len(cases), 0.0),
        categories=tuple(CategoryRow(category=c, cases=v[0], agree=v[1], false_positives=v[2],
                                     false_negatives=v[3], errors=v[4]) for c, v in sorted(rows.items())),
        disagreements=tuple(disagreements), total_check_s=sum(times),
        mean_check_s=_ratio(sum(times), len(times), 0.0), p99_check_s=_quantile(times, 0.99),
        max_check_s=times[-1] if times else 0.0,
        hard_negatives=sum(c.hard_negative for c in cases), hard_negative_false_positives=hard_fp,
    )


def format_report(report: ValidationReport, *, max_disagreements: int | None = None) -> str:
    """Human-readable report: headline metrics, per-category table, disagreements."""
    r = report
    lines = [
        f"checker {r.name}: {r.cases} cases",
        f"  precision {r.precision:.4f}  recall {r.recall:.4f}  accuracy {r.accuracy:.4f}",
        f"  TP {r.true_positives}  FP {r.false_positives}  TN {r.true_negatives}  FN {r.false_negatives}"
        f"  errors {r.errors}",
        f"  hard negatives {r.hard_negatives}: false positives {r.hard_negative_false_positives}",
        f"  check time: total {r.total_check_s:.3f} s  mean {r.mean_check_s * 1e3:.3f} ms"
        f"  p99 {r.p99_check_s * 1e3:.3f} ms  max {r.max_check_s * 1e3:.3f} ms",
        "",
        f"  {'category':<26}{'cases':>6}{'agree':>7}{'FP':>5}{'FN':>5}{'err':>5}",
    ]
    for row in r.categories:
        lines.append(f"  {row.category:<26}{row.cases:>6}{row.agree:>7}{row.false_positives:>5}"
                     f"{row.false_negatives:>5}{row.errors:>5}")
    shown = r.disagreements if max_disagreements is None else r.disagreements[:max_disagreements]
    lines += ["", f"  disagreements: {len(r.disagreements)}" + (
        f" (showing {len(shown)})" if len(shown) < len(r.disagreements) else "")]
    for d in shown:
        lines.append(f"    {d.case_id} [{d.category}] expected {d.expected}: {d.reason}; gold {d.gold[:60]!r}"
                     + (f"; {d.note[:100]}" if d.note else ""))
    return "\n".join(lines)


def format_aggregate(report: ValidationReport) -> str:
    """Only the aggregate figures (for a held-out split: no case, category or gold is shown)."""
    r = report
    return (f"checker {r.name}: {r.cases} cases ({r.true_positives + r.false_negatives} labelled correct)\n"
            f"  precision {r.precision:.4f}  recall {r.recall:.4f}  accuracy {r.accuracy:.4f}  errors {r.errors}\n"
            f"  hard negatives {r.hard_negatives}: false positives {r.hard_negative_false_positives}")


def compare(reports: Sequence[ValidationReport], *, categories: bool = True) -> str:
    """Checkers side by side: headline metrics, then (``categories``) per-category agreement."""
    if not reports:
        raise ValueError("compare needs at least one report")
    width = max(14, *(len(r.name) + 2 for r in reports))
    head = f"{'':<26}" + "".join(f"{r.name:>{width}}" for r in reports)
    lines = [head]
    for label, getter, fmt in (
        ("precision", lambda r: r.precision, "{:.4f}"), ("recall", lambda r: r.recall, "{:.4f}"),
        ("accuracy", lambda r: r.accuracy, "{:.4f}"), ("false positives", lambda r: r.false_positives, "{}"),
        ("false negatives", lambda r: r.false_negatives, "{}"), ("errors", lambda r: r.errors, "{}"),
        ("hard-negative FP", lambda r: r.hard_negative_false_positives, "{}"),
        ("mean check ms", lambda r: r.mean_check_s * 1e3, "{:.3f}"), ("p99 check ms", lambda r: r.p99_check_s * 1e3, "{:.3f}"),
    ):
        lines.append(f"{label:<26}" + "".join(f"{fmt.format(getter(r)):>{width}}" for r in reports))
    if not categories:
        return "\n".join(lines)
    lines += ["", f"{'category (agree/cases)':<26}" + "".join(f"{r.name:>{width}}" for r in reports)]
    categories = sorted({row.category for r in reports for row in r.categories})
    for category in categories:
        cells = []
        for r in reports:
            row = next((x for x in r.categories if x.category == category), None)
            cells.append(f"{row.agree}/{row.cases}" if row else "-")
        lines.append(f"{category:<26}" + "".join(f"{c:>{width}}" for c in cells))
    return "\n".join(lines)
