"""Exact polynomials and rational functions in answer variables, without sympy.

Contract: :class:`Poly` is a canonical sum of monomials (a monomial is a sorted tuple of
``(variable, exponent)`` pairs, exponents >= 1) with exact non-zero coefficients (``Fraction`` or
:class:`~retool.answer.surds.Surd`); :class:`Ratio` is ``num / den`` of polynomials. Variables are
single letters other than ``e`` and ``i`` (constants), Greek letters and subscripted names (``x_1``);
they range over the reals. Because the form is canonical and the coefficient field is infinite, two
polynomials are the same function exactly when they are the same form, and two ratios are equal
exactly when ``num1 * den2 == num2 * den1``: :func:`poly_equal` decides both ways. Pi and ``e`` are
not variables here (``\\pi r^2`` is undecided, left to the symbolic engine), so a difference of
forms is always a difference of functions.

Bounds (raise :class:`retool.answer.surds.Undecided`, so the symbolic engine decides): at most
``MAX_TERMS`` terms, total degree ``MAX_DEGREE``, integer powers up to ``MAX_DEGREE``.
"""

from __future__ import annotations

from fractions import Fraction

from retool.answer.surds import Surd, Undecided, surd_arith

__all__ = ["MAX_DEGREE", "MAX_TERMS", "Poly", "Ratio", "poly_arith", "poly_equal", "poly_power", "proportional", "variable"]

MAX_TERMS = 200
MAX_DEGREE = 24

Monomial = tuple[tuple[str, int], ...]
Coefficient = Fraction | Surd


class Poly:
    __slots__ = ("terms",)

    def __init__(self, terms: dict[Monomial, Coefficient]) -> None:
        self.terms = terms

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Poly) and other.terms == self.terms

    def __hash__(self) -> int:
        return hash(frozenset(self.terms))

    def __repr__(self) -> str:
        return f"Poly({self.terms})"


class Ratio:
    __slots__ = ("num", "den")

    def __init__(self, num: Poly, den: Poly) -> None:
        self.num, self.den = num, den

    def __repr__(self) -> str:
        return f"Ratio({self.num!r} / {self.den!r})"


def variable(name: str) -> Poly:
    return Poly({((name, 1),): Fraction(1)})


def _poly(x: object) -> Poly:
    if isinstance(x, Poly):
        return x
    if isinstance(x, (Fraction, Surd)):
        return Poly({(): x} if x != 0 else {})
    raise Undecided(f"{type(x).__name__} in a polynomial")


def _add(a: Coefficient, b: Coefficient, op: str = "+") -> Coefficient:
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return a + b if op == "+" else a - b
    return surd_arith(a, b, op)


def _mul_c(a: Coefficient, b: Coefficient) -> Coefficient:
    return a * b if isinstance(a, Fraction) and isinstance(b, Fraction) else surd_arith(a, b, "*")


def _is_zero(c: Coefficient) -> bool:
    return isinstance(c, Fraction) and c == 0


def _plus(x: Poly, y: Poly, op: str) -> Poly:
    out = dict(x.terms)
    for m, c in y.terms.items():
        out[m] = _add(out[m], c, op) if m in out else (c if op == "+" else _add(Fraction(0), c, "-"))
    return Poly({m: c for m, c in out.items() if not _is_zero(c)})


def _merge(m1: Monomial, m2: Monomial) -> Monomial:
    powers = dict(m1)
    for v, k in m2:
        powers[v] = powers.get(v, 0) + k
    if sum(powers.values()) > MAX_DEGREE:
        raise Undecided("polynomial degree too large")
    return tuple(sorted(powers.items()))


def _times(x: Poly, y: Poly) -> Poly:
    out: dict[Monomial, Coefficient] = {}
    for m1, c1 in x.terms.items():
        for m2, c2 in y.terms.items():
            m = _merge(m1, m2)
            c = _mul_c(c1, c2)
            out[m] = _add(out[m], c) if m in out else c
    if len(out) > MAX_TERMS:
        raise Undecided("polynomial with too many terms")
    return Poly({m: c for m, c in out.items() if not _is_zero(c)})


def _ratio(x: object) -> Ratio:
    return x if isinstance(x, Ratio) else Ratio(_poly(x), _poly(Fraction(1)))


def poly_arith(a: object, b: object, op: str) -> Poly | Ratio:
    """``a op b`` where at least one side is a :class:`Poly` or :class:`Ratio`."""
    if op == "/" or isinstance(a, Ratio) or isinstance(b, Ratio):
        x, y = _ratio(a), _ratio(b)
        if op == "*":
            return _reduce(Ratio(_times(x.num, y.num), _times(x.den, y.den)))
        if op == "/":
            if not y.num.terms:
                raise Undecided("division by zero")
            return _reduce(Ratio(_times(x.num, y.den), _times(x.den, y.num)))
        return _reduce(Ratio(_plus(_times(x.num, y.den), _times(y.num, x.den), op), _times(x.den, y.den)))
    x, y = _poly(a), _poly(b)
    return _times(x, y) if op == "*" else _plus(x, y, op)


def _reduce(r: Ratio) -> Poly | Ratio:
    """A ratio whose denominator is a constant is a polynomial."""
    if set(r.den.terms) == {()}:
        inverse = surd_arith(Fraction(1), r.den.terms[()], "/")
        return _times(r.num, _poly(inverse))
    return r


def poly_power(base: Poly | Ratio, exponent: Fraction) -> Poly | Ratio:
    if exponent.denominator != 1 or abs(exponent) > MAX_DEGREE:
        raise Undecided("polynomial to a fractional or large power")
    n = int(exponent)
    result: Poly | Ratio = _poly(Fraction(1))
    for _ in range(abs(n)):
        result = poly_arith(result, base, "*")
    return poly_arith(Fraction(1), result, "/") if n < 0 else result


def poly_equal(a: object, b: object) -> bool:
    """Exact equality of two values of which one is a polynomial or a ratio (see the contract)."""
    x, y = _ratio(a), _ratio(b)
    return _times(x.num, y.den) == _times(y.num, x.den)


def proportional(a: object, b: object) -> Coefficient | None:
    """The constant ``k != 0`` with ``a == k * b`` (polynomials or ratios), or None."""
    x, y = _ratio(a), _ratio(b)
    left, right = _times(x.num, y.den), _times(y.num, x.den)
    if not right.terms or not left.terms:
        return None
    monomial, c = next(iter(right.terms.items()))
    if monomial not in left.terms:
        return None
    k = surd_arith(left.terms[monomial], c, "/") if not (isinstance(c, Fraction) and isinstance(left.terms[monomial], Fraction)) \
        else left.terms[monomial] / c
    return k if _times(right, _poly(k)) == left else None
