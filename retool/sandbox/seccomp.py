"""The seccomp layer: default-deny classic-BPF allow-lists for the zygote and each child (x86_64).

Contract: pure program builders (``zygote_seccomp_program()``, ``child_seccomp_program(pid)``),
``install_seccomp(program)`` (needs no-new-privs; irreversible) and ``ChildSeccomp`` (a child
program pre-built in the zygote, patched with the child's pid after fork and loaded with one
prctl). Standard library only: it runs in the zygote. Re-exported by
:mod:`retool.sandbox.isolation`, which describes the layer under ``seccomp``. The assembler and
the building blocks (the allow-list is a binary search over the bounds of the table's runs of
consecutive numbers) are in :mod:`retool.sandbox.bpf`.

Both programs kill the process on a foreign architecture or an x32 call, allow the syscalls of
their table and refuse every other one with EPERM, except ``ENOSYS_SYSCALLS_X86_64`` (ENOSYS:
libc falls back to an older call). The child's table is ``ALLOWED_SYSCALLS_X86_64``; the
zygote's is that plus ``ZYGOTE_SYSCALLS_X86_64`` (serving, and each child's set-up before its own
program is stacked on top). How the tables were measured: ``strace -f --decode-pids=pidns``
over the escape battery (both presets) and a corpus of ordinary snippets (threads, numpy,
sympy, mpmath, fractions, big ints, 1 MB of output, files in scratch, tempfile, time, signals),
keeping each process' calls after its ``PR_SET_SECCOMP``; then the neighbours of a measured call
that do the same thing through another entry point (``stat``/``statx``/``newfstatat``, ``open``/
``openat``, the ``*at`` forms), so a library that picks another spelling does not break.
"""

from __future__ import annotations

import ctypes
import errno
import os

from retool.sandbox.bpf import (  # noqa: F401 (AUDIT_ARCH_X86_64 re-exported)
    ARG0,
    ARG1,
    AUDIT_ARCH_X86_64,
    JEQ,
    JSET,
    LD_W_ABS,
    RET,
    RET_ALLOW,
    RET_ERRNO,
    Asm,
    allow_runs,
    arg_in,
    head,
    refuse,
)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.prctl.restype = ctypes.c_int

PR_SET_PDEATHSIG = 1
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

CLONE_THREAD = 0x00010000
_CLONE_NS_FLAGS = 0x7E020000  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET

# The per-child allow-list (x86_64 numbers), by what needs it. What a path reaches is Landlock's,
# DAC's and the read-only mounts' call, not this table's. (*) marks calls allowed only with the
# arguments named in ``ARGUMENT_FILTERS``.
ALLOWED_SYSCALLS_X86_64: dict[str, int] = {
    # memory: the allocator, the loader mapping extension modules, numpy's madvise/mbind hints,
    # memmap's msync. RLIMIT_AS bounds it.
    "brk": 12, "mmap": 9, "munmap": 11, "mprotect": 10, "mremap": 25, "madvise": 28, "msync": 26,
    "mbind": 237, "get_mempolicy": 239,
    # descriptors and I/O on what the process already holds (pipes 0-3, files it opened)
    "read": 0, "write": 1, "close": 3, "close_range": 436, "lseek": 8, "pread64": 17,
    "pwrite64": 18, "readv": 19, "writev": 20, "preadv": 295, "pwritev": 296, "preadv2": 327,
    "pwritev2": 328, "dup": 32, "dup2": 33, "dup3": 292, "pipe": 22, "pipe2": 293, "fsync": 74,
    "fdatasync": 75, "ftruncate": 77, "fallocate": 285, "fadvise64": 221, "sendfile": 40,
    "copy_file_range": 326, "fcntl": 72, "ioctl": 16,  # (*) both
    # waiting inside the process: selectors, an event loop's own pipe, os.eventfd
    "select": 23, "pselect6": 270, "poll": 7, "ppoll": 271, "epoll_create": 213,
    "epoll_create1": 291, "epoll_ctl": 233, "epoll_wait": 232, "epoll_pwait": 281,
    "epoll_pwait2": 441, "eventfd2": 290,
    # paths: open, stat, directories, links, renames, modes (shutil.copy's copymode)
    "open": 2, "openat": 257, "creat": 85, "stat": 4, "fstat": 5, "lstat": 6, "newfstatat": 262,
    "statx": 332, "statfs": 137, "fstatfs": 138, "access": 21, "faccessat": 269,
    "faccessat2": 439, "readlink": 89, "readlinkat": 267, "getdents64": 217, "getcwd": 79,
    "chdir": 80, "fchdir": 81, "mkdir": 83, "mkdirat": 258, "rmdir": 84, "unlink": 87,
    "unlinkat": 263, "rename": 82, "renameat": 264, "renameat2": 316, "link": 86, "linkat": 265,
    "symlink": 88, "symlinkat": 266, "truncate": 76, "umask": 95, "chmod": 90, "fchmod": 91,
    "fchmodat": 268,
    # time, sleeping and timers whose signals go to the process itself
    "clock_gettime": 228, "clock_getres": 229, "clock_nanosleep": 230, "nanosleep": 35,
    "gettimeofday": 96, "time": 201, "times": 100, "alarm": 37, "getitimer": 36, "setitimer": 38,
    "timer_create": 222, "timer_settime": 223, "timer_gettime": 224, "timer_getoverrun": 225,
    "timer_delete": 226,
    # threads (glibc's pthread_create: clone, then rseq and the robust list) and their futexes
    "clone": 56,  # (*)
    "futex": 202, "set_robust_list": 273, "rseq": 334, "set_tid_address": 218, "gettid": 186,
    "sched_yield": 24, "arch_prctl": 158, "exit": 60, "exit_group": 231, "restart_syscall": 219,
    # signals: handlers, masks, waiting; sending only to the process itself
    "rt_sigaction": 13, "rt_sigprocmask": 14, "rt_sigreturn": 15, "rt_sigpending": 127,
    "rt_sigtimedwait": 128, "rt_sigsuspend": 130, "sigaltstack": 131, "pause": 34,
    "kill": 62, "tkill": 200, "tgkill": 234,  # (*)
    # the process' own identity, limits and usage; host facts a CPU count needs; entropy
    "getpid": 39, "getppid": 110, "getuid": 102, "geteuid": 107, "getgid": 104, "getegid": 108,
    "getgroups": 115, "getresuid": 118, "getresgid": 120, "getpgrp": 111, "getrusage": 98,
    "getrlimit": 97, "setrlimit": 160, "uname": 63, "sysinfo": 99, "getrandom": 318,
    "getcpu": 309, "prctl": 157, "prlimit64": 302, "sched_getaffinity": 204,  # (*) the last three
}
# Added for the zygote's own program (inherited by each child, under the child's): serving on
# the control socket, forking and reaping children, killing them, and each child's set-up
# (session, namespaces, scratch mount, uid switch, Landlock) before its own program is loaded.
ZYGOTE_SYSCALLS_X86_64: dict[str, int] = {
    "recvmsg": 47, "sendmsg": 46, "sendto": 44, "recvfrom": 45, "getsockname": 51,
    "getpeername": 52, "getsockopt": 55, "shutdown": 48, "wait4": 61, "waitid": 247,
    "setsid": 112, "setgroups": 116, "setresuid": 117, "setresgid": 119, "unshare": 272,
    "mount": 165, "landlock_restrict_self": 446,
}
# Refused with ENOSYS rather than EPERM: callers treat ENOSYS as "this kernel has no such call"
# and fall back to one on the list. clone3 (glibc >= 2.34 tries it before clone for threads; its
# flags sit in memory, where BPF cannot check them), openat2 (RESOLVE_* flags in a struct;
# probed by runtimes before openat), fchmodat2 (glibc >= 2.39, before fchmodat),
# map_shadow_stack (glibc's CET set-up) and mseal (newer loaders): refusing them loses nothing.
ENOSYS_SYSCALLS_X86_64: dict[str, int] = {
    "clone3": 435, "openat2": 437, "fchmodat2": 452, "map_shadow_stack": 453, "mseal": 462,
}
# fcntl commands (args[1]): dup, fd flags, status flags, pipe size. Not record locks, OFD locks,
# leases, dnotify (channels between runs on a shared read-only file) nor F_SETOWN/F_SETSIG.
ALLOWED_FCNTL_COMMANDS: tuple[int, ...] = (0, 1, 2, 3, 4, 1030, 1032)
# ioctl commands (args[1]): what isatty, non-blocking mode and close-on-exec use (measured:
# TCGETS, FIONBIO, FIOCLEX), plus FIONCLEX, FIONREAD and TIOCGWINSZ. No filesystem or driver ioctl.
ALLOWED_IOCTL_COMMANDS: tuple[int, ...] = (0x5401, 0x5413, 0x541B, 0x5421, 0x5450, 0x5451)
# prctl options (args[0]) for a child: names and read-only queries. Not PR_SET_PDEATHSIG (the
# parent-death signal set up for it stays), PR_SET_SECCOMP, PR_SET_DUMPABLE or the rest.
ALLOWED_PRCTL_OPTIONS: tuple[int, ...] = (2, 3, 15, 16, 21, 23, 30, 39)
# The calls the child's program checks the arguments of (the zygote's checks fcntl, ioctl and
# clone's namespace flags only): each -> what must hold (the kernel reads a 32-bit int, so the
# argument's low word alone decides).
ARGUMENT_FILTERS: dict[str, str] = {
    "clone": "flags have CLONE_THREAD and no CLONE_NEW* flag (threads only)",
    "kill": "pid is the child's own pid or 0 (its own group)", "tkill": "tid is the child's own pid",
    "tgkill": "tgid is the child's own pid",
    "prlimit64": "pid is the child's own pid or 0", "sched_getaffinity": "pid is the child's own pid or 0",
    "prctl": "option in ALLOWED_PRCTL_OPTIONS", "fcntl": "cmd in ALLOWED_FCNTL_COMMANDS",
    "ioctl": "cmd in ALLOWED_IOCTL_COMMANDS",
}

def _clone_filter(asm: Asm, *, threads_only: bool) -> None:
    """clone: never a namespace flag; in a child also only with CLONE_THREAD (no new process)."""
    deny, allow = RET_ERRNO | errno.EPERM, RET_ALLOW
    asm.op(JEQ, ALLOWED_SYSCALLS_X86_64["clone"], jf=5 if threads_only else 4)
    asm.op(LD_W_ABS, ARG0)
    asm.op(JSET, _CLONE_NS_FLAGS, jt=1)  # to the RET EPERM below
    if threads_only:
        asm.op(JSET, CLONE_THREAD, jt=1)
        asm.op(RET, deny)
        asm.op(RET, allow)
    else:
        asm.op(RET, allow)
        asm.op(RET, deny)


_FILTERED_IN_ZYGOTE = ("fcntl", "ioctl", "clone")


def zygote_seccomp_program() -> bytes:
    """The zygote's allow-list (``ALLOWED_SYSCALLS_X86_64`` plus ``ZYGOTE_SYSCALLS_X86_64``),
    installed once in the zygote and inherited by every child (so its JIT cost is paid once). Pure."""
    asm = Asm()
    head(asm)
    arg_in(asm, ALLOWED_SYSCALLS_X86_64["fcntl"], ARG1, ALLOWED_FCNTL_COMMANDS)
    arg_in(asm, ALLOWED_SYSCALLS_X86_64["ioctl"], ARG1, ALLOWED_IOCTL_COMMANDS)
    _clone_filter(asm, threads_only=False)
    table = {**ALLOWED_SYSCALLS_X86_64, **ZYGOTE_SYSCALLS_X86_64}
    allow_runs(asm, [nr for name, nr in table.items() if name not in _FILTERED_IN_ZYGOTE], "t")
    refuse(asm, list(ENOSYS_SYSCALLS_X86_64.values()))
    return asm.assemble()


def child_seccomp_program(own_pid: int) -> bytes:
    """The per-child allow-list ``ALLOWED_SYSCALLS_X86_64`` (stacked on the zygote's), with the
    checks of ``ARGUMENT_FILTERS``; ``own_pid`` is the child's pid as it sees it. Pure."""
    if own_pid <= 0:
        raise ValueError(f"own_pid must be a positive pid, got {own_pid}")
    table = ALLOWED_SYSCALLS_X86_64
    asm = Asm()
    head(asm)
    _clone_filter(asm, threads_only=True)
    for name in ("kill", "prlimit64", "sched_getaffinity"):
        arg_in(asm, table[name], ARG0, (own_pid, 0))
    for name in ("tkill", "tgkill"):
        arg_in(asm, table[name], ARG0, (own_pid,))
    arg_in(asm, table["prctl"], ARG0, ALLOWED_PRCTL_OPTIONS)
    arg_in(asm, table["fcntl"], ARG1, ALLOWED_FCNTL_COMMANDS)
    arg_in(asm, table["ioctl"], ARG1, ALLOWED_IOCTL_COMMANDS)
    allow_runs(asm, [nr for name, nr in table.items() if name not in ARGUMENT_FILTERS], "t")
    refuse(asm, list(ENOSYS_SYSCALLS_X86_64.values()))
    return asm.assemble()


def summary() -> str:
    """One line for ``retool sandbox info``: what the programs allow and refuse. Pure."""
    child, zygote = len(ALLOWED_SYSCALLS_X86_64), len(ALLOWED_SYSCALLS_X86_64) + len(ZYGOTE_SYSCALLS_X86_64)
    return (f"allow-list (x86_64): {child} syscalls per child ({len(ARGUMENT_FILTERS)} with argument checks), "
            f"{zygote} in the zygote's; the rest EPERM, ENOSYS for {', '.join(ENOSYS_SYSCALLS_X86_64)}")


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install_seccomp(program: bytes) -> None:
    """Load ``program`` (needs no-new-privs or CAP_SYS_ADMIN); irreversible."""
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.addressof(buf))
    if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp filter load failed: {os.strerror(err)}")


class ChildSeccomp:
    """``child_seccomp_program`` pre-built in the zygote: after fork, ``install(pid)`` patches the
    pid into the ready buffer and loads it with one prctl (no allocation, few pages touched).
    Checked at construction: the patched template equals ``child_seccomp_program(pid)``."""

    _PLACEHOLDER = 0x7FFFFFF1

    def __init__(self) -> None:
        template = child_seccomp_program(self._PLACEHOLDER)
        marker = self._PLACEHOLDER.to_bytes(4, "little")
        self._offsets = tuple(i for i in range(4, len(template), 8) if template[i:i + 4] == marker)
        self._buf = ctypes.create_string_buffer(template, len(template))
        self._fprog = _SockFprog(len(template) // 8, ctypes.addressof(self._buf))
        self._ref = ctypes.byref(self._fprog)
        self._prctl = _libc.prctl
        probe = 12345
        self._patch(probe)
        if self._buf.raw != child_seccomp_program(probe):
            raise ValueError("seccomp template patching does not reproduce the program")

    def _patch(self, pid: int) -> None:
        raw = pid.to_bytes(4, "little")
        for offset in self._offsets:
            self._buf[offset:offset + 4] = raw

    def install(self, pid: int) -> None:
        self._patch(pid)
        if self._prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, self._ref, 0, 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"seccomp filter load failed: {os.strerror(err)}")
