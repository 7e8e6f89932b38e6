"""The model checks: the tiny end-to-end pipeline, and the HF -> Megatron conversion with its rotary base.

Contract:
- :func:`check_pipeline` runs :func:`retool.recipes.pipeline.run_pipeline` on the model
  (``config.model_dir``, else the embedded tiny one) in ``config.dialect``: SFT, a rollout in the
  real sandbox, reward, one GRPO step, whose direction is always checked (a tie of the group's rewards is a failure).
  ``grpo_step`` and ``reward_fn`` are the parts under test (defaults: ours).
- :func:`check_conversion` checks a Megatron checkpoint against the HF model (``config.model_dir``,
  else the embedded tiny one): ``config.megatron_dir``, or else one that ``convert`` (default
  :func:`retool.checkpoint.convert`, the part under test) writes to a temporary directory. In both
  modes the self-test then reads that same checkpoint under a wrong rotary base
  (``stored_overrides``): the field comparison and the logits comparison must both catch it.
  ``tokens`` are the ids compared (default: 64 fixed random ids); an empty sequence is a failure.
  Without megatron-core installed the check fails and says how to install it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from retool.harness.verify import CheckResult, VerifyConfig

__all__ = ["check_conversion", "check_pipeline"]


def _model_and_tokenizer(config: VerifyConfig) -> tuple[Any, Any]:
    from retool.embedded.models import load_model, tiny_model

    return load_model(config.model_dir) if config.model_dir else tiny_model()


def check_pipeline(config: VerifyConfig, *, grpo_step: Callable[..., Any] | None = None,
                   reward_fn: Callable[[str, Any], Any] | None = None) -> CheckResult:
    """Tiny SFT -> rollout (real sandbox) -> reward -> one GRPO step, with every invariant on.

    ``grpo_step``: ``(policy, ref_model, batch, config, optimizer) -> StepStats`` (default
    :func:`retool.train.grpo.grpo_step`); ``reward_fn``: ``(response, label) -> float or Score``
    (default :func:`retool.reward.score`).
    """
    return asyncio.run(_pipeline(config, grpo_step, reward_fn))


async def _pipeline(config: VerifyConfig, grpo_step: Callable[..., Any] | None, reward_fn: Callable[..., Any] | None) -> CheckResult:
    from retool.recipes.pipeline import run_pipeline

    parts = {k: v for k, v in (("step", grpo_step), ("reward_fn", reward_fn)) if v is not None}
    model, tok = _model_and_tokenizer(config)
    out = await run_pipeline(model, tok, seed=config.seed, sandbox_allow_weaker=config.sandbox_allow_weaker,
                             dialect=config.dialect, **parts)
    (good, worse), (d_good, d_worse) = out.rewards, out.logprob_deltas
    return CheckResult(
        name="pipeline",
        ok=out.ok,
        figure=(f"SFT loss {out.sft_first_loss:.2f}->{out.sft_last_loss:.2f}; rewards {good:.2f}/{worse:.2f} "
                f"(tool-using/{out.worse_sample}); GRPO dlogp {d_good:+.2f}/{d_worse:+.2f}; "
                f"rollout-vs-trainer logprob drift {out.rollout_logprob_drift:.1e}"),
        detail="; ".join(out.problems),
        advice="" if out.ok else "run the failing stage's tests (tests/unit/train/, tests/unit/rollout/, tests/unit/recipes/)",
        data={"rewards": list(out.rewards), "logprob_deltas": list(out.logprob_deltas), "worse_sample": out.worse_sample},
    )


def check_conversion(config: VerifyConfig, *, convert: Callable[..., Any] | None = None,
                     tokens: Sequence[int] | None = None) -> CheckResult:
    """See the module contract; ``convert(hf_dir, out_dir)`` writes the checkpoint checked without ``--megatron``."""
    import importlib.util
    import tempfile

    if tokens is not None and len(tokens) == 0:
        return CheckResult(name="conversion", ok=False, figure="0 tokens",
                           detail="no tokens to compare the logits on (zero cases would pass any conversion)",
                           advice="compare on the default 64 tokens")
    if importlib.util.find_spec("megatron") is None:
        return CheckResult(name="conversion", ok=False, figure="megatron-core not installed",
                           advice="pip install 'retool-harness[megatron]' (megatron-core 0.16.1) to run the conversion check")

    from retool.checkpoint import check
    from retool.embedded.models import tiny_model_dir

    if convert is None:
        from retool.checkpoint import convert
    hf_dir = config.model_dir or str(tiny_model_dir())
    with tempfile.TemporaryDirectory(prefix="retool-verify-") as tmp:
        megatron_dir = config.megatron_dir
        if megatron_dir is None:
            megatron_dir = f"{tmp}/converted"
            convert(hf_dir, megatron_dir)
        report = check(hf_dir, megatron_dir, tokens=tokens)
        # Self-test: the same checkpoint read under Qwen3's default base (or 1e4 where that is right).
        wrong_base = 1_000_000 if report.expected.rotary_base != 1_000_000 else 10_000
        wrong = check(hf_dir, megatron_dir, tokens=tokens, stored_overrides={"rotary_base": wrong_base})
    by_field = any(not f.ok and f.field == "rotary_base" for f in wrong.fields)
    by_logits = wrong.logits is not None and not wrong.logits.ok
    self_test = [] if by_field else [f"a checkpoint with rotary base {wrong_base:g} passed the args comparison"]
    self_test += [] if by_logits else [f"a model run with rotary base {wrong_base:g} matched the HF logits"]
    diff = report.logits.max_abs_diff if report.logits is not None and report.logits.max_abs_diff is not None else float("nan")
    wrong_diff = wrong.logits.max_abs_diff if wrong.logits is not None and wrong.logits.max_abs_diff is not None else float("nan")
    return CheckResult(
        name="conversion",
        ok=report.ok and not self_test,
        figure=(f"rotary base {report.stored.rotary_base:g}, max |logit diff| {diff:.2e}; "
                f"self-test: base {wrong_base:g} {'caught' if not self_test else 'MISSED'} (|diff| {wrong_diff:.2e})"),
        detail="; ".join([*report.failures, *(f"self-test failed: {s}" for s in self_test)]),
        advice="" if report.ok else "reconvert with --rotary-base matching the HF config (rope_theta)",
        data={**report.to_dict(), "self_test": {"rotary_base": wrong_base, "caught_by_args": by_field,
                                                "caught_by_logits": by_logits, "max_abs_diff": wrong_diff,
                                                "megatron_dir": "--megatron" if config.megatron_dir else "converted"}},
    )
