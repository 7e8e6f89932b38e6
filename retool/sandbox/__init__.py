"""Kernel-isolated Python execution at fork-server speed: the ReTool code interpreter.

Modules: :mod:`~retool.sandbox.config` (``SandboxConfig``, ``ExecutionResult``, ``format_result``,
``TOOL_CONFIGS``), :mod:`~retool.sandbox.supervisor` (``PythonSandbox``, the trusted asyncio side),
:mod:`~retool.sandbox.verdict` (reading a child's streams and record into a verdict),
:mod:`~retool.sandbox.layout` (scratch dirs and the zygote's start config),
:mod:`~retool.sandbox.zygote` (the fork-server, run as a script), :mod:`~retool.sandbox.isolation`
(seccomp, Landlock, rlimits, uid switch, layer probes), :mod:`~retool.sandbox.naive` (a regex
deny-list, insecure on purpose: the audit's reference), :mod:`~retool.sandbox.bench` (throughput
against spawn-per-call) and :mod:`retool.sandbox.audit` (the escape and limits battery).

Contract
--------
``PythonSandbox(config=None, **overrides)`` (overrides are ``SandboxConfig`` fields, plus the
recipe's spellings ``timeout=`` seconds and ``memory_limit=`` "4GB"/bytes):
``await run(code) -> ExecutionResult`` (frozen; ``status`` in ok, error, timeout, memory,
forbidden, output_limit, crashed), ``await execute_code(code) -> str`` (the model-facing text,
``format_result``), ``await start()`` (optional: start the zygotes now), ``await close()`` /
``async with``, ``layers() -> dict[str, str]``, ``zygote_pids()``. Waiting for a free slot
does not count against the timeout; ``duration_s`` is the execution's own wall time.
Model-written code never makes these raise; bad configuration raises ``ValueError`` at
construction, and a layer that is requested but unavailable on this host raises
``SandboxUnavailableError`` at construction unless ``allow_weaker=True`` (then ``layers()``
says which layers are off, never silently). Sizes: ``parse_size`` takes decimal (kB/KB, MB, GB,
TB = powers of 1000) and binary (KiB, MiB, GiB, TiB = powers of 1024) units; "4GB" is
4,000,000,000 bytes.

Architecture: a trusted asyncio supervisor (this process) and ``zygotes`` fork-servers
(``python -I -S retool/sandbox/zygote.py``, empty environment, allowed modules pre-imported, Landlock
rulesets pre-built, ``gc.freeze()``) per tier: with ``lean_zygotes`` (default) one tier
pre-imports none of the allowed modules, one the standard-library ones (when third-party ones such
as numpy and sympy are allowed too), one all; a snippet forks from the smallest tier holding every
allowed module its source names as a word (any allowed module still imports there on use; the
layers are the same in every tier). Each execution gets one fresh forked child, never reused,
in one of ``concurrency`` slots; slot ``s`` runs as uid/gid ``uid_base + s`` (default 61000+s,
so pick a range no real account uses) with a private scratch dir ``<tmp>/slot-s`` emptied after
every execution. The supervisor owns the wall-clock timeout (SIGKILL of the child's group via
its zygote), the output cap (read side; the child is killed when it passes the cap) and the
verdict.

Threat model: what is covered
-----------------------------
The boundary is the kernel, not Python. Python-level guards (the import allow-list) only give
clear "forbidden" messages; assume the snippet has arbitrary code execution inside its own
process (subclass walks, frame walks and re-exported modules reach ``os`` and raw syscalls).
Against such code, with all layers on, a child cannot: exec a program, fork/clone a process,
create any socket (so no network, no unix-socket IPC), ptrace or read another process' memory,
signal anything but itself (seccomp, a different uid, and Landlock's signal scope), read or write
files outside the read-only interpreter/library directories and its scratch dir (Landlock, DAC
under its own uid: /proc, /etc, the repository, other slots' scratch are all unreadable), mount,
unshare, setns, load BPF, use io_uring/userfaultfd/perf/keyrings, regain privileges
(no-new-privs), exceed its address space (RLIMIT_AS = the zygote's size + ``memory_limit``), CPU
time (RLIMIT_CPU), file size (RLIMIT_FSIZE), open fds (RLIMIT_NOFILE) or threads (RLIMIT_NPROC,
per slot uid), outlive its wall-clock timeout, flood the supervisor (read-side cap), or see a
secret of the parent (the zygote starts from an empty environment and holds no secret; inherited
fds are closed). With the namespace layers (root): each zygote is pid 1 of its own pid namespace
(its death kills every descendant, whatever they did to their parent-death signal), has an empty
network namespace and a private hostname, and sees every mount read-only; each child has its own
IPC namespace and mount namespace with a fresh size-capped tmpfs scratch, so SysV/mqueue objects,
metadata writes and state on the slot dir cannot outlive a run or reach the host (seccomp also
denies SysV, mqueues, inotify/fanotify, AIO, memfd, flock/fcntl locks, xattr writes and utime).
A dead zygote is restarted; its in-flight calls return ``crashed``. Calls are cancel-safe (the
child is killed and the slot reset and returned before the ``CancelledError`` propagates).

What is not covered
-------------------
- Kernel bugs: seccomp/Landlock shrink the attack surface but every allowed syscall is still
  reachable. For hostile multi-tenant use run the whole farm (supervisor + zygotes) inside a
  gVisor sandbox (``runsc --platform=ptrace`` works on this host: ``runsc do`` or a container
  runtime with ``runtime: runsc``) or a Firecracker/Kata microVM per tenant, with no credentials
  inside and egress blocked at the VM/network boundary; this sandbox then limits blast radius
  inside that VM.
- The verdict "ok" is a claim: the snippet's completion record is written by trusted code that
  shares the address space with the snippet, so deliberately hostile code can forge "ok" for
  its own run (e.g. write a record to fd 3 and ``os._exit(0)``). It cannot forge another run's
  result, avoid the timeout/output cap, or change what reaches the model beyond its own output.
  An honest early ``os._exit`` (no record) is reported as an error, never as ok. A per-run nonce
  would live in the same address space (found by a memory walk), so it would add machinery
  without adding a boundary; we chose a plain claim and this note instead. Reward should come
  from the final answer, never from the tool status.
- Without the ``mount`` layer, disk use in the scratch dir is bounded per file (RLIMIT_FSIZE) and
  by the timeout, not by a quota. Memory is bounded by RLIMIT_AS plus the scratch tmpfs, not by a
  cgroup ``memory.max`` (not used: the cgroup v2 memory controller is absent on hybrid hosts).
- seccomp is a default-deny allow-list (``retool.sandbox.seccomp``): a library that needs a call
  off the list (sqlite3 on a file, asyncio, subprocess) fails in the snippet; futexes on shared
  read-only library mappings remain a covert channel between concurrent runs.
- Timing side channels, CPU contention between slots, and (when ``uid`` is off, e.g. not root)
  signals between siblings of the same uid rely on the remaining layers; ``layers()`` says which.
- Without ``seccomp`` a child can fork; the group kill then catches descendants only if they stay
  in its session.
- Slot uids are per sandbox, not per host: two sandboxes on one host (e.g. several rollout
  workers) must get disjoint ``uid_base`` ranges, or same-numbered slots share a uid (seccomp and
  Landlock still stop signals and cross-scratch access, but RLIMIT_NPROC is then shared).
- Non-root hosts: the ``uid`` layer needs root (CAP_SETUID); without it construction refuses
  unless ``allow_weaker=True``. User namespaces are not used as a substitute here.
- The interpreter must not hold secrets on its import path; lazily imported library modules are
  readable (read-only) by design, and so are the system library dirs and ``/etc/ld.so.cache``.
"""

from retool import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("DEFAULT_ALLOWED_MODULES", "MODULE_PRESETS", "STATUSES", "TOOL_CONFIGS", "ExecutionResult", "SandboxConfig",
                     "format_result", "parse_size"), ".config"),
    "PythonSandbox": ".supervisor", "SandboxUnavailableError": ".supervisor",
    "LAYERS": ".isolation", "probe_layers": ".isolation",
    "NaiveSandbox": ".naive",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
