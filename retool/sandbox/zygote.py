"""The fork-server ("zygote") process: started as ``python -I -S zygote.py CONFIG_JSON CONTROL_FD``.

Contract: trusted code, standard library plus ``retool.sandbox.isolation`` only. It runs with an empty
environment (only ``*_NUM_THREADS=1`` for numerical libraries), pre-imports the allowed modules,
pre-builds the Landlock rulesets of its slots, calls ``gc.freeze()``, moves its heap onto huge
pages (``retool.sandbox.hugepages``, so a fork copies fewer page-table entries) and then serves requests
from the supervisor over a SOCK_SEQPACKET control socket:

- a run message (``retool.sandbox.wire``: fixed-size binary, id N and slot S) with four fds attached (code pipe read end, stdout,
  stderr and record pipe write ends): fork one fresh child (libc's bare ``_Fork``, without the
  interpreter's at-fork handlers: ``retool.sandbox.forking``; no reply: the next message about
  it is its exit).
- a kill message for id N: SIGKILL that child's process group if it has not been reaped.
- on each reaped child: an exited message (id, pid, the raw wait status); a datagram that is not
  one of these is ignored (its fds closed).
- EOF on the control socket: kill every child, reap, exit.

The child (never reused) reads its code from fd 0, then, before running it: new session,
fds 0-3 only, rlimits, per-slot uid, parent-death SIGKILL, no-new-privs, Landlock, seccomp,
a fresh line-buffered stdout/stderr, an import guard (convenience only) and finally the snippet.
It writes one JSON record to fd 3 when the snippet ends; that record is written by code that
shares the address space with the snippet, so the supervisor treats it as a claim only (see the
threat model in ``retool.sandbox``).
"""

import _signal
import fcntl
import gc
import json
import os
import select
import signal
import socket
import sys

SNIPPET_FILENAME = "<snippet>"
_OK_RECORD = b'{"status": "ok"}'  # the common record, not encoded anew by every child


class ForbiddenImport(ImportError):
    """Raised by the import guard for a module outside the allow-list."""


def _run_snippet(source, cfg, allowed):
    """Run ``source`` as ``__main__``; return the record dict. Only called in the child."""
    import ast
    import builtins
    import linecache
    import traceback

    namespace = {"__name__": "__main__", "__builtins__": builtins}
    if allowed is not None:
        original_import = builtins.__import__

        def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
            if globals is namespace and level == 0 and name.partition(".")[0] not in allowed:
                raise ForbiddenImport(f"module {name!r} is not allowed in this sandbox", name=name)
            return original_import(name, globals, locals, fromlist, level)

        builtins.__import__ = guarded_import
    linecache.cache[SNIPPET_FILENAME] = (len(source), None, source.splitlines(True), SNIPPET_FILENAME)
    try:
        tree = ast.parse(source, SNIPPET_FILENAME, "exec")
        last = None
        if cfg["print_last_expression"] and tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, SNIPPET_FILENAME, "exec"), namespace)
        if last is not None:
            value = eval(compile(last, SNIPPET_FILENAME, "eval"), namespace)
            if value is not None:
                print(repr(value))
        return {"status": "ok"}
    except SystemExit as exc:
        if exc.code is None or exc.code == 0:
            return {"status": "ok"}
        error, status = exc, "error"
    except ForbiddenImport as exc:
        error, status = exc, "forbidden"
    except MemoryError as exc:
        error, status = exc, "memory"
    except BaseException as exc:  # the snippet's own failure, reported not raised
        error, status = exc, "error"
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != SNIPPET_FILENAME:
        tb = tb.tb_next
    try:
        report = traceback.TracebackException(type(error), error, tb)
        own = __file__
        report.stack = traceback.StackSummary.from_list([f for f in report.stack if f.filename != own])
        text = "".join(report.format())
    except BaseException:
        text = f"{type(error).__name__}\n"
    try:
        sys.stderr.write(text)
    except BaseException:
        pass
    return {"status": status, "exception": type(error).__name__}


def _child(cfg, slot, fds, ruleset_fd, zygote_pid, isolation, seccomp, namespaces, forking):
    """Everything between fork and the snippet. Never returns."""
    try:
        layers = cfg["layers"]
        os.setsid()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        signal.set_wakeup_fd(-1)
        _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)  # not signal.signal: its enum lookup of the old handler raises
        chunks = []
        while True:
            chunk = os.read(0, 1 << 16)  # a buffer under malloc's mmap threshold: no mmap/mremap per child
            if not chunk:
                break
            chunks.append(chunk)
        source = b"".join(chunks).decode("utf-8", "replace")
        if cfg["child_unshare"]:
            namespaces.unshare(cfg["child_unshare"])
        if "mount" in layers:  # a fresh tmpfs for this run only, in this child's mount namespace
            owner = slot["uid"] if "uid" in layers else os.getuid()
            namespaces.mount_scratch(slot["scratch"], cfg["scratch_bytes"], cfg["scratch_inodes"], owner, owner)
        os.chdir(slot["scratch"])
        if "rlimits" in layers:
            isolation.apply_rlimits({int(k): v for k, v in cfg["rlimits"].items()})
        if "uid" in layers:
            isolation.switch_uid(slot["uid"], slot["uid"])
        isolation.set_parent_death_signal(signal.SIGKILL)
        if os.getppid() != zygote_pid:
            os._exit(70)
        if "no_new_privs" in layers or "landlock" in layers or "seccomp" in layers:
            isolation.set_no_new_privs()
        if ruleset_fd is not None:
            isolation.landlock_restrict_self(ruleset_fd)
        low = 4
        for fd in cfg["keep_fds"]:  # sorted; the path fds of _reachable_sys_path
            os.closerange(low, fd)
            low = fd + 1
        os.closerange(low, 1 << 30)
        if seccomp is not None:
            seccomp.install(os.getpid())
        forking.reseed_in_child()
    except BaseException as exc:  # setup failed: say so on stderr, exit without a record
        try:
            os.write(2, f"sandbox setup failed: {exc!r}\n".encode())
        finally:
            os._exit(71)
    allowed = frozenset(cfg["allowed_modules"]) if cfg["allowed_modules"] is not None else None
    record = _run_snippet(source, cfg, allowed)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    try:
        os.write(3, _OK_RECORD if record == {"status": "ok"} else json.dumps(record).encode())
    except BaseException:
        pass
    os._exit(0)


def _kill(pid):
    """SIGKILL the child's process group (once it has called setsid) and the child itself."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except OSError:
            pass


def serve(cfg, control_fd):
    from retool.sandbox import forking, hugepages, isolation, namespaces, paths, wire

    if "pid" in cfg["layers"]:
        forking.enter_pid_namespace(control_fd, isolation, namespaces)
    namespaces.enter_namespaces(cfg["layers"])
    cfg["child_unshare"] = namespaces.child_flags(cfg["layers"])
    os.environ.clear()
    for name in cfg["preimport"]:
        __import__(name)
    import ast, linecache, traceback  # noqa: E401,F401  (the child's runner needs them)
    cfg["keep_fds"] = []
    if "uid" in cfg["layers"]:
        paths.reachable_sys_path(cfg)

    rulesets = {}
    if "landlock" in cfg["layers"]:
        abi = isolation.landlock_abi()
        read_paths = paths.read_paths(cfg)
        for slot in cfg["slots"]:
            # With "mount" the scratch is a tmpfs mounted per child over the slot dir: Landlock skips
            # a covered mount point, so the write rule sits on the parent (the rest of it is read-only).
            write = os.path.dirname(slot["scratch"]) if "mount" in cfg["layers"] else slot["scratch"]
            fd = isolation.landlock_ruleset(read_paths, (write,), abi)
            rulesets[slot["slot"]] = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 64)  # clear of fds 0-3
            os.close(fd)
    seccomp = isolation.ChildSeccomp() if "seccomp" in cfg["layers"] else None
    fork = forking.fork_function()  # no at-fork handlers: see retool.sandbox.forking
    slots = {slot["slot"]: slot for slot in cfg["slots"]}
    sock = socket.socket(fileno=control_fd)
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The zygote writes to fds 1/2 only in the warm-up (to /dev/null: stderr is swapped for stdout
    # there); children inherit these empty, line-buffered streams.
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(encoding="utf-8", errors="backslashreplace", line_buffering=True)
    allowed = frozenset(cfg["allowed_modules"]) if cfg["allowed_modules"] is not None else None
    forking.warm_up(_run_snippet, cfg, allowed)
    with open("/proc/self/status", encoding="ascii") as status:
        vm_kib = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    if "rlimits" in cfg["layers"]:
        # RLIMIT_AS counts what the child inherits, so the budget is added on top of our size.
        cfg["rlimits"][str(cfg["rlimit_as_id"])] = vm_kib * 1024 + cfg["memory_limit_bytes"]
    running = {}  # pid -> id
    pids = {}  # id -> pid
    zygote_pid = os.getpid()
    if "seccomp" in cfg["layers"]:
        isolation.set_no_new_privs()
        isolation.install_seccomp(isolation.zygote_seccomp_program())
    gc.collect()
    gc.freeze()
    huge_bytes = hugepages.collapse_heap()  # fewer page-table entries for each fork to copy
    sock.send(json.dumps({"ev": "ready", "vm_bytes": vm_kib * 1024, "pid": zygote_pid, "huge_bytes": huge_bytes}).encode())
    while True:
        try:
            ready, _, _ = select.select([sock, wake_r], [], [])
        except InterruptedError:
            continue
        if wake_r in ready:
            try:
                while os.read(wake_r, 4096):
                    pass
            except BlockingIOError:
                pass
            while running:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                exec_id = running.pop(pid, None)
                if exec_id is not None:
                    pids.pop(exec_id, None)
                    sock.send(wire.exited_message(exec_id, pid, status))
        if sock in ready:
            msg, fds, _, _ = socket.recv_fds(sock, 65536, 4)
            if not msg:
                break
            req = wire.parse_request(msg)
            if req is not None and req[0] == "run" and len(fds) == 4:
                _, exec_id, slot = req
                try:
                    pid = fork()
                except OSError:  # out of processes or memory: report a failed setup
                    for fd in fds:
                        os.close(fd)
                    sock.send(wire.exited_message(exec_id, 0, 71 << 8))
                    continue
                if pid == 0:
                    sock.close()
                    _child(cfg, slots[slot], fds, rulesets.get(slot), zygote_pid, isolation, seccomp, namespaces, forking)
                for fd in fds:
                    os.close(fd)
                running[pid] = exec_id
                pids[exec_id] = pid
                continue
            for fd in fds:  # fds only come with a run
                os.close(fd)
            if req is not None and req[0] == "kill" and req[1] in pids:
                _kill(pids[req[1]])
    for pid in running:
        _kill(pid)
    for pid in running:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


if __name__ == "__main__":
    config = json.loads(sys.argv[1])
    sys.path[:0] = config["sys_path"]
    serve(config, int(sys.argv[2]))
