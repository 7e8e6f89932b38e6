"""Resolve a user's ``"pkg.module:attr"`` spec (a sandbox factory, an answer checker) to a callable.

Contract: :func:`load_callable` imports the module, walks a dotted attribute path and checks the
result is callable; any failure is a ``ValueError`` whose message names ``what`` was being
loaded, the spec and the failing part. It never returns a non-callable.
"""

from __future__ import annotations

import importlib
from typing import Any


def load_callable(spec: str, *, what: str, example: str = "pkg.module:name") -> Any:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr or ":" in attr:
        raise ValueError(f"{what} must look like {example!r}, got {spec!r}")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 (any failure to import is a problem with the user's spec)
        raise ValueError(f"{what} {spec!r}: cannot import module {module_name!r}: {type(exc).__name__}: {exc}") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{what} {spec!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{what} {spec!r}: {attr!r} is a {type(obj).__name__}, not callable")
    return obj
