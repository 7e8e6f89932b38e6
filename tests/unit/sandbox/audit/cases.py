"""Shared cases of the audit tests (not a test module): technique lookup by name, a bait with
known fake secrets for rendering, and the effects the naive sandbox must show per technique."""

from __future__ import annotations

from retool.sandbox.audit import TECHNIQUES, Bait, Technique

TECHNIQUE_NAMES = [t.name for t in TECHNIQUES]

NAIVE_EXPECTED: dict[str, tuple[str, ...]] = {
    "open_canary_direct": ("canary_read",),
    "sysv_ipc_objects": ("ipc_leak", "channel"),
    "posix_mqueue": ("ipc_leak", "channel"),
    "inotify_fanotify_host_dirs": ("channel",),
    "metadata_outside_scratch": ("channel",),
    "flock_host_file": ("channel",),
    "aio_context_exhaustion": ("channel",),
    "memfd_uncounted_memory": ("channel",),
    "clear_parent_death_signal": ("channel",),
    "os_system_import_list": ("canary_read", "env_leak"),
    "socket_tcp_connect": ("network",),
    "socket_udp_sendto": ("network",),
    "ctypes_raw_socket": ("network",),
    "subclass_walk_wrap_close": ("canary_read", "canary_write", "env_leak", "signal", "network", "file_leak"),
    "reexport_random_os": ("canary_read", "env_leak"),
    "format_string_traversal": ("env_leak",),
    "nfkc_fullwidth_identifiers": ("canary_read", "env_leak"),
    "write_canary_direct": ("canary_write",),
    "unlink_canary": ("canary_write",),
    "open_etc_passwd": ("host_file",),
    "tmp_and_shm_files": ("file_leak",),
    "proc_environ_cmdline_scan": ("proc_leak",),
    "proc_auditor_memory": ("env_leak",),
    "kill_decoy": ("signal",),
    "ptrace_decoy": ("signal",),
    "fork_survivor": ("process_leak", "network"),
    "subprocess_module": ("process_leak", "canary_read"),
    "huge_output": ("output_flood",),
}


def techniques_named(*names: str) -> tuple[Technique, ...]:
    by_name = {t.name: t for t in TECHNIQUES}
    return tuple(by_name[n] for n in names)


def fake_bait(i: int, technique: Technique) -> Bait:
    return Bait(index=i, technique=technique, marker=f"retool-audit-test-t{i:03d}", canary_path=f"/tmp/c-{i}",
                canary_bytes=b"retool canary " + b"a" * 32, canary_secret="a" * 32, env_name="RETOOL_AUDIT_X",
                env_secret="b" * 32, decoy_secret="c" * 32, tcp_port=1234, udp_port=1235)
