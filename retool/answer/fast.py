"""Exact rational evaluation of simple answer LaTeX without sympy (the fast path): the parser.

The value types and their arithmetic live in :mod:`retool.answer.values`.

Contract: :func:`fast_value` maps normalised LaTeX (see :mod:`retool.answer.normalize`) to an exact
:class:`fractions.Fraction`, ``float('inf')``/``-inf`` for ``\\infty``, or raises:

- :class:`Undecided` when the text is outside the fast grammar (symbols, ``\\pi``, irrational
  roots, functions): the caller escalates to the symbolic engine;
- :class:`TooLarge` when the text is pathological or undefined (division by zero, a digit run over ``max_digits``, a power whose
  result would exceed ``max_bits``, e.g. ``9^{9^{9^{9}}}``, a huge factorial, nesting deeper than
  ``max_depth``): the caller rejects it without ever calling sympy.

The grammar: numbers (``42``, ``42.0``, ``.5``, ``1.5e-3``), ``+ - * / \\times \\cdot \\div``,
``^`` (integer exponents, and rational exponents that have an exact rational result),
``\\frac{a}{b}`` and ``\\frac12``, repeating decimals ``0.\\overline{3}`` (= 1/3), mixed numbers ``2\\frac{1}{2}`` (= 5/2), ``\\sqrt{}``/``\\sqrt[n]{}``
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

from retool.answer.polys import Poly, Ratio, variable
from retool.answer.values import (
    Approx,
    PiMul,
    TooLarge,
    Undecided,
    Value,
    arith,
    to_float,
    is_natural,
    log_value,
    power_value,
    scale_of,
    trig_exact,
    clearly_differ,
    pi_times,
)

__all__ = ["Approx", "PiMul", "TooLarge", "Undecided", "Value", "clearly_differ", "fast_value", "pi_times"]

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
_GREEK = frozenset("\\" + g for g in "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta kappa lambda mu nu xi rho "
                   "sigma tau phi varphi chi psi omega".split())
_LETTERS = frozenset("abcdfghjklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")  # not e, i: constants
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
            value = arith(value, rhs, op)
        self.depth -= 1
        return value

    def term(self) -> Value:
        value = self.unary()
        divided = False
        while True:
            tok = self.peek()
            if tok in ("*", "/", "\\times", "\\cdot", "\\div"):
                op = self.take()
                rhs = self.unary()
                divided = op in ("/", "\\div")
                value = arith(value, rhs, "/" if divided else "*")
            elif tok in _IMPLICIT or tok in _LETTERS or tok in _GREEK:  # 2\pi, 12\sqrt{2}, 2(3), 2x
                if divided and isinstance(value, (Poly, Ratio)) or divided and tok in _LETTERS | _GREEK:
                    raise Undecided("an implicit product after '/' (is 1/2x half of x or 1/(2x)?)")
                value = arith(value, self.power(), "*")
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
            return arith(Fraction(0), value, "-")
        return self.power()

    def power(self) -> Value:
        base = self.postfix()
        if self.peek() != "^":
            return base
        self.take("^")
        self.enter()
        exponent = self.unary() if self.peek() in ("-", "+") else self.power_arg()
        self.depth -= 1
        return power_value(base, exponent, self.max_bits)

    def power_arg(self) -> Value:
        tok = self.peek()
        if tok is not None and _DIGITS.issuperset(tok) and len(tok) > 1:  # x^23 in LaTeX is x^{2}3
            raise Undecided("multi-digit bare exponent")
        value = self.atom()
        if self.peek() == "^":  # a^b^c is a^(b^c)
            self.take("^")
            self.enter()
            value = power_value(value, self.power_arg(), self.max_bits)
            self.depth -= 1
        return value

    def postfix(self) -> Value:
        value = self.atom()
        while self.peek() == "!":
            self.take("!")
            if not is_natural(value):
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

    def repeating(self, places: int) -> Fraction:
        """The value of ``\\overline{digits}`` after ``places`` decimals: 0.1\\overline{6} = 1/6."""
        self.take("\\overline")
        braced = self.peek() == "{"
        if braced:
            self.take("{")
        digits = self.take()
        if braced:
            self.take("}")
        if not _DIGITS.issuperset(digits) or len(digits) > 64:
            raise Undecided("repeating block is not a digit string")
        return Fraction(int(digits), (10 ** len(digits) - 1) * 10**places)

    def variable(self, name: str) -> Value:
        """A variable, with its subscript (``x_1``, ``a_{10}``)."""
        if self.peek() == "_":
            self.take("_")
            if self.peek() == "{":
                self.take("{")
                sub = self.take()
                self.take("}")
            else:
                sub = self.take()
            if not sub.isalnum():
                raise Undecided("subscript is not a name")
            name = f"{name}_{sub}"
        return variable(name)

    def function_argument(self) -> Value:
        return self.group() if self.peek() == "{" else self.power()

    def atom(self) -> Value:
        tok = self.take()
        if tok[0] in _DIGITS or (tok[0] == "." and len(tok) > 1):
            value = Fraction(tok)
            if self.peek() == "\\frac" and value.denominator == 1:  # mixed number 2\frac{1}{2}
                self.take()
                num, den = self.group(), self.group()
                if not (is_natural(num) and is_natural(den) and den != 0 and num < den):
                    raise Undecided("implicit product with a fraction")
                return value + num / den
            if self.peek() == "\\overline" and "." in tok and not set(tok) & set("eE"):
                return value + self.repeating(len(tok) - tok.index(".") - 1)
            return value
        if tok in ("(", "{", "["):
            value = self.expr()
            self.take({"(": ")", "{": "}", "[": "]"}[tok])
            return value
        if tok == "\\frac":
            num, den = self.group(), self.group()
            return arith(num, den, "/")
        if tok == "\\sqrt":
            index: Value = Fraction(2)
            if self.peek() == "[":
                self.take("[")
                index = self.expr()
                self.take("]")
            return power_value(self.group(), arith(Fraction(1), index, "/"), self.max_bits)
        if tok == "\\binom":
            n, k = self.group(), self.group()
            if not (is_natural(n) and is_natural(k)) or n > 100_000:
                raise Undecided("binomial of non-naturals")
            return Fraction(math.comb(int(n), int(k)))
        if tok in _LETTERS or tok in _GREEK:
            return self.variable(tok)
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
            return log_value(self.function_argument(), base)
        if tok == "\\ln":
            return log_value(self.function_argument(), None)
        if tok in _FUNCS:
            arg = self.function_argument()
            if arg == 0:
                return Fraction(1) if tok == "\\cos" else Fraction(0)
            if isinstance(arg, PiMul):
                exact = trig_exact(tok, arg.q)
                if exact is not None:
                    return exact
            x = to_float(arg)
            if abs(x) > 1e6:
                raise Undecided("trigonometric function of a huge argument")
            return Approx(_FUNCS[tok](x), max(1.0, scale_of(arg)) / (math.cos(x) ** 2 if tok == "\\tan" else 1.0))
        raise Undecided(f"token {tok!r}")


def fast_value(text: str, *, max_digits: int = 1000, max_bits: int = 100_000, max_depth: int = 64) -> Value:
    """Evaluate ``text`` exactly (or approximately, see :class:`Approx`) or raise (see module doc)."""
    tokens = _tokens(text, max_digits)
    if not tokens:
        raise Undecided("empty")
    parser = _Parser(tokens, max_bits, max_depth)
    value = parser.expr()
    if parser.peek() is not None:
        raise Undecided(f"unexpected {parser.peek()!r}")
    if isinstance(value, Ratio) and set(value.num.terms) <= {()} and set(value.den.terms) <= {()}:
        value = arith(value.num.terms.get((), Fraction(0)), value.den.terms[()], "/")
    if isinstance(value, Poly) and set(value.terms) <= {()}:  # the variables cancelled: a number
        value = value.terms.get((), Fraction(0))
    return value
