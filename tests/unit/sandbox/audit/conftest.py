"""Fixtures shared by the audit tests: the naive sandbox's audit report, run once for the
package (``test_report.py`` formats it, ``test_runner.py`` checks its findings)."""

from __future__ import annotations

import asyncio
import time

import pytest

from retool.sandbox.audit import AuditReport, audit
from retool.sandbox.naive import NaiveSandbox
from tests.unit.sandbox.audit.cases import NAIVE_EXPECTED, techniques_named


@pytest.fixture(scope="package")
def naive_started_at() -> float:
    return time.time()


@pytest.fixture(scope="package")
def naive_report(naive_started_at: float) -> AuditReport:
    async def go() -> AuditReport:
        sandbox = NaiveSandbox(timeout_s=3.0)
        try:
            return await audit(sandbox, techniques=techniques_named(*NAIVE_EXPECTED), timeout_slack_s=3.0)
        finally:
            await sandbox.close()

    return asyncio.run(go())
