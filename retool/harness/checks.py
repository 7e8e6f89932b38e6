"""The checks behind ``retool verify``, one function per part, each returning a CheckResult.

Each check exercises the real part on the embedded default (or the user's part named in the
config) and includes a self-test where it matters: the check must also catch a known-bad input
(a leaked mask, a wrong rotary base, an always-true checker), so a check that cannot fail is
itself a failure.
"""

from __future__ import annotations

import asyncio
from typing import Any

from retool.harness.verify import CheckResult, CheckSpec, VerifyConfig

HAZARDOUS_CODES = (
    'print("</tool_call>")',
    "d = {'a': {'b': [1, {2: 3}]}}\nprint(d)",
    'print("\\\\boxed{99}")',
    "```python\nprint(1)\n```",
    "print('数学 \u2212 🙂')",
)


def _model_and_tokenizer(config: VerifyConfig):
    from retool.embedded.models import load_model, tiny_model

    return load_model(config.model_dir) if config.model_dir else tiny_model()


def _tokenizer(config: VerifyConfig):
    from retool.embedded.tokenizer import load_tokenizer

    return load_tokenizer(config.model_dir or "tiny")


def check_grammar(config: VerifyConfig) -> CheckResult:
    from retool.text.grammar import DEFAULT_TOOLS, format_tool_call, parse_trace, render_tools_system_prompt, strip_code_fences, tool_turn_text
    from retool.embedded.tokenizer import load_qwen3_tokenizer

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
        advice="" if not problems else "align the chat template with retool.text.grammar (Qwen3 tool-calling format)",
    )


def check_masks(config: VerifyConfig) -> CheckResult:
    from retool.data import read_jsonl, sample_path, sft_record
    from retool.text.masking import encode_sft, verify_loss_mask

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
    from retool import load_callable
    from retool.sandbox.audit import TECHNIQUES, audit

    factory = (load_callable(config.sandbox_factory, what="--sandbox", example="pkg.module:Factory")
               if config.sandbox_factory else _default_sandbox_factory())
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


def check_answers(config: VerifyConfig) -> CheckResult:
    from retool.answer.validate import evaluate, load_checker, load_corpus

    cases = load_corpus()
    checker = load_checker(config.checker or "retool")
    report = evaluate(cases, checker, name=config.checker or "retool")
    ok = report.precision >= config.min_precision and report.recall >= config.min_recall
    # Self-test: an always-true checker must fail the same thresholds on this corpus.
    always = evaluate(cases, _always_true, name="always-true", isolate=False)
    self_test = always.precision < config.min_precision
    worst = ", ".join(d.case_id for d in report.disagreements[:5])
    return CheckResult(
        name="answers",
        ok=ok and self_test,
        figure=f"precision {report.precision:.3f}, recall {report.recall:.3f} on {report.cases} cases",
        detail=("" if ok else f"{len(report.disagreements)} disagreements, e.g. {worst}")
        + ("" if self_test else "; self-test failed: an always-true checker passes this corpus"),
        advice="" if ok else "run `retool answers validate --checker ...` to see every disagreement",
        data={"precision": report.precision, "recall": report.recall, "disagreements": len(report.disagreements)},
    )


def _always_true(response: str, gold: str) -> bool:
    return True


def check_conversion(config: VerifyConfig) -> CheckResult:
    import importlib.util
    import tempfile

    if importlib.util.find_spec("megatron") is None:
        return CheckResult(name="conversion", ok=False, figure="megatron-core not installed",
                           advice="pip install 'retool-harness[megatron]' (megatron-core 0.16.1) to run the conversion check")

    from retool.checkpoint import check, convert
    from retool.embedded.models import tiny_model_dir

    hf_dir = config.model_dir or str(tiny_model_dir())
    with tempfile.TemporaryDirectory(prefix="retool-verify-") as tmp:
        if config.megatron_dir:
            report = check(hf_dir, config.megatron_dir)
            caught = True
        else:
            convert(hf_dir, f"{tmp}/right")
            report = check(hf_dir, f"{tmp}/right")
            # Self-test: a conversion with Qwen3's default base instead of the config's must be caught.
            convert(hf_dir, f"{tmp}/wrong", rotary_base=1_000_000 if report.expected.rotary_base != 1_000_000 else 10_000, force=True)
            wrong = check(hf_dir, f"{tmp}/wrong")
            caught = not wrong.ok and any("rotary" in line for line in wrong.failures)
    diff = report.logits.max_abs_diff if report.logits is not None and report.logits.max_abs_diff is not None else float("nan")
    return CheckResult(
        name="conversion",
        ok=report.ok and caught,
        figure=f"rotary base {report.stored.rotary_base:g}, max |logit diff| {diff:.2e}",
        detail="; ".join(report.failures) + ("" if caught else "; self-test failed: a wrong rotary base was not caught"),
        advice="" if report.ok else "reconvert with --rotary-base matching the HF config (rope_theta)",
        data=report.to_dict(),
    )


def check_pipeline(config: VerifyConfig) -> CheckResult:
    """Tiny SFT -> rollout (real sandbox) -> reward -> one GRPO step, with every invariant on."""
    return asyncio.run(_pipeline(config))


async def _pipeline(config: VerifyConfig) -> CheckResult:
    from retool.recipes.pipeline import run_pipeline

    model, tok = _model_and_tokenizer(config)
    out = await run_pipeline(model, tok, seed=config.seed)
    (good, free), (d_good, d_free) = out.rewards, out.logprob_deltas
    return CheckResult(
        name="pipeline",
        ok=out.ok,
        figure=(f"SFT loss {out.sft_first_loss:.2f}->{out.sft_last_loss:.2f}; rewards {good:.2f}/{free:.2f}; "
                f"GRPO dlogp {d_good:+.2f}/{d_free:+.2f}; rollout-vs-trainer logprob drift {out.rollout_logprob_drift:.1e}"),
        detail="; ".join(out.problems),
        advice="" if out.ok else "run the failing stage's tests (tests/unit/train/, tests/unit/rollout/)",
    )


def check_throughput(config: VerifyConfig) -> CheckResult:
    return asyncio.run(_throughput(config))


async def _throughput(config: VerifyConfig) -> CheckResult:
    from retool.sandbox import PythonSandbox
    from retool.sandbox.bench import SpawnPerCallRunner, measure_throughput, warm_up

    concurrency, n = 32, config.bench_executions
    async with PythonSandbox(timeout=30, concurrency=concurrency) as ours:
        await warm_up(ours, concurrency)
        fast = await measure_throughput(ours, "print(2 + 2)", concurrency, n, expect="4")
    slow = await measure_throughput(SpawnPerCallRunner(timeout_s=30), "print(2 + 2)", concurrency, max(n // 4, 8), expect="4")
    ratio = fast.exec_per_s / slow.exec_per_s
    ok = ratio >= 5 and fast.failures == 0
    return CheckResult(
        name="sandbox-throughput",
        ok=ok,
        figure=(f"{fast.exec_per_s:.0f} exec/s vs {slow.exec_per_s:.0f} spawn-per-call = {ratio:.1f}x at concurrency "
                f"{concurrency}; p99 {fast.p99_s * 1e3:.0f} ms; {fast.cpu_ms_per_exec:.1f} vs {slow.cpu_ms_per_exec:.1f} CPU-ms"),
        detail="" if ok else f"ratio {ratio:.1f}x below 5x or {fast.failures} wrong outputs",
        advice="" if ok else "run `retool bench sandbox` on an idle machine; check `retool sandbox info`",
        data={"ratio": ratio, "ours_exec_per_s": fast.exec_per_s, "spawn_exec_per_s": slow.exec_per_s},
    )


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec("grammar", "tool-call grammar and chat template", check_grammar),
    CheckSpec("masks", "loss masks on real tokenizations", check_masks),
    CheckSpec("sandbox-battery", "sandbox escape and limits battery", check_sandbox_battery),
    CheckSpec("answers", "answer checker on the labelled corpus", check_answers),
    CheckSpec("pipeline", "tiny SFT -> rollout -> reward -> GRPO step", check_pipeline),
    CheckSpec("conversion", "HF -> Megatron conversion and rotary-base check", check_conversion),
    CheckSpec("sandbox-throughput", "sandbox executions/s against spawn-per-call", check_throughput),
)
