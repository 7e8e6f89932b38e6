"""The text checks: the tool-call grammar against the chat templates, and loss masks on real tokenizations.

Contract:
- :func:`check_grammar`: every hazardous code (``codes``, default :data:`HAZARDOUS_CODES`, or
  :data:`NATIVE_HAZARDOUS_CODES` in retool-code) round-trips through the dialect's renderer and
  parser (qwen3 ``format_tool_call``/``parse_trace``; retool-code
  ``format_code_block``/``interpreter_text``/``parse_native``), a box in the tool output never
  being the answer; for the Qwen3 tokenizer and the model's (``config.model_dir``, else the
  embedded tiny one) the chat template: in qwen3 it puts the tools block in the prompt, renders a
  tool call and its response exactly as the grammar does, and each tool tag is one token, alone
  and inside the rendered conversation; in retool-code it renders the dialect's system prompt
  without a tools block and a native assistant message verbatim (the tags are plain text there,
  so their text must survive tokenize + decode). Zero codes is a failure.
- :func:`check_masks`: every conversation (``rows``, default the shipped ReTool-SFT sample),
  converted into ``config.dialect``, is encoded by ``encoder`` (default
  :func:`retool.text.masking.encode_sft` in that dialect, the part under test) and its mask must
  pass :func:`retool.text.masking.verify_loss_mask` in that dialect. Self-test on our own encoding of
  each conversation with a tool turn: the same mask with the tool tokens in the loss, and with the
  assistant's ends of turn masked 0, must both be rejected. No conversation, or none with a tool
  turn, is a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from retool.harness.verify import CheckResult, VerifyConfig

__all__ = ["HAZARDOUS_CODES", "NATIVE_HAZARDOUS_CODES", "check_grammar", "check_masks"]

HAZARDOUS_CODES: tuple[str, ...] = (
    'print("</tool_call>")',
    "d = {'a': {'b': [1, {2: 3}]}}\nprint(d)",
    'print("\\\\boxed{99}")',
    "```python\nprint(1)\n```",
    "print('数学 \u2212 🙂')",
)
# retool-code: a code block runs to the first </code>, so the hazards are the other tags and boxes
NATIVE_HAZARDOUS_CODES: tuple[str, ...] = (
    'print("</interpreter>")',
    'print("<tool_call>")',
    "d = {'a': {'b': [1, {2: 3}]}}\nprint(d)",
    'print("\\boxed{99}")',
    "print('数学 \u2212 🙂')",
)
TOOL_TAGS = ("<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>")
NATIVE_TAGS = ("<code>", "</code>", "<interpreter>", "</interpreter>")


def _tokenizer(config: VerifyConfig) -> Any:
    from retool.embedded.tokenizer import load_tokenizer

    return load_tokenizer(config.model_dir or "tiny")


def _round_trip(code: str, dialect: str) -> str:
    """One call of ``code`` and its output in ``dialect``, then a box after the output."""
    from retool.text.grammar import format_tool_call, tool_turn_text
    from retool.text.native import format_code_block, interpreter_text

    if dialect == "retool-code":
        return "x\n\n" + format_code_block(code) + interpreter_text(["ok \\boxed{2}"]) + "\\boxed{1}"
    return "x\n" + format_tool_call("code_interpreter", {"code": code}) + tool_turn_text(["ok \\boxed{2}"]) + "\\boxed{1}"


def check_grammar(config: VerifyConfig, *, codes: Sequence[str] | None = None) -> CheckResult:
    """See the module contract; ``codes`` are the tool calls to round-trip (default: the dialect's hazards)."""
    from retool.embedded.tokenizer import load_qwen3_tokenizer
    from retool.text.dialect import get_dialect
    from retool.text.grammar import strip_code_fences

    dialect = get_dialect(config.dialect)
    if codes is None:
        codes = NATIVE_HAZARDOUS_CODES if dialect.name == "retool-code" else HAZARDOUS_CODES
    problems: list[str] = [] if codes else ["no hazardous tool calls to round-trip (zero cases would pass any grammar)"]
    for code in codes:
        trace = dialect.parse(_round_trip(code, dialect.name), _default_tools())
        if ([c.code for c in trace.tool_calls] != [strip_code_fences(code)] or not trace.has_valid_format
                or trace.final_answer != "1"):
            problems.append(f"round trip failed for code {code!r} in {dialect.name}")
    tokenizers = {"qwen3": load_qwen3_tokenizer(), "model": _tokenizer(config)}
    for label, tok in tokenizers.items():
        found = _template_problems(tok) if dialect.chat_tools else _native_template_problems(tok)
        problems += [f"{label} tokenizer: {p}" for p in found]
    return CheckResult(
        name="grammar",
        ok=not problems,
        figure=f"{len(codes)} hazardous calls, {len(tokenizers)} templates ({dialect.name})",
        detail="; ".join(problems),
        advice="" if not problems else f"align the chat template with the {dialect.name} dialect (retool.text.dialect)",
    )


def _default_tools() -> Any:
    from retool.text.trace import DEFAULT_TOOLS

    return DEFAULT_TOOLS


def _native_template_problems(tok: Any) -> list[str]:
    """retool-code: the system prompt without a tools block, a native message rendered verbatim, tags as text."""
    from retool.text.dialect import RETOOL_CODE
    from retool.text.native import format_code_block, interpreter_text

    problems = []
    user = RETOOL_CODE.prompt_messages([{"role": "user", "content": "q"}])
    prompt = tok.apply_chat_template(user, add_generation_prompt=True, tokenize=False)
    if RETOOL_CODE.system_prompt not in prompt or "<tools>" in prompt:
        problems.append("the chat template does not put the native instructions (alone, without a tools block) in the prompt")
    message = "Check.\n\n" + format_code_block("print(1)") + interpreter_text(["1"]) + "So \\boxed{1}."
    rendered = tok.apply_chat_template([*user, {"role": "assistant", "content": message}], tokenize=False)
    if not rendered.startswith(prompt) or message not in rendered:
        problems.append("the template does not render a native assistant message verbatim after the generation prompt")
    for tag in NATIVE_TAGS:
        if tok.decode(tok(tag, add_special_tokens=False)["input_ids"], skip_special_tokens=False) != tag:
            problems.append(f"{tag} does not survive tokenize + decode")
    return problems


def _template_problems(tok: Any) -> list[str]:
    from retool.text.grammar import DEFAULT_TOOLS, format_tool_call, render_tools_system_prompt, tool_turn_text

    problems = []
    user = [{"role": "user", "content": "q"}]
    call = {"type": "function", "function": {"name": "code_interpreter", "arguments": {"code": "print(1)"}}}
    prompt = tok.apply_chat_template(user, tools=[t.to_json() for t in DEFAULT_TOOLS], add_generation_prompt=True, tokenize=False)
    if render_tools_system_prompt(DEFAULT_TOOLS) not in prompt:
        problems.append("the chat template does not put the tools block in the prompt")
    convo = user + [{"role": "assistant", "content": "", "tool_calls": [call]}, {"role": "tool", "content": "1"}]
    rendered = tok.apply_chat_template(convo, tokenize=False, add_generation_prompt=True)
    expected = format_tool_call("code_interpreter", {"code": "print(1)"}) + tool_turn_text(["1"])
    if expected not in rendered:
        problems.append("the template renders tool calls/responses differently from the grammar")
    in_context = list(tok(rendered, add_special_tokens=False)["input_ids"])
    for tag in TOOL_TAGS:
        alone = tok(tag, add_special_tokens=False)["input_ids"]
        if len(alone) != 1:
            problems.append(f"{tag} is not a single token (it tokenizes to {len(alone)}: {list(alone)[:8]})")
        elif in_context.count(alone[0]) != rendered.count(tag):
            problems.append(f"{tag} is split inside the rendered conversation: {rendered.count(tag)} in the text, "
                            f"{in_context.count(alone[0])} as token {alone[0]}")
    return problems


Encoder = Callable[[Any, Sequence[Mapping[str, Any]]], Any]


def check_masks(config: VerifyConfig, *, rows: Sequence[Mapping[str, Any]] | None = None,
                encoder: Encoder | None = None) -> CheckResult:
    """See the module contract.

    ``rows``: ReTool-SFT rows (default: the shipped sample). ``encoder``: ``(tokenizer, messages)
    -> object with ids, loss_mask, prompt_len``, the conversion under test (default: ours).
    """
    from retool.data import read_jsonl, sample_path, sft_record
    from retool.text.masking import encode_sft, verify_loss_mask

    dialect = config.dialect
    tok = _tokenizer(config)
    rows = read_jsonl(sample_path("retool_sft_sample.jsonl")) if rows is None else list(rows)
    problems: list[str] = []
    tokens = tool_tokens = with_tools = 0
    for n, row in enumerate(rows):
        try:
            messages = sft_record(row, dialect)["messages"]
            ours = encode_sft(tok, messages, dialect=dialect)
            ex = ours if encoder is None else encoder(tok, messages)
        except ValueError as exc:
            problems.append(f"sample {n}: cannot encode: {exc}")
            continue
        check = verify_loss_mask(ex.ids, ex.loss_mask, tok, ex.prompt_len, dialect)
        if not check.ok:
            problems.append(f"sample {n}: {check.reason} at tokens {check.span}")
        tokens += len(ex.ids)
        in_tools = sum(len(s.ids) for s in ours.segments if s.kind == "tool")
        tool_tokens += in_tools
        with_tools += bool(in_tools)
        for what, mask in _broken_masks(ours) if in_tools else ():
            if verify_loss_mask(ours.ids, mask, tok, ours.prompt_len, dialect).ok:
                problems.append(f"sample {n}: self-test failed: a mask with {what} passed verification")
    if not rows:
        problems.insert(0, "no conversations to check (zero cases would pass any mask)")
    elif not with_tools:
        problems.insert(0, f"none of the {len(rows)} conversations has a tool turn: the masking of tool output is never exercised")
    return CheckResult(
        name="masks",
        ok=not problems,
        figure=(f"{len(rows)} conversations ({with_tools} with tool turns), {tokens} tokens, {tool_tokens} tool tokens masked"
                f" ({dialect})"),
        detail="; ".join(problems[:3]) + (f"; ... {len(problems) - 3} more" if len(problems) > 3 else ""),
        advice="" if not problems else "fix the loss mask: check the chat template and the data conversion (retool.text.masking)",
        data={"problems": problems},
    )


def _broken_masks(ex: Any) -> list[tuple[str, list[int]]]:
    """Our mask of ``ex`` with the tool tokens in the loss, and with every model segment's last token (its end of turn) at 0."""
    leaked, untrained = list(ex.loss_mask), list(ex.loss_mask)
    pos = 0
    for seg in ex.segments:
        if seg.kind == "tool":
            leaked[pos : pos + len(seg.ids)] = [1] * len(seg.ids)
        pos += len(seg.ids)
        if seg.kind == "model" and seg.ids:
            untrained[pos - 1] = 0
    return [("the tool tokens in the loss", leaked), ("the assistant's ends of turn masked 0", untrained)]
