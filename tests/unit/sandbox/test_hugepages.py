"""retool.sandbox.hugepages: which mappings a zygote asks to collapse, and that the kernel does it."""

from __future__ import annotations

import os

import pytest

from retool.sandbox.hugepages import HUGE_PAGE_BYTES, anonymous_ranges, collapse_heap

MAPS = """\
55d0c0000000-55d0c0400000 rw-p 00000000 00:00 0                          [heap]
7f0000000000-7f0000500000 rw-p 00000000 00:00 0 
7f0000600000-7f0000a00000 rw-p 00001000 08:01 1234                       /usr/lib/libfoo.so
7f0000a00000-7f0000e00000 r--p 00000000 00:00 0 
7f0000e00000-7f0001200000 rw-s 00000000 00:01 99                         /dev/zero (deleted)
7ffd00000000-7ffd00400000 rw-p 00000000 00:00 0                          [stack]
7f0002000000-7f00020ff000 rw-p 00000000 00:00 0 
garbage line
"""


def test_only_private_writable_anonymous_memory_and_the_heap_are_chosen() -> None:
    assert anonymous_ranges(MAPS) == [(0x55D0C0000000, 0x55D0C0400000), (0x7F0000000000, 0x7F0000400000)]


def test_ranges_are_cut_to_whole_huge_pages() -> None:
    for start, end in anonymous_ranges(MAPS):
        assert start % HUGE_PAGE_BYTES == 0 and end % HUGE_PAGE_BYTES == 0 and end > start


def test_a_mapping_smaller_than_a_huge_page_is_left_alone() -> None:
    assert anonymous_ranges("7f0002000000-7f00020ff000 rw-p 00000000 00:00 0\n") == []


def _thp_reason() -> str | None:
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled", encoding="ascii") as fh:
            setting = fh.read()
    except OSError:
        return "no transparent huge pages on this kernel (/sys/kernel/mm/transparent_hugepage)"
    if "[never]" in setting:
        return "transparent huge pages are set to never on this host"
    release = tuple(int(part) for part in os.uname().release.split(".")[:2] if part.isdigit())
    return None if release >= (6, 1) else f"MADV_COLLAPSE needs Linux >= 6.1, this is {os.uname().release}"


def test_a_populated_heap_ends_up_on_huge_pages() -> None:
    reason = _thp_reason()
    if reason:
        pytest.skip(reason)
    read_r, read_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (child): collapse its own heap, report its AnonHugePages
        code = 1
        try:
            block = bytearray(os.urandom(1 << 16)) * 256  # 16 MiB of populated anonymous memory
            done = collapse_heap()
            with open("/proc/self/smaps_rollup", encoding="ascii") as fh:
                huge_kib = next(int(line.split()[1]) for line in fh if line.startswith("AnonHugePages:"))
            os.write(read_w, f"{done} {huge_kib} {len(block)}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(read_w)
    out = os.read(read_r, 200).decode().split()
    os.close(read_r)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and len(out) == 3, out
    done, huge_kib = int(out[0]), int(out[1])
    assert done >= 8 * HUGE_PAGE_BYTES and huge_kib * 1024 >= 8 * HUGE_PAGE_BYTES, (done, huge_kib)
