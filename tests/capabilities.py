"""The one place a test learns what this host can do: a skip marker per missing capability.

Each ``requires_*`` is a ``pytest.mark.skipif`` whose reason names what is missing and how to get
it; each ``skip_unless_*()`` does the same from inside a fixture or a test body. A capability is
probed once, without side effects. Our own modules are never skipped on: an import error of
``retool.*`` must fail the run, not hide as a skip.
"""

from __future__ import annotations

import functools
import importlib.util
import os

import pytest


@functools.cache
def _layers() -> dict[str, str | None]:
    from retool.sandbox import isolation

    return isolation.probe_layers()


def missing_root() -> str | None:
    euid = os.geteuid()
    return None if euid == 0 else f"needs root (euid is {euid}): per-slot uids and chown to them need it"


def missing_layer(name: str) -> str | None:
    why = _layers().get(name, f"unknown sandbox layer {name!r}")
    return None if why is None else f"needs the sandbox layer {name!r}: {why}"


def missing_isolation() -> str | None:
    """None when every default isolation layer is usable here, else what is missing."""
    missing = {name: why for name, why in _layers().items() if why}
    if not missing:
        return None
    return "needs every default sandbox layer; missing here: " + "; ".join(f"{k} ({v})" for k, v in missing.items())


def missing_cuda() -> str | None:
    import torch

    return None if torch.cuda.is_available() else "needs a CUDA device (torch.cuda.is_available() is False)"


def missing_package(module: str, install: str) -> str | None:
    return None if importlib.util.find_spec(module) is not None else f"needs {module} ({install})"


def missing_megatron() -> str | None:
    return missing_package("megatron", "pip install megatron-core==0.16.1")


def missing_sglang() -> str | None:
    return missing_package("sglang", "pip install sglang")


def missing_math_verify() -> str | None:
    return missing_package("math_verify", "pip install math-verify")


def _marker(why: str | None) -> pytest.MarkDecorator:
    return pytest.mark.skipif(why is not None, reason=why or "")


requires_root = _marker(missing_root())
requires_landlock = _marker(missing_layer("landlock"))
requires_seccomp = _marker(missing_layer("seccomp"))
requires_isolation = _marker(missing_isolation())
requires_cuda = _marker(missing_cuda())
requires_megatron = _marker(missing_megatron())
requires_sglang = _marker(missing_sglang())
requires_math_verify = _marker(missing_math_verify())


def requires_layer(name: str) -> pytest.MarkDecorator:
    return _marker(missing_layer(name))


def _skip(why: str | None) -> None:
    if why is not None:
        pytest.skip(why)


def skip_unless_root() -> None:
    _skip(missing_root())


def skip_unless_layer(name: str) -> None:
    _skip(missing_layer(name))


def skip_unless_isolation() -> None:
    _skip(missing_isolation())


def skip_unless_cuda() -> None:
    _skip(missing_cuda())


def skip_unless_megatron() -> None:
    _skip(missing_megatron())


def skip_unless_sglang() -> None:
    _skip(missing_sglang())
