"""The seccomp layer: classic-BPF programs for the zygote and each child (x86_64), and loading them.

Contract: pure program builders (``zygote_seccomp_program()``, ``child_seccomp_program(pid)``),
``install_seccomp(program)`` (needs no-new-privs; irreversible) and ``ChildSeccomp`` (a child
program pre-built in the zygote, patched with the child's pid after fork and loaded with one
prctl). Standard library only: it runs in the zygote. Re-exported by
:mod:`retool.sandbox.isolation`, which documents the layer:
what the two programs deny (a deny list, x86_64 only) is listed under ``seccomp`` there.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

_libc = ctypes.CDLL(None, use_errno=True)
_libc.prctl.restype = ctypes.c_int

PR_SET_PDEATHSIG = 1
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

AUDIT_ARCH_X86_64 = 0xC000003E
_X32_BIT = 0x40000000
_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
CLONE_THREAD = 0x00010000
_CLONE_NS_FLAGS = 0x7E020000  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET

# x86_64 syscall numbers denied outright (EPERM).
DENIED_SYSCALLS_X86_64: dict[str, int] = {
    "execve": 59, "execveat": 322, "fork": 57, "vfork": 58,
    "socket": 41, "socketpair": 53, "ptrace": 101,
    "process_vm_readv": 310, "process_vm_writev": 311, "process_madvise": 440, "kcmp": 312,
    "bpf": 321, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "userfaultfd": 323, "perf_event_open": 298, "keyctl": 250, "add_key": 248,
    "request_key": 249, "pidfd_open": 434, "pidfd_send_signal": 424, "pidfd_getfd": 438,
    "rt_sigqueueinfo": 129, "rt_tgsigqueueinfo": 297, "init_module": 175,
    "finit_module": 313, "delete_module": 176, "kexec_load": 246, "kexec_file_load": 320,
    "reboot": 169, "swapon": 167, "swapoff": 168, "acct": 163, "syslog": 103,
    "personality": 135, "open_by_handle_at": 304, "name_to_handle_at": 303, "quotactl": 179,
    "quotactl_fd": 443, "iopl": 172, "ioperm": 173, "uselib": 134, "mknod": 133, "mknodat": 259,
    "settimeofday": 164, "clock_settime": 227, "adjtimex": 159, "clock_adjtime": 305,
    "sethostname": 170, "setdomainname": 171, "vhangup": 153, "lookup_dcookie": 212,
    # cross-run channels and resources outside every limit (issue classes 1-3, 6-8)
    "shmget": 29, "shmat": 30, "shmctl": 31, "shmdt": 67, "semget": 64, "semop": 65, "semctl": 66,
    "semtimedop": 220, "msgget": 68, "msgsnd": 69, "msgrcv": 70, "msgctl": 71,
    "mq_open": 240, "mq_unlink": 241, "mq_timedsend": 242, "mq_timedreceive": 243, "mq_notify": 244,
    "mq_getsetattr": 245, "inotify_init": 253, "inotify_init1": 294, "inotify_add_watch": 254,
    "fanotify_init": 300, "fanotify_mark": 301, "io_setup": 206, "io_destroy": 207, "io_getevents": 208,
    "io_submit": 209, "io_cancel": 210, "io_pgetevents": 333, "memfd_create": 319, "memfd_secret": 447,
    "flock": 73, "process_mrelease": 448,
    # metadata writes Landlock (ABI <= 7) does not mediate: xattrs anywhere, file times
    "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190, "removexattr": 197, "lremovexattr": 198,
    "fremovexattr": 199, "setxattrat": 463, "removexattrat": 466,
    "utime": 132, "utimes": 235, "futimesat": 261, "utimensat": 280,
}
# fcntl commands denied (EPERM): record locks, leases and directory notification are channels
# between runs on a shared (read-only) host file: F_GETLK/F_SETLK/F_SETLKW, F_OFD_*, F_SETLEASE,
# F_GETLEASE, F_NOTIFY.
_FCNTL_X86_64 = 72
DENIED_FCNTL_COMMANDS: tuple[int, ...] = (5, 6, 7, 36, 37, 38, 1024, 1025, 1026)
# Denied in the per-child program only: the zygote and the child's own set-up use them (namespaces,
# the scratch tmpfs) before it is installed.
CHILD_DENIED_SYSCALLS_X86_64: dict[str, int] = {
    "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "move_mount": 429,
    "open_tree": 428, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "mount_setattr": 442, "unshare": 272, "setns": 308,
}
_PRCTL_X86_64 = 157
# Allowed only when args[0] (the target pid / tgid) is the child's own pid (or 0 for kill).
_SELF_ONLY_X86_64 = {"kill": 62, "tkill": 200, "tgkill": 234}
_CLONE_X86_64 = 56
_CLONE3_X86_64 = 435


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k & 0xFFFFFFFF)


_LD_W_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06


def _head() -> list[bytes]:
    """Kill on a foreign architecture or an x32 call; leave the syscall number in A."""
    return [
        _insn(_LD_W_ABS, 0, 0, 4),  # arch
        _insn(_JEQ, 1, 0, AUDIT_ARCH_X86_64),
        _insn(_RET, 0, 0, _RET_KILL_PROCESS),
        _insn(_LD_W_ABS, 0, 0, 0),  # nr
        _insn(_JGE, 0, 1, _X32_BIT),
        _insn(_RET, 0, 0, _RET_KILL_PROCESS),
    ]


def zygote_seccomp_program() -> bytes:
    """The static deny list, installed once in the zygote and inherited by every child. Pure.

    The zygote itself needs none of these calls once it serves (it forks with clone and kills
    children with kill, which the per-child program restricts).
    """
    deny = _RET_ERRNO | errno.EPERM
    prog = _head()
    for nr in sorted(set(DENIED_SYSCALLS_X86_64.values())):
        prog += [_insn(_JEQ, 0, 1, nr), _insn(_RET, 0, 0, deny)]
    prog += [_insn(_JEQ, 0, 1, _CLONE3_X86_64), _insn(_RET, 0, 0, _RET_ERRNO | errno.ENOSYS)]
    # fcntl: the lock, lease and notify commands (args[1] low word) are denied.
    body = [_insn(_LD_W_ABS, 0, 0, 24)]
    for index, cmd in enumerate(DENIED_FCNTL_COMMANDS):
        body.append(_insn(_JEQ, len(DENIED_FCNTL_COMMANDS) - index, 0, cmd))
    body += [_insn(_RET, 0, 0, _RET_ALLOW), _insn(_RET, 0, 0, deny)]
    prog += [_insn(_JEQ, 0, len(body), _FCNTL_X86_64)] + body
    prog.append(_insn(_RET, 0, 0, _RET_ALLOW))
    return b"".join(prog)


def child_seccomp_program(own_pid: int) -> bytes:
    """The per-child program (stacked on the zygote's): clone only for threads, signals only
    to itself. Small on purpose: the kernel JIT-compiles it once per child. Pure."""
    if own_pid <= 0:
        raise ValueError(f"own_pid must be a positive pid, got {own_pid}")
    deny = _RET_ERRNO | errno.EPERM
    prog = _head()
    # clone: allowed only for threads of this process (CLONE_THREAD, no namespace flags).
    prog += [
        _insn(_JEQ, 0, 5, _CLONE_X86_64),
        _insn(_LD_W_ABS, 0, 0, 16),  # args[0] low 32 bits (flags)
        _insn(_JSET, 1, 0, _CLONE_NS_FLAGS),
        _insn(_JSET, 1, 0, CLONE_THREAD),
        _insn(_RET, 0, 0, deny),
        _insn(_RET, 0, 0, _RET_ALLOW),
    ]
    # kill/tkill/tgkill: the kernel reads the target as a 32-bit pid_t (args[0] low word), so
    # that word alone decides: only the child's own pid (or 0, its own group, for kill).
    for name, nr in _SELF_ONLY_X86_64.items():
        body = [_insn(_LD_W_ABS, 0, 0, 16), _insn(_JEQ, 2 if name == "kill" else 1, 0, own_pid)]
        if name == "kill":
            body.append(_insn(_JEQ, 1, 0, 0))
        body += [_insn(_RET, 0, 0, deny), _insn(_RET, 0, 0, _RET_ALLOW)]
        prog += [_insn(_JEQ, 0, len(body), nr)] + body
    # mount family, unshare, setns: the child's namespaces are set; nothing changes them again.
    for nr in sorted(CHILD_DENIED_SYSCALLS_X86_64.values()):
        prog += [_insn(_JEQ, 0, 1, nr), _insn(_RET, 0, 0, deny)]
    # prctl(PR_SET_PDEATHSIG, ...): the parent-death signal set in set-up cannot be cleared.
    prog += [
        _insn(_JEQ, 0, 3, _PRCTL_X86_64),
        _insn(_LD_W_ABS, 0, 0, 16),
        _insn(_JEQ, 0, 1, PR_SET_PDEATHSIG),
        _insn(_RET, 0, 0, deny),
    ]
    prog.append(_insn(_RET, 0, 0, _RET_ALLOW))
    return b"".join(prog)


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
