"""Where a final answer sits in model text: ``\\boxed{}`` spans and ``Answer:`` lines. Pure, total.

Contract (both functions take any ``str`` and never raise):

- :func:`find_boxed` returns every ``\\boxed{...}``/``\\fbox{...}`` in order of its start, braces
  balanced to any depth (``\\{`` and ``\\}`` do not count). A box nested inside a *closed* box is
  part of it and not listed on its own; a box that never closes runs to the end of the text
  (``closed=False``) and the boxes inside it are listed. One pass over the text: time and memory
  are linear in its length however many boxes are open (a span holds offsets, not a copy of its
  content; :attr:`BoxedSpan.content` slices on demand).
- :func:`answer_line` is the one ``Answer:`` rule of the project (the grammar's ``final_answer``
  and the extraction policy both use it): the content of the *last* line that starts, after
  optional markdown decoration (``>``, ``*``, ``_``, ``#``, ``-``, spaces), with ``answer`` or
  ``final answer`` (any case) followed by ``:`` or ``：``; leading spaces and ``*``/``_`` are
  stripped, and trailing spaces, ``*``, ``_`` and ``.``. ``None`` when there is no such line, ``""``
  when the last one is empty. Linear: the pattern has no lazy group before an anchored tail.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["ANSWER_LINE", "BoxedSpan", "answer_line", "find_boxed"]

# the first opener; then one token per step: a run of openers, of '{', of '}', or an escaped brace
_OPENER = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOX_TOKENS = re.compile(r"((?:\\(?:boxed|fbox)\s*\{)+)|(\{+)|(\}+)|\\[{}]")
# where a token may start: one character class first, so the regex engine skips other text at C speed
_CANDIDATE = re.compile(r"[\\{}](?<=[{}]|\\(?=boxed|fbox|[{}]))")
ANSWER_LINE = re.compile(r"^[ \t>*_#-]*(?:final[ \t]+)?answer[ \t*_]*[:：]([^\n]*)", re.IGNORECASE | re.MULTILINE)


class BoxedSpan(NamedTuple):
    """One box: ``text[start:end]`` is the whole ``\\boxed{...}`` (to the end of the text when not
    ``closed``); ``content`` is what lies inside the braces. (A named tuple: cheap to make, since a
    flood of boxes makes one per box.)"""

    start: int
    end: int
    closed: bool
    content_start: int
    source: str

    @property
    def content(self) -> str:
        return self.source[self.content_start : self.end - 1 if self.closed else self.end]

    def __repr__(self) -> str:
        return f"BoxedSpan(start={self.start}, end={self.end}, closed={self.closed}, content={self.content[:40]!r})"


def find_boxed(text: str) -> tuple[BoxedSpan, ...]:
    """Every box of ``text`` (see the module docstring). One pass; linear time and memory.

    Braces before the first opener cannot affect a box and are not read; a run of braces is one
    step (a run of closers closes every box it reaches, at the closer that brings the depth back
    below the box's own).
    """
    if not isinstance(text, str):
        return ()
    first = _OPENER.search(text)
    if first is None:
        return ()
    starts: list[int] = []
    content_starts: list[int] = []
    ends: list[int] = []  # -1 while open
    open_index: list[int] = []  # the open boxes, innermost last: index into starts ...
    open_depth: list[int] = []  # ... and the brace depth just inside each
    depth = 0
    pos = first.start()
    while (candidate := _CANDIDATE.search(text, pos)) is not None:
        m = _BOX_TOKENS.match(text, candidate.start())
        if m is None:  # '\boxed' without its brace
            pos = candidate.end()
            continue
        pos = m.end()
        kind = m.lastindex
        if kind == 1 and text.find("\\", m.start() + 1, m.end()) < 0:  # one opener
            depth += 1
            open_index.append(len(starts))
            open_depth.append(depth)
            starts.append(m.start())
            content_starts.append(m.end())
            ends.append(-1)
        elif kind == 1:  # a run of openers, taken in bulk
            run = [o.span() for o in _OPENER.finditer(text, m.start(), m.end())]
            base, k = len(starts), len(run)
            open_index.extend(range(base, base + k))
            open_depth.extend(range(depth + 1, depth + k + 1))
            depth += k
            starts.extend(o[0] for o in run)
            content_starts.extend(o[1] for o in run)
            ends.extend([-1] * k)
        elif kind == 2:
            depth += m.end() - m.start()
        elif kind == 3 and depth:
            at = m.start()
            low = depth - min(m.end() - at, depth)  # closers past depth 0 do nothing
            while open_depth and open_depth[-1] > low:
                ends[open_index.pop()] = at + (depth - open_depth.pop()) + 1
            depth = low
    spans: list[BoxedSpan] = []
    covered_until = -1  # end of the last listed closed box: boxes starting before it are inside it
    n = len(text)
    make = tuple.__new__  # BoxedSpan's own __new__ is a Python function: this skips it, same object
    for start, content_start, end in zip(starts, content_starts, ends):
        if start < covered_until:
            continue
        if end < 0:
            spans.append(make(BoxedSpan, (start, n, False, content_start, text)))
        else:
            spans.append(make(BoxedSpan, (start, end, True, content_start, text)))
            covered_until = end
    return tuple(spans)


def answer_line(text: str) -> str | None:
    """The last ``Answer:`` line's content (see the module docstring), ``""`` if it is empty."""
    if not isinstance(text, str):
        return None
    last = None
    for last in ANSWER_LINE.finditer(text):
        pass
    if last is None:
        return None
    return last.group(1).strip().lstrip("*_ \t").rstrip("*_. \t")
