"""The supervisor's view of its zygotes: start, messages, death, stop, and killing one child.

Contract: everything runs in the caller's event loop and never blocks it (the control sockets are
non-blocking and watched with ``loop.add_reader``; a zygote's death is seen through its pidfd).
``ZygotePool(config, active, scratch, n, tiers=(None,))``: ``n`` zygotes per tier, each tier the
modules its zygotes pre-import (``layout.zygote_tiers``; ``None``: every allowed module);
``get(slot, tier=-1)`` starts (or restarts) and returns the zygote of ``tier`` serving ``slot``
(``slot % n``), raising ``RuntimeError``/``OSError``/``TimeoutError`` when it cannot start;
``size`` is the number of zygotes; ``kill_child(zygote, execution)`` asks the zygote to SIGKILL
that child's process group (retried until sent or the zygote is gone); ``kill_zygote(zygote)``
SIGKILLs the zygote itself (its children die with it: a pid namespace, else their parent-death signal);
``stop_all()`` always completes (graceful EOF, then SIGKILL after ``kill_grace_s``). A message
that is not one the zygote sends is ignored, never raised on.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

from retool.sandbox import wire
from retool.sandbox.config import SandboxConfig
from retool.sandbox.layout import ZYGOTE_ENV, ZYGOTE_PATH, zygote_config


class _Execution:
    def __init__(self, exec_id: int, loop: asyncio.AbstractEventLoop) -> None:
        self.id = exec_id
        self.exited: asyncio.Future[int | None] = loop.create_future()  # wait status; None = zygote died
        self.streams: dict[int, bytearray] = {}
        self.eof: dict[int, asyncio.Event] = {}
        self.output_bytes = 0
        self.over_cap = False


class _Zygote:
    def __init__(self, index: int, loop: asyncio.AbstractEventLoop) -> None:
        self.index = index
        self.ready: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.executions: dict[int, _Execution] = {}
        self.dead = False
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self.pidfd: int | None = None


class ZygotePool:
    """The zygotes of one sandbox (see the module contract)."""

    def __init__(self, config: SandboxConfig, active: frozenset[str], scratch: str, n: int, *,
                 tiers: tuple[tuple[str, ...] | None, ...] = (None,)) -> None:
        self.config, self.active, self.scratch, self.n = config, active, scratch, n
        self.tiers = tiers or (None,)
        self.size = n * len(self.tiers)  # zygote t * n + s: tier t, slot group s
        self.zygotes: list[_Zygote | None] = [None] * self.size
        self.locks = [asyncio.Lock() for _ in range(self.size)]

    def pids(self) -> list[int]:
        """The pid of each live zygote's server (with "pid", the waiting parent's one child)."""
        out = []
        for zygote in self.zygotes:
            if zygote is None or zygote.dead or zygote.proc is None:
                continue
            pid = zygote.proc.pid
            if "pid" in self.active:
                try:
                    with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as fh:
                        pid = int(fh.read().split()[0])
                except (OSError, ValueError, IndexError):
                    continue
            out.append(pid)
        return out

    async def get(self, slot: int, tier: int = -1) -> _Zygote:
        index = tier % len(self.tiers) * self.n + slot % self.n
        zygote = self.zygotes[index]
        ready = zygote.ready if zygote is not None and not zygote.dead else None
        if ready is not None and ready.done() and not ready.cancelled() and ready.exception() is None:
            return zygote  # the common case: running and ready, no lock or timer needed
        async with self.locks[index]:
            zygote = self.zygotes[index]
            if zygote is None or zygote.dead:
                zygote = self._spawn(index)
                self.zygotes[index] = zygote
        await asyncio.wait_for(asyncio.shield(zygote.ready), 60)
        return zygote

    def _spawn(self, index: int) -> _Zygote:
        loop = asyncio.get_running_loop()
        zygote = _Zygote(index, loop)
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            cfg = zygote_config(self.config, self.active, self.scratch, index % self.n, self.n,
                                preimport=self.tiers[index // self.n])
            argv = [self.config.python or sys.executable, "-I", "-S", ZYGOTE_PATH, json.dumps(cfg), str(child.fileno())]
            zygote.proc = subprocess.Popen(argv, env=ZYGOTE_ENV, cwd="/", stdin=subprocess.DEVNULL,
                                           stdout=subprocess.DEVNULL, pass_fds=[child.fileno()])
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        parent.setblocking(False)
        zygote.sock = parent
        try:
            zygote.pidfd = os.pidfd_open(zygote.proc.pid)
        except OSError:
            zygote.proc.kill()
            zygote.proc.wait()
            parent.close()
            raise
        loop.add_reader(parent, self._on_message, zygote)
        loop.add_reader(zygote.pidfd, self._on_dead, zygote)
        return zygote

    def _on_message(self, zygote: _Zygote) -> None:
        assert zygote.sock is not None
        while not zygote.dead:
            try:
                raw = zygote.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                raw = b""
            if not raw:
                self._on_dead(zygote)
                return
            exited = wire.parse_exited(raw)
            if exited is not None:
                execution = zygote.executions.get(exited[0])
                if execution is not None and not execution.exited.done():
                    execution.exited.set_result(exited[2])
                continue
            try:
                msg = json.loads(raw)
                if isinstance(msg, dict) and msg.get("ev") == "ready" and not zygote.ready.done():
                    zygote.ready.set_result(msg)
            except (ValueError, TypeError, RecursionError):
                continue  # not a message of ours: ignored

    def _on_dead(self, zygote: _Zygote) -> None:
        if zygote.dead:
            return
        zygote.dead = True
        loop = asyncio.get_running_loop()
        for fd in (zygote.sock, zygote.pidfd):
            if fd is not None:
                loop.remove_reader(fd)
        if zygote.sock is not None:
            zygote.sock.close()
        if zygote.pidfd is not None:
            os.close(zygote.pidfd)
        if zygote.proc is not None:
            zygote.proc.poll()
        if not zygote.ready.done():
            zygote.ready.set_exception(RuntimeError(f"zygote {zygote.index} died during start-up"))
            zygote.ready.exception()  # mark retrieved: callers see it through wait_for
        for execution in zygote.executions.values():
            if not execution.exited.done():
                execution.exited.set_result(None)

    def kill_child(self, zygote: _Zygote, execution: _Execution) -> None:
        if zygote.dead or zygote.sock is None or execution.exited.done():
            return
        try:
            zygote.sock.send(wire.kill_message(execution.id))
        except BlockingIOError:
            asyncio.get_running_loop().call_later(0.002, self.kill_child, zygote, execution)  # until sent or gone
        except OSError:
            pass

    def kill_zygote(self, zygote: _Zygote) -> None:
        if zygote.proc is not None and zygote.proc.poll() is None:
            try:
                zygote.proc.kill()
            except OSError:
                pass

    async def stop(self, zygote: _Zygote) -> None:
        if zygote.proc is None:
            return
        try:
            if zygote.sock is not None and not zygote.dead:
                asyncio.get_running_loop().remove_reader(zygote.sock)
                zygote.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        deadline = time.monotonic() + self.config.kill_grace_s
        while zygote.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        if zygote.proc.poll() is None:
            self.kill_zygote(zygote)
            await asyncio.to_thread(zygote.proc.wait)
        self._on_dead(zygote)

    async def stop_all(self) -> None:
        for zygote in self.zygotes:
            if zygote is not None:
                try:
                    await asyncio.shield(self.stop(zygote))
                except asyncio.CancelledError:
                    self.kill_zygote(zygote)
                    raise
                except Exception:  # noqa: BLE001 (close() always completes)
                    self.kill_zygote(zygote)
