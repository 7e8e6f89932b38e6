"""Answer checking: is a model's final answer equal to the gold label? Exact, bounded, total.

Public API (the reward, the validator and the benchmarks call these):

- :func:`extract_answer` / :class:`Extraction`: the extraction policy (see
  :mod:`retool.answer.extract`: only the model's own text after the last tool response; the last
  closed ``\\boxed{}``; chained boxes form one multi-valued answer; hedged, empty, unclosed or
  oversized answers get no credit).
- :func:`check_answer` ``(pred, gold, *, config, checker=None, raise_on_error=False) -> bool`` and
  :func:`compare` ``(pred, gold, config, *, checker=None) -> Verdict(equal, reason, method)``.

How equality is decided (every step exact; nothing is ever rounded):

1. Guards, before any parsing: answers over ``max_answer_chars``, digit runs over ``max_digits``,
   brace nesting over ``max_depth`` are rejected (``method="rejected"``).
2. Identical text after stripping -> equal.
3. Both sides become a structure tree (:mod:`retool.answer.normalize`: spelling normalisation, tuples,
   intervals, sets, answer lists, matrices, equations, percent and degree conventions). Leaves
   are compared by the fast path (:mod:`retool.answer.fast`): exact ``Fraction`` arithmetic, no
   sympy, microseconds (measured on the shared 2-core host: plain integers ~3 us, spelled integers
   such as ``4{,}200`` ~6-9 us, fractions and tuples ~0.1 ms). Integer
   golds (DAPO-Math-17K, AIME) are always decided here when the prediction is a number in any
   spelling. Rational multiples of pi and their exact sines/cosines are exact here too
   (``\\frac{\\pi}{2}`` == ``\\pi/2``, ``30^\\circ`` == ``\\pi/6``, ``\\cos\\frac{\\pi}{3}`` == 1/2). The
   fast path may also *reject* (never accept) with a float bound: ``12\\sqrt{2}`` vs 12,
   ``\\log_2 9`` vs 3, or an expression in a variable (``2x``) against a number.
4. Only when a leaf is outside the fast grammar (``\\sqrt{2}`` against ``\\sqrt{8}/2``, symbols) does the
   whole comparison go to the symbolic engine (:mod:`retool.answer.symbolic`, sympy via
   latex2sympy2_extended), which runs in a worker process owned by an
   :class:`~retool.answer.worker.AnswerChecker` with a hard per-call deadline: an overrunning worker
   is killed and replaced (thread-safe; no ``signal.alarm``). ``check_answer`` without a checker
   uses a lazily created module-wide default pool (``RETOOL_ANSWER_WORKERS`` workers, default 2,
   each started on first need, closed at interpreter exit; safe across ``os.fork``).

Engine choice: our own exact fast path first (most answers never reach sympy), then sympy fed by
latex2sympy2_extended (the broadest LaTeX reader available, the one Math-Verify uses) with every
decimal turned into an exact fraction and equality proven by ``simplify(a - b) == 0``; Math-Verify's
own ``verify`` is not used because it rounds to 6 places, chops tiny values and times out with
``signal.alarm`` (main thread only). See :mod:`retool.answer.symbolic`.

Conventions (every rule with its reason: ``retool/answer/POLICY.md``, section 2): 50\\% == 50 (never
0.5); 45^\\circ == 45 == \\pi/4 only via the degree mark (a bare 45 never equals \\pi/4); ``x = 5`` == 5,
but an equation with a variable is never its value (``x + 2 = 7`` != 7); equivalent equations
(rearranged, scaled by a constant, solved for another variable) and inequalities (negated and
flipped, or the interval they describe) are equal; tuples ordered, brackets must match (``[1, 2)``
!= ``(1, 2)``); ``\\{1, 2\\}`` == ``2, 1``; a bare list given in order equals a tuple; ``a \\pm b`` is the
two values; trailing units and nouns are dropped, but two different known units differ.
Square roots (canonical surds, :mod:`retool.answer.surds`) and polynomials and rational functions
(:mod:`retool.answer.polys`) are exact on the fast path too.

Model text never raises here; ``raise_on_error=True`` re-raises internal errors for debugging.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from retool.answer.config import AnswerConfig, Verdict
from retool.answer.local import compare_local
from retool.answer.normalize import normalize
from retool.answer.notation import canonical_unit

if TYPE_CHECKING:
    from retool.answer.worker import AnswerChecker

__all__ = ["check_answer", "compare"]

_INT = re.compile(r"\s*[+-]?\d+\s*", re.ASCII)
# a numeral with its base as a subscript: 1010_2, 212_{3}, 1A_{16} (the base is part of the answer)
_BASE_NUMERAL = re.compile(r"\s*\$?\s*([0-9A-Za-z]{1,64})_\{?\s*\(?(\d{1,2})\)?\s*\}?\s*\$?\s*", re.ASCII)


def _base_numerals(pred: str, gold: str) -> Verdict | None:
    """Both sides numerals with a base subscript: equal when they name the same number (``1010_2``
    == ``22_4``; ``1010_3`` != ``1010_2``); a digit outside its base is compared as written."""
    p, g = _BASE_NUMERAL.fullmatch(pred), _BASE_NUMERAL.fullmatch(gold)
    if p is None or g is None:
        return None
    try:
        equal = int(p[1], int(p[2])) == int(g[1], int(g[2]))
    except ValueError:  # a base outside 2..36 or a digit outside the base
        equal = (p[1].upper(), int(p[2])) == (g[1].upper(), int(g[2]))
    return Verdict(equal, "the same number in its bases" if equal else "different numbers in their bases", "fast")


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
        if (based := _base_numerals(pred, gold)) is not None:
            return based
        if max(len(pred), len(gold)) <= config.max_answer_chars:  # spelled integers: 4{,}200, \text{42}
            units = (canonical_unit(pred), canonical_unit(gold))
            if None not in units and units[0] != units[1]:
                return Verdict(False, f"different units ({units[0]} against {units[1]})", "fast")
            p, g = normalize(pred), normalize(gold)
            if _INT.fullmatch(p) and _INT.fullmatch(g) and max(len(p), len(g)) <= config.max_digits:
                equal = int(p) == int(g)
                return Verdict(equal, "equal integers" if equal else "different integers", "fast")
        verdict = compare_local(pred, gold, config, symbolic=False)
        if verdict.method != "undecided" or not config.symbolic:
            return verdict
        if checker is None:
            from retool.answer.worker import default_checker

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
