"""How the zygote forks a child (runs in the zygote: standard library only).

Contract: ``fork_function()`` returns a callable that forks the calling process and returns the
child's pid in the parent and 0 in the child, raising ``OSError`` (errno set) when the kernel
refuses. Where libc has ``_Fork`` (glibc >= 2.34) it is that call, else ``os.fork``.
``reseed_in_child()`` gives the child's ``random``, ``numpy.random`` and ``sympy.core.random``
global generators fresh seeds (what the skipped at-fork handler of ``random`` did; ``numpy`` never did it itself).
``warm_up(run_snippet, cfg, allowed)`` runs ``WARM_UP_SNIPPETS`` and the ``MODULE_WARM_UPS`` of
the modules ``cfg["preimport"]`` names (trusted constants) through the child's runner once, in
the zygote, before it serves: the caches a run fills (the interpreter's type-attribute cache,
lazily built objects of the compiler, the streams and the traceback printer, the libraries'
first-use loading) are then inherited by every child instead of written, page by page, by each one. Their
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
# Per pre-imported third-party module: generic work (never a caller's snippet) that loads what the
# library builds on first use (sympy's factor loads its combinatorics package, ~80 CPU-ms; numpy's
# linalg and polynomial helpers ~45 ms) once in the zygote instead of in every child. Global state
# a run could see (mpmath's precision) is put back.
MODULE_WARM_UPS: dict[str, str] = {
    "sympy": (
        "import sympy\nt, u = sympy.symbols('t u')\ne = sympy.expand((t + 2) ** 3 - u * t)\n"
        "print(sympy.factor(t ** 3 - 8), sympy.diff(sympy.exp(t) * sympy.cos(t), t), sympy.simplify(sympy.sin(t) ** 2 + sympy.cos(t) ** 2))\n"
        "print(sympy.solve(t ** 2 - 3 * t + 2, t), sympy.Rational(3, 4) + sympy.sqrt(8), sympy.integrate(t ** 2, (t, 0, 1)), sympy.N(sympy.pi, 10))\n"
        "print(sympy.latex(e), sympy.nsimplify(0.5), sympy.Matrix([[1, 2], [3, 4]]).det(), sympy.isprime(97), sympy.limit(sympy.sin(t) / t, t, 0))"
    ),
    "numpy": (
        "import numpy\na = numpy.arange(12).reshape(3, 4)\n"
        "print(a.sum(), a.mean(), numpy.linalg.det(numpy.eye(3)), numpy.linalg.solve([[2.0, 1.0], [1.0, 3.0]], [1.0, 2.0]))\n"
        "print(numpy.polyfit([0, 1, 2], [1, 3, 5], 1), numpy.array([1.5, 2.5]).round(), numpy.random.default_rng(0).integers(10))"
    ),
    "mpmath": (
        "import mpmath\nsaved = mpmath.mp.dps\ntry:\n    mpmath.mp.dps = 30\n"
        "    print(mpmath.sqrt(2), mpmath.quad(mpmath.sin, [0, mpmath.pi]), mpmath.zeta(3))\n"
        "finally:\n    mpmath.mp.dps = saved"
    ),
}


def warm_up(run_snippet: Callable[..., object], cfg: dict, allowed: frozenset[str] | None) -> None:
    """See the module contract; never raises for what a warm-up snippet does."""
    saved_import, saved_stderr = builtins.__import__, sys.stderr
    sys.stderr = sys.stdout  # the zygote's stderr is the supervisor's: tracebacks go to /dev/null
    try:
        preimported = cfg.get("preimport", ())
        for code in WARM_UP_SNIPPETS + tuple(MODULE_WARM_UPS[m] for m in preimported if m in MODULE_WARM_UPS):
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
    module = sys.modules.get("sympy.core.random")  # sympy's own generators (randprime, ...)
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
