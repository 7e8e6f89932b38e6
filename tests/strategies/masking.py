"""Hypothesis strategies for token-level trajectories built from real tokenizations."""

from __future__ import annotations

from hypothesis import strategies as st

from retool.text.grammar import format_tool_call
from tests.strategies.grammar import code_strings, outputs, prose


@st.composite
def trajectory_texts(draw, max_turns: int = 3):
    """``[(kind, text), ...]``: model turns (prose + a call) and tool turns, then a final answer."""
    turns = draw(st.integers(min_value=0, max_value=max_turns))
    pieces: list[tuple[str, object]] = []
    for _ in range(turns):
        pieces.append(("model", draw(prose) + "\n" + format_tool_call("code_interpreter", {"code": draw(code_strings)})))
        pieces.append(("tool", [draw(outputs) for _ in range(draw(st.integers(min_value=1, max_value=2)))]))
    pieces.append(("model", draw(prose) + f" \\boxed{{{draw(st.integers(0, 999))}}}<|im_end|>"))
    return pieces


_NATIVE_TAGS = ("<code>", "</code>", "<interpreter>", "</interpreter>", "<tool_call>", "</tool_call>", "<|im_start|>",
                "<|im_end|>", "<|endoftext|>")


def _defused(text: str) -> str:
    """Model text that a native rollout could have produced: no tag of the dialect inside (the engine
    stops at ``</code>`` and ``<interpreter>``; an end of turn ends the episode)."""
    for tag in _NATIVE_TAGS:
        text = text.replace(tag, tag.replace("<", "< "))
    return text


# text ending in '>' or blank space, the characters BPE merges with the '\n\n<interpreter>' that follows
_EDGES = st.sampled_from(["", ">", " ", "\n", "\n\n", ">>", " >\n", "\u4e2d", "\U0001f600", "7"])


@st.composite
def native_trajectory_texts(draw, max_turns: int = 3):
    """``[(kind, text), ...]`` in the retool-code dialect: model turns ending in ``</code>``, tool
    turns (a list of outputs), then a final answer ending in ``<|im_end|>``; edges BPE may merge."""
    from retool.text.native import format_code_block

    turns = draw(st.integers(min_value=0, max_value=max_turns))
    pieces: list[tuple[str, object]] = []
    for k in range(turns):
        lead = "" if k == 0 and draw(st.booleans()) else draw(_EDGES) + draw(prose) + "\n\n"
        code = _defused(draw(code_strings)) + draw(_EDGES)
        pieces.append(("model", lead + format_code_block(code)))
        outs = [draw(_EDGES) + draw(outputs) + draw(_EDGES) for _ in range(draw(st.integers(min_value=1, max_value=2)))]
        pieces.append(("tool", outs))
    pieces.append(("model", draw(_EDGES) + draw(prose) + f" \\boxed{{{draw(st.integers(0, 999))}}}<|im_end|>"))
    return pieces
