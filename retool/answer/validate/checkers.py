"""Answer checkers for validation: ours, math-verify as users run it, the strict-box scorer, and
the loader that resolves a checker by name.

Contract:
- A *checker* (:data:`Checker`) is any callable ``(response: str, gold: str) -> bool`` applied to a
  whole model response (prose, tool calls, tool responses, final ``\\boxed{}``).
- Built-in checkers (:func:`load_checker` names, :data:`BUILTIN_CHECKERS`): ``retool`` (ours:
  exactly the reward's answer term), ``math-verify`` (as users run it on the raw response:
  ``verify(parse(gold), parse(response))``, gold wrapped in ``\\boxed{}`` so it parses, as verl and
  open-r1 call it), ``math-verify-final`` (the same call on the text our final-text policy keeps:
  the model's own text after the last tool output, code blanked, so the comparison isolates the
  equivalence judgement from the extraction policy),
  ``strict-box`` (the DAPO/ReTool strict-box scorer, re-implemented from its public description:
  the last ``\\boxed{}`` within the last 100 of the last 300 characters, exact string compare after
  stripping whitespace). Any other name must be ``pkg.mod:fn``; a name that does not resolve to a
  callable raises ``ValueError`` with the reason.
- Re-exported by :mod:`retool.answer.validate`, the public entry point.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Callable

Checker = Callable[[str, str], bool]

BUILTIN_CHECKERS = ("retool", "math-verify", "math-verify-final", "strict-box")


def retool_checker(response: str, gold: str) -> bool:
    """Ours: exactly the reward's answer term (``retool.reward.score(...).correct``): the extraction
    policy, then exact equivalence; without the reward's format parse, which the answer ignores."""
    from retool.answer import check_answer, extract_answer

    extraction = extract_answer(response)
    return extraction.answer is not None and check_answer(extraction.answer, gold)


def math_verify_checker(response: str, gold: str) -> bool:
    """Math-Verify as commonly run on a raw transcript: ``verify(parse(gold), parse(response))``."""
    from math_verify import parse, verify

    # its timeouts log the whole (possibly megabyte) input as a warning; the report has the result
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    return bool(verify(parse("\\boxed{" + gold + "}"), parse(response)))


def math_verify_final_checker(response: str, gold: str) -> bool:
    """Math-Verify after our final-text policy: ``verify(parse(boxed gold), parse(own final text))``."""
    from math_verify import parse, verify

    from retool.answer import final_model_text
    from retool.text.regions import own_text

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    text, _ = final_model_text(response)
    if text is None:
        return False
    own, _ = own_text(text)
    return bool(own.strip()) and bool(verify(parse("\\boxed{" + gold + "}"), parse(own)))


def _last_boxed_content(text: str) -> str | None:
    start = text.rfind("\\boxed")
    if start < 0:
        return None
    i = start + len("\\boxed")
    if i >= len(text) or text[i] != "{":
        return None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
    return None


def strict_box_checker(response: str, gold: str) -> bool:
    """DAPO/ReTool strict box: last ``\\boxed{}`` in the last 100 chars, exact string compare."""
    tail = response[-300:][-100:]
    pred = _last_boxed_content(tail)
    return pred is not None and pred.strip() == gold.strip()


_BUILTINS: dict[str, Checker] = {
    "retool": retool_checker,
    "math-verify": math_verify_checker,
    "math-verify-final": math_verify_final_checker,
    "strict-box": strict_box_checker,
}


def load_checker(spec: str) -> Checker:
    """A built-in checker by name, or ``pkg.mod:fn`` imported; ``ValueError`` with the reason."""
    if spec in _BUILTINS:
        if spec.startswith("math-verify") and importlib.util.find_spec("math_verify") is None:
            raise ValueError("checker 'math-verify' needs the math-verify package (pip install math-verify)")
        return _BUILTINS[spec]
    if ":" not in spec:
        raise ValueError(f"checker {spec!r} is neither a built-in ({', '.join(BUILTIN_CHECKERS)}) nor 'pkg.mod:fn'")
    from retool import load_callable

    return load_callable(spec, what="checker", example="pkg.mod:fn")
