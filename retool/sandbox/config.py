"""Sandbox settings, results and the model-facing text (the data half of ``retool.sandbox``).

Contract: ``parse_size`` (pure; decimal kB/MB/GB/TB and binary KiB/MiB/GiB/TiB, exact, a bad value
is a ``ValueError`` naming it), ``SandboxConfig`` (frozen, kw_only, validated at construction),
``ExecutionResult`` (frozen; ``status`` in ``STATUSES``), ``format_result`` (pure: the text the
model sees; every status reads differently, empty output is named, truncation is marked),
``TOOL_CONFIGS`` (the ReTool recipe's dict, verbatim), ``MODULE_PRESETS`` (named module sets to
pre-import: "default", "recipe" with numpy, sympy, mpmath, ...). Import these from ``retool.sandbox``.
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass, field
from typing import Any

from retool.sandbox.isolation import LAYERS

# The ReTool recipe's module-level knobs, kept verbatim; ``SandboxConfig.from_tool_configs``
# is the typed form.
TOOL_CONFIGS: dict[str, Any] = {"python_timeout": 120, "python_memory_limit": "4GB", "tool_concurrency": 32}

DEFAULT_ALLOWED_MODULES: tuple[str, ...] = (
    "math", "random", "datetime", "collections", "itertools", "functools", "operator",
    "statistics", "decimal", "fractions",
)
# Named module sets a zygote pre-imports (``SandboxConfig(module_preset=...)``, ``retool sandbox
# ... --preset``). "recipe": what the ReTool recipe's data needs (its solutions import sympy and
# numpy); imported once in the zygote, so a snippet's ``import sympy`` costs nothing.
MODULE_PRESETS: dict[str, tuple[str, ...]] = {
    "default": DEFAULT_ALLOWED_MODULES,
    "recipe": DEFAULT_ALLOWED_MODULES + ("numpy", "sympy", "mpmath", "cmath", "re", "string", "heapq",
                                         "bisect", "copy", "numbers"),
}
STATUSES: tuple[str, ...] = ("ok", "error", "timeout", "memory", "forbidden", "output_limit", "crashed")

_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}
_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")


def parse_size(text: str | int) -> int:
    """Bytes in a size: ``"4GB"`` -> 4_000_000_000, ``"512MiB"`` -> 536_870_912, ``100`` -> 100.

    Decimal units (k/kB/KB, M/MB, G/GB, T/TB) are powers of 1000, binary units (KiB, MiB, GiB,
    TiB) powers of 1024; case-insensitive. Raises ``ValueError`` naming the value otherwise.
    """
    if isinstance(text, bool) or not isinstance(text, (int, str)):
        raise ValueError(f"size must be a string like '4GB' or an int of bytes, got {text!r}")
    if isinstance(text, int):
        if text <= 0:
            raise ValueError(f"size must be positive, got {text!r}")
        return text
    match = _SIZE_RE.fullmatch(text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise ValueError(f"cannot parse size {text!r}: expected a number with a unit in B, KB, MB, GB, TB, KiB, MiB, GiB, TiB")
    number = match.group(1)
    whole, _, frac = number.partition(".")
    scale = _UNITS[unit]
    value = int(whole) * scale + (int(frac) * scale) // (10 ** len(frac)) if frac else int(whole) * scale
    if value <= 0:
        raise ValueError(f"size must be positive, got {text!r}")
    return value


@dataclass(frozen=True, kw_only=True)
class SandboxConfig:
    """Typed sandbox settings. Validated at construction (``ValueError`` naming the value)."""

    timeout_s: float = 120.0
    memory_limit_bytes: int = 4 * 10**9  # address space a snippet may add on top of the zygote
    concurrency: int = 32
    allowed_modules: tuple[str, ...] | None = DEFAULT_ALLOWED_MODULES  # None = no import guard
    print_last_expression: bool = True
    max_output_bytes: int = 8192  # stdout + stderr; the child is stopped past this
    max_code_bytes: int = 1 << 20
    max_file_bytes: int = 16 * 2**20
    max_scratch_bytes: int = 64 * 2**20  # the per-run scratch tmpfs (layer "mount")
    max_scratch_files: int = 4096  # inodes of that tmpfs
    max_open_files: int = 64
    max_threads: int = 8
    layers: frozenset[str] = field(default_factory=lambda: frozenset(LAYERS))
    allow_weaker: bool = False
    uid_base: int = 61000
    zygotes: int = 0  # 0 = min(concurrency, CPU count)
    scratch_root: str | None = None  # parent of the per-sandbox scratch dir (default: tempdir)
    python: str | None = None  # interpreter for the zygotes (default: sys.executable)
    kill_grace_s: float = 5.0
    module_preset: str | None = None  # a key of MODULE_PRESETS: its modules are allowed and pre-imported
    # Tiers of zygotes (layout.zygote_tiers): one pre-importing none of the allowed modules, one the
    # standard-library ones (when third-party ones are allowed too), one all; a snippet forks from
    # the smallest tier holding every allowed module its source names (a smaller process forks and
    # exits for less; any allowed module still imports there, on use). False: one tier, all modules.
    lean_zygotes: bool = True

    def __post_init__(self) -> None:
        if self.module_preset is not None:
            if self.module_preset not in MODULE_PRESETS:
                raise ValueError(f"module_preset must be one of {sorted(MODULE_PRESETS)}, got {self.module_preset!r}")
            extra = () if self.allowed_modules in (None, DEFAULT_ALLOWED_MODULES) else tuple(self.allowed_modules)
            modules = tuple(dict.fromkeys(MODULE_PRESETS[self.module_preset] + extra))
            object.__setattr__(self, "allowed_modules", modules)
        if not (isinstance(self.timeout_s, (int, float)) and 0 < self.timeout_s <= 86400):
            raise ValueError(f"timeout_s must be in (0, 86400], got {self.timeout_s!r}")
        for name in ("memory_limit_bytes", "concurrency", "max_output_bytes", "max_code_bytes",
                     "max_file_bytes", "max_scratch_bytes", "max_scratch_files", "max_open_files", "max_threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.max_open_files < 8:
            raise ValueError(f"max_open_files must be >= 8 (the interpreter needs a few), got {self.max_open_files}")
        if self.max_code_bytes > 1 << 20:
            raise ValueError(f"max_code_bytes must be <= 1 MiB (one pipe), got {self.max_code_bytes}")
        if self.concurrency > 1024:
            raise ValueError(f"concurrency must be <= 1024, got {self.concurrency}")
        if not isinstance(self.layers, frozenset) or not self.layers <= set(LAYERS):
            raise ValueError(f"layers must be a frozenset of {LAYERS}, got {self.layers!r}")
        if self.allowed_modules is not None:
            if isinstance(self.allowed_modules, str) or not all(
                isinstance(m, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", m) for m in self.allowed_modules
            ):
                raise ValueError(f"allowed_modules must be top-level module names, got {self.allowed_modules!r}")
        if not (1000 <= self.uid_base and self.uid_base + self.concurrency < 2**31):
            raise ValueError(f"uid_base must be >= 1000 with room for {self.concurrency} slots, got {self.uid_base}")
        if self.zygotes < 0:
            raise ValueError(f"zygotes must be >= 0, got {self.zygotes}")
        if self.kill_grace_s <= 0:
            raise ValueError(f"kill_grace_s must be positive, got {self.kill_grace_s}")

    @classmethod
    def from_tool_configs(cls, tool_configs: dict[str, Any] = TOOL_CONFIGS, **overrides: Any) -> SandboxConfig:
        """The recipe's ``TOOL_CONFIGS`` dict as a typed config; an optional ``"python_module_preset"``
        key (e.g. ``"recipe"``) selects a module preset."""
        preset = tool_configs.get("python_module_preset")
        if preset is not None and "module_preset" not in overrides:
            overrides["module_preset"] = preset
        return cls(
            timeout_s=float(tool_configs["python_timeout"]),
            memory_limit_bytes=parse_size(tool_configs["python_memory_limit"]),
            concurrency=int(tool_configs["tool_concurrency"]),
            **overrides,
        )


@dataclass(frozen=True, kw_only=True)
class ExecutionResult:
    """One execution as the supervisor judged it. ``stdout``/``stderr`` are capped text."""

    status: str
    stdout: str
    stderr: str
    duration_s: float
    exit_code: int | None = None  # the child's exit status, when it exited
    term_signal: int | None = None  # the signal that ended it, when one did
    detail: str = ""  # the supervisor's reason, one line
    exception: str | None = None  # exception class the snippet ended with (its own claim)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")


def _fmt_bytes(n: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"


def signal_name(signum: object) -> str:
    """A readable name for any signal number (total: never raises). Pure.

    ``9`` -> ``"SIGKILL"``, ``40`` -> ``"SIGRTMIN+6"``, ``999`` -> ``"signal 999"``; a value that
    is not an int reads ``"unknown signal"``.
    """
    if isinstance(signum, bool) or not isinstance(signum, int):
        return "unknown signal"
    if signum in signal.Signals._value2member_map_:
        return signal.Signals(signum).name
    low, high = int(signal.SIGRTMIN), int(signal.SIGRTMAX)
    if low < signum <= high:
        return f"SIGRTMIN+{signum - low}"
    return f"signal {signum}"


def format_result(result: ExecutionResult, config: SandboxConfig) -> str:
    """The text the model sees. Each status reads differently; empty output says so."""
    body = result.stdout + (("\n" if result.stdout and not result.stdout.endswith("\n") else "") + result.stderr if result.stderr else "")
    body = body.rstrip("\n")
    if result.status == "ok":
        return body if body else "[no output: the code ran without printing anything; use print() to show values]"
    if result.status == "error":
        if not body:
            return f"[error: {result.detail or 'the code failed without a message'}]"
        # No exception claimed (e.g. os._exit midway): the output alone would read like ok.
        return body if result.exception is not None or not result.detail else f"{body}\n[error: {result.detail}]"
    if result.status == "forbidden":
        allowed = ", ".join(config.allowed_modules or ())
        return f"{body}\n[forbidden: only these modules can be imported here: {allowed}]".lstrip("\n")
    if result.status == "timeout":
        return f"{body}\n[timeout: execution stopped after {config.timeout_s:g} s]".lstrip("\n")
    if result.status == "memory":
        limit = _fmt_bytes(config.memory_limit_bytes)
        return f"{body}\n[memory limit: execution ran out of its {limit} memory limit]".lstrip("\n")
    if result.status == "output_limit":
        cap = config.max_output_bytes
        return f"{body}\n[output truncated: more than {cap} bytes were printed; execution was stopped]".lstrip("\n")
    name = signal_name(result.term_signal) if result.term_signal else "unknown cause"
    return f"{body}\n[crashed: the interpreter died ({name}): {result.detail}]".lstrip("\n")
