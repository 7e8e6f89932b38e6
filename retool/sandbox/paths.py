"""Which library paths a child may read and how it reaches them (runs in the zygote; stdlib only).

Contract: ``read_paths(cfg)`` is the sorted tuple of read-only Landlock paths: the configured
ones plus the package dir of every module the zygote pre-imported (never the sandbox's own
code); ``traversable_by_others(path)`` tells whether an unprivileged uid can walk down to
``path`` and list it (mode bits only); ``reachable_sys_path(cfg)`` makes sys.path dirs behind a
private parent importable after the uid switch (held fds, ``/proc/self/fd/N``) and points the
``__path__`` of packages imported already at them; it sets ``cfg["keep_fds"]``.
"""

import fcntl
import os
import sys


def read_paths(cfg):
    """Read-only Landlock paths: the stdlib and the package dirs of every pre-imported module."""
    paths = set(cfg["read_paths"])
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None)
        if not origin or name == "__main__" or name.partition(".")[0] == "retool":
            continue  # the sandbox's own code is never read after fork
        top = sys.modules.get(module.__name__.partition(".")[0])
        top_file = getattr(top, "__file__", None) or origin
        if top_file.endswith("__init__.py") or os.path.basename(top_file).startswith("__init__."):
            paths.add(os.path.dirname(top_file))
            libs = os.path.dirname(top_file) + ".libs"
            if os.path.isdir(libs):
                paths.add(libs)
        else:
            paths.add(os.path.dirname(origin) if "site-packages" not in origin else origin)
    return tuple(sorted(p for p in paths if os.path.exists(p)))


def traversable_by_others(path):
    """Whether an unprivileged uid can walk down to ``path`` and list it (mode bits only)."""
    import stat

    path = os.path.abspath(path)
    parts = path.split(os.sep)
    for depth in range(2, len(parts) + 1):
        mode = os.stat(os.sep.join(parts[:depth]) or os.sep).st_mode
        if not mode & stat.S_IXOTH:
            return False
    return bool(os.stat(path).st_mode & stat.S_IROTH)


def reachable_sys_path(cfg):
    """Make sys.path directories behind a private parent (e.g. an interpreter under /root)
    importable after the uid switch: hold an fd on each and import through /proc/self/fd/N,
    which resolves without walking the private parent. Landlock still decides by the real
    location, and the fds are read-only directory handles the child could only use to read
    the library it is already allowed to read."""
    import importlib

    keep, moved = [], {}
    for index, entry in enumerate(list(sys.path)):
        if not os.path.isdir(entry) or traversable_by_others(entry):
            continue
        fd = os.open(entry, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 1000 + index)
        os.close(fd)
        sys.path[index] = f"/proc/self/fd/{high}"
        keep.append(high)
        moved[entry.rstrip(os.sep) + os.sep] = f"/proc/self/fd/{high}{os.sep}"
    # Packages imported already search their own __path__ for lazily imported submodules
    # (importlib.metadata, numpy.testing, ...): point those at the held fds too.
    for module in list(sys.modules.values()):
        path = getattr(module, "__path__", None)
        if not isinstance(path, list):
            continue
        for i, item in enumerate(path):
            for old, new in moved.items():
                if isinstance(item, str) and (item + os.sep).startswith(old):
                    path[i] = new + item[len(old):]
                    break
    importlib.invalidate_caches()
    cfg["keep_fds"] = sorted(keep)
