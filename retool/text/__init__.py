"""The text and token contract of a tool-calling trace: pure functions, no I/O, nothing above it.

- :mod:`~retool.text.grammar`: the Qwen3 tool-call grammar. ``render_tools_system_prompt``,
  ``format_tool_call``, ``tool_turn_text`` render; ``parse_trace(text)`` is total (any string gives
  a ``Trace``; nothing raises) and reads calls, errors and the final boxed answer; tool output is
  neutralised so code cannot forge a turn boundary.
- :mod:`~retool.text.masking`: token-in/token-out loss masks (1 exactly on model-sampled tokens),
  ``encode_sft`` with its prefix-preservation check, and ``verify_loss_mask``, cheap enough to run
  inside training, naming the first offending span.
"""

from retool import lazy_exports

_EXPORTS = {
    **dict.fromkeys((
        "BoxedSpan", "CODE_INTERPRETER", "DEFAULT_TOOLS", "Segment", "ToolCall", "ToolSpec", "Trace", "find_boxed",
        "format_tool_call", "format_tool_response", "neutralise", "parse_trace", "render_tools_system_prompt",
        "strip_code_fences", "tool_turn_text",
    ), ".grammar"),
    **dict.fromkeys((
        "MASK_OF", "MaskCheck", "SFTExample", "TemplateNotPrefixPreserving", "TokenSegment", "build_ids_and_mask",
        "encode_sft", "joint_tokenization_differs", "verify_loss_mask",
    ), ".masking"),
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
