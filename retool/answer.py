"""Answer checking: is a model's final answer equal to the gold label? Exact, bounded, total.

Public API (the reward, the validator and the benchmarks call these):

- :func:`extract_answer` / :class:`Extraction`: the extraction policy (see
  :mod:`retool.answer_parse`: only the model's own text after the last tool response; the last
  closed ``\\boxed{}``; chained boxes form one multi-valued answer; hedged, empty, unclosed or
  oversized answers get no credit).
- :func:`check_answer` ``(pred, gold, *, config, checker=None, raise_on_error=False) -> bool`` and
  :func:`compare` ``(pred, gold, config, *, checker=None) -> Verdict(equal, reason, method)``.

How equality is decided (every step exact; nothing is ever rounded):

1. Guards, before any parsing: answers over ``max_answer_chars``, digit runs over ``max_digits``,
   brace nesting over ``max_depth`` are rejected (``method="rejected"``).
2. Identical text after stripping -> equal.
3. Both sides become a structure tree (:mod:`retool.answer_norm`: spelling normalisation, tuples,
   intervals, sets, answer lists, matrices, equations, percent and degree conventions). Leaves
   are compared by the fast path (:mod:`retool.answer_fast`): exact ``Fraction`` arithmetic, no
   sympy, microseconds (measured on the shared 2-core host: plain integers ~3 us, spelled integers
   such as ``4{,}200`` ~6-9 us, fractions and tuples ~0.1 ms). Integer
   golds (DAPO-Math-17K, AIME) are always decided here when the prediction is a number in any
   spelling. Rational multiples of pi and their exact sines/cosines are exact here too
   (``\\frac{\\pi}{2}`` == ``\\pi/2``, ``30^\\circ`` == ``\\pi/6``, ``\\cos\\frac{\\pi}{3}`` == 1/2). The
   fast path may also *reject* (never accept) with a float bound: ``12\\sqrt{2}`` vs 12,
   ``\\log_2 9`` vs 3, or an expression in a variable (``2x``) against a number.
4. Only when a leaf is outside the fast grammar (``\\sqrt{2}`` against ``\\sqrt{8}/2``, symbols) does the
   whole comparison go to the symbolic engine (:mod:`retool.answer_sym`, sympy via
   latex2sympy2_extended), which runs in a worker process owned by an
   :class:`~retool.answer_worker.AnswerChecker` with a hard per-call deadline: an overrunning worker
   is killed and replaced (thread-safe; no ``signal.alarm``). ``check_answer`` without a checker
   uses a lazily created module-wide default pool (``RETOOL_ANSWER_WORKERS`` workers, default 2,
   each started on first need, closed at interpreter exit; safe across ``os.fork``).

Engine choice: our own exact fast path first (most answers never reach sympy), then sympy fed by
latex2sympy2_extended (the broadest LaTeX reader available, the one Math-Verify uses) with every
decimal turned into an exact fraction and equality proven by ``simplify(a - b) == 0``; Math-Verify's
own ``verify`` is not used because it rounds to 6 places, chops tiny values and times out with
``signal.alarm`` (main thread only). See :mod:`retool.answer_sym`.

Conventions: 50\\% == 50 (never 0.5); 45^\\circ == 45 == \\pi/4 only via the degree mark (a bare 45
never equals \\pi/4); ``x = 5`` == 5; tuples ordered, brackets must match (``[1, 2)`` != ``(1, 2)``);
``\\{1, 2\\}`` == ``2, 1``; a bare list given in order equals a tuple; ``a \\pm b`` is the two values.

Model text never raises here; ``raise_on_error=True`` re-raises internal errors for debugging.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Callable

from retool.answer_fast import Approx, PiMul, TooLarge, Undecided, Value, clearly_differ, fast_value, pi_times
from retool.answer_norm import Bag, Equation, Leaf, Matrix, Node, Seq, normalize, structure
from retool.answer_parse import Extraction, extract_answer

if TYPE_CHECKING:
    from retool.answer_worker import AnswerChecker

__all__ = ["AnswerConfig", "Verdict", "Extraction", "extract_answer", "check_answer", "compare", "compare_local"]


@dataclass(frozen=True, kw_only=True)
class AnswerConfig:
    """Limits of one comparison. ``max_answer_chars``/``max_digits``/``max_depth``: inputs beyond
    them are rejected before parsing; ``max_bits``: largest exact power the fast path computes;
    ``max_nodes``: largest sympy expression tree; ``symbolic``: False decides with the fast path
    only (undecidable pairs are then unequal); ``timeout_s``: hard wall-clock bound of one symbolic
    check in the worker (the worker is killed past it)."""

    max_answer_chars: int = 1000
    max_digits: int = 400
    max_bits: int = 20_000
    max_depth: int = 40
    max_nodes: int = 400
    symbolic: bool = True
    timeout_s: float = 3.0


@dataclass(frozen=True)
class Verdict:
    equal: bool
    reason: str
    method: str  # identical | fast | symbolic | rejected | timeout | error | undecided (fast-only config)


LeafEq = Callable[[Leaf, Leaf], "bool | None"]
_WORDS = re.compile(r"^[A-Za-z][A-Za-z ]*$")
_COMMAND = re.compile(r"\\[a-zA-Z]+")
_INT = re.compile(r"\s*[+-]?\d+\s*", re.ASCII)


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
        from retool.answer_sym import leaves_equal

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


def compare(pred: str, gold: str, config: AnswerConfig = AnswerConfig(), *,
            checker: AnswerChecker | None = None, raise_on_error: bool = False) -> Verdict:
    """Total comparison of a predicted answer with the gold answer (see the module docstring)."""
    try:
        if pred is None or gold is None:
            return Verdict(False, "no answer" if pred is None else "no gold label", "rejected")
        pred, gold = str(pred), str(gold)
        if _INT.fullmatch(pred) and _INT.fullmatch(gold) and max(len(pred), len(gold)) <= config.max_digits:
            equal = int(pred) == int(gold)
            return Verdict(equal, "equal integers" if equal else "different integers", "fast")
        if max(len(pred), len(gold)) <= config.max_answer_chars:  # spelled integers: 4{,}200, \text{42}
            p, g = normalize(pred), normalize(gold)
            if _INT.fullmatch(p) and _INT.fullmatch(g) and max(len(p), len(g)) <= config.max_digits:
                equal = int(p) == int(g)
                return Verdict(equal, "equal integers" if equal else "different integers", "fast")
        verdict = compare_local(pred, gold, config, symbolic=False)
        if verdict.method != "undecided" or not config.symbolic:
            return verdict
        if checker is None:
            from retool.answer_worker import default_checker

            checker = default_checker()
        return checker.compare(pred, gold, config)
    except Exception as exc:
        if raise_on_error:
            raise
        return Verdict(False, f"error: {type(exc).__name__}: {exc}", "error")


def check_answer(pred: str, gold: str, *, config: AnswerConfig = AnswerConfig(),
                 checker: AnswerChecker | None = None, raise_on_error: bool = False) -> bool:
    """True iff ``pred`` equals ``gold`` exactly under the conventions above. Never raises on text."""
    return compare(pred, gold, config, checker=checker, raise_on_error=raise_on_error).equal


def config_as_dict(config: AnswerConfig) -> dict[str, object]:
    return asdict(config)
