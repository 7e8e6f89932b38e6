"""Gadgets of the recipe preset's libraries: numpy and sympy routes to code, files and memory.

Contract: ``RECIPE_GADGETS`` is a tuple of ``Technique`` (category ``recipe-gadget``). Each first
prints ``gadget-ready`` once numpy or sympy imported (so a block is never vacuous when the
sandbox pre-imports them: ``retool sandbox audit --preset recipe``), then goes for the bait:
``np.load(allow_pickle=True)`` of a pickle that calls ``posix.system`` or connects out,
``np.memmap`` of the canary and /etc/passwd (read and r+), ``tofile``/``save`` outside scratch,
sympy's ``sympify``/``parse_expr`` (eval underneath) and ``lambdify`` globals to reach ``os``, and
``codegen(to_files=True)`` writing next to the canary and in /tmp. Data only.
"""

from __future__ import annotations

from retool.sandbox.audit.technique import ALL_AIMS as _ALL
from retool.sandbox.audit.technique import Technique
from retool.sandbox.audit.technique import technique as _t

_NP = "np = _imp('numpy')\nprint('gadget-ready')\n"
_SP = "sp = _imp('sympy')\nprint('gadget-ready')\n"

RECIPE_GADGETS: tuple[Technique, ...] = (
    _t("numpy_load_allow_pickle", "recipe-gadget", "canary_read env_leak network", _NP + """
for blob in ($pickle_system, $pickle_connect):
    open('p.npy', 'wb').write(blob)
    try:
        print(np.load('p.npy', allow_pickle=True))
    except BaseException as e:
        print(type(e).__name__)
"""),
    _t("numpy_memmap_host_files", "recipe-gadget", "canary_read canary_write host_file", _NP + """
for path, mode in (($canary, 'r'), ('/etc/passwd', 'r'), ($canary, 'r+')):
    try:
        m = np.memmap(path, dtype='uint8', mode=mode)
        print(bytes(m[:4096]).decode(errors='replace'))
        if mode == 'r+':
            m[:5] = list(b'PWNED')
            m.flush()
    except BaseException as e:
        print(type(e).__name__)
"""),
    _t("numpy_files_outside_scratch", "recipe-gadget", "canary_write file_leak", _NP + """
for f in (lambda: np.arange(3).tofile($leak_path), lambda: np.save($canary_dir + '/np-' + $marker, np.arange(3)),
          lambda: np.savetxt($canary, np.arange(3))):
    try:
        f()
    except BaseException as e:
        print(type(e).__name__)
"""),
    _t("sympy_eval_and_lambdify_globals", "recipe-gadget", _ALL, _SP + """
for text in ("__import__('os').system(" + repr($shell) + ")", "__import__('os').environ"):
    _imp('sympy.parsing.sympy_parser')
    for parse in (sp.sympify, sp.parsing.sympy_parser.parse_expr):
        try:
            print(parse(text))
        except BaseException as e:
            print(type(e).__name__)
x = sp.Symbol('x')
G = sp.lambdify(x, x + 1).__globals__
_fx(_find(G) or vars(_imp('os')), 'lambdify')
"""),
    _t("sympy_codegen_to_files", "recipe-gadget", "canary_write file_leak", _SP + """
_imp('sympy.utilities.codegen')
gen = sp.utilities.codegen
x = sp.Symbol('x')
for prefix in ($canary_dir + '/gen-' + $marker, $leak_path):
    try:
        gen.codegen(('f', x ** 2), 'C99', prefix, to_files=True)
        print('written', prefix)
    except BaseException as e:
        print(type(e).__name__)
"""),
)
