"""Tool output and code inside the final text: what the model did not state as its answer. Pure, total.

The dialect's parser (:func:`retool.text.grammar.parse_trace`, :func:`retool.text.native.parse_native`)
already cuts the text at the last tool response of its own markup (a Qwen3 ``</tool_response>``, a
native ``</interpreter>``), and every ``Trace`` reads its final answer through :func:`own_text`, so the
format check and the answer extraction agree on where an answer may sit. Reasoning closed by ``</think>`` is not the answer either: only the text after
the last ``</think>`` counts (a response without ``</think>`` is read whole). Two other tool-output formats reach the final text as plain text, and a box
inside them was printed by code, not written by the model:

- the ReTool-native format: ``<code>...</code>`` followed by ``<interpreter>...</interpreter>``
  (the upstream rollout appends the interpreter's output as plain text);
- markdown fences: a ```` ```output ```` (or ```` ```text ```` / ```` ```console ````) fence after a
  ```` ```python ```` fence, the ToRA-style transcript.

:func:`own_text` returns ``(text, cut)``: the text after the end of the last tool-output block, with
every code block (``<code>...</code>``, any other fence: ```` ```python ````, ```` ```latex ```` or
unlabelled, and inline code in backticks; verbatim text is not a rendered answer) blanked out (replaced by spaces of the same length, so offsets still match ``final_text[cut:]``).
An unclosed tool-output block runs to the end of the text (then ``text`` is empty: no answer can
follow output that never ended); an unclosed code block is blanked to the end. An unlabelled
fence that directly follows a code fence (only blank space between) is that code's output.

Invisible or withdrawn content is blanked too, so a box inside it is not an answer: ``\\phantom{..}``
and kin, white or transparent text, struck-out text (see :mod:`retool.answer.notation`), markdown
strike-through ``~~...~~`` (one line), HTML comments ``<!-- ... -->`` (an unclosed comment runs to the
end) and HTML elements hidden by ``display:none``, ``visibility:hidden`` or ``hidden``. ``\\boxed{41}\\phantom{\\boxed{42}}`` answers 41.

Each pass is one scan over the text (regex scans, each character visited once): linear time.
"""

from __future__ import annotations

import re

__all__ = ["CODE_CALL", "INVISIBLE", "WHITE", "blank_invisible", "own_text"]

# a code block that asks to be run (ReTool's <code>, or a python fence): after the final box it means
# the model went on computing, so the box is not its answer (the extraction policy and Trace agree)
CODE_CALL = re.compile(r"<code>|```[ \t]*(?:python3?|py|ipython)\b", re.IGNORECASE)

# content that renders as blank space (the answer notation drops it too: retool.answer.notation)
_BLANK_COLOUR = r"(?:\[[a-zA-Z]+\]\s*\{\s*(?:1\s*,\s*1\s*,\s*1|1|255\s*,\s*255\s*,\s*255|FFFFFF|ffffff)\s*\}|\{\s*(?:white|transparent|#?[fF]{3}(?:[fF]{3})?)\s*\})"
INVISIBLE = re.compile(r"\\(?:phantom|hphantom|vphantom|hspace\*?|vspace\*?)\s*(?=\{)|\\[hv]?phantom\s*(?:\\[a-zA-Z]+|[^\s{\\])|\\textcolor\s*" + _BLANK_COLOUR + r"\s*(?=\{)"
                       r"|\\scalebox\s*\{\s*0*\.?0*\s*\}\s*(?=\{)|\\(?:cancel|bcancel|xcancel|sout|st|xout)\s*(?=\{)")
WHITE = re.compile(r"\\color\s*" + _BLANK_COLOUR)

_TOKEN = re.compile(r"<(/?)(interpreter|tool_response|code|output|tool_output|execution_output)>|```[ \t]*([A-Za-z0-9_+-]*)")
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_OUTPUT_FENCES = frozenset({"output", "text", "console", "stdout", "result"})
_CODE_FENCES = frozenset({"python", "py", "python3", "sh", "bash", "shell", "ipython"})


_HIDDEN_TAG = (r"<(?P<tag>[a-zA-Z]{1,20})\b[^>\n]{0,200}(?:display\s{0,5}:\s{0,5}none|visibility\s{0,5}:\s{0,5}hidden|\bhidden\b)"
               r"[^>\n]{0,200}>")  # bounded: linear on a flood of '<a
_BLANK = re.compile(INVISIBLE.pattern + "|" + WHITE.pattern + r"|<!--|~~|" + _HIDDEN_TAG)
_INVISIBLE_HINT = re.compile(r"phantom|color|space|scalebox|cancel|sout|\\st\b|xout|<!--|~~|hidden|none")


def _group_end(text: str, i: int, depth: int) -> int:
    """Index just past where brace depth (``depth`` at ``i``) first drops to zero, or len(text)."""
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        depth += ch == "{"
        depth -= ch == "}"
        i += 1
        if depth <= 0:
            return i
    return len(text)


def blank_invisible(text: str) -> str:
    """``text`` with invisible content replaced by spaces (same length; see the module docstring)."""
    if not _INVISIBLE_HINT.search(text):
        return text
    spans: list[tuple[int, int]] = []
    done, line_end = 0, -1
    for m in _BLANK.finditer(text):
        if m.start() < done:
            continue
        if m.group(0) == "<!--":
            close = text.find("-->", m.end())
            end = len(text) if close < 0 else close + 3
        elif m.group(0) == "~~":
            if line_end < m.end():  # each line end is found once: linear on a line of many '~~'
                line_end = text.find("\n", m.end()) % (len(text) + 1)
            close = text.find("~~", m.end(), line_end)
            end = m.end() if close < 0 else close + 2
        elif m.group(0).startswith("<"):  # a hidden HTML element, to its closing tag
            close = text.find("</" + m.group("tag"), m.end())
            end = len(text) if close < 0 else close
        elif m.group(0).startswith("\\color"):
            end = _group_end(text, m.end(), 1) - 1  # to the end of the enclosing group
        elif text.startswith("{", m.end()):
            end = _group_end(text, m.end(), 0)
        else:  # a one-token argument: \phantom5
            end = m.end()
        spans.append((m.start(), max(end, m.end())))
        done = max(end, m.end())
    if not spans:
        return text
    pieces, pos = [], 0
    for start, end in spans:
        pieces += [text[pos:start], " " * (end - start)]
        pos = end
    return "".join(pieces) + text[pos:]


def own_text(text: str) -> tuple[str, int]:
    """The model's own text after the last tool output, code and invisible content blanked."""
    own, cut = _after_output(text)
    if (think := own.rfind("</think>")) >= 0:  # reasoning is not the answer: what follows it is
        own, cut = own[think + len("</think>") :], cut + think + len("</think>")
    if "`" in own:
        own = _INLINE_CODE.sub(lambda m: " " * len(m.group(0)), own)
    return blank_invisible(own), cut


def _after_output(text: str) -> tuple[str, int]:
    if "<" not in text and "```" not in text:
        return text, 0
    cut = 0
    code: list[tuple[int, int]] = []
    last_code_end = -1
    state, opened = "", 0  # "" outside; "output" / "code" inside a tag block; "fence-*" inside a fence
    for m in _TOKEN.finditer(text):
        closing, tag, lang = m.group(1), m.group(2), m.group(3)
        if state == "":
            if tag is not None and not closing:
                state, opened = ("code" if tag == "code" else "output"), m.start()
            elif tag != "code" and tag is not None and closing:  # a closer without its opener: output ended here
                cut = m.end()
            elif tag is None:
                kind = "output" if lang.lower() in _OUTPUT_FENCES else "code"
                if not lang and code and code[-1][1] == last_code_end and not text[last_code_end : m.start()].strip():
                    kind = "output"  # an unlabelled fence right after a code fence is that code's output
                last_code_end = -1  # only the first fence after a code fence can be its output
                state, opened = "fence-" + kind, m.start()
        elif state in ("output", "code"):
            if tag is not None and closing and (tag != "code") == (state == "output"):
                if state == "output":
                    cut = m.end()
                else:
                    code.append((opened, m.end()))
                state = ""
        elif tag is None:  # any fence token closes the open fence
            if state == "fence-output":
                cut = m.end()
            elif state == "fence-code":
                code.append((opened, m.end()))
                last_code_end = m.end()
            state = ""
    if state in ("output", "fence-output"):
        return "", len(text)
    if state in ("code", "fence-code"):
        code.append((opened, len(text)))
    if not code:
        return text[cut:], cut
    pieces, pos = [], cut
    for start, end in code:
        if end <= cut:
            continue
        start = max(start, cut)
        pieces.append(text[pos:start])
        pieces.append(" " * (end - start))
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces), cut
