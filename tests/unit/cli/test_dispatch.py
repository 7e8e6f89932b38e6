"""The retool dispatcher: help, version, unknown commands."""

from __future__ import annotations

import pytest

from retool.cli import COMMANDS, main


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)


def test_no_arguments_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "commands:" in capsys.readouterr().out


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("retool-harness ")


def test_unknown_command_is_an_error_naming_it(capsys):
    with pytest.raises(SystemExit):
        main(["frobnicate"])
    assert "'frobnicate'" in capsys.readouterr().err
