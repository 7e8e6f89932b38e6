"""The namespace layers (``retool.sandbox.namespaces``) on their own, against real children and
judged from outside, each with a control run where the effect would otherwise happen. seccomp is
left off in these runs (it refuses most of the calls on its own: see test_seccomp and test_isolation)."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

import psutil
import pytest

from retool.sandbox import PythonSandbox
from retool.sandbox.namespaces import HOSTNAME, NAMESPACE_LAYERS, probe
from tests.capabilities import requires_root, skip_unless_layers

CTYPES = "import ctypes, errno, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"


def sandbox(layers: set[str], **overrides: object) -> PythonSandbox:
    skip_unless_layers(*sorted(layers))
    options = {"timeout": 10, "concurrency": 1, "zygotes": 1, "allowed_modules": None,
               "layers": frozenset(layers), "allow_weaker": True, **overrides}
    return PythonSandbox(**options)


async def runs(layers: set[str], *codes: str, **overrides: object) -> list[str]:
    async with sandbox(layers, **overrides) as box:
        return [(await box.run(code)).stdout for code in codes]


def test_the_probe_names_every_namespace_layer() -> None:
    assert set(probe()) == set(NAMESPACE_LAYERS)


def test_without_root_every_namespace_layer_is_unavailable_with_a_reason() -> None:
    if os.geteuid() == 0:
        assert all(why is None or "failed" in why or "no" in why for why in probe().values())
    else:
        assert all(why and "not root" in why for why in probe().values())


# --- ipc -----------------------------------------------------------------------------------------
SHM_CREATE = CTYPES + ("libc.shmget.restype = ctypes.c_int\n"
                       "print(libc.shmget(0x5eed, 1 << 20, 0o1666) >= 0)")
SHM_FIND = CTYPES + "print(libc.shmget(0x5eed, 0, 0o666) >= 0)"


def sysv_keys() -> set[str]:
    with open("/proc/sysvipc/shm") as fh:
        return {line.split()[0] for line in list(fh)[1:]}


@pytest.mark.asyncio
async def test_ipc_namespace_keeps_sysv_shared_memory_from_the_host_and_the_next_run() -> None:
    before = sysv_keys()
    created, found = await runs({"ipc"}, SHM_CREATE, SHM_FIND)
    assert (created, found) == ("True\n", "False\n") and sysv_keys() == before


@requires_root
@pytest.mark.asyncio
async def test_without_the_ipc_namespace_the_segment_is_a_channel() -> None:  # the control
    created, found = await runs({"rlimits"}, SHM_CREATE, SHM_FIND + "\n_ = libc.shmctl(libc.shmget(0x5eed, 0, 0), 0, None)")
    assert (created, found) == ("True\n", "True\n")


MQ = CTYPES + ("libc.mq_open.restype = ctypes.c_int\n"
               "print(libc.mq_open(b'/retool-mq-probe', {flags}, 0o666, None) >= 0)")


@pytest.mark.asyncio
async def test_ipc_namespace_keeps_posix_message_queues_per_run() -> None:
    created, found = await runs({"ipc"}, MQ.format(flags=0o102), MQ.format(flags=0o2))
    assert (created, found) == ("True\n", "False\n")
    assert not os.path.exists("/dev/mqueue/retool-mq-probe")


# --- mount ---------------------------------------------------------------------------------------
@pytest.fixture()
def world_writable(tmp_path: Path) -> Path:
    os.chmod(tmp_path, 0o755)
    target = tmp_path / "shared.txt"
    target.write_text("host")
    os.chmod(target, 0o666)
    os.utime(target, (1_000_000, 1_000_000))
    return target


@pytest.mark.asyncio
async def test_mount_namespace_makes_metadata_writes_outside_scratch_fail(world_writable: Path) -> None:
    code = ("import os\nfor f in (lambda: os.utime({p!r}), lambda: os.setxattr({p!r}, 'user.x', b'1'),"
            " lambda: os.chmod({p!r}, 0o600)):\n    try:\n        f(); print('done')\n    except OSError as e:\n"
            "        print(e.errno)").format(p=str(world_writable))
    (out,) = await runs({"mount"}, code)
    assert out.split() == ["30", "30", "30"]  # EROFS
    st = os.stat(world_writable)
    assert (st.st_mtime, oct(st.st_mode & 0o777)) == (1_000_000, "0o666") and not os.listxattr(world_writable)


@pytest.mark.asyncio
async def test_the_scratch_dir_is_new_for_every_run() -> None:
    first = "import os\nopen('left', 'w').write('x')\nos.setxattr('.', 'user.carried', b'1')\nos.chmod('.', 0o500)"
    second = "import os, stat\nprint(os.listdir('.'), oct(stat.S_IMODE(os.stat('.').st_mode)), os.listxattr('.'))"
    _, out = await runs({"mount"}, first, second)
    assert out == "[] 0o700 []\n"


@pytest.mark.asyncio
async def test_the_scratch_tmpfs_is_size_capped() -> None:
    code = "import os\ntry:\n    open('big', 'wb').write(b'x' * (8 << 20))\nexcept OSError as e:\n    print(e.errno)"
    (out,) = await runs({"mount"}, code, max_scratch_bytes=1 << 20)
    assert out == "28\n"  # ENOSPC


# --- uts and net ---------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_uts_namespace_gives_a_private_hostname() -> None:
    (out,) = await runs({"uts"}, CTYPES + "libc.sethostname(b'evil', 4)\nprint(os.uname().nodename)")
    assert out == "evil\n" and os.uname().nodename != "evil"
    (fresh,) = await runs({"uts"}, "import os\nprint(os.uname().nodename)")
    assert fresh == HOSTNAME.decode() + "\n"


@pytest.mark.asyncio
async def test_net_namespace_has_no_route_to_the_hosts_loopback() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    code = (f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n    print('connected')\n"
            "except OSError as e:\n    print('refused', e.errno)")
    try:
        (out,) = await runs({"net"}, code)
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()
    assert out.startswith("refused")


# --- pid -----------------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_pid_namespace_kills_a_descendant_that_cleared_its_parent_death_signal() -> None:
    code = CTYPES + ("if os.fork() == 0:\n    libc.prctl(1, 0, 0, 0, 0)\n    os.setsid()\n    import time\n"
                     "    time.sleep(60)\n    os._exit(0)\nimport time\ntime.sleep(60)")
    async with sandbox({"pid"}, timeout=60) as box:
        await box.start()
        task = asyncio.create_task(box.run(code))
        deadline = time.monotonic() + 10
        (server,) = box.zygote_pids()
        while time.monotonic() < deadline and len(psutil.Process(server).children(recursive=True)) < 2:
            await asyncio.sleep(0.05)
        inside = psutil.Process(server).children(recursive=True)
        assert len(inside) >= 2
        os.kill(server, 9)
        result = await asyncio.wait_for(task, 10)
        _, alive = psutil.wait_procs(inside, timeout=5)
    assert result.status == "crashed" and alive == []
