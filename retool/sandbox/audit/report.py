"""The audit's result: one ``Finding`` per technique, the ``AuditReport`` over them, and its table.

Contract: ``Finding.verdict`` is blocked | escaped | error | skipped, with the effects seen and
their evidence; ``AuditReport.ok`` holds when no technique escaped or errored and no effect went
unattributed (skipped techniques are listed, not failed); ``AuditReport.finding(name)`` raises
KeyError naming an unknown technique; ``format_report`` is pure: a technique-by-technique table,
then the totals and PASS or FAIL.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AuditReport", "Finding", "format_report"]


@dataclass(frozen=True, kw_only=True)
class Finding:
    """What one technique did: ``verdict`` is blocked | escaped | error | skipped."""

    name: str
    category: str
    verdict: str
    effects: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    duration_s: float = 0.0
    output_head: str = ""


@dataclass(frozen=True, kw_only=True)
class AuditReport:
    findings: tuple[Finding, ...]
    unattributed: tuple[str, ...]
    duration_s: float
    sandbox: str

    def finding(self, name: str) -> Finding:
        for f in self.findings:
            if f.name == name:
                return f
        raise KeyError(f"no finding for technique {name!r}")

    @property
    def results(self) -> tuple[Finding, ...]:
        """Alias of ``findings``."""
        return self.findings

    @property
    def escaped(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.verdict == "escaped")

    @property
    def ok(self) -> bool:
        """No escape, no error, no unattributed effect (skipped techniques are listed, not failed)."""
        return not self.unattributed and all(f.verdict in ("blocked", "skipped") for f in self.findings)


def format_report(report: AuditReport) -> str:
    """A technique-by-technique table, then the totals."""
    rows = [("technique", "category", "verdict", "effects / evidence", "s")]
    for f in report.findings:
        detail = ", ".join(f.effects) + (": " if f.effects else "") + ("; ".join(f.evidence)[:110])
        rows.append((f.name, f.category, f.verdict.upper() if f.verdict != "blocked" else f.verdict,
                     detail, f"{f.duration_s:.2f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4] for r in rows]
    counts = {v: sum(f.verdict == v for f in report.findings) for v in ("blocked", "escaped", "error", "skipped")}
    lines.append("")
    lines += [f"unattributed: {u}" for u in report.unattributed]
    lines.append(f"{len(report.findings)} techniques against {report.sandbox}: "
                 + ", ".join(f"{n} {v}" for v, n in counts.items())
                 + f" in {report.duration_s:.1f} s -> {'PASS' if report.ok else 'FAIL'}")
    return "\n".join(lines)
