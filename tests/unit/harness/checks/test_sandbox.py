"""The sandbox checks (retool.harness.checks.sandbox): the battery reports its broken twin (a sandbox
whose code reads a host secret and writes outside its scratch dir) technique by technique; ours
passes; the throughput check passes on ours."""

from __future__ import annotations

import pytest

from retool.harness.checks.sandbox import check_sandbox_battery, check_throughput
from retool.harness.verify import VerifyConfig
from retool.sandbox.audit import TECHNIQUES
from tests.capabilities import requires_isolation

FILES = tuple(t for t in TECHNIQUES if t.name in ("open_canary_direct", "write_canary_direct", "open_etc_passwd"))


def test_twin_an_escaping_sandbox_fails_the_battery_naming_each_escape() -> None:
    result = check_sandbox_battery(VerifyConfig(sandbox_factory="tests.unit.harness.twins:EscapingSandbox"), techniques=FILES)
    assert not result.ok and result.figure == "0/3 techniques blocked"
    assert result.data["escaped"] == ["open_canary_direct", "write_canary_direct", "open_etc_passwd"]
    for named in ("open_canary_direct (escaped: canary_read)", "write_canary_direct (escaped: canary_write)",
                  "open_etc_passwd (escaped: host_file)"):
        assert named in result.detail


@requires_isolation
def test_our_sandbox_blocks_the_same_techniques() -> None:
    result = check_sandbox_battery(VerifyConfig(), techniques=FILES)
    assert result.ok, result.detail
    assert result.figure == "3/3 techniques blocked"


@pytest.mark.slow
def test_a_sandbox_that_lets_import_os_through_fails_the_full_battery() -> None:
    result = check_sandbox_battery(VerifyConfig(sandbox_factory="retool.sandbox.naive:NaiveSandbox"))
    assert not result.ok and result.data["escaped"]


@requires_isolation
@pytest.mark.timeout(120)
def test_throughput_check_passes_on_our_sandbox() -> None:
    result = check_throughput(VerifyConfig(bench_executions=32))
    assert result.ok, result.detail
    assert result.data["ratio"] >= 5


def test_the_weaker_note_is_empty_for_the_strict_default_and_for_a_custom_sandbox() -> None:
    from retool.harness.checks.sandbox import weaker_note

    assert weaker_note(VerifyConfig()) == ""
    assert weaker_note(VerifyConfig(sandbox_allow_weaker=True, sandbox_factory="pkg.mod:F")) == ""


def test_the_weaker_note_names_every_layer_this_host_lacks() -> None:
    from retool.harness.checks.sandbox import weaker_note
    from retool.sandbox.isolation import probe_layers

    missing = [name for name, why in probe_layers().items() if why]
    note = weaker_note(VerifyConfig(sandbox_allow_weaker=True))
    assert (note == "") == (not missing) and all(name in note for name in missing)


def test_with_allow_weaker_our_sandbox_blocks_the_same_techniques_on_any_host() -> None:
    result = check_sandbox_battery(VerifyConfig(sandbox_allow_weaker=True), techniques=FILES)
    assert result.ok, result.detail
    assert result.figure.startswith("3/3 techniques blocked")
