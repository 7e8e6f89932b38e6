"""retool.train.grpo on the real tiny Qwen3 model (CPU): GRPO moves logprobs the right way, tool
tokens get exactly zero gradient, micro-batches equal the full batch, aborted samples train on
nothing, and rollout -> reward -> step runs end to end."""

from __future__ import annotations

import json

import pytest
import torch

from retool.embedded.models import tiny_model
from retool.embedded.tokenizer import tiny_tokenizer
from retool.rollout import RolloutConfig, render_prompt_ids, rollout_one
from retool.train.common import load_checkpoint
from retool.train.grpo import RLBatch, RLConfig, StepStats, batch_advantages, compute_logprobs, grpo_step, rl_iteration
from retool.train.losses import GRPOConfig
from retool.text.grammar import IM_END
from tests.capabilities import sandbox_options
from tests.doubles import ScriptedEngine


def _rl_batch(rewards, *, tool_span=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    prompt = torch.randint(5, 900, (12,), generator=g).tolist()
    tokens, masks, lengths = [], [], []
    for i in range(len(rewards)):
        resp = torch.randint(5, 900, (10 + i,), generator=g).tolist()
        mask = [1] * len(resp)
        if tool_span is not None:
            for j in range(*tool_span):
                mask[j] = 0
        tokens.append(tuple(prompt[: 12 - i] + resp))  # prompts of different lengths exercise the padding
        masks.append(tuple(mask))
        lengths.append(len(resp))
    return RLBatch(tokens=tuple(tokens), response_lengths=tuple(lengths), loss_masks=tuple(masks),
                   rewards=tuple(rewards), group_ids=(0,) * len(rewards))


def test_compute_logprobs_matches_each_unpadded_sample():
    model, _ = tiny_model()
    batch = _rl_batch([1.0, 0.0, 1.0])
    got = compute_logprobs(model, batch)  # (B, R)
    for i, toks in enumerate(batch.tokens):
        r = batch.response_lengths[i]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([toks])).logits[0]  # (T, V)
        logp = torch.log_softmax(logits.float(), -1)
        want = torch.stack([logp[len(toks) - r + j - 1, toks[len(toks) - r + j]] for j in range(r)])
        torch.testing.assert_close(got[i, :r], want, rtol=1e-4, atol=1e-4)
        assert torch.all(got[i, r:] == 0)


def test_one_grpo_step_raises_positive_and_lowers_negative_advantage_samples():
    model, _ = tiny_model()
    batch = _rl_batch([1.0, 0.0, 1.0, 0.0])
    before = compute_logprobs(model, batch).sum(-1)  # (B,)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    stats = grpo_step(model, None, batch, RLConfig(grpo=GRPOConfig(n_samples_per_prompt=4), lr=1e-3), opt)
    delta = compute_logprobs(model, batch).sum(-1) - before
    assert delta[0] > 0 and delta[2] > 0, delta
    assert delta[1] < 0 and delta[3] < 0, delta
    assert stats.clip_fraction == 0.0 and stats.approx_kl == pytest.approx(0.0, abs=1e-6)
    assert stats.reward_mean == 0.5 and stats.response_tokens == sum(batch.response_lengths)


def test_grpo_tool_tokens_in_the_response_get_exactly_zero_logit_gradient():
    model, _ = tiny_model()
    batch = _rl_batch([1.0, 0.0], tool_span=(3, 7))
    captured = []

    def keep(_module, _inputs, out):
        if out.requires_grad:
            out.retain_grad()
            captured.append(out)

    hook = model.lm_head.register_forward_hook(keep)
    ref, _ = tiny_model()
    stats = grpo_step(model, ref, batch, RLConfig(grpo=GRPOConfig(n_samples_per_prompt=2, kl_coef=0.1), lr=1e-3),
                      torch.optim.SGD(model.parameters(), lr=1e-3))
    hook.remove()
    assert stats.kl == pytest.approx(0.0, abs=1e-6)  # policy == reference before the step
    (logits,) = captured
    for i, toks in enumerate(batch.tokens):
        start = len(toks) - batch.response_lengths[i]
        tool_rows = [start + j - 1 for j in range(3, 7)]
        model_rows = [start + j - 1 for j, m in enumerate(batch.loss_masks[i]) if m]
        assert torch.count_nonzero(logits.grad[i, tool_rows]) == 0
        assert torch.count_nonzero(logits.grad[i, : start - 1]) == 0  # prompt rows
        assert torch.all(logits.grad[i, model_rows].abs().sum(-1) > 0)


def test_batch_advantages_group_by_id_and_skip_aborted_samples():
    adv = batch_advantages([1.0, 5.0, 0.0, None, 5.0, 5.0], [0, 1, 0, 0, 1, 1], GRPOConfig(normalize_std=False))
    torch.testing.assert_close(adv, torch.tensor([0.5, 0.0, -0.5, 0.0, 0.0, 0.0]))


def test_aborted_samples_train_on_nothing():
    model, _ = tiny_model()
    batch = _rl_batch([1.0, None, 0.0])
    stats = grpo_step(model, None, batch, RLConfig(grpo=GRPOConfig(n_samples_per_prompt=2)), torch.optim.SGD(model.parameters(), lr=0.0))
    assert stats.response_tokens == batch.response_lengths[0] + batch.response_lengths[2]


def test_ppo_epochs_clip_on_the_second_update():
    model, _ = tiny_model()
    batch = _rl_batch([1.0, 0.0, 1.0, 0.0])
    config = RLConfig(grpo=GRPOConfig(n_samples_per_prompt=4), lr=3e-2, ppo_epochs=2)
    stats = grpo_step(model, None, batch, config, torch.optim.AdamW(model.parameters(), lr=3e-2))
    assert stats.clip_fraction > 0.0 and stats.approx_kl != 0.0


@pytest.mark.parametrize("reduction", ["token", "sample"])
def test_micro_batches_give_the_full_batch_update(reduction):
    batch = _rl_batch([1.0, 0.0, 0.5, 0.0])
    grads = []
    for micro in (None, 1):
        model, _ = tiny_model()
        ref, _ = tiny_model()
        config = RLConfig(grpo=GRPOConfig(n_samples_per_prompt=4, loss_reduction=reduction, kl_coef=0.5), micro_batch_size=micro,
                          grad_clip=None)
        opt = torch.optim.SGD(model.parameters(), lr=0.0)
        # one SGD step at lr 0 leaves the weights; the gradients are kept by a hook on the optimizer step
        captured = {}
        opt.register_step_pre_hook(lambda o, a, k: captured.update({id(p): p.grad.clone() for g in o.param_groups for p in g["params"]}))
        stats = grpo_step(model, ref, batch, config, opt)
        grads.append((stats, [captured[id(p)] for p in model.parameters()]))
    (full, g_full), (micro, g_micro) = grads
    assert micro.loss == pytest.approx(full.loss, rel=1e-5, abs=1e-7) and micro.kl == pytest.approx(full.kl, abs=1e-7)
    for a, b in zip(g_full, g_micro):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)


def test_use_rollout_logprobs_takes_the_old_policy_from_the_rollout():
    model, _ = tiny_model()
    base = _rl_batch([1.0, 0.0])
    recomputed = compute_logprobs(model, base)
    shifted = tuple(tuple((recomputed[i, :n] - 1.0).tolist()) for i, n in enumerate(base.response_lengths))  # ratio e^1
    batch = RLBatch(tokens=base.tokens, response_lengths=base.response_lengths, loss_masks=base.loss_masks,
                    rewards=base.rewards, group_ids=base.group_ids, rollout_logprobs=shifted)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    own = grpo_step(model, None, batch, RLConfig(grpo=GRPOConfig(n_samples_per_prompt=2)), opt)
    used = grpo_step(model, None, batch, RLConfig(grpo=GRPOConfig(n_samples_per_prompt=2), use_rollout_logprobs=True), opt)
    assert own.approx_kl == pytest.approx(0.0, abs=1e-6) and own.clip_fraction == 0.0
    assert used.approx_kl == pytest.approx(-1.0, abs=1e-4)
    # ratio e > 1 + 0.28: clipped where A > 0 (sample 0), not where A < 0 (the unclipped branch is larger)
    assert used.clip_fraction == pytest.approx(base.response_lengths[0] / sum(base.response_lengths))
    assert own.rollout_logprob_abs_diff == pytest.approx(1.0, abs=1e-4)


class _EchoSandbox:
    """Edge double: the tiny random model almost never writes a well-formed call; if it does, answer."""

    async def execute_code(self, code: str) -> str:
        return "ok"


@pytest.mark.asyncio
async def test_rl_train_on_hf_rollouts_recomputes_the_rollout_logprobs_and_checkpoints(tmp_path):
    from retool.rollout.engines import HFEngine, SamplingParams
    from retool.train.grpo import rl_train

    model, tok = tiny_model()
    engine = HFEngine(model, tok, default_seed=0)
    rcfg = RolloutConfig(n_samples_per_prompt=2, max_turns=2, rollout_max_response_len=24, max_context_len=2048,
                                 seed=1, sampling=SamplingParams(temperature=1.0, max_new_tokens=12))
    config = RLConfig(grpo=GRPOConfig(n_samples_per_prompt=2), lr=1e-4, iterations=2, prompts_per_iteration=1,
                      out_dir=str(tmp_path), metrics_path=str(tmp_path / "m.jsonl"), progress=False)
    prompts = [{"prompt": "What is 2+3?", "label": "5"}, {"prompt": "What is 3*3?", "label": "9"}]
    result = await rl_train(model, None, tok, prompts, config, engine=engine, sandbox=_EchoSandbox(), rollout_config=rcfg,
                            reward_fn=lambda response, label: float(len(response) % 2))
    rows = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert result.steps == 2 and [r["step"] for r in rows] == [1, 2]
    assert result.tokens_trained > 0 and "eval/accuracy" in rows[0] and "train/pg_loss" in rows[0]
    # the engine's sampled-token logprobs (temperature 1) are what the trainer recomputes
    assert all(r["train/rollout_logprob_abs_diff"] < 1e-4 for r in rows)
    assert load_checkpoint(result.checkpoint, tiny_model()[0])["step"] == 2


def test_cli_sft_then_rl_runs_end_to_end_on_the_shipped_samples(tmp_path, capsys):
    from retool.cli import main

    assert main(["train", "sft", "sample", "--model", "tiny", "--out", str(tmp_path / "sft"), "--max-steps", "2",
                 "--lr", "1e-3", "--no-progress"]) == 0
    args = ["train", "rl", "sample", "--model", str(tmp_path / "sft" / "final"), "--out", str(tmp_path / "rl"),
            "--iterations", "1", "--prompts-per-iteration", "1", "--n-samples", "2", "--max-new-tokens", "16",
            "--max-response-tokens", "32", "--lr", "1e-4", "--no-progress"]
    if sandbox_options():  # a host without every kernel layer (not root, say): run on the ones it has
        args.append("--sandbox-allow-weaker")
    assert main(args) == 0
    assert "rl: 1 iterations" in capsys.readouterr().out
    row = json.loads((tmp_path / "rl" / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["step"] == 1 and row["train/response_tokens"] > 0 and "reward/mean" in row
    assert (tmp_path / "rl" / "final" / "model.safetensors").is_file()


@pytest.mark.parametrize(
    ("bad", "field"),
    [(dict(lr=0.0), "lr"), (dict(ppo_epochs=0), "ppo_epochs"), (dict(iterations=0), "iterations"),
     (dict(prompts_per_iteration=0), "prompts_per_iteration"), (dict(micro_batch_size=0), "micro_batch_size")],
)
def test_rl_config_refuses_bad_values_naming_the_field(bad: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        RLConfig(**bad)


def _batch(**kw) -> RLBatch:
    base = dict(tokens=((1, 2, 3, 4),), response_lengths=(2,), loss_masks=((1, 0),), rewards=(1.0,), group_ids=(0,))
    return RLBatch(**{**base, **kw})


def test_rl_batch_needs_at_least_one_sample() -> None:
    with pytest.raises(ValueError, match=">= 1"):
        _batch(tokens=(), response_lengths=(), loss_masks=(), rewards=(), group_ids=())


def test_rl_batch_needs_every_field_per_sample() -> None:
    with pytest.raises(ValueError, match="rewards"):
        _batch(rewards=(1.0, 0.0))


def test_rl_batch_needs_a_prompt_before_the_response() -> None:
    with pytest.raises(ValueError, match="needs a prompt"):
        _batch(response_lengths=(4,), loss_masks=((1, 1, 1, 1),))


@pytest.mark.parametrize("field", ["loss_masks", "rollout_logprobs"])
def test_rl_batch_response_fields_have_response_length_entries(field: str) -> None:
    with pytest.raises(ValueError, match="response_length 2"):
        _batch(**{field: ((1, 1, 1),) if field == "loss_masks" else ((-0.1,),)})


@pytest.mark.asyncio
async def test_rl_batch_from_rollout_keeps_ids_masks_logprobs_and_aborted_rewards() -> None:
    tok = tiny_tokenizer()
    config = RolloutConfig(n_samples_per_prompt=1)
    prompt = render_prompt_ids(tok, [{"role": "user", "content": "q"}], config)
    done = await rollout_one(prompt, ScriptedEngine(tok, ["\\boxed{1}" + IM_END]), _EchoSandbox(), tok, config, group_id=3)
    aborted = await rollout_one(prompt, ScriptedEngine(tok, ["ABORT"]), _EchoSandbox(), tok, config, group_id=4)
    batch = RLBatch.from_rollout([done, aborted])
    assert batch.tokens == (done.tokens, aborted.tokens) and batch.loss_masks == (done.loss_mask, aborted.loss_mask)
    assert batch.rollout_logprobs == (done.rollout_log_probs, ()) and batch.rewards == (0.0, None)
    assert batch.group_ids == (3, 4) and batch.response_lengths == (done.response_length, 0)


def test_a_group_of_only_aborted_samples_gets_zero_advantages() -> None:
    adv = batch_advantages([None, None, 1.0, 0.0], [0, 0, 1, 1], GRPOConfig(normalize_std=False))
    torch.testing.assert_close(adv, torch.tensor([0.0, 0.0, 0.5, -0.5]))


def test_step_stats_metrics_are_train_keys_plus_the_reward_mean() -> None:
    stats = StepStats(loss=1.0, pg_loss=0.5, kl=0.0, entropy=2.0, clip_fraction=0.0, approx_kl=0.0, grad_norm=3.0,
                      reward_mean=0.25, advantage_abs_mean=0.5, response_tokens=7, rollout_logprob_abs_diff=None)
    metrics = stats.as_metrics()
    assert metrics["reward/mean"] == 0.25 and metrics["train/response_tokens"] == 7.0
    assert "train/rollout_logprob_abs_diff" not in metrics and "train/reward_mean" not in metrics
    assert all(k.startswith("train/") for k in metrics if k != "reward/mean")


@pytest.mark.asyncio
async def test_rl_iteration_refuses_group_sizes_that_differ() -> None:
    model, tok = tiny_model()
    with pytest.raises(ValueError, match="n_samples_per_prompt 3 != GRPO n_samples_per_prompt 2"):
        await rl_iteration(model, None, tok, ["q"], RLConfig(grpo=GRPOConfig(n_samples_per_prompt=2)),
                           torch.optim.SGD(model.parameters(), lr=0.0), engine=ScriptedEngine(tok, ["x"]),
                           sandbox=_EchoSandbox(), rollout_config=RolloutConfig(n_samples_per_prompt=3),
                           reward_fn=lambda response, label: 0.0)


def test_no_recomputed_diff_without_rollout_logprobs() -> None:
    model, _ = tiny_model()
    stats = grpo_step(model, None, _rl_batch([1.0, 0.0]), RLConfig(grpo=GRPOConfig(n_samples_per_prompt=2)),
                      torch.optim.SGD(model.parameters(), lr=0.0))
    assert stats.rollout_logprob_abs_diff is None
