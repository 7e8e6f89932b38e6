"""retool.rollout.batch with a scripted engine and the real sandbox: prompt rendering, exact ids, masks and
logprobs of a RolloutSample, rewards, abort retries and group-major batches."""

from __future__ import annotations

import pytest

from retool.text.grammar import tool_turn_text
from retool.reward import score
from retool.rollout import RolloutPrompt, generate_batch, render_prompt_ids, rollout_one
from retool.embedded.tokenizer import load_qwen3_tokenizer
from retool.train.metrics import SampleRecord
from tests.doubles import ScriptedEngine, scripted_logprobs

from tests.unit.rollout.scripted import ANSWER_42, CALL_42, QUESTION, amark, cfg, ids, run


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


def test_prompt_holds_the_tools_block_exactly_once(tok) -> None:
    text = tok.decode(render_prompt_ids(tok, QUESTION, cfg()), skip_special_tokens=False)
    assert text.count("\n</tools>") == 1 and '"code_interpreter"' in text and text.endswith("<|im_start|>assistant\n")


def test_already_templated_prompt_is_refused(tok) -> None:
    templated = tok.apply_chat_template(QUESTION, tokenize=False, add_generation_prompt=True)
    with pytest.raises(ValueError, match="already chat-templated"):
        render_prompt_ids(tok, [{"role": "user", "content": templated}], cfg())


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
async def test_aborted_sample_is_retried_from_clean_state(tok, sandbox) -> None:
    config = cfg(max_abort_retries=1)
    clean, _, prompt = await run(tok, sandbox, [CALL_42, ANSWER_42])
    retried, engine, _ = await run(tok, sandbox, [CALL_42, "ABORT", CALL_42, ANSWER_42], config)
    assert retried.attempts == 2 and retried.status == "completed"
    assert retried.tokens == clean.tokens and retried.loss_mask == clean.loss_mask
    assert engine.inputs[2] == prompt  # the second attempt starts again from the bare prompt


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


class OneConversationBreaks:
    """An Engine double that raises a plain error (not EngineError: a bug) for the prompt holding
    ``marker`` and serves every other conversation from ``inner``."""

    def __init__(self, inner: ScriptedEngine, tok, marker: str) -> None:
        self.inner, self.tok, self.marker = inner, tok, marker

    async def generate(self, input_ids, params):
        if self.marker in self.tok.decode(list(input_ids), skip_special_tokens=False):
            raise RuntimeError("engine bug for this conversation")
        return await self.inner.generate(input_ids, params)


PROMPTS = [RolloutPrompt(messages=tuple(QUESTION), label="42"), {"prompt": "What is 7*6?", "label": "42"}]


@amark
async def test_an_engine_bug_in_one_sample_fails_only_that_group(tok, sandbox) -> None:
    engine = OneConversationBreaks(ScriptedEngine(tok, [CALL_42, ANSWER_42], by_turn=True), tok, "7*6")
    samples = await generate_batch(PROMPTS, engine, sandbox, tok, cfg(n_samples_per_prompt=2), reward_fn=score,
                                   progress=False)
    assert [s.status for s in samples] == ["completed", "completed", "failed", "failed"]
    assert all(s.status_reason == "rollout error: RuntimeError: engine bug for this conversation" for s in samples[2:])
    assert [s.reward for s in samples] == pytest.approx([1.15, 1.15, None, None])
    assert all(set(s.loss_mask) <= {0} for s in samples[2:])


@amark
async def test_a_raising_reward_fn_fails_only_that_sample(tok, sandbox) -> None:
    def reward_fn(response: str, label: str) -> float:
        if "7*6" in str(label):
            raise ValueError("checker bug")
        return score(response, label).total

    engine = ScriptedEngine(tok, [CALL_42, ANSWER_42], by_turn=True)
    prompts = [PROMPTS[0], {"prompt": "What is 7*6?", "label": "7*6"}]
    samples = await generate_batch(prompts, engine, sandbox, tok, cfg(n_samples_per_prompt=1), reward_fn=reward_fn,
                                   progress=False)
    good, bad = samples
    assert (good.status, good.reward) == ("completed", pytest.approx(1.15))
    assert (bad.status, bad.status_reason, bad.reward) == ("failed", "reward_fn raised ValueError: checker bug", None)
    assert bad.response_length > 0 and set(bad.loss_mask) == {0} and set(bad.rollout_log_probs) == {0.0}
    assert SampleRecord.from_rollout(bad).status == "failed"


@amark
async def test_deeply_nested_json_turns_do_not_take_the_batch(tok, sandbox) -> None:
    deep = '<tool_call>\n{"name": "code_interpreter", "arguments": {"code": ' + "[" * 600 + "</tool_call>"
    engine = ScriptedEngine(tok, [deep, ANSWER_42], by_turn=True)
    samples = await generate_batch(PROMPTS, engine, sandbox, tok, cfg(n_samples_per_prompt=2), reward_fn=score,
                                   progress=False)
    assert [(s.status, s.malformed_calls, s.tool_calls) for s in samples] == [("completed", 1, 0)] * 4
    assert all(s.correct and not s.format_valid for s in samples)


def test_failed_sample_is_consistent_and_unrewarded() -> None:
    from retool.rollout.batch import failed_sample

    out = failed_sample([1, 2, 3], group_id=4, sample_index=1, label="7", reason="rollout error: X")
    assert (out.tokens, out.prompt_len, out.response_length, out.loss_mask, out.reward) == ((1, 2, 3), 3, 0, (), None)
    assert SampleRecord.from_rollout(out).status == "failed"
