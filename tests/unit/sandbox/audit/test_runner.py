"""The escape battery: every technique is blocked by PythonSandbox, and the probes can fail.

(1) The whole battery runs once against ``retool.sandbox.PythonSandbox`` (timeout 2 s, 256 MB);
each technique is its own test id and must be ``blocked``. (2) The same engine against the
deliberately insecure ``NaiveSandbox`` must report the specific effects each technique causes
there (canary read, socket connect, environment leak, ``os.system``, ...), which shows each probe
can fail. Only techniques with harmless effects run against the naive sandbox (it runs as this
user with no isolation): no bombs, no killing of the parent or of pid -1.
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from retool.sandbox import PythonSandbox
from retool.sandbox.audit import AuditReport, audit
from retool.sandbox.naive import NaiveSandbox
from tests.capabilities import ESCAPE_LAYERS, sandbox_options, skip_unless_escape_layers
from retool.sandbox.audit import TECHNIQUES
from tests.unit.sandbox.audit.cases import NAIVE_EXPECTED, TECHNIQUE_NAMES, techniques_named

TECHNIQUES_BY_CATEGORY = {c: [t for t in TECHNIQUES if t.category == c] for c in {t.category for t in TECHNIQUES}}

# --- (1) our sandbox blocks everything ----------------------------------------------------------


@pytest.fixture(scope="module")
def python_sandbox_report() -> AuditReport:
    # Landlock, seccomp, rlimits and no-new-privs block every technique; the per-slot uid layer
    # (root only) is defence in depth, so a non-root host runs the battery without it.
    skip_unless_escape_layers()

    async def go() -> AuditReport:
        async with PythonSandbox(timeout=2.0, memory_limit="256MB", concurrency=8, **sandbox_options()) as sandbox:
            assert {name for name, state in sandbox.layers().items() if state == "active"} >= set(ESCAPE_LAYERS)
            return await audit(sandbox, timeout_slack_s=3.0)

    return asyncio.run(go())


@pytest.mark.parametrize("name", TECHNIQUE_NAMES)
def test_python_sandbox_blocks_technique(python_sandbox_report: AuditReport, name: str) -> None:
    finding = python_sandbox_report.finding(name)
    assert finding.verdict == "blocked", f"{name}: {finding.verdict} {finding.effects} {finding.evidence}"


def test_python_sandbox_audit_has_no_unattributed_effects(python_sandbox_report: AuditReport) -> None:
    assert python_sandbox_report.unattributed == ()
    assert python_sandbox_report.ok


# --- (2) the probes bite: the naive sandbox lets these out --------------------------------------

@pytest.mark.parametrize("name", sorted(NAIVE_EXPECTED))
def test_audit_detects_escape_from_naive_sandbox(naive_report: AuditReport, name: str) -> None:
    finding = naive_report.finding(name)
    assert finding.verdict == "escaped", finding
    missing = set(NAIVE_EXPECTED[name]) - set(finding.effects)
    assert not missing, f"{name}: expected {missing} among {finding.effects}; evidence {finding.evidence}"


def test_naive_sandbox_audit_fails_and_cleans_up(naive_report: AuditReport, naive_started_at: float) -> None:
    import psutil

    assert not naive_report.ok
    assert naive_report.unattributed == ()
    leftovers = [p for p in psutil.Process().children(recursive=True)
                 if p.status() != psutil.STATUS_ZOMBIE and p.create_time() >= naive_started_at - 1]
    assert leftovers == []
    assert not [k for k in os.environ if k.startswith("RETOOL_AUDIT_")]


CONTAMINATION = ("builtins_poisoning", "module_attribute_poisoning", "sys_modules_poisoning", "daemon_thread_survivor")


@pytest.fixture(scope="module")
def reused_worker_report() -> AuditReport:
    async def go() -> AuditReport:
        sandbox = NaiveSandbox(timeout_s=3.0, reuse_worker=True)
        try:
            techniques = techniques_named(*CONTAMINATION, "exit0_fake_success")
            return await audit(sandbox, techniques=techniques, timeout_slack_s=3.0, concurrency=1)
        finally:
            await sandbox.close()

    return asyncio.run(go())


@pytest.mark.parametrize("name", CONTAMINATION)
def test_audit_detects_contamination_of_a_reused_worker(reused_worker_report: AuditReport, name: str) -> None:
    assert "contamination" in reused_worker_report.finding(name).effects


def test_audit_detects_a_killed_sandbox_process(reused_worker_report: AuditReport) -> None:
    finding = reused_worker_report.finding("exit0_fake_success")
    assert "supervisor" in finding.effects, finding


def test_audit_detects_a_hang_past_timeout_plus_slack() -> None:
    async def go() -> AuditReport:
        sandbox = NaiveSandbox(timeout_s=60.0)  # its own timeout is far too long
        try:
            return await audit(sandbox, techniques=techniques_named("sleep_past_timeout"), timeout_s=0.5,
                               timeout_slack_s=0.5)
        finally:
            await sandbox.close()

    start = time.monotonic()
    finding = asyncio.run(go()).finding("sleep_past_timeout")
    assert finding.effects == ("hang",)
    assert time.monotonic() - start < 10


class _BlockingSandbox:
    """Blocks the event loop on technique code (a blocking communicate() inside async def)."""

    async def execute_code(self, code: str) -> str:
        if "retool-audit" in code:
            time.sleep(3.5)
        return "42"


class _RaisingSandbox:
    async def execute_code(self, code: str) -> str:
        if "retool-audit" in code:
            raise RuntimeError("boom")
        return "42"


class _DeadSandbox:
    async def execute_code(self, code: str) -> str:
        return ""


def test_audit_detects_a_blocked_event_loop() -> None:
    report = asyncio.run(audit(_BlockingSandbox(), techniques=techniques_named("cpu_spin"), timeout_s=1.0))
    assert "loop_blocked" in report.finding("cpu_spin").effects


def test_a_sandbox_that_raises_is_an_error_not_a_pass() -> None:
    report = asyncio.run(audit(_RaisingSandbox(), techniques=techniques_named("cpu_spin"), timeout_s=1.0))
    finding = report.finding("cpu_spin")
    assert finding.verdict == "error" and "RuntimeError" in finding.evidence[0]
    assert not report.ok


def test_a_sandbox_failing_the_health_probe_fails_every_technique() -> None:
    report = asyncio.run(audit(_DeadSandbox(), techniques=techniques_named("cpu_spin", "open_canary_direct"), timeout_s=1.0))
    assert [f.verdict for f in report.findings] == ["error", "error"]


def test_hazardous_techniques_are_skipped_once_something_escaped() -> None:
    async def go() -> AuditReport:
        sandbox = NaiveSandbox(timeout_s=3.0)
        try:
            return await audit(sandbox, techniques=techniques_named("open_canary_direct", "kill_parent"))
        finally:
            await sandbox.close()

    report = asyncio.run(go())
    assert report.finding("open_canary_direct").verdict == "escaped"
    assert report.finding("kill_parent").verdict == "skipped"


# --- (3) the recipe preset's gadgets, with numpy and sympy really importable ---------------------
@pytest.fixture(scope="module")
def recipe_report() -> AuditReport:
    skip_unless_escape_layers()
    from retool.sandbox.audit.techniques.gadgets import RECIPE_GADGETS

    async def go() -> AuditReport:
        async with PythonSandbox(timeout=10.0, memory_limit="512MB", concurrency=4, module_preset="recipe",
                                 **sandbox_options()) as sandbox:
            return await audit(sandbox, techniques=RECIPE_GADGETS, timeout_slack_s=3.0)

    return asyncio.run(go())


@pytest.mark.parametrize("name", [t.name for t in TECHNIQUES_BY_CATEGORY["recipe-gadget"]])
def test_recipe_preset_blocks_each_gadget_after_its_library_loaded(recipe_report: AuditReport, name: str) -> None:
    finding = recipe_report.finding(name)
    assert finding.verdict == "blocked", f"{name}: {finding.verdict} {finding.effects} {finding.evidence}"
    assert finding.output_head.startswith("gadget-ready"), finding.output_head  # not blocked by a failed import
