"""The control messages between the supervisor and a zygote (both sides; standard library only).

Contract: fixed-size binary messages on the SOCK_SEQPACKET control socket, one per datagram, so
reading one is a length check and one ``struct`` unpack (no JSON, no allocation per field):

- supervisor -> zygote: ``run_message(exec_id, slot)`` (with the child's four fds attached) and
  ``kill_message(exec_id)``; the zygote reads them with ``parse_request(raw)`` ->
  ``("run", exec_id, slot)``, ``("kill", exec_id, 0)`` or None for anything else.
- zygote -> supervisor: ``exited_message(exec_id, pid, status)`` (the raw wait status), read
  with ``parse_exited(raw)`` -> ``(exec_id, pid, status)`` or None. The one ``ready`` message at
  start-up stays a JSON object (it starts with ``{``, never a message tag).

Every parser is total: a datagram of another length or tag is None, never an exception. Ids are
unsigned 64-bit, slots unsigned 32-bit, pid and status signed 32-bit (a builder raises
``struct.error`` for a value outside those ranges).
"""

from __future__ import annotations

import struct

_RUN = struct.Struct("=cQI")
_KILL = struct.Struct("=cQ")
_EXITED = struct.Struct("=cQii")
_TAG_RUN, _TAG_KILL, _TAG_EXITED = b"r", b"k", b"x"


def run_message(exec_id: int, slot: int) -> bytes:
    return _RUN.pack(_TAG_RUN, exec_id, slot)


def kill_message(exec_id: int) -> bytes:
    return _KILL.pack(_TAG_KILL, exec_id)


def exited_message(exec_id: int, pid: int, status: int) -> bytes:
    return _EXITED.pack(_TAG_EXITED, exec_id, pid, status)


def parse_request(raw: bytes) -> tuple[str, int, int] | None:
    if len(raw) == _RUN.size and raw[:1] == _TAG_RUN:
        _, exec_id, slot = _RUN.unpack(raw)
        return "run", exec_id, slot
    if len(raw) == _KILL.size and raw[:1] == _TAG_KILL:
        return "kill", _KILL.unpack(raw)[1], 0
    return None


def parse_exited(raw: bytes) -> tuple[int, int, int] | None:
    if len(raw) == _EXITED.size and raw[:1] == _TAG_EXITED:
        _, exec_id, pid, status = _EXITED.unpack(raw)
        return exec_id, pid, status
    return None
