"""Training losses as pure tensor functions: masked cross-entropy, GRPO advantages, PPO-clip, KL.

Contract:
- Pure: no I/O, no globals, no mutation of arguments. Every function takes its mask explicitly.
- A masked position contributes exactly nothing: inputs are replaced by zeros at masked positions
  *before* any arithmetic (``torch.where``, never ``x * mask``), so NaN or +-inf there changes
  neither the loss nor any gradient (the gradient reaching a masked input is exactly 0).
- Alignment: ``token_logprobs(logits, ids)`` returns ``(B, T-1)`` where column ``j`` is the
  log-probability of ``ids[:, j+1]`` given ``ids[:, :j+1]``; a loss mask over ``ids`` (``(B, T)``)
  is aligned with it by dropping its first column (``mask[:, 1:]``). The RL functions take
  per-token tensors already aligned with each other (``(B, R)``, any R).
- Reductions (``loss_reduction``): ``"token"`` = sum over every masked token of the batch divided
  by their count; ``"sample"`` = each sample's mean over its own masked tokens, then the mean over
  all samples (a sample with no masked token counts as 0), as miles/slime do.
- GRPO (miles/slime): rewards ``(G*n,)`` reshaped to ``(G, n)``, minus the group mean, divided by
  ``(std + 1e-6)`` (unbiased std, as ``Tensor.std``) when ``normalize_std`` (off = Dr.GRPO); a
  constant group gives exactly 0. PPO-clip: ``max(-A*r, -A*clip(r, 1-eps_clip, 1+eps_clip_high))``;
  dual clip for ``A < 0``: ``min(that, -c*A)``. KL estimators on ``log r = logp - ref_logp``:
  k1 = log r, k2 = (log r)^2 / 2, k3 ("low_var_kl") = exp(-log r) - 1 + log r clamped to [-10, 10].
- Computations are done in float32 whatever the input dtype (bf16 logits are upcast).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

Reduction = Literal["token", "sample"]
KLType = Literal["k1", "k2", "k3", "low_var_kl"]
_KL_TYPES = ("k1", "k2", "k3", "low_var_kl")
STD_EPS = 1e-6
KL_CLAMP = 10.0


@dataclass(frozen=True, kw_only=True)
class GRPOConfig:
    """GRPO hyper-parameters; defaults are the ReTool launch flags of miles/slime."""

    n_samples_per_prompt: int = field(default=8, metadata={"help": "samples per prompt (the GRPO group size)"})
    eps_clip: float = 0.2
    eps_clip_high: float = 0.28
    dual_clip_c: float | None = None
    kl_coef: float = field(default=0.0, metadata={"help": "weight of the KL penalty against the reference model"})
    kl_type: KLType = "low_var_kl"
    normalize_std: bool = True
    loss_reduction: Reduction = "token"
    entropy_coef: float = 0.0

    def __post_init__(self) -> None:
        if self.n_samples_per_prompt < 1:
            raise ValueError(f"n_samples_per_prompt must be >= 1, got {self.n_samples_per_prompt}")
        if not (0 < self.eps_clip < 1) or self.eps_clip_high <= 0:
            raise ValueError(f"eps_clip must be in (0, 1) and eps_clip_high > 0, got {self.eps_clip}, {self.eps_clip_high}")
        if self.dual_clip_c is not None and self.dual_clip_c <= 1.0:
            raise ValueError(f"dual_clip_c must be > 1 (or None), got {self.dual_clip_c}")
        if self.kl_type not in _KL_TYPES:
            raise ValueError(f"kl_type must be one of {_KL_TYPES}, got {self.kl_type!r}")
        if self.loss_reduction not in ("token", "sample"):
            raise ValueError(f"loss_reduction must be 'token' or 'sample', got {self.loss_reduction!r}")
        if self.kl_coef < 0 or self.entropy_coef < 0:
            raise ValueError(f"kl_coef and entropy_coef must be >= 0, got {self.kl_coef}, {self.entropy_coef}")


@dataclass(frozen=True, kw_only=True)
class PolicyLossResult:
    """PPO-clip loss with its statistics (stats are detached floats-in-tensors)."""

    loss: Tensor  # () scalar, differentiable
    clip_fraction: Tensor  # () fraction of masked tokens where the clipped branch was taken
    dual_clip_fraction: Tensor  # () fraction of masked tokens where the dual clip bound applied
    approx_kl: Tensor  # () masked mean of (old_logp - logp), the PPO "ppo_kl" statistic


@dataclass(frozen=True, kw_only=True)
class GRPOLossResult:
    """Total GRPO loss = pg + kl_coef * kl - entropy_coef * entropy, with each part."""

    loss: Tensor  # () differentiable
    pg_loss: Tensor  # () detached
    kl: Tensor  # () detached (0 when no reference logprobs are given)
    entropy: Tensor  # () detached (0 when no entropy is given)
    clip_fraction: Tensor  # ()
    dual_clip_fraction: Tensor  # ()
    approx_kl: Tensor  # ()


def _bool_mask(mask: Tensor, like: Tensor) -> Tensor:
    if mask.shape != like.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} != values shape {tuple(like.shape)}")
    return mask if mask.dtype == torch.bool else mask != 0


def _clean(values: Tensor, mask: Tensor) -> Tensor:
    """Zeros at masked positions (NaN/inf-safe, gradient exactly 0 there), float32."""
    return torch.where(mask, values.float(), torch.zeros((), dtype=torch.float32, device=values.device))


def masked_mean(values: Tensor, mask: Tensor, reduction: Reduction = "token") -> Tensor:
    """Reduce ``values`` (B, T) over ``mask`` (B, T) to a scalar; see the module contract."""
    m = _bool_mask(mask, values)  # (B, T)
    v = _clean(values, m)  # (B, T)
    if reduction == "token":
        return v.sum() / m.sum().clamp_min(1)  # ()
    if reduction == "sample":
        per_sample = v.sum(dim=-1) / m.sum(dim=-1).clamp_min(1)  # (B,)
        return per_sample.mean() if per_sample.numel() else v.sum()
    raise ValueError(f"reduction must be 'token' or 'sample', got {reduction!r}")


def token_logprobs(logits: Tensor, ids: Tensor, mask: Tensor | None = None) -> Tensor:
    """Log-probability of each next token: (B, T, V) logits on (B, T) ids -> (B, T-1).

    Column j is log p(ids[:, j+1] | ids[:, :j+1]). With ``mask`` ((B, T-1), aligned with the
    output) the logits of masked rows are zeroed first, so NaN/inf there cannot leak.
    """
    if logits.dim() != 3 or ids.shape != logits.shape[:2]:
        raise ValueError(f"logits {tuple(logits.shape)} must be (B, T, V) over ids {tuple(ids.shape)}")
    pred = logits[:, :-1, :]  # (B, T-1, V)
    targets = ids[:, 1:].long()  # (B, T-1)
    if mask is not None:
        m = _bool_mask(mask, targets)  # (B, T-1)
        pred = pred.masked_fill(~m.unsqueeze(-1), 0)  # before the upcast: one (B, T-1, V) copy in the input dtype
    pred = pred.float()  # (B, T-1, V)
    logz = torch.logsumexp(pred, dim=-1)  # (B, T-1)
    picked = pred.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, T-1)
    out = picked - logz  # (B, T-1)
    if mask is not None:
        out = _clean(out, m)
    return out


def masked_cross_entropy(logits: Tensor, ids: Tensor, loss_mask: Tensor, reduction: Reduction = "token") -> Tensor:
    """Next-token cross-entropy over the tokens where ``loss_mask`` (B, T, over ``ids``) is set.

    ``loss_mask[:, t]`` says whether token ``ids[:, t]`` is a training target; column 0 can never
    be one (nothing predicts it). Returns a scalar; 0 when no token is masked in.
    """
    if loss_mask.shape != ids.shape:
        raise ValueError(f"loss_mask shape {tuple(loss_mask.shape)} != ids shape {tuple(ids.shape)}")
    m = _bool_mask(loss_mask, ids)[:, 1:]  # (B, T-1)
    logp = token_logprobs(logits, ids, m)  # (B, T-1)
    return masked_mean(-logp, m, reduction)  # ()


def group_advantages(rewards: Tensor, n_samples_per_prompt: int, *, normalize_std: bool = True) -> Tensor:
    """GRPO scalar advantages: (G*n,) rewards -> (G*n,) advantages, groups of ``n`` consecutive."""
    if rewards.dim() != 1 or rewards.numel() % n_samples_per_prompt != 0:
        raise ValueError(f"rewards shape {tuple(rewards.shape)} is not (num_groups * {n_samples_per_prompt},)")
    r = rewards.float().reshape(-1, n_samples_per_prompt)  # (G, n)
    centred = r - r.mean(dim=-1, keepdim=True)  # (G, n)
    if normalize_std:
        std = r.std(dim=-1, keepdim=True, correction=1 if n_samples_per_prompt > 1 else 0)  # (G, 1)
        centred = centred / (std + STD_EPS)  # (G, n)
    constant = (r == r[:, :1]).all(dim=-1, keepdim=True)  # (G, 1)
    adv = torch.where(constant, torch.zeros_like(centred), centred)  # (G, n)
    return adv.reshape(-1)  # (G*n,)


def broadcast_advantages(advantages: Tensor, mask: Tensor) -> Tensor:
    """Scalar per-sample advantages (B,) -> per-token (B, R), exactly 0 where ``mask`` is off."""
    if advantages.dim() != 1 or mask.dim() != 2 or mask.shape[0] != advantages.shape[0]:
        raise ValueError(f"advantages {tuple(advantages.shape)} and mask {tuple(mask.shape)} must be (B,) and (B, R)")
    m = mask if mask.dtype == torch.bool else mask != 0  # (B, R)
    full = advantages.float().unsqueeze(-1).expand(m.shape)  # (B, R)
    return _clean(full, m)  # (B, R)


def kl_estimate(logprobs: Tensor, ref_logprobs: Tensor, mask: Tensor, kl_type: KLType = "low_var_kl") -> Tensor:
    """Per-token KL(policy || reference) estimate (B, R); 0 at masked positions."""
    m = _bool_mask(mask, logprobs)  # (B, R)
    log_ratio = _clean(logprobs, m) - _clean(ref_logprobs, m)  # (B, R)
    if kl_type == "k1":
        kl = log_ratio
    elif kl_type == "k2":
        kl = log_ratio.square() / 2
    elif kl_type in ("k3", "low_var_kl"):
        kl = (torch.exp(-log_ratio) - 1 + log_ratio).clamp(-KL_CLAMP, KL_CLAMP)  # (B, R)
    else:
        raise ValueError(f"kl_type must be one of {_KL_TYPES}, got {kl_type!r}")
    return _clean(kl, m)  # (B, R)


def entropy_from_logits(logits: Tensor, mask: Tensor | None = None) -> Tensor:
    """Entropy of the softmax at each position: (B, T, V) -> (B, T); 0 where ``mask`` is off."""
    x = logits.float()  # (B, T, V)
    if mask is not None:
        m = _bool_mask(mask, x[..., 0])  # (B, T)
        x = torch.where(m.unsqueeze(-1), x, torch.zeros((), dtype=x.dtype, device=x.device))
    logp = torch.log_softmax(x, dim=-1)  # (B, T, V)
    ent = -(logp.exp() * logp).sum(dim=-1)  # (B, T)
    return ent if mask is None else _clean(ent, m)


def ppo_policy_loss(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    mask: Tensor,
    config: GRPOConfig,
) -> PolicyLossResult:
    """PPO-clip (asymmetric eps, optional dual clip) over per-token (B, R) tensors."""
    m = _bool_mask(mask, logprobs)  # (B, R)
    if old_logprobs.shape != m.shape or advantages.shape != m.shape:
        raise ValueError(
            f"logprobs {tuple(logprobs.shape)}, old_logprobs {tuple(old_logprobs.shape)} and "
            f"advantages {tuple(advantages.shape)} must have the same shape"
        )
    log_ratio = _clean(logprobs, m) - _clean(old_logprobs, m).detach()  # (B, R)
    ratio = torch.exp(log_ratio)  # (B, R)
    adv = _clean(advantages, m).detach()  # (B, R)
    pg_unclipped = -adv * ratio  # (B, R)
    pg_clipped = -adv * ratio.clamp(1.0 - config.eps_clip, 1.0 + config.eps_clip_high)  # (B, R)
    pg = torch.maximum(pg_unclipped, pg_clipped)  # (B, R)
    clipped = m & (pg_clipped > pg_unclipped)  # (B, R)
    dual = torch.zeros_like(m)
    if config.dual_clip_c is not None:
        bound = -adv * config.dual_clip_c  # (B, R)
        dual = m & (adv < 0) & (pg > bound)  # (B, R)
        pg = torch.where(adv < 0, torch.minimum(pg, bound), pg)  # (B, R)
    count = m.sum().clamp_min(1)
    return PolicyLossResult(
        loss=masked_mean(pg, m, config.loss_reduction),
        clip_fraction=(clipped.sum() / count).detach(),
        dual_clip_fraction=(dual.sum() / count).detach(),
        approx_kl=masked_mean(-log_ratio, m, "token").detach(),
    )


def grpo_loss(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    mask: Tensor,
    config: GRPOConfig,
    *,
    ref_logprobs: Tensor | None = None,
    entropy: Tensor | None = None,
) -> GRPOLossResult:
    """pg + kl_coef * KL(policy || ref) - entropy_coef * entropy, all (B, R) and reduced alike."""
    pol = ppo_policy_loss(logprobs, old_logprobs, advantages, mask, config)
    m = _bool_mask(mask, logprobs)
    zero = torch.zeros((), dtype=torch.float32, device=logprobs.device)
    loss, kl_val, ent_val = pol.loss, zero, zero
    if ref_logprobs is not None:
        kl_val = masked_mean(kl_estimate(logprobs, ref_logprobs.detach(), m, config.kl_type), m, config.loss_reduction)
        if config.kl_coef > 0:
            loss = loss + config.kl_coef * kl_val
    if entropy is not None:
        ent_val = masked_mean(entropy, m, config.loss_reduction)
        if config.entropy_coef > 0:
            loss = loss - config.entropy_coef * ent_val
    return GRPOLossResult(
        loss=loss,
        pg_loss=pol.loss.detach(),
        kl=kl_val.detach(),
        entropy=ent_val.detach(),
        clip_fraction=pol.clip_fraction,
        dual_clip_fraction=pol.dual_clip_fraction,
        approx_kl=pol.approx_kl,
    )
