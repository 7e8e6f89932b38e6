"""Spelling normalisation of one answer string (no structure, no evaluation). Pure and total.

:func:`normalize` rewrites, in order: unicode operators (``−``, ``×``, ``·``, ``π``, ``√``, ``∞``, ``°``)
to LaTeX (with fullwidth digits, ``²``, ``³``, ``½``); a trailing modulus (``3 \\pmod{5}`` is 3); a trailing alphabetic unit after a number (``5\\text{ cm}``, ``100\\text{ cm}^2``, but never
"or"/"and") dropped; ``\\text{}``-like wrappers and nested ``\\boxed{}`` unwrapped;
``\\dfrac``/``\\tfrac``/``\\cfrac`` to ``\\frac``; one-token arguments braced (``\\sqrt2``,
``\\frac{a}2``, ``\\frac12``); ``$``/``\\$``/``\\(``/``\\[``, ``\\left``/``\\right``, ``\\displaystyle`` and
spacing commands removed; a leading "the answer is", a trailing period, comma or semicolon and a
leading ``+`` removed; thousands separators ``1,000``, ``1{,}000``, ``1\\,000`` and ``1 000``
joined only when the whole answer is one grouped number (``(1,100)`` stays an interval).
"""

from __future__ import annotations

import re

from retool.answer.notation import changes_value, drop_invisible, drop_unit_words, plain_math, real_line

_UNICODE = {"\u2212": "-", "\u2013": "-", "\ufe63": "-", "\uff0d": "-", "\u00d7": "\\times ", "\u00b7": "\\cdot ",
            "\u22c5": "\\cdot ", "\u00f7": "\\div ", "\u03c0": "\\pi ", "\u221a": "\\sqrt", "\u221e": "\\infty ",
            "\u00b0": "^\\circ", "\u2264": "\\le ", "\u2265": "\\ge ", "\u2260": "\\ne ", "\u222a": "\\cup ",
            "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\uff0c": ",", "\u00b2": "^2", "\u00b3": "^3",
            "\u00bd": "\\frac{1}{2}", "\u00bc": "\\frac{1}{4}", "\u00be": "\\frac{3}{4}", "\uff0e": ".",
            "\u2248": "\\approx ", "\u200b": "", "\u200c": "", "\u200d": "", "\u2060": "", "\ufeff": "", "\u00ad": "", "\u20ac": " ", "\u00a3": " ", "\u00a5": " ", **{chr(0xFF10 + d): str(d) for d in range(10)}}
_WRAPPERS = re.compile(r"\\(?:boxed|fbox|text|textbf|textit|textrm|textnormal|mathrm|mathbf|mathit|mbox|operatorname|boldsymbol)\s*\{")
_DROP = re.compile(r"\\left(?![a-zA-Z])|\\right(?![a-zA-Z])|\\displaystyle|\\bigl|\\bigr|\\Bigl|\\Bigr|\\big|\\Big"
                   r"|(?<!\\)\\[!,;: ]|\\quad|\\qquad|\\\(|\\\)|\\\[|\\\]|\\\$|\$"
                   r"|\\(?:euro|texteuro|pounds|textsterling|textdollar|yen|textyen)(?![a-zA-Z])")
_FRAC = re.compile(r"\\[dtc]frac(?![a-zA-Z])")
_UNIT = re.compile(r"(?<=[\d}.])\s*\\(?:text|mbox|mathrm|textrm|textbf|textit|textsf|texttt|textup|mathit|mathsf)\s*"
                   r"\{\s*(?!(?:or|and)\b)(?![^mgsLKAVWJNh\s]\s*\})[A-Za-z][A-Za-z .]*(?:\^[23])?\s*\}"
                   r"\s*(?:\^\s*\{?\s*[23]\s*\}?)?\s*$")
_MODULUS = re.compile(r"\s*\(?\s*\\(?:pmod|bmod|mod)(?![a-zA-Z])\s*\{?\s*\d+\s*\}?\s*\)?\s*$")
_BINOM = re.compile(r"\\[dt]binom(?![a-zA-Z])")
_LEAD_IN = re.compile(r"^(?:the answer is|answer:)\s*", re.I)
_DIGIT_DOT = re.compile(r"\d\.$")
_INT_DOT = re.compile(r"[+-]?\d+\.")
_GROUP_SEP = re.compile(r"\{,\}|\\,|,| ")
_LATEX_GROUP = re.compile(r"(?<=\d)\{,\}(?=\d{3})")
_ONE_TOKEN_EXPONENT = re.compile(r"\^\{\s*(\d|[A-Za-z]|\\[A-Za-z]+)\s*\}")
_PLAIN_HINT = re.compile(r"sqrt|cbrt|pi|inf|oo|\*\*|sin|cos|tan|ln|log|exp|\d +\d+/")
_LETTER = re.compile(r"[A-Za-z]")
_TIE = re.compile(r"(?<=[\d}])~(?=[A-Za-z\\])")
_THOUSANDS = re.compile(r"^[+-]?[1-9]\d{0,2}(?:(?:,|\{,\}|\\,| )\d{3})+(?:\.\d+)?$", re.ASCII)


def _unwrap(text: str) -> str:
    """Replace ``\\text{X}``-like wrappers (balanced braces) by `` X ``."""
    while (m := _WRAPPERS.search(text)) is not None:
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += text[i] == "{"
            depth -= text[i] == "}"
            i += 1
        inner = text[m.end() : i - 1 if depth == 0 else i]
        text = text[: m.start()] + " " + inner + " " + text[i:]
    return text


_ARG_COMMANDS = {"\\frac": 2, "\\sqrt": 1, "\\binom": 2}
_ONE_TOKEN = re.compile(r"\s*(\\[a-zA-Z]+|[^\s{}\\])")


def _brace_arguments(text: str) -> str:
    """``\\sqrt2`` -> ``\\sqrt{2}``, ``\\frac{a}2`` -> ``\\frac{a}{2}``: one-token arguments get braces."""
    out, i = [], 0
    while (m := re.compile(r"\\(?:frac|sqrt|binom)(?![a-zA-Z])").search(text, i)) is not None:
        out.append(text[i : m.end()])
        i = m.end()
        if m.group(0) == "\\sqrt" and text[i : i + 1] == "[":
            close = text.find("]", i)
            if close < 0:
                break
            out.append(text[i : close + 1])
            i = close + 1
        for _ in range(_ARG_COMMANDS[m.group(0)]):
            while i < len(text) and text[i] == " ":
                i += 1
            if text[i : i + 1] == "{":
                depth, j = 0, i
                while j < len(text):
                    depth += text[j] == "{"
                    depth -= text[j] == "}"
                    j += 1
                    if depth == 0:
                        break
                out.append(text[i:j])
                i = j
            elif (tok := _ONE_TOKEN.match(text, i)) is not None:
                out.append("{" + tok.group(1) + "}")
                i = tok.end()
    out.append(text[i:])
    return "".join(out)


def normalize(text: str) -> str:
    """The canonical spelling of one answer (no evaluation). Pure and total."""
    if not text.isascii():
        for src, dst in _UNICODE.items():
            if src in text:
                text = text.replace(src, dst)
    if "~" in text:  # a TeX tie before a unit (5~cm); a leading ~5 (about 5) stays
        text = _TIE.sub(" ", text)
    if "phantom" in text or "color" in text or "space" in text or "cancel" in text or "out" in text or "\\st" in text:
        text = drop_invisible(text)
    if _PLAIN_HINT.search(text) is not None:
        text = plain_math(text)
    if "\\" in text:
        if ",\\!" in text:
            text = text.replace(",\\!", ",")
        text = _UNIT.sub(lambda m: m.group(0) if changes_value(m.group(0).replace("\\text", "")) else "", text)
        if "mod" in text:
            text = _MODULUS.sub("", text)
        text = _unwrap(text)
        if "frac" in text or "binom" in text:
            text = _BINOM.sub(r"\\binom", _FRAC.sub(r"\\frac", text))
        if "\\frac" in text or "\\sqrt" in text or "\\binom" in text:
            text = _brace_arguments(text)
    if "\\" in text or "$" in text:
        text = _DROP.sub(" ", text)
    text = " ".join(text.split())
    if text[:1] in "tTaA":
        text = _LEAD_IN.sub("", text)
    while text.endswith((".", "\u3002")) and not _DIGIT_DOT.search(text[-3:] if len(text) > 2 else ""):
        text = text[:-1].rstrip()
    text = text.rstrip(",;").rstrip()
    if text.endswith(".") and _INT_DOT.fullmatch(text):
        text = text[:-1]
    if _LETTER.search(text) is not None:
        text = real_line(drop_unit_words(text))
    if _THOUSANDS.match(text):
        text = _GROUP_SEP.sub("", text)
    if "{,}" in text:
        text = _LATEX_GROUP.sub("", text)
    if "^{" in text:  # x^{2} is x^2 (one-token exponent)
        text = _ONE_TOKEN_EXPONENT.sub(r"^\1", text)

    if text.startswith("+") and not text.startswith("+-"):
        text = text[1:].lstrip()
    return text
