"""Cross-execution contamination techniques: state one call leaves for the next.

Contract: ``CONTAMINATION`` is a tuple of ``Technique`` (category ``contamination``) that poison
builtins, modules, ``sys.modules`` or leave a thread or an atexit hook behind; each poisoning
one names a reference ``followup`` snippet (builtins or modules in use) whose output must not
change after it.
Each snippet is a ``string.Template`` over the per-technique bait and may call the prelude
helpers of ``retool.sandbox.audit.render``. Data only; ``retool.sandbox.audit.techniques`` assembles the full table
in the battery's order.
"""

from __future__ import annotations

from retool.sandbox.audit.technique import ALL_AIMS as _ALL
from retool.sandbox.audit.technique import Technique
from retool.sandbox.audit.technique import technique as _t

_FOLLOW_BUILTINS = "print(abs(-3), sorted([3, 1, 2]), len('ab'), print.__name__, repr(min))"
_FOLLOW_MODULES = (
    "import math, random, collections\n"
    "print(math.sqrt(16.0), type(random.random()).__name__, collections.Counter('aab').most_common(1))"
)

CONTAMINATION: tuple[Technique, ...] = (
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
