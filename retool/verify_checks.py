"""The checks behind ``retool verify``, one function per part, each returning a CheckResult.

Each check exercises the real part on the embedded default (or the user's part named in the
config) and includes a self-test where it matters: the check must also catch a known-bad input
(a leaked mask, a wrong rotary base, an always-true checker), so a check that cannot fail is
itself a failure.
"""

from __future__ import annotations

import asyncio
from typing import Any

from retool.verify import CheckResult, CheckSpec, VerifyConfig

HAZARDOUS_CODES = (
    'print("</tool_call>")',
    "d = {'a': {'b': [1, {2: 3}]}}\nprint(d)",
    'print("\\\\boxed{99}")',
    "```python\nprint(1)\n```",
    "print('数学 \u2212 🙂')",
)


def _model_and_tokenizer(config: VerifyConfig):
    from retool.models import load_model, tiny_model

    return load_model(config.model_dir) if config.model_dir else tiny_model()


def _tokenizer(config: VerifyConfig):
    from retool.tokenizer import load_tokenizer

    return load_tokenizer(config.model_dir or "tiny")


def check_grammar(config: VerifyConfig) -> CheckResult:
    from retool.grammar import DEFAULT_TOOLS, format_tool_call, parse_trace, render_tools_system_prompt, strip_code_fences, tool_turn_text
    from retool.tokenizer import load_qwen3_tokenizer

    problems: list[str] = []
    for code in HAZARDOUS_CODES:
        text = "x\n" + format_tool_call("code_interpreter", {"code": code}) + tool_turn_text(["ok"]) + "\\boxed{1}"
        trace = parse_trace(text)
        if [c.code for c in trace.tool_calls] != [strip_code_fences(code)] or not trace.has_valid_format:
            problems.append(f"round trip failed for code {code!r}")
    tokenizers = {"qwen3": load_qwen3_tokenizer(), "model": _tokenizer(config)}
    user = [{"role": "user", "content": "q"}]
    call = {"type": "function", "function": {"name": "code_interpreter", "arguments": {"code": "print(1)"}}}
    for label, tok in tokenizers.items():
        prompt = tok.apply_chat_template(user, tools=[t.to_json() for t in DEFAULT_TOOLS], add_generation_prompt=True, tokenize=False)
        if render_tools_system_prompt(DEFAULT_TOOLS) not in prompt:
            problems.append(f"{label} tokenizer: the chat template does not put the tools block in the prompt")
        convo = user + [{"role": "assistant", "content": "", "tool_calls": [call]}, {"role": "tool", "content": "1"}]
        rendered = tok.apply_chat_template(convo, tokenize=False, add_generation_prompt=True)
        expected = format_tool_call("code_interpreter", {"code": "print(1)"}) + tool_turn_text(["1"])
        if expected not in rendered:
            problems.append(f"{label} tokenizer: the template renders tool calls/responses differently from the grammar")
        for tag in ("<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"):
            if len(tok(tag, add_special_tokens=False)["input_ids"]) != 1:
                problems.append(f"{label} tokenizer: {tag} is not a single token")
    return CheckResult(
        name="grammar",
        ok=not problems,
        figure=f"{len(HAZARDOUS_CODES)} hazardous calls, {len(tokenizers)} templates",
        detail="; ".join(problems),
        advice="" if not problems else "align the chat template with retool.grammar (Qwen3 tool-calling format)",
    )


def check_masks(config: VerifyConfig) -> CheckResult:
    from retool.data import read_jsonl, sample_path, sft_record
    from retool.masking import encode_sft, verify_loss_mask

    tok = _tokenizer(config)
    rows = read_jsonl(sample_path("retool_sft_sample.jsonl"))
    problems: list[str] = []
    tokens = masked_tool = 0
    for n, row in enumerate(rows):
        ex = encode_sft(tok, sft_record(row)["messages"])
        check = verify_loss_mask(ex.ids, ex.loss_mask, tok, ex.prompt_len)
        if not check.ok:
            problems.append(f"sample {n}: {check.reason} at tokens {check.span}")
        tokens += len(ex.ids)
        masked_tool += sum(len(s.ids) for s in ex.segments if s.kind == "tool")
        leaked = [1 if i >= ex.prompt_len else 0 for i in range(len(ex.ids))]
        if masked_tool and verify_loss_mask(ex.ids, leaked, tok, ex.prompt_len).ok and any(s.kind == "tool" for s in ex.segments):
            problems.append(f"sample {n}: self-test failed, a mask with tool output in the loss passed verification")
    return CheckResult(
        name="masks",
        ok=not problems and bool(rows),
        figure=f"{len(rows)} conversations, {tokens} tokens, {masked_tool} tool tokens masked",
        detail="; ".join(problems[:3]),
        advice="" if not problems else "tool output would leak into the loss: check the chat template and the data conversion",
    )


def check_sandbox_battery(config: VerifyConfig) -> CheckResult:
    from retool.audit import TECHNIQUES, audit, load_factory

    factory = load_factory(config.sandbox_factory) if config.sandbox_factory else _default_sandbox_factory()
    sandbox = factory()
    try:
        report = asyncio.run(audit(sandbox))
    finally:
        _close(sandbox)
    escaped = [r.name for r in report.results if r.verdict != "blocked"]
    return CheckResult(
        name="sandbox-battery",
        ok=not escaped,
        figure=f"{len(report.results) - len(escaped)}/{len(TECHNIQUES)} techniques blocked",
        detail="" if not escaped else "escaped or failed: " + ", ".join(escaped[:8]),
        advice="" if not escaped else "the sandbox lets code out: use retool.sandbox.PythonSandbox with every layer on",
        data={"escaped": escaped},
    )


def _default_sandbox_factory():
    from retool.sandbox import PythonSandbox

    return lambda: PythonSandbox(timeout=3, memory_limit="256MB")


def _close(sandbox: Any) -> None:
    close = getattr(sandbox, "close", None)
    if close is None:
        return
    result = close()
    if asyncio.iscoroutine(result):
        asyncio.run(result)


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec("grammar", "tool-call grammar and chat template", check_grammar),
    CheckSpec("masks", "loss masks on real tokenizations", check_masks),
    CheckSpec("sandbox-battery", "sandbox escape and limits battery", check_sandbox_battery),
)
