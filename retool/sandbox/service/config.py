"""The service's own settings (the sandbox's are a ``SandboxConfig``): where it listens, who may call it.

Contract: ``ServiceConfig`` is frozen and validated at construction (``ValueError`` naming the
value): a ``host`` that is not loopback needs a ``token`` (at least 16 characters); sizes and
counts are positive ints; ``port`` 0 picks a free port. ``is_loopback(host)`` is pure:
``localhost`` and every loopback address (127.0.0.0/8, ::1) are loopback, anything else
(a name, 0.0.0.0, a LAN address) is not. ``read_token(path)``: the token on the first line of a
file (at least 16 characters), else ``ValueError`` naming the file.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, kw_only=True)
class ServiceConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    max_request_bytes: int = 2 * 2**20
    max_queue: int = 256
    io_timeout_s: float = 60.0
    drain_timeout_s: float = 30.0
    max_fetch_bytes: int = 256 * 1024
    retry_after_s: int = 1
    max_connections: int = 1024

    def __post_init__(self) -> None:
        if not is_loopback(self.host) and not self.token:
            raise ValueError(f"binding to {self.host!r} (not loopback) needs a token (--token-file)")
        if self.token is not None and len(self.token) < 16:
            raise ValueError("the token must be at least 16 characters")
        for name in ("max_request_bytes", "max_queue", "max_fetch_bytes", "retry_after_s", "max_connections"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not 0 <= self.port < 65536:
            raise ValueError(f"port must be in [0, 65535], got {self.port}")
        if self.io_timeout_s <= 0 or self.drain_timeout_s < 0:
            raise ValueError(f"io_timeout_s must be > 0 and drain_timeout_s >= 0, got {self.io_timeout_s}, {self.drain_timeout_s}")


def read_token(path: str) -> str:
    """The token on the first line of ``path``; ValueError naming the file otherwise."""
    try:
        with open(path, encoding="utf-8") as fh:
            token = fh.readline().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read token file {path!r}: {exc}") from None
    if len(token) < 16:
        raise ValueError(f"token file {path!r}: the token must be at least 16 characters")
    return token


__all__ = ["ServiceConfig", "is_loopback", "read_token"]
