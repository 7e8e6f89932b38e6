"""``retool train``: SFT and GRPO on a transformers model (the tiny embedded default or a local dir).

    retool train sft DATA.jsonl --model DIR|tiny --out DIR [--epochs N --lr X --max-steps N ...]
    retool train rl PROMPTS.jsonl --model DIR|tiny --out DIR [--iterations N --n-samples N ...]

``DATA.jsonl`` may hold prepared records (``retool data sft``) or raw ReTool-SFT rows (converted
on the fly); ``PROMPTS.jsonl`` prepared ``{prompt, label}`` records or raw DAPO / AIME rows. Either
may be ``sample`` for the shipped sample. The runs are :mod:`retool.recipes.sft` and
:mod:`retool.recipes.grpo`; RL runs the multi-turn rollout (:mod:`retool.rollout`) on the policy itself (``HFEngine``), executes code in the kernel-isolated ``PythonSandbox``
(``--sandbox naive`` runs it unisolated, for hosts without the kernel layers: never on untrusted
models) and scores with :func:`retool.reward.score`. Checkpoints go to ``OUT/final`` (and
``OUT/step-N`` / ``OUT/iter-N``), metrics lines to ``OUT/metrics.jsonl`` unless ``--metrics``.

Every option that sets a config field is derived from that config (``SFT_FLAGS``, ``RL_FLAGS``,
``ROLLOUT_FLAGS``, ``RUN_FLAGS`` below): its type, default and help text are the dataclass field's,
so ``retool train rl`` runs the recipe's defaults (GRPO groups of 8, 16 turns, an 8192-token
response budget) unless told otherwise. ``--seed`` seeds the rollout too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from retool.cli.flags import ConfigFlag, add_config_flags, config_from_flags
from retool.recipes.grpo import GRPORun
from retool.rollout.config import RolloutConfig
from retool.train.grpo import RLConfig
from retool.train.sft import SFTConfig

__all__ = ["RL_FLAGS", "ROLLOUT_FLAGS", "RUN_FLAGS", "SFT_FLAGS", "add_arguments", "grpo_run_from_args", "run"]


_COMMON = (
    ConfigFlag("--metrics", "metrics_path", metavar="PATH"),
    ConfigFlag("--resume", "resume_from", metavar="DIR"),
    ConfigFlag("--device", "device"),
    ConfigFlag("--seed", "seed"),
    ConfigFlag("--progress", "progress"),
)
SFT_FLAGS: tuple[ConfigFlag, ...] = (
    ConfigFlag("--epochs", "epochs"),
    ConfigFlag("--lr", "lr"),
    ConfigFlag("--batch-size", "batch_size"),
    ConfigFlag("--max-steps", "max_steps"),
    ConfigFlag("--max-length", "max_length_tokens", metavar="TOKENS"),
    ConfigFlag("--warmup-steps", "warmup_steps"),
    ConfigFlag("--save-every", "save_every_steps", metavar="STEPS"),
    ConfigFlag("--dialect", "dialect"),
    *_COMMON,
)
RL_FLAGS: tuple[ConfigFlag, ...] = (
    ConfigFlag("--iterations", "iterations"),
    ConfigFlag("--prompts-per-iteration", "prompts_per_iteration"),
    ConfigFlag("--n-samples", "grpo.n_samples_per_prompt"),
    ConfigFlag("--lr", "lr"),
    ConfigFlag("--kl-coef", "grpo.kl_coef"),
    ConfigFlag("--save-every", "save_every_iterations", metavar="ITERATIONS"),
    *_COMMON,
)
ROLLOUT_FLAGS: tuple[ConfigFlag, ...] = (
    ConfigFlag("--n-samples", "n_samples_per_prompt"),
    ConfigFlag("--temperature", "sampling.temperature"),
    ConfigFlag("--max-new-tokens", "sampling.max_new_tokens", metavar="TOKENS"),
    ConfigFlag("--max-response-tokens", "rollout_max_response_len", metavar="TOKENS"),
    ConfigFlag("--max-context-tokens", "max_context_len", metavar="TOKENS"),
    ConfigFlag("--max-turns", "max_turns"),
    ConfigFlag("--max-tool-calls", "max_tool_calls"),
    ConfigFlag("--dialect", "dialect"),
)
RUN_FLAGS: tuple[ConfigFlag, ...] = (
    ConfigFlag("--ref-model", "ref_model", metavar="same|none|DIR"),
    ConfigFlag("--sandbox", "sandbox"),
    ConfigFlag("--sandbox-allow-weaker", "sandbox_allow_weaker"),
    ConfigFlag("--sandbox-url", "sandbox_url", metavar="URL"),
    ConfigFlag("--sandbox-token-file", "sandbox_token_file", metavar="FILE"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="kind", required=True)
    sft = sub.add_parser("sft", help="supervised fine-tuning on tool-calling chats")
    sft.add_argument("data", metavar="DATA.jsonl", help="prepared SFT records or raw ReTool-SFT rows ('sample')")
    rl = sub.add_parser("rl", help="GRPO with multi-turn code-interpreter rollouts")
    rl.add_argument("prompts", metavar="PROMPTS.jsonl", help="prepared {prompt, label} records or raw DAPO/AIME rows ('sample')")
    for p in (sft, rl):
        p.add_argument("--model", required=True, help="a local Hugging Face dir, or 'tiny'")
        p.add_argument("--out", required=True, metavar="DIR", help="checkpoints and metrics go here")
    add_config_flags(sft, {SFTConfig: SFT_FLAGS})
    add_config_flags(rl, {RLConfig: RL_FLAGS, RolloutConfig: ROLLOUT_FLAGS, GRPORun: RUN_FLAGS})


def _run_fields(args: argparse.Namespace) -> dict[str, object]:
    """What every run sets itself: where it writes (metrics default to OUT/metrics.jsonl)."""
    return {"out_dir": args.out, "metrics_path": args.metrics or str(Path(args.out) / "metrics.jsonl")}


def _run_sft(args: argparse.Namespace) -> int:
    from retool.recipes.sft import run_sft

    config = config_from_flags(SFTConfig, args, SFT_FLAGS, fixed=_run_fields(args))
    result = run_sft(args.data, args.model, config)
    print(f"sft: {result.steps} steps, loss {result.first_loss:.4f} -> {result.last_loss:.4f}, "
          f"{result.tokens_trained} tokens, {result.wall_s:.1f} s\n-> {result.checkpoint}")
    return 0


def grpo_run_from_args(args: argparse.Namespace) -> GRPORun:
    """The GRPO run the parsed ``retool train rl`` flags describe (the rollout seeded with ``--seed``)."""
    rl = config_from_flags(RLConfig, args, RL_FLAGS, fixed=_run_fields(args))
    rollout = config_from_flags(RolloutConfig, args, ROLLOUT_FLAGS, fixed={"seed": args.seed})
    return config_from_flags(GRPORun, args, RUN_FLAGS, fixed={"rl": rl, "rollout": rollout})


def _run_rl(args: argparse.Namespace) -> int:
    import asyncio

    from retool.recipes.grpo import run_grpo

    result = asyncio.run(run_grpo(args.prompts, args.model, grpo_run_from_args(args)))
    print(f"rl: {result.steps} iterations, {result.tokens_trained} tokens trained, {result.wall_s:.1f} s\n-> {result.checkpoint}")
    return 0


def run(args: argparse.Namespace) -> int:
    from retool.data import DataError

    try:
        return _run_sft(args) if args.kind == "sft" else _run_rl(args)
    except (DataError, FileNotFoundError, ValueError) as err:
        print(f"retool train: {err}", file=sys.stderr)
        return 1
