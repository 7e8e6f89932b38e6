"""Judging what a technique did, from outside: output scans, bait sweeps, leaked processes, files.

Contract: ``JudgeMixin`` is a part of ``retool.sandbox.audit``'s auditor; it reads the auditor's state
(``baits``, ``max_output_chars``, ``passwd``, ``canary_dir``, ``run_marker``, ``env_prefix``,
``baseline``, ``sandbox_cmdlines``, ``killed``, ``reported``, ``started_at``, ``unattributed``) and
adds effects to baits. Nothing a snippet says about itself clears it.
- ``check_output(bait, out, where)``: output over the cap (``output_flood``; then only both ends
  are scanned); any bait's canary, environment or decoy secret in it (``canary_read``,
  ``env_leak``, ``proc_leak``); the bait's breach marker (``limit_breach``, or ``channel`` for a technique aiming at one); the host's
  /etc/passwd, first and last line (``host_file``).
- ``sweep_baits(group)``: canaries changed or gone, files appearing in the canary dir
  (``canary_write``), listener hits (``network``, their data scanned as output), decoys dead,
  stopped or traced (``signal``); each reported once, to the technique whose marker the evidence
  carries, else to the lone technique of a one-technique group, else to the bait's own technique
  (a stray file with neither goes to ``unattributed``).
- ``_sysv_objects()`` / ``_ipc_leaks(baseline)``: SysV objects and the battery's POSIX message
  queue on the host after a group (``ipc_leak``; removed as far as the auditor may).
- ``_leaked_processes()``: new live processes of the battery's making; ``_kill_leaks()`` kills the
  provably ours and reports each once; ``_scan_files(remove=)``: files named with the run marker
  under /tmp, /var/tmp, /dev/shm and the cwd (bounded walk).
A process that exits while being inspected is skipped, never raised on.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

from retool.sandbox.audit.bait import Bait

__all__ = ["JudgeMixin"]

_WATCHED_DIRS: tuple[tuple[str, int], ...] = (("/tmp", 3), ("/var/tmp", 2), ("/dev/shm", 2))
_HEX_RUN = re.compile(r"[0-9a-f]{32,}")


class JudgeMixin:
    """Effects seen from outside; a part of ``retool.sandbox.audit``'s auditor (see the contract)."""

    def check_output(self, bait: Bait, out: str, where: str) -> None:
        if len(out) > self.max_output_chars:
            bait.add("output_flood", f"{where}: {len(out)} chars > cap {self.max_output_chars}")
            # already an escape: scan only both ends, so a flood cannot stall the auditor
            out = out[: 2 * self.max_output_chars] + "\n" + out[-2 * self.max_output_chars:]
        # every secret is 32 lowercase hex digits: one linear scan finds them all
        seen = {run[i:i + 32] for run in _HEX_RUN.findall(out) for i in range(len(run) - 31)}
        for effect, what, secret_of in (
            ("canary_read", "canary secret", lambda b: b.canary_secret),
            ("env_leak", "environment secret", lambda b: b.env_secret),
            ("proc_leak", "decoy argv/env secret", lambda b: b.decoy_secret),
        ):
            whose = [b.technique.name for b in self.baits if secret_of(b) in seen]
            if whose:
                more = f" (+{len(whose) - 2} more)" if len(whose) > 2 else ""
                bait.add(effect, f"{where}: {what} of {', '.join(whose[:2])}{more} in output")
        if f"{bait.marker}-BREACH" in out:
            effect = "channel" if "channel" in bait.technique.aims else "limit_breach"
            bait.add(effect, f"{where}: breach marker printed")
        lines = self.passwd.splitlines()
        if len(lines) >= 2 and lines[0] in out and lines[-1] in out:
            bait.add("host_file", f"{where}: the host's /etc/passwd (first and last line) in output")

    # --- effects seen from outside --------------------------------------------------------------
    def _owner(self, bait: Bait, data: bytes, group: Sequence[Bait]) -> Bait:
        for other in self.baits:
            if other.marker.encode() in data:
                return other
        return group[0] if len(group) == 1 and bait not in group else bait

    def sweep_baits(self, group: Sequence[Bait]) -> None:
        for bait in self.baits:
            name = bait.technique.name
            if not bait.canary_reported:
                try:
                    with open(bait.canary_path, "rb") as fh:
                        now = fh.read()
                except OSError as exc:
                    now = None
                    bait.canary_reported = True
                    self._owner(bait, b"", group).add("canary_write", f"canary of {name} gone: {exc}")
                if now is not None and now != bait.canary_bytes:
                    bait.canary_reported = True
                    self._owner(bait, now, group).add("canary_write", f"canary of {name} now {now[:80]!r}")
            for data in bait.hits[bait.hits_reported:]:
                self._owner(bait, data, group).add("network", f"listener of {name} got {data[:60]!r}")
                self.check_output(self._owner(bait, data, group), data.decode(errors="replace"), "listener")
            bait.hits_reported = len(bait.hits)
            if bait.decoy is not None and not bait.decoy_reported:
                state = self._decoy_state(bait.decoy.pid, bait.decoy.poll())
                if state:
                    bait.decoy_reported = True
                    self._owner(bait, b"", group).add("signal", f"decoy of {name} (pid {bait.decoy.pid}) {state}")
        expected = {os.path.basename(b.canary_path) for b in self.baits}
        for entry in sorted(set(os.listdir(self.canary_dir)) - expected):
            owner = self._match_marker(entry) or (group[0] if len(group) == 1 else None)
            text = f"file {entry!r} appeared in the canary dir"
            owner.add("canary_write", text) if owner else self.unattributed.append(text)
            os.unlink(os.path.join(self.canary_dir, entry))

    @staticmethod
    def _decoy_state(pid: int, returncode: int | None) -> str:
        if returncode is not None:
            return f"died (returncode {returncode})"
        try:
            with open(f"/proc/{pid}/status") as fh:
                status = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            return ""
        if status.get("TracerPid", "0").strip() != "0":
            return "is being traced"
        state = status.get("State", "").strip()
        return f"state {state}" if state[:1] in ("T", "t") else ""

    def _match_marker(self, text: str) -> Bait | None:
        for bait in self.baits:
            if bait.marker in text:
                return bait
        return None

    @staticmethod
    def _sysv_objects() -> dict[tuple[str, int], str]:
        """The host's SysV IPC objects: (kind, id) -> one line of /proc/sysvipc/<kind>."""
        found: dict[tuple[str, int], str] = {}
        for kind in ("shm", "msg", "sem"):
            try:
                with open(f"/proc/sysvipc/{kind}", encoding="ascii", errors="replace") as fh:
                    lines = fh.read(1 << 20).splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                fields = line.split()
                if len(fields) > 1 and fields[1].isdigit():
                    found[(kind, int(fields[1]))] = " ".join(fields[:2])
        return found

    def _ipc_leaks(self, baseline: dict[tuple[str, int], str]) -> list[str]:
        """New SysV objects (removed, as far as this process may) and the battery's POSIX message
        queue (unlinked); one line of evidence each."""
        import ctypes  # noqa: PLC0415 (the trusted auditor only)

        libc = ctypes.CDLL(None, use_errno=True)
        out = []
        for (kind, ident), line in self._sysv_objects().items():
            if (kind, ident) in baseline:
                continue
            out.append(f"SysV {kind} object (key, id) {line} left on the host")
            remove = {"shm": lambda i: libc.shmctl(i, 0, None), "msg": lambda i: libc.msgctl(i, 0, None),
                      "sem": lambda i: libc.semctl(i, 0, 0)}[kind]
            remove(ident)
        if libc.mq_unlink(b"/retool-audit-channel") == 0:
            out.append("POSIX message queue /retool-audit-channel left on the host")
        return out

    def _scan_files(self, *, remove: bool) -> list[str]:
        found: list[str] = []
        roots = list(_WATCHED_DIRS) + [(os.getcwd(), 1)]
        budget = 50_000
        for root, depth in roots:
            todo = [(root, depth)]
            while todo and budget > 0:
                path, left = todo.pop()
                try:
                    entries = list(os.scandir(path))
                except OSError:
                    continue
                for entry in entries:
                    budget -= 1
                    if entry.path == self.canary_dir:
                        continue
                    if self.run_marker in entry.name:
                        found.append(entry.path)
                        if remove and not entry.is_dir(follow_symlinks=False):
                            try:
                                os.unlink(entry.path)
                            except OSError:
                                pass
                    elif left > 1 and entry.is_dir(follow_symlinks=False):
                        todo.append((entry.path, left - 1))
        return found

    def _leaked_processes(self) -> list[tuple[Any, bool]]:
        """New live processes of the battery's making: (process, provably ours).

        Provably ours (and so killed at cleanup): a descendant of this process that is not a
        direct child (the sandbox's own workers are), or one whose argv or environment carries
        this run's random marker. Also reported, never killed: an orphan (ppid 1) started during
        the audit whose argv equals a sandbox process's argv (a fork of a worker that escaped).
        """
        import psutil  # noqa: PLC0415

        me = psutil.Process()
        known = set(self.baseline) | self.killed | self.reported | {b.decoy.pid for b in self.baits if b.decoy}
        found: dict[int, tuple[Any, bool]] = {}
        for proc in psutil.process_iter(["pid", "ppid", "create_time", "cmdline", "status"]):
            info = proc.info
            if (info["pid"] in known or info["pid"] == me.pid or info["ppid"] == me.pid
                    or (info["create_time"] or 0) < self.started_at - 1
                    or info["status"] == psutil.STATUS_ZOMBIE):
                continue
            cmd = "\0".join(info["cmdline"] or ())
            try:
                ours = self.run_marker in cmd or self._is_descendant(proc, me.pid) or any(
                    k.startswith(self.env_prefix) for k in proc.environ())
            except (psutil.Error, OSError):
                ours = False
            if ours or (info["ppid"] == 1 and cmd in self.sandbox_cmdlines):
                found[proc.pid] = (proc, ours)
        return list(found.values())

    @staticmethod
    def _is_descendant(proc: Any, ancestor: int) -> bool:
        parent = proc.parent()
        while parent is not None:
            if parent.pid == ancestor:
                return True
            parent = parent.parent()
        return False

    def _kill_leaks(self) -> list[tuple[str, str]]:
        """Kill leaked processes that are provably ours (report the others once); returns
        (evidence, text to attribute it by: its own and its ancestors' argv)."""
        leaked, out = self._leaked_processes(), []
        for proc, ours in leaked:
            try:
                chain = [proc, *proc.parents()[:4]]
                text = "\n".join(" ".join(p.cmdline()) for p in chain)
                out.append((f"pid {proc.pid} {' '.join(proc.cmdline())[:100]!r} outlived its call", text))
            except Exception:  # noqa: BLE001 (it exited meanwhile)
                continue
        for proc, ours in leaked:
            self.reported.add(proc.pid)
            if ours:
                try:
                    proc.kill()
                    self.killed.add(proc.pid)
                except Exception:  # noqa: BLE001 (it exited meanwhile)
                    pass
        return out
