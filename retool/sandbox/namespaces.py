"""Linux namespaces for the zygotes and their children (runs in the zygote: standard library only).

Contract: every function acts on the calling process, raises ``OSError`` naming the call that
failed, and is called by trusted code before any snippet runs.

Layers (names used by ``retool.sandbox`` and ``retool sandbox info``; all need root here):
- ``pid``: each zygote is pid 1 of its own pid namespace (``enter_pid_namespace``: the caller
  forks, the parent stays outside only to wait). When the zygote dies, the kernel kills every
  process of the namespace: a child that clears its parent-death signal dies anyway.
- ``net``: each zygote and its children share an empty network namespace (loopback down, no
  interfaces): no network even if a socket call got past seccomp.
- ``uts``: a private hostname (``retool-sandbox``) per zygote.
- ``mount``: each zygote has a private mount namespace in which every mount is read-only and
  nosuid (``make_root_readonly``); each child gets its own mount namespace and a fresh tmpfs
  (size- and inode-capped) on its slot dir (``mount_scratch``), gone when the child is gone. So
  utime/chmod/xattr/creation outside scratch fail with EROFS, and scratch is new for every run.
- ``ipc``: each child gets its own IPC namespace (``CLONE_NEWIPC``): SysV shared memory,
  semaphores, message queues and POSIX message queues it creates die with it, and it sees none
  of anyone else's.
"""

from __future__ import annotations

import ctypes
import functools
import os
import struct

NAMESPACE_LAYERS: tuple[str, ...] = ("pid", "net", "uts", "mount", "ipc")

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 0x2, 0x4, 0x8
_MS_PRIVATE = 1 << 18
_AT_FDCWD, _AT_RECURSIVE = -100, 0x8000
_MOUNT_ATTR_RDONLY, _MOUNT_ATTR_NOSUID = 0x1, 0x2
_SYS_MOUNT_SETATTR = 442  # x86_64 and aarch64 (the unified syscall table)
HOSTNAME = b"retool-sandbox"
_PROC_FILE = {"pid": "pid", "net": "net", "uts": "uts", "mount": "mnt", "ipc": "ipc"}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.unshare.restype = _libc.mount.restype = ctypes.c_int  # resolved here, in the zygote, not per child


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what} failed: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), f"unshare({flags:#x})")


def make_root_readonly() -> None:
    """In a new mount namespace: every mount private (no propagation), read-only and nosuid."""
    attr = struct.pack("QQQQ", _MOUNT_ATTR_RDONLY | _MOUNT_ATTR_NOSUID, 0, _MS_PRIVATE, 0)
    _check(int(_libc.syscall(_SYS_MOUNT_SETATTR, _AT_FDCWD, b"/", _AT_RECURSIVE, attr, len(attr))),
           "mount_setattr(/, read-only, recursive)")


def mount_scratch(path: str, size_bytes: int, inodes: int, uid: int, gid: int) -> None:
    """A fresh tmpfs on ``path`` (in the caller's own mount namespace), mode 0700, owned by uid/gid."""
    options = f"size={size_bytes},nr_inodes={inodes},mode=0700,uid={uid},gid={gid}".encode()
    _check(_libc.mount(b"tmpfs", path.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, options),
           f"mount(tmpfs on {path!r})")


def set_hostname() -> None:
    _check(_libc.sethostname(HOSTNAME, len(HOSTNAME)), "sethostname")


def zygote_flags(layers: frozenset[str] | set[str] | list[str]) -> int:
    """The unshare flags a zygote takes for itself (the pid namespace is entered separately)."""
    return ((CLONE_NEWNS if "mount" in layers else 0) | (CLONE_NEWUTS if "uts" in layers else 0)
            | (CLONE_NEWNET if "net" in layers else 0))


def child_flags(layers: frozenset[str] | set[str] | list[str]) -> int:
    """The unshare flags each child takes after fork."""
    return (CLONE_NEWNS if "mount" in layers else 0) | (CLONE_NEWIPC if "ipc" in layers else 0)


def enter_namespaces(layers: frozenset[str] | set[str] | list[str]) -> None:
    """The zygote's own namespaces (mount, uts, net); the read-only root and the hostname."""
    flags = zygote_flags(layers)
    if flags:
        unshare(flags)
    if "mount" in layers:
        make_root_readonly()
    if "uts" in layers:
        set_hostname()


@functools.cache
def probe() -> dict[str, str | None]:
    """Each namespace layer -> None when usable here, or the reason. Tried in a forked child
    (which exits at once), so the caller's own namespaces are never touched."""
    if os.geteuid() != 0:
        why = f"not root (euid {os.geteuid()}): creating namespaces needs CAP_SYS_ADMIN"
        return dict.fromkeys(NAMESPACE_LAYERS, why)
    reasons: dict[str, str | None] = {}
    for name in NAMESPACE_LAYERS:
        if not os.path.exists(f"/proc/self/ns/{_PROC_FILE[name]}"):
            reasons[name] = f"this kernel has no {name} namespaces"
    steps = [(name, flag) for name, flag in (("pid", CLONE_NEWPID), ("net", CLONE_NEWNET), ("uts", CLONE_NEWUTS),
                                             ("mount", CLONE_NEWNS), ("ipc", CLONE_NEWIPC)) if name not in reasons]
    for name, flag in steps:
        pid = os.fork()
        if pid == 0:  # pragma: no cover (child)
            code = 0
            try:
                unshare(flag)
                if name == "mount":
                    make_root_readonly()
            except BaseException:  # noqa: BLE001
                code = 1
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            reasons[name] = f"unshare of a {name} namespace (or the read-only remount) failed on this host"
    return {name: reasons.get(name) for name in NAMESPACE_LAYERS}
