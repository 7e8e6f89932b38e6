"""Exact rational evaluation of simple answer LaTeX without sympy (the fast path).

Contract: :func:`fast_value` maps normalised LaTeX (see :mod:`retool.answer_norm`) to an exact
:class:`fractions.Fraction`, ``float('inf')``/``-inf`` for ``\\infty``, or raises:

- :class:`Undecided` when the text is outside the fast grammar (symbols, ``\\pi``, irrational
  roots, functions): the caller escalates to the symbolic engine;
- :class:`TooLarge` when the text is pathological or undefined (division by zero, a digit run over ``max_digits``, a power whose
  result would exceed ``max_bits``, e.g. ``9^{9^{9^{9}}}``, a huge factorial, nesting deeper than
  ``max_depth``): the caller rejects it without ever calling sympy.

The grammar: numbers (``42``, ``42.0``, ``.5``, ``1.5e-3``), ``+ - * / \\times \\cdot \\div``,
``^`` (integer exponents, and rational exponents that have an exact rational result),
``\\frac{a}{b}`` and ``\\frac12``, mixed numbers ``2\\frac{1}{2}`` (= 5/2), ``\\sqrt{}``/``\\sqrt[n]{}``
with exact rational roots, ``n!``, ``\\binom{n}{k}``, parentheses and braces. Decimals are read
exactly (``0.1`` is 1/10), so an inexact decimal never equals a repeating fraction.
Everything exact here is integer arithmetic: it takes microseconds.

Rational multiples of pi are exact (:class:`PiMul`: ``\\frac{\\pi}{2}`` equals ``\\pi/2``, never a
rational), and so are sines, cosines and tangents with rational values at them (``\\cos\\frac{\\pi}{3}
= 1/2``). Other irrational values (``e``, irrational roots, ``\\log_b``, ``\\ln``, ``\\sin``/``\\cos``/``\\tan``,
implicit products such as ``12\\sqrt{2}``) evaluate to an :class:`Approx` (a float plus the largest
magnitude met while computing it). An ``Approx`` is used **only to reject**: :func:`clearly_differ`
is True when two values differ by more than ``1e-9`` times the largest magnitude involved (float
rounding is ~1e-16 of it), so a true equality is never rejected; anything closer goes to the exact
symbolic engine. ``\\log_b x`` is exact when ``b^k = x`` for an integer ``k`` (``\\log_{10} 1000 = 3``);
a bare ``\\log`` (base ambiguous) is undecided.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction


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


Value = Fraction | float | Approx | PiMul
_SIN_EXACT = {Fraction(0): Fraction(0), Fraction(1, 6): Fraction(1, 2), Fraction(1, 2): Fraction(1),
              Fraction(5, 6): Fraction(1, 2), Fraction(1): Fraction(0), Fraction(7, 6): Fraction(-1, 2),
              Fraction(3, 2): Fraction(-1), Fraction(11, 6): Fraction(-1, 2)}
_TAN_EXACT = {Fraction(0): Fraction(0), Fraction(1, 4): Fraction(1), Fraction(3, 4): Fraction(-1)}


_TOKEN = re.compile(r"\s*(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\\[a-zA-Z]+|\S)", re.ASCII)
_DIGITS = frozenset("0123456789")
_INF = float("inf")


def _tokens(text: str, max_digits: int) -> list[str]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:  # trailing spaces only
            break
        tok = m.group(1)
        if tok[0] in _DIGITS or tok[0] == ".":
            if len(tok) > max_digits:
                raise TooLarge(f"digit string of {len(tok)} characters")
            if re.search(r"[eE]", tok) and abs(int(re.split(r"[eE]", tok)[1])) > max_digits:
                raise TooLarge(f"exponent in {tok[:40]!r}")
        out.append(tok)
        pos = m.end()
    return out


_IMPLICIT = frozenset({"\\pi", "\\sqrt", "\\frac", "(", "\\log", "\\ln", "\\sin", "\\cos", "\\tan", "e"})
_FUNCS = {"\\sin": math.sin, "\\cos": math.cos, "\\tan": math.tan}


class _Parser:
    def __init__(self, tokens: list[str], max_bits: int, max_depth: int) -> None:
        self.toks, self.i, self.max_bits, self.max_depth, self.depth = tokens, 0, max_bits, max_depth, 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise Undecided(f"expected {expected!r}, found {tok!r}")
        self.i += 1
        return tok

    def enter(self) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            raise TooLarge(f"nesting deeper than {self.max_depth}")

    def expr(self) -> Value:
        self.enter()
        value = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            rhs = self.term()
            value = _arith(value, rhs, op)
        self.depth -= 1
        return value

    def term(self) -> Value:
        value = self.unary()
        while True:
            tok = self.peek()
            if tok in ("*", "/", "\\times", "\\cdot", "\\div"):
                op = self.take()
                rhs = self.unary()
                value = _arith(value, rhs, "/" if op in ("/", "\\div") else "*")
            elif tok in _IMPLICIT:  # 2\pi, 12\sqrt{2}, 2(3)
                value = _arith(value, self.power(), "*")
            else:
                return value

    def unary(self) -> Value:
        if self.peek() in ("-", "+"):
            sign = self.take()
            self.enter()
            value = self.unary()
            self.depth -= 1
            if sign == "+" or isinstance(value, float):
                return -value if sign == "-" else value
            if isinstance(value, PiMul):
                return PiMul(-value.q)
            return _arith(Fraction(0), value, "-")
        return self.power()

    def power(self) -> Value:
        base = self.postfix()
        if self.peek() != "^":
            return base
        self.take("^")
        self.enter()
        exponent = self.unary() if self.peek() in ("-", "+") else self.power_arg()
        self.depth -= 1
        return _pow(base, exponent, self.max_bits)

    def power_arg(self) -> Value:
        tok = self.peek()
        if tok is not None and _DIGITS.issuperset(tok) and len(tok) > 1:  # x^23 in LaTeX is x^{2}3
            raise Undecided("multi-digit bare exponent")
        value = self.atom()
        if self.peek() == "^":  # a^b^c is a^(b^c)
            self.take("^")
            self.enter()
            value = _pow(value, self.power_arg(), self.max_bits)
            self.depth -= 1
        return value

    def postfix(self) -> Value:
        value = self.atom()
        while self.peek() == "!":
            self.take("!")
            if not _is_nat(value):
                raise Undecided("factorial of a non-natural number")
            if value > 2000:
                raise TooLarge(f"factorial of {value}")
            value = Fraction(math.factorial(int(value)))
        return value

    def group(self) -> Value:
        tok = self.peek()
        if tok == "{":
            self.take("{")
            value = self.expr()
            self.take("}")
            return value
        if tok is not None and tok and _DIGITS.issuperset(tok):  # \frac12: one digit per argument
            self.toks[self.i : self.i + 1] = [tok[0]] + ([tok[1:]] if len(tok) > 1 else [])
            return Fraction(self.take())
        raise Undecided(f"command argument {tok!r}")

    def function_argument(self) -> Value:
        return self.group() if self.peek() == "{" else self.power()

    def atom(self) -> Value:
        tok = self.take()
        if tok[0] in _DIGITS or (tok[0] == "." and len(tok) > 1):
            value = Fraction(tok)
            if self.peek() == "\\frac" and value.denominator == 1:  # mixed number 2\frac{1}{2}
                self.take()
                num, den = self.group(), self.group()
                if not (_is_nat(num) and _is_nat(den) and den != 0 and num < den):
                    raise Undecided("implicit product with a fraction")
                return value + num / den
            return value
        if tok in ("(", "{", "["):
            value = self.expr()
            self.take({"(": ")", "{": "}", "[": "]"}[tok])
            return value
        if tok == "\\frac":
            num, den = self.group(), self.group()
            return _arith(num, den, "/")
        if tok == "\\sqrt":
            index: Value = Fraction(2)
            if self.peek() == "[":
                self.take("[")
                index = self.expr()
                self.take("]")
            return _pow(self.group(), _arith(Fraction(1), index, "/"), self.max_bits)
        if tok == "\\binom":
            n, k = self.group(), self.group()
            if not (_is_nat(n) and _is_nat(k)) or n > 100_000:
                raise Undecided("binomial of non-naturals")
            return Fraction(math.comb(int(n), int(k)))
        if tok == "\\infty":
            return _INF
        if tok == "\\pi":
            return PiMul(Fraction(1))
        if tok == "e":
            return Approx(math.e, math.e)
        if tok == "\\log":
            if self.peek() != "_":
                raise Undecided("logarithm without a base")
            self.take("_")
            base = self.group() if self.peek() == "{" else self.atom()
            return _log(self.function_argument(), base)
        if tok == "\\ln":
            return _log(self.function_argument(), None)
        if tok in _FUNCS:
            arg = self.function_argument()
            if arg == 0:
                return Fraction(1) if tok == "\\cos" else Fraction(0)
            if isinstance(arg, PiMul):
                exact = _trig_exact(tok, arg.q)
                if exact is not None:
                    return exact
            x = _float(arg)
            if abs(x) > 1e6:
                raise Undecided("trigonometric function of a huge argument")
            return Approx(_FUNCS[tok](x), max(1.0, _scale(arg)) / (math.cos(x) ** 2 if tok == "\\tan" else 1.0))
        raise Undecided(f"token {tok!r}")


def _trig_exact(name: str, q: Fraction) -> Fraction | None:
    if name == "\\tan":
        if q % 1 == Fraction(1, 2):
            raise Undecided("tangent at a pole")
        return _TAN_EXACT.get(q % 1)
    return _SIN_EXACT.get((q + (Fraction(1, 2) if name == "\\cos" else 0)) % 2)


def _is_nat(value: Value) -> bool:
    return isinstance(value, Fraction) and value.denominator == 1 and value >= 0


def _float(value: Value) -> float:
    if isinstance(value, Approx):
        return value.value
    if isinstance(value, PiMul):
        return _float(value.q) * math.pi
    if isinstance(value, float):
        raise Undecided("arithmetic with infinity")
    try:
        return float(value)
    except OverflowError:
        raise Undecided("too large for an approximation") from None


def _scale(value: Value) -> float:
    return value.scale if isinstance(value, Approx) else abs(_float(value))


def _pi_arith(a: Value, b: Value, op: str) -> Value | None:
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


def _arith(a: Value, b: Value, op: str) -> Value:
    if isinstance(a, float) or isinstance(b, float):
        raise Undecided("arithmetic with infinity")
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
    if (exact := _pi_arith(a, b, op)) is not None:
        return exact
    x, y = _float(a), _float(b)
    sa, sb = _scale(a), _scale(b)
    if op == "/":
        if y == 0:
            raise Undecided("division by an approximate zero")
        result = x / y
        return Approx(result, max(abs(result), (sa + abs(result) * sb) / abs(y)))
    if op == "*":
        return Approx(x * y, max(abs(x * y), sa * sb))
    result = x + y if op == "+" else x - y
    return Approx(result, max(abs(result), sa + sb))


def _ln(value: Value) -> float:
    if isinstance(value, Fraction):
        return math.log(value.numerator) - math.log(value.denominator)
    return math.log(_float(value))


def _log(x: Value, base: Value | None) -> Value:
    if isinstance(x, Fraction) and x == 1:
        return Fraction(0)
    if isinstance(x, float) or isinstance(base, float):
        raise Undecided("logarithm of infinity")
    if _float(x) <= 0 or (base is not None and (_float(base) <= 0 or base == 1)):
        raise Undecided("logarithm outside its real domain")
    ln_x, ln_b = _ln(x), (1.0 if base is None else _ln(base))
    if ln_b == 0:
        raise Undecided("logarithm to base 1")
    if isinstance(x, Fraction) and isinstance(base, Fraction):
        k = round(ln_x / ln_b)
        if abs(k) <= 10_000 and base**k == x:
            return Fraction(k)
    result = ln_x / ln_b
    spread = _scale(x) / abs(_float(x)) if _float(x) else float("inf")
    return Approx(result, max(1.0, abs(result), spread) * max(1.0, 1.0 / abs(ln_b)))


def _exact_root(value: int, n: int) -> int | None:
    if value < 0:
        if n % 2 == 0:
            return None
        root = _exact_root(-value, n)
        return None if root is None else -root
    root = round(value ** (1.0 / n)) if value.bit_length() < 1000 else _int_root(value, n)
    for cand in (root - 1, root, root + 1):
        if cand >= 0 and cand**n == value:
            return cand
    return None


def _int_root(value: int, n: int) -> int:
    lo, hi = 0, 1 << (value.bit_length() // n + 1)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if mid**n <= value:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _pow(base: Value, exponent: Value, max_bits: int) -> Value:
    if isinstance(base, float) or isinstance(exponent, float):
        raise Undecided("power with infinity")
    if isinstance(base, (Approx, PiMul)) or isinstance(exponent, (Approx, PiMul)):
        b, e = _float(base), _float(exponent)
        if abs(e) > 1000 or b < 0 or (b == 0 and e <= 0):
            raise Undecided("approximate power out of range")
        try:
            result = b**e
        except OverflowError:
            raise Undecided("approximate power overflows") from None
        if b == 0:
            return Approx(0.0, 1.0)
        relative = abs(e) * _scale(base) / b + abs(math.log(b)) * _scale(exponent)
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
        num, den = _exact_root(base.numerator, q), _exact_root(base.denominator, q)
        if num is None or den is None:
            if base < 0:
                raise Undecided(f"root of the negative number {base}")
            return _pow(Approx(_float(base), _scale(base)), exponent, max_bits)
        base, exponent = Fraction(num, den), Fraction(exponent.numerator)
    return base ** int(exponent)


def clearly_differ(a: Value, b: Value, *, rel_tol: float = 1e-9) -> bool:
    """True only when ``a != b`` is certain despite float rounding in an :class:`Approx`."""
    if isinstance(a, float) or isinstance(b, float):
        return a != b if not (isinstance(a, Approx) or isinstance(b, Approx)) else True
    if not isinstance(a, Approx) and not isinstance(b, Approx):
        return a != b  # exact values: Fraction, or rational multiples of pi
    x, y = _float(a), _float(b)
    return abs(x - y) > rel_tol * max(1.0, _scale(a), _scale(b))


def fast_value(text: str, *, max_digits: int = 1000, max_bits: int = 100_000, max_depth: int = 64) -> Value:
    """Evaluate ``text`` exactly (or approximately, see :class:`Approx`) or raise (see module doc)."""
    tokens = _tokens(text, max_digits)
    if not tokens:
        raise Undecided("empty")
    parser = _Parser(tokens, max_bits, max_depth)
    value = parser.expr()
    if parser.peek() is not None:
        raise Undecided(f"unexpected {parser.peek()!r}")
    return value
