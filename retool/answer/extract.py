"""The extraction policy: which text in a response is the model's final answer. Pure and total.

:func:`extract_answer` ``(response) -> Extraction(answer, values, source, reason)``:

The rules, each with its reason, are stated in ``retool/answer/POLICY.md`` (section 1).

1. Only the model's own text after the last tool response counts (the dialect's parse:
   ``retool.text.grammar.parse_trace`` for qwen3, ``retool.text.native.parse_native`` for retool-code): a ``\\boxed{}`` printed by code in a tool response, or
   inside a code string of a tool call, is never an answer. If a tool call follows the last tool
   response (the episode ended on a call, or the model answered in prose and then called a tool),
   there is no answer. Within that text (:func:`retool.text.regions.own_text`) only what follows
   the last ReTool-native ``<interpreter>`` block or ```` ```output ```` fence and the last ``</think>``
   counts, and code (``<code>``, any fence, inline code) and invisible or struck-out content
   (``\\phantom{}`` and kin, white text, HTML comments, ``~~..~~``) are blanked: a box there is no answer.
2. The last ``\\boxed{}``/``\\fbox{}`` with balanced braces (any depth) wins, or a later ``\\boxed 7``
   (one TeX token, no braces); if there is none, the last ``Answer: ...`` line is the fallback
   (``source="answer_line"``), then the Minerva line (``The final answer is $X$. I hope it is
   correct.`` reads ``$X$``).
3. Boxes chained by ``or``/``and``/``,``/``;`` (only whitespace, ``$`` and those words between them)
   form *one* multi-valued answer: ``values`` holds every box and ``answer`` joins them with
   ``", "``, so ``\\boxed{1} or \\boxed{2}`` is the list "1, 2" and is wrong against a single gold
   (the same text boxed twice in a row is one value).
4. No credit (``answer=None`` with the reason) for: an unclosed last box (truncated), an empty box
   or one of invisible content only, a hedge (``\\boxed{3} or maybe \\boxed{4}``, "either ... or" around
   the boxes, "not sure", "I'm unsure", "I guess", "probably", "possibly", "perhaps", "maybe" in the
   sentence holding the boxes or inside them; those, "might be", "could be" or "or <something>" in
   the rest of the sentence after the last box (``\\boxed{3}, or 4``) or between an earlier box of the
   same sentence and the answer (``\\boxed{7}, but it might be \\boxed{8}``)), a negated box ("not",
   "never", "cannot be", ``\\ne`` just before it), an approximation ("approximately", "roughly",
   "about", ``\\approx`` just before it) or a question (``?`` right after it), a retraction
   anywhere after the last box ("wait", "that's wrong", "is incorrect", "mistake", "let me recheck",
   "actually", "doesn't look right", "not the answer", "(wrong)"), more than 64 chained boxes, an
   answer longer than ``max_answer_chars``, a response longer than ``max_response_chars``. A complete
   final box followed by text the length limit cut off keeps its credit.

The final text, whether a call ends the episode, and the ``Answer:`` rule are the grammar's
(``Trace.final_text``, ``Trace.ends_on_call``, :func:`retool.text.spans.answer_line`), computed
once, so ``parse_trace`` and this policy can never disagree on where the answer is. Every
pattern here runs in linear time on the response (no lazy group before an anchored tail), and so
does the whole function: property-tested on 64k-character hostile responses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, NamedTuple

from retool.answer.notation import drop_invisible
from retool.text.dialect import QWEN3, Dialect, get_dialect
from retool.text.regions import CODE_CALL
from retool.text.trace import DEFAULT_TOOLS, Trace
from retool.text.spans import answer_line

Source = Literal["boxed", "answer_line"] | None

_CHAIN = re.compile(r"^(?:\s|\$|\\[,;:! ]|\\quad|\\qquad|\\text\{\s*(?:or|and)\s*\}|,|;|\bor\b|\band\b|&)*$", re.I)
_DOUBT = (r"not\s+(?:entirely\s+|completely\s+|fully\s+|100%\s+|quite\s+|totally\s+)?(?:sure|certain|confident)|unsure|"
          r"uncertain|i\s+guess|(?:my|best|a|an\s+educated|educated|wild|rough)\s+guess|presumably|"
          r"if\s+i'?m\s+not\s+mistaken|(?:could|might|may)\s+be\s+wrong")
_HEDGE = re.compile(r"\b(?:" + _DOUBT + r"|probably|possibly|perhaps|maybe|either(?!\s+way))\b", re.I)
_HEDGE_AFTER = re.compile(_HEDGE.pattern[:-3] + r"|might\s+(?:also\s+)?be|could\s+(?:also\s+)?be|or\s+(?:else\s+)?\$?\\?\w)\b", re.I)
_MAX_CHAINED = 64
# the same retractions in the languages the recipe's prompts and models use (German, French, Spanish,
# Italian, Portuguese, Russian; CJK without word boundaries): a box followed by "nein, das ist falsch"
# is retracted as surely as one followed by "wait, that's wrong"
_RETRACT_OTHER = (r"nein|falsch|moment\s+mal|c'est\s+(?:faux|incorrect)|(?:est|était)\s+(?:faux|incorrect)|attendez|"
                  r"es\s+(?:falso|incorrecto)|incorrect[oa]|err[oó]neo|sbagliat[oa]|errado|"
                  r"неверно|неправильно|подождите|постойте")  # nouns ("Fehler", "erreur") also read "without error"
_RETRACT_CJK = r"不对|不正确|错了|是错的|等一下|等等|間違|違います|待って"
_RETRACT = re.compile(r"\b(?:wait|hold\s+on|that(?:'s|\s+is|\s+was)\s+(?:wrong|incorrect|not\s+(?:right|correct))|"
                      r"(?:is|was)\s+(?:wrong|incorrect)|mistake|let\s+me\s+re(?:check|do|consider|compute|think)|actually|"
                      r"(?:does|do)(?:n't|\s+not)\s+(?:look|seem|sound)\s+right|is\s+not\s+(?:right|correct)|"
                      r"not\s+the\s+(?:right\s+|correct\s+|final\s+)?answer|" + _DOUBT + r"|" + _RETRACT_OTHER + r")\b|"
                      r"\(\s*wrong\s*\)|" + _RETRACT_CJK, re.I)
_CALL = CODE_CALL  # a ReTool-native tool call (one pattern: retool.text.regions)
_QUESTION = re.compile(r"[\s$)\]}*]*\?")
# a box whose argument is one token without braces (valid TeX): a number, a command or one character
# (TeX boxes one token: \\boxed 12 boxes only the 1, so a digit followed by more is no box at all)
_BARE_BOX = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])(?!\s*\{)\s*(\d(?![\dA-Za-z]|\.\d)|[A-Za-z](?![A-Za-z\d])|"
                       r"\\(?:pi|infty|emptyset|varnothing|alpha|beta|gamma|theta)(?![A-Za-z]))")
_NEGATED = re.compile(r"(?:\bnot|\bisn't|\bnever|\bcannot\s+be|\bcan't\s+be|\\neq?)[\s$(]*$", re.I)
_APPROXIMATE = re.compile(r"(?:\b(?:approximately|roughly|nearly|almost|around|about)|\bclose\s+to|\\approx|\\sim|\u2248)"
                          r"\s*(?:equal\s+to|is)?[\s$(]*$", re.I)
_MINERVA_LEAD = re.compile(r"^(?:the\s+)?final\s+answer\s+is\s*:?\s*", re.I)
_MINERVA_TAIL = re.compile(r"\s*\.?\s*I\s+hope\s+it\s+is\s+correct\s*\.?\s*$", re.I)
_MINERVA = re.compile(r"final\s+answer\s+is\s*(\$[^$\n]{1,1000}\$)\s*\.?\s*I\s+hope\s+it\s+is\s+correct", re.I)


class _Box(NamedTuple):
    """A box without braces (``\\boxed 7``): the same fields the policy reads from a ``BoxedSpan``."""

    start: int
    end: int
    closed: bool
    content: str


def _minerva(answer: str) -> str:
    """The Minerva line ``Final Answer: The final answer is $X$. I hope it is correct.`` holds X."""
    if "hope" not in answer and "final" not in answer.lower():
        return answer
    stripped = _MINERVA_TAIL.sub("", _MINERVA_LEAD.sub("", answer))
    return stripped if stripped != answer else answer


def _invisible_only(value: str) -> bool:
    if "phantom" not in value and "color" not in value and "space" not in value:
        return False
    return not drop_invisible(value).replace("{", "").replace("}", "").strip()


@dataclass(frozen=True)
class Extraction:
    answer: str | None
    values: tuple[str, ...]
    source: Source
    reason: str


def _none(reason: str) -> Extraction:
    return Extraction(None, (), None, reason)


def _sentence_start(text: str, pos: int) -> int:
    """Start of the sentence holding ``pos`` (after the previous line break or '. ')."""
    cut = max(text.rfind("\n", 0, pos), text.rfind(". ", 0, pos), text.rfind("! ", 0, pos), text.rfind("? ", 0, pos))
    return cut + 1


def final_model_text(response: str, trace: Trace | None = None, *, dialect: str | Dialect = QWEN3) -> tuple[str | None, str]:
    """The model's own text after the last tool response, or None with the reason.

    ``trace`` may be passed when the caller already holds the dialect's parse of ``response``.
    """
    trace = get_dialect(dialect).parse(response, DEFAULT_TOOLS) if trace is None else trace
    if trace.ends_on_call:
        return None, "a tool call follows the last tool response (no final answer turn)"
    return trace.final_text, "ok"


def extract_answer(response: str, *, max_answer_chars: int = 1000, max_response_chars: int = 1_000_000,
                   trace: Trace | None = None, dialect: str | Dialect = QWEN3) -> Extraction:
    """Apply the extraction policy of the module docstring. Never raises.

    ``dialect`` (:mod:`retool.text.dialect`, qwen3 by default) says which markup is a tool
    response; ``trace``: the dialect's parse of ``response`` when the caller has it already
    (saves a second parse).
    """
    if not isinstance(response, str):
        return _none(f"response is {type(response).__name__}, not text")
    if len(response) > max_response_chars:
        return _none(f"response of {len(response)} characters exceeds max_response_chars={max_response_chars}")
    trace = get_dialect(dialect).parse(response, DEFAULT_TOOLS) if trace is None else trace
    text, why = final_model_text(response, trace)
    if text is None:
        return _none(why)
    own, cut = trace.own_text, trace.own_cut  # regions.own_text(final_text), read once by the trace
    if not own.strip() and cut:
        return _none("the final text ends inside tool output (an <interpreter> block or an output fence)")
    boxes: tuple = trace.boxes
    raw, text = text, own
    if "boxed" in text or "fbox" in text:
        bare = None
        for bare in _BARE_BOX.finditer(text):
            pass
        if bare is not None and (not boxes or bare.start() >= boxes[-1].end):
            boxes = (*boxes, _Box(bare.start(), bare.end(), True, bare.group(1)))
    if not boxes:
        answer = answer_line(text)
        if answer is None and "hope" in text:
            minerva = None
            for minerva in _MINERVA.finditer(text):
                pass
            answer = None if minerva is None else minerva.group(1)
        if answer is None:
            return _none("no \\boxed{} and no 'Answer:' line in the final text")
        answer = _minerva(answer)
        if not answer:
            return _none("empty 'Answer:' line")
        if _HEDGE.search(answer):
            return _none(f"hedged answer line {answer[:80]!r}")
        if len(answer) > max_answer_chars:
            return _none(f"answer of {len(answer)} characters exceeds max_answer_chars={max_answer_chars}")
        return Extraction(answer, (answer,), "answer_line", "answer line")
    if not boxes[-1].closed:
        return _none("the last box is not closed (truncated answer)")
    group = [boxes[-1]]
    for box in reversed(boxes[:-1] if not isinstance(boxes[-1], _Box) else ()):
        between = text[box.end : group[0].start]
        if not box.closed or not _CHAIN.match(between):
            break
        group.insert(0, box)
        if len(group) > _MAX_CHAINED:
            return _none(f"more than {_MAX_CHAINED} chained boxes")
    for left, right in zip(group, group[1:]):
        if _HEDGE.search(text[left.end : right.start]):
            return _none("hedged between boxes")
    begin = _sentence_start(text, group[0].start)
    sentence = text[begin : group[-1].end]
    earlier = [b for b in boxes if b.end <= group[0].start and b.start >= begin]
    if earlier and (hedge := _HEDGE_AFTER.search(text[earlier[-1].end : group[0].start])) is not None:
        return _none(f"hedged answer ({hedge.group(0)!r} between boxes in one sentence)")
    after = re.split(r"\n|[.!?](?:\s|$)", text[group[-1].end :], maxsplit=1)[0]
    if (hedge := _HEDGE.search(sentence)) is not None or (hedge := _HEDGE_AFTER.search(after)) is not None:
        return _none(f"hedged answer ({hedge.group(0)!r} near the box)")
    if _NEGATED.search(text, max(0, group[0].start - 40), group[0].start) is not None:
        return _none("the box is negated ('not', 'never', '\\ne' before it)")
    if _APPROXIMATE.search(text, max(0, group[0].start - 40), group[0].start) is not None:
        return _none("the box is an approximation ('approximately', '\\approx' before it), not the exact answer")
    if _QUESTION.match(text, group[-1].end) is not None:
        return _none("the box ends a question, not an answer")
    if _CALL.search(raw, cut + group[-1].end) is not None:
        return _none("a tool call (<code> or a python fence) follows the answer: the episode ended on a call")
    if (retract := _RETRACT.search(text[group[-1].end :])) is not None:
        return _none(f"retracted after the box ({retract.group(0)!r})")
    values = tuple(dict.fromkeys(b.content.strip() for b in group))  # a repeated box is one value
    if any(not v for v in values):
        return _none("empty box")
    if any(_invisible_only(v) for v in values):
        return _none("the box holds only invisible content (\\phantom and kin render as blank space)")
    answer = ", ".join(values)
    if len(answer) > max_answer_chars:
        return _none(f"answer of {len(answer)} characters exceeds max_answer_chars={max_answer_chars}")
    reason = "last box" if len(values) == 1 else f"{len(values)} chained boxes form one multi-valued answer"
    return Extraction(answer, values, "boxed", reason)
