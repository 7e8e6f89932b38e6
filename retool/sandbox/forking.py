"""How the zygote forks a child (runs in the zygote: standard library only).

Contract: ``fork_function()`` returns a callable that forks the calling process and returns the
child's pid in the parent and 0 in the child, raising ``OSError`` (errno set) when the kernel
refuses. Where libc has ``_Fork`` (glibc >= 2.34) it is that call, else ``os.fork``.
``reseed_in_child()`` gives the child's ``random`` and ``numpy.random`` global generators fresh
seeds (what the skipped at-fork handler of ``random`` did; ``numpy`` never did it itself).
``warm_up(run_snippet, cfg, allowed)`` runs ``WARM_UP_SNIPPETS`` (trusted constants) through the
child's runner once, in the zygote, before it serves: the caches a run fills (the interpreter's
type-attribute cache, lazily built objects of the compiler, the streams and the traceback
printer) are then inherited by every child instead of written, page by page, by each one. Their
output goes to the zygote's stdout (``/dev/null``); what the runner sets globally (the import
guard, the line cache entry) is put back; no snippet of a caller has run yet, so nothing of a
run can reach another one through it.

``enter_pid_namespace(control_fd, isolation, namespaces)`` makes the calling zygote pid 1 of a new
pid namespace (see there).

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

import builtins
import ctypes
import json
import linecache
import os
import signal
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


WARM_UP_SNIPPETS: tuple[str, ...] = (
    "values = [i * i for i in range(3)]\nprint(sum(values), {'k': 1.5}, (2, 'text'))\nvalues[-1]",
    "import math\nmath.floor(2.5)",
    "1 / 0",
    "import os",
)


def warm_up(run_snippet: Callable[..., object], cfg: object, allowed: frozenset[str] | None) -> None:
    """See the module contract; never raises for what a warm-up snippet does."""
    saved_import, saved_stderr = builtins.__import__, sys.stderr
    sys.stderr = sys.stdout  # the zygote's stderr is the supervisor's: tracebacks go to /dev/null
    try:
        for code in WARM_UP_SNIPPETS:
            try:
                json.dumps(run_snippet(code, cfg, allowed))
            finally:
                builtins.__import__ = saved_import
        reseed_in_child()
    finally:
        builtins.__import__ = saved_import
        sys.stderr = saved_stderr
        linecache.cache.clear()
        sys.stdout.flush()


def reseed_in_child() -> None:
    """Fresh seeds for the global generators a snippet may use without seeding them itself."""
    module = sys.modules.get("random")
    if module is not None:
        module.seed()
    module = sys.modules.get("numpy.random")
    if module is not None:
        module.seed()


def enter_pid_namespace(control_fd: int, isolation: object, namespaces: object) -> None:
    """Become pid 1 of a new pid namespace: fork; the parent stays outside only to wait for the
    server and exit with its status (the supervisor watches the parent). When the server dies
    the kernel kills every process in the namespace. Returns in the server only."""
    namespaces.unshare(namespaces.CLONE_NEWPID)  # type: ignore[attr-defined]
    server = os.fork()
    if server == 0:
        isolation.set_parent_death_signal(signal.SIGKILL)  # type: ignore[attr-defined]  # the waiting parent is killed: we go
        return
    os.close(control_fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            _, status = os.waitpid(server, 0)
            break
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)
