"""The suite as an unprivileged user: sandbox, CLI-audit and GPU tests skip with reasons, never error.

Run from root (it makes the unprivileged run): a subset of the suite runs again under uid 65534
(``setpriv``, no account needed) with its own HOME and TMPDIR, reading this checkout and venv.
Where the interpreter lives below a directory that uid cannot traverse (pyenv under a 0700
``/root``, say), the run happens in a private mount namespace (``unshare -m``) where that
directory is a 0755 tmpfs holding a bind mount of just the needed entry, so nothing else of it
is exposed and the host is left as it was. The run must exit 0 with no error or failure; every
skip must name what is missing; the tests that hold on the layers a non-root host has (the escape
battery, the supervisor's contract) must pass there, not skip.

Manual equivalent for the whole suite (``rtest`` an ordinary account)::

    runuser -u rtest -- env HOME=/home/rtest TMPDIR=/tmp .venv/bin/python -m pytest -q -p no:cacheprovider
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.capabilities import requires_program, requires_root, skip_unless_mount_namespace

REPO = Path(__file__).resolve().parents[3]
UID = 65534  # "nobody" on Debian; setpriv needs no passwd entry for it
SUBSET = (
    "tests/unit/sandbox/test_isolation.py",
    "tests/unit/sandbox/audit/test_runner.py::test_python_sandbox_blocks_technique",
    "tests/unit/sandbox/audit/test_runner.py::test_python_sandbox_audit_has_no_unattributed_effects",
    "tests/unit/sandbox/test_capabilities.py",
    "tests/unit/cli/test_sandbox_audit.py",
    "tests/unit/harness/checks/test_sandbox.py",
    "tests/unit/recipes/test_pipeline.py",
    "tests/gpu",
)
MUST_PASS = (  # hold on the layers a non-root host has: a skip here would hide a regression
    "tests.unit.sandbox.audit.test_runner::test_python_sandbox_blocks_technique[open_canary_direct]",
    "tests.unit.sandbox.audit.test_runner::test_python_sandbox_blocks_technique[kill_parent]",
    "tests.unit.sandbox.audit.test_runner::test_python_sandbox_audit_has_no_unattributed_effects",
    "tests.unit.sandbox.test_isolation::test_all_layers_still_import_stdlib_modules_that_were_not_pre_imported",
    "tests.unit.cli.test_sandbox_audit::test_audit_command_passes_our_sandbox_on_the_layers_this_host_has",
    "tests.unit.harness.checks.test_sandbox::test_with_allow_weaker_our_sandbox_blocks_the_same_techniques_on_any_host",
    "tests.unit.recipes.test_pipeline::test_the_pipeline_is_ok_with_no_problems",
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    requires_root,
    requires_program("setpriv", "apt-get install util-linux"),
]


def blocked_dirs(targets: list[Path]) -> dict[Path, set[str]]:
    """Each directory on the way to ``targets`` that others cannot traverse -> the entries below it
    that must stay reachable."""
    out: dict[Path, set[str]] = {}
    for target in targets:
        parts = target.resolve().parts
        for depth in range(1, len(parts) - 1):
            here = Path(*parts[: depth + 1])
            if not os.stat(here).st_mode & stat.S_IXOTH:
                out.setdefault(here, set()).add(parts[depth + 1])
    return dict(sorted(out.items(), key=lambda item: len(item[0].parts)))


def namespace_script(blocked: dict[Path, set[str]], keep_root: Path) -> str:
    """Shell lines that, inside a private mount namespace, make each blocked dir a 0755 tmpfs
    holding bind mounts of only the needed entries (parked meanwhile under ``keep_root``)."""
    lines = []
    for n, (folder, entries) in enumerate(blocked.items()):
        keeps = {entry: shlex.quote(str(keep_root / f"keep-{n}-{m}")) for m, entry in enumerate(sorted(entries))}
        for entry, keep in keeps.items():
            lines.append(f"mkdir {keep} && mount --bind {shlex.quote(str(folder / entry))} {keep}")
        lines.append(f"mount -t tmpfs -o mode=755 tmpfs {shlex.quote(str(folder))}")
        for entry, keep in keeps.items():
            lines.append(f"mkdir {shlex.quote(str(folder / entry))} && mount --bind {keep} {shlex.quote(str(folder / entry))}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def non_root_run() -> Iterator[tuple[subprocess.CompletedProcess[str], ET.Element]]:
    work = Path(tempfile.mkdtemp(prefix="retool-nonroot-"))  # root's; the test uid may only traverse it
    try:
        os.chmod(work, 0o711)
        home = work / "home"
        home.mkdir(mode=0o700)
        os.chown(home, UID, UID)
        junit = home / "junit.xml"
        env = {"HOME": str(home), "TMPDIR": str(home), "USER": "retool-nonroot", "PATH": "/usr/bin:/bin",
               "LANG": "C.UTF-8", **{k: os.environ[k] for k in ("CI", "HYPOTHESIS_PROFILE") if k in os.environ}}
        pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", f"--junitxml={junit}", *SUBSET]
        drop = ["setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups", "--", "env", "-i",
                *(f"{k}={v}" for k, v in env.items()), *pytest_cmd]
        blocked = blocked_dirs([Path(sys.executable).parent, Path(sys.prefix), Path(sys.base_prefix), REPO, home])
        if blocked:
            skip_unless_mount_namespace()
            script = namespace_script(blocked, work) + "\nexec " + shlex.join(drop)
            cmd = ["unshare", "-m", "--propagation", "private", "sh", "-ec", script]
        else:
            cmd = drop
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=540, check=False)
        assert junit.is_file(), f"no junit report; rc {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        yield proc, ET.parse(junit).getroot()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _cases(root: ET.Element) -> dict[str, ET.Element]:
    return {f"{case.get('classname')}::{case.get('name')}": case for case in root.iter("testcase")}


def test_the_unprivileged_run_has_no_error_and_no_failure(non_root_run) -> None:
    proc, root = non_root_run
    bad = [name for name, case in _cases(root).items() if case.find("error") is not None or case.find("failure") is not None]
    assert proc.returncode == 0 and not bad, f"rc {proc.returncode}, {len(bad)} failing: {bad[:8]}\n{proc.stdout[-6000:]}"


def test_every_skip_of_the_unprivileged_run_names_what_is_missing(non_root_run) -> None:
    _, root = non_root_run
    skips = {name: case.find("skipped").get("message", "") for name, case in _cases(root).items()
             if case.find("skipped") is not None}
    assert skips, "the unprivileged run skipped nothing: it did not run without root"
    assert all(message.startswith("needs ") for message in skips.values()), skips
    root_skips = [m for m in skips.values() if f"euid is {UID}" in m or f"euid {UID}" in m]
    assert root_skips, f"no skip names the missing root (uid {UID}): {skips}"


def test_the_tests_that_hold_without_root_pass_there(non_root_run) -> None:
    _, root = non_root_run
    cases = _cases(root)
    outcome = {name: "missing" if name not in cases else
               next((child.tag for child in cases[name] if child.tag in ("skipped", "error", "failure")), "passed")
               for name in MUST_PASS}
    assert set(outcome.values()) == {"passed"}, outcome
