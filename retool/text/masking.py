"""Token-level loss masks: 1 exactly on what the model generated, 0 on prompt and tool output.

Contract:
- Token-in/token-out. A trajectory is a sequence of :class:`TokenSegment`, each already token ids:
  ``prompt`` (mask 0), ``model`` (sampled by the model: prose, tool-call tokens and its own
  end-of-turn token; mask 1) and ``tool`` (a tool turn: the chat markup and the
  ``<tool_response>`` blocks, delimiters included; mask 0). :func:`build_ids_and_mask`
  concatenates them. A mask is never rebuilt by re-tokenizing decoded text: BPE merges across a
  segment boundary can make ``tokenize(a + b) != tokenize(a) + tokenize(b)``
  (:func:`joint_tokenization_differs` shows where).
- SFT (:func:`encode_sft`): the conversation is rendered once with the tokenizer's chat template.
  For every assistant message at index k, the render of ``messages[:k]`` with the generation
  prompt must be a prefix of the full render (otherwise :class:`TemplateNotPrefixPreserving`,
  naming the message and the first differing text); the assistant's tokens run from there to its
  first end-of-turn string (``<|im_end|>``) inclusive. Each piece of text is tokenized on its own,
  as the model meets it at inference time, and the pieces are concatenated. In a dialect whose
  tool output sits inside the assistant message (``dialect="retool-code"``: ``<interpreter>``
  blocks; the chat template then gets no tools), each tool response with the blank space around
  it is a ``tool`` piece of its own (mask 0): the interpreter text never enters the loss.
- :func:`verify_loss_mask` is the cheap in-training check, in the trajectory's dialect
  (:mod:`retool.text.dialect`; qwen3 by default): after the prompt every 0-run must parse, in that
  dialect, as a tool turn (markup and blank space plus at least one tool response, nothing else:
  qwen3 ``<tool_response>`` blocks in chat markup, retool-code ``<interpreter>`` blocks) or as a
  user's own turn of a multi-turn conversation (text inside ``<|im_start|>user``), except
  that the last run may be a cut-off tool turn or trailing markup/padding; no 1-run may hold the
  dialect's tool opening (``<|im_start|>user\n<tool_response>``, ``<interpreter>``); the
  ``<|im_end|>`` closing an assistant turn is trained (in a 1-run) unless that turn ended on
  ``</tool_call>`` (qwen3: a rollout stops there and the tool turn closes it). Model text is otherwise free: a model may sample
  special tokens, and that is not a masking error. It returns the first offending span.
All functions here are pure; the tokenizer is only read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from retool.text.dialect import QWEN3, Dialect, get_dialect
from retool.text.trace import DEFAULT_TOOLS, IM_END, IM_START, ToolSpec

SegmentKind = Literal["prompt", "model", "tool"]
MASK_OF: Mapping[str, int] = {"prompt": 0, "model": 1, "tool": 0}


@dataclass(frozen=True)
class TokenSegment:
    kind: SegmentKind
    ids: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.kind not in MASK_OF:
            raise ValueError(f"segment kind must be one of {sorted(MASK_OF)}, got {self.kind!r}")


def build_ids_and_mask(segments: Sequence[TokenSegment]) -> tuple[list[int], list[int]]:
    ids: list[int] = []
    mask: list[int] = []
    for seg in segments:
        ids.extend(seg.ids)
        mask.extend([MASK_OF[seg.kind]] * len(seg.ids))
    return ids, mask


def _encode(tokenizer: Any, text: str) -> tuple[int, ...]:
    return tuple(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else ()


def joint_tokenization_differs(tokenizer: Any, texts: Sequence[str]) -> bool:
    """True when tokenizing the joined text gives other ids than tokenizing each piece."""
    pieces = [i for t in texts for i in _encode(tokenizer, t)]
    return list(_encode(tokenizer, "".join(texts))) != pieces


# ---------------------------------------------------------------------------------------------
# SFT


class TemplateNotPrefixPreserving(ValueError):
    """The chat template renders an earlier turn differently once later turns exist."""


@dataclass(frozen=True)
class SFTExample:
    ids: tuple[int, ...]
    loss_mask: tuple[int, ...]
    segments: tuple[TokenSegment, ...]
    text: str
    prompt_len: int


def _render(tokenizer: Any, messages: Sequence[Mapping[str, Any]], tools: Sequence[ToolSpec], gen: bool, kwargs: Mapping[str, Any]) -> str:
    return tokenizer.apply_chat_template(
        list(messages), tools=[t.to_json() for t in tools] or None, add_generation_prompt=gen, tokenize=False, **kwargs
    )


def _split_tool_text(text: str, dialect: Dialect, tools: Sequence[ToolSpec], end_of_turn: str,
                     k: int) -> list[tuple[SegmentKind, str]]:
    """An assistant message of a dialect whose tool output sits inside it (retool-code), cut into
    model and tool pieces: each tool response with the blank space around it is a tool piece
    (as at inference: the model stops at the call's closer, the tool text follows, the model
    resumes at its next word). The end of turn that closes ``text`` is always the model's; an
    unclosed tool response (tool output that never ended, in training data) raises naming the
    message ``k``."""
    body = text.removesuffix(end_of_turn)
    trace = dialect.parse(body, tools)
    unclosed = next((e for e in trace.errors if e.startswith(f"unclosed {dialect.tool_opening}")), None)
    if unclosed is not None:
        raise ValueError(f"assistant message {k}: {unclosed}: tool output that never ends cannot be masked")
    pieces: list[tuple[SegmentKind, str]] = []
    cursor = 0
    text = body
    for seg in trace.segments:
        if seg.kind != "tool_response":
            continue
        start, end = seg.start, seg.end
        while start > cursor and text[start - 1].isspace():
            start -= 1
        while end < len(text) and text[end].isspace():
            end += 1
        pieces += [("model", text[cursor:start]), ("tool", text[start:end])]
        cursor = end
    pieces.append(("model", text[cursor:] + end_of_turn))
    return [(kind, piece) for kind, piece in pieces if piece]


def encode_sft(
    tokenizer: Any,
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[ToolSpec] = DEFAULT_TOOLS,
    *,
    end_of_turn: str = IM_END,
    chat_template_kwargs: Mapping[str, Any] | None = None,
    dialect: str | Dialect = QWEN3,
) -> SFTExample:
    """Ids and loss mask for one conversation (see the module docstring)."""
    dialect = get_dialect(dialect)
    tools = tuple(tools) if dialect.chat_tools else ()
    kwargs = dict(chat_template_kwargs or {})
    assistants = [k for k, m in enumerate(messages) if m.get("role") == "assistant"]
    if not assistants:
        raise ValueError("conversation has no assistant message to train on")
    full = _render(tokenizer, messages, tools, False, kwargs)
    pieces: list[tuple[SegmentKind, str]] = []
    cursor = 0
    for n, k in enumerate(assistants):
        prefix = _render(tokenizer, messages[:k], tools, True, kwargs)
        if not full.startswith(prefix):
            at = next((i for i, (a, b) in enumerate(zip(prefix, full)) if a != b), min(len(prefix), len(full)))
            raise TemplateNotPrefixPreserving(
                f"chat template is not prefix-preserving at message {k} (assistant): the render up to it differs "
                f"from the full render at char {at}: {prefix[at:at + 40]!r} vs {full[at:at + 40]!r}"
            )
        if len(prefix) < cursor:
            raise TemplateNotPrefixPreserving(f"assistant message {k} starts at char {len(prefix)}, inside the previous one")
        between = messages[assistants[n - 1] + 1 : k] if n else ()
        kind: SegmentKind = "tool" if between and all(m.get("role") == "tool" for m in between) else "prompt"
        pieces.append((kind, full[cursor : len(prefix)]))
        stop = full.find(end_of_turn, len(prefix))
        if stop < 0:
            raise ValueError(f"assistant message {k} has no end-of-turn {end_of_turn!r} in the rendered conversation")
        cursor = stop + len(end_of_turn)
        if dialect.chat_tools:
            pieces.append(("model", full[len(prefix) : cursor]))
        else:
            pieces += _split_tool_text(full[len(prefix) : cursor], dialect, DEFAULT_TOOLS, end_of_turn, k)
    pieces.append(("prompt", full[cursor:]))
    segments = tuple(TokenSegment(kind, _encode(tokenizer, text)) for kind, text in pieces if text)
    ids, mask = build_ids_and_mask(segments)
    prompt_len = len(segments[0].ids) if segments[0].kind == "prompt" else 0
    return SFTExample(tuple(ids), tuple(mask), segments, full, prompt_len)


# ---------------------------------------------------------------------------------------------
# verification


@dataclass(frozen=True)
class MaskCheck:
    ok: bool
    reason: str = ""
    span: tuple[int, int] | None = None  # token indices [start, end) of the first offending run


def _runs(mask: Sequence[int], start: int) -> list[tuple[int, int, int]]:
    runs: list[tuple[int, int, int]] = []
    i = start
    while i < len(mask):
        j = i
        while j < len(mask) and mask[j] == mask[i]:
            j += 1
        runs.append((mask[i], i, j))
        i = j
    return runs


def _is_tool_turn(text: str, dialect: Dialect, *, last: bool) -> str | None:
    """None if ``text`` is a valid 0-run after the prompt, else the reason."""
    trace = dialect.parse(text, DEFAULT_TOOLS)
    stray, role, user_turn = [], "assistant", False
    for seg in trace.segments:
        if seg.kind == "markup" and seg.text.startswith(IM_START):
            role = seg.text[len(IM_START):].strip() or "assistant"
        elif seg.kind in ("text", "tool_call") and seg.text.strip():
            if role == "user" and seg.kind == "text":
                user_turn = True  # a user's own turn in a multi-turn conversation: prompt text, rightly 0
            else:
                stray.append(seg)
    if last and stray and stray[-1] is trace.segments[-1] and dialect.tool_opening.startswith(stray[-1].text.strip()):
        stray.pop()  # the last run may stop inside a tool turn's opening tag (a plain-text tag is several tokens)
    if stray:
        return f"0-span holds non-tool text {stray[0].text[:60]!r}"
    if trace.tool_calls:
        return "0-span holds a tool call"
    has_response = any(s.kind == "tool_response" for s in trace.segments)
    if last:
        return None
    if not has_response and not user_turn:
        return f"0-span between model turns holds no tool response ({dialect.tool_opening!r} ...) and no user turn"
    return "; ".join(trace.errors) or None


def _untrained_end_of_turn(text: str, before: str | None, dialect: Dialect) -> str | None:
    """The reason when the 0-run ``text`` holds the end of turn of the assistant turn it follows.

    ``before`` is the decoded 1-run just before it (None right after the prompt, which ends on the
    assistant's generation prompt). An ``<|im_end|>`` before any ``<|im_start|>`` in the run closes
    that assistant turn: masked 0, the model never learns to stop. Allowed only where the turn
    was already closed inside the 1-run, or (qwen3) ended on ``</tool_call>`` (the tool turn closes
    it): the dialect's ``untrained_eot_after``.
    """
    end = text.find(IM_END)
    start = text.find(IM_START)
    if end < 0 or 0 <= start < end:
        return None
    if before is not None:
        tail = before.rstrip()
        if tail.endswith(dialect.untrained_eot_after):
            return None
    return (f"the assistant's end of turn {IM_END} is masked 0 (never trained: the model would not learn to stop); "
            f"the 0-span starts {text[:60]!r}")


def verify_loss_mask(ids: Sequence[int], mask: Sequence[int], tokenizer: Any, prompt_len: int,
                     dialect: str | Dialect = QWEN3) -> MaskCheck:
    """Check one trajectory's mask against the rules of the module contract; the first failure wins."""
    dialect = get_dialect(dialect)
    if len(ids) != len(mask):
        return MaskCheck(False, f"len(ids)={len(ids)} != len(mask)={len(mask)}")
    bad = next((i for i, m in enumerate(mask) if m not in (0, 1)), None)
    if bad is not None:
        return MaskCheck(False, f"mask[{bad}]={mask[bad]!r} is not 0 or 1", (bad, bad + 1))
    if not 0 <= prompt_len <= len(ids):
        return MaskCheck(False, f"prompt_len={prompt_len} outside [0, {len(ids)}]")
    ones = [i for i in range(prompt_len) if mask[i]]
    if ones:
        return MaskCheck(False, f"prompt token {ones[0]} has mask 1", (ones[0], ones[0] + 1))
    runs = _runs(mask, prompt_len)
    before: str | None = None  # the decoded 1-run before the current 0-run
    for n, (value, start, end) in enumerate(runs):
        text = tokenizer.decode(list(ids[start:end]), skip_special_tokens=False)
        if value == 1:
            if dialect.tool_opening in text:
                at = text.index(dialect.tool_opening)
                return MaskCheck(False, f"1-span holds a tool turn: {text[at:at + 80]!r}", (start, end))
            before = text
        else:
            reason = _is_tool_turn(text, dialect, last=n == len(runs) - 1) or _untrained_end_of_turn(text, before, dialect)
            if reason:
                return MaskCheck(False, reason, (start, end))
    return MaskCheck(True)
