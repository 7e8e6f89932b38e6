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
from retool.answer.normalize import Bag, Equation, Leaf, Matrix, Node, Seq, structure

__all__ = ["compare_local"]


LeafEq = Callable[[Leaf, Leaf], "bool | None"]
_WORDS = re.compile(r"^[A-Za-z][A-Za-z ]*$")
_COMMAND = re.compile(r"\\[a-zA-Z]+")


def _has_free_symbol(text: str) -> bool:
    """A letter outside every LaTeX command, other than the constants e and i."""
    return re.search(r"[a-df-hj-zA-Z]", _COMMAND.sub(" ", text)) is not None


def _fast_leaf(a: Leaf, b: Leaf, config: AnswerConfig) -> bool | None:
    if a.text == b.text:
        return True
    kw = {"max_digits": config.max_digits, "max_bits": config.max_bits, "max_depth": config.max_depth}
    values: list[Value | None] = []
    for leaf in (a, b):
        try:
            values.append(fast_value(leaf.text, **kw))
        except Undecided:
            values.append(None)
    x, y = values
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
    if (x is None and y is not None and _has_free_symbol(a.text)) or (y is None and x is not None and _has_free_symbol(b.text)):
        return False  # an expression in a variable against a number
    return None


def _all(results: list[bool | None]) -> bool | None:
    if any(r is False for r in results):
        return False
    return None if any(r is None for r in results) else True


def _bag_equal(xs: tuple[Node, ...], ys: tuple[Node, ...], leaf: LeafEq) -> bool | None:
    if len(xs) != len(ys):
        return False
    table = [[_nodes_equal(x, y, leaf) for y in ys] for x in xs]
    free = set(range(len(ys)))
    for row in table:
        j = next((j for j in sorted(free) if row[j] is True), None)
        if j is None:
            break
        free.discard(j)
    else:
        return True
    return None if any(cell is None for row in table for cell in row) else False


def _nodes_equal(p: Node, g: Node, leaf: LeafEq) -> bool | None:
    if p == g:
        return True
    if isinstance(p, Bag) and len(p.items) == 1:
        return _nodes_equal(p.items[0], g, leaf)
    if isinstance(g, Bag) and len(g.items) == 1:
        return _nodes_equal(p, g.items[0], leaf)
    if isinstance(p, Equation) and isinstance(g, Equation):
        if p.op != g.op:
            return False
        same = leaf(Leaf(f"{p.lhs}-({p.rhs})"), Leaf(f"{g.lhs}-({g.rhs})"))
        if same is not False or p.op != "=":
            return same
        return leaf(Leaf(f"{p.lhs}-({p.rhs})"), Leaf(f"{g.rhs}-({g.lhs})"))  # a = b is b = a
    if isinstance(p, Equation) or isinstance(g, Equation):
        eq, other = (p, g) if isinstance(p, Equation) else (g, p)
        return _nodes_equal(structure(eq.rhs), other, leaf) if eq.op == "=" else False
    if isinstance(p, Leaf) and isinstance(g, Leaf):
        return leaf(p, g)
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
        if [len(r) for r in p.rows] != [len(r) for r in g.rows]:
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
    for ch in text:
        depth += ch in "{(["
        depth -= ch in "})]"
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

    try:
        result = _nodes_equal(p, g, full if symbolic else fast)
    except TooLarge as exc:
        return Verdict(False, f"rejected as pathological: {exc}", "rejected")
    if result is None:
        return Verdict(False, "outside the fast grammar", "undecided")
    method = "symbolic" if symbolic else "fast"
    return Verdict(result, "equal" if result else "not equal", method)
