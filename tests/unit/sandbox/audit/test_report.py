"""Contract tests of ``retool.sandbox.audit.report``: ``AuditReport.ok`` (escapes, errors and
unattributed effects fail; skips do not), ``finding`` lookup, the derived views, and
``format_report``'s table and verdict line (built reports, plus the naive sandbox's real one)."""

from __future__ import annotations

import pytest

from retool.sandbox.audit import AuditReport, Finding, format_report
from tests.unit.sandbox.audit.cases import NAIVE_EXPECTED


def report(*verdicts: str, unattributed: tuple[str, ...] = ()) -> AuditReport:
    findings = tuple(
        Finding(name=f"t{i}", category="cat", verdict=v,
                effects=("canary_read",) if v == "escaped" else (),
                evidence=("canary secret in output",) if v == "escaped" else (("boom",) if v == "error" else ()),
                duration_s=0.5)
        for i, v in enumerate(verdicts))
    return AuditReport(findings=findings, unattributed=unattributed, duration_s=1.25, sandbox="Box")


def test_format_report_lists_every_technique_and_the_verdict(naive_report: AuditReport) -> None:
    text = format_report(naive_report)
    for name in NAIVE_EXPECTED:
        assert name in text
    assert "ESCAPED" in text and text.rstrip().endswith("FAIL")


@pytest.mark.parametrize("verdicts", [(), ("blocked",), ("blocked", "skipped"), ("skipped",)])
def test_blocked_and_skipped_techniques_pass(verdicts: tuple[str, ...]) -> None:
    assert report(*verdicts).ok


@pytest.mark.parametrize("bad", ["escaped", "error"])
def test_one_escape_or_error_fails_the_report(bad: str) -> None:
    assert not report("blocked", bad, "blocked").ok


def test_an_unattributed_effect_fails_an_otherwise_clean_report() -> None:
    assert not report("blocked", unattributed=("process_leak: pid 1 outlived its call",)).ok


def test_finding_is_looked_up_by_name() -> None:
    assert report("blocked", "escaped").finding("t1").verdict == "escaped"


def test_an_unknown_finding_is_a_key_error_naming_it() -> None:
    with pytest.raises(KeyError, match="'nope'"):
        report("blocked").finding("nope")


def test_escaped_lists_only_the_escapes_and_results_aliases_findings() -> None:
    r = report("blocked", "escaped", "error", "escaped")
    assert [f.name for f in r.escaped] == ["t1", "t3"] and r.results == r.findings


def test_table_has_a_header_a_row_per_technique_and_a_verdict_line() -> None:
    lines = format_report(report("blocked", "escaped", "error", "skipped")).splitlines()
    assert lines[0].split()[:4] == ["technique", "category", "verdict", "effects"]
    assert [line.split()[2] for line in lines[1:5]] == ["blocked", "ESCAPED", "ERROR", "SKIPPED"]
    assert lines[-1] == "4 techniques against Box: 1 blocked, 1 escaped, 1 error, 1 skipped in 1.2 s -> FAIL"


def test_an_escape_row_shows_its_effects_and_evidence() -> None:
    row = format_report(report("escaped")).splitlines()[1]
    assert "canary_read: canary secret in output" in row and row.endswith("0.50")


def test_a_clean_report_ends_with_pass() -> None:
    assert format_report(report("blocked", "skipped")).endswith("-> PASS")


def test_unattributed_effects_are_listed_before_the_verdict() -> None:
    lines = format_report(report("blocked", unattributed=("signal: decoy died",))).splitlines()
    assert lines[-2] == "unattributed: signal: decoy died" and lines[-1].endswith("FAIL")


def test_long_evidence_is_shortened_in_the_table() -> None:
    long = AuditReport(findings=(Finding(name="t", category="c", verdict="error", evidence=("x" * 500,)),),
                       unattributed=(), duration_s=0.0, sandbox="Box")
    assert "x" * 110 in format_report(long) and "x" * 111 not in format_report(long)


def test_format_report_is_pure() -> None:
    r = report("blocked", "escaped")
    assert format_report(r) == format_report(r)
