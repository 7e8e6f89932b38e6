"""Kernel isolation layers for one sandboxed child: seccomp-bpf, Landlock, rlimits, uid switch.

Contract: this module runs inside the zygote (``python -I -S``, standard library only) and in the
trusted supervisor (for detection). Every ``apply_*`` function acts on the calling process only,
raises ``OSError``/``ValueError`` naming what failed, and is called in the forked child *before*
any user code runs; once applied, nothing the child does can undo it (no-new-privs is set first,
seccomp and Landlock are one-way, rlimits are set hard, the uid switch drops root for good).

Layers (names used by ``retool.sandbox`` and ``retool sandbox info``):
- ``uid``: setgroups([]) + setresgid/setresuid to a per-slot unprivileged id (root only), so a
  child cannot signal, ptrace or read /proc of the zygote, the supervisor or a sibling.
- ``no_new_privs``: ``PR_SET_NO_NEW_PRIVS`` (required by seccomp and Landlock as non-root).
- ``landlock``: filesystem access limited to read-only interpreter/library paths plus one
  writable scratch directory; on ABI >= 4 TCP bind/connect are denied, on ABI >= 6 signals and
  abstract unix sockets are scoped to the child's own domain.
- ``seccomp``: hand-assembled classic-BPF allow-lists (default deny; x86_64 only, other
  architectures report the layer unavailable) in two stacked programs, tables and measuring
  method in :mod:`retool.sandbox.seccomp`. The zygote's, installed once and inherited by every
  child (so its JIT cost is paid once), allows what a snippet may call plus what serving and a
  child's set-up need (the control socket, fork, wait, kill, setsid, the uid switch, unshare,
  mount, landlock_restrict_self). Each child's, stacked on it just before the snippet runs,
  allows only the snippet's table (``ALLOWED_SYSCALLS_X86_64``: memory, I/O on held fds, polling,
  paths, time, threads, signals, the process' own identity and limits) and checks arguments:
  clone only with CLONE_THREAD and no namespace flag, kill/tkill/tgkill/prlimit64/
  sched_getaffinity only on the child itself, prctl only for names and queries (so the
  parent-death signal cannot be cleared), fcntl without locks, leases, notify or owners, ioctl
  only for the tty query, FIONBIO, FIOCLEX/FIONCLEX, FIONREAD and TIOCGWINSZ. Everything else is
  refused with EPERM, so a syscall nobody listed is refused: exec, fork/vfork, sockets, ptrace,
  process_vm_*, bpf, io_uring, userfaultfd, perf, keyrings, pidfd_*, mount/unshare/setns, SysV
  IPC, POSIX mqueues, inotify/fanotify, AIO, memfd, flock, xattrs, the utime and chown families,
  mincore, sync, scheduling of other processes, and any call added to a later kernel. clone3 and
  a few calls libc probes for (openat2, fchmodat2, map_shadow_stack, mseal) get ENOSYS so libc
  falls back (threads are made with clone). A foreign architecture or x32 call kills the process.
- ``rlimits``: AS, CPU, FSIZE, NOFILE, CORE and (with ``uid``) NPROC, soft == hard.
- ``pid``, ``net``, ``uts``, ``mount``, ``ipc``: namespaces, see :mod:`retool.sandbox.namespaces`.
"""

from __future__ import annotations

import ctypes
import os
import resource
import struct

from retool.sandbox.namespaces import NAMESPACE_LAYERS
from retool.sandbox.namespaces import probe as probe_namespaces

LAYERS: tuple[str, ...] = ("rlimits", "uid", "no_new_privs", "landlock", "seccomp", *NAMESPACE_LAYERS)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.restype = ctypes.c_int

PR_SET_NO_NEW_PRIVS = 38
PR_SET_PDEATHSIG = 1
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

# --- seccomp (the programs live in retool.sandbox.seccomp; re-exported here) --------------------
from retool.sandbox.seccomp import (  # noqa: F401
    ALLOWED_FCNTL_COMMANDS,
    ALLOWED_IOCTL_COMMANDS,
    ALLOWED_PRCTL_OPTIONS,
    ALLOWED_SYSCALLS_X86_64,
    AUDIT_ARCH_X86_64,
    CLONE_THREAD,
    ENOSYS_SYSCALLS_X86_64,
    ZYGOTE_SYSCALLS_X86_64,
    ChildSeccomp,
    child_seccomp_program,
    install_seccomp,
    zygote_seccomp_program,
)


def set_no_new_privs() -> None:
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"PR_SET_NO_NEW_PRIVS failed: {os.strerror(err)}")


def set_parent_death_signal(signum: int) -> None:
    if _libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"PR_SET_PDEATHSIG failed: {os.strerror(err)}")


# --- Landlock ----------------------------------------------------------------------------------
_SYS_LANDLOCK_CREATE_RULESET, _SYS_LANDLOCK_ADD_RULE, _SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_TRUNCATE, FS_IOCTL_DEV = 1 << 14, 1 << 15
_FS_FILE_ONLY = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
_NET_ALL = 0b11  # BIND_TCP | CONNECT_TCP (ABI >= 4)
_SCOPE_ALL = 0b11  # ABSTRACT_UNIX_SOCKET | SIGNAL (ABI >= 6)


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, or 0 when Landlock is unavailable."""
    if os.uname().machine not in ("x86_64", "aarch64"):
        return 0
    res = _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, 0, _LANDLOCK_CREATE_RULESET_VERSION)
    return int(res) if res > 0 else 0


def _handled_fs(abi: int) -> int:
    bits = (1 << 13) - 1  # ABI 1: EXECUTE .. MAKE_SYM
    if abi >= 2:
        bits |= 1 << 13  # REFER
    if abi >= 3:
        bits |= FS_TRUNCATE
    if abi >= 5:
        bits |= FS_IOCTL_DEV
    return bits


def landlock_ruleset(read_paths: tuple[str, ...], write_paths: tuple[str, ...], abi: int) -> int:
    """A Landlock ruleset fd: ``read_paths`` read-only, ``write_paths`` fully usable, net and
    (ABI >= 6) signal/abstract-socket scopes denied. Build once, apply per child."""
    if abi < 1:
        raise ValueError(f"Landlock ABI {abi} is not usable")
    handled = _handled_fs(abi)
    attr = struct.pack("QQQ", handled, _NET_ALL if abi >= 4 else 0, _SCOPE_ALL if abi >= 6 else 0)
    size = 24 if abi >= 6 else (16 if abi >= 4 else 8)
    ruleset = _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, attr, size, 0)
    if ruleset < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"landlock_create_ruleset failed: {os.strerror(err)}")
    try:
        read_access = FS_READ_FILE | FS_READ_DIR
        for paths, access in ((read_paths, read_access), (write_paths, handled)):
            for path in paths:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                try:
                    rights = access if os.path.isdir(path) else access & _FS_FILE_ONLY
                    rule = struct.pack("=Qi", rights & handled, fd)
                    if _libc.syscall(_SYS_LANDLOCK_ADD_RULE, ruleset, _LANDLOCK_RULE_PATH_BENEATH, rule, 0) != 0:
                        err = ctypes.get_errno()
                        raise OSError(err, f"landlock_add_rule({path!r}) failed: {os.strerror(err)}")
                finally:
                    os.close(fd)
    except BaseException:
        os.close(ruleset)
        raise
    return int(ruleset)


def landlock_restrict_self(ruleset_fd: int) -> None:
    """Enforce a ruleset on this process (needs no-new-privs or CAP_SYS_ADMIN); irreversible."""
    if _libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ruleset_fd, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"landlock_restrict_self failed: {os.strerror(err)}")


# --- rlimits and uid ---------------------------------------------------------------------------
def apply_rlimits(limits: dict[int, int]) -> None:
    """Set each ``resource.RLIMIT_*: value`` with soft == hard (cannot be raised again)."""
    for which, value in limits.items():
        resource.setrlimit(which, (value, value))


def switch_uid(uid: int, gid: int) -> None:
    """Drop root for good: no supplementary groups, real/effective/saved ids all ``uid``/``gid``."""
    if uid <= 0 or gid <= 0:
        raise ValueError(f"sandbox uid/gid must be unprivileged, got uid={uid} gid={gid}")
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


# --- detection ---------------------------------------------------------------------------------
def probe_layers() -> dict[str, str | None]:
    """Each layer name -> None when usable here, or the reason it is not. No side effects."""
    reasons: dict[str, str | None] = {"rlimits": None, "no_new_privs": None}
    reasons["uid"] = None if os.geteuid() == 0 else f"not root (euid {os.geteuid()}): cannot switch to per-slot uids"
    abi = landlock_abi()
    reasons["landlock"] = None if abi >= 1 else "Landlock is not supported or disabled by this kernel"
    if os.uname().machine != "x86_64":
        reasons["seccomp"] = f"seccomp filter is built for x86_64 only, this is {os.uname().machine}"
    else:
        try:
            with open("/proc/self/status", encoding="ascii") as status:
                has_field = any(line.startswith("Seccomp:") for line in status)
        except OSError:
            has_field = False
        reasons["seccomp"] = None if has_field else "kernel reports no seccomp support"
    reasons.update(probe_namespaces())
    return reasons
