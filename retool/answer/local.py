"""Answer comparison inside this process: guards, structure trees, the fast path, optionally sympy.

Contract: :func:`compare_local` ``(pred, gold, config, *, symbolic)`` decides with the exact fast
path (:mod:`retool.answer.fast`) and, with ``symbolic=True``, hands leaves outside the fast grammar
to :mod:`retool.answer.symbolic`. With ``symbolic=False`` an undecidable comparison returns
``method="undecided"``. It raises on internal errors: :func:`retool.answer.check.compare` is the
total wrapper, and the symbolic path runs it inside a worker process
(:mod:`retool.answer.worker`) with a hard deadline.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Callable

from retool.answer.config import AnswerConfig, Verdict
from retool.answer.fast import Approx, PiMul, TooLarge, Undecided, Value, clearly_differ, fast_value, pi_times
from retool.answer.polys import Poly, Ratio, poly_equal, proportional
from retool.answer.surds import Surd
from retool.answer.notation import canonical_unit
from retool.answer.normalize import Bag, Equation, Leaf, Matrix, Node, Seq, has_free_symbol, structure

__all__ = ["compare_local"]


LeafEq = Callable[[Leaf, Leaf], "bool | None"]
_WORDS = re.compile(r"^[A-Za-z][A-Za-z ]*$")
_APPROX = re.compile(r"\\(?:approx|simeq|thickapprox|sim)(?![a-zA-Z])")


class Engine:
    """What the tree comparison asks of an engine: scalar equality (``leaf``), whether two relations
    ``d1 op 0`` and ``d2 op 0`` are the same (``relation``: one is a constant multiple of the other,
    positive for an inequality) and the interval a one-variable inequality describes (``interval``).
    Each answers None when it cannot decide; this base class is the fast path's (sympy-free)."""

    def __init__(self, leaf: LeafEq) -> None:
        self.leaf = leaf

    def relation(self, d1: str, d2: str, op: str) -> bool | None:
        if self.leaf(Leaf(d1), Leaf(d2)) is True:
            return True
        if op in ("=", "ne") and self.leaf(Leaf(d1), Leaf(f"-({d2})")) is True:
            return True
        a, b = _exact(d1), _exact(d2)
        if isinstance(a, (Poly, Ratio)) and isinstance(b, (Poly, Ratio)):
            k = proportional(a, b)
            if k is None:
                return False  # exact polynomials that are no constant multiple of each other
            return op in ("=", "ne") or _sign(k) == 1
        return None

    def interval(self, eq: Equation) -> Node | None:
        """A linear inequality in one variable, solved exactly: ``a v + b < 0``."""
        d = _exact(f"{eq.lhs}-({eq.rhs})")
        if not isinstance(d, Poly) or len({v for m in d.terms for v, _ in m}) != 1 or any(
                sum(k for _, k in m) > 1 for m in d.terms):
            return None
        (slope,) = [c for m, c in d.terms.items() if m]
        sign = _sign(slope)
        if not isinstance(slope, Fraction) or sign is None or not isinstance(d.terms.get((), Fraction(0)), Fraction):
            return None
        bound = -d.terms.get((), Fraction(0)) / slope
        text = str(bound.numerator) if bound.denominator == 1 else f"\\frac{{{bound.numerator}}}{{{bound.denominator}}}"
        closed = eq.op == "le"
        if sign > 0:
            return Seq("(", "]" if closed else ")", (Leaf("-\\infty"), Leaf(text)))
        return Seq("[" if closed else "(", ")", (Leaf(text), Leaf("\\infty")))


def _exact(text: str) -> Value | None:
    try:
        return fast_value(text)
    except (Undecided, TooLarge):
        return None


def _sign(k: object) -> int | None:
    if isinstance(k, Fraction):
        return (k > 0) - (k < 0)
    if isinstance(k, Surd):
        x = float(k)
        return None if abs(x) < 1e-9 * max(1.0, k.scale()) else (1 if x > 0 else -1)
    return None


def _fast_leaf(a: Leaf, b: Leaf, config: AnswerConfig) -> bool | None:
    if a.text == b.text:
        return True
    if "dots" in a.text or "dots" in b.text:  # 5\ldots trails off: never a value unless written identically
        return False
    if _APPROX.search(a.text) or _APPROX.search(b.text):  # 0.667 \approx \frac23 states an approximation
        return False
    words = [bool(_WORDS.match(leaf.text)) for leaf in (a, b)]
    if all(words) and len(a.text) > 1 and len(b.text) > 1:  # Yes == yes (words, not products of variables)
        return [w.lower() for w in a.text.split()] == [w.lower() for w in b.text.split()]
    kw = {"max_digits": config.max_digits, "max_bits": config.max_bits, "max_depth": config.max_depth}
    values: list[Value | None] = []
    for leaf in (a, b):
        try:
            values.append(fast_value(leaf.text, **kw))
        except Undecided:
            values.append(None)
    x, y = values
    if (isinstance(x, (Poly, Ratio)) and y is not None) or (isinstance(y, (Poly, Ratio)) and x is not None):
        if a.degree or b.degree or a.percent != b.percent:
            return None
        if isinstance(x, (Approx, PiMul, float)) or isinstance(y, (Approx, PiMul, float)):
            return False  # a function of a variable against a number
        return poly_equal(x, y)
    if x is not None and y is not None:
        if a.degree != b.degree and isinstance(y if a.degree else x, PiMul) and isinstance(x if a.degree else y, Fraction):
            degrees, radians = (x, y) if a.degree else (y, x)
            return pi_times(degrees / 180) == radians  # 45 degrees == pi/4
        if not isinstance(x, Approx) and not isinstance(y, Approx):
            return x == y
        if a.degree != b.degree:  # 45 degrees against an approximate radian value: decided symbolically
            return None
        return False if clearly_differ(x, y) else None
    if not a.text.strip() or not b.text.strip():
        return False
    words = [bool(_WORDS.match(leaf.text)) for leaf in (a, b)]
    if all(words):
        p, g = a.text.split(), b.text.split()
        return p == g if len(a.text) == 1 or len(b.text) == 1 else [w.lower() for w in p] == [w.lower() for w in g]
    if isinstance(x, (Poly, Ratio)) or isinstance(y, (Poly, Ratio)):
        return None  # one side is a polynomial, the other outside the fast grammar
    # an expression outside the fast grammar in a variable against a number is sympy's to decide: it
    # may be constant (\sin^2 x + \cos^2 x is 1)
    return None


def _all(results: list[bool | None]) -> bool | None:
    if any(r is False for r in results):
        return False
    return None if any(r is None for r in results) else True


def _perfect_matching(table: list[list[bool | None]], ok: tuple[bool | None, ...]) -> bool:
    """Whether every row can be paired with its own column through cells whose value is in ``ok``
    (augmenting paths, Kuhn's algorithm, iterative: the verdict never depends on the items' order)."""
    n = len(table)
    owner: list[int] = [-1] * n  # column -> the row paired with it
    for start in range(n):
        seen = [False] * n
        parent: dict[int, tuple[int, int]] = {}  # column -> (row that reached it, that row's previous column)
        stack = [(start, -1)]
        free_col = -1
        while stack and free_col < 0:
            row, via = stack.pop()
            for col, cell in enumerate(table[row]):
                if cell in ok and not seen[col]:
                    seen[col] = True
                    parent[col] = (row, via)
                    if owner[col] < 0:
                        free_col = col
                        break
                    stack.append((owner[col], col))
        if free_col < 0:
            return False
        col = free_col
        while col >= 0:  # flip the path: each column on it goes to the row that reached it
            row, via = parent[col]
            owner[col] = row
            col = via
    return True


def _bag_equal(xs: tuple[Node, ...], ys: tuple[Node, ...], leaf: Engine) -> bool | None:
    if len(xs) != len(ys):
        return False
    table = [[_nodes_equal(x, y, leaf) for y in ys] for x in xs]
    if _perfect_matching(table, (True,)):
        return True
    return None if _perfect_matching(table, (True, None)) else False


def _equations_equal(p: Equation, g: Equation, engine: Engine) -> bool | None:
    """Equivalent relations: one side minus the other is a constant multiple (positive for ``<``/``le``)."""
    if p.op != g.op:
        return False
    same = engine.relation(f"{p.lhs}-({p.rhs})", f"{g.lhs}-({g.rhs})", p.op)
    if same is not True and p.named and g.named and p.op == "=":  # y = 2x + 3 against f(x) = 2x + 3
        return engine.leaf(Leaf(p.rhs), Leaf(g.rhs)) or same
    return same


def _equation_against(eq: Equation, other: Node, engine: Engine) -> bool | None:
    """An equation against a value: a named one by its right side; an inequality against an interval
    by the interval it describes; an equation with a variable never (``x + 2 = 7`` is not the answer
    7: it restates an equation); a true statement between numbers (``\\frac{6}{2} = 3``) by its right side."""
    if eq.op != "=":
        if not isinstance(other, Seq):
            return False
        interval = engine.interval(eq)
        return None if interval is None else _nodes_equal(interval, other, engine)
    if eq.named:
        return _nodes_equal(structure(eq.rhs), other, engine)
    if has_free_symbol(eq.lhs) or has_free_symbol(eq.rhs):
        return False
    true = engine.leaf(Leaf(eq.lhs), Leaf(eq.rhs))
    return _nodes_equal(structure(eq.rhs), other, engine) if true else true


def _nodes_equal(p: Node, g: Node, leaf: Engine) -> bool | None:
    if p == g:
        return True
    if isinstance(p, Bag) and len(p.items) == 1:
        return _nodes_equal(p.items[0], g, leaf)
    if isinstance(g, Bag) and len(g.items) == 1:
        return _nodes_equal(p, g.items[0], leaf)
    if isinstance(p, Equation) and isinstance(g, Equation):
        return _equations_equal(p, g, leaf)
    if isinstance(p, Equation) or isinstance(g, Equation):
        eq, other = (p, g) if isinstance(p, Equation) else (g, p)
        return _equation_against(eq, other, leaf)  # type: ignore[arg-type]
    if isinstance(p, Leaf) and isinstance(g, Leaf):
        return leaf.leaf(p, g)
    if isinstance(p, Bag) and isinstance(g, Bag):
        return _bag_equal(p.items, g.items, leaf)
    if isinstance(p, Seq) and isinstance(g, Seq):
        if (p.open, p.close) != (g.open, g.close) or len(p.items) != len(g.items):
            return False
        return _all([_nodes_equal(x, y, leaf) for x, y in zip(p.items, g.items)])
    if isinstance(p, (Bag, Seq)) and isinstance(g, (Bag, Seq)):
        bag, seq = (p, g) if isinstance(p, Bag) else (g, p)
        if bag.braced or len(bag.items) != len(seq.items) or (seq.open, seq.close) != ("(", ")"):
            return False
        return _all([_nodes_equal(x, y, leaf) for x, y in zip(bag.items, seq.items)])
    if isinstance(p, Matrix) and isinstance(g, Matrix):
        if p.kind != g.kind or [len(r) for r in p.rows] != [len(r) for r in g.rows]:
            return False
        return _all([_nodes_equal(x, y, leaf) for rp, rg in zip(p.rows, g.rows) for x, y in zip(rp, rg)])
    return False


def _guard(text: str, config: AnswerConfig) -> str | None:
    if len(text) > config.max_answer_chars:
        return f"answer of {len(text)} characters exceeds max_answer_chars={config.max_answer_chars}"
    if re.search(r"\d{%d}" % (config.max_digits + 1), text):
        return f"digit run longer than max_digits={config.max_digits}"
    if text.count("{") + text.count("(") + text.count("[") <= config.max_depth:
        return None
    depth = peak = 0
    for ch in text:  # an unmatched closer never lowers the depth below 0 (it would hide nesting after it)
        depth += ch in "{(["
        depth = max(depth - (ch in "})]"), 0)
        peak = max(peak, depth)
    if peak > config.max_depth:
        return f"bracket nesting {peak} exceeds max_depth={config.max_depth}"
    return None


def compare_local(pred: str, gold: str, config: AnswerConfig, *, symbolic: bool) -> Verdict:
    """Compare in this process: fast path only, or fast then symbolic (used inside the worker).

    With ``symbolic=False`` an undecidable comparison returns ``method="undecided"``.
    Raises on internal errors; :func:`compare` is the total wrapper.
    """
    for name, text in (("prediction", pred), ("gold", gold)):
        if (why := _guard(text, config)) is not None:
            return Verdict(False, f"{name} rejected: {why}", "rejected")
    if pred.strip() == gold.strip():
        return Verdict(pred.strip() != "", "identical text" if pred.strip() else "empty answer", "identical")
    units = (canonical_unit(pred), canonical_unit(gold))
    if None not in units and units[0] != units[1]:
        return Verdict(False, f"different units ({units[0]} against {units[1]})", "fast")
    p, g = structure(pred), structure(gold)

    def fast(a: Leaf, b: Leaf) -> bool | None:
        return _fast_leaf(a, b, config)

    def full(a: Leaf, b: Leaf) -> bool | None:
        decided = _fast_leaf(a, b, config)
        if decided is not None:
            return decided
        from retool.answer.symbolic import leaves_equal

        try:
            return leaves_equal(a, b, max_nodes=config.max_nodes, max_bits=config.max_bits)
        except TooLarge:
            raise
        except Exception:  # the parser could not read one side: not equal
            return False

    engine = Engine(fast)
    if symbolic:
        from retool.answer.symbolic import SymbolicEngine

        engine = SymbolicEngine(full, max_nodes=config.max_nodes, max_bits=config.max_bits)
    try:
        result = _nodes_equal(p, g, engine)
    except TooLarge as exc:
        return Verdict(False, f"rejected as pathological: {exc}", "rejected")
    if result is None:
        return Verdict(False, "outside the fast grammar", "undecided")
    method = "symbolic" if symbolic else "fast"
    return Verdict(result, "equal" if result else "not equal", method)
