"""Command-line flags derived from the config dataclasses: one source of defaults and help text.

Contract:
- A :class:`ConfigFlag` names a flag (``"--n-samples"``) and the config field it sets, as a dotted
  path through nested dataclass fields (``"grpo.n_samples_per_prompt"`` of ``RLConfig``).
- :func:`add_config_flags` ``(parser, {Config: flags, ...})`` adds each flag once, with the
  field's type (``int``, ``float``, ``str``, ``X | None``, ``Literal[...]`` as choices, ``bool``
  as ``--x/--no-x``), the field's default, and the help text from the field's
  ``metadata["help"]`` (the flag's own ``help`` only where the field has none) followed by the
  default (unless the help text already says what the default is). A flag shared by several configs (``--seed``) must have the same default in each:
  a disagreement raises ``ValueError`` naming the flag, both configs and both defaults, so the
  CLI and the configs cannot drift apart.
- With ``unset_absent=True`` an unset flag leaves no attribute on the parsed namespace (the help
  still shows the config's default), so a command can layer flags over a config file.
- :func:`config_from_flags` ``(Config, args, flags, fixed={path: value})`` builds the config from
  the parsed flags (nested configs through ``dataclasses.replace`` of the field's default) plus
  the ``fixed`` fields the command sets itself (fixed wins). A flag absent from ``args`` keeps
  the config's default. A value the config rejects raises its ``ValueError``.
- :func:`flag_defaults` gives ``{flag: default}`` of a config, for docs and tests.

A path that names no field, or a field whose type has no flag form, raises ``TypeError`` naming the
config and the path when the parser is built, not when a user runs the command.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ConfigFlag", "add_config_flags", "config_from_flags", "flag_defaults"]

_MISSING = dataclasses.MISSING


@dataclass(frozen=True)
class ConfigFlag:
    flag: str  # "--n-samples"
    path: str  # "grpo.n_samples_per_prompt": a field of the config, dotted through nested configs
    help: str | None = None  # used only where the field has no metadata["help"]
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class _Resolved:
    annotation: Any
    default: Any
    help: str | None


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not _MISSING:
        return f.default
    if f.default_factory is not _MISSING:
        return f.default_factory()
    return _MISSING


def _resolve(config: type, path: str) -> _Resolved:
    owner, default_owner = config, None
    parts = path.split(".")
    for depth, name in enumerate(parts):
        if not dataclasses.is_dataclass(owner):
            raise TypeError(f"{config.__name__}: {path!r}: {'.'.join(parts[:depth])} is not a dataclass")
        fields = {f.name: f for f in dataclasses.fields(owner)}
        if name not in fields:
            raise TypeError(f"{config.__name__} has no field {path!r} ({owner.__name__} has no {name!r})")
        f = fields[name]
        hints = typing.get_type_hints(owner)
        default = _field_default(f) if default_owner is None else getattr(default_owner, name)
        if depth == len(parts) - 1:
            return _Resolved(hints[name], default, f.metadata.get("help"))
        owner, default_owner = hints[name], default
    raise AssertionError("unreachable")


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(annotation)) == 2:
            return args[0], True
    return annotation, False


def _argument_kwargs(config: type, spec: ConfigFlag, resolved: _Resolved, unset_absent: bool) -> dict[str, Any]:
    if resolved.default is _MISSING:
        raise TypeError(f"{config.__name__}.{spec.path} has no default: it cannot become the optional flag {spec.flag}")
    base, _optional = _unwrap_optional(resolved.annotation)
    text = resolved.help or spec.help or ""
    kwargs: dict[str, Any] = {"dest": spec.dest, "default": argparse.SUPPRESS if unset_absent else resolved.default}
    if base is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif typing.get_origin(base) is Literal:
        kwargs["choices"] = list(typing.get_args(base))
        kwargs["type"] = type(kwargs["choices"][0])
    elif base in (int, float, str):
        kwargs["type"] = base
    else:
        raise TypeError(f"{config.__name__}.{spec.path}: type {resolved.annotation!r} has no flag form")
    if spec.metavar:
        kwargs["metavar"] = spec.metavar
    shown = text if "default" in text else f"{text} (default: {resolved.default})".strip()
    kwargs["help"] = shown.replace("%", "%%")
    return kwargs


def add_config_flags(parser: argparse.ArgumentParser, specs: Mapping[type, Sequence[ConfigFlag]], *,
                     unset_absent: bool = False) -> None:
    """Add every flag of every config once; shared flags must agree on the default."""
    seen: dict[str, tuple[type, Any]] = {}
    for config, flags in specs.items():
        for spec in flags:
            resolved = _resolve(config, spec.path)
            if spec.flag in seen:
                other, other_default = seen[spec.flag]
                if other_default != resolved.default:
                    raise ValueError(f"flag {spec.flag} sets {other.__name__} (default {other_default!r}) and "
                                     f"{config.__name__}.{spec.path} (default {resolved.default!r}): the defaults differ")
                continue
            seen[spec.flag] = (config, resolved.default)
            parser.add_argument(spec.flag, **_argument_kwargs(config, spec, resolved, unset_absent))


def _set_path(values: dict[str, Any], path: str, value: Any) -> None:
    head, _, rest = path.partition(".")
    if not rest:
        values[head] = value
        return
    _set_path(values.setdefault(head, {}), rest, value)


def _build(config: type, values: Mapping[str, Any], base: Any = None) -> Any:
    hints = typing.get_type_hints(config)
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, dict):
            nested_default = getattr(base, name) if base is not None else _field_default(
                next(f for f in dataclasses.fields(config) if f.name == name))
            kwargs[name] = _build(hints[name], value, nested_default)
        else:
            kwargs[name] = value
    return dataclasses.replace(base, **kwargs) if base is not None else config(**kwargs)


def config_from_flags(config: type, args: argparse.Namespace, flags: Sequence[ConfigFlag],
                      fixed: Mapping[str, Any] | None = None) -> Any:
    """The config with each flag's parsed value at its path, and ``fixed`` fields as given."""
    values: dict[str, Any] = {}
    for spec in flags:
        if hasattr(args, spec.dest):
            _set_path(values, spec.path, getattr(args, spec.dest))
    for name, value in (fixed or {}).items():
        _set_path(values, name, value)
    return _build(config, values)


def flag_defaults(config: type, flags: Sequence[ConfigFlag]) -> dict[str, Any]:
    return {spec.flag: _resolve(config, spec.path).default for spec in flags}
