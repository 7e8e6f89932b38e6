"""retool-harness: the ReTool recipe (think with code) as small, verified parts.

One subpackage per area, in layers; a module imports only from its own layer or below (the
import-linter contract in ``pyproject.toml``, checked in CI and by ``tests/unit/test_layout.py``):

    cli                                   the ``retool`` command (``retool.cli:main``)
    harness                               ``retool verify`` checks, benchmarks, the regression gate
    recipes | integrations                the wiring of a run | the miles/slime entry points
    train                                 losses, SFT, GRPO, metrics, the health watch
    rollout | reward | checkpoint         the multi-turn tool loop and engines | score and reward_func
                                          | HF -> Megatron conversion and the rotary-base check
    text | embedded | answer | sandbox | data
                                          the tool-call grammar and masks | the offline default |
                                          answer checking | kernel-isolated execution | source data

This root module holds only what every layer may use: the version, :func:`lazy_exports` (the
package's one lazy-import mechanism: a subpackage's public names resolve on first use, so
importing one module never imports its siblings) and :func:`load_callable` (a user's
``"pkg.module:attr"`` spec, such as a sandbox factory or an answer checker).

Contracts:
- ``__getattr__, __dir__ = lazy_exports(__name__, {"Name": ".module", ...})`` in a subpackage's
  ``__init__`` makes ``from retool.area import Name`` import ``retool.area.module`` when ``Name``
  is first asked for, and caches it on the package. A name that is not exported raises
  ``AttributeError`` naming the package; an export whose module lacks the name raises
  ``ImportError`` naming both. No exported name may equal a submodule's name (the submodule would
  shadow it once imported); ``tests/unit/test_layout.py`` checks that for every subpackage.
- :func:`load_callable` imports the module, walks a dotted attribute path and checks the result
  is callable; any failure is a ``ValueError`` whose message names ``what`` was being loaded, the
  spec and the failing part. It never returns a non-callable.
"""

from __future__ import annotations

import importlib
import sys

TYPE_CHECKING = False  # the zygote imports this module: no typing import at run time
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "lazy_exports", "load_callable"]


def lazy_exports(package: str, names: Mapping[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` whose public ``names`` live in the given modules."""
    table = dict(names)

    def __getattr__(name: str) -> object:
        try:
            where = table[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        module = importlib.import_module(where, package)
        try:
            value = getattr(module, name)
        except AttributeError:
            raise ImportError(f"{package}.{name} is exported from {module.__name__}, which does not define it") from None
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(table))

    return __getattr__, __dir__


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
