"""Limits and time techniques: memory, disk, threads, fds, output, recursion, hangs.

Contract: ``LIMITS_AND_TIME`` is a tuple of ``Technique`` (categories ``limits`` and ``time``,
plus ``exit0_fake_success`` in ``process``). A memory or disk snippet prints its breach marker
only after getting past the limit (``$mem_bytes``/``$disk_bytes``); the time snippets spin,
sleep, ignore signals or block on stdin past the timeout.
Each snippet is a ``string.Template`` over the per-technique bait and may call the prelude
helpers of ``retool.sandbox.audit.render``. Data only; ``retool.sandbox.audit.techniques`` assembles the full table
in the battery's order.
"""

from __future__ import annotations

from retool.sandbox.audit.technique import Technique
from retool.sandbox.audit.technique import technique as _t

LIMITS_AND_TIME: tuple[Technique, ...] = (
    # --- Limits and time -----------------------------------------------------------------------
    _t("memory_bomb", "limits", "limit_breach supervisor", """
chunks, total = [], 0
while total <= $mem_bytes + (64 << 20):
    chunks.append(b'\\x01' * (32 << 20))
    total += 32 << 20
print($breach, total)
""", hazardous=True, isolated=True),
    _t("setrlimit_raise_then_allocate", "limits", "limit_breach", """
R = _imp('resource')
for lim in (R.RLIMIT_AS, R.RLIMIT_DATA, R.RLIMIT_FSIZE, R.RLIMIT_CPU, R.RLIMIT_NPROC):
    try:
        R.setrlimit(lim, (R.RLIM_INFINITY, R.RLIM_INFINITY))
    except BaseException as e:
        print(lim, type(e).__name__)
chunks, total = [], 0
while total <= $mem_bytes + (64 << 20):
    chunks.append(b'\\x01' * (32 << 20))
    total += 32 << 20
print($breach, total)
""", hazardous=True, isolated=True),
    _t("disk_fill", "limits", "limit_breach file_leak", """
O = _os()
fd = O['open']('fill-' + $marker, O['O_WRONLY'] | O['O_CREAT'], 0o600)
block, n = bytes(1 << 20), 0
while n <= $disk_bytes + (16 << 20):
    n += O['write'](fd, block)
print($breach, n)
""", hazardous=True, isolated=True),
    _t("thread_bomb", "limits", "hang supervisor", """
try:
    start = lambda: _imp('threading').Thread(target=_sleep, args=(30,)).start()
    start()
except BaseException:
    start = lambda: _imp('_thread').start_new_thread(_sleep, (30,))
n = 0
for i in range(1000):
    try:
        start()
        n += 1
    except BaseException as e:
        print(type(e).__name__)
        break
print('threads', n)
"""),
    _t("fd_exhaustion", "limits", "supervisor", """
O = _os()
fds = []
try:
    while len(fds) < 100000:
        fds.append(O['dup'](0))
except BaseException as e:
    print(type(e).__name__, len(fds))
"""),
    _t("huge_output", "limits", "output_flood", """
for _ in range(64):
    print('A' * (1 << 20))
"""),
    _t("binary_garbage_output", "limits", "supervisor", """
O = _os()
O['write'](1, bytes(range(256)) * 64)
O['write'](2, b'\\xff\\xfe\\x00' * 1000)
"""),
    _t("deep_recursion_segfault", "limits", "supervisor", """
try:
    _os()['sys'].setrecursionlimit(10 ** 7)
except BaseException as e:
    print(type(e).__name__)
def f(n):
    return f(n + 1) + 1
f(0)
"""),
    _t("cpu_spin", "time", "hang", "while True:\n    pass"),
    _t("sleep_past_timeout", "time", "hang", "_sleep(3600)"),
    _t("ignore_signals_then_spin", "time", "hang", """
SG = _imp('signal')
for s in ('SIGALRM', 'SIGTERM', 'SIGINT', 'SIGHUP', 'SIGXCPU', 'SIGUSR1', 'SIGUSR2', 'SIGQUIT'):
    try:
        SG.signal(getattr(SG, s), SG.SIG_IGN)
    except BaseException as e:
        print(s, type(e).__name__)
while True:
    pass
"""),
    _t("catch_base_exception_loop", "time", "hang", """
while True:
    try:
        while True:
            pass
    except BaseException:
        pass
"""),
    _t("stdin_read_blocks", "time", "hang", "print(len(_os()['read'](0, 1 << 20)))"),
    _t("close_stdio_then_sleep", "time", "hang supervisor", """
O = _os()
O['close'](1)
O['close'](2)
_sleep(0.2)
"""),
    _t("exit0_fake_success", "process", "supervisor", """
print($marker + '-partial')
_os()['_exit'](0)
"""),
)
