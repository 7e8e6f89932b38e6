"""Exact real square roots without sympy: sums of rational multiples of square roots (surds).

Contract: :class:`Surd` is ``sum(c * sqrt(m))`` over distinct squarefree integers ``m > 1`` with
rational ``c != 0`` (the rational part is ``m = 1``), never purely rational: every operation returns
a plain :class:`fractions.Fraction` when the irrational parts cancel. That form is canonical (square
roots of distinct squarefree integers are linearly independent over the rationals), so two surds are
equal exactly when their terms are: ``\\frac{1}{\\sqrt{2}}`` is ``\\frac{\\sqrt{2}}{2}``,
``(\\sqrt{2}+\\sqrt{3})^2`` is ``5+2\\sqrt{6}``, ``\\sqrt{32}`` is ``4\\sqrt{2}``.

Operations (each raises :class:`retool.answer.values.Undecided` past its bounds, so the symbolic
engine decides instead, and never returns an inexact value):

- :func:`sqrt_rational`: the square root of a non-negative rational (radicands below ``MAX_RADICAND``);
- :func:`surd_arith`: ``+ - * /`` of surds and rationals; a division by a sum is rationalised one
  prime at a time (``D = A + sqrt(p) B`` times ``A - sqrt(p) B`` has no ``sqrt(p)``), at most
  ``MAX_PRIMES`` primes; results with more than ``MAX_TERMS`` terms are undecided;
- :func:`surd_power`: integer powers up to ``MAX_EXPONENT``; the square root of ``a + b sqrt(c)``
  when it denests (``a^2 - b^2 c`` a rational square: ``\\sqrt{3+2\\sqrt{2}} = 1+\\sqrt{2}``).
"""

from __future__ import annotations

import math
from fractions import Fraction

__all__ = ["MAX_RADICAND", "Surd", "sqrt_rational", "surd_arith", "surd_power"]

MAX_RADICAND = 10**12
MAX_TERMS = 32
MAX_PRIMES = 4
MAX_EXPONENT = 64


class Undecided(Exception):
    """Outside the surd arithmetic's bounds (re-raised as :class:`retool.answer.values.Undecided`)."""


class Surd:
    """``sum(c * sqrt(m))``: ``terms`` maps squarefree ``m`` (1 for the rational part) to ``c != 0``."""

    __slots__ = ("terms",)

    def __init__(self, terms: dict[int, Fraction]) -> None:
        self.terms = terms

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Surd) and other.terms == self.terms

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.terms.items())))

    def __repr__(self) -> str:
        return "Surd(" + " + ".join(f"{c}*sqrt({m})" for m, c in sorted(self.terms.items())) + ")"

    def __float__(self) -> float:
        return sum(float(c) * math.sqrt(m) for m, c in self.terms.items())

    def scale(self) -> float:
        return sum(abs(float(c)) * math.sqrt(m) for m, c in self.terms.items())


Exact = Fraction | Surd


def _make(terms: dict[int, Fraction]) -> Exact:
    terms = {m: c for m, c in terms.items() if c != 0}
    if len(terms) > MAX_TERMS:
        raise Undecided(f"surd with more than {MAX_TERMS} terms")
    if not terms or set(terms) == {1}:
        return terms.get(1, Fraction(0))
    return Surd(terms)


def _terms(x: Exact) -> dict[int, Fraction]:
    return x.terms if isinstance(x, Surd) else ({1: x} if x != 0 else {})


def _square_part(n: int) -> tuple[int, int]:
    """``n = s^2 * m`` with ``m`` squarefree: ``(s, m)`` by trial division (``n <= MAX_RADICAND``)."""
    s, m, p = 1, 1, 2
    while p * p <= n:
        while n % (p * p) == 0:
            n //= p * p
            s *= p
        if n % p == 0:
            n //= p
            m *= p
        p += 1 if p == 2 else 2
    return s, m * n


def sqrt_rational(q: Fraction) -> Exact:
    """The exact square root of ``q >= 0``."""
    if q < 0:
        raise Undecided("square root of a negative number")
    n = q.numerator * q.denominator  # sqrt(a/b) = sqrt(a*b)/b
    if n > MAX_RADICAND:
        raise Undecided("radicand too large")
    s, m = _square_part(n)
    return _make({m: Fraction(s, q.denominator)})


def _mul(x: dict[int, Fraction], y: dict[int, Fraction]) -> dict[int, Fraction]:
    out: dict[int, Fraction] = {}
    for m1, c1 in x.items():
        for m2, c2 in y.items():
            g = math.gcd(m1, m2)  # sqrt(m1) sqrt(m2) = g sqrt(m1 m2 / g^2), squarefree again
            m = m1 // g * (m2 // g)
            if m > MAX_RADICAND:
                raise Undecided("radicand too large")
            out[m] = out.get(m, Fraction(0)) + c1 * c2 * g
    return out


def _prime_of(terms: dict[int, Fraction]) -> int | None:
    for m in sorted(terms):
        if m > 1:
            p = 2
            while p * p <= m and m % p:
                p += 1
            return p if p * p <= m else m
    return None


def _inverse(y: dict[int, Fraction]) -> dict[int, Fraction]:
    """``1 / y`` by rationalising one prime at a time."""
    num: dict[int, Fraction] = {1: Fraction(1)}
    den = dict(y)
    for _ in range(MAX_PRIMES + 1):
        p = _prime_of(den)
        if p is None:
            (c,) = den.values() if den else (Fraction(0),)
            if c == 0:
                raise Undecided("division by zero")
            return {m: v / c for m, v in num.items()}
        conjugate = {m: (-c if m % p == 0 else c) for m, c in den.items()}
        num, den = _mul(num, conjugate), {m: c for m, c in _mul(den, conjugate).items() if c != 0}
        if len(num) > MAX_TERMS:
            break
    raise Undecided("denominator with too many radicals")


def surd_arith(a: Exact, b: Exact, op: str) -> Exact:
    x, y = _terms(a), _terms(b)
    if op in "+-":
        out = dict(x)
        for m, c in y.items():
            out[m] = out.get(m, Fraction(0)) + (c if op == "+" else -c)
        return _make(out)
    if op == "*":
        return _make(_mul(x, y))
    if not y:
        raise Undecided("division by zero")
    return _make(_mul(x, _inverse(y)))


def surd_power(base: Exact, exponent: Fraction) -> Exact:
    """``base ** exponent`` for an integer exponent, or a denesting square root (exponent 1/2)."""
    if exponent.denominator == 1:
        n = int(exponent)
        if abs(n) > MAX_EXPONENT:
            raise Undecided("surd power too large")
        result: Exact = Fraction(1)
        for _ in range(abs(n)):
            result = surd_arith(result, base, "*")
        return surd_arith(Fraction(1), result, "/") if n < 0 else result
    if exponent == Fraction(1, 2) and isinstance(base, Surd):
        return _denest(base)
    raise Undecided("surd to a fractional power")


def _denest(x: Surd) -> Exact:
    """``sqrt(a + b sqrt(c)) = sqrt((a+d)/2) + sign(b) sqrt((a-d)/2)`` where ``d^2 = a^2 - b^2 c``."""
    irrational = [m for m in x.terms if m > 1]
    if len(irrational) != 1:
        raise Undecided("nested radical of more than one root")
    (c,) = irrational
    a, b = x.terms.get(1, Fraction(0)), x.terms[c]
    d2 = a * a - b * b * c
    if d2 < 0 or a < 0:
        raise Undecided("nested radical does not denest over the reals")
    d = sqrt_rational(d2)
    if isinstance(d, Surd):
        raise Undecided("nested radical does not denest")
    first, second = sqrt_rational((a + d) / 2), sqrt_rational((a - d) / 2)
    return surd_arith(first, second, "+" if b > 0 else "-")
