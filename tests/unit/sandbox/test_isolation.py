"""Each isolation layer on its own (``layers={one}``), against real children, with a control run
(``layers=()``) where the effect would otherwise happen, so every test can fail."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from retool.sandbox import isolation
from retool.sandbox import LAYERS, ExecutionResult, PythonSandbox
from tests.capabilities import (available_layers, requires_isolation, requires_landlock,
                                requires_program, requires_root, skip_unless_layers)

REPO = str(Path(__file__).resolve().parents[3])
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin") or "/usr/bin/python3"


async def run_in(layers: set[str], code: str, **overrides: object) -> tuple[ExecutionResult, list[int]]:
    """Run ``code`` after starting the zygote; ``{zygote}`` in the code is its pid. Skips, naming
    them, when a layer it needs is missing on this host."""
    skip_unless_layers(*sorted(layers))
    options = {"timeout": 10, "concurrency": 2, "zygotes": 1, "allowed_modules": None,
               "layers": frozenset(layers), **overrides}
    async with PythonSandbox(**options) as sandbox:
        await sandbox.run("1")
        pids = sandbox.zygote_pids()
        return await sandbox.run(code.replace("{zygote}", str(pids[0]))), pids


SYSCALL = "import ctypes, errno\nlibc = ctypes.CDLL(None, use_errno=True)\n"
DENIED = {  # name: (number, args) with args that would fail differently (or succeed) if allowed
    "ptrace": (101, (0, 0, 0, 0)),
    "bpf": (321, (0, 0, 0)),
    "io_uring_setup": (425, (1, 0)),
    "userfaultfd": (323, (0,)),
    "perf_event_open": (298, (0, 0, -1, -1, 0)),
    "keyctl": (250, (0, 0)),
    "mount": (165, (0, 0, 0, 0, 0)),
    "unshare": (272, (0x40000000,)),
    "setns": (308, (-1, 0)),
    "process_vm_readv": (310, (1, 0, 0, 0, 0, 0)),
    "pidfd_open": (434, (1, 0)),
    "kexec_load": (246, (0, 0, 0, 0)),
    # cross-run channels and resources outside the limits
    "shmget": (29, (0x1234, 4096, 0o1666)),
    "msgget": (68, (0x1234, 0o1666)),
    "semget": (64, (0x1234, 1, 0o1666)),
    "mq_open": (240, (0, 0o100, 0o666, 0)),
    "inotify_init1": (294, (0,)),
    "fanotify_init": (300, (0, 0)),
    "io_setup": (206, (1, 0)),
    "memfd_create": (319, (0, 0)),
    "flock": (73, (0, 2)),
}
# fcntl commands denied on fd 0: F_GETLK, F_SETLK, F_SETLKW, F_OFD_*, F_SETLEASE, F_GETLEASE, F_NOTIFY
DENIED_FCNTL = (5, 6, 7, 36, 37, 38, 1024, 1025, 1026)


def _errno_probe(nr: int, args: tuple[int, ...]) -> str:
    return SYSCALL + f"r = libc.syscall({nr}, {', '.join(map(str, args))})\nprint(r, errno.errorcode.get(ctypes.get_errno()))"


# --- seccomp -------------------------------------------------------------------------------------
@pytest.mark.asyncio
@pytest.mark.parametrize("name", sorted(DENIED))
async def test_seccomp_denies_dangerous_syscalls(name: str) -> None:
    nr, args = DENIED[name]
    result, _ = await run_in({"seccomp"}, _errno_probe(nr, args))
    assert result.stdout == "-1 EPERM\n", result


@pytest.mark.asyncio
async def test_without_seccomp_the_same_probe_is_not_eperm() -> None:
    result, _ = await run_in(set(), _errno_probe(*DENIED["bpf"]))
    assert result.status == "ok" and result.stdout != "-1 EPERM\n"


@pytest.mark.asyncio
async def test_seccomp_gives_enosys_for_clone3_so_threads_fall_back() -> None:
    code = _errno_probe(435, (0, 0)) + "\nimport threading\nt = threading.Thread(target=print, args=('thread',))\nt.start(); t.join()"
    result, _ = await run_in({"seccomp"}, code)
    assert result.stdout == "-1 ENOSYS\nthread\n"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "code",
    [
        "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_STREAM)",
        "import socket\nsocket.socket(socket.AF_UNIX, socket.SOCK_STREAM)",
        "import socket\nsocket.socketpair()",
        "import os\nos.fork()",
        "import os\nos.execv('/bin/true', ['true'])",
        "import subprocess\nsubprocess.run(['/bin/true'])",
        "import os\nos.kill({zygote}, 0)",
        "import os\nos.kill(-1, 0)",
    ],
)
async def test_seccomp_blocks_sockets_processes_and_foreign_signals(code: str) -> None:
    result, _ = await run_in({"seccomp"}, code)
    assert result.status == "error" and "PermissionError" in result.stderr, result


@pytest.mark.asyncio
async def test_without_seccomp_a_root_child_could_signal_the_zygote() -> None:
    result, _ = await run_in(set(), "import os\nos.kill({zygote}, 0)\nprint('signalled')")
    assert result.stdout == "signalled\n"


@pytest.mark.asyncio
async def test_seccomp_lets_a_child_signal_itself() -> None:
    code = "import os, signal\nsignal.signal(signal.SIGUSR1, lambda *a: print('got it'))\nos.kill(os.getpid(), signal.SIGUSR1)"
    result, _ = await run_in({"seccomp"}, code)
    assert result.stdout == "got it\n"


def test_child_program_is_whole_instructions_and_rejects_bad_pids() -> None:
    assert len(isolation.child_seccomp_program(1234)) % 8 == 0
    assert len(isolation.zygote_seccomp_program()) % 8 == 0
    with pytest.raises(ValueError, match="own_pid"):
        isolation.child_seccomp_program(0)


# --- Landlock ------------------------------------------------------------------------------------
@pytest.fixture()
def canary(tmp_path: Path) -> Path:
    path = tmp_path / "canary.txt"
    path.write_text("canary-secret")
    return path


READ_CANARY = "print(open({path!r}).read())"
WRITE_NEXT_TO_CANARY = "open({path!r}, 'w').write('x')"


@pytest.mark.asyncio
async def test_landlock_blocks_reading_a_file_outside_allowed_paths(canary: Path) -> None:
    result, _ = await run_in({"landlock"}, READ_CANARY.format(path=str(canary)))
    assert result.status == "error" and "PermissionError" in result.stderr and "canary-secret" not in result.stdout


@pytest.mark.asyncio
async def test_without_landlock_the_canary_is_readable(canary: Path) -> None:
    result, _ = await run_in(set(), READ_CANARY.format(path=str(canary)))
    assert result.stdout == "canary-secret\n"


@pytest.mark.asyncio
async def test_landlock_blocks_writing_outside_scratch(canary: Path) -> None:
    target = str(canary.parent / "written.txt")
    result, _ = await run_in({"landlock"}, WRITE_NEXT_TO_CANARY.format(path=target))
    assert result.status == "error" and not os.path.exists(target)


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/proc/self/environ", "/etc/passwd", REPO + "/pyproject.toml"])
async def test_landlock_hides_proc_etc_and_the_repository(path: str) -> None:
    result, _ = await run_in({"landlock"}, f"open({path!r}, 'rb').read()")
    assert result.status == "error" and "PermissionError" in result.stderr


@pytest.mark.asyncio
async def test_landlock_keeps_scratch_writable_and_stdlib_readable() -> None:
    code = "import os\nopen('f.txt', 'w').write('ok')\nprint(open('f.txt').read(), len(open(os.__file__).read()) > 0)"
    result, _ = await run_in({"landlock"}, code)
    assert result.stdout == "ok True\n"


# --- rlimits -----------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_rlimits_cap_file_size() -> None:
    code = "f = open('big.bin', 'wb')\ntry:\n    f.write(b'x' * 5000); f.flush()\nexcept OSError as e:\n    print(e.errno)"
    result, _ = await run_in({"rlimits"}, code, max_file_bytes=4096)
    assert result.stdout == "27\n"  # EFBIG


@pytest.mark.asyncio
async def test_rlimits_cap_open_files() -> None:
    code = "fs = []\ntry:\n    for i in range(100): fs.append(open(f'f{i}', 'w'))\nexcept OSError as e:\n    print(e.errno, len(fs) < 20)"
    result, _ = await run_in({"rlimits"}, code, max_open_files=16)
    assert result.stdout == "24 True\n"  # EMFILE


@pytest.mark.asyncio
async def test_rlimits_are_hard_and_cover_cpu_and_address_space() -> None:
    code = "import resource as r\nprint([r.getrlimit(x) for x in (r.RLIMIT_CPU, r.RLIMIT_NOFILE, r.RLIMIT_CORE)])\nprint(r.getrlimit(r.RLIMIT_AS)[0] > 100 * 10**6)"
    result, _ = await run_in({"rlimits"}, code, timeout=3.5, max_open_files=32, memory_limit="100MB")
    assert result.stdout == "[(5, 5), (32, 32), (0, 0)]\nTrue\n"


@pytest.mark.asyncio
async def test_without_rlimits_memory_is_not_capped() -> None:
    result, _ = await run_in(set(), "b = bytearray(200 * 10**6)\nprint(len(b))", memory_limit="100MB")
    assert result.stdout == "200000000\n"


# --- uid ---------------------------------------------------------------------------------------
@requires_root
@pytest.mark.asyncio
async def test_uid_layer_runs_each_slot_as_its_own_unprivileged_user() -> None:
    code = "import os\nprint(os.getresuid(), os.getresgid(), os.getgroups())"
    result, _ = await run_in({"uid"}, code, uid_base=61500, concurrency=1)
    assert result.stdout == "(61500, 61500, 61500) (61500, 61500, 61500) []\n"


@requires_root
@pytest.mark.asyncio
async def test_uid_layer_alone_stops_signalling_the_zygote_and_reading_root_files(canary: Path) -> None:
    os.chmod(canary, 0o600)
    code = f"import os\ntry:\n    os.kill({{zygote}}, 0)\nexcept PermissionError:\n    print('no signal')\ntry:\n    open({str(canary)!r})\nexcept PermissionError:\n    print('no read')"
    result, _ = await run_in({"uid"}, code)
    assert result.stdout == "no signal\nno read\n"


# --- no_new_privs --------------------------------------------------------------------------------
@pytest.mark.asyncio
@pytest.mark.parametrize(("layers", "flag"), [({"no_new_privs"}, "1"), (set(), "0")])
async def test_no_new_privs_is_set_only_by_its_layer(layers: set[str], flag: str) -> None:
    code = "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('NoNewPrivs')][0])"
    result, _ = await run_in(layers, code)
    assert result.stdout == f"{flag}\n"


# --- detection and refusal ---------------------------------------------------------------------
def test_probe_reports_every_layer() -> None:
    assert set(isolation.probe_layers()) == set(LAYERS)


@requires_isolation
def test_all_layers_are_active_here_by_default() -> None:
    layers = PythonSandbox(concurrency=1).layers()
    assert all(layers[name] == "active" for name in LAYERS)


NON_ROOT_SCRIPT = """
import asyncio, json
from retool.sandbox import PythonSandbox, SandboxUnavailableError
try:
    PythonSandbox(concurrency=1)
    refused = None
except SandboxUnavailableError as exc:
    refused = str(exc)
async def main():
    async with PythonSandbox(concurrency=1, allow_weaker=True) as sandbox:
        return sandbox.layers(), (await sandbox.run("print(6 * 7)")).stdout
layers, out = asyncio.run(main())
print(json.dumps({"refused": refused, "layers": layers, "out": out}))
"""


@requires_root
@requires_program("python3", "apt-get install python3: an interpreter uid 65534 can run", path="/usr/bin")
def test_non_root_host_refuses_unless_weaker_mode_is_accepted() -> None:
    proc = subprocess.run([SYSTEM_PYTHON, "-c", NON_ROOT_SCRIPT], user=65534, group=65534, cwd="/", capture_output=True,
                          text=True, timeout=60, env={"PYTHONPATH": REPO, "PATH": "/usr/bin:/bin"}, check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["refused"] and "uid: not root" in report["refused"] and "allow_weaker" in report["refused"]
    assert report["layers"]["uid"].startswith("unavailable: not root")
    assert report["layers"]["seccomp"] == "active" and report["out"] == "42\n"


def test_layers_are_validated_against_the_known_names() -> None:
    with pytest.raises(ValueError, match="layers"):
        PythonSandbox(layers=frozenset({"seccomp", "selinux"}))



@pytest.mark.asyncio
async def test_all_layers_still_import_stdlib_modules_that_were_not_pre_imported() -> None:
    # every layer this host has (all of them on a capable host): none may break a lazy stdlib import
    code = "import dataclasses, secrets, json\nprint(dataclasses.is_dataclass(1), len(secrets.token_hex(4)), json.dumps([1]))"
    result, _ = await run_in(set(available_layers()), code)
    assert result.stdout == "False 8 [1]\n", result


@requires_landlock  # the repository is world-readable: only Landlock keeps it from the child
@pytest.mark.asyncio
async def test_the_sandbox_code_itself_is_not_readable_by_a_child() -> None:
    result, _ = await run_in(set(available_layers()), f"open({REPO + '/retool/sandbox/zygote.py'!r}).read()")
    assert result.status == "error" and "PermissionError" in result.stderr


def test_prebuilt_child_program_matches_the_pure_builder_for_any_pid() -> None:
    prebuilt = isolation.ChildSeccomp()
    for pid in (1, 4242, 2**22 - 1):
        prebuilt._patch(pid)
        assert prebuilt._buf.raw == isolation.child_seccomp_program(pid)


@pytest.mark.asyncio
@pytest.mark.parametrize("cmd", DENIED_FCNTL)
async def test_seccomp_denies_fcntl_locks_leases_and_notify(cmd: int) -> None:
    result, _ = await run_in({"seccomp"}, _errno_probe(72, (0, cmd, 0)))
    assert result.stdout.split() == ["-1", "EPERM"], result


@pytest.mark.asyncio
async def test_seccomp_keeps_ordinary_fcntl_working() -> None:
    result, _ = await run_in({"seccomp"}, _errno_probe(72, (1, 1, 0)))  # F_GETFD on stdout
    assert result.stdout.split()[1] == "None" and result.stdout.split()[0] != "-1", result


@pytest.mark.asyncio
async def test_seccomp_makes_the_parent_death_signal_impossible_to_clear() -> None:
    code = SYSCALL + "r = libc.prctl(1, 0, 0, 0, 0)\nprint(r, errno.errorcode.get(ctypes.get_errno()))"
    result, _ = await run_in({"seccomp"}, code)
    control, _ = await run_in(set(), code)
    assert result.stdout.split() == ["-1", "EPERM"] and control.stdout.split() == ["0", "None"], (result, control)
