"""A classic-BPF assembler and the building blocks of the seccomp programs (standard library only).

Contract (pure; used by :mod:`retool.sandbox.seccomp`, which holds the tables and the programs):
``Asm`` collects instructions with forward labels and ``assemble()`` packs them, raising
``ValueError`` naming the jump when an offset does not fit; ``head`` kills a foreign architecture
or an x32 call and leaves the syscall number in A; ``arg_in`` allows one syscall only with a
listed argument word; ``allow_runs`` jumps to ``allow`` for the listed numbers (a binary search
over the bounds of their runs) and to ``refuse`` otherwise; ``refuse`` places both targets
(RET_ALLOW; EPERM, or ENOSYS for the numbers given).
"""

from __future__ import annotations

import errno
import struct

AUDIT_ARCH_X86_64 = 0xC000003E
X32_BIT = 0x40000000
RET_ALLOW = 0x7FFF0000
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000

LD_W_ABS, JA, JEQ, JGE, JSET, RET = 0x20, 0x05, 0x15, 0x35, 0x45, 0x06
NR, ARCH, ARG0, ARG1 = 0, 4, 16, 24  # offsets in struct seccomp_data (low words of args)


class Asm:
    """A classic-BPF program with forward labels; jumps are checked to fit (jt/jf <= 255)."""

    def __init__(self) -> None:
        self.code: list[tuple[int, int | str, int | str, int | str]] = []
        self.labels: dict[str, int] = {}

    def op(self, code: int, k: int | str = 0, jt: int | str = 0, jf: int | str = 0) -> None:
        self.code.append((code, jt, jf, k))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def _offset(self, at: int, target: int | str, limit: int) -> int:
        offset = target if isinstance(target, int) else self.labels[target] - at - 1
        if not 0 <= offset <= limit:
            raise ValueError(f"BPF jump from instruction {at} to {target!r} is out of range ({offset})")
        return offset

    def assemble(self) -> bytes:
        out = []
        for at, (code, jt, jf, k) in enumerate(self.code):
            if code == JA:
                k = self._offset(at, k, 0xFFFFFFFF)
            out.append(struct.pack("HBBI", code, self._offset(at, jt, 255), self._offset(at, jf, 255),
                                   int(k) & 0xFFFFFFFF))
        return b"".join(out)


def head(asm: Asm) -> None:
    """Kill on a foreign architecture or an x32 call; leave the syscall number in A."""
    asm.op(LD_W_ABS, ARCH)
    asm.op(JEQ, AUDIT_ARCH_X86_64, jt=1)
    asm.op(RET, RET_KILL_PROCESS)
    asm.op(LD_W_ABS, NR)
    asm.op(JGE, X32_BIT, jf=1)
    asm.op(RET, RET_KILL_PROCESS)


def arg_in(asm: Asm, nr: int, offset: int, values: tuple[int, ...]) -> None:
    """For syscall ``nr``: allow when the argument word at ``offset`` is one of ``values``, else
    EPERM. Leaves A alone for every other syscall."""
    asm.op(JEQ, nr, jf=len(values) + 3)
    asm.op(LD_W_ABS, offset)
    for index, value in enumerate(values):
        asm.op(JEQ, value, jt=len(values) - index)
    asm.op(RET, RET_ERRNO | errno.EPERM)
    asm.op(RET, RET_ALLOW)


def allow_runs(asm: Asm, numbers: list[int], name: str) -> None:
    """A binary search over the bounds of the runs of consecutive ``numbers`` (A = nr): jump to
    ``allow`` inside a run, else to ``refuse``. One JGE per bound (two per run, ~7 deep), so a
    child's filter is about half as long to convert and JIT as one comparison per syscall."""
    bounds: list[int] = []
    for nr in sorted(set(numbers)):
        if bounds and bounds[-1] == nr:
            bounds[-1] = nr + 1  # extends the run that ends here
        else:
            bounds += [nr, nr + 1]
    # Interval j is [bounds[j-1], bounds[j]): inside a run exactly when j is odd.
    if not bounds:
        asm.op(JA, "refuse")
        return
    _bisect(asm, bounds, 0, len(bounds), name)


def _bisect(asm: Asm, bounds: list[int], low: int, high: int, name: str) -> None:
    """The node deciding between intervals ``low..high`` (low < high), at the current position."""
    middle = (low + high + 1) // 2

    def target(first: int, last: int, side: str) -> str:
        return ("allow" if first % 2 else "refuse") if first == last else f"{name}{side}"

    left, right = target(low, middle - 1, "<"), target(middle, high, ">")
    asm.op(JGE, bounds[middle - 1], jt=right, jf=left)
    if low < middle - 1:
        asm.label(left)
        _bisect(asm, bounds, low, middle - 1, left)
    if middle < high:
        asm.label(right)
        _bisect(asm, bounds, middle, high, right)


def refuse(asm: Asm, enosys_numbers: list[int]) -> None:
    """The ``allow`` and ``refuse`` targets: RET_ALLOW; EPERM, or ENOSYS for ``enosys_numbers``."""
    asm.label("allow")
    asm.op(RET, RET_ALLOW)
    asm.label("refuse")
    enosys = sorted(enosys_numbers)
    for index, nr in enumerate(enosys):
        asm.op(JEQ, nr, jt=len(enosys) - index)
    asm.op(RET, RET_ERRNO | errno.EPERM)
    asm.op(RET, RET_ERRNO | errno.ENOSYS)
