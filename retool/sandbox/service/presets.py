"""Named sandbox settings for ``retool sandbox serve --preset NAME``.

Contract: ``PRESETS`` maps a name to ``SandboxConfig`` overrides; ``preset_config(name, **overrides)``
returns the ``SandboxConfig`` (``ValueError`` naming the presets for an unknown name).

- ``retool`` (default): the ReTool recipe's sandbox exactly (``TOOL_CONFIGS``: 120 s, 4 GB, 32 at
  once; the import allow-list, the 8 KiB model-facing output cap, a bare last expression printed),
  so a ``RemoteSandbox`` on this farm answers as the in-process sandbox does.
- ``fusion``: what SandboxFusion users expect of a Python run: the code runs as a script (no
  last-expression printing), any standard-library module imports (no allow-list; third-party
  packages are not readable by the children unless allowed), 1 MiB of output, 120 s at most.
"""

from __future__ import annotations

from typing import Any

from retool.sandbox.config import TOOL_CONFIGS, SandboxConfig, parse_size

PRESETS: dict[str, dict[str, Any]] = {
    "retool": {
        "timeout_s": float(TOOL_CONFIGS["python_timeout"]),
        "memory_limit_bytes": parse_size(TOOL_CONFIGS["python_memory_limit"]),
        "concurrency": int(TOOL_CONFIGS["tool_concurrency"]),
    },
    "fusion": {
        "timeout_s": 120.0,
        "memory_limit_bytes": parse_size("4GB"),
        "concurrency": 32,
        "allowed_modules": None,
        "print_last_expression": False,
        "max_output_bytes": 1 << 20,
    },
}


def preset_config(name: str, **overrides: Any) -> SandboxConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; the presets are {sorted(PRESETS)}")
    return SandboxConfig(**{**PRESETS[name], **overrides})


__all__ = ["PRESETS", "preset_config"]
