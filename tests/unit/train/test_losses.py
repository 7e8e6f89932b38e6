"""Hand-computed checks of retool.train.losses, and proof that masked positions contribute nothing."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from retool.train.losses import (
    GRPOConfig,
    broadcast_advantages,
    entropy_from_logits,
    group_advantages,
    grpo_loss,
    kl_estimate,
    masked_cross_entropy,
    masked_mean,
    ppo_policy_loss,
    token_logprobs,
)

LN3 = math.log(3.0)


def _logits_for(probs_rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor([[math.log(p) for p in row] for row in probs_rows]).unsqueeze(0)  # (1, T, V)


# ---------------------------------------------------------------- token_logprobs / cross-entropy


def test_token_logprobs_reads_the_next_token_with_the_shift():
    logits = _logits_for([[0.25, 0.75], [0.5, 0.5], [0.9, 0.1]])  # (1, 3, 2)
    ids = torch.tensor([[0, 1, 0]])  # token 1 after pos 0, token 0 after pos 1
    out = token_logprobs(logits, ids)  # (1, 2)
    assert out.shape == (1, 2)
    torch.testing.assert_close(out, torch.tensor([[math.log(0.75), math.log(0.5)]]))


def test_token_logprobs_upcasts_bf16_logits_to_float32():
    logits = torch.zeros(1, 3, 8, dtype=torch.bfloat16)
    out = token_logprobs(logits, torch.tensor([[1, 2, 3]]))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, torch.full((1, 2), -math.log(8)))


def _ce_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # sample 0: targets at t=1 (p=.75) and t=2 (p=.5); sample 1: target at t=1 only (p=.25)
    logits = torch.cat(
        [
            _logits_for([[0.25, 0.75], [0.5, 0.5], [0.5, 0.5]]),
            _logits_for([[0.25, 0.75], [0.5, 0.5], [0.5, 0.5]]),
        ]
    )  # (2, 3, 2)
    ids = torch.tensor([[0, 1, 0], [0, 0, 1]])
    mask = torch.tensor([[0, 1, 1], [0, 1, 0]])
    return logits, ids, mask


def test_masked_cross_entropy_token_mean_over_all_masked_tokens():
    logits, ids, mask = _ce_batch()
    expected = (-math.log(0.75) - math.log(0.5) - math.log(0.25)) / 3
    assert masked_cross_entropy(logits, ids, mask, "token").item() == pytest.approx(expected, rel=1e-6)


def test_masked_cross_entropy_sample_mean_then_mean_over_samples():
    logits, ids, mask = _ce_batch()
    expected = ((-math.log(0.75) - math.log(0.5)) / 2 + -math.log(0.25)) / 2
    assert masked_cross_entropy(logits, ids, mask, "sample").item() == pytest.approx(expected, rel=1e-6)


def test_masked_cross_entropy_ignores_nan_and_inf_logits_at_masked_positions():
    logits, ids, mask = _ce_batch()
    logits = logits.clone().requires_grad_(True)
    base = masked_cross_entropy(logits, ids, mask)
    (g_base,) = torch.autograd.grad(base, logits)
    poisoned = logits.detach().clone()
    poisoned[1, 1] = float("nan")  # predicts ids[1, 2], which is masked out
    poisoned[0, 2] = float("inf")  # the last position predicts nothing
    poisoned[1, 2, 0] = -1e30
    poisoned.requires_grad_(True)
    loss = masked_cross_entropy(poisoned, ids, mask)
    (grad,) = torch.autograd.grad(loss, poisoned)
    assert loss.item() == base.item()
    assert torch.equal(grad, g_base)
    assert torch.all(grad[1, 1] == 0) and torch.all(grad[:, 2] == 0)


def test_masked_cross_entropy_is_zero_with_an_empty_mask():
    logits, ids, _ = _ce_batch()
    assert masked_cross_entropy(logits, ids, torch.zeros_like(ids)).item() == 0.0


def test_masked_mean_rejects_a_mask_of_another_shape():
    with pytest.raises(ValueError, match="mask shape"):
        masked_mean(torch.zeros(2, 3), torch.ones(2, 4))


# ---------------------------------------------------------------- advantages


def test_group_advantages_normalize_by_unbiased_std():
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    adv = group_advantages(rewards, 4)
    # group 0: mean .25, unbiased std sqrt((.75^2 + 3 * .25^2) / 3) = .5
    expected = torch.tensor([0.75, -0.25, -0.25, -0.25]) / (0.5 + 1e-6)
    torch.testing.assert_close(adv[:4], expected)
    assert torch.equal(adv[4:], torch.zeros(4))


def test_group_advantages_without_std_is_dr_grpo_mean_centring():
    adv = group_advantages(torch.tensor([1.1, 0.1, 0.0, 0.0]), 4, normalize_std=False)
    torch.testing.assert_close(adv, torch.tensor([1.1, 0.1, 0.0, 0.0]) - 0.3)


@pytest.mark.parametrize("value", [0.1, 1.15, -0.7, 0.0])
def test_group_advantages_are_exactly_zero_for_constant_groups(value):
    adv = group_advantages(torch.full((8,), value), 8)
    assert torch.equal(adv, torch.zeros(8))
    assert torch.equal(group_advantages(torch.full((3,), value), 1), torch.zeros(3))


def test_group_advantages_reject_a_size_not_divisible_by_n():
    with pytest.raises(ValueError, match="num_groups"):
        group_advantages(torch.zeros(7), 4)


def test_broadcast_advantages_fill_response_tokens_and_zero_elsewhere():
    out = broadcast_advantages(torch.tensor([2.0, -1.0]), torch.tensor([[1, 1, 0], [0, 1, 1]]))
    assert torch.equal(out, torch.tensor([[2.0, 2.0, 0.0], [0.0, -1.0, -1.0]]))


# ---------------------------------------------------------------- PPO clip


def _ppo(ratios, advs, config=GRPOConfig()):
    lp = torch.log(torch.tensor([ratios], dtype=torch.float32)).requires_grad_(True)  # (1, R)
    old = torch.zeros_like(lp)
    adv = torch.tensor([advs], dtype=torch.float32)
    res = ppo_policy_loss(lp, old, adv, torch.ones_like(adv, dtype=torch.bool), config)
    (grad,) = torch.autograd.grad(res.loss, lp)
    return res, grad


def test_ppo_clip_hand_values_per_branch():
    # r=1.5,A=+1 -> clipped at 1.28; r=.5,A=+1 -> unclipped -.5; r=.5,A=-1 -> clipped .8; r=1.5,A=-1 -> 1.5
    res, grad = _ppo([1.5, 0.5, 0.5, 1.5], [1.0, 1.0, -1.0, -1.0])
    assert res.loss.item() == pytest.approx((-1.28 - 0.5 + 0.8 + 1.5) / 4, rel=1e-6)
    assert res.clip_fraction.item() == pytest.approx(0.5)
    # d(-A r)/d logp = -A r on unclipped tokens, 0 on clipped ones, divided by the 4 tokens
    torch.testing.assert_close(grad, torch.tensor([[0.0, -0.5 / 4, 0.0, 1.5 / 4]]))


def test_ppo_clip_uses_the_asymmetric_upper_bound():
    res, _ = _ppo([1.25], [1.0])  # inside (1 - .2, 1 + .28): not clipped
    assert res.loss.item() == pytest.approx(-1.25)
    assert res.clip_fraction.item() == 0.0


def test_dual_clip_bounds_negative_advantage_losses_by_c_times_minus_a():
    config = GRPOConfig(dual_clip_c=3.0)
    res, grad = _ppo([5.0, 5.0, 2.0], [-1.0, 1.0, -2.0], config)
    # A=-1,r=5: min(5, 3) = 3 (dual); A=+1,r=5: -1.28; A=-2,r=2: min(4, 6) = 4
    assert res.loss.item() == pytest.approx((3.0 - 1.28 + 4.0) / 3, rel=1e-6)
    assert res.dual_clip_fraction.item() == pytest.approx(1 / 3)
    assert grad[0, 0].item() == 0.0 and grad[0, 1].item() == 0.0
    assert grad[0, 2].item() == pytest.approx(2.0 * 2.0 / 3)


def test_ppo_approx_kl_is_mean_old_minus_new():
    res, _ = _ppo([2.0, 0.5], [0.0, 0.0])
    assert res.approx_kl.item() == pytest.approx(0.0, abs=1e-7)
    res, _ = _ppo([2.0, 2.0], [0.0, 0.0])
    assert res.approx_kl.item() == pytest.approx(-math.log(2.0))


def test_ppo_masked_tokens_with_nan_change_nothing_and_get_zero_grad():
    lp = torch.tensor([[-1.0, -2.0, -0.5]])
    old = torch.tensor([[-1.2, -1.0, -0.4]])
    adv = torch.tensor([[1.0, 1.0, 1.0]])
    mask = torch.tensor([[True, False, True]])
    lp1 = lp.clone().requires_grad_(True)
    base = ppo_policy_loss(lp1, old, adv, mask, GRPOConfig())
    (g1,) = torch.autograd.grad(base.loss, lp1)
    lp2 = lp.clone()
    lp2[0, 1] = float("nan")
    lp2.requires_grad_(True)
    old2, adv2 = old.clone(), adv.clone()
    old2[0, 1], adv2[0, 1] = float("inf"), float("nan")
    res = ppo_policy_loss(lp2, old2, adv2, mask, GRPOConfig())
    (g2,) = torch.autograd.grad(res.loss, lp2)
    assert res.loss.item() == base.loss.item()
    assert torch.equal(g1, g2) and g2[0, 1].item() == 0.0
    assert res.approx_kl.item() == base.approx_kl.item()


def test_sample_reduction_weights_each_sample_equally():
    lp = torch.zeros(2, 3)
    adv = torch.tensor([[1.0, 1.0, 1.0], [-2.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    tok = ppo_policy_loss(lp, lp, adv, mask, GRPOConfig(loss_reduction="token")).loss
    smp = ppo_policy_loss(lp, lp, adv, mask, GRPOConfig(loss_reduction="sample")).loss
    assert tok.item() == pytest.approx((-3.0 + 2.0) / 4)
    assert smp.item() == pytest.approx((-1.0 + 2.0) / 2)


# ---------------------------------------------------------------- KL and entropy


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("k1", math.log(2)), ("k2", math.log(2) ** 2 / 2), ("k3", 0.5 - 1 + math.log(2)), ("low_var_kl", 0.5 - 1 + math.log(2))],
)
def test_kl_estimators_hand_values(kind, expected):
    lp = torch.tensor([[math.log(0.5)]])
    ref = torch.tensor([[math.log(0.25)]])  # log r = ln 2
    assert kl_estimate(lp, ref, torch.ones(1, 1), kind).item() == pytest.approx(expected, rel=1e-6)


def test_low_var_kl_is_clamped_to_ten():
    lp, ref = torch.tensor([[-30.0, 0.0]]), torch.tensor([[0.0, -30.0]])
    out = kl_estimate(lp, ref, torch.ones(1, 2), "low_var_kl")
    assert out[0, 0].item() == 10.0  # exp(30) - 1 - 30 clamped
    assert out[0, 1].item() == pytest.approx(10.0)  # exp(-30) - 1 + 30 clamped


def test_kl_is_zero_at_masked_positions_even_with_nan():
    lp = torch.tensor([[float("nan"), -1.0]])
    ref = torch.tensor([[0.0, -1.0]])
    out = kl_estimate(lp, ref, torch.tensor([[0, 1]]), "k2")
    assert torch.equal(out, torch.zeros(1, 2))


def test_entropy_hand_values_and_masking():
    logits = torch.stack([_logits_for([[0.25, 0.75]])[0, 0], torch.zeros(2)]).unsqueeze(0)  # (1, 2, 2)
    ent = entropy_from_logits(logits)
    expected = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    torch.testing.assert_close(ent, torch.tensor([[expected, math.log(2)]]))
    poisoned = logits.clone()
    poisoned[0, 1] = float("nan")
    masked = entropy_from_logits(poisoned, torch.tensor([[1, 0]]))
    torch.testing.assert_close(masked, torch.tensor([[expected, 0.0]]))


def test_grpo_loss_adds_kl_and_subtracts_entropy_with_their_coefficients():
    lp = torch.tensor([[math.log(0.5)]])
    old = lp.clone()
    ref = torch.tensor([[math.log(0.25)]])
    adv = torch.tensor([[1.0]])
    ent = torch.tensor([[0.3]])
    config = GRPOConfig(kl_coef=0.1, kl_type="k1", entropy_coef=0.01)
    res = grpo_loss(lp, old, adv, torch.ones(1, 1), config, ref_logprobs=ref, entropy=ent)
    assert res.pg_loss.item() == pytest.approx(-1.0)
    assert res.kl.item() == pytest.approx(math.log(2))
    assert res.loss.item() == pytest.approx(-1.0 + 0.1 * math.log(2) - 0.01 * 0.3, rel=1e-6)


def test_grpo_config_rejects_bad_values():
    with pytest.raises(ValueError, match="dual_clip_c"):
        GRPOConfig(dual_clip_c=1.0)
    with pytest.raises(ValueError, match="kl_type"):
        GRPOConfig(kl_type="k4")
    with pytest.raises(ValueError, match="loss_reduction"):
        GRPOConfig(loss_reduction="seq")


# ---------------------------------------------------------------- property: masked positions are inert


@settings(deadline=None)
@given(
    b=st.integers(1, 3), t=st.integers(2, 6), v=st.integers(2, 5), seed=st.integers(0, 2**16),
    poison=st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e30]),
    reduction=st.sampled_from(["token", "sample"]),
)
def test_poisoned_masked_positions_leave_every_loss_and_gradient_unchanged(b, t, v, seed, poison, reduction):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, t, v, generator=g)
    ids = torch.randint(0, v, (b, t), generator=g)
    mask = torch.rand(b, t, generator=g) < 0.5  # (B, T) over ids
    off = ~mask[:, 1:]  # rows of logits predicting masked targets
    bad_logits = torch.where(off.unsqueeze(-1), torch.full_like(logits[:, 1:], poison), logits[:, :-1])
    bad_logits = torch.cat([bad_logits, torch.full_like(logits[:, :1], poison)], dim=1)  # the last row predicts nothing

    def ce(x):
        x = x.clone().requires_grad_(True)
        loss = masked_cross_entropy(x, ids, mask, reduction)
        (grad,) = torch.autograd.grad(loss, x)
        return loss, grad

    l1, g1 = ce(logits)
    l2, g2 = ce(bad_logits)
    assert torch.equal(l1, l2)
    assert torch.equal(g1[:, :-1][~off], g2[:, :-1][~off]) and torch.count_nonzero(g2[:, :-1][off]) == 0

    lp, old, adv = (torch.randn(b, t, generator=g) for _ in range(3))
    m = mask
    config = GRPOConfig(loss_reduction=reduction, dual_clip_c=3.0)

    def pg(x, o, a):
        x = x.clone().requires_grad_(True)
        res = grpo_loss(x, o, a, m, config, ref_logprobs=o, entropy=torch.ones_like(o))
        (grad,) = torch.autograd.grad(res.loss, x)
        return res, grad

    r1, h1 = pg(lp, old, adv)
    poisoned = [torch.where(m, x, torch.full_like(x, poison)) for x in (lp, old, adv)]
    r2, h2 = pg(*poisoned)
    for name in ("loss", "kl", "entropy", "clip_fraction", "approx_kl"):
        assert torch.equal(getattr(r1, name), getattr(r2, name)), name
    assert torch.equal(h1, h2) and torch.count_nonzero(h2[~m]) == 0
