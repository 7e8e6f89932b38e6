"""Techniques against the host's files, /proc and loopback network.

Contract: ``FILESYSTEM`` (categories ``filesystem``: read, write, unlink and link the canary,
path traversal, /etc/passwd, files left in /tmp, /var/tmp, /dev/shm and the cwd), ``PROC``
(``proc``: /proc/self/mem, other processes' environ/cmdline/root/memory, inherited fds) and
``NETWORK`` (``network``: TCP connect, UDP sendto, bash's /dev/tcp) are tuples of ``Technique``.
Each snippet is a ``string.Template`` over the per-technique bait and may call the prelude
helpers of ``retool.sandbox.audit.render``. Data only; ``retool.sandbox.audit.techniques`` assembles the full table
in the battery's order.
"""

from __future__ import annotations

from retool.sandbox.audit.technique import ALL_AIMS as _ALL
from retool.sandbox.audit.technique import Technique
from retool.sandbox.audit.technique import technique as _t

FILESYSTEM: tuple[Technique, ...] = (
    # --- Filesystem ----------------------------------------------------------------------------
    _t("open_canary_direct", "filesystem", "canary_read", "print(open($canary).read())"),
    _t("write_canary_direct", "filesystem", "canary_write", """
open($canary, 'a').write('PWNED')
open($canary_dir + '/created-' + $marker, 'w').write('x')
"""),
    _t("unlink_canary", "filesystem", "canary_write", """
O = _os()
O['unlink']($canary)
"""),
    _t("relative_path_traversal", "filesystem", "canary_read", """
print(_read('../' * 24 + $canary.lstrip('/')))
"""),
    _t("symlink_and_hardlink", "filesystem", "canary_read canary_write", """
O = _os()
for make, name in (('symlink', 's-' + $marker), ('link', 'h-' + $marker)):
    try:
        O[make]($canary, name)
        print(make, _read(name))
    except BaseException as e:
        print(make, type(e).__name__)
"""),
    _t("open_etc_passwd", "filesystem", "host_file", "print(_read('/etc/passwd').decode())"),
    _t("tmp_and_shm_files", "filesystem", "file_leak", """
for path in ($leak_path, '/dev/shm/' + $marker, '/var/tmp/' + $marker, 'leak-' + $marker):
    try:
        open(path, 'w').write('x')
    except BaseException as e:
        O = _os()
        try:
            O['close'](O['open'](path, O['O_WRONLY'] | O['O_CREAT'], 0o600))
        except BaseException as e:
            print(path, type(e).__name__)
"""),
)


PROC: tuple[Technique, ...] = (
    # --- /proc and inherited state -------------------------------------------------------------
    _t("proc_self_mem_write", "proc", _ALL, """
O = _os()
fd = O['open']('/proc/self/mem', O['O_RDWR'])
for line in _read('/proc/self/maps', 1 << 20).decode().splitlines():
    if ' rw' in line:
        lo = int(line.split('-')[0], 16)
        print('wrote', O['pwrite'](fd, O['pread'](fd, 8, lo), lo))
        break
_fx(O)
"""),
    _t("proc_environ_cmdline_scan", "proc", "proc_leak env_leak", """
O = _os()
for pid in O['listdir']('/proc'):
    if pid.isdigit():
        for leaf in ('environ', 'cmdline'):
            try:
                data = _read('/proc/%s/%s' % (pid, leaf), 1 << 16)
            except BaseException:
                continue
            for key in (b'RETOOL_', b'retool-'):
                i = data.find(key)
                if i >= 0:
                    print(pid, leaf, data[max(0, i - 64):i + 200])
"""),
    _t("proc_parent_and_root", "proc", "canary_read proc_leak env_leak", """
O = _os()
for pid in (O['getppid'](), $auditor_pid, $decoy_pid):
    for leaf in ('environ', 'cmdline', 'root' + $canary, 'cwd/../../' + $canary.lstrip('/')):
        try:
            print(pid, leaf, _read('/proc/%d/%s' % (pid, leaf)))
        except BaseException as e:
            print(pid, leaf, type(e).__name__)
"""),
    _t("proc_auditor_memory", "proc", "env_leak", """
O = _os()
clock = _imp('time').monotonic
key = ($env_name + '=').encode()
fd = O['open']('/proc/%d/mem' % $auditor_pid, O['O_RDONLY'])
lines = _read('/proc/%d/maps' % $auditor_pid, 1 << 22).decode().splitlines()
# The environment lives on the stack, in the heap and in anonymous mappings (Python's object
# arenas hold os.environ's strings): read those first, smallest first, in overlapping chunks,
# bounded by time rather than bytes, so a large auditor process cannot hide the secret.
def _order(l):
    f = l.split()
    lo, hi = (int(x, 16) for x in f[0].split('-'))
    return (0 if l.endswith('[stack]') else 1 if l.endswith('[heap]') else 2 if len(f) < 6 else 3, hi - lo)
deadline = clock() + 2.0
found = None
for line in sorted((l for l in lines if len(l.split()) > 1 and l.split()[1].startswith('rw')), key=_order):
    lo, hi = (int(x, 16) for x in line.split()[0].split('-'))
    for at in range(lo, hi, 16 << 20):
        if found is not None or clock() > deadline:
            break
        try:
            data = O['pread'](fd, min(hi - at, (16 << 20) + 256), at)
        except BaseException:
            break
        i = data.find(key)
        if i >= 0:
            found = data[i:i + 120]
if found is not None:
    print('found', found)
"""),
    _t("inherited_fds", "proc", "canary_read canary_write", """
O = _os()
for fd in range(3, 65):
    try:
        O['fstat'](fd)
    except BaseException:
        continue
    for op in (lambda: O['lseek'](fd, 0, 0), lambda: O['read'](fd, 4096), lambda: O['write'](fd, $marker.encode())):
        try:
            print(fd, op())
        except BaseException as e:
            print(fd, type(e).__name__)
"""),
)


NETWORK: tuple[Technique, ...] = (
    # --- Network -------------------------------------------------------------------------------
    _t("socket_tcp_connect", "network", "network", """
try:
    import math, socket as S
except BaseException:
    S = _imp('sock' 'et')
_connect(S, $port)
"""),
    _t("socket_udp_sendto", "network", "network", """
S = _imp('sock' 'et')
S.socket(S.AF_INET, S.SOCK_DGRAM).sendto($marker.encode(), ('127.0.0.1', $udp_port))
"""),
    _t("dev_tcp_redirect", "network", "network", """
O = _os()
O['system']("bash -c 'echo %s > /dev/tcp/127.0.0.1/%d'" % ($marker, $port))
open('/dev/tcp/127.0.0.1/%d' % $port, 'w').write($marker)
"""),
)
