"""The one place a test learns what this host can do: a skip marker per missing capability.

Each ``requires_*`` is a ``pytest.mark.skipif`` whose reason names what is missing and how to get
it; each ``skip_unless_*()`` does the same from inside a fixture or a test body; each
``missing_*()`` returns that reason (``None`` when the capability is present) for tests that choose
what to run. A capability is probed once, without side effects. Our own modules are never skipped
on: an import error of ``retool.*`` must fail the run, not hide as a skip (import them directly).

Sandbox tests that do not depend on a particular layer run on the layers this host has instead of
skipping: pass ``**sandbox_options()`` to ``PythonSandbox`` (``allow_weaker=True`` exactly where a
default layer is missing, so a fully capable host still checks the strict default). A test that
needs a layer for what it asserts marks itself ``requires_layer(name)``/``requires_layers(...)``.
``ESCAPE_LAYERS`` are the layers the escape battery needs to block every technique: the per-slot
``uid`` layer (root only) is defence in depth there, and the battery passes without it.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
from typing import Any

import pytest

from retool.sandbox import isolation

ESCAPE_LAYERS: tuple[str, ...] = ("rlimits", "no_new_privs", "landlock", "seccomp")


# --- probes: None when present, else the reason -------------------------------------------------
@functools.cache
def _layers() -> dict[str, str | None]:
    return dict(isolation.probe_layers())


def missing_root() -> str | None:
    euid = os.geteuid()
    return None if euid == 0 else f"needs root (euid is {euid}): per-slot uids and chown to them need it"


def missing_layer(name: str) -> str | None:
    """Why the sandbox layer ``name`` is unusable here, or None. An unknown name is a ``ValueError``
    (a typo in a test must fail, not skip)."""
    layers = _layers()
    if name not in layers:
        raise ValueError(f"unknown sandbox layer {name!r}; the layers are {sorted(layers)}")
    why = layers[name]
    return None if why is None else f"needs the sandbox layer {name!r}: {why}"


def missing_layers(*names: str) -> str | None:
    """Every one of ``names`` that is unusable here, each with its reason, or None."""
    reasons = [why for why in map(missing_layer, names) if why]
    return "; ".join(reasons) if reasons else None


def missing_isolation() -> str | None:
    """None when every default isolation layer is usable here, else what is missing."""
    why = missing_layers(*isolation.LAYERS)
    return None if why is None else f"needs every default sandbox layer: {why}"


def available_layers() -> frozenset[str]:
    return frozenset(name for name, why in _layers().items() if why is None)


def sandbox_options() -> dict[str, Any]:
    """``PythonSandbox`` keyword arguments for a test that holds on whatever layers this host has:
    ``{"allow_weaker": True}`` where a default layer is missing, else ``{}`` (the strict default)."""
    return {"allow_weaker": True} if missing_isolation() else {}


@functools.cache
def _cuda_device() -> str | None:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def missing_cuda() -> str | None:
    return None if _cuda_device() else "needs a CUDA device (torch.cuda.is_available() is False)"


def present_cuda() -> str | None:
    """For a test of the behaviour where no CUDA device exists: the reason to skip it here, or None."""
    name = _cuda_device()
    return None if name is None else f"checks the behaviour without CUDA, and this host has a CUDA device ({name})"


def missing_package(module: str, install: str) -> str | None:
    """For a third-party package (never one of ours: import ``retool.*`` directly)."""
    if module == "retool" or module.startswith("retool."):
        raise ValueError(f"{module} is this project's own module: import it, do not skip on it")
    return None if importlib.util.find_spec(module) is not None else f"needs {module} ({install})"


def missing_megatron() -> str | None:
    return missing_package("megatron", "pip install megatron-core==0.16.1, the megatron extra")


def missing_sglang() -> str | None:
    return missing_package("sglang", "pip install sglang, the gpu extra")


def missing_math_verify() -> str | None:
    return missing_package("math_verify", "pip install math-verify, the compare extra")


def missing_program(name: str, install: str, *, path: str | None = None) -> str | None:
    """Why the executable ``name`` is not found on ``path`` (default: PATH), or None."""
    where = path or "PATH"
    return None if shutil.which(name, path=path) else f"needs the program {name!r} on {where} ({install})"


def missing_mount_namespace() -> str | None:
    """Why this process cannot make a private mount namespace (``unshare -m``: root with
    CAP_SYS_ADMIN), or None. Probed by making one and letting it go."""
    if shutil.which("unshare") is None:
        return "needs the program 'unshare' on PATH (apt-get install util-linux)"
    try:
        proc = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True, text=True,
                              timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"needs a private mount namespace (unshare -m failed: {exc})"
    if proc.returncode != 0:
        return f"needs a private mount namespace (unshare -m failed: {proc.stderr.strip() or proc.returncode})"
    return None


# --- markers --------------------------------------------------------------------------------------
def _marker(why: str | None) -> pytest.MarkDecorator:
    return pytest.mark.skipif(why is not None, reason=why or "")


requires_root = _marker(missing_root())
requires_landlock = _marker(missing_layer("landlock"))
requires_seccomp = _marker(missing_layer("seccomp"))
requires_isolation = _marker(missing_isolation())
requires_escape_layers = _marker(missing_layers(*ESCAPE_LAYERS))
requires_cuda = _marker(missing_cuda())
requires_no_cuda = _marker(present_cuda())
requires_megatron = _marker(missing_megatron())
requires_sglang = _marker(missing_sglang())
requires_math_verify = _marker(missing_math_verify())


def requires_layer(name: str) -> pytest.MarkDecorator:
    return _marker(missing_layer(name))


def requires_layers(*names: str) -> pytest.MarkDecorator:
    return _marker(missing_layers(*names))


def requires_package(module: str, install: str) -> pytest.MarkDecorator:
    return _marker(missing_package(module, install))


def requires_program(name: str, install: str, *, path: str | None = None) -> pytest.MarkDecorator:
    return _marker(missing_program(name, install, path=path))


# --- the same from inside a fixture or a test body ------------------------------------------------
def _skip(why: str | None) -> None:
    if why is None:
        return
    try:  # report the skip at the test that asked, not at this line (as a skip marker is reported)
        exc = pytest.skip.Exception(why, _use_item_location=True)
    except TypeError:  # a pytest without that keyword
        exc = pytest.skip.Exception(why)
    raise exc


def skip_unless_root() -> None:
    _skip(missing_root())


def skip_unless_layer(name: str) -> None:
    _skip(missing_layer(name))


def skip_unless_layers(*names: str) -> None:
    _skip(missing_layers(*names))


def skip_unless_landlock() -> None:
    _skip(missing_layer("landlock"))


def skip_unless_seccomp() -> None:
    _skip(missing_layer("seccomp"))


def skip_unless_isolation() -> None:
    _skip(missing_isolation())


def skip_unless_escape_layers() -> None:
    _skip(missing_layers(*ESCAPE_LAYERS))


def skip_unless_cuda() -> None:
    _skip(missing_cuda())


def skip_unless_megatron() -> None:
    _skip(missing_megatron())


def skip_unless_sglang() -> None:
    _skip(missing_sglang())


def skip_unless_math_verify() -> None:
    _skip(missing_math_verify())


def skip_unless_package(module: str, install: str) -> None:
    _skip(missing_package(module, install))


def skip_unless_mount_namespace() -> None:
    _skip(missing_mount_namespace())


def skip_unless_program(name: str, install: str, *, path: str | None = None) -> None:
    _skip(missing_program(name, install, path=path))
