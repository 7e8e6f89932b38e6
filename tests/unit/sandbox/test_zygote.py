"""Contract tests of ``retool.sandbox.zygote``: the snippet runner as the child sees it (the bare
last expression printed as its repr, statuses from ``SystemExit``/``MemoryError``/the import
guard, ``ForbiddenImport`` messages, tracebacks trimmed to the snippet) through one real
``PythonSandbox`` shared by the module; the control protocol spoken to a bare zygote process
(ready, exited, kill, EOF) and its pure helpers run in this process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psutil
import pytest
import pytest_asyncio

from retool.sandbox import ExecutionResult, PythonSandbox, SandboxConfig
from retool.sandbox.layout import ZYGOTE_ENV, ZYGOTE_PATH, make_scratch, zygote_config
from retool.sandbox.paths import read_paths as _read_paths
from retool.sandbox.paths import traversable_by_others as _traversable_by_others
from retool.sandbox.verdict import open_pipes
from retool.sandbox.wire import kill_message, parse_exited, run_message
from retool.sandbox.zygote import ForbiddenImport, _kill
from tests.capabilities import sandbox_options

module_loop = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox() -> AsyncIterator[PythonSandbox]:
    async with PythonSandbox(timeout=10, concurrency=2, zygotes=1, uid_base=62200,
                             allowed_modules=("math", "statistics"), **sandbox_options()) as box:
        await box.start()
        yield box


async def run(sandbox: PythonSandbox, code: str) -> ExecutionResult:
    return await sandbox.run(code)


# --- the bare last expression --------------------------------------------------------------------
@module_loop
async def test_the_last_expression_is_printed_as_its_repr(sandbox: PythonSandbox) -> None:
    assert (await run(sandbox, "'a' + 'b'")).stdout == "'ab'\n"


@module_loop
async def test_only_the_last_expression_is_printed(sandbox: PythonSandbox) -> None:
    assert (await run(sandbox, "1\n2\n3")).stdout == "3\n"


@module_loop
async def test_a_last_statement_that_is_not_an_expression_prints_nothing(sandbox: PythonSandbox) -> None:
    assert (await run(sandbox, "x = 5\nfor i in range(2):\n    x += i")).stdout == ""


@module_loop
async def test_a_last_expression_of_none_prints_nothing(sandbox: PythonSandbox) -> None:
    assert (await run(sandbox, "None")).stdout == ""


@module_loop
async def test_the_last_expression_sees_the_names_the_code_defined(sandbox: PythonSandbox) -> None:
    assert (await run(sandbox, "def f(n):\n    return n * 2\nvalues = [f(i) for i in range(3)]\nvalues")).stdout == "[0, 2, 4]\n"


@module_loop
async def test_a_failing_last_expression_is_an_error_pointing_at_its_line(sandbox: PythonSandbox) -> None:
    r = await run(sandbox, "x = 0\n1 / x")
    assert r.status == "error" and 'File "<snippet>", line 2' in r.stderr and r.exception == "ZeroDivisionError"


@module_loop
async def test_output_without_a_newline_is_flushed(sandbox: PythonSandbox) -> None:
    assert (await run(sandbox, "print('x', end='')")).stdout == "x"


# --- statuses from how the snippet ends ------------------------------------------------------------
@module_loop
@pytest.mark.parametrize("code", ["raise SystemExit", "raise SystemExit(0)", "raise SystemExit(None)"])
async def test_a_clean_system_exit_is_ok(sandbox: PythonSandbox, code: str) -> None:
    r = await run(sandbox, "print('a')\n" + code + "\nprint('b')")
    assert (r.status, r.stdout, r.stderr) == ("ok", "a\n", "")


@module_loop
@pytest.mark.parametrize(("code", "shown"), [("raise SystemExit(2)", "SystemExit: 2"),
                                             ("raise SystemExit('bye')", "SystemExit: bye")])
async def test_a_failing_system_exit_is_an_error(sandbox: PythonSandbox, code: str, shown: str) -> None:
    r = await run(sandbox, code)
    assert r.status == "error" and r.exception == "SystemExit" and shown in r.stderr


@module_loop
async def test_a_memory_error_is_the_memory_status(sandbox: PythonSandbox) -> None:
    r = await run(sandbox, "raise MemoryError('made up')")
    assert (r.status, r.exception) == ("memory", "MemoryError")


@module_loop
async def test_a_base_exception_is_reported_not_raised(sandbox: PythonSandbox) -> None:
    r = await run(sandbox, "raise KeyboardInterrupt")
    assert (r.status, r.exception) == ("error", "KeyboardInterrupt") and "KeyboardInterrupt" in r.stderr


@module_loop
async def test_an_exception_whose_str_fails_is_still_reported(sandbox: PythonSandbox) -> None:
    r = await run(sandbox, "class E(Exception):\n    def __str__(self):\n        raise RuntimeError\nraise E()")
    assert (r.status, r.exception) == ("error", "E") and "E: <exception str() failed>" in r.stderr


# --- the import guard ------------------------------------------------------------------------------
@module_loop
@pytest.mark.parametrize(("code", "name"), [("import os", "os"), ("import os.path", "os.path"),
                                            ("from socket import socket", "socket"), ("import math, sys", "sys")])
async def test_a_forbidden_import_names_the_module(sandbox: PythonSandbox, code: str, name: str) -> None:
    r = await run(sandbox, code)
    assert (r.status, r.exception) == ("forbidden", "ForbiddenImport")
    assert r.stderr.rstrip().endswith(f"ForbiddenImport: module {name!r} is not allowed in this sandbox")


@module_loop
async def test_a_forbidden_import_is_an_import_error_the_snippet_can_catch(sandbox: PythonSandbox) -> None:
    r = await run(sandbox, "try:\n    import socket\nexcept ImportError as e:\n    print(type(e).__name__, e.name)")
    assert (r.status, r.stdout) == ("ok", "ForbiddenImport socket\n")


@module_loop
async def test_allowed_modules_may_import_their_own_dependencies(sandbox: PythonSandbox) -> None:
    r = await run(sandbox, "import statistics\nprint(statistics.median([3, 1, 2]), statistics.fmean([1, 2]))")
    assert (r.status, r.stdout) == ("ok", "2 1.5\n")


def test_forbidden_import_is_an_import_error() -> None:
    assert issubclass(ForbiddenImport, ImportError)


# --- traceback trimming ----------------------------------------------------------------------------
@module_loop
async def test_the_traceback_starts_at_the_snippet_and_shows_its_source(sandbox: PythonSandbox) -> None:
    r = await run(sandbox, "def f(x):\n    return 1 / x\nf(0)")
    lines = r.stderr.splitlines()
    assert lines[:2] == ["Traceback (most recent call last):", '  File "<snippet>", line 3, in <module>']
    assert "    return 1 / x" in lines and "zygote" not in r.stderr


@module_loop
async def test_library_frames_below_the_snippet_are_kept(sandbox: PythonSandbox) -> None:
    r = await run(sandbox, "import statistics\nstatistics.mean([])")
    assert r.exception == "StatisticsError" and 'File "<snippet>", line 2' in r.stderr
    assert "statistics.py" in r.stderr and "zygote" not in r.stderr


@module_loop
async def test_a_syntax_error_shows_the_line_without_zygote_frames(sandbox: PythonSandbox) -> None:
    r = await run(sandbox, "x = 1\ny = (\n")
    assert r.status == "error" and r.exception == "SyntaxError"
    assert 'File "<snippet>"' in r.stderr and "zygote" not in r.stderr and "Traceback" not in r.stderr


# --- the control protocol, spoken to a bare zygote -------------------------------------------------
class Zygote:
    """A zygote started as the supervisor does, without isolation layers, on one slot."""

    def __init__(self, tmp: str) -> None:
        config = SandboxConfig(concurrency=1, layers=frozenset(), scratch_root=tmp)
        cfg = zygote_config(config, frozenset(), make_scratch(config, chown=False), 0, 1)
        self.sock, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen([sys.executable, "-I", "-S", ZYGOTE_PATH, json.dumps(cfg), str(child.fileno())],
                                     env=ZYGOTE_ENV, cwd="/", stdin=subprocess.DEVNULL, pass_fds=[child.fileno()])
        child.close()
        self.sock.settimeout(20)

    def recv(self) -> dict[str, Any]:
        raw = self.sock.recv(65536)
        exited = parse_exited(raw)
        if exited is not None:
            return dict(zip(("id", "pid", "status"), exited), ev="exited")
        return json.loads(raw)

    def start_run(self, exec_id: int, code: bytes) -> list[int]:
        child, parent = open_pipes(code)
        socket.send_fds(self.sock, [run_message(exec_id, 0)], child)
        for fd in child:
            os.close(fd)
        return parent

    def close(self) -> None:
        self.sock.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture()
def zygote() -> Iterator[Zygote]:
    tmp = tempfile.mkdtemp(prefix="retool-zygote-test-")
    z = Zygote(tmp)
    try:
        yield z
    finally:
        z.close()
        shutil.rmtree(tmp, ignore_errors=True)


def running_child(parent: int, timeout_s: float = 10.0) -> int:
    """The pid of ``parent``'s one child, once it has forked it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with open(f"/proc/{parent}/task/{parent}/children", encoding="ascii") as fh:
            children = fh.read().split()
        if children:
            return int(children[0])
        time.sleep(0.01)
    raise AssertionError(f"process {parent} forked no child within {timeout_s} s")


def drain(fd: int) -> bytes:
    os.set_blocking(fd, True)
    out = b""
    while chunk := os.read(fd, 65536):
        out += chunk
    os.close(fd)
    return out


def test_the_zygote_announces_itself_ready_with_its_pid(zygote: Zygote) -> None:
    ready = zygote.recv()
    assert ready["ev"] == "ready" and ready["pid"] == zygote.proc.pid and ready["vm_bytes"] > 0


def test_a_run_exits_with_its_child_pid_wait_status_and_record(zygote: Zygote) -> None:
    zygote.recv()
    out, err, rec = zygote.start_run(7, b"print(6 * 7)")
    exited = zygote.recv()  # the first message about a run is its exit
    assert exited.pop("pid") not in (zygote.proc.pid, 0)
    assert exited == {"ev": "exited", "id": 7, "status": 0}
    assert (drain(out), drain(err), json.loads(drain(rec))) == (b"42\n", b"", {"status": "ok"})


def test_kill_stops_a_running_child(zygote: Zygote) -> None:
    zygote.recv()
    fds = zygote.start_run(1, b"while True:\n    pass")
    zygote.sock.send(kill_message(1))
    exited = zygote.recv()
    assert exited["ev"] == "exited" and os.WIFSIGNALED(exited["status"])
    assert os.WTERMSIG(exited["status"]) == signal.SIGKILL
    for fd in fds:
        os.close(fd)


def test_every_run_forks_a_fresh_child(zygote: Zygote) -> None:
    zygote.recv()
    pids = []
    for exec_id in (1, 2):
        fds = zygote.start_run(exec_id, b"pass")
        exited = zygote.recv()
        assert exited["ev"] == "exited" and exited["id"] == exec_id
        pids.append(exited["pid"])
        for fd in fds:
            os.close(fd)
    assert pids[0] != pids[1]


def test_eof_on_the_control_socket_kills_children_and_exits(zygote: Zygote) -> None:
    zygote.recv()
    fds = zygote.start_run(1, b"while True:\n    pass")
    child_pid = running_child(zygote.proc.pid)
    zygote.sock.shutdown(socket.SHUT_RDWR)
    assert zygote.proc.wait(10) == 0
    with pytest.raises(ProcessLookupError):
        os.kill(child_pid, 0)  # killed and reaped by the zygote
    for fd in fds:
        os.close(fd)


# --- pure helpers ----------------------------------------------------------------------------------
@pytest.fixture()
def public_dir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="retool-trav-", dir="/tmp")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_a_world_readable_chain_is_traversable(public_dir: str) -> None:
    leaf = os.path.join(public_dir, "lib")
    os.mkdir(leaf)
    os.chmod(public_dir, 0o755)
    os.chmod(leaf, 0o755)
    assert _traversable_by_others(leaf)


def test_a_private_parent_makes_a_dir_untraversable(public_dir: str) -> None:
    leaf = os.path.join(public_dir, "lib")
    os.mkdir(leaf)
    os.chmod(leaf, 0o755)
    os.chmod(public_dir, 0o700)
    assert not _traversable_by_others(leaf)


def test_an_unlistable_dir_is_not_traversable(public_dir: str) -> None:
    os.chmod(public_dir, 0o711)
    assert not _traversable_by_others(public_dir)


def test_read_paths_keep_existing_configured_paths_sorted_and_skip_retool() -> None:
    package = os.path.dirname(os.path.dirname(os.path.abspath(ZYGOTE_PATH)))
    paths = _read_paths({"read_paths": ["/nonexistent/retool-test", "/usr/lib"]})
    assert "/usr/lib" in paths and "/nonexistent/retool-test" not in paths
    assert list(paths) == sorted(paths) and all(os.path.exists(p) for p in paths)
    assert not any(p == package or p.startswith(package + os.sep) for p in paths)


def test_read_paths_cover_the_dirs_of_loaded_modules() -> None:
    import json as loaded

    assert os.path.dirname(loaded.__file__) in _read_paths({"read_paths": []})


def test_kill_ends_a_child_and_its_process_group() -> None:
    leader = subprocess.Popen(["sh", "-c", "sleep 30 & wait"], start_new_session=True)
    try:
        time.sleep(0.1)
        _kill(leader.pid)
        assert leader.wait(5) == -signal.SIGKILL
    finally:
        if leader.poll() is None:
            leader.kill()
            leader.wait()
    survivors = [p for p in psutil.process_iter(["status"])
                 if p.info["status"] != psutil.STATUS_ZOMBIE and _pgid(p.pid) == leader.pid]
    assert psutil.wait_procs(survivors, timeout=5)[1] == []  # the group's sleep died with it


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def test_kill_of_a_gone_process_does_not_raise() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    _kill(proc.pid)
