"""Transparent huge pages for a zygote's heap (runs in the zygote: standard library only).

Contract: ``collapse_heap()`` asks the kernel (``MADV_COLLAPSE``, Linux >= 6.1) to back each
populated private anonymous mapping of the calling process (the interpreter's heap, the object
arenas of the pre-imported modules) with 2 MiB pages where it can, and returns the number of bytes
it asked for that the kernel accepted. Best effort and never raises: on an older kernel, with THP
set to ``never`` or for a range the kernel refuses, that range simply stays on 4 KiB pages.

Why: a fork copies one page-table entry per page of private anonymous memory and a child's exit
unmaps each of them again; with numpy and sympy pre-imported that is ~12k entries, the largest
single CPU cost of one execution. On a huge page both are one entry per 2 MiB. A child's first
write to a shared huge page splits that 2 MiB mapping (in the child only) and copies the 4 KiB
page written, as before: memory stays private to each child and nothing about isolation changes.
The flag ``MADV_HUGEPAGE`` is not set, so later faults (the children's own allocations) still get
4 KiB pages and never wait for compaction.
"""

from __future__ import annotations

import ctypes

MADV_COLLAPSE = 25
HUGE_PAGE_BYTES = 1 << 21

_libc = ctypes.CDLL(None, use_errno=True)
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.madvise.restype = ctypes.c_int


def anonymous_ranges(maps_text: str) -> list[tuple[int, int]]:
    """The 2 MiB-aligned parts of the private, writable, anonymous mappings (and ``[heap]``)
    listed in a ``/proc/PID/maps`` text, as ``(start, end)`` byte addresses. Pure."""
    ranges = []
    for line in maps_text.splitlines():
        parts = line.split()
        if len(parts) < 5 or len(parts[1]) != 4:
            continue
        perms, name = parts[1], parts[5] if len(parts) > 5 else ""
        if not perms.startswith("rw") or perms[3] != "p" or name not in ("", "[heap]"):
            continue
        try:
            low, high = (int(x, 16) for x in parts[0].split("-"))
        except ValueError:
            continue
        start = (low + HUGE_PAGE_BYTES - 1) & ~(HUGE_PAGE_BYTES - 1)
        end = high & ~(HUGE_PAGE_BYTES - 1)
        if end > start:
            ranges.append((start, end))
    return ranges


def collapse_heap() -> int:
    """See the module contract: bytes of the calling process now on huge pages at our request."""
    try:
        with open("/proc/self/maps", encoding="ascii") as fh:
            ranges = anonymous_ranges(fh.read())
    except OSError:
        return 0
    done = 0
    for start, end in ranges:  # one huge page at a time: a refused one does not hide the rest
        for at in range(start, end, HUGE_PAGE_BYTES):
            if _libc.madvise(at, HUGE_PAGE_BYTES, MADV_COLLAPSE) == 0:
                done += HUGE_PAGE_BYTES
    return done
