"""The service's settings: loopback by default, a token for anything else, sizes checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from retool.sandbox.service.config import ServiceConfig, is_loopback, read_token


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.2.1", "::1", "localhost"])
def test_loopback_hosts_are_loopback(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "example.org", ""])
def test_other_hosts_are_not(host: str) -> None:
    assert not is_loopback(host)


def test_the_default_binds_loopback_without_a_token() -> None:
    assert ServiceConfig().host == "127.0.0.1" and ServiceConfig().token is None


def test_a_bind_beyond_loopback_without_a_token_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a token"):
        ServiceConfig(host="0.0.0.0")
    assert ServiceConfig(host="0.0.0.0", token="x" * 16).host == "0.0.0.0"


def test_a_short_token_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        ServiceConfig(token="short")


@pytest.mark.parametrize("field", ["max_request_bytes", "max_queue", "max_fetch_bytes", "retry_after_s"])
def test_sizes_must_be_positive_ints(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ServiceConfig(**{field: 0})


def test_the_token_is_the_first_line_of_its_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("  " + "z" * 20 + "  \nsecond line\n")
    assert read_token(str(path)) == "z" * 20


def test_a_short_or_missing_token_file_is_refused(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_text("abc\n")
    with pytest.raises(ValueError, match="at least 16"):
        read_token(str(short))
    with pytest.raises(ValueError, match="cannot read"):
        read_token(str(tmp_path / "absent"))
