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
