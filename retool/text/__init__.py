"""The text and token contract of a tool-calling trace: pure functions, no I/O, nothing above it.

- :mod:`~retool.text.dialect`: a :class:`Dialect` is everything that knows one format's tags (the
  prompt, stop strings, parsing, the tool turn, the mask rule): ``qwen3`` (the default) and
  ``retool-code`` (ReTool's native ``<code>``/``<interpreter>``); :func:`get_dialect` by name.
  Nothing outside this package knows the tags.
- :mod:`~retool.text.trace`: the :class:`Trace` every dialect's parser returns and the one rule
  for its final answer and ``has_valid_format`` (read from :mod:`~retool.text.regions`'s
  ``own_text``, the text the answer extraction reads).
- :mod:`~retool.text.native`: the ``retool-code`` parser (``parse_native``, total and linear) and
  renderers (``format_code_block``, ``interpreter_text``).
- :mod:`~retool.text.grammar`: the Qwen3 tool-call grammar. ``render_tools_system_prompt``,
  ``format_tool_call``, ``tool_turn_text`` render; ``parse_trace(text)`` is total (any string gives
  a ``Trace``; nothing raises) and reads calls, errors and the final boxed answer; tool output is
  neutralised so code cannot forge a turn boundary. A tool call's JSON nests at most
  ``MAX_JSON_DEPTH`` levels (deeper is an error on the call); parsing is linear in the text.
- :mod:`~retool.text.bounded_json`: JSON decoding that refuses nesting past ``MAX_JSON_DEPTH``
  with a ``JSONDecodeError`` instead of recursing into a ``RecursionError``.
- :mod:`~retool.text.spans`: ``find_boxed`` (one pass, linear time and memory) and ``answer_line``,
  the one ``Answer:`` rule the grammar and the extraction policy share.
- :mod:`~retool.text.masking`: token-in/token-out loss masks (1 exactly on model-sampled tokens),
  ``encode_sft`` with its prefix-preservation check, and ``verify_loss_mask``, cheap enough to run
  inside training, naming the first offending span.
"""

from retool import lazy_exports

_EXPORTS = {
    **dict.fromkeys((
        "CODE_INTERPRETER", "DEFAULT_TOOLS", "Segment", "ToolCall", "ToolSpec", "Trace",
        "format_tool_call", "format_tool_response", "neutralise", "parse_trace", "render_tools_system_prompt",
        "strip_code_fences", "tool_turn_text",
    ), ".grammar"),
    "MAX_JSON_DEPTH": ".bounded_json",
    **dict.fromkeys(("ANSWER_LINE", "BoxedSpan", "answer_line", "find_boxed"), ".spans"),
    **dict.fromkeys(("DIALECTS", "DIALECT_NAMES", "QWEN3", "RETOOL_CODE", "Dialect", "get_dialect"), ".dialect"),
    **dict.fromkeys(("NATIVE_SYSTEM_PROMPT", "format_code_block", "interpreter_text", "parse_native"), ".native"),
    **dict.fromkeys(("blank_invisible", "own_text"), ".regions"),
    **dict.fromkeys((
        "MASK_OF", "MaskCheck", "SFTExample", "TemplateNotPrefixPreserving", "TokenSegment", "build_ids_and_mask",
        "encode_sft", "joint_tokenization_differs", "verify_loss_mask",
    ), ".masking"),
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
