"""Exact and approximate answer values and their arithmetic (used by :mod:`retool.answer.fast`).

Contract: pure functions over :data:`Value` = ``Fraction`` (exact rational) | ``float`` (only
``inf``/``-inf``) | :class:`PiMul` (exact rational multiple of pi) | :class:`~retool.answer.surds.Surd`
(exact sum of rational multiples of square roots) | :class:`Approx` (a float and the largest
magnitude met computing it). Exact operands give exact results (square roots of rationals and
their sums, products, quotients and denesting square roots stay exact within the bounds of
:mod:`retool.answer.surds`); anything else becomes an ``Approx``. :func:`clearly_differ` is the only consumer of approximations: it says two values are
certainly different when they differ by more than ``rel_tol`` (1e-9) times the largest magnitude
involved, far above float rounding (~1e-16 of it per operation), so it never rejects a true
equality. Errors: :class:`Undecided` (leave it to the symbolic engine), :class:`TooLarge`
(pathological or undefined: huge powers, division by zero).
"""

from __future__ import annotations

import math
from fractions import Fraction

from retool.answer import polys, surds
from retool.answer.polys import Poly, Ratio
from retool.answer.surds import Surd


class Undecided(Exception):
    """The fast grammar cannot evaluate this text; use the symbolic engine."""


class TooLarge(Exception):
    """The text would need unbounded work (giant numbers, power towers)."""


class Approx:
    """An inexact real: ``value`` and ``scale``, the largest magnitude met while computing it."""

    __slots__ = ("value", "scale")

    def __init__(self, value: float, scale: float) -> None:
        if not math.isfinite(value):
            raise Undecided("non-finite approximation")
        self.value, self.scale = value, max(scale, abs(value))


class PiMul:
    """An exact rational multiple of pi, ``q * pi`` (``q != 0``)."""

    __slots__ = ("q",)

    def __init__(self, q: Fraction) -> None:
        self.q = q

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PiMul) and other.q == self.q

    def __hash__(self) -> int:
        return hash(("pi", self.q))

    def __repr__(self) -> str:
        return f"PiMul({self.q})"


def pi_times(q: Fraction) -> Fraction | PiMul:
    return Fraction(0) if q == 0 else PiMul(q)


Value = Fraction | float | Approx | PiMul | Surd | Poly | Ratio
_SIN_EXACT = {Fraction(0): Fraction(0), Fraction(1, 6): Fraction(1, 2), Fraction(1, 2): Fraction(1),
              Fraction(5, 6): Fraction(1, 2), Fraction(1): Fraction(0), Fraction(7, 6): Fraction(-1, 2),
              Fraction(3, 2): Fraction(-1), Fraction(11, 6): Fraction(-1, 2)}
_TAN_EXACT = {Fraction(0): Fraction(0), Fraction(1, 4): Fraction(1), Fraction(3, 4): Fraction(-1)}


_R2, _R3 = surds.sqrt_rational(Fraction(1, 2)), surds.sqrt_rational(Fraction(3, 4))  # sqrt(2)/2, sqrt(3)/2
_SIN_SURD = {Fraction(1, 4): _R2, Fraction(3, 4): _R2, Fraction(1, 3): _R3, Fraction(2, 3): _R3}
_TAN_SURD = {Fraction(1, 3): surds.sqrt_rational(Fraction(3)), Fraction(1, 6): surds.sqrt_rational(Fraction(1, 3))}


def trig_exact(name: str, q: Fraction) -> Fraction | Surd | None:
    if name == "\\tan":
        if q % 1 == Fraction(1, 2):
            raise Undecided("tangent at a pole")
        r = q % 1
        if r in _TAN_SURD or 1 - r in _TAN_SURD:
            return _TAN_SURD[r] if r in _TAN_SURD else arith(Fraction(0), _TAN_SURD[1 - r], "-")
        return _TAN_EXACT.get(r)
    r = (q + (Fraction(1, 2) if name == "\\cos" else 0)) % 2
    if (r % 1) in _SIN_SURD:  # sin is negative on (pi, 2 pi)
        return _SIN_SURD[r % 1] if r < 1 else arith(Fraction(0), _SIN_SURD[r % 1], "-")
    return _SIN_EXACT.get(r)


def is_natural(value: Value) -> bool:
    return isinstance(value, Fraction) and value.denominator == 1 and value >= 0


def to_float(value: Value) -> float:
    if isinstance(value, Approx):
        return value.value
    if isinstance(value, PiMul):
        return to_float(value.q) * math.pi
    if isinstance(value, Surd):
        return float(value)
    if isinstance(value, (Poly, Ratio)):
        raise Undecided("a function of a variable, not a number")
    if isinstance(value, float):
        raise Undecided("arithmetic with infinity")
    try:
        return float(value)
    except OverflowError:
        raise Undecided("too large for an approximation") from None


def scale_of(value: Value) -> float:
    if isinstance(value, Surd):
        return value.scale()
    return value.scale if isinstance(value, Approx) else abs(to_float(value))


def pi_arith(a: Value, b: Value, op: str) -> Value | None:
    """Exact arithmetic that keeps a rational multiple of pi, or None."""
    if isinstance(a, PiMul) and isinstance(b, PiMul):
        if op in "+-":
            return pi_times(a.q + b.q if op == "+" else a.q - b.q)
        return Fraction(a.q / b.q) if op == "/" else None
    if isinstance(a, PiMul) and isinstance(b, Fraction):
        if op == "*":
            return pi_times(a.q * b)
        return pi_times(a.q / b) if op == "/" and b != 0 else None
    if isinstance(a, Fraction) and isinstance(b, PiMul) and op == "*":
        return pi_times(a * b.q)
    return None


def arith(a: Value, b: Value, op: str) -> Value:
    if isinstance(a, float) or isinstance(b, float):
        raise Undecided("arithmetic with infinity")
    if isinstance(a, (Poly, Ratio)) or isinstance(b, (Poly, Ratio)):
        if isinstance(a, (Approx, PiMul)) or isinstance(b, (Approx, PiMul)):
            raise Undecided("a constant other than a rational or a square root in a polynomial")
        try:
            return polys.poly_arith(a, b, op)
        except surds.Undecided as exc:
            raise Undecided(str(exc)) from None
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if b == 0:
            raise TooLarge("division by zero: not a number")
        return a / b
    if (exact := pi_arith(a, b, op)) is not None:
        return exact
    if isinstance(a, (Fraction, Surd)) and isinstance(b, (Fraction, Surd)):
        try:
            return surds.surd_arith(a, b, op)
        except surds.Undecided:
            pass
    x, y = to_float(a), to_float(b)
    sa, sb = scale_of(a), scale_of(b)
    if op == "/":
        if y == 0:
            raise Undecided("division by an approximate zero")
        result = x / y
        return Approx(result, max(abs(result), (sa + abs(result) * sb) / abs(y)))
    if op == "*":
        return Approx(x * y, max(abs(x * y), sa * sb))
    result = x + y if op == "+" else x - y
    return Approx(result, max(abs(result), sa + sb))


def ln_value(value: Value) -> float:
    if isinstance(value, Fraction):
        return math.log(value.numerator) - math.log(value.denominator)
    return math.log(to_float(value))


def log_value(x: Value, base: Value | None) -> Value:
    if isinstance(x, Fraction) and x == 1:
        return Fraction(0)
    if isinstance(x, float) or isinstance(base, float):
        raise Undecided("logarithm of infinity")
    if to_float(x) <= 0 or (base is not None and (to_float(base) <= 0 or base == 1)):
        raise Undecided("logarithm outside its real domain")
    ln_x, ln_b = ln_value(x), (1.0 if base is None else ln_value(base))
    if ln_b == 0:
        raise Undecided("logarithm to base 1")
    if isinstance(x, Fraction) and isinstance(base, Fraction):
        k = round(ln_x / ln_b)
        if abs(k) <= 10_000 and base**k == x:
            return Fraction(k)
    result = ln_x / ln_b
    spread = scale_of(x) / abs(to_float(x)) if to_float(x) else float("inf")
    return Approx(result, max(1.0, abs(result), spread) * max(1.0, 1.0 / abs(ln_b)))


def exact_root(value: int, n: int) -> int | None:
    if value < 0:
        if n % 2 == 0:
            return None
        root = exact_root(-value, n)
        return None if root is None else -root
    root = round(value ** (1.0 / n)) if value.bit_length() < 1000 else int_root(value, n)
    for cand in (root - 1, root, root + 1):
        if cand >= 0 and cand**n == value:
            return cand
    return None


def int_root(value: int, n: int) -> int:
    lo, hi = 0, 1 << (value.bit_length() // n + 1)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if mid**n <= value:
            lo = mid
        else:
            hi = mid - 1
    return lo


def power_value(base: Value, exponent: Value, max_bits: int) -> Value:
    if isinstance(base, float) or isinstance(exponent, float):
        raise Undecided("power with infinity")
    if isinstance(exponent, (Poly, Ratio)) or (isinstance(base, (Poly, Ratio)) and not isinstance(exponent, Fraction)):
        raise Undecided("a power with a variable")
    if isinstance(base, (Poly, Ratio)):
        try:
            return polys.poly_power(base, exponent)
        except surds.Undecided as exc:
            raise Undecided(str(exc)) from None
    if isinstance(base, Surd) and isinstance(exponent, Fraction):
        try:
            return surds.surd_power(base, exponent)
        except surds.Undecided:
            pass
    if isinstance(base, (Approx, PiMul, Surd)) or isinstance(exponent, (Approx, PiMul, Surd)):
        b, e = to_float(base), to_float(exponent)
        if abs(e) > 1000 or b < 0 or (b == 0 and e <= 0):
            raise Undecided("approximate power out of range")
        try:
            result = b**e
        except OverflowError:
            raise Undecided("approximate power overflows") from None
        if b == 0:
            return Approx(0.0, 1.0)
        relative = abs(e) * scale_of(base) / b + abs(math.log(b)) * scale_of(exponent)
        return Approx(result, max(1.0, abs(result), abs(result) * relative))
    if base in (0, 1) and exponent > 0 or base == 1:
        return base
    if base == -1 and exponent.denominator == 1:
        return Fraction(-1 if exponent.numerator % 2 else 1)
    size_bits = max(abs(base.numerator).bit_length(), base.denominator.bit_length())
    if abs(exponent.numerator) > max_bits or abs(exponent.numerator) * size_bits > max_bits:
        raise TooLarge(f"power with exponent {exponent} would exceed {max_bits} bits")
    if exponent.denominator > 64:
        raise Undecided("root index too large")
    if base == 0:
        raise Undecided("zero to a non-positive power")
    if exponent.denominator != 1:
        q = exponent.denominator
        num, den = exact_root(base.numerator, q), exact_root(base.denominator, q)
        if num is None or den is None:
            if base < 0:
                raise Undecided(f"root of the negative number {base}")
            if q == 2 and abs(exponent.numerator) <= surds.MAX_EXPONENT:
                try:
                    return surds.surd_power(surds.sqrt_rational(base), Fraction(exponent.numerator))
                except surds.Undecided:
                    pass
            return power_value(Approx(to_float(base), scale_of(base)), exponent, max_bits)
        base, exponent = Fraction(num, den), Fraction(exponent.numerator)
    return base ** int(exponent)


def clearly_differ(a: Value, b: Value, *, rel_tol: float = 1e-9) -> bool:
    """True only when ``a != b`` is certain despite float rounding in an :class:`Approx`."""
    if isinstance(a, float) or isinstance(b, float):
        return a != b if not (isinstance(a, Approx) or isinstance(b, Approx)) else True
    if not isinstance(a, Approx) and not isinstance(b, Approx):
        return a != b  # exact values: Fraction, or rational multiples of pi
    x, y = to_float(a), to_float(b)
    return abs(x - y) > rel_tol * max(1.0, scale_of(a), scale_of(b))
