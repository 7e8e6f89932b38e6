"""``retool sandbox audit``: spec loading, exit statuses, listing (the battery itself: tests/unit/sandbox/audit/)."""

from __future__ import annotations

import argparse

import pytest

from retool.cli.sandbox_audit import add_audit_arguments, load_factory, run_audit_command
from retool.sandbox import PythonSandbox, isolation
from retool.sandbox.audit import TECHNIQUES
from retool.sandbox.naive import NaiveSandbox
from tests.capabilities import requires_escape_layers, requires_isolation, sandbox_options


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("retool.sandbox.naive", "must look like"),
        ("retool.no_such_module:Thing", "cannot import module"),
        ("retool.sandbox.naive:NoSuchThing", "has no attribute"),
        ("retool.sandbox.naive:DENY_PATTERNS", "not callable"),
    ],
)
def test_load_factory_explains_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_factory(spec)


def test_load_factory_returns_the_callable() -> None:
    assert load_factory("retool.sandbox.naive:NaiveSandbox") is NaiveSandbox


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_audit_arguments(parser)
    return parser.parse_args(list(argv))


def test_audit_command_exits_nonzero_on_escape(capsys: pytest.CaptureFixture[str]) -> None:
    code = run_audit_command(_args("--sandbox", "retool.sandbox.naive:NaiveSandbox", "--only", "open_canary_direct"))
    out = capsys.readouterr().out
    assert code == 1
    assert "open_canary_direct" in out and "ESCAPED" in out


@requires_isolation  # the default is the strict PythonSandbox, which refuses a host without a layer
def test_audit_command_passes_our_sandbox(capsys: pytest.CaptureFixture[str]) -> None:
    code = run_audit_command(_args("--only", "open_canary_direct", "--only", "socket_tcp_connect", "--timeout-s", "2"))
    assert code == 0, capsys.readouterr().out


def weaker_python_sandbox() -> PythonSandbox:
    """A ``--sandbox`` factory: ours on the layers this host has."""
    return PythonSandbox(timeout=2.0, memory_limit="256MB", **sandbox_options())


@requires_escape_layers
def test_audit_command_passes_our_sandbox_on_the_layers_this_host_has(capsys: pytest.CaptureFixture[str]) -> None:
    spec = f"{__name__}:weaker_python_sandbox"
    code = run_audit_command(_args("--sandbox", spec, "--only", "open_canary_direct", "--only", "socket_tcp_connect"))
    assert code == 0, capsys.readouterr().out


def test_audit_command_reports_a_missing_layer_instead_of_auditing(capsys: pytest.CaptureFixture[str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    probed = isolation.probe_layers()
    monkeypatch.setattr(isolation, "probe_layers", lambda: {**probed, "seccomp": "no seccomp here (simulated)"})
    assert run_audit_command(_args("--only", "open_canary_direct", "--timeout-s", "2")) == 2
    err = capsys.readouterr().err
    assert "PythonSandbox failed to start" in err and "seccomp: no seccomp here (simulated)" in err


def test_audit_command_rejects_bad_sandbox_and_unknown_technique(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_audit_command(_args("--sandbox", "nope")) == 2
    assert run_audit_command(_args("--only", "no_such_technique")) == 2
    assert "no_such_technique" in capsys.readouterr().err


def test_audit_command_lists_techniques(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_audit_command(_args("--list")) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(TECHNIQUES)


@requires_isolation  # the default is the strict PythonSandbox
def test_audit_command_runs_the_recipe_preset_gadgets(capsys: pytest.CaptureFixture[str]) -> None:
    code = run_audit_command(_args("--preset", "recipe", "--only", "numpy_load_allow_pickle", "--timeout-s", "5"))
    assert code == 0, capsys.readouterr().out


def test_audit_command_refuses_an_unknown_preset(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_audit_command(_args("--preset", "nope", "--only", "open_canary_direct")) == 2
    assert "module_preset" in capsys.readouterr().err


@requires_escape_layers
def test_audit_url_runs_the_battery_through_a_remote_farm(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.unit.sandbox.service.conftest import serve

    with serve("retool", uid_offset=60, timeout_s=2.0, memory_limit_bytes=256 * 10**6) as farm:
        code = run_audit_command(_args("--url", farm.url, "--only", "open_canary_direct", "--only", "socket_tcp_connect"))
    out = capsys.readouterr().out
    assert code == 0 and "open_canary_direct" in out, out


def test_audit_url_to_an_absent_farm_exits_2_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    code = run_audit_command(_args("--url", "http://127.0.0.1:9", "--only", "open_canary_direct"))
    assert code == 2 and "http://127.0.0.1:9" in capsys.readouterr().err


def test_audit_url_and_sandbox_together_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = run_audit_command(_args("--url", "http://127.0.0.1:9", "--sandbox", "retool.sandbox.naive:NaiveSandbox"))
    assert code == 2 and "exclusive" in capsys.readouterr().err
