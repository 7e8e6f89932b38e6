"""Scratch dirs on the host: creation, per-run reset, removal that cannot recurse, stale sweep.

Contract (supervisor side; nothing here raises on what a snippet left behind):
- ``make_scratch(config, chown)`` creates ``<tmp>/retool-sandbox-XXXX`` (mode 0711) holding an
  ``owner.json`` marker (this supervisor's pid, its start time, the slot uid range) and one
  ``slot-N`` dir per slot (mode 0700, owned by uid/gid ``uid_base + N`` when ``chown``). Before
  creating, it sweeps stale trees (``sweep_stale``).
- ``slot_is_dirty(root, slot)``: the slot dir holds anything (one getdents).
- ``slot_is_fresh(root, slot, owner)``: empty, mode 0700, owned by ``owner`` and without xattrs.
- ``reset_slot(root, slot, owner)``: unless fresh, the slot dir is emptied and its owner, mode and
  xattrs set back (so nothing set on the dir itself, a mode or an xattr, reaches the next run).
- ``clean_slot(root, slot)``: empty the slot dir in place (kept for callers that hold it open).
- ``remove_tree(path)``: removes a tree of any depth without recursion and without holding one fd
  per level (subdirectories are renamed up into the top dir until it is flat, two fds at most);
  takes back the rights on each dir first (a snippet running as our uid, as in weaker mode, may
  have chmod-0'd them; the owner can always chmod); never follows a symlink; returns whether
  everything went. Never raises.
- ``sweep_stale(scratch_root, uid_base, slots)``: removes ``retool-sandbox-*`` trees under
  ``scratch_root`` whose marker names a supervisor that is gone (no such pid, or a pid reused by a
  later process) and whose slot uid range overlaps ``[uid_base, uid_base + slots)``; only trees
  owned by our own euid. Trees without a marker (older versions, other tools) are left alone.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from typing import Any

PREFIX = "retool-sandbox-"
MARKER = "owner.json"
_SLOT_MODE = 0o700


def _start_ticks(pid: int) -> int | None:
    """The process start time in clock ticks since boot (field 22 of /proc/PID/stat), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    try:
        return int(raw[raw.rindex(b")") + 2:].split()[19])
    except (ValueError, IndexError):
        return None


def make_scratch(config: Any, *, chown: bool) -> str:
    parent = config.scratch_root or tempfile.gettempdir()
    sweep_stale(parent, config.uid_base, config.concurrency)
    root = tempfile.mkdtemp(prefix=PREFIX, dir=parent)
    os.chmod(root, 0o711)
    marker = {"pid": os.getpid(), "start_ticks": _start_ticks(os.getpid()), "uid_base": config.uid_base,
              "slots": config.concurrency}
    with open(os.path.join(root, MARKER), "w", encoding="ascii") as fh:
        json.dump(marker, fh)
    for slot in range(config.concurrency):
        path = os.path.join(root, f"slot-{slot}")
        os.mkdir(path, _SLOT_MODE)
        if chown:
            os.chown(path, config.uid_base + slot, config.uid_base + slot)
    return root


def slot_is_dirty(root: str, slot: int) -> bool:
    """Whether the slot dir holds anything (one getdents; the common case is empty)."""
    try:
        with os.scandir(os.path.join(root, f"slot-{slot}")) as entries:
            return next(entries, None) is not None
    except OSError:
        return False


def slot_is_fresh(root: str, slot: int, owner: int) -> bool:
    path = os.path.join(root, f"slot-{slot}")
    try:
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode) or stat.S_IMODE(st.st_mode) != _SLOT_MODE or st.st_uid != owner:
            return False
        if os.listxattr(path, follow_symlinks=False):
            return False
    except OSError:
        return False
    return not slot_is_dirty(root, slot)


def reset_slot(root: str, slot: int, owner: int) -> bool:
    """Make ``slot-N`` a fresh dir again (see the contract); True when it is fresh afterwards.

    In place, so the inode stays the one the zygote's Landlock rules name: every entry removed,
    every xattr (ACLs included) removed, owner and mode set back. A missing dir is created."""
    if slot_is_fresh(root, slot, owner):
        return True
    path = os.path.join(root, f"slot-{slot}")
    try:
        if not os.path.lexists(path):
            os.mkdir(path, _SLOT_MODE)
        elif not stat.S_ISDIR(os.lstat(path).st_mode):
            _unlink_any(path)
            os.mkdir(path, _SLOT_MODE)
        os.chown(path, owner, owner, follow_symlinks=False)
        os.chmod(path, _SLOT_MODE)
        for name in os.listxattr(path, follow_symlinks=False):
            os.removexattr(path, name, follow_symlinks=False)
    except OSError:
        return False
    clean_slot(root, slot)
    return slot_is_fresh(root, slot, owner)


def clean_slot(root: str, slot: int) -> None:
    path = os.path.join(root, f"slot-{slot}")
    try:
        with os.scandir(path) as entries:
            names = [entry.name for entry in entries]
    except OSError:
        return
    for name in names:
        remove_tree(os.path.join(path, name))


def _unlink_any(path: str) -> bool:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        if stat.S_ISDIR(st.st_mode):
            os.rmdir(path)
        else:
            os.unlink(path)
        return True
    except OSError:
        return False


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _take_back(name: str, dir_fd: int | None) -> None:
    """Give ourselves rwx on the directory ``name`` (relative to ``dir_fd``), never through a
    symlink: a snippet running as our uid may have taken the rights away, and the owner can
    always chmod. Through an O_PATH descriptor, so it works on a dir we cannot read; best effort."""
    try:
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return
    try:
        os.chmod(f"/proc/self/fd/{fd}", _SLOT_MODE)
    except OSError:
        pass
    finally:
        os.close(fd)


def _entries(dir_fd: int) -> list[tuple[str, bool]]:
    with os.scandir(dir_fd) as it:
        return [(e.name, e.is_dir(follow_symlinks=False)) for e in it]


def _lift_children(top: int, name: str, counter: int) -> tuple[bool, int]:
    """Rename the children of ``top``'s subdir ``name`` up into ``top`` (a dir's rename rewrites
    its '..', so each child dir gets its rights back first). Returns (any moved, counter)."""
    _take_back(name, top)
    try:
        sub = os.open(name, _DIR_FLAGS, dir_fd=top)
    except OSError:
        return False, counter
    moved = False
    try:
        for child, is_dir in _entries(sub):
            if is_dir:
                _take_back(child, sub)
            counter += 1
            try:
                os.rename(child, f".u{counter}", src_dir_fd=sub, dst_dir_fd=top)
                moved = True
            except OSError:
                pass
    except OSError:
        pass
    finally:
        os.close(sub)
    return moved, counter


def remove_tree(path: str) -> bool:
    """Remove ``path`` (a file, a link or a tree of any depth); see the contract. Never raises."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            return _unlink_any(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    _take_back(path, None)
    try:
        top = os.open(path, _DIR_FLAGS)
    except OSError:
        return _unlink_any(path)
    counter = 0
    try:
        while True:
            try:
                entries = _entries(top)
            except OSError:
                break
            progress = False
            for name, is_dir in entries:
                try:
                    (os.rmdir if is_dir else os.unlink)(name, dir_fd=top)
                    progress = True
                except OSError:
                    if is_dir:
                        moved, counter = _lift_children(top, name, counter)
                        progress |= moved
            if not entries or not progress:
                break
    finally:
        os.close(top)
    return _unlink_any(path)


def _stale(root: str) -> bool:
    try:
        with open(os.path.join(root, MARKER), encoding="ascii") as fh:
            marker = json.loads(fh.read(4096))
        pid, ticks = marker["pid"], marker["start_ticks"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return False
    now = _start_ticks(pid)
    return now is None or (ticks is not None and now != ticks)


def _overlaps(root: str, uid_base: int, slots: int) -> bool:
    try:
        with open(os.path.join(root, MARKER), encoding="ascii") as fh:
            marker = json.loads(fh.read(4096))
        low, count = int(marker["uid_base"]), int(marker["slots"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return low < uid_base + slots and uid_base < low + count


def sweep_stale(scratch_root: str, uid_base: int, slots: int) -> list[str]:
    """Remove stale scratch trees of dead supervisors in our uid range; returns the removed paths."""
    removed = []
    try:
        with os.scandir(scratch_root) as it:
            candidates = [e.path for e in it if e.name.startswith(PREFIX) and e.is_dir(follow_symlinks=False)]
    except OSError:
        return removed
    me = os.geteuid()
    for root in candidates:
        try:
            if os.lstat(root).st_uid != me:
                continue
        except OSError:
            continue
        if _overlaps(root, uid_base, slots) and _stale(root) and remove_tree(root):
            removed.append(root)
    return removed
