"""Exact symbolic equality of two scalar answers (runs inside the answer worker process).

Engine: ``latex2sympy2_extended`` (the LaTeX front end Math-Verify uses: it reads ``\\log_{10}``,
``\\binom``, ``\\sqrt[n]{}``, trig, mixed numbers, implicit products) turning text into sympy
expressions, then sympy with *exact* arithmetic only. We do not use Math-Verify's ``verify``
because it rounds floats to 6 places and chops tiny values, and its ``signal.alarm`` timeout only
works on the main thread.

Exactness rules: every decimal is rewritten as an exact fraction before parsing (``1.414`` is
1414/1000, so it never equals ``\\sqrt{2}``, and ``0.3333333`` never equals 1/3); equality is
``a - b == 0`` after sympy's automatic simplification, then ``simplify(a - b) == 0``. A numeric
evaluation at 50 digits is used only to *reject* early (a difference whose magnitude is above
1e-30 is certainly non-zero), never to accept; with variables, the difference is evaluated at two
fixed rational points first (a function that is non-zero somewhere is not zero), so unequal
expressions are rejected without ``simplify``.

The symbol ``i`` is read as the imaginary unit (``3+4i``, ``e^{i\\pi} = -1``).

Guards (raise :class:`retool.answer.fast.TooLarge` before any evaluation): expression trees over
``max_nodes`` nodes, integers over ``max_bits`` bits, powers whose exponent exceeds 10,000 in
magnitude (power towers), factorials over 2000. The worker process adds a hard wall-clock bound.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from retool.answer.fast import TooLarge
from retool.answer.normalize import Leaf

_DECIMAL = re.compile(r"(?<![\d.])(\d*)\.(\d+)(?![\d.])")
_MAX_EXPONENT = 10_000


@lru_cache(maxsize=1)
def _engine() -> tuple[Any, Any]:
    import sympy
    from latex2sympy2_extended import latex2sympy
    from latex2sympy2_extended.latex2sympy2 import ConversionConfig

    config = ConversionConfig(interpret_as_mixed_fractions=True, interpret_simple_eq_as_assignment=False,
                              interpret_contains_as_eq=True, lowercase_symbols=False)
    return sympy, lambda text: latex2sympy(text, conversion_config=config)


def _exact_decimals(text: str) -> str:
    def frac(m: re.Match[str]) -> str:
        whole, digits = m.group(1) or "0", m.group(2)
        return f"(\\frac{{{int(whole + digits)}}}{{{10 ** len(digits)}}})"

    return _DECIMAL.sub(frac, text)


def _guard(expr: Any, *, max_nodes: int, max_bits: int) -> None:
    sympy, _ = _engine()
    for count, node in enumerate(sympy.preorder_traversal(expr)):
        if count > max_nodes:
            raise TooLarge(f"expression has more than {max_nodes} nodes")
        if isinstance(node, sympy.Integer) and int(node).bit_length() > max_bits:
            raise TooLarge("integer too large")
        if isinstance(node, sympy.Pow) and node.exp.is_number and node.base not in (sympy.S.One, sympy.S.NegativeOne):
            magnitude = abs(complex(node.exp.evalf(15))) if not node.exp.is_Rational else float(abs(node.exp))
            if magnitude > _MAX_EXPONENT:
                raise TooLarge(f"power with exponent of magnitude {magnitude:.3g}")
        if isinstance(node, sympy.factorial) and node.args[0].is_number and abs(complex(node.args[0].evalf(15))) > 2000:
            raise TooLarge("factorial too large")


@lru_cache(maxsize=2048)
def to_sympy(text: str, *, max_nodes: int = 400, max_bits: int = 100_000) -> Any:
    """Parse one normalised scalar into a guarded sympy object (raises on failure).

    Cached per process (sympy objects are immutable): in GRPO the same gold is checked against
    every sample of its group, so the worker parses it once.
    """
    sympy, parse = _engine()
    expr = parse(_exact_decimals(text))
    _guard(expr, max_nodes=max_nodes, max_bits=max_bits)
    if isinstance(expr, sympy.Basic) and (unit := sympy.Symbol("i")) in expr.free_symbols:
        expr = expr.subs(unit, sympy.I)
    return expr


def _expr_equal(a: Any, b: Any) -> bool:
    sympy, _ = _engine()
    if isinstance(a, sympy.Float) or isinstance(b, sympy.Float) or a.atoms(sympy.Float) or b.atoms(sympy.Float):
        raise ValueError("inexact float reached the symbolic comparison")
    diff = a - b
    if diff == 0:
        return True
    if _cheaply_zero(diff):
        return True
    if diff.is_number:
        return not _clearly_nonzero(diff) and _proven_zero(diff)
    symbols = sorted(diff.free_symbols, key=str)
    for point in _PROBES:  # a function that is not zero at some point is not the zero function
        values = {s: sympy.Rational(*point[i % len(point)]) for i, s in enumerate(symbols)}
        at = diff.subs(values)
        if at.is_number and _clearly_nonzero(at):
            return False
    return _proven_zero(diff)


_PROBES = (((7, 3), (11, 5), (13, 17), (19, 6)), ((5, 11), (23, 7), (3, 2), (29, 13)))


def _clearly_nonzero(value: Any) -> bool:
    """A number whose 50-digit value is finite and above 1e-30 in magnitude (certainly not zero)."""
    sympy, _ = _engine()
    approx = value.evalf(50)
    if approx.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo) or not approx.is_number:
        return False
    try:
        return abs(complex(approx)) > 1e-30
    except TypeError:
        return False


def _cheaply_zero(diff: Any) -> bool:
    """Exact proofs far cheaper than ``simplify``, tried first: expansion (polynomials, products of
    radicals such as ``(\\sqrt{2}+\\sqrt{3})^2 - 5 - 2\\sqrt{6}``), then cancellation of a rational
    function. Either returning 0 is a proof; anything else falls through to ``simplify``."""
    sympy, _ = _engine()
    try:
        if sympy.expand(diff) == 0:
            return True
        return bool(diff.free_symbols) and sympy.cancel(diff) == 0
    except Exception:  # noqa: BLE001 - a failed shortcut is no proof; simplify decides
        return False


def warm_up() -> None:
    """Run each engine step once (parsing, expansion, cancellation, simplification), so a worker's
    first real check does not pay sympy's lazy imports inside its deadline."""
    sympy, _ = _engine()
    for a, b in (("\\sqrt{2}+x", "x+\\frac{2}{\\sqrt{2}}"), ("\\frac{x^2-1}{x-1}", "x+1"), ("\\ln 4", "2\\ln 2"),
                 ("\\sin(x)^2+\\cos(x)^2", "1"), ("2^{1/3}", "\\sqrt[3]{2}"), ("e^{2}", "e e"), ("\\pi^2", "\\pi\\pi")):
        try:
            _expr_equal(to_sympy(a), to_sympy(b))
        except Exception:  # noqa: BLE001 - warming is best effort
            pass
    to_sympy.cache_clear()


def _proven_zero(diff: Any) -> bool:
    sympy, _ = _engine()
    simplified = sympy.simplify(diff)
    return simplified == 0 or sympy.expand(simplified) == 0


def exprs_equal(a: Any, b: Any) -> bool:
    """Exact equality of two parsed answers: expressions, relations, or anything sympy compares."""
    sympy, _ = _engine()
    if isinstance(a, sympy.Expr) and isinstance(b, sympy.Expr):
        return _expr_equal(a, b)
    if isinstance(a, sympy.core.relational.Relational) and isinstance(b, sympy.core.relational.Relational):
        if type(a) is type(b) and _expr_equal(a.lhs - a.rhs, b.lhs - b.rhs):
            return True
        flipped = b.reversed
        return type(a) is type(flipped) and _expr_equal(a.lhs - a.rhs, flipped.lhs - flipped.rhs)
    return bool(a == b)


def leaves_equal(a: Leaf, b: Leaf, *, max_nodes: int = 400, max_bits: int = 100_000) -> bool:
    """Symbolic equality of two leaves, with the degree convention of :mod:`retool.answer.normalize`."""
    sympy, _ = _engine()
    x = to_sympy(a.text, max_nodes=max_nodes, max_bits=max_bits)
    y = to_sympy(b.text, max_nodes=max_nodes, max_bits=max_bits)
    if exprs_equal(x, y):
        return True
    if a.degree != b.degree and isinstance(x, sympy.Expr) and isinstance(y, sympy.Expr):
        deg, rad = (x, y) if a.degree else (y, x)
        if rad.has(sympy.pi) and not deg.has(sympy.pi):
            return _expr_equal(deg * sympy.pi / 180, rad)
    return False


class SymbolicEngine:
    """The tree comparison's engine inside the worker (see :class:`retool.answer.local.Engine`):
    ``leaf`` is the fast path then :func:`leaves_equal`; ``relation`` proves ``d1 = k * d2`` for a
    constant ``k != 0`` (``k > 0`` for an inequality: both sides negated flips the relation, which the
    structure tree has already turned around); ``interval`` solves a one-variable *linear*
    inequality exactly (``2x - 6 > 0`` is ``(3, \\infty)``). Unreadable text is "not equal"."""

    def __init__(self, leaf: Any, *, max_nodes: int = 400, max_bits: int = 100_000) -> None:
        self.leaf, self._limits = leaf, {"max_nodes": max_nodes, "max_bits": max_bits}

    def _parse(self, text: str) -> Any:
        sympy, _ = _engine()
        expr = to_sympy(text, **self._limits)
        if not isinstance(expr, sympy.Expr) or expr.atoms(sympy.Float):
            raise ValueError("not an exact expression")
        return expr

    def relation(self, d1: str, d2: str, op: str) -> bool | None:
        sympy, _ = _engine()
        try:
            a, b = self._parse(d1), self._parse(d2)
        except TooLarge:
            raise
        except Exception:
            return False
        if a == 0 or b == 0 or not (a.free_symbols or b.free_symbols):
            return False
        ratio = sympy.cancel(sympy.together(a / b))
        if ratio.free_symbols:
            ratio = sympy.simplify(ratio)
        if ratio.free_symbols or not ratio.is_number or ratio.has(sympy.nan, sympy.zoo) or ratio == 0:
            return False
        return bool(ratio.is_positive) if op in ("<", "le") else bool(ratio.is_nonzero)

    def interval(self, eq: Any) -> Any:
        from retool.answer.normalize import Leaf, Seq

        sympy, _ = _engine()
        try:
            d = self._parse(f"{eq.lhs}-({eq.rhs})")
        except TooLarge:
            raise
        except Exception:
            return None
        if len(d.free_symbols) != 1:
            return None
        (v,) = d.free_symbols
        poly = sympy.Poly(sympy.expand(d), v) if d.is_polynomial(v) else None
        if poly is None or poly.degree() != 1 or not all(c.is_number for c in poly.all_coeffs()):
            return None
        a, b = poly.all_coeffs()
        if a == 0 or not a.is_real:
            return None
        bound = Leaf(sympy.latex(sympy.nsimplify(-b / a)))
        closed = eq.op == "le"
        if a.is_positive:  # d < 0 means v < -b/a
            return Seq("(", "]" if closed else ")", (Leaf("-\\infty"), bound))
        return Seq("[" if closed else "(", ")", (bound, Leaf("\\infty")))
