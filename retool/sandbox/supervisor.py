"""The trusted asyncio supervisor behind ``retool.sandbox.PythonSandbox`` (see its threat model).

Contract: everything here runs in the caller's event loop and never blocks it (pipes and the
zygote control sockets are non-blocking and watched with ``loop.add_reader``; a zygote's death
is seen through its pidfd). Slots bound concurrency: slot ``s`` is served by zygote
``s % zygotes``, runs as uid ``uid_base + s`` and owns scratch dir ``slot-s``. The verdict comes
from the supervisor's own view: its timer, its output count, the wait status reported by the
zygote and, only for telling ok/error/memory/forbidden apart after a clean exit 0, the child's
completion record (a claim, see the threat model).
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import json
import os
import pwd
import resource
import shutil
import socket
import subprocess
import sys
import time
from typing import Any

from retool.sandbox import isolation
from retool.sandbox.config import ExecutionResult, SandboxConfig, format_result, parse_size
from retool.sandbox.layout import ZYGOTE_ENV, ZYGOTE_PATH, clean_slot, make_scratch, slot_is_dirty, zygote_config
from retool.sandbox.verdict import judge, open_pipes, watch_streams


_SEND_RETRIES = 5000  # x 2 ms: how long a request may wait for room in a zygote's queue


class SandboxUnavailableError(RuntimeError):
    """A requested isolation layer is not available on this host (and weaker was not allowed)."""


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


class PythonSandbox:
    """Fork-server sandbox; see ``retool.sandbox`` for the contract and threat model."""

    def __init__(self, config: SandboxConfig | None = None, /, **overrides: Any) -> None:
        if "timeout" in overrides:
            overrides["timeout_s"] = float(overrides.pop("timeout"))
        if "memory_limit" in overrides:
            overrides["memory_limit_bytes"] = parse_size(overrides.pop("memory_limit"))
        if "allowed_modules" in overrides and overrides["allowed_modules"] is not None:
            overrides["allowed_modules"] = tuple(overrides["allowed_modules"])
        base = config or SandboxConfig()
        self.config = SandboxConfig(**{**{f: getattr(base, f) for f in base.__dataclass_fields__}, **overrides})
        cfg = self.config
        for name in cfg.allowed_modules or ():
            if importlib.util.find_spec(name) is None:
                raise ValueError(f"allowed module {name!r} is not installed for {sys.executable}")
        reasons = isolation.probe_layers()
        missing = {name: reasons[name] for name in sorted(cfg.layers) if reasons[name]}
        if missing and not cfg.allow_weaker:
            raise SandboxUnavailableError(
                "isolation layers unavailable: " + "; ".join(f"{k}: {v}" for k, v in missing.items())
                + " (pass allow_weaker=True to run without them, or layers= to choose)"
            )
        self._reasons = reasons
        self._active = frozenset(cfg.layers) - set(missing)
        if "uid" in self._active:
            for uid in range(cfg.uid_base, cfg.uid_base + cfg.concurrency):
                try:
                    taken = pwd.getpwuid(uid).pw_name
                except KeyError:
                    continue
                raise ValueError(f"uid {uid} (uid_base {cfg.uid_base} + slot) belongs to account {taken!r}")
        self._n_zygotes = cfg.zygotes or max(1, min(cfg.concurrency, os.cpu_count() or 1))
        self._ids = itertools.count(1)
        self._zygotes: list[_Zygote | None] = [None] * self._n_zygotes
        self._locks: list[asyncio.Lock] | None = None
        self._slots: asyncio.Queue[int] | None = None
        self._scratch: str | None = None
        self._closed = False

    # -- public -------------------------------------------------------------------------------
    def layers(self) -> dict[str, str]:
        """Each layer -> "active", "disabled by config" or "unavailable: <reason>"."""
        out = {}
        for name in isolation.LAYERS:
            if name in self._active:
                out[name] = "active"
            elif name not in self.config.layers:
                out[name] = "disabled by config"
            else:
                out[name] = f"unavailable: {self._reasons[name]}"
        guard = self.config.allowed_modules is not None
        out["import_guard"] = "active (messages only, not a boundary)" if guard else "disabled by config"
        return out

    def zygote_pids(self) -> list[int]:
        return [z.proc.pid for z in self._zygotes if z is not None and not z.dead and z.proc is not None]

    async def start(self) -> None:
        """Start every zygote now (otherwise each starts on its first call)."""
        if self._closed:
            raise RuntimeError("PythonSandbox.start() called after close()")
        self._init_loop_state()
        await asyncio.gather(*(self._zygote_for(index) for index in range(self._n_zygotes)))

    async def execute_code(self, code: str) -> str:
        return format_result(await self.run(code), self.config)

    async def run(self, code: str) -> ExecutionResult:
        if self._closed:
            raise RuntimeError("PythonSandbox.run() called after close()")
        data = code.encode("utf-8", "replace") if isinstance(code, str) else b""
        if not isinstance(code, str) or len(data) > self.config.max_code_bytes:
            detail = f"code must be a str of at most {self.config.max_code_bytes} bytes"
            return ExecutionResult(status="error", stdout="", stderr="", duration_s=0.0, detail=detail)
        self._init_loop_state()
        assert self._slots is not None
        slot = await self._slots.get()  # waiting for a slot does not count against the timeout
        try:
            return await self._execute(slot, data)
        except OSError as exc:  # our side ran out of something (fds, memory): a result, not a raise
            return ExecutionResult(status="crashed", stdout="", stderr="", duration_s=0.0,
                                   detail=f"the supervisor could not run the code: {exc}")
        finally:
            if self._scratch is not None and slot_is_dirty(self._scratch, slot):
                await asyncio.to_thread(clean_slot, self._scratch, slot)  # may be many files
            self._slots.put_nowait(slot)

    async def close(self) -> None:
        """Stop every zygote (children die with them) and remove the scratch dirs."""
        self._closed = True
        for zygote in self._zygotes:
            if zygote is not None and zygote.proc is not None:
                await self._stop_zygote(zygote)
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    async def __aenter__(self) -> PythonSandbox:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- zygotes ------------------------------------------------------------------------------
    def _init_loop_state(self) -> None:
        if self._slots is not None:
            return
        self._slots = asyncio.Queue()
        for slot in range(self.config.concurrency):
            self._slots.put_nowait(slot)
        self._locks = [asyncio.Lock() for _ in range(self._n_zygotes)]
        self._scratch = make_scratch(self.config, chown="uid" in self._active)
        # Each execution in flight holds three pipe ends here: make room (soft limit only).
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = 3 * self.config.concurrency + 256
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard))

    async def _zygote_for(self, slot: int) -> _Zygote:
        index = slot % self._n_zygotes
        assert self._locks is not None
        async with self._locks[index]:
            zygote = self._zygotes[index]
            if zygote is None or zygote.dead:
                zygote = self._spawn(index)
                self._zygotes[index] = zygote
        await asyncio.wait_for(asyncio.shield(zygote.ready), 60)
        return zygote

    def _spawn(self, index: int) -> _Zygote:
        loop = asyncio.get_running_loop()
        zygote = _Zygote(index, loop)
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            argv = [self.config.python or sys.executable, "-I", "-S", ZYGOTE_PATH,
                    json.dumps(zygote_config(self.config, self._active, self._scratch, index, self._n_zygotes)), str(child.fileno())]
            zygote.proc = subprocess.Popen(argv, env=ZYGOTE_ENV, cwd="/", stdin=subprocess.DEVNULL,
                                           stdout=subprocess.DEVNULL, pass_fds=[child.fileno()])
        finally:
            child.close()
        parent.setblocking(False)
        zygote.sock = parent
        zygote.pidfd = os.pidfd_open(zygote.proc.pid)
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
            msg = json.loads(raw)
            execution = zygote.executions.get(msg.get("id", -1))
            if msg["ev"] == "ready" and not zygote.ready.done():
                zygote.ready.set_result(msg)
            elif msg["ev"] == "exited" and execution is not None and not execution.exited.done():
                execution.exited.set_result(int(msg["status"]))

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

    async def _stop_zygote(self, zygote: _Zygote) -> None:
        assert zygote.proc is not None
        if zygote.sock is not None and not zygote.dead:
            asyncio.get_running_loop().remove_reader(zygote.sock)
            zygote.sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + self.config.kill_grace_s
        while zygote.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        if zygote.proc.poll() is None:
            zygote.proc.kill()
            await asyncio.to_thread(zygote.proc.wait)
        self._on_dead(zygote)

    # -- one execution ------------------------------------------------------------------------
    async def _execute(self, slot: int, data: bytes) -> ExecutionResult:
        try:
            zygote = await self._zygote_for(slot)
        except (RuntimeError, OSError, asyncio.TimeoutError) as exc:
            return ExecutionResult(status="crashed", stdout="", stderr="", duration_s=0.0,
                                   detail=f"the sandbox could not start: {exc}")
        start = time.monotonic()
        loop = asyncio.get_running_loop()
        execution = _Execution(next(self._ids), loop)
        child_fds, read_fds = open_pipes(data)
        zygote.executions[execution.id] = execution
        try:
            msg = json.dumps({"op": "run", "id": execution.id, "slot": slot}).encode()
            for _ in range(_SEND_RETRIES):  # a zygote busy forking may have a full queue
                if zygote.dead or zygote.sock is None:
                    raise ConnectionError("zygote gone")
                try:
                    socket.send_fds(zygote.sock, [msg], child_fds)
                    break
                except BlockingIOError:
                    await asyncio.sleep(0.002)
            else:
                raise BlockingIOError("zygote request queue stayed full")
        except OSError:
            if not execution.exited.done():
                execution.exited.set_result(None)
        finally:
            for fd in child_fds:
                os.close(fd)
        kill = self._killer(zygote, execution)
        timed_out = await watch_streams(loop, execution, read_fds, self.config, kill, start)
        zygote.executions.pop(execution.id, None)
        return judge(execution, timed_out, self.config, time.monotonic() - start)

    def _killer(self, zygote: _Zygote, execution: _Execution):  # noqa: ANN202
        def kill() -> None:
            if zygote.dead or zygote.sock is None:
                return
            try:
                zygote.sock.send(json.dumps({"op": "kill", "id": execution.id}).encode())
            except BlockingIOError:
                asyncio.get_running_loop().call_later(0.002, kill)  # retry until sent or gone
            except OSError:
                pass

        return kill


__all__ = ["PythonSandbox", "SandboxUnavailableError"]
