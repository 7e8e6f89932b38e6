"""The bait the auditor plants per technique, and its removal.

Contract: a ``Bait`` holds one technique's canary file (a random secret, mode 0600, in a fresh
canary dir, also open on an inheritable fd), its secret environment variable (set in the
auditor's own process), its decoy ``sleep`` process (another secret in its argv and environment,
SIGKILLed when the auditor dies), its loopback TCP and UDP listeners on random 127.0.0.1 ports
(whatever they receive lands in ``hits``), and what was seen of it (``effects``: effect ->
evidence, deduplicated by ``add``). ``BaitMixin`` is a part of ``retool.sandbox.audit``'s auditor:
``setup()`` plants one bait per technique; ``teardown()`` undoes whatever part of it exists
(listeners closed, env vars unset, fds closed, decoys killed and reaped, leaked processes killed,
marker files and the canary dir removed). It uses the auditor's ``techniques``, ``run_marker``,
``env_prefix``, ``canary_dir``, ``baits``, ``by_name`` and ``servers``, and the judge's
``_kill_leaks`` and ``_scan_files`` (``retool.sandbox.audit.judge``).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
from dataclasses import dataclass, field
from typing import Any

from retool.sandbox.audit.technique import Technique

__all__ = ["Bait", "BaitMixin"]


@dataclass(kw_only=True)
class Bait:
    """One technique's bait (canary, secrets, decoy, listener ports) and what was seen of it."""

    index: int
    technique: Technique
    marker: str
    canary_path: str
    canary_bytes: bytes
    canary_secret: str
    env_name: str
    env_secret: str
    decoy_secret: str
    decoy: subprocess.Popen | None = None
    tcp_port: int = 0
    udp_port: int = 0
    hits: list[bytes] = field(default_factory=list)
    fd: int = -1
    decoy_reported: bool = False
    canary_reported: bool = False
    hits_reported: int = 0
    effects: dict[str, list[str]] = field(default_factory=dict)
    error: str = ""
    skipped: str = ""
    duration_s: float = 0.0
    output_head: str = ""

    def add(self, effect: str, evidence: str) -> None:
        found = self.effects.setdefault(effect, [])
        if evidence not in found:
            found.append(evidence)


def _die_with_parent() -> None:
    """In a decoy, before exec: SIGKILL when the auditor goes, even if it never reaches teardown."""
    import ctypes  # noqa: PLC0415

    ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL


class BaitMixin:
    """Planting and removing the bait; a part of ``retool.sandbox.audit``'s auditor (see the contract)."""

    # --- bait ----------------------------------------------------------------------------------
    async def setup(self) -> None:
        loop = asyncio.get_running_loop()
        sleep_bin = "/bin/sleep" if os.path.exists("/bin/sleep") else "/usr/bin/sleep"
        for i, tech in enumerate(self.techniques):
            marker = f"{self.run_marker}-t{i:03d}"
            secret = secrets.token_hex(16)
            path = os.path.join(self.canary_dir, f"canary-{i:03d}")
            content = f"retool canary {secret}\n".encode()
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as fh:
                fh.write(content)
            bait = Bait(index=i, technique=tech, marker=marker, canary_path=path, canary_bytes=content,
                         canary_secret=secret,
                         env_name=f"{self.env_prefix}{i:03d}", env_secret=secrets.token_hex(16),
                         decoy_secret=secrets.token_hex(16))
            self.baits.append(bait)  # from here on, teardown undoes whatever part of it exists
            self.by_name[tech.name] = bait
            os.environ[bait.env_name] = bait.env_secret
            bait.fd = os.open(path, os.O_RDWR)
            os.set_inheritable(bait.fd, True)
            bait.decoy = subprocess.Popen(
                [f"retool-decoy-{bait.decoy_secret}", "3600"], executable=sleep_bin,
                env={"RETOOL_DECOY_SECRET": bait.decoy_secret}, start_new_session=True,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )

            async def on_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, bait: Bait = bait) -> None:
                bait.hits.append(b"tcp-connect")
                try:
                    bait.hits.append(await asyncio.wait_for(reader.read(4096), 1.0))
                except (TimeoutError, ConnectionError):
                    pass
                writer.close()

            server = await asyncio.start_server(on_tcp, "127.0.0.1", 0)
            self.servers.append(server)
            bait.tcp_port = server.sockets[0].getsockname()[1]

            class _Udp(asyncio.DatagramProtocol):
                def datagram_received(self, data: bytes, addr: Any, bait: Bait = bait) -> None:
                    bait.hits.append(b"udp:" + data)

            transport, _ = await loop.create_datagram_endpoint(_Udp, local_addr=("127.0.0.1", 0))
            bait.udp_port = transport.get_extra_info("sockname")[1]
            self.servers.append(transport)

    async def teardown(self) -> None:
        for server in self.servers:
            server.close()
            if isinstance(server, asyncio.Server):
                await server.wait_closed()
        for bait in self.baits:
            os.environ.pop(bait.env_name, None)
            if bait.fd >= 0:
                os.close(bait.fd)
            if bait.decoy is not None and bait.decoy.poll() is None:
                bait.decoy.kill()
            if bait.decoy is not None:
                bait.decoy.wait()
        self._kill_leaks()
        self._scan_files(remove=True)
        for name in os.listdir(self.canary_dir):
            os.unlink(os.path.join(self.canary_dir, name))
        os.rmdir(self.canary_dir)
