"""Hypothesis strategies for answers: integers and fractions in the spellings models write.

Every spelling strategy draws a canonical value and returns ``(value, text)``, so a test can
check that spellings of one value agree and spellings of different values never do.
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import strategies as st

BIG = 10**30


def _group(n: int, sep: str) -> str:
    digits = str(abs(n))
    head = len(digits) % 3 or 3
    parts = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return sep.join(parts)


def integer_spelling(n: int, style: int) -> str:
    """One of the ways a model writes the integer ``n`` (style is any int)."""
    sign = "-" if n < 0 else ""
    body = str(abs(n))
    spellings = [
        f"{sign}{body}",
        f"{sign}{body}.0",
        f"+{body}" if n >= 0 else f"\u2212{body}",
        f"{sign}{_group(n, ',')}" if abs(n) >= 1000 else f"{sign}{body}",
        f"{sign}{_group(n, '{,}')}",
        f"\\text{{{sign}{body}}}",
        f"\\${sign}{body}",
        f"{sign}{body}.",
        f"{sign}{body} ",
        f"\\mathbf{{{sign}{body}}}",
        f"{sign}{body}.000",
        f"x = {sign}{body}",
        f"\\frac{{{sign}{2 * abs(n)}}}{{2}}",
        f"{sign}{body}\\%",
    ]
    return spellings[style % len(spellings)]


def fraction_spelling(q: Fraction, style: int) -> str:
    """One of the ways a model writes the rational ``q`` (exact spellings only)."""
    sign = "-" if q < 0 else ""
    num, den = abs(q.numerator), q.denominator
    spellings = [
        f"{sign}\\frac{{{num}}}{{{den}}}",
        f"{sign}\\dfrac{{{num}}}{{{den}}}",
        f"{sign}\\tfrac{{{num}}}{{{den}}}",
        f"{sign}{num}/{den}",
        f"\\frac{{{sign}{num}}}{{{den}}}",
        f"{sign}\\frac{{{3 * num}}}{{{3 * den}}}",
    ]
    if den & (den - 1) == 0 or all(p in (2, 5) for p in _prime_factors(den)):
        spellings.append(_decimal(q))
    return spellings[style % len(spellings)]


def _prime_factors(n: int) -> list[int]:
    out, p = [], 2
    while p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return out + ([n] if n > 1 else [])


def _decimal(q: Fraction) -> str:
    """The terminating decimal of ``q`` (caller checks that it terminates)."""
    places = 0
    while (q * 10**places).denominator != 1:
        places += 1
    scaled = abs(q.numerator * 10**places // q.denominator)
    digits = str(scaled).rjust(places + 1, "0")
    text = digits if places == 0 else f"{digits[:-places]}.{digits[-places:]}"
    return ("-" if q < 0 else "") + text


integers = st.one_of(st.integers(-1000, 1000), st.integers(-BIG, BIG))
styles = st.integers(0, 1000)


@st.composite
def spelled_integers(draw: st.DrawFn) -> tuple[int, str]:
    n = draw(integers)
    return n, integer_spelling(n, draw(styles))


fractions = st.builds(Fraction, st.integers(-10**6, 10**6), st.integers(1, 10**4))


@st.composite
def spelled_fractions(draw: st.DrawFn) -> tuple[Fraction, str]:
    q = draw(fractions)
    return q, fraction_spelling(q, draw(styles))


@st.composite
def latex_noise(draw: st.DrawFn) -> str:
    """Arbitrary answer-like text: LaTeX fragments, digits, brackets, unicode."""
    atoms = st.sampled_from(["\\frac", "\\sqrt", "{", "}", "(", ")", "[", "]", "^", "_", "\\pi", "x", "=", ",",
                             "\\{", "\\}", "\\infty", "\\%", "^\\circ", "\\text{", "\\boxed{", "9", "0.5", "-",
                             "+", "\\cdot", "\\log", "e", "i", " ", "\\pm", "\\begin{pmatrix}", "&", "\\\\",
                             "\\end{pmatrix}", "\u2212", "!", "/"])
    parts = draw(st.lists(st.one_of(atoms, st.text(max_size=3)), max_size=25))
    return "".join(parts)
