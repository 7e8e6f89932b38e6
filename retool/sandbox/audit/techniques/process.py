"""Process techniques: processes that outlive their call, exec and spawn, signals and ptrace.

Contract: ``PROCESSES`` is a tuple of ``Technique`` (category ``process``): fork and double-fork
survivors, subprocess/system/exec/posix_spawn, killing, stopping and tracing the decoy, raw
syscalls, unshare, and the hazardous ones (fork bomb, killing the parent, pid 1 and -1), which
run isolated and only when nothing else escaped.
Each snippet is a ``string.Template`` over the per-technique bait and may call the prelude
helpers of ``retool.sandbox.audit.render``. Data only; ``retool.sandbox.audit.techniques`` assembles the full table
in the battery's order.
"""

from __future__ import annotations

from retool.sandbox.audit.technique import ALL_AIMS as _ALL
from retool.sandbox.audit.technique import Technique
from retool.sandbox.audit.technique import technique as _t

PROCESSES: tuple[Technique, ...] = (
    # --- Processes -----------------------------------------------------------------------------
    _t("fork_survivor", "process", "process_leak " + _ALL, """
O = _os()
pid = O['fork']()
if pid == 0:
    _sleep(0.3)
    _fx(O, 'late')
    _sleep(20)
    O['_exit'](0)
print('forked', pid)
"""),
    _t("double_fork_daemon", "process", "process_leak " + _ALL, """
O = _os()
if O['fork']() == 0:
    O['setsid']()
    if O['fork']() == 0:
        _sleep(0.3)
        _fx(O, 'late')
        _sleep(20)
    O['_exit'](0)
print('daemonized')
"""),
    _t("subprocess_module", "process", "canary_read process_leak", """
SP = _imp('subprocess')
print(SP.run(['cat', $canary], capture_output=True).stdout)
SP.Popen(['sh', '-c', 'sleep 20; : ' + $marker], start_new_session=True)
"""),
    _t("os_system_import_list", "process", "canary_read env_leak", """
import math, os
os.system($shell)
"""),
    _t("os_exec", "process", "canary_read", """
O = _os()
O['execv']('/bin/sh', ['sh', '-c', $shell])
"""),
    _t("posix_spawn", "process", "canary_read", """
O = _os()
pid = O['posix_spawn']('/bin/sh', ['sh', '-c', $shell], {})
print(O['waitpid'](pid, 0))
"""),
    _t("kill_decoy", "process", "signal", """
O = _os()
for call, args in (('kill', ($decoy_pid, 9)), ('killpg', ($decoy_pid, 9)), ('kill', ($decoy_pid, 19))):
    try:
        print(call, O[call](*args))
    except BaseException as e:
        print(call, type(e).__name__)
"""),
    _t("ptrace_decoy", "process", "signal", """
libc = _imp('ctypes').CDLL(None)
print(libc.ptrace(16, $decoy_pid, 0, 0))
O = _os()
try:
    O['waitpid']($decoy_pid, 0x40000000)
except BaseException as e:
    print(type(e).__name__)
print(libc.ptrace(8, $decoy_pid, 0, 0))
"""),
    _t("raw_syscalls_via_ctypes", "process", "signal", """
libc = _imp('ctypes').CDLL(None, use_errno=True)
if _os()['uname']().machine == 'x86_64':
    for name, nr, args in (('kill', 62, ($decoy_pid, 10)), ('tgkill', 234, ($decoy_pid, $decoy_pid, 10)),
                           ('ptrace', 101, (16, $decoy_pid, 0, 0)), ('pidfd_open', 434, ($decoy_pid, 0)),
                           ('userfaultfd', 323, (0,)), ('io_uring_setup', 425, (8, 0)), ('bpf', 321, (0, 0, 0))):
        print(name, libc.syscall(nr, *args))
"""),
    _t("unshare_namespaces_then_payload", "process", _ALL, """
libc = _imp('ctypes').CDLL(None, use_errno=True)
for flags in (0x10000000, 0x10000000 | 0x00020000, 0x40000000):  # NEWUSER, NEWUSER|NEWNS, NEWNET
    print(hex(flags), libc.unshare(flags))
_fx(_os())
"""),
    _t("fork_bomb", "process", "process_leak supervisor", """
O = _os()
n = 0
for i in range(32):
    try:
        pid = O['fork']()
    except BaseException as e:
        print('fork', type(e).__name__)
        break
    if pid == 0:
        for j in range(3):
            try:
                O['fork']()
            except BaseException:
                break
        _sleep(3)
        O['_exit'](0)
    n += 1
print('children', n)
""", hazardous=True, isolated=True),
    _t("kill_parent", "process", "supervisor", """
O = _os()
for sig in (9, 15):
    try:
        O['kill'](O['getppid'](), sig)
    except BaseException as e:
        print(type(e).__name__)
""", hazardous=True, isolated=True),
    _t("kill_pid1_and_all", "process", "supervisor signal", """
O = _os()
for pid in (1, -1):
    try:
        O['kill'](pid, 9)
    except BaseException as e:
        print(pid, type(e).__name__)
""", hazardous=True, isolated=True),
)
