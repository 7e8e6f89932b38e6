"""Answer text -> a small structure tree (the half of equivalence that needs no arithmetic).

Contract: :func:`structure` is pure and total on strings (it never raises); it only rewrites and
splits text, never evaluates. The tree nodes are:

- :class:`Leaf` ``(text, percent, degree)``: one scalar in normalised LaTeX. ``percent`` is set when
  the value carried ``\\%``/``%``/"percent" (the sign is dropped: **50\\% == 50**, never 0.5);
  ``degree`` when it carried ``^\\circ``/``°``/"degrees" (the mark is dropped: **45^\\circ == 45**;
  a degree value also equals the same angle in radians written with pi: **45^\\circ == \\pi/4**,
  while a bare 45 never equals \\pi/4).
- :class:`Seq` ``(open, close, items)``: a bracketed tuple or interval. Tuples are ordered; the
  brackets must match exactly, so an open interval never equals a closed one (``(1, 2)`` as a
  point and as an open interval are the same text and compare equal).
- :class:`Bag` ``(items, braced)``: an unordered answer list: ``\\{1, 2\\}``, a bare ``1, 2``,
  ``1 \\text{ and } 2``, ``x = 1 \\text{ or } x = 2`` and ``a \\pm b`` (two values).
- :class:`Matrix` ``(rows)``: ``pmatrix``/``bmatrix``/``vmatrix``/``matrix``/``array`` bodies.
- :class:`Equation` ``(lhs, rhs, op)``: a relation kept as such (``>``/``\\ge`` are turned around
  into ``<``/``le``); an inequality in one variable is the interval it describes (``x > 3`` equals
  ``3 < x`` and ``(3, \\infty)``; ``-1 \\le x \\le 1`` equals ``[-1, 1]``); ``\\emptyset``, ``\\varnothing`` and ``\\{\\}``
  are the empty :class:`Bag`; a *label* equation (``x = 5``,
  ``y_1 = 5``, ``f(2) = 5``, ``(x, y) = (1, 2)``) is replaced by its right side, so it equals 5
  (the label itself is not compared: ``y = 5`` equals ``x = 5``).
  Chained ``a = b = 5`` keeps the last side; membership ``x \\in (0, 1]`` and set-builder
  ``\\{x \\mid x > 2\\}`` are read as their set.

Spelling normalisation comes first (:func:`retool.answer.spelling.normalize`, re-exported here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from retool.answer.spelling import normalize

__all__ = ["Bag", "Equation", "Leaf", "Matrix", "Node", "Seq", "normalize", "structure"]

_PERCENT = re.compile(r"\s*(?:\\%|%|\\text\{\s*percent\s*\}|\bpercent\b|\bpct\b\.?|\bpercentage(?:\s+points?)?\b|\bper\s*cent\b)\s*$")
_DEGREE = re.compile(r"\s*(?:\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|\\degree|\bdegrees?\b)\s*$")
_EMPTY_SET = re.compile(r"^(?:\\emptyset|\\varnothing|\\O|\\\{\s*\\\}|\{\s*\})$")
_LABEL = re.compile(r"^(?:[A-Za-z]|\\[A-Za-z]+)(?:_\{?[A-Za-z0-9]+\}?)?(?:'|\([^()=]*\))?$")
_OPEN = {"(": ")", "[": "]", "\\{": "\\}", "\\langle": "\\rangle", "{": "}"}
_CLOSE = {")": "(", "]": "[", "\\}": "\\{", "\\rangle": "\\langle", "}": "{"}
_MATRIX = re.compile(r"^([\[(|]?)\s*\\begin\{([pbBvV]?matrix|smallmatrix|array)\}(?:\{[^{}]*\})?(.*)\\end\{\2\}\s*([\])|]?)$", re.S)
_MATRIX_KIND = {"vmatrix": "det", "Vmatrix": "norm"}
_CLOSER_OF = {"": "", "(": ")", "[": "]", "|": "|"}
# a name on the left of '=' (the equation then states its value): x, y_1, f(2), f'(x), AB, ABC, \angle ABC,
# m\angle A, \overline{AB}, |AB|, [ABC] (an area), P(A), or an English word naming the quantity
_FUNCTIONS = ("sin|cos|tan|cot|sec|csc|arcsin|arccos|arctan|sinh|cosh|tanh|log|ln|lg|exp|sqrt|frac|dfrac|tfrac|lim|sum|prod|int|"
              "det|max|min|binom|gcd|lcm|operatorname|left|right|cdot|times|pm|mp")
# a function's arguments are plain tokens (f(x), f(2), P(A), g(1, 2)): x(x+1) is a product, not a name
_ARGUMENTS = r"\(\s*(?:[A-Za-z]|\\[A-Za-z]+|[+-]?\d+(?:\.\d+)?)(?:\s*,\s*(?:[A-Za-z]|\\[A-Za-z]+|[+-]?\d+(?:\.\d+)?))*\s*\)"
_QUANTITIES = "|".join("area perimeter volume sum total length distance probability value answer result height width "
                       "radius diameter circumference speed time cost price number count product difference ratio "
                       "mean median mode range".split())
_NAME = re.compile(r"^(?:(?:[A-Za-z]|\\(?!(?:" + _FUNCTIONS + r")(?![A-Za-z]))[A-Za-z]+)(?:_\{?[A-Za-z0-9]+\}?)?"
                   r"(?:\^\{?-1\}?)?'*(?:" + _ARGUMENTS + r")?"
                   r"|[A-Z]{2,4}(?:_\{?[A-Za-z0-9]+\}?)?|(?:m\s*)?\\(?:angle|measuredangle|triangle)\s*[A-Z]{1,3}"
                   r"|\\overline\{[A-Z]{2}\}|\|[A-Z]{2}\||\[[A-Z]{3,4}\]|(?i:" + _QUANTITIES + r")(?:\s*" + _ARGUMENTS + r")?)$")
_COMMAND = re.compile(r"\\[a-zA-Z]+")
_SET_BUILDER = re.compile(r"^\\\{\s*[A-Za-z]\s*(?:\||\\mid|:)\s*(.+?)\s*\\\}$", re.S)
_MEMBER = re.compile(r"^\s*(.+?)\s*\\in(?![a-zA-Z])\s*(.+)$", re.S)
_CHOICE = re.compile(r"\(\s*[A-Za-z]\s*\)")
_PLUS_MINUS = re.compile(r"\\(?:pm|mp)(?![a-zA-Z])|\u00b1|\u2213")
_WORD_SEP = re.compile(r"\s+(?:and|or)\s+|\\(?:text|mbox)\{\s*(?:and|or)\s*\}"
                       r"|(?<=[\d)\]}])\s*(?:or|and)\s*(?=[-+\d(\[\\]|[A-Za-z]\s*=)", re.I)


@dataclass(frozen=True)
class Leaf:
    text: str
    percent: bool = False
    degree: bool = False


@dataclass(frozen=True)
class Seq:
    open: str
    close: str
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Bag:
    items: tuple[Node, ...]
    braced: bool = False


@dataclass(frozen=True)
class Matrix:
    rows: tuple[tuple[Node, ...], ...]
    kind: str = "matrix"  # "det" for vmatrix or |array|, "norm" for Vmatrix: not a matrix


@dataclass(frozen=True)
class Equation:
    lhs: str
    rhs: str
    op: str = "="
    named: bool = False  # the left side names a quantity (y = 2x + 3): its right side is the answer too


def has_free_symbol(text: str) -> bool:
    """A letter outside every LaTeX command, other than the constants e and i."""
    return re.search(r"[a-df-hj-zA-Z]", _COMMAND.sub(" ", text)) is not None


Node = Leaf | Seq | Bag | Matrix | Equation



def _split_top(text: str, seps: tuple[str, ...]) -> list[str]:
    """Split at separators that sit outside every bracket pair."""
    if not any(sep in text for sep in seps):
        return [text]
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        if text.startswith("\\{", i) or text.startswith("\\langle", i) or text.startswith("\\begin", i):
            depth += 1
            i += 2 if text[i + 1] == "{" else (7 if text.startswith("\\langle", i) else 6)
            continue
        if text.startswith("\\}", i) or text.startswith("\\rangle", i) or text.startswith("\\end", i):
            depth -= 1
            i += 2 if text[i + 1] == "}" else (7 if text.startswith("\\rangle", i) else 4)
            continue
        ch = text[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth <= 0:
            for sep in seps:
                if text.startswith(sep, i):
                    parts.append(text[start:i])
                    i += len(sep)
                    start = i
                    break
            else:
                i += 1
            continue
        i += 1
    parts.append(text[start:])
    return parts


def _wrapping(text: str) -> tuple[str, str, str] | None:
    """If one bracket pair wraps the whole text, return (open, close, inner)."""
    for opener in sorted(_OPEN, key=len, reverse=True):
        if text.startswith(opener):
            break
    else:
        return None
    closer = next((c for c in sorted(_CLOSE, key=len, reverse=True) if text.endswith(c)), None)
    if closer is None or len(text) < len(opener) + len(closer):
        return None
    inner = text[len(opener) : len(text) - len(closer)]
    depth = 0
    for ch in inner:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth < 0:
            return None
    return (opener, closer, inner) if depth == 0 else None


def _leaf(text: str) -> Leaf:
    text = text.strip()
    percent = degree = False
    if ("%" in text or "per" in text or "pct" in text) and (m := _PERCENT.search(text)) is not None:
        text, percent = text[: m.start()], True
    if ("circ" in text or "degree" in text) and (m := _DEGREE.search(text)) is not None:
        text, degree = text[: m.start()], True
    if _CHOICE.fullmatch(text):
        text = text.strip("() ")
    return Leaf(normalize(text) if percent or degree else text, percent, degree)


def structure(text: str, depth: int = 0) -> Node:
    """Parse normalised answer text into a node tree (see the module docstring). Pure, total."""
    text = normalize(text)
    if depth > 12:
        return Leaf(text)
    if _EMPTY_SET.match(text):
        return Bag((), braced=True)
    if (m := _MATRIX.match(text)) is not None and _CLOSER_OF[m.group(1)] == m.group(4):
        rows = [r for r in re.split(r"\\\\", m.group(3)) if r.strip()]
        kind = "det" if m.group(1) == "|" else _MATRIX_KIND.get(m.group(2), "matrix")
        return Matrix(tuple(tuple(structure(c, depth + 1) for c in r.split("&")) for r in rows), kind)
    for seps in ((";",), (",",), ("\\cup",)):
        parts = _split_top(text, seps)
        if len(parts) > 1 and all(p.strip() for p in parts):
            return Bag(tuple(structure(p, depth + 1) for p in parts))
    words = [p for p in _WORD_SEP.split(text)]
    if len(words) > 1 and all(w.strip() for w in words):
        return Bag(tuple(structure(w, depth + 1) for w in words))
    if (m := _SET_BUILDER.match(text)) is not None:
        return structure(m.group(1), depth + 1)
    if (m := _MEMBER.match(text)) is not None and _LABEL.match(m.group(1)):
        return structure(m.group(2), depth + 1)
    sides = _split_top(text, ("=",))
    if len(sides) > 1 and all(s.strip() for s in sides):
        return _equation([s.strip() for s in sides], depth)
    if (relation := _relation(text, depth)) is not None:
        return relation
    wrap = _wrapping(text)
    if wrap is not None:
        opener, closer, inner = wrap
        items = _split_top(inner, (",",))
        if opener == "{" and closer == "}":
            return structure(inner, depth + 1)
        if opener == "\\{" and closer == "\\}":
            return Bag(tuple(structure(p, depth + 1) for p in items if p.strip()), braced=True)
        if len(items) == 1 and opener == "(" and closer == ")":
            return structure(inner, depth + 1)
        if all(p.strip() for p in items):
            return Seq(opener, closer, tuple(structure(p, depth + 1) for p in items))
    if len(_PLUS_MINUS.findall(text)) == 1:
        plus, minus = _PLUS_MINUS.sub("+", text), _PLUS_MINUS.sub("-", text)
        return Bag((structure(plus, depth + 1), structure(minus, depth + 1)))
    return _leaf(text)


_REL_OP = re.compile(r"\\leq?(?![a-zA-Z])|\\geq?(?![a-zA-Z])|\\neq?(?![a-zA-Z])|<|>")
_REL_NAME = {"\\le": "le", "\\leq": "le", "\\ge": "ge", "\\geq": "ge", "\\ne": "ne", "\\neq": "ne", "<": "<", ">": ">"}


def _relation_chain(text: str) -> tuple[list[str], list[str]]:
    """Split ``a < b \\le c`` at relation operators outside brackets: (parts, operator names)."""
    parts, ops, depth, start, i = [], [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        if text.startswith("\\{", i) or text.startswith("\\}", i):
            depth += 1 if text[i + 1] == "{" else -1
            i += 2
            continue
        depth += ch in "([{"
        depth -= ch in ")]}"
        m = _REL_OP.match(text, i) if depth == 0 else None
        if m is not None:
            parts.append(text[start:i])
            ops.append(_REL_NAME[m.group(0)])
            i = start = m.end()
            continue
        i += 1
    parts.append(text[start:])
    return parts, ops


def _relation(text: str, depth: int) -> Node | None:
    """Inequalities: one variable against bounds becomes an interval (``x > 3`` is ``(3, \\infty)``,
    ``-1 \\le x < 2`` is ``[-1, 2)``); other relations stay :class:`Equation` (``a > b`` turned
    around into ``b < a``)."""
    if "<" not in text and ">" not in text and "\\le" not in text and "\\ge" not in text and "\\ne" not in text:
        return None
    parts, ops = _relation_chain(text)
    if not ops or not all(p.strip() for p in parts):
        return None
    parts = [normalize(p) for p in parts]
    if ops == ["ne"]:
        return Equation(parts[0], parts[1], "ne")
    if "ne" in ops:
        return Leaf(text)
    if all(op in (">", "ge") for op in ops):  # turn the chain around: c > b > a is a < b < c
        parts, ops = parts[::-1], ["<" if op == ">" else "le" for op in reversed(ops)]
    if not all(op in ("<", "le") for op in ops) or len(ops) > 2:
        return Leaf(text)
    variable = [i for i, p in enumerate(parts) if _LABEL.match(p)]
    bound = lambda node_text: structure(node_text, depth + 1)  # noqa: E731
    if len(ops) == 2 and variable == [1]:
        return Seq("(" if ops[0] == "<" else "[", ")" if ops[1] == "<" else "]", (bound(parts[0]), bound(parts[2])))
    if len(ops) == 1 and len(variable) == 1:
        if variable[0] == 0:  # x < b
            return Seq("(", ")" if ops[0] == "<" else "]", (Leaf("-\\infty"), bound(parts[1])))
        return Seq("(" if ops[0] == "<" else "[", ")", (bound(parts[0]), Leaf("\\infty")))
    if len(ops) == 1:
        return Equation(parts[0], parts[1], ops[0])
    return Leaf(text)


def _equation(sides: list[str], depth: int) -> Node:
    """``name = value`` is the value; ``y = 2x + 3`` a named relation; anything else an :class:`Equation`
    (never equal to a bare value unless both sides are numbers and equal, see :mod:`retool.answer.local`)."""
    lhs, rhs = sides[0], sides[-1]
    if _NAME.match(lhs) or _is_symbol_tuple(lhs):
        if len(sides) > 2 or not has_free_symbol(rhs) or _wrapping(normalize(rhs)) is not None:
            return structure(rhs, depth + 1)
        return Equation(normalize(lhs), normalize(rhs), "=", named=True)
    if len(sides) == 2 and _NAME.match(rhs) and not has_free_symbol(lhs):  # 5 = x
        return structure(lhs, depth + 1)
    return Equation(normalize(lhs), normalize(rhs))


def _is_symbol_tuple(text: str) -> bool:
    wrap = _wrapping(text)
    return wrap is not None and all(_LABEL.match(p.strip()) for p in _split_top(wrap[2], (",",)))
