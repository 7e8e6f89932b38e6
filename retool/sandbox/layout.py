"""Where sandboxed code lives: scratch dirs, slot uids and each zygote's start-up config.

Contract: ``make_scratch``, ``slot_is_dirty`` and ``clean_slot`` are re-exported from
:mod:`retool.sandbox.scratch` (the host scratch dirs); ``zygote_config``
builds the JSON the zygote starts from: extra ``sys.path`` entries for allowed third-party
packages, modules to pre-import, active layers, rlimits, Landlock read-only paths (the stdlib,
lib-dynload, the system library dirs and the loader cache) and the zygote's slots;
``third_party_modules(allowed)`` names the allowed modules that are not the standard library's and
``zygote_tiers(allowed, lean=...)`` what each tier of zygotes pre-imports (both pure).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import math
import os
import resource
import sys
import sysconfig
from typing import Any

from retool.sandbox.config import SandboxConfig
from retool.sandbox.scratch import clean_slot, make_scratch, slot_is_dirty  # noqa: F401 (re-exported)

ZYGOTE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zygote.py")
# Shared libraries that extension modules load lazily (libz for zlib/binascii, libcrypto for
# hashlib, libffi, ...) and the loader's index; read-only, no secrets. Missing ones are skipped.
SYSTEM_LIBRARY_PATHS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib", "/etc/ld.so.cache")
# The zygote's whole environment: nothing secret, numerical libraries kept single-threaded.
ZYGOTE_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _extension_dir() -> str | None:
    """Where this interpreter loads its stdlib extension modules from (its real lib-dynload)."""
    for name in ("_json", "_struct", "math", "select", "array", "_datetime"):
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec else None
        if origin and origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
            return os.path.dirname(origin)
    return None


def stdlib_paths() -> set[str]:
    """The interpreter's stdlib dirs, also when it runs in a venv (whose platstdlib is the venv's
    own, nonexistent, lib/pythonX.Y): the base installation's stdlib, platstdlib and lib-dynload."""
    found = set()
    for scheme_vars in ({}, {"base": sys.base_prefix, "platbase": sys.base_exec_prefix}):
        paths = sysconfig.get_paths(vars=scheme_vars) if scheme_vars else sysconfig.get_paths()
        found |= {paths["stdlib"], paths["platstdlib"], os.path.join(paths["platstdlib"], "lib-dynload")}
    dynload = _extension_dir()
    if dynload is not None:
        found.add(dynload)
    return {p for p in found if os.path.isdir(p)}


def third_party_modules(allowed: tuple[str, ...] | None) -> tuple[str, ...]:
    """The names in ``allowed`` that are not standard-library modules, in order. Pure."""
    return tuple(name for name in allowed or () if name not in sys.stdlib_module_names)


def zygote_tiers(allowed: tuple[str, ...] | None, *, lean: bool) -> tuple[tuple[str, ...], ...]:
    """What each tier of zygotes pre-imports, smallest first, each holding the one below, the last
    one every allowed module: with ``lean``, none of them, then the standard-library ones (when there are third-party ones
    besides), then all; without (or with no import guard), all only. Pure."""
    everything = tuple(allowed or ())
    if not lean or not everything:
        return (everything,)
    third_party = set(third_party_modules(allowed))
    tiers = [(), tuple(name for name in everything if name not in third_party), everything]
    return tuple(tier for i, tier in enumerate(tiers) if tier not in tiers[:i])


def zygote_config(cfg: SandboxConfig, active: frozenset[str], scratch: str | None, index: int,
                  n_zygotes: int, *, preimport: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The JSON start-up config of zygote ``index`` (see ``retool.sandbox.zygote``); it pre-imports
    ``preimport`` (default: every allowed module; a tier of ``zygote_tiers``). Every allowed module
    stays allowed and readable: one not pre-imported is imported on use."""
    allowed = list(cfg.allowed_modules) if cfg.allowed_modules is not None else None
    if preimport is not None and not set(preimport) <= set(allowed or ()):
        raise ValueError(f"preimport {preimport} names modules outside allowed_modules {allowed}")
    site_dirs = []
    for name in allowed or ():
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec else None
        if origin and spec and spec.submodule_search_locations:
            site_dirs.append(os.path.dirname(os.path.dirname(origin)))
        elif origin and origin not in ("built-in", "frozen"):
            site_dirs.append(os.path.dirname(origin))
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(ZYGOTE_PATH)))  # the dir holding retool/
    stdlib = stdlib_paths()
    read_paths = sorted(stdlib | set(SYSTEM_LIBRARY_PATHS))
    rlimits = {
        resource.RLIMIT_CPU: math.ceil(cfg.timeout_s) + 1,
        resource.RLIMIT_FSIZE: cfg.max_file_bytes,
        resource.RLIMIT_NOFILE: cfg.max_open_files,
        resource.RLIMIT_CORE: 0,
    }
    if "uid" in active:
        rlimits[resource.RLIMIT_NPROC] = cfg.max_threads
    assert scratch is not None
    return {
        "sys_path": [package_root] + sorted(set(site_dirs) - {package_root} - stdlib),
        "preimport": list(preimport) if preimport is not None else allowed or [],
        "allowed_modules": allowed,
        "print_last_expression": cfg.print_last_expression,
        "layers": sorted(active),
        "rlimits": {str(k): v for k, v in rlimits.items()},
        "rlimit_as_id": resource.RLIMIT_AS,
        "memory_limit_bytes": cfg.memory_limit_bytes,
        "scratch_bytes": cfg.max_scratch_bytes,
        "scratch_inodes": cfg.max_scratch_files,
        "read_paths": read_paths,
        "slots": [
            {"slot": s, "uid": cfg.uid_base + s, "scratch": os.path.join(scratch, f"slot-{s}")}
            for s in range(index, cfg.concurrency, n_zygotes)
        ],
    }
