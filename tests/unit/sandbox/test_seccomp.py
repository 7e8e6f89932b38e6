"""The seccomp allow-lists (``retool.sandbox.seccomp``): the programs' decisions read by a small
classic-BPF interpreter (every number, the argument checks, the architecture checks), then the
effects in real children: a call on no list is refused where a control run without seccomp gets
through, and ordinary snippets (threads, numpy, sympy, mpmath, fractions, big ints, 1 MB of
output, files in scratch, reading library files) still work with every layer this host has."""

from __future__ import annotations

import errno
import re
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from retool.sandbox import PythonSandbox, seccomp
from tests.capabilities import sandbox_options, skip_unless_layers

ALLOW, EPERM, ENOSYS = 0x7FFF0000, 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
KILL = 0x80000000
OWN_PID = 4242
UNISTD = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")
module_loop = pytest.mark.asyncio(loop_scope="module")


def decide(program: bytes, nr: int, *args: int, arch: int = seccomp.AUDIT_ARCH_X86_64) -> int:
    """What ``program`` returns for a syscall: a classic-BPF interpreter for the opcodes it uses."""
    data = struct.pack("=IIQ6Q", nr & 0xFFFFFFFF, arch, 0, *(list(args) + [0] * 6)[:6])
    insns = [struct.unpack_from("HBBI", program, at) for at in range(0, len(program), 8)]
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        if code == 0x20:
            acc, pc = struct.unpack_from("=I", data, k)[0], pc + 1
        elif code == 0x05:
            pc += 1 + k
        elif code in (0x15, 0x35, 0x45):
            hit = acc == k if code == 0x15 else acc >= k if code == 0x35 else bool(acc & k)
            pc += 1 + (jt if hit else jf)
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unexpected BPF opcode {code:#x} at {pc}")


CHILD = seccomp.child_seccomp_program(OWN_PID)
ZYGOTE = seccomp.zygote_seccomp_program()
TABLES = (seccomp.ALLOWED_SYSCALLS_X86_64, seccomp.ZYGOTE_SYSCALLS_X86_64, seccomp.ENOSYS_SYSCALLS_X86_64)
ARGS = {  # arguments that pass each argument check
    "clone": (0x003D0F00,), "kill": (OWN_PID,), "tkill": (OWN_PID,), "tgkill": (OWN_PID,), "prlimit64": (0,),
    "sched_getaffinity": (0,), "prctl": (16,), "fcntl": (0, 1), "ioctl": (0, 0x5401),
}


def _name(nr: int) -> str | None:
    return next((name for table in TABLES for name, n in table.items() if n == nr), None)


# --- the programs' decisions ---------------------------------------------------------------------
def test_tables_name_each_number_once() -> None:
    numbers = [nr for table in TABLES for nr in table.values()]
    assert len(numbers) == len(set(numbers))


def test_table_numbers_match_the_kernel_headers() -> None:
    if not UNISTD.exists():
        pytest.skip(f"needs {UNISTD} (apt-get install linux-libc-dev) to check the numbers against")
    known = {m[1]: int(m[2]) for m in re.finditer(r"#define __NR_(\w+) (\d+)", UNISTD.read_text())}
    wrong = {name: nr for table in TABLES for name, nr in table.items() if name in known and known[name] != nr}
    assert not wrong and len(known) > 300


def test_the_child_program_allows_exactly_its_table() -> None:
    allowed = {nr for nr in range(1024) if decide(CHILD, nr, *ARGS.get(_name(nr), ())) == ALLOW}
    assert allowed == set(seccomp.ALLOWED_SYSCALLS_X86_64.values())


def test_the_zygote_program_allows_its_table_and_the_childs() -> None:
    allowed = {nr for nr in range(1024) if decide(ZYGOTE, nr, *ARGS.get(_name(nr), ())) == ALLOW}
    assert allowed == set(seccomp.ALLOWED_SYSCALLS_X86_64.values()) | set(seccomp.ZYGOTE_SYSCALLS_X86_64.values())


@pytest.mark.parametrize("program", [CHILD, ZYGOTE], ids=["child", "zygote"])
def test_anything_off_the_lists_is_eperm_and_the_fallback_calls_enosys(program: bytes) -> None:
    for name in ("execve", "socket", "ptrace", "bpf", "memfd_create", "setxattr", "mincore"):
        assert decide(program, {"execve": 59, "socket": 41, "ptrace": 101, "bpf": 321, "memfd_create": 319,
                                "setxattr": 188, "mincore": 27}[name]) == EPERM, name
    assert decide(program, 1000) == EPERM and decide(program, 0x3FFFFFFF) == EPERM  # unassigned
    assert all(decide(program, nr) == ENOSYS for nr in seccomp.ENOSYS_SYSCALLS_X86_64.values())


@pytest.mark.parametrize("program", [CHILD, ZYGOTE], ids=["child", "zygote"])
def test_a_foreign_architecture_or_an_x32_call_kills(program: bytes) -> None:
    assert decide(program, 0, arch=0x40000003) == KILL  # i386
    assert decide(program, 0x40000000 | 1) == KILL  # x32 write


def test_clone_in_a_child_makes_threads_only_and_never_namespaces() -> None:
    thread_flags, fork_flags = 0x003D0F00, 0x01200011  # glibc's pthread_create; fork()
    assert decide(CHILD, 56, thread_flags) == ALLOW and decide(CHILD, 56, fork_flags) == EPERM
    assert decide(CHILD, 56, thread_flags | 0x20000000) == EPERM  # CLONE_NEWPID
    assert decide(ZYGOTE, 56, fork_flags) == ALLOW and decide(ZYGOTE, 56, fork_flags | 0x40000000) == EPERM


def test_signals_limits_and_affinity_reach_only_the_child_itself() -> None:
    for nr, others in ((62, (OWN_PID, 0)), (302, (OWN_PID, 0)), (204, (OWN_PID, 0)), (200, (OWN_PID,)), (234, (OWN_PID,))):
        assert all(decide(CHILD, nr, pid) == ALLOW for pid in others), nr
        assert decide(CHILD, nr, OWN_PID + 1) == EPERM and decide(CHILD, nr, 1) == EPERM, nr
    assert decide(CHILD, 62, 0xFFFFFFFF) == EPERM  # kill(-1): every process


def test_prctl_fcntl_and_ioctl_take_only_their_listed_commands() -> None:
    assert decide(CHILD, 157, 16) == ALLOW and decide(CHILD, 157, 1) == EPERM  # PR_GET_NAME; PR_SET_PDEATHSIG
    assert decide(CHILD, 157, 22) == EPERM and decide(CHILD, 157, 4) == EPERM  # PR_SET_SECCOMP, PR_SET_DUMPABLE
    for program in (CHILD, ZYGOTE):
        assert decide(program, 72, 0, 1030) == ALLOW and decide(program, 72, 0, 6) == EPERM  # F_DUPFD_CLOEXEC; F_SETLK
        assert decide(program, 72, 0, 8) == EPERM  # F_SETOWN
        assert decide(program, 16, 0, 0x5401) == ALLOW and decide(program, 16, 0, 0x80086601) == EPERM  # FS_IOC_GETFLAGS


def test_the_pid_is_patched_into_every_check_that_names_it() -> None:
    prebuilt = seccomp.ChildSeccomp()
    for pid in (1, 77, 2**22 - 1):
        prebuilt._patch(pid)
        assert prebuilt._buf.raw == seccomp.child_seccomp_program(pid)
        assert decide(prebuilt._buf.raw, 62, pid) == ALLOW and decide(prebuilt._buf.raw, 62, OWN_PID) == EPERM


def test_the_summary_for_sandbox_info_names_the_allow_list_and_its_size() -> None:
    line = seccomp.summary()
    assert line.startswith("allow-list") and f"{len(seccomp.ALLOWED_SYSCALLS_X86_64)} syscalls per child" in line
    assert "clone3" in line and "EPERM" in line


# --- effects in real children --------------------------------------------------------------------
PROBE = "import ctypes, errno, mmap\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.syscall.restype = ctypes.c_long\n"
PROBE += "def call(nr, *a):\n    r = libc.syscall(nr, *a)\n    return 'EPERM' if r == -1 and ctypes.get_errno() == errno.EPERM else 'other'\n"
PROBE += "open('f', 'w').close()\npage = mmap.mmap(-1, 4096)\nvec = ctypes.create_string_buffer(8)\n"
PROBE += "addr = ctypes.addressof(ctypes.c_char.from_buffer(page))\n"
OFF_THE_LIST = {  # calls the old deny list let through, each with arguments that work without seccomp
    "mincore": "call(27, ctypes.c_void_p(addr), 4096, vec)",
    "chown": "call(92, b'f', __import__('os').getuid(), __import__('os').getgid())",
    "getxattr": "call(191, b'f', b'user.x', vec, 8)",
    "personality": "call(135, 0xffffffff)",
    "getpriority": "call(140, 0, 0)",
    "sched_setaffinity": "call(203, 0, 8, ctypes.byref(ctypes.c_ulong(1)))",
    "seccomp": "call(317, 2, 0, ctypes.byref(ctypes.c_uint(0x7fff0000)))",
    "ioctl FS_IOC_GETFLAGS": "call(16, __import__('os').open('f', 0), 0x80086601, vec)",
    "fcntl F_SETOWN": "call(72, 1, 8, 0)",
    "prctl PR_SET_DUMPABLE": "call(157, 4, 1, 0, 0, 0)",
    "an unassigned number": "call(1000)",
}
OFF_THE_LIST_CODE = PROBE + "".join(f"print({name!r}, {expr})\n" for name, expr in OFF_THE_LIST.items())


async def _stdout(layers: set[str], code: str) -> str:
    skip_unless_layers(*sorted(layers))
    async with PythonSandbox(timeout=10, concurrency=1, zygotes=1, allowed_modules=None, layers=frozenset(layers),
                             uid_base=62400, allow_weaker=True) as box:
        result = await box.run(code)
    assert result.status == "ok", result
    return result.stdout


@pytest.mark.asyncio
async def test_a_call_on_no_list_is_refused_where_it_works_without_seccomp() -> None:
    refused = await _stdout({"seccomp"}, OFF_THE_LIST_CODE)
    control = await _stdout(set(), OFF_THE_LIST_CODE.replace("call(1000)", "call(39)"))  # getpid: a call that exists
    assert refused == "".join(f"{name} EPERM\n" for name in OFF_THE_LIST), refused
    assert control == "".join(f"{name} other\n" for name in OFF_THE_LIST), control


@pytest.mark.asyncio
async def test_libc_fallback_calls_get_enosys() -> None:
    code = PROBE + "for nr in (435, 437):\n    print(libc.syscall(nr, 0, 0, 0), errno.errorcode[ctypes.get_errno()])"
    assert await _stdout({"seccomp"}, code) == "-1 ENOSYS\n-1 ENOSYS\n"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def everything() -> AsyncIterator[PythonSandbox]:
    """Every layer this host has, no import guard, room for 1 MB of output."""
    async with PythonSandbox(timeout=20, concurrency=2, zygotes=1, allowed_modules=None, uid_base=62440,
                             max_output_bytes=2 * 2**20, **sandbox_options()) as box:
        yield box


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def recipe() -> AsyncIterator[PythonSandbox]:
    async with PythonSandbox(timeout=30, concurrency=2, zygotes=1, module_preset="recipe", uid_base=62444,
                             **sandbox_options()) as box:
        yield box


def lines(*parts: str) -> str:
    return "\n".join(parts)


ORDINARY = {  # name: (code, stdout)
    "threads": (lines("import signal, threading", "from concurrent.futures import ThreadPoolExecutor", "out = []",
                      "ts = [threading.Thread(target=out.append, args=(i,)) for i in range(6)]",
                      "[t.start() for t in ts]", "[t.join() for t in ts]",
                      "with ThreadPoolExecutor(3) as ex: s = sum(ex.map(abs, range(-50, 50)))",
                      "signal.pthread_kill(threading.get_ident(), 0)", "print(sorted(out), s)"),
                "[0, 1, 2, 3, 4, 5] 2500\n"),
    "big ints": (lines("import sys, math", "sys.set_int_max_str_digits(0)",
                       "print(len(str(3 ** 200000)), pow(7, 10**6, 10**9 + 7), len(str(math.factorial(3000))))"),
                 "95425 880007888 9131\n"),
    "1 MB of output": (lines("import sys", "_ = sys.stdout.write('x' * 1_000_000)"), "x" * 1_000_000),
    "scratch files": (lines("import os, shutil, tempfile, mmap", "os.makedirs('d/e')", "open('d/e/f', 'w').write('hello')",
                            "os.rename('d/e/f', 'd/g'); os.symlink('g', 'd/l'); shutil.copy('d/g', 'c')",
                            "os.chmod('c', 0o600); os.truncate('c', 4); m = mmap.mmap(os.open('c', os.O_RDWR), 4)",
                            "with tempfile.TemporaryDirectory(dir='.') as t: open(os.path.join(t, 'x'), 'w').write('1')",
                            "print(os.readlink('d/l'), open('d/l').read(), bytes(m[:4]), sorted(os.listdir('d')))",
                            "shutil.rmtree('d')"),
                      "g hello b'hell' ['e', 'g', 'l']\n"),
    "library files": (lines("import dataclasses, os", "source = open(dataclasses.__file__).read()",  # imported lazily
                            "print('class Field' in source, len(os.listdir(os.path.dirname(dataclasses.__file__))) > 2,",
                            "      open('/etc/ld.so.cache', 'rb').read(0))"),
                      "True True b''\n"),
    "time, entropy, signals": (lines("import time, os, secrets, hashlib, signal",
                                     "signal.signal(signal.SIGALRM, lambda *a: print('alarm'))",
                                     "signal.setitimer(signal.ITIMER_REAL, 0.01); time.sleep(0.2)",
                                     "t = time.monotonic(); time.sleep(0.01)",
                                     "print(time.monotonic() > t, len(os.urandom(8)), len(secrets.token_hex(4)),",
                                     "      hashlib.sha256(b'').hexdigest()[:4])"),
                               "alarm\nTrue 8 8 e3b0\n"),
}


@module_loop
@pytest.mark.parametrize("name", sorted(ORDINARY))
async def test_ordinary_snippets_work_with_every_layer(everything: PythonSandbox, name: str) -> None:
    code, expected = ORDINARY[name]
    result = await everything.run(code)
    assert (result.status, result.stdout) == ("ok", expected), result


RECIPE = {  # name: (code, stdout)
    "numpy": (lines("import numpy as np", "a = np.random.rand(60, 60)", "np.save('a.npy', a)",
                    "m = np.memmap('m.dat', dtype='float64', mode='w+', shape=(100,)); m[:] = 1; m.flush()",
                    "print(np.allclose(np.load('a.npy') @ np.linalg.inv(a), np.eye(60)),",
                    "      int(np.fft.fft(np.ones(8)).real[0]), m.sum())"),
              "True 8 100.0\n"),
    "sympy": (lines("import sympy as sp", "x = sp.Symbol('x')", "f = sp.lambdify(x, sp.sin(x) ** 2, 'numpy')",
                    "print(sp.solve(x**2 - 4, x), sp.integrate(sp.exp(x), x), sp.Matrix([[1, 2], [3, 4]]).det(),",
                    "      round(float(f(1.0)), 4))"),
              "[-2, 2] exp(x) -2 0.7081\n"),
    "mpmath, fractions, decimal": (lines("import mpmath", "from fractions import Fraction",
                                         "from decimal import Decimal, getcontext",
                                         "mpmath.mp.dps = 30; getcontext().prec = 30",
                                         "print(mpmath.nstr(mpmath.zeta(3), 10), Fraction(1, 3) + Fraction(1, 6),",
                                         "      Decimal(2).sqrt())"),
                                   "1.202056903 1/2 1.41421356237309504880168872421\n"),
}


@module_loop
@pytest.mark.parametrize("name", sorted(RECIPE))
async def test_the_recipe_preset_works_with_every_layer(recipe: PythonSandbox, name: str) -> None:
    code, expected = RECIPE[name]
    result = await recipe.run(code)
    assert (result.status, result.stdout) == ("ok", expected), result
