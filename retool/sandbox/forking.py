"""How the zygote forks a child (runs in the zygote: standard library only).

Contract: ``fork_function()`` returns a callable that forks the calling process and returns the
child's pid in the parent and 0 in the child, raising ``OSError`` (errno set) when the kernel
refuses. Where libc has ``_Fork`` (glibc >= 2.34) it is that call, else ``os.fork``.
``reseed_in_child()`` gives the child's ``random`` and ``numpy.random`` global generators fresh
seeds (what the skipped at-fork handler of ``random`` did; ``numpy`` never did it itself).

Why: ``os.fork`` runs CPython's at-fork machinery in both processes (the import lock, the
``threading`` module's re-initialisation of every thread object and lock it knows, ``random``'s
reseed, the runtime's lock re-creation). Each object that machinery touches sits on a page the
child shares with the zygote, so the child's first write to it copies the page: with numpy and
sympy pre-imported, ~240 of a trivial execution's ~620 page faults happen before the child runs
one line of ours. ``_Fork`` is the bare system call with libc's own per-process state reset.
Skipping the interpreter's handlers is sound here because the zygote has exactly one thread
(the numerical libraries are started with ``*_NUM_THREADS=1``) and never forks inside a critical
section of its own: every lock those handlers re-create is free at the moment of the fork, and
the child's only thread is the one that held nothing. Nothing about isolation changes: every
layer is applied in the child after the fork, as before.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable


def fork_function() -> Callable[[], int]:
    """See the module contract."""
    try:
        raw = ctypes.CDLL(None, use_errno=True)._Fork
    except (AttributeError, OSError):
        return os.fork
    raw.restype = ctypes.c_int
    raw.argtypes = []

    def fork() -> int:
        pid = raw()
        if pid < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"fork failed: {os.strerror(err)}")
        return int(pid)

    return fork


def reseed_in_child() -> None:
    """Fresh seeds for the global generators a snippet may use without seeding them itself."""
    module = sys.modules.get("random")
    if module is not None:
        module.seed()
    module = sys.modules.get("numpy.random")
    if module is not None:
        module.seed()
