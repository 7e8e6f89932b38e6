"""Hypothesis strategies for the tool-call grammar: code strings, calls and whole responses."""

from __future__ import annotations

from hypothesis import strategies as st

from retool.text.grammar import format_tool_call, tool_turn_text

# Text that stresses the parser: delimiters, braces, quotes, backslashes, boxes, unicode.
_HAZARDS = st.sampled_from(
    [
        "</tool_call>", "<tool_call>", "<tool_response>", "</tool_response>", "{", "}", '"', "'", "\\",
        "\\boxed{7}", "\n", "\t", "```", "```python\n", "<|im_end|>", "é", "数学", "🙂", "\u2212", "\x00",
    ]
)
code_strings = st.lists(st.one_of(st.text(max_size=12), _HAZARDS), max_size=12).map("".join)

# Prose the model writes between calls: never contains markup that would change its meaning.
prose = st.text(alphabet=st.characters(blacklist_characters="<\\", blacklist_categories=("Cs",)), max_size=40)
outputs = st.lists(st.one_of(st.text(max_size=15), _HAZARDS), max_size=6).map("".join)


@st.composite
def responses(draw, max_calls: int = 4):
    """``(text, codes, outputs, final)``: a rendered multi-turn response with known content."""
    n = draw(st.integers(min_value=0, max_value=max_calls))
    codes = [draw(code_strings) for _ in range(n)]
    outs = [draw(outputs) for _ in range(n)]
    parts = []
    for code, out in zip(codes, outs):
        parts.append(draw(prose) + "\n" + format_tool_call("code_interpreter", {"code": code}))
        parts.append(tool_turn_text([out]))
    final = draw(st.integers(min_value=-10**6, max_value=10**6))
    parts.append(draw(prose) + f" The answer is \\boxed{{{final}}}.")
    return "".join(parts), codes, outs, str(final)
