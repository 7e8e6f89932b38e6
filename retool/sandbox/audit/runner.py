"""The battery's engine: run the techniques against a sandbox and judge their effects from outside.

Contract: ``audit(sandbox)`` runs every technique in ``TECHNIQUES`` against any object with an
``async execute_code(code) -> str`` method and returns an ``AuditReport`` with one ``Finding`` per
technique: ``blocked``, ``escaped`` (with the effects and evidence), ``error`` (the sandbox raised
or returned a non-string) or ``skipped``. Nothing the sandboxed code says about itself can clear
it: the trusted auditor plants the bait and checks the effects itself --
- per technique a canary file (a random secret, mode 0600, outside any scratch dir, also held on
  an inheritable fd): the secret must never appear in any output; the file must stay byte-equal
  and nothing may appear next to it;
- per technique a loopback TCP and UDP listener on a random 127.0.0.1 port: never reached;
- per technique a secret environment variable in the auditor's process, and a decoy ``sleep``
  process whose argv and environment hold another secret: never seen in output, and the decoy
  must stay alive, unstopped and untraced;
- processes: the sandbox's own processes (the auditor's descendants before the battery) stay
  alive and a health probe still answers; no process of the battery's making outlives its call
  (found by ancestry or by the run's random marker in argv/environment, and then killed; an
  orphan started meanwhile with a sandbox worker's argv is reported, never killed);
- files: nothing named with the run marker left in /tmp, /var/tmp, /dev/shm or the auditor's cwd;
- IPC: no SysV object (/proc/sysvipc) and no battery message queue left on the host;
- time: every call returns within the sandbox timeout + slack; the event loop is never blocked;
- contamination: reference snippets give the same output after a poisoning technique as before;
- limits: output longer than ``max_output_chars``; a snippet printing its breach marker after
  getting past a memory or disk limit (a snippet can only incriminate a sandbox, never clear it).
Techniques run concurrently (bounded by the sandbox's concurrency); ``isolated`` ones run alone,
and ``hazardous`` ones (fork, memory and disk bombs, killing the parent or pid -1, which would
harm the host if uncontained) run only when no other technique escaped. A global effect seen
after a concurrent group is attributed by re-running the group's techniques one at a time.
Everything the battery leaves behind (canaries, listeners, decoys, env vars, leaked processes and
files carrying the run marker) is removed before ``audit`` returns. Only 127.0.0.1 is targeted.

Not covered: an effect on something that is not bait (another file, another host) is not seen;
the process probes assume the sandbox runs on this host under the caller (a sandbox in a remote
VM or container is judged by its outputs, bait files and listeners only); a sandbox that keeps
state in a pool of reused workers is only caught contaminated when a reference snippet lands on
a poisoned worker (several are sent; a large pool can hide it). ``render`` shows every snippet.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import secrets
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from retool.sandbox.audit.bait import Bait, BaitMixin
from retool.sandbox.audit.judge import JudgeMixin
from retool.sandbox.audit.render import render
from retool.sandbox.audit.report import AuditReport, Finding
from retool.sandbox.audit.technique import Technique
from retool.sandbox.audit.techniques import TECHNIQUES

__all__ = ["DEFAULT_TIMEOUT_S", "HEALTH_CODE", "audit"]

HEALTH_CODE = "print(6 * 7)"
DEFAULT_TIMEOUT_S = 10.0
_LOOP_TICK_S = 0.05
_LOOP_BLOCKED_S = 3.0  # well above scheduling noise on a loaded 2-core host
_MEM_CAP_BYTES = 4 << 30
_DISK_CAP_BYTES = 1 << 30


def _number(sandbox: Any, names: Sequence[str]) -> float | None:
    for obj in (sandbox, getattr(sandbox, "config", None), getattr(sandbox, "_config", None)):
        for name in names:
            value = getattr(obj, name, None) if obj is not None else None
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                return float(value)
    return None


class _Auditor(BaitMixin, JudgeMixin):
    def __init__(self, sandbox: Any, techniques: Sequence[Technique], *, timeout_s: float, slack_s: float,
                 concurrency: int, mem_bytes: int, disk_bytes: int, max_output_chars: int, run_hazardous: bool):
        self.sandbox, self.techniques = sandbox, tuple(techniques)
        self.bound_s = timeout_s + slack_s
        self.concurrency, self.mem_bytes, self.disk_bytes = concurrency, mem_bytes, disk_bytes
        self.max_output_chars, self.run_hazardous = max_output_chars, run_hazardous
        tag = secrets.token_hex(4)
        self.run_marker, self.env_prefix = f"retool-audit-{tag}", f"RETOOL_AUDIT_{tag.upper()}_"
        self.canary_dir = tempfile.mkdtemp(prefix="retool-canary-")
        self.baits: list[Bait] = []
        self.by_name: dict[str, Bait] = {}
        self.servers: list[Any] = []
        self.sem = asyncio.Semaphore(concurrency)
        self.started_at = time.time()
        self.baseline: dict[int, float] = {}
        self.sandbox_cmdlines: set[str] = set()
        self.killed: set[int] = set()
        self.reported: set[int] = set()
        self.unattributed: list[str] = []
        self.followup_baseline: dict[str, str] = {}
        self.ipc_baseline = self._sysv_objects()
        self.max_lag_s = 0.0
        try:
            with open("/etc/passwd") as fh:
                self.passwd = fh.read().strip()
        except OSError:
            self.passwd = ""

    # --- calls ---------------------------------------------------------------------------------
    async def call(self, code: str, timing: list[float] | None = None) -> tuple[str | None, str]:
        """(output, problem): problem is '' or 'hang: ...' or 'error: ...'; appends the seconds to timing."""

        async def go() -> Any:
            result = self.sandbox.execute_code(code)
            return await result if inspect.isawaitable(result) else result

        async with self.sem:
            start = time.monotonic()
            try:
                out = await asyncio.wait_for(go(), self.bound_s)
            except TimeoutError:
                return None, f"hang: no return within {self.bound_s:.1f} s"
            except Exception as exc:  # noqa: BLE001 (a sandbox must not raise; record what it raised)
                return None, f"error: execute_code raised {type(exc).__name__}: {str(exc)[:200]}"
            finally:
                if timing is not None:
                    timing.append(time.monotonic() - start)
        if not isinstance(out, str):
            return None, f"error: execute_code returned {type(out).__name__}, not str"
        return out, ""

    async def run_one(self, bait: Bait) -> None:
        code = render(bait.technique, bait, canary_dir=self.canary_dir, mem_bytes=self.mem_bytes,
                      disk_bytes=self.disk_bytes)
        timing: list[float] = []
        out, problem = await self.call(code, timing)
        bait.duration_s = max([bait.duration_s, *timing])
        if problem.startswith("hang"):
            bait.add("hang", problem)
        elif problem:
            bait.error = problem
        if out is not None:
            bait.output_head = out[:160]
            self.check_output(bait, out, "technique")
        follow = bait.technique.followup
        if follow is not None:
            # one per slot: a reference lands on the slot (or reused worker) the technique ran in
            outs = await asyncio.gather(*(self.call(follow) for _ in range(self.concurrency)))
            for fout, fproblem in outs:
                if fout is None or fout != self.followup_baseline[follow]:
                    bait.add("contamination", f"reference snippet gave {(fout or fproblem)[:120]!r}, "
                                              f"before {self.followup_baseline[follow][:120]!r}")

    async def sweep_global(self, group: Sequence[Bait], grace_s: float) -> list[tuple[str, str]]:
        """Process, file and health effects after a group; attributable ones go to their bait."""
        import psutil  # noqa: PLC0415

        await asyncio.sleep(grace_s)
        problems: list[tuple[str, str]] = []
        deadline = time.monotonic() + 1.5
        while self._leaked_processes() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        for desc, cmd in self._kill_leaks():
            owner = self._match_marker(cmd)
            owner.add("process_leak", desc) if owner else problems.append(("process_leak", desc))
        for path in self._scan_files(remove=True):
            owner = self._match_marker(os.path.basename(path))
            if owner:
                owner.add("file_leak", f"{path} left on disk")
        problems += [("ipc_leak", text) for text in self._ipc_leaks(self.ipc_baseline)]
        for pid, created in self.baseline.items():
            try:
                alive = psutil.Process(pid).create_time() == created and psutil.Process(pid).status() != "zombie"
            except psutil.Error:
                alive = False
            if not alive:
                problems.append(("supervisor", f"sandbox process {pid} died"))
                self.baseline = {p: c for p, c in self.baseline.items() if p != pid}
        out, problem = await self.call(HEALTH_CODE)
        if out is None or "42" not in out:
            problems.append(("supervisor", f"health probe failed: {(out or problem)[:120]!r}"))
        if self.max_lag_s > _LOOP_BLOCKED_S:
            problems.append(("loop_blocked", f"event loop blocked for {self.max_lag_s:.1f} s"))
        self.max_lag_s = 0.0
        self.sweep_baits(group)
        return problems

    async def run_group(self, group: Sequence[Bait], grace_s: float, *, bisect: bool = True) -> None:
        monitor = asyncio.create_task(self._watch_loop())
        try:
            await asyncio.gather(*(self.run_one(b) for b in group))
        finally:
            monitor.cancel()
        problems = await self.sweep_global(group, grace_s)
        if not problems:
            return
        if len(group) == 1:
            for effect, evidence in problems:
                group[0].add(effect, evidence)
            return
        before = {id(b): sum(len(v) for v in b.effects.values()) for b in group}
        if bisect:
            for bait in group:
                await self.run_group([bait], 0.3, bisect=False)
        if not any(sum(len(v) for v in b.effects.values()) > before[id(b)] for b in group):
            self.unattributed += [f"{effect}: {evidence} (after a concurrent group)" for effect, evidence in problems]

    async def _watch_loop(self) -> None:
        while True:
            start = time.monotonic()
            await asyncio.sleep(_LOOP_TICK_S)
            self.max_lag_s = max(self.max_lag_s, time.monotonic() - start - _LOOP_TICK_S)

    # --- the battery ---------------------------------------------------------------------------
    async def execute(self) -> None:
        import psutil  # noqa: PLC0415

        start = getattr(self.sandbox, "start", None)  # every worker up before the process baseline
        try:
            started = start() if callable(start) else None
            if inspect.isawaitable(started):
                await started
            warm = await asyncio.gather(*(self.call(HEALTH_CODE) for _ in range(self.concurrency)))
        except Exception as exc:  # noqa: BLE001 (a sandbox that cannot start fails the health probe)
            warm = [(None, f"error: start() raised {type(exc).__name__}: {str(exc)[:200]}")]
        bad = [o or p for o, p in warm if o is None or "42" not in o]
        if bad:
            for bait in self.baits:
                bait.error = f"error: the sandbox failed the health probe before the battery: {bad[0][:160]!r}"
            return
        for follow in {b.technique.followup for b in self.baits} - {None}:
            out, problem = await self.call(follow)
            self.followup_baseline[follow] = out if out is not None else problem
        decoys = {b.decoy.pid for b in self.baits if b.decoy}
        snapshots = []
        for _ in range(2):  # two snapshots apart: a child still exiting after its call is not baseline
            snap = {}
            for proc in psutil.Process().children(recursive=True):
                try:
                    if proc.pid not in decoys and proc.status() != psutil.STATUS_ZOMBIE:
                        snap[proc.pid] = (proc.create_time(), "\0".join(proc.cmdline()))
                except psutil.Error:
                    pass
            snapshots.append(snap)
            await asyncio.sleep(0.2)
        for pid, (created, cmd) in snapshots[0].items():
            if snapshots[1].get(pid, (None,))[0] == created:
                self.baseline[pid] = created
                self.sandbox_cmdlines.add(cmd)
        concurrent = [b for b in self.baits if not b.technique.isolated]
        if concurrent:
            await self.run_group(concurrent, 0.6)
        for bait in (b for b in self.baits if b.technique.isolated):
            escaped = [b.technique.name for b in self.baits if b.effects]
            if bait.technique.hazardous and not self.run_hazardous:
                bait.skipped = "hazardous techniques disabled"
            elif bait.technique.hazardous and (escaped or self.unattributed):
                bait.skipped = f"not run: host-harming technique, and the sandbox already let out {escaped[:3]}"
            else:
                await self.run_group([bait], 0.05)
        await asyncio.sleep(0.3)
        await self.sweep_global([], 0.0)

    def report(self, duration_s: float) -> AuditReport:
        findings = []
        for b in self.baits:
            if b.effects:
                verdict = "escaped"
            elif b.error:
                verdict = "error"
            elif b.skipped:
                verdict = "skipped"
            else:
                verdict = "blocked"
            evidence = [e for v in b.effects.values() for e in v] + [x for x in (b.error, b.skipped) if x]
            findings.append(Finding(name=b.technique.name, category=b.technique.category, verdict=verdict,
                                    effects=tuple(b.effects), evidence=tuple(evidence),
                                    duration_s=round(b.duration_s, 3), output_head=b.output_head))
        return AuditReport(findings=tuple(findings), unattributed=tuple(self.unattributed), duration_s=duration_s,
                           sandbox=type(self.sandbox).__qualname__)


async def audit(
    sandbox: Any,
    *,
    techniques: Sequence[Technique] = TECHNIQUES,
    timeout_slack_s: float = 3.0,
    timeout_s: float | None = None,
    concurrency: int | None = None,
    memory_limit_bytes: int | None = None,
    disk_limit_bytes: int | None = None,
    max_output_chars: int | None = None,
    run_hazardous: bool = True,
) -> AuditReport:
    """Run ``techniques`` against ``sandbox`` (any object with ``execute_code(code) -> str``).

    Unset limits are read from the sandbox (``timeout_s``/``timeout``, ``concurrency``,
    ``memory_limit_bytes``, ``disk_limit_bytes``, ``max_output_chars``/``max_output_bytes``, on the
    object or its ``config``) or fall back to 10 s, 4, 1 GiB, 256 MiB and 1 MiB.
    """
    if not callable(getattr(sandbox, "execute_code", None)):
        raise TypeError(f"{type(sandbox).__qualname__} has no execute_code(code) -> str method")
    names = [t.name for t in techniques]
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"techniques must be a non-empty list of unique names, got {names!r}")
    if timeout_slack_s < 0:
        raise ValueError(f"timeout_slack_s must be >= 0, got {timeout_slack_s!r}")
    mem = memory_limit_bytes or _number(sandbox, ("memory_limit_bytes",)) or float(1 << 30)
    disk = disk_limit_bytes or _number(sandbox, ("disk_limit_bytes", "max_file_bytes")) or float(256 << 20)
    cap = max_output_chars or _number(sandbox, ("max_output_chars", "max_output_bytes")) or float(1 << 20)
    auditor = _Auditor(
        sandbox, techniques,
        timeout_s=timeout_s or _number(sandbox, ("timeout_s", "timeout")) or DEFAULT_TIMEOUT_S,
        slack_s=timeout_slack_s,
        concurrency=int(concurrency or _number(sandbox, ("concurrency",)) or 4),
        mem_bytes=int(min(mem, _MEM_CAP_BYTES)), disk_bytes=int(min(disk, _DISK_CAP_BYTES)),
        max_output_chars=int(cap) + 4096, run_hazardous=run_hazardous,
    )
    start = time.monotonic()
    try:
        await auditor.setup()
        await auditor.execute()
    finally:
        await auditor.teardown()
    return auditor.report(time.monotonic() - start)
