"""Contract tests of ``retool.sandbox.scratch``: removal of any tree without recursion, a slot
recreated when anything was set on it, and the sweep of stale trees of dead supervisors (only
in our uid range, never a live one's). Real directories, real processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from retool.sandbox import SandboxConfig
from retool.sandbox.scratch import (
    MARKER,
    make_scratch,
    remove_tree,
    reset_slot,
    slot_is_fresh,
    sweep_stale,
)


def deep_tree(top: Path, depth: int, name: str) -> None:
    """``depth`` nested dirs with a file at the bottom, built with chdir like a snippet does."""
    top.mkdir()
    here = os.open(".", os.O_RDONLY)
    try:
        os.chdir(top)
        for _ in range(depth):
            os.mkdir(name)
            os.chdir(name)
        Path("leaf").write_text("x")
    finally:
        os.fchdir(here)
        os.close(here)


@pytest.mark.parametrize("depth,name", [(1200, "d"), (300, "n" * 255)])
def test_a_tree_of_any_depth_is_removed_without_recursion(tmp_path: Path, depth: int, name: str) -> None:
    top = tmp_path / "tree"
    deep_tree(top, depth, name)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(100)  # a recursive walk would fail long before the bottom
    try:
        assert remove_tree(str(top)) is True
    finally:
        sys.setrecursionlimit(limit)
    assert not top.exists()


def test_remove_tree_never_follows_a_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("p")
    top = tmp_path / "tree"
    (top / "sub").mkdir(parents=True)
    os.symlink(outside, top / "sub" / "link")
    assert remove_tree(str(top)) and (outside / "precious").read_text() == "p"


def as_unprivileged(work: Path, action) -> int:
    """Run ``action(work)`` where the owner is not root: here when we are not, else in a forked
    child that switches to uid/gid 65534 (owning ``work``) first. Returns its exit status."""
    if os.geteuid() != 0:
        return action(work)
    os.chown(work, 65534, 65534)
    pid = os.fork()
    if pid == 0:  # pragma: no cover (child)
        code = 70
        try:
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            code = action(work)
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _locked_tree_removed(work: Path) -> int:
    top = work / "tree"
    (top / "locked" / "inner" / "deeper").mkdir(parents=True)
    (top / "locked" / "inner" / "f").write_text("x")
    for path in (top / "locked" / "inner" / "deeper", top / "locked" / "inner", top / "locked", top):
        os.chmod(path, 0)
    return 0 if remove_tree(str(top)) and not os.path.lexists(top) else 1


def test_remove_tree_takes_back_rights_a_snippet_removed() -> None:
    work = Path(tempfile.mkdtemp(prefix="retool-scratch-test-"))  # under a tempdir any uid can traverse
    try:
        assert as_unprivileged(work, _locked_tree_removed) == 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_remove_tree_of_a_missing_path_is_done() -> None:
    assert remove_tree("/nonexistent/retool-test-path") is True


@pytest.fixture()
def scratch(tmp_path: Path) -> str:
    return make_scratch(SandboxConfig(concurrency=2, scratch_root=str(tmp_path)), chown=False)


@pytest.mark.parametrize("change", ["chmod", "xattr", "file", "deep"])
def test_a_slot_with_anything_set_on_it_is_recreated_fresh(scratch: str, change: str) -> None:
    slot = Path(scratch, "slot-0")
    if change == "chmod":
        os.chmod(slot, 0o500)
    elif change == "xattr":
        try:
            os.setxattr(slot, "user.carried", b"1")
        except OSError as exc:  # a property of the scratch filesystem
            pytest.skip(f"{scratch} does not take user xattrs: {exc}")
    elif change == "file":
        (slot / "left").write_text("x")
    else:
        deep_tree(slot / "t", 1200, "d")
    assert not slot_is_fresh(scratch, 0, os.geteuid())
    assert reset_slot(scratch, 0, os.geteuid()) is True
    assert slot_is_fresh(scratch, 0, os.geteuid()) and os.listdir(slot) == []
    assert sorted(os.listdir(scratch)) == [MARKER, "slot-0", "slot-1"]


def test_a_fresh_slot_is_kept_as_it_is(scratch: str) -> None:
    before = os.stat(os.path.join(scratch, "slot-1")).st_ino
    assert reset_slot(scratch, 1, os.geteuid()) and os.stat(os.path.join(scratch, "slot-1")).st_ino == before


def scratch_of_a_dead_supervisor(parent: Path, uid_base: int) -> str:
    code = ("import sys; from retool.sandbox import SandboxConfig; from retool.sandbox.scratch import make_scratch; "
            f"print(make_scratch(SandboxConfig(concurrency=2, uid_base={uid_base}, scratch_root=sys.argv[1]), chown=False))")
    out = subprocess.run([sys.executable, "-c", code, str(parent)], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__)))))
    return out.stdout.strip()


def test_the_sweep_removes_a_dead_supervisors_tree_in_our_uid_range(tmp_path: Path) -> None:
    dead = scratch_of_a_dead_supervisor(tmp_path, 61000)
    assert sweep_stale(str(tmp_path), 61001, 4) == [dead] and not os.path.exists(dead)


def test_the_sweep_leaves_another_uid_range_alone(tmp_path: Path) -> None:
    dead = scratch_of_a_dead_supervisor(tmp_path, 61000)
    assert sweep_stale(str(tmp_path), 62000, 4) == [] and os.path.isdir(dead)


def test_the_sweep_leaves_a_live_supervisors_tree_alone(tmp_path: Path) -> None:
    live = make_scratch(SandboxConfig(concurrency=2, scratch_root=str(tmp_path)), chown=False)
    assert sweep_stale(str(tmp_path), 61000, 2) == [] and os.path.isdir(live)


def test_the_sweep_leaves_a_tree_without_a_marker_alone(tmp_path: Path) -> None:
    other = tmp_path / "retool-sandbox-foreign"
    other.mkdir()
    (other / MARKER).write_text(json.dumps({"pid": "not a pid"}))
    (tmp_path / "retool-sandbox-old").mkdir()
    assert sweep_stale(str(tmp_path), 61000, 2) == [] and other.is_dir()


def test_a_new_scratch_sweeps_the_stale_ones_first(tmp_path: Path) -> None:
    dead = scratch_of_a_dead_supervisor(tmp_path, 61000)
    make_scratch(SandboxConfig(concurrency=2, scratch_root=str(tmp_path)), chown=False)
    assert not os.path.exists(dead)
