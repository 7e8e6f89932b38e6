"""Hypothesis strategies for the tool-call grammar: code strings, calls and whole responses."""

from __future__ import annotations

from hypothesis import strategies as st

from retool.text.grammar import format_tool_call, strip_code_fences, tool_turn_text

# Text that stresses the parser: delimiters, braces, quotes, backslashes, boxes, unicode.
_HAZARDS = st.sampled_from(
    [
        "</tool_call>", "<tool_call>", "<tool_response>", "</tool_response>", "{", "}", '"', "'", "\\",
        "\\boxed{7}", "\n", "\t", "```", "```python\n", "<|im_end|>", "é", "数学", "🙂", "\u2212", "\x00",
    ]
)
code_strings = st.lists(st.one_of(st.text(max_size=12), _HAZARDS), max_size=12).map("".join)

# Code a well-formed call carries: blank code (nothing to execute) is an error on the call.
runnable_code = code_strings.map(lambda c: c if strip_code_fences(c).strip() else c + "print(0)")

# Prose the model writes between calls: never contains markup that would change its meaning.
prose = st.text(alphabet=st.characters(blacklist_characters="<\\", blacklist_categories=("Cs",)), max_size=40)
outputs = st.lists(st.one_of(st.text(max_size=15), _HAZARDS), max_size=6).map("".join)


@st.composite
def responses(draw, max_calls: int = 4):
    """``(text, codes, outputs, final)``: a rendered multi-turn response with known content."""
    n = draw(st.integers(min_value=0, max_value=max_calls))
    codes = [draw(runnable_code) for _ in range(n)]
    outs = [draw(outputs) for _ in range(n)]
    parts = []
    for code, out in zip(codes, outs):
        parts.append(draw(prose) + "\n" + format_tool_call("code_interpreter", {"code": code}))
        parts.append(tool_turn_text([out]))
    final = draw(st.integers(min_value=-10**6, max_value=10**6))
    parts.append(draw(prose) + f" The answer is \\boxed{{{final}}}.")
    return "".join(parts), codes, outs, str(final)


# Production-size hostile text: blocks a policy can emit, repeated and mixed to 64k characters.
HOSTILE_UNITS = (
    "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<|im_start|>", "<|im_end|>",
    "<|endoftext|>", "<|im_start|>assistant\n", "\\boxed{", "\\fbox{", "}", "{", "\\{", "\\", "[", '"', "\\\"",
    '<tool_call>\n{"name": "code_interpreter", "arguments": {"code": "', "Answer:", "answer: ", "Final answer: ",
    "*" * 64, " " * 64, "\n", "\r\n", "\x00", "\ufffd", "\ud800", "数学：", "Answer：", "｛", "｝", "$", "maybe",
)


@st.composite
def hostile_texts(draw, min_chars: int = 16_384, max_chars: int = 65_536):
    """Text of ``min_chars``..``max_chars`` characters built from a few hostile units, each repeated
    in long runs (the shapes that make a parser quadratic or recursive), with random glue."""
    target = draw(st.integers(min_value=min_chars, max_value=max_chars))
    units = draw(st.lists(st.sampled_from(HOSTILE_UNITS), min_size=1, max_size=4))
    runs = draw(st.lists(st.tuples(st.integers(0, len(units) - 1), st.integers(1, 4000), st.text(max_size=8)),
                         min_size=1, max_size=12))
    parts, size = [], 0
    while size < target:
        for index, repeat, glue in runs:
            chunk = units[index] * repeat + glue
            parts.append(chunk)
            size += len(chunk)
            if size >= target:
                break
    return "".join(parts)[:target]
