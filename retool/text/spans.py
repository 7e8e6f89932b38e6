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
from dataclasses import dataclass, field

__all__ = ["ANSWER_LINE", "BoxedSpan", "answer_line", "find_boxed"]

# one token per step: a box opener, an escaped brace (not counted), or a brace
_BOX_TOKENS = re.compile(r"(\\(?:boxed|fbox)\s*\{)|\\[{}]|([{}])")
ANSWER_LINE = re.compile(r"^[ \t>*_#-]*(?:final[ \t]+)?answer[ \t*_]*[:：]([^\n]*)", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class BoxedSpan:
    """One box: ``text[start:end]`` is the whole ``\\boxed{...}`` (to the end of the text when not
    ``closed``); ``content`` is what lies inside the braces."""

    start: int
    end: int
    closed: bool
    content_start: int
    source: str = field(repr=False, compare=False)

    @property
    def content(self) -> str:
        return self.source[self.content_start : self.end - 1 if self.closed else self.end]


def find_boxed(text: str) -> tuple[BoxedSpan, ...]:
    """Every box of ``text`` (see the module docstring). One pass; linear time and memory."""
    if not isinstance(text, str):
        return ()
    found: list[list[int]] = []  # [start, end, content_start, closed], in order of start
    open_boxes: list[tuple[int, int]] = []  # (index into found, brace depth just inside the box)
    depth = 0
    for m in _BOX_TOKENS.finditer(text):
        if m.group(1) is not None:
            depth += 1
            open_boxes.append((len(found), depth))
            found.append([m.start(), len(text), m.end(), 0])
        elif m.group(2) == "{":
            depth += 1
        elif m.group(2) == "}" and depth:
            if open_boxes and open_boxes[-1][1] == depth:
                entry = found[open_boxes.pop()[0]]
                entry[1], entry[3] = m.end(), 1
            depth -= 1
    spans: list[BoxedSpan] = []
    covered_until = -1  # end of the last listed closed box: boxes starting before it are inside it
    for start, end, content_start, closed in found:
        if start < covered_until:
            continue
        spans.append(BoxedSpan(start, end, bool(closed), content_start, text))
        if closed:
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
