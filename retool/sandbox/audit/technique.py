"""The technique type and the effects vocabulary of the escape and limits battery (``retool.sandbox.audit``).

Contract: ``EFFECTS`` maps every effect the auditor can see from outside to what it means. A
``Technique`` is one snippet (a ``string.Template`` over the per-technique bait, filled in by
``retool.sandbox.audit.render.render``) with the effects it aims for; ``aims`` must be a non-empty tuple
of keys of ``EFFECTS`` (ValueError naming the technique otherwise). ``technique(name, category,
aims, code, **kw)`` is the compact constructor the technique tables use (``aims`` space-separated,
``code`` stripped of surrounding newlines); ``ALL_AIMS`` is the aims of a technique that goes for
every bait at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["EFFECTS", "Technique", "technique", "ALL_AIMS"]

EFFECTS: dict[str, str] = {
    "canary_read": "a canary secret appeared in the output or in listener data",
    "canary_write": "a canary file was changed or removed, or a file appeared next to it",
    "network": "a loopback listener received a connection or a datagram",
    "env_leak": "an environment secret of the auditor's process appeared",
    "proc_leak": "a decoy process's argv/environment secret appeared",
    "host_file": "the host's /etc/passwd appeared in the output",
    "signal": "a decoy process was killed, stopped or traced",
    "supervisor": "a sandbox process died, or the sandbox stopped answering a health probe",
    "process_leak": "a process started by the snippet outlived its call",
    "file_leak": "a file named with the run marker was left on disk",
    "hang": "the call did not return within the timeout plus slack",
    "loop_blocked": "the auditor's event loop was blocked while the call ran",
    "output_flood": "the output exceeded the output cap",
    "limit_breach": "the snippet printed its breach marker after getting past a limit",
    "contamination": "a reference snippet's output changed after the technique ran",
    "channel": "the snippet printed its breach marker after getting hold of a channel between runs or a resource outside the limits",
    "ipc_leak": "a SysV IPC object or a POSIX message queue of the snippet's making outlived its call on the host",
}


@dataclass(frozen=True, kw_only=True)
class Technique:
    """One escape or limits technique: the snippet to submit and the effect it goes for.

    ``code`` is a ``string.Template`` over the per-technique bait (see ``render``). ``aims`` names
    the effects (keys of ``EFFECTS``) the snippet tries to cause; every probe is checked for every
    technique regardless. ``followup`` is a reference snippet run right after (contamination).
    """

    name: str
    category: str
    code: str
    aims: tuple[str, ...]
    hazardous: bool = False
    isolated: bool = False
    followup: str | None = None

    def __post_init__(self) -> None:
        unknown = [a for a in self.aims if a not in EFFECTS]
        if unknown or not self.aims:
            raise ValueError(f"technique {self.name!r}: aims must be keys of EFFECTS, got {self.aims!r}")


def technique(name: str, category: str, aims: str, code: str, **kw: Any) -> Technique:
    return Technique(name=name, category=category, aims=tuple(aims.split()), code=code.strip("\n"), **kw)


ALL_AIMS = "canary_read canary_write env_leak signal network file_leak"
