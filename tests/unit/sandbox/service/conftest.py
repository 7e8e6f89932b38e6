"""A real ``SandboxService`` on loopback, in a thread of its own (so the sync ``sandbox-fusion``
client, which blocks, can call it from the test), over a real ``PythonSandbox`` on the layers this
host has. Slot uids start at 63000 so these sandboxes never share uids with other tests' ones."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from retool.sandbox import PythonSandbox
from retool.sandbox.service.presets import preset_config
from retool.sandbox.service.server import SandboxService, ServiceConfig
from tests.capabilities import sandbox_options

UID_BASE = 63000


class Served:
    """A service running in a background event loop; ``call(coro_fn)`` runs on that loop."""

    def __init__(self, service: SandboxService, loop: asyncio.AbstractEventLoop) -> None:
        self.service, self.loop = service, loop
        self.url = service.url

    def call(self, fn: Any, timeout_s: float = 60.0) -> Any:
        return asyncio.run_coroutine_threadsafe(fn(), self.loop).result(timeout_s)


@contextmanager
def serve(preset: str = "retool", *, uid_offset: int = 0, service: dict[str, Any] | None = None,
          **sandbox: Any) -> Iterator[Served]:
    config = preset_config(preset, **{"timeout_s": 5.0, "memory_limit_bytes": 512 * 10**6, "concurrency": 4,
                                      "uid_base": UID_BASE + uid_offset, **sandbox_options(), **sandbox})
    box = PythonSandbox(config)
    svc = SandboxService(box, ServiceConfig(port=0, **(service or {})))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(svc.start(), loop).result(60)
        yield Served(svc, loop)
    finally:
        async def down() -> None:
            try:
                await svc.stop()
            finally:
                await box.close()

        asyncio.run_coroutine_threadsafe(down(), loop).result(120)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture(scope="module")
def fusion() -> Iterator[Served]:
    """The ``fusion`` preset (scripts, any stdlib module), 5 s, 512 MB, 4 at once."""
    with serve("fusion", uid_offset=0) as served:
        yield served


@pytest.fixture(scope="module")
def retool_farm() -> Iterator[Served]:
    """The ``retool`` preset (the recipe's sandbox), 5 s, 512 MB, 4 at once."""
    with serve("retool", uid_offset=8) as served:
        yield served
