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
import os
import pwd
import re
import resource
import socket
import sys
import time
from typing import Any

from retool.sandbox import isolation, wire
from retool.sandbox.config import ExecutionResult, SandboxConfig, format_result, parse_size
from retool.sandbox.layout import zygote_tiers
from retool.sandbox.scratch import make_scratch, remove_tree, reset_slot, slot_is_fresh
from retool.sandbox.verdict import judge, open_pipes, watch_streams
from retool.sandbox.zygotes import ZygotePool, _Execution, _Zygote  # noqa: F401 (_Zygote re-exported)


_SEND_RETRIES = 5000  # x 2 ms: how long a request may wait for room in a zygote's queue


class SandboxUnavailableError(RuntimeError):
    """A requested isolation layer is not available on this host (and weaker was not allowed)."""


_ROUTE_SCAN_BYTES = 1 << 16  # sources up to 64 KiB are routed by the modules they name


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
        # A snippet forks from the smallest tier pre-importing every allowed module its source names;
        # tiers are nested, so each but the first is the modules it adds, as one word-bounded pattern.
        self._tiers = zygote_tiers(cfg.allowed_modules, lean=cfg.lean_zygotes)
        self._added = tuple(
            re.compile(rb"\b(?:" + b"|".join(re.escape(m.encode()) for m in sorted(set(upper) - set(lower))) + rb")\b")
            for lower, upper in zip(self._tiers, self._tiers[1:]))
        self._ids = itertools.count(1)
        self._pool: ZygotePool | None = None
        self._slots: asyncio.Queue[int] | None = None
        self._scratch: str | None = None
        self._dirty: set[int] = set()  # slots whose reset did not finish: reset before the next run
        self._jobs: set[asyncio.Task[ExecutionResult]] = set()
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
        return self._pool.pids() if self._pool is not None else []

    def free_slots(self) -> int:
        """Slots free right now (``concurrency`` when idle: a slot is never lost)."""
        return self._slots.qsize() if self._slots is not None else self.config.concurrency

    async def start(self) -> None:
        """Start every zygote now (otherwise each starts on its first call)."""
        if self._closed:
            raise RuntimeError("PythonSandbox.start() called after close()")
        pool = self._init_loop_state()
        await asyncio.gather(*(pool.get(index, tier) for tier in range(len(self._tiers)) for index in range(self._n_zygotes)))

    async def execute_code(self, code: str) -> str:
        return format_result(await self.run(code), self.config)

    async def run(self, code: str) -> ExecutionResult:
        """One execution; see the contract. Cancel-safe: a cancelled call kills the child's
        process group (and, if its zygote does not answer, the zygote), waits for it to be gone,
        resets the slot and returns it before the ``CancelledError`` propagates."""
        if self._closed:
            raise RuntimeError("PythonSandbox.run() called after close()")
        data = code.encode("utf-8", "replace") if isinstance(code, str) else b""
        if not isinstance(code, str) or len(data) > self.config.max_code_bytes:
            detail = f"code must be a str of at most {self.config.max_code_bytes} bytes"
            return ExecutionResult(status="error", stdout="", stderr="", duration_s=0.0, detail=detail)
        self._init_loop_state()
        assert self._slots is not None
        slot = await self._slots.get()  # waiting for a slot does not count against the timeout
        loop = asyncio.get_running_loop()
        abort: asyncio.Future[None] = loop.create_future()
        job = loop.create_task(self._serve(slot, data, abort))  # owns the slot until it is back
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)
        try:
            return await asyncio.shield(job)
        except asyncio.CancelledError:
            if not abort.done():
                abort.set_result(None)
            while not job.done():  # the child is killed and the slot returned before we go
                try:
                    await asyncio.wait((job,))
                except asyncio.CancelledError:
                    continue
            if not job.cancelled() and job.exception() is not None:
                pass  # retrieved: the cancel is what the caller sees
            raise

    async def _serve(self, slot: int, data: bytes, abort: asyncio.Future[None]) -> ExecutionResult:
        """Run in a slot this task owns; the slot goes back in a finally nothing skips."""
        assert self._slots is not None
        try:
            if slot in self._dirty:
                await self._reset(slot)
            return await self._execute(slot, data, abort)
        except OSError as exc:  # our side ran out of something (fds, memory): a result, not a raise
            return ExecutionResult(status="crashed", stdout="", stderr="", duration_s=0.0,
                                   detail=f"the supervisor could not run the code: {exc}")
        finally:
            try:
                await self._reset(slot)
            finally:
                self._slots.put_nowait(slot)

    async def _reset(self, slot: int) -> None:
        """Wipe and recreate the slot's host dir when anything is left on it; a reset that does
        not finish (cancelled, failed) marks the slot for a reset before its next run."""
        self._dirty.add(slot)
        if self._scratch is None:
            return
        owner = self.config.uid_base + slot if "uid" in self._active else os.geteuid()
        if slot_is_fresh(self._scratch, slot, owner) or await asyncio.to_thread(reset_slot, self._scratch, slot, owner):
            self._dirty.discard(slot)

    async def close(self) -> None:
        """Stop every zygote (children die with them) and remove the scratch dirs. Always completes."""
        self._closed = True
        try:
            if self._pool is not None:
                await self._pool.stop_all()  # children die with their zygotes: calls in flight end
            if self._jobs:
                await asyncio.wait(tuple(self._jobs), timeout=self.config.kill_grace_s)
        finally:
            if self._scratch is not None:
                scratch, self._scratch = self._scratch, None
                remove_tree(scratch)

    async def __aenter__(self) -> PythonSandbox:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _init_loop_state(self) -> ZygotePool:
        if self._pool is not None:
            return self._pool
        self._slots = asyncio.Queue()
        for slot in range(self.config.concurrency):
            self._slots.put_nowait(slot)
        self._scratch = make_scratch(self.config, chown="uid" in self._active)
        self._pool = ZygotePool(self.config, self._active, self._scratch, self._n_zygotes, tiers=self._tiers)
        # Each execution in flight holds three pipe ends here: make room (soft limit only).
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = 3 * self.config.concurrency + 256
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard))
        return self._pool

    # -- one execution ------------------------------------------------------------------------
    def _tier_for(self, data: bytes) -> int:
        """The smallest tier pre-importing each allowed module named (as a word) in ``data``: at
        most one search per tier, each stopping at its first match; a source over
        ``_ROUTE_SCAN_BYTES`` forks from the top tier unread (the scan stays under a few ms)."""
        if len(data) > _ROUTE_SCAN_BYTES:
            return len(self._added)
        for tier in range(len(self._added), 0, -1):
            if self._added[tier - 1].search(data):
                return tier
        return 0

    async def _execute(self, slot: int, data: bytes, abort: asyncio.Future[None]) -> ExecutionResult:
        pool = self._init_loop_state()
        try:
            zygote = await pool.get(slot, self._tier_for(data))
        except (RuntimeError, OSError, asyncio.TimeoutError) as exc:
            return ExecutionResult(status="crashed", stdout="", stderr="", duration_s=0.0,
                                   detail=f"the sandbox could not start: {exc}")
        start = time.monotonic()
        loop = asyncio.get_running_loop()
        execution = _Execution(next(self._ids), loop)
        child_fds, read_fds = open_pipes(data)
        zygote.executions[execution.id] = execution
        try:
            msg = wire.run_message(execution.id, slot)
            for _ in range(_SEND_RETRIES):  # a zygote busy forking may have a full queue
                if zygote.dead or zygote.sock is None or abort.done():
                    raise ConnectionError("zygote gone or call cancelled")
                try:
                    socket.send_fds(zygote.sock, [msg], child_fds)
                    break
                except BlockingIOError:
                    await asyncio.wait((abort,), timeout=0.002)
            else:
                raise BlockingIOError("zygote request queue stayed full")
        except OSError:
            if not execution.exited.done():
                execution.exited.set_result(None)
        finally:
            for fd in child_fds:
                os.close(fd)
        try:
            timed_out = await watch_streams(loop, execution, read_fds, self.config,
                                            lambda: pool.kill_child(zygote, execution), start,
                                            abort=abort, kill_hard=lambda: pool.kill_zygote(zygote))
        finally:
            zygote.executions.pop(execution.id, None)
        return judge(execution, timed_out, self.config, time.monotonic() - start)


__all__ = ["PythonSandbox", "SandboxUnavailableError"]
