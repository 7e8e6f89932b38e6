"""Contract tests of ``retool.sandbox.audit.render``: every technique renders to code that
compiles and carries no secret; the prelude is prepended exactly when a helper is called; the
bait is filled in as literals; the marker comment ends the snippet; unknown placeholders raise;
the breach marker is only produced by running the code; the payloads are well-formed."""

from __future__ import annotations

import marshal
import os
import pickletools
import re
import types

import pytest

from retool.sandbox.audit import PRELUDE, Technique, render, technique, uses_prelude
from tests.unit.sandbox.audit.cases import TECHNIQUE_NAMES, fake_bait, techniques_named


def rendered(code: str, **bait: object) -> str:
    t = technique("probe", "test", "hang", code)
    b = fake_bait(0, t)
    for key, value in bait.items():
        setattr(b, key, value)
    return render(t, b, canary_dir="/tmp/canaries", mem_bytes=1 << 28, disk_bytes=1 << 24)


@pytest.mark.parametrize("name", TECHNIQUE_NAMES)
def test_rendered_technique_compiles_and_holds_no_secret(name: str) -> None:
    technique = techniques_named(name)[0]
    code = render(technique, fake_bait(0, technique), canary_dir="/tmp", mem_bytes=1 << 28, disk_bytes=1 << 24)
    compile(code, name, "exec")
    assert "$" not in code.replace("$$", "")
    for secret in ("a" * 32, "b" * 32, "c" * 32):
        assert secret not in code


@pytest.mark.parametrize(("code", "expected"), [("_fx(G)", True), ("x = _os()", True), ("_sleep(1)", True),
                                                ("print(1)", False), ("_fx", False), ("import os", False)])
def test_uses_prelude_detects_helper_calls(code: str, expected: bool) -> None:
    assert uses_prelude(code) is expected


def test_the_prelude_is_prepended_only_when_a_helper_is_called() -> None:
    assert "def _fx(" in rendered("_sleep(1)")
    assert "def _fx(" not in rendered("print(1)")


def test_the_snippet_ends_with_the_bait_marker_comment() -> None:
    assert rendered("print(1)") == "print(1)\n# retool-audit-test-t000\n"


def test_placeholders_become_python_literals() -> None:
    code = rendered("print($canary, $canary_dir, $marker, $env_name, $port, $udp_port, $mem_bytes, $disk_bytes)")
    first = code.splitlines()[0]
    assert first == ("print('/tmp/c-0', '/tmp/canaries', 'retool-audit-test-t000', 'RETOOL_AUDIT_X', 1234, 1235, "
                     f"{1 << 28}, {1 << 24})")


def test_a_path_with_quotes_stays_one_literal() -> None:
    path = "/tmp/it's \"odd\""
    code = rendered("value = $canary", canary_path=path)
    namespace: dict[str, object] = {}
    exec(code, namespace)  # a plain assignment: safe to run
    assert namespace["value"] == path


def test_pids_are_the_auditors_and_zero_without_a_decoy() -> None:
    assert rendered("print($auditor_pid, $decoy_pid)").splitlines()[0] == f"print({os.getpid()}, 0)"


def test_the_leak_path_and_shell_line_carry_the_marker() -> None:
    namespace: dict[str, object] = {}
    exec(rendered("leak = $leak_path\nshell = $shell"), namespace)
    assert namespace["leak"] == "/tmp/retool-audit-test-t000"
    assert namespace["shell"] == "cat /tmp/c-0; printenv RETOOL_AUDIT_X; : retool-audit-test-t000"


def test_the_breach_marker_appears_only_when_the_code_runs() -> None:
    code = rendered("breach = $breach")
    assert "retool-audit-test-t000-BREACH" not in code
    namespace: dict[str, object] = {}
    exec(code, namespace)
    assert namespace["breach"] == "retool-audit-test-t000-BREACH"


def test_dollar_dollar_is_a_literal_dollar() -> None:
    assert rendered("print('$$HOME')").startswith("print('$HOME')")


def test_an_unknown_placeholder_raises() -> None:
    with pytest.raises(KeyError, match="teleport_target"):
        rendered("print($teleport_target)")


def test_the_pickle_payloads_are_well_formed_protocol_0() -> None:
    namespace: dict[str, object] = {}
    exec(rendered("system, connect = $pickle_system, $pickle_connect"), namespace)
    for blob, target in ((namespace["system"], "posix system"), (namespace["connect"], "socket create_connection")):
        assert isinstance(blob, bytes) and blob.startswith(b"c" + target.replace(" ", "\n").encode())
        pickletools.dis(blob, out=open(os.devnull, "w"))  # parses without running anything


def test_the_marshal_payload_is_a_code_object_calling_the_prelude() -> None:
    namespace: dict[str, object] = {}
    exec(rendered("blob = $marshal_hex"), namespace)
    code = marshal.loads(bytes.fromhex(namespace["blob"]))  # type: ignore[arg-type]
    assert isinstance(code, types.CodeType) and "_fx" in code.co_names


def test_the_prelude_only_defines_helpers() -> None:
    assert set(re.findall(r"^def (\w+)\(", PRELUDE, re.M)) == {
        "_bi", "_classes", "_os", "_unguard", "_imp", "_sleep", "_read", "_find", "_connect", "_fx"}
    assert all(line.startswith(("def ", " ", "#")) or not line.strip() for line in PRELUDE.splitlines())


def test_render_is_pure_for_the_same_bait() -> None:
    t: Technique = techniques_named("open_canary_direct")[0]
    b = fake_bait(3, t)
    assert render(t, b, canary_dir="/d", mem_bytes=1, disk_bytes=2) == render(t, b, canary_dir="/d", mem_bytes=1, disk_bytes=2)
