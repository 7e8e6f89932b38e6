"""``tests/capabilities.py``, the skip helpers: each reason names the missing capability, a typo or
one of our own modules is an error (never a skip), and ``sandbox_options()`` starts a sandbox on
this host whatever layers it has. Fake layer tables where the host's would not show a case."""

from __future__ import annotations

import os

import pytest

from retool.sandbox import LAYERS, PythonSandbox, isolation
from tests import capabilities
from tests.capabilities import (
    available_layers,
    missing_layer,
    missing_layers,
    missing_package,
    missing_program,
    missing_root,
    requires_layer,
    sandbox_options,
    skip_unless_layers,
)

FULL = dict.fromkeys(LAYERS)
NO_ROOT = {**FULL, "uid": "not root (euid 1000): cannot switch to per-slot uids"}
BARE = {**NO_ROOT, "landlock": "Landlock is not supported or disabled by this kernel"}


@pytest.fixture()
def fake_layers(monkeypatch: pytest.MonkeyPatch):
    def use(table: dict[str, str | None]) -> None:
        monkeypatch.setattr(capabilities, "_layers", lambda: table)

    return use


def test_a_missing_layer_is_named_with_the_probes_reason(fake_layers) -> None:
    fake_layers(BARE)
    assert missing_layer("uid") == "needs the sandbox layer 'uid': not root (euid 1000): cannot switch to per-slot uids"
    assert missing_layer("seccomp") is None
    assert missing_layers("seccomp", "landlock", "uid") == (
        "needs the sandbox layer 'landlock': Landlock is not supported or disabled by this kernel; "
        "needs the sandbox layer 'uid': not root (euid 1000): cannot switch to per-slot uids")
    assert missing_layers("seccomp", "rlimits") is None
    assert capabilities.missing_isolation().startswith("needs every default sandbox layer: needs the sandbox layer 'uid'")


def test_an_unknown_layer_is_an_error_not_a_skip() -> None:
    with pytest.raises(ValueError, match="unknown sandbox layer 'selinux'"):
        missing_layer("selinux")


def test_skip_unless_layers_skips_naming_only_the_missing_ones(fake_layers) -> None:
    fake_layers(NO_ROOT)
    skip_unless_layers("seccomp", "landlock")  # present: no skip
    with pytest.raises(pytest.skip.Exception, match="^needs the sandbox layer 'uid': not root") as info:
        skip_unless_layers("seccomp", "uid")
    assert "seccomp" not in str(info.value)


@pytest.mark.parametrize(("table", "options", "available"), [
    (FULL, {}, set(LAYERS)),
    (NO_ROOT, {"allow_weaker": True}, set(LAYERS) - {"uid"}),
    (BARE, {"allow_weaker": True}, set(LAYERS) - {"uid", "landlock"}),
])
def test_sandbox_options_are_strict_exactly_where_every_layer_is_present(fake_layers, table, options, available) -> None:
    fake_layers(table)
    assert sandbox_options() == options and available_layers() == available


def test_sandbox_options_start_a_sandbox_on_this_host() -> None:
    sandbox = PythonSandbox(concurrency=1, **sandbox_options())
    active = {name for name, state in sandbox.layers().items() if state == "active"}
    assert active == set(available_layers()) == {n for n, why in isolation.probe_layers().items() if why is None}


def test_markers_follow_this_hosts_probe() -> None:
    for name in LAYERS:
        marker = requires_layer(name)
        assert marker.args == (missing_layer(name) is not None,)
        assert marker.kwargs["reason"] == (missing_layer(name) or "")
    assert (missing_root() is None) == (os.geteuid() == 0)


def test_our_own_modules_are_never_skipped_on() -> None:
    for module in ("retool", "retool.sandbox"):
        with pytest.raises(ValueError, match="this project's own module"):
            missing_package(module, "pip install -e .")


def test_a_missing_package_or_program_is_named_with_how_to_get_it() -> None:
    assert missing_package("pytest", "pip install pytest") is None
    assert missing_package("no_such_package_xyz", "pip install xyz") == "needs no_such_package_xyz (pip install xyz)"
    assert missing_program("no-such-program-xyz", "apt-get install xyz") == (
        "needs the program 'no-such-program-xyz' on PATH (apt-get install xyz)")
    assert missing_program("sh", "apt-get install dash", path="/no/such/dir") == (
        "needs the program 'sh' on /no/such/dir (apt-get install dash)")
