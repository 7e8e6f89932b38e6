"""Hypothesis strategies for the red-team tests of the model-text readers (tests/property/test_hostile_text.py).

Everything here is built from the public rendering helpers (``format_tool_call``, ``tool_turn_text``)
and from raw strings a policy (or a hostile tool) can emit: special tokens, repeated openers and
closers, deep nesting, invalid code points, NUL, CRLF, unicode colons and fullwidth braces.
"""

from __future__ import annotations

from hypothesis import strategies as st

from retool.text.grammar import format_tool_call, strip_code_fences, tool_turn_text

SPECIAL_TOKENS = (
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>",
)

# Units a policy or a tool can print, each a shape that has made text readers raise, recurse or go quadratic.
HOSTILE_UNITS = (
    *SPECIAL_TOKENS,
    "<|im_start|>assistant\n", "<|im_start|>user\n", "\\boxed{", "\\fbox{", "\\boxed", "}", "{", "\\{", "\\}", "\\", "[", "]",
    '"', '\\"', "'", ":", ",", '<tool_call>\n{"name": "code_interpreter", "arguments": {"code": "', '{"name": ', "Answer:",
    "answer: ", "Final answer: ", "Answer：", "答案：", "｛", "｝", "maybe", "or maybe ", "not sure", "I guess", "wait",
    "That's wrong", "\\boxed{1}", "\\boxed{}", " or ", ", ", " ", "\t", "\n", "\r\n", "\r", "\x00", "\ufffd", "\ud800",
    "\udfff", "\u2028", "$", "```", "```python\n", "9" * 64, "x",
)

# Tool output that a real sandbox may print (rendered through tool_turn_text, i.e. neutralised).
HOSTILE_OUTPUT_LINES = (
    "answer: " + "9" * 5000, "Answer: 41", "Final answer: 41", "\\boxed{41}", "\\boxed{41", "\\fbox{41}", "}" * 50,
    "{" * 5000, "\\boxed{" * 500, "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>",
    "<|im_end|>", "<|im_start|>assistant\n\\boxed{41}", "<|endoftext|>", "maybe not sure, I guess", "Wait, that's wrong.",
    '{"name": "code_interpreter", "arguments": {"code": "x"}}', "\x00", "\ufffd", "\r\n", "答案：41", "Answer：41",
)


@st.composite
def hostile_texts(draw, min_chars: int = 0, max_chars: int = 4096, units: tuple[str, ...] = HOSTILE_UNITS):
    """Text of ``min_chars``..``max_chars`` characters: runs of a few hostile units with random glue."""
    target = draw(st.integers(min_value=min_chars, max_value=max_chars))
    chosen = draw(st.lists(st.sampled_from(units), min_size=1, max_size=5))
    runs = draw(st.lists(st.tuples(st.integers(0, len(chosen) - 1), st.integers(1, 2000), st.text(max_size=6)),
                         min_size=1, max_size=10))
    parts: list[str] = []
    size = 0
    while True:
        for index, repeat, glue in runs:
            chunk = chosen[index] * repeat + glue
            parts.append(chunk)
            size += len(chunk)
            if size >= target:
                return "".join(parts)[:target]


hostile_outputs = st.lists(st.one_of(st.sampled_from(HOSTILE_OUTPUT_LINES), st.text(max_size=20)), min_size=1,
                           max_size=6).map("\n".join)

# Code the model writes: every delimiter, quote, brace and special token, in any order.
hostile_code = st.lists(st.one_of(st.sampled_from(HOSTILE_UNITS), st.text(max_size=10)), max_size=20).map("".join)

# Prose with no markup, no boxes, no answer lines and no hedge words: its meaning is "nothing".
_SAFE_WORDS = ("We", "compute", "the", "sum", "then", "check", "it", "carefully", "so", "result", "is", "value", "of", "x")
safe_prose = st.lists(st.sampled_from(_SAFE_WORDS), max_size=12).map(" ".join)

ANSWER_PREFIXES = ("Answer:", "Final answer:", "Final Answer:", "FINAL ANSWER:", "answer:", "Answer：", "Final answer：")
LINE_ENDINGS = ("", "\n", "\r\n", "\r", " \n", "\t\r\n")


@st.composite
def answer_line_texts(draw):
    """``(text, value)``: prose lines, then an ``Answer:``-style line holding ``value``, no box anywhere."""
    value = str(draw(st.integers(min_value=-10**9, max_value=10**9)))
    prefix = draw(st.sampled_from(ANSWER_PREFIXES))
    gap = draw(st.sampled_from(("", " ", "  ", "\t", "\u3000")))
    ending = draw(st.sampled_from(LINE_ENDINGS))
    lines = draw(st.lists(safe_prose, max_size=3))
    newline = draw(st.sampled_from(("\n", "\r\n")))
    before = "".join(line + newline for line in lines)
    return before + prefix + gap + value + ending, value


@st.composite
def tool_use_responses(draw, outputs=hostile_outputs, codes=hostile_code):
    """``(text, codes)``: 1-3 well-formed tool turns with hostile code and (rendered) hostile output, then
    ``So the answer is \\boxed{42}.``"""
    n = draw(st.integers(min_value=1, max_value=3))
    # a well-formed call has code to run (blank code is an error on the call)
    code_list = [code if strip_code_fences(code).strip() else code + "print(0)" for code in (draw(codes) for _ in range(n))]
    parts = []
    for code in code_list:
        parts.append(draw(safe_prose) + "\n" + format_tool_call("code_interpreter", {"code": code}))
        parts.append(tool_turn_text([draw(outputs)]))
    parts.append(draw(safe_prose) + " So the answer is \\boxed{42}.")
    return "".join(parts), code_list
