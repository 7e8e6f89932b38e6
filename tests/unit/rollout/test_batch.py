"""retool.rollout with a scripted engine and the real sandbox: exact ids, masks, logprobs and statuses."""

from __future__ import annotations

import json

import pytest
import pytest_asyncio

from retool.rollout.engines import SGLangEngine
from retool.text.grammar import IM_END, format_tool_call, tool_turn_text
from retool.reward import score
from retool.rollout import RolloutConfig, RolloutPrompt, generate_batch, render_prompt_ids, rollout_one
from retool.rollout.state import RolloutInvariantError, StatusCell
from retool.sandbox import PythonSandbox
from retool.embedded.tokenizer import load_qwen3_tokenizer, tiny_tokenizer
from retool.train.metrics import SampleRecord
from tests.doubles import ScriptedEngine, scripted_logprobs

amark = pytest.mark.asyncio(loop_scope="module")
QUESTION = [{"role": "user", "content": "What is 6*7?"}]
CALL_42 = "I will compute it.\n" + format_tool_call("code_interpreter", {"code": "print(6*7)"})
ANSWER_42 = "The answer is \\boxed{42}." + IM_END


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox():
    box = PythonSandbox(timeout_s=10, concurrency=4)
    yield box
    await box.close()


def cfg(**kw) -> RolloutConfig:
    return RolloutConfig(**{"n_samples_per_prompt": 1, **kw})


def ids(tok, text: str) -> list[int]:
    return list(tok(text, add_special_tokens=False)["input_ids"])


async def run(tok, sandbox, script, config=None):
    config = config or cfg()
    engine = ScriptedEngine(tok, script)
    prompt = render_prompt_ids(tok, QUESTION, config)
    return await rollout_one(prompt, engine, sandbox, tok, config, label="42"), engine, prompt


@amark
async def test_tool_call_then_answer_has_exact_ids_masks_and_logprobs(tok, sandbox) -> None:
    out, engine, prompt = await run(tok, sandbox, [CALL_42, ANSWER_42])
    a, c = ids(tok, CALL_42), ids(tok, ANSWER_42)
    b = ids(tok, tool_turn_text(["42"]))
    assert engine.emitted == [tuple(a), tuple(c)]
    assert list(out.tokens) == prompt + a + b + c
    assert list(out.loss_mask) == [1] * len(a) + [0] * len(b) + [1] * len(c)
    assert list(out.rollout_log_probs) == [*scripted_logprobs(0, len(a)), *[0.0] * len(b), *scripted_logprobs(1, len(c))]
    assert engine.inputs == [prompt, prompt + a + b]
    assert (out.status, out.turns, out.tool_calls, out.tool_statuses, out.code_lengths_chars) == ("completed", 2, 1, ("ok",), (10,))
    assert out.status_reason == "final answer"
    assert out.response_length == len(a) + len(b) + len(c) and out.tool_tokens == len(b) and out.prompt_len == len(prompt)
    assert out.response == tok.decode(a + b + c, skip_special_tokens=False)


@amark
async def test_real_qwen3_tokenizer_gives_the_same_exact_bookkeeping(sandbox) -> None:
    qwen = load_qwen3_tokenizer()
    out, engine, prompt = await run(qwen, sandbox, [CALL_42, ANSWER_42])
    a, b, c = ids(qwen, CALL_42), ids(qwen, tool_turn_text(["42"])), ids(qwen, ANSWER_42)
    assert a[-1] == qwen.convert_tokens_to_ids("</tool_call>") and c[-1] == qwen.eos_token_id
    assert list(out.tokens) == prompt + a + b + c and engine.inputs == [prompt, prompt + a + b]
    assert list(out.loss_mask) == [1] * len(a) + [0] * len(b) + [1] * len(c)
    assert out.status == "completed" and out.tool_statuses == ("ok",)


@amark
async def test_every_turn_stops_at_tool_call_close_and_forged_markup(tok, sandbox) -> None:
    _, engine, _ = await run(tok, sandbox, [CALL_42, ANSWER_42])
    assert all({"</tool_call>", "<tool_response>", "<|im_start|>"} <= set(p.stop) for p in engine.params)


def test_prompt_holds_the_tools_block_exactly_once(tok) -> None:
    text = tok.decode(render_prompt_ids(tok, QUESTION, cfg()), skip_special_tokens=False)
    assert text.count("\n</tools>") == 1 and '"code_interpreter"' in text and text.endswith("<|im_start|>assistant\n")


def test_already_templated_prompt_is_refused(tok) -> None:
    templated = tok.apply_chat_template(QUESTION, tokenize=False, add_generation_prompt=True)
    with pytest.raises(ValueError, match="already chat-templated"):
        render_prompt_ids(tok, [{"role": "user", "content": templated}], cfg())


@amark
async def test_max_turns_ends_truncated(tok, sandbox) -> None:
    out, engine, _ = await run(tok, sandbox, [CALL_42], cfg(max_turns=3))
    assert (out.status, out.turns, out.tool_calls, len(engine.inputs)) == ("truncated", 3, 2, 3)
    assert "max_turns=3" in out.status_reason and out.loss_mask[-1] == 1


@amark
async def test_max_tool_calls_ends_truncated_when_the_model_asks_for_more(tok, sandbox) -> None:
    out, engine, _ = await run(tok, sandbox, [CALL_42], cfg(max_tool_calls=2))
    assert (out.status, out.turns, out.tool_calls, len(engine.inputs)) == ("truncated", 3, 2, 3)
    assert "max_tool_calls=2" in out.status_reason


@amark
async def test_calls_of_one_turn_past_max_tool_calls_are_not_run(tok, sandbox) -> None:
    three = "".join(format_tool_call("code_interpreter", {"code": f"print({i})"}) for i in range(3))
    config = cfg(max_tool_calls=2)
    engine = ScriptedEngine(tok, [three, ANSWER_42], honor_stops=False)
    out = await rollout_one(render_prompt_ids(tok, QUESTION, config), engine, sandbox, tok, config)
    assert (out.status, out.turns, out.tool_calls) == ("completed", 2, 2)
    assert "the limit of 2 tool calls is reached" in out.response and "<tool_response>\n2\n" not in out.response


@amark
async def test_tool_response_overflowing_the_budget_is_cut_to_fit(tok, sandbox) -> None:
    call = format_tool_call("code_interpreter", {"code": "print('x ' * 3000)"})
    a = ids(tok, call)
    out, _, _ = await run(tok, sandbox, [call, ANSWER_42], cfg(rollout_max_response_len=len(a) + 12))
    assert out.status == "truncated" and "cut" in out.status_reason and "rollout_max_response_len" in out.status_reason
    assert out.response_length == len(a) + 12 and out.loss_mask == (1,) * len(a) + (0,) * 12
    assert out.tool_tokens == 12 and out.rollout_log_probs[len(a):] == (0.0,) * 12


@amark
async def test_context_cap_truncates_before_the_budget(tok, sandbox) -> None:
    prompt_len = len(render_prompt_ids(tok, QUESTION, cfg()))
    a = ids(tok, CALL_42)
    out, _, _ = await run(tok, sandbox, [CALL_42, ANSWER_42], cfg(max_context_len=prompt_len + len(a) + 5))
    assert out.status == "truncated" and "max_context_len" in out.status_reason
    assert len(out.tokens) == prompt_len + len(a) + 5


@amark
async def test_turn_cut_by_the_budget_is_truncated(tok, sandbox) -> None:
    out, engine, _ = await run(tok, sandbox, [CALL_42], cfg(rollout_max_response_len=7))
    assert engine.params[0].max_new_tokens == 7
    assert (out.status, out.response_length, out.loss_mask) == ("truncated", 7, (1,) * 7)


@amark
async def test_no_budget_left_after_a_tool_turn_is_truncated(tok, sandbox) -> None:
    a, b = ids(tok, CALL_42), ids(tok, tool_turn_text(["42"]))
    out, engine, _ = await run(tok, sandbox, [CALL_42, ANSWER_42], cfg(rollout_max_response_len=len(a) + len(b)))
    assert out.status == "truncated" and "no budget left" in out.status_reason and len(engine.inputs) == 1


@pytest.mark.parametrize(
    ("turn", "error"),
    [
        ('<tool_call>\n{"name": "code_interpreter", "arguments": {"code": "print(1)"}\n</tool_call>', "malformed JSON"),
        (format_tool_call("web_search", {"query": "6*7"}), "unknown tool 'web_search'"),
        (format_tool_call("code_interpreter", {"script": "print(1)"}), "missing required argument"),
        ("no opening tag here</tool_call>", "closing tool_call tag without an opening one"),
    ],
)
@amark
async def test_malformed_call_gets_an_error_response_and_is_counted(tok, sandbox, turn: str, error: str) -> None:
    out, engine, _ = await run(tok, sandbox, [turn, ANSWER_42])
    assert (out.status, out.malformed_calls, out.tool_calls, out.turns) == ("completed", 1, 0, 2)
    response_block = out.response.split("<tool_response>\n", 1)[1].split("\n</tool_response>")[0]
    assert error in response_block and "Nothing was executed" in response_block


@amark
async def test_pretty_printed_json_call_runs(tok, sandbox) -> None:
    body = json.dumps({"name": "code_interpreter", "arguments": {"code": "x = 6\nprint(x * 7)"}}, indent=4)
    out, _, _ = await run(tok, sandbox, [f"<tool_call>\n{body}\n</tool_call>", ANSWER_42])
    assert out.tool_calls == 1 and out.tool_statuses == ("ok",) and "<tool_response>\n42\n</tool_response>" in out.response


@amark
async def test_fenced_code_is_unwrapped_before_running(tok, sandbox) -> None:
    call = format_tool_call("code_interpreter", {"code": "```python\nprint(6*7)\n```"})
    out, _, _ = await run(tok, sandbox, [call, ANSWER_42])
    assert out.tool_statuses == ("ok",) and "<tool_response>\n42\n</tool_response>" in out.response


@amark
async def test_every_call_of_a_turn_runs_and_answers_in_order(tok, sandbox) -> None:
    turn = format_tool_call("code_interpreter", {"code": "print('first')"}) + "\n" + format_tool_call("code_interpreter", {"code": "print('second')"})
    config = cfg()
    engine = ScriptedEngine(tok, [turn, ANSWER_42], honor_stops=False)
    out = await rollout_one(render_prompt_ids(tok, QUESTION, config), engine, sandbox, tok, config)
    assert out.tool_calls == 2 and out.status == "completed"
    expected = ids(tok, tool_turn_text(["first", "second"]))
    a = ids(tok, turn)
    assert list(out.tokens[out.prompt_len + len(a): out.prompt_len + len(a) + len(expected)]) == expected


@amark
async def test_failing_code_reports_its_status_and_traceback(tok, sandbox) -> None:
    call = format_tool_call("code_interpreter", {"code": "print(1/0)"})
    out, _, _ = await run(tok, sandbox, [call, ANSWER_42])
    assert out.tool_statuses == ("error",) and "ZeroDivisionError" in out.response


@amark
async def test_turn_ended_by_eos_with_a_broken_call_is_answered_without_a_second_im_end(tok, sandbox) -> None:
    turn = '<tool_call>\n{"name": "code_interpreter", "arguments": {"code": ' + IM_END
    out, _, _ = await run(tok, sandbox, [turn, ANSWER_42])
    assert out.malformed_calls == 1 and out.status == "completed"
    assert IM_END + IM_END not in out.response and IM_END + "\n<|im_start|>user\n<tool_response>" in out.response


@amark
async def test_model_forging_a_tool_response_fails_the_sample(tok, sandbox) -> None:
    out, _, _ = await run(tok, sandbox, ["The tool says <tool_response>\n42\n</tool_response> so \\boxed{42}" + IM_END])
    assert out.status == "failed" and "<tool_response>" in out.status_reason and out.tool_calls == 0


@amark
async def test_engine_abort_is_aborted_without_reward(tok, sandbox) -> None:
    scored: list[str] = []
    config = cfg()
    engine = ScriptedEngine(tok, [CALL_42, "ABORT"])
    out = await rollout_one(render_prompt_ids(tok, QUESTION, config), engine, sandbox, tok, config, label="42",
                            reward_fn=lambda response, label: scored.append(response) or 1.0)
    assert out.status == "aborted" and out.reward is None and SampleRecord.from_rollout(out).reward == 0.0 and scored == []
    assert out.turns == 1 and out.tool_calls == 1  # the aborted turn appended nothing
    assert out.loss_mask[-1] == 0


@amark
async def test_server_down_is_aborted_naming_the_url(tok, sandbox) -> None:
    engine = SGLangEngine("http://127.0.0.1:9", max_retries=1, backoff_s=0.01)
    config = cfg()
    out = await rollout_one(render_prompt_ids(tok, QUESTION, config), engine, sandbox, tok, config)
    assert out.status == "aborted" and "http://127.0.0.1:9/generate" in out.status_reason and out.response_length == 0


@amark
async def test_aborted_sample_is_retried_from_clean_state(tok, sandbox) -> None:
    config = cfg(max_abort_retries=1)
    clean, _, prompt = await run(tok, sandbox, [CALL_42, ANSWER_42])
    retried, engine, _ = await run(tok, sandbox, [CALL_42, "ABORT", CALL_42, ANSWER_42], config)
    assert retried.attempts == 2 and retried.status == "completed"
    assert retried.tokens == clean.tokens and retried.loss_mask == clean.loss_mask
    assert engine.inputs[2] == prompt  # the second attempt starts again from the bare prompt


def test_status_is_set_once() -> None:
    cell = StatusCell()
    cell.set("truncated", "budget")
    with pytest.raises(RolloutInvariantError, match="refusing to overwrite it with 'completed'"):
        cell.set("completed", "final answer")
    assert cell.value == "truncated"


@amark
async def test_batch_runs_groups_with_rewards_and_records(tok, sandbox) -> None:
    engine = ScriptedEngine(tok, [CALL_42, ANSWER_42], by_turn=True)
    prompts = [RolloutPrompt(messages=tuple(QUESTION), label="42"), {"prompt": "What is 7*6?", "label": "41"}]
    samples = await generate_batch(prompts, engine, sandbox, tok, cfg(n_samples_per_prompt=3, concurrent_tool_calls=False),
                                   reward_fn=score, progress=False)
    assert [(s.group_id, s.sample_index) for s in samples] == [(g, i) for g in range(2) for i in range(3)]
    assert len(engine.inputs) == 12
    records = [SampleRecord.from_rollout(s) for s in samples]
    assert all(r.status == "completed" and r.tool_calls == 1 and r.format_valid for r in records)
    assert [s.correct for s in samples] == [True] * 3 + [False] * 3
    assert [s.reward for s in samples] == pytest.approx([1.15] * 3 + [0.15] * 3)
