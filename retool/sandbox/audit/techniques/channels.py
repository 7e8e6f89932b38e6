"""Techniques for channels between runs and resources outside the limits (issue 11, classes 1-9,
plus page-cache residency through mincore and the rlimits of another process, both closed by the
seccomp allow-list).

Contract: ``CHANNELS`` is a tuple of ``Technique`` (category ``channel``). Each is judged from
outside: a SysV object left on the host (``ipc_leak``, the auditor's /proc/sysvipc sweep), a
reference ``followup`` that would read what the technique left (``contamination``: its output
must not change), or the breach marker (``channel``), printed only after the snippet got hold of a channel or
an uncounted resource (a snippet can only incriminate the sandbox, never clear it). Native calls
go through ctypes reached past the import guard; followups import with ``__import__`` (the
guard only checks import statements), so they read the channel whenever the sandbox lets them.
Data only; ``retool.sandbox.audit.techniques`` assembles the full table in the battery's order.
"""

from __future__ import annotations

from retool.sandbox.audit.technique import Technique
from retool.sandbox.audit.technique import technique as _t

_LIBC = "C = _imp('ctypes')\nL = C.CDLL(None, use_errno=True)\n"
_LIBC_PLAIN = "C = __import__('ctypes')\nL = C.CDLL(None, use_errno=True)\n"
_SHM_KEY, _MSG_KEY, _SEM_KEY = 0x5EED11, 0x5EED12, 0x5EED13

_FOLLOW_SYSV = _LIBC_PLAIN + f"""L.shmget.restype = C.c_int
L.shmat.restype = C.c_void_p
out = []
sid = L.shmget({_SHM_KEY}, 0, 0)
if sid >= 0:
    a = L.shmat(sid, None, 0o10000)
    out.append(C.string_at(a, 8) if a not in (None, C.c_void_p(-1).value) else 'shm-seen')
out.append(L.msgget({_MSG_KEY}, 0) >= 0)
out.append(L.semget({_SEM_KEY}, 0, 0) >= 0)
print('sysv', out)
"""
_FOLLOW_MQ = _LIBC_PLAIN + """L.mq_open.restype = C.c_int
print('mq', L.mq_open(b'/retool-audit-channel', 0o4000, 0, None) >= 0)
"""
_FOLLOW_SLOT = """S = __import__('os')
print(oct(S.stat('.').st_mode & 0o7777), sorted(S.listdir('.')))
try:
    print(S.listxattr('.'))
except OSError as e:
    print('xattr', e.errno)
"""

CHANNELS: tuple[Technique, ...] = (
    _t("sysv_ipc_objects", "channel", "ipc_leak contamination channel", _LIBC + f"""
L.shmget.restype = C.c_int
L.shmat.restype = C.c_void_p
sid = L.shmget({_SHM_KEY}, 256 << 20, 0o1666)
if sid >= 0:
    a = L.shmat(sid, None, 0)
    if a not in (None, C.c_void_p(-1).value):
        C.memmove(a, b'SHMLEAK!', 8)
        C.memset(a + 8, 1, (256 << 20) - 8)  # resident after close, charged to no process
        print($breach)
print(L.msgget({_MSG_KEY}, 0o1666), L.semget({_SEM_KEY}, 1, 0o1666))
""", isolated=True, followup=_FOLLOW_SYSV),
    _t("posix_mqueue", "channel", "contamination channel", _LIBC + """
L.mq_open.restype = C.c_int
q = L.mq_open(b'/retool-audit-channel', 0o4102, 0o666, None)
if q >= 0:
    print($breach)
""", isolated=True, followup=_FOLLOW_MQ),
    _t("inotify_fanotify_host_dirs", "channel", "channel", _LIBC + """
fd = L.inotify_init1(0o4000)
got = []
for d in (b'/tmp', b'/etc', b'/', b'.'):
    if fd >= 0 and L.inotify_add_watch(fd, d, 0x100) >= 0 and d != b'.':
        got.append(d)
if got:
    print($breach, got)
if L.fanotify_init(0, 0) >= 0:
    print($breach, 'fanotify')
S = _os()
try:
    dfd = S['open']('/tmp', S['O_RDONLY'])
    if _imp('fcntl').fcntl(dfd, 1026, 0x80000004) == 0:  # F_NOTIFY: DN_CREATE | DN_MULTISHOT
        print($breach, 'dnotify')
except OSError:
    pass
"""),
    _t("metadata_outside_scratch", "channel", "channel", """
S = _os()
done = []
tries = [('utime', p, lambda p=p: S['utime'](p, None)) for p in ('/tmp', '/var/tmp', '/dev/shm')]
tries.append(('setxattr', $canary_dir, lambda: S['setxattr']($canary_dir, 'user.retool', b'1')))
for name, path, f in tries:
    try:
        f()
        done.append((name, path))
    except BaseException:
        pass
if done:
    print($breach, done)
"""),
    _t("slot_dir_state", "channel", "contamination", """
S = _os()
for f in (lambda: S['setxattr']('.', 'user.carried', b'1'), lambda: S['chmod']('.', 0o500)):
    try:
        f()
    except BaseException:
        pass
""", isolated=True, followup=_FOLLOW_SLOT),
    _t("flock_host_file", "channel", "channel", """
S = _os()
F = _imp('fcntl')
held = []
for path in (S['__file__'] if '__file__' in S else '/etc/ld.so.cache', '/etc/ld.so.cache', '/usr/lib'):
    try:
        fd = S['open'](path, S['O_RDONLY'])
    except BaseException:
        continue
    for name, f in (('flock', lambda: F.flock(fd, F.LOCK_SH | F.LOCK_NB)),
                    ('lockf', lambda: F.fcntl(fd, F.F_SETLK, b'\\0' * 32)),
                    ('ofd', lambda: F.fcntl(fd, 37, b'\\0' * 32))):
        try:
            f()
            held.append((name, path))
        except BaseException:
            pass
if held:
    print($breach, held)
"""),
    _t("aio_context_exhaustion", "channel", "channel", _LIBC + """
ctx = C.c_ulong(0)
if L.syscall(206, 65536, C.byref(ctx)) == 0:  # io_setup
    print($breach)
"""),
    _t("memfd_uncounted_memory", "channel", "channel", _LIBC + """
fd = L.memfd_create(b'retool', 0)
if fd >= 0:
    S = _os()
    S['ftruncate'](fd, $mem_bytes + (64 << 20))
    print($breach)
"""),
    _t("clear_parent_death_signal", "channel", "channel process_leak", _LIBC + """
if L.prctl(1, 0, 0, 0, 0) == 0:  # PR_SET_PDEATHSIG 0
    print($breach)
"""),
    _t("page_cache_residency", "channel", "channel", _LIBC + """
S = _os()
L.mmap.restype = C.c_void_p
vec = C.create_string_buffer(8)
try:
    fd = S['open']('/etc/ld.so.cache', S['O_RDONLY'])
except BaseException:
    fd = -1
a = L.mmap(None, 4096, 1, 1, fd, 0) if fd >= 0 else None  # PROT_READ, MAP_SHARED: the host's page cache
if a not in (None, C.c_void_p(-1).value) and L.syscall(27, C.c_void_p(a), 4096, vec) == 0:  # mincore
    print($breach, 'mincore')
"""),
    _t("limits_of_another_process", "channel", "channel", _LIBC + """
S = _os()
old = (C.c_ulong * 2)()
got = [pid for pid in sorted({S['getppid'](), 1}) if L.prlimit(pid, 4, None, old) == 0]  # RLIMIT_CORE, read only
if got:  # reading them takes the same right as lowering them
    print($breach, got)
"""),
)
