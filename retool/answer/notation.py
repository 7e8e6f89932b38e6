"""Spelling rules for notation outside strict LaTeX: invisible content, plain-text math, unit words.

Contract: every function is pure and total on strings (never raises) and only rewrites text; each
is a no-op on text it does not concern, and each is called by :func:`retool.answer.spelling.normalize`
behind a cheap substring test, so the integer fast path never pays for it.

- :func:`drop_invisible`: ``\\phantom{..}``, ``\\hphantom{..}``, ``\\vphantom{..}`` (and their one-token
  forms ``\\phantom5``), ``\\hspace{..}``, ``\\vspace{..}``, ``\\scalebox{0}{..}``, white or transparent
  text (``\\textcolor{white}{..}``, everything after ``\\color{white}`` in its group) and struck-out
  text (``\\cancel{..}``, ``\\sout{..}`` and kin) are removed *with their content*. They render as blank
  space or as withdrawn, so what they hold was never stated:
  ``\\boxed{\\phantom{5}}`` is an empty answer, ``\\boxed{4\\phantom{2}}`` is 4.
- :func:`plain_math`: plain-text notation (what models write on ``Answer:`` lines) becomes LaTeX:
  ``sqrt(2)``/``sqrt 2`` -> ``\\sqrt{2}``, ``cbrt(x)`` -> ``\\sqrt[3]{x}``, ``pi`` -> ``\\pi``,
  ``inf``/``infinity``/``oo`` -> ``\\infty``, ``**`` -> ``^``, ``sin(``/``ln(``... -> ``\\sin(``, and a
  mixed number ``1 1/2`` -> ``1\\frac{1}{2}`` (the whole answer, numerator below denominator).
- :func:`drop_unit_words`: one to four trailing words after a number are a unit or a noun and are
  dropped (``12 apples``, ``12 square units``, ``5 dollars``, ``60 km/h``, ``5cm``): never when a word
  can change the value or the reading (``hundred``, ``dozen``, ``half``, ``squared``, ``or``,
  ``and``, ``times``, ``pi``, ``percent``, ``degrees``...), never a one- or two-letter word that is
  not a known unit (``5 xy`` is a product, ``5 m`` is metres), and a letter run glued to the number
  only when it is a known unit (``5cm`` is 5; ``5ab`` is a product).
- :func:`real_line`: the whole answer ``\\mathbb{R}`` (or ``\\R``, "all real numbers") is the
  interval ``(-\\infty, \\infty)``.
"""

from __future__ import annotations

import re

from retool.text.regions import INVISIBLE, WHITE

__all__ = ["INVISIBLE", "WHITE", "changes_value", "drop_invisible", "drop_unit_words", "plain_math", "real_line", "unit_of",
           "canonical_unit"]


def _group_end(text: str, i: int) -> int:
    """Index just past the balanced ``{...}`` group starting at ``text[i] == '{'`` (or len(text))."""
    depth = 0
    for j in range(i, len(text)):
        depth += text[j] == "{"
        depth -= text[j] == "}"
        if depth == 0:
            return j + 1
    return len(text)


_INVISIBLE, _WHITE = INVISIBLE, WHITE


def drop_invisible(text: str) -> str:
    """Remove content that renders as blank space (see the module docstring)."""
    while (m := _INVISIBLE.search(text)) is not None:
        end = _group_end(text, m.end()) if text.startswith("{", m.end()) else m.end()
        text = text[: m.start()] + " " + text[end:]
    while (m := _WHITE.search(text)) is not None:  # to the end of the enclosing group
        depth, j = 0, m.end()
        while j < len(text) and depth >= 0:
            depth += text[j] == "{"
            depth -= text[j] == "}"
            j += 1
        text = text[: m.start()] + " " + (text[j - 1 :] if depth < 0 else "")
    return text


_SQRT_CALL = re.compile(r"(?:(?<![\\A-Za-z])sqrt|\\sqrt|(?<![\\A-Za-z])cbrt)\s*\(")
_SQRT_BARE = re.compile(r"(?<![\\A-Za-z])sqrt\s*(\d+(?:\.\d+)?|[A-Za-z](?![A-Za-z]))")
_PI = re.compile(r"(?<![\\A-Za-z])pi(?![A-Za-z])")
_INF = re.compile(r"(?<![\\A-Za-z])(?:infinity|inf|oo)(?![A-Za-z])")
_FUNCTION = re.compile(r"(?<![\\A-Za-z])(sin|cos|tan|ln|log|exp)(?=\s*\()")
_MIXED = re.compile(r"([+-]?)(\d+) +(\d+)/(\d+)", re.ASCII)


def _paren_end(text: str, i: int) -> int:
    """Index of the ``)`` matching the ``(`` at ``text[i]``, or -1."""
    depth = 0
    for j in range(i, len(text)):
        depth += text[j] == "("
        depth -= text[j] == ")"
        if depth == 0:
            return j
    return -1


def plain_math(text: str) -> str:
    """Plain-text math notation to LaTeX (see the module docstring)."""
    if "sqrt" in text or "cbrt" in text:
        out, pos = [], 0
        while (m := _SQRT_CALL.search(text, pos)) is not None:
            close = _paren_end(text, m.end() - 1)
            if close < 0:
                break
            root = "\\sqrt[3]{" if "cbrt" in m.group(0) else "\\sqrt{"
            out.append(text[pos : m.start()] + root + plain_math(text[m.end() : close]) + "}")
            pos = close + 1
        text = "".join(out) + text[pos:]
        text = _SQRT_BARE.sub(lambda m: "\\sqrt{" + m.group(1) + "}", text)
    if "pi" in text:
        text = _PI.sub(r"\\pi ", text)
    if "inf" in text or "oo" in text:
        text = _INF.sub(r"\\infty ", text)
    if "**" in text:
        text = text.replace("**", "^")
    if "(" in text:
        text = _FUNCTION.sub(r"\\\1", text)
    if "/" in text and (m := _MIXED.fullmatch(text.strip())) is not None and int(m.group(3)) < int(m.group(4)):
        text = f"{m.group(1)}{m.group(2)}\\frac{{{m.group(3)}}}{{{m.group(4)}}}"
    return text


_UNITS = frozenset(
    "m cm mm km nm um g kg mg s ms ns min mins h hr hrs ft in yd mi lb lbs oz mph kph kmh l L ml mL cc sec secs "
    "cal kcal J kJ W kW V A K N Pa kPa Hz kHz MHz GHz B KB MB GB TB bit bits USD EUR GBP m2 cm2 mm2 km2 m3 cm3 "
    "deg rad sq yr yrs wk wks mo day men cm^2 m^2 cm^3 m^3 ft^2 ft^3 in^2 in^3 mm^2 km^2 km/h m/s ft/s".split())
_NOUNS = frozenset("men day cat dog pen box egg car bus toy hat cup way row pie bag ant bee cow pig".split())
_STOP = frozenset(
    "and or of to by than more less plus minus times over divided choose mod modulo squared cubed factorial "
    "percent percentage pct per cent degree degrees hundred hundreds thousand thousands million millions billion "
    "billions trillion trillions dozen dozens half halves third thirds quarter quarters fourth fourths fifth fifths "
    "tenth tenths hundredth hundredths thousandth thousandths pi inf infinity sqrt cbrt root roots ln log sin cos "
    "tan exp not no none through between up least most each with without is are sixth sixths seventh sevenths "
    "eighth eighths ninth ninths eleventh elevenths twelfth twelfths twentieth twentieths millionth millionths".split())
_WORD = re.compile(r"[A-Za-z][A-Za-z.]*(?:\^\{?[23]\}?)?(?:/[A-Za-z][A-Za-z.]*(?:\^\{?[23]\}?)?)?")
_GLUED = re.compile(r"(.*\d)([A-Za-z][A-Za-z/^0-9]*)")
_NUMBER_END = re.compile(r"(?:\d|\d\}|\}|\d\.)$")


def changes_value(unit_text: str) -> bool:
    """True when a would-be unit holds a word that changes the value (``\\text{ hundred}``, ``eighths``)."""
    return any(word.lower().rstrip(".") in _STOP for word in re.findall(r"[A-Za-z.]+", unit_text))


def unit_of(text: str) -> str | None:
    """The trailing unit word(s) of a single number (``5 cm`` -> ``cm``, plural ``s`` dropped), or None."""
    stripped = drop_unit_words(text)
    if stripped == text:
        return None
    unit = text[len(stripped):].strip().lower().rstrip(".")
    return unit[:-1] if unit.endswith("s") and len(unit) > 2 else unit


def _is_unit_word(word: str) -> bool:
    core = word.rstrip(".")
    if core.lower() in _STOP or not core:
        return False
    if core in _UNITS or core.lower() in _UNITS:
        return True
    return len(re.sub(r"[^A-Za-z]", "", core)) >= 4 or core.lower() in _NOUNS


def drop_unit_words(text: str) -> str:
    """Drop trailing unit words or nouns after a number (see the module docstring)."""
    tokens = text.split(" ")
    words: list[str] = []
    if len(tokens) >= 3 and tokens[-1] in ("squared", "cubed") and _is_unit_word(tokens[-2]):
        words.append(tokens.pop())  # 12 units squared, 8 meters cubed
    while tokens and len(words) < 4 and _WORD.fullmatch(tokens[-1]) and _is_unit_word(tokens[-1]):
        words.append(tokens.pop())
    rest = " ".join(tokens).rstrip()
    if words and rest and _NUMBER_END.search(rest) and not any(c.isalpha() for c in re.sub(r"\\[A-Za-z]+", "", rest)):
        return rest
    if not words and (m := _GLUED.fullmatch(text)) is not None and m.group(2) in _UNITS:
        head = m.group(1)
        if not any(c.isalpha() for c in re.sub(r"\\[A-Za-z]+", "", head)):
            return head
    return text


_REALS = frozenset({"\\mathbb{R}", "\\mathbb R", "\\R", "\\Bbb{R}", "\\mathbf{R}", "all real numbers", "all reals",
                    "all real x", "\\text{all real numbers}", "real numbers", "\\mathbb{R}^1"})


def real_line(text: str) -> str:
    """The whole answer naming the real line becomes ``(-\\infty, \\infty)``."""
    return "(-\\infty, \\infty)" if text.strip() in _REALS else text


_CANON = {}
for _names, _canon in (("m meter meters metre metres", "m"), ("cm centimeter centimeters centimetre centimetres", "cm"),
                       ("mm millimeter millimeters millimetre millimetres", "mm"), ("km kilometer kilometers kilometre kilometres", "km"),
                       ("g gram grams", "g"), ("kg kilogram kilograms", "kg"), ("mg milligram milligrams", "mg"),
                       ("s sec secs second seconds", "s"), ("min mins minute minutes", "min"), ("h hr hrs hour hours", "h"),
                       ("ft foot feet", "ft"), ("in inch inches", "in"), ("yd yard yards", "yd"), ("mi mile miles", "mi"),
                       ("l liter liters litre litres", "l"), ("ml milliliter milliliters millilitre millilitres", "ml"),
                       ("day days", "day"), ("week weeks wk wks", "week"), ("year years yr yrs", "year"),
                       ("dollar dollars usd", "dollar"), ("cent cents", "cent"), ("lb lbs pound pounds", "lb")):
    for _name in _names.split():
        _CANON[_name] = _canon
_POWER = {"^2": 2, "^{2}": 2, "^3": 3, "^{3}": 3}
_LATEX_TEXT = re.compile(r"\\(?:text|mbox|mathrm|textrm|textbf|textit|textsf|texttt|textup|mathit|mathsf)\s*\{([^{}]*)\}")


def canonical_unit(text: str) -> str | None:
    """The known unit a single number carries (``5\\text{ cm}^2`` -> ``cm^2``, ``5 meters`` -> ``m``), or
    None when it carries none or one this table does not know (then units are never compared)."""
    for sign, name in (("\\$", "dollar"), ("\u20ac", "euro"), ("\u00a3", "pound sterling")):
        if sign in text and not any(c.isalpha() for c in text.replace("\\$", "").replace("\\text", "")):
            return name  # \$5: a currency sign is a unit too (\$5 is not 5 cents)
    if not any(c.isalpha() for c in text):
        return None
    flat = " ".join(_LATEX_TEXT.sub(r" \1 ", text).replace("$", " ").replace("\\,", " ").replace("\\ ", " ").split())
    words = flat.split(" ")
    if len(words) < 2 or not re.fullmatch(r"[+-]?\d+(?:\.\d+)?|\\frac\{\d+\}\{\d+\}", words[0]):
        return None
    rest = " ".join(words[1:]).lower()
    power = ""
    for mark, n in _POWER.items():
        if rest.endswith(mark):
            rest, power = rest[: -len(mark)].strip(), f"^{n}"
    for prefix, n in (("square ", 2), ("sq ", 2), ("sq. ", 2), ("cubic ", 3)):
        if rest.startswith(prefix):
            rest, power = rest[len(prefix):], f"^{n}"
    canon = _CANON.get(rest)
    return None if canon is None else canon + power
