"""Flags derived from config dataclasses: types, defaults and help come from the config, and drift is refused."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Literal

import pytest

from retool.cli.flags import ConfigFlag, add_config_flags, config_from_flags, flag_defaults


@dataclass(frozen=True, kw_only=True)
class Inner:
    rate: float = field(default=0.5, metadata={"help": "how fast"})
    mode: Literal["a", "b"] = "a"


@dataclass(frozen=True, kw_only=True)
class Outer:
    count: int = field(default=3, metadata={"help": "how many"})
    name: str | None = None
    verbose: bool = True
    inner: Inner = field(default_factory=lambda: Inner(rate=0.25))
    required: int = 7


@dataclass(frozen=True, kw_only=True)
class Other:
    count: int = 4


FLAGS = (
    ConfigFlag("--count", "count"),
    ConfigFlag("--name", "name"),
    ConfigFlag("--verbose", "verbose"),
    ConfigFlag("--rate", "inner.rate"),
    ConfigFlag("--mode", "inner.mode"),
)


def _parser(**kwargs: object) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="t", exit_on_error=False)
    add_config_flags(parser, {Outer: FLAGS}, **kwargs)
    return parser


def test_unset_flags_build_the_configs_own_defaults() -> None:
    assert config_from_flags(Outer, _parser().parse_args([]), FLAGS) == Outer()


def test_a_nested_default_comes_from_the_fields_default_factory() -> None:
    assert flag_defaults(Outer, FLAGS)["--rate"] == 0.25


def test_flags_set_nested_fields_and_keep_the_others() -> None:
    args = _parser().parse_args(["--count", "5", "--rate", "0.9", "--name", "x"])
    config = config_from_flags(Outer, args, FLAGS)
    assert config.count == 5 and config.name == "x" and config.inner == Inner(rate=0.9, mode="a")


def test_a_literal_field_becomes_choices_and_rejects_others() -> None:
    parser = _parser()
    assert config_from_flags(Outer, parser.parse_args(["--mode", "b"]), FLAGS).inner.mode == "b"
    with pytest.raises(argparse.ArgumentError, match="invalid choice"):
        parser.parse_args(["--mode", "c"])


def test_a_bool_field_gets_a_negative_form() -> None:
    assert config_from_flags(Outer, _parser().parse_args(["--no-verbose"]), FLAGS).verbose is False


def test_an_int_flag_rejects_text_naming_the_value() -> None:
    with pytest.raises(argparse.ArgumentError, match="'many'"):
        _parser().parse_args(["--count", "many"])


def test_help_shows_the_fields_help_and_default() -> None:
    text = _parser().format_help()
    assert "how many (default: 3)" in text and "how fast (default: 0.25)" in text


def test_fixed_fields_win_over_flags() -> None:
    args = _parser().parse_args(["--count", "5"])
    assert config_from_flags(Outer, args, FLAGS, fixed={"count": 9, "inner.mode": "b"}) == Outer(
        count=9, inner=Inner(rate=0.25, mode="b"))


def test_unset_absent_leaves_unset_flags_off_the_namespace() -> None:
    args = _parser(unset_absent=True).parse_args(["--count", "5"])
    assert vars(args) == {"count": 5}
    assert config_from_flags(Outer, args, FLAGS) == Outer(count=5)


def test_a_shared_flag_with_different_defaults_is_refused_naming_both() -> None:
    parser = argparse.ArgumentParser()
    with pytest.raises(ValueError, match=r"--count .*Outer.*3.*Other.count.*4"):
        add_config_flags(parser, {Outer: (ConfigFlag("--count", "count"),), Other: (ConfigFlag("--count", "count"),)})


def test_a_shared_flag_with_equal_defaults_is_added_once() -> None:
    @dataclass(frozen=True)
    class Same:
        count: int = 3

    parser = argparse.ArgumentParser()
    add_config_flags(parser, {Outer: (ConfigFlag("--count", "count"),), Same: (ConfigFlag("--count", "count"),)})
    args = parser.parse_args(["--count", "2"])
    assert config_from_flags(Same, args, (ConfigFlag("--count", "count"),)).count == 2


def test_a_path_that_names_no_field_is_refused_when_the_parser_is_built() -> None:
    with pytest.raises(TypeError, match=r"Outer has no field 'inner.speed'"):
        add_config_flags(argparse.ArgumentParser(), {Outer: (ConfigFlag("--speed", "inner.speed"),)})


def test_a_field_without_a_flag_form_is_refused() -> None:
    with pytest.raises(TypeError, match=r"Outer.inner: type .* has no flag form"):
        add_config_flags(argparse.ArgumentParser(), {Outer: (ConfigFlag("--inner", "inner"),)})
