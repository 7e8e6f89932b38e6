"""``retool train``: SFT and GRPO on a transformers model (the tiny embedded default or a local dir).

    retool train sft DATA.jsonl --model DIR|tiny --out DIR [--epochs N --lr X --max-steps N ...]
    retool train rl PROMPTS.jsonl --model DIR|tiny --out DIR [--iterations N --n-samples N ...]

``DATA.jsonl`` may hold prepared records (``retool data sft``) or raw ReTool-SFT rows (converted
on the fly); ``PROMPTS.jsonl`` prepared ``{prompt, label}`` records or raw DAPO / AIME rows. Either
may be ``sample`` for the shipped sample. The runs are :mod:`retool.recipes.sft` and :mod:`retool.recipes.grpo`; RL runs the multi-turn rollout (:mod:`retool.rollout`)
on the policy itself (``HFEngine``), executes code in the kernel-isolated ``PythonSandbox``
(``--sandbox naive`` runs it unisolated, for hosts without the kernel layers: never on untrusted
models) and scores with :func:`retool.reward.score`. Checkpoints go to ``OUT/final`` (and
``OUT/step-N`` / ``OUT/iter-N``), metrics lines to ``OUT/metrics.jsonl`` unless ``--metrics``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="kind", required=True)
    sft = sub.add_parser("sft", help="supervised fine-tuning on tool-calling chats")
    sft.add_argument("data", metavar="DATA.jsonl", help="prepared SFT records or raw ReTool-SFT rows ('sample')")
    sft.add_argument("--epochs", type=int, default=3)
    sft.add_argument("--lr", type=float, default=1e-5)
    sft.add_argument("--batch-size", type=int, default=4)
    sft.add_argument("--max-steps", type=int, default=None)
    sft.add_argument("--max-length", type=int, default=None, help="cut examples to this many tokens")
    sft.add_argument("--warmup-steps", type=int, default=0)
    sft.add_argument("--save-every", type=int, default=None, help="checkpoint every N steps")
    rl = sub.add_parser("rl", help="GRPO with multi-turn code-interpreter rollouts")
    rl.add_argument("prompts", metavar="PROMPTS.jsonl", help="prepared {prompt, label} records or raw DAPO/AIME rows ('sample')")
    rl.add_argument("--ref-model", default="same", help="reference model for KL: 'same' (a frozen copy), 'none' or a dir")
    rl.add_argument("--iterations", type=int, default=2)
    rl.add_argument("--prompts-per-iteration", type=int, default=2)
    rl.add_argument("--n-samples", type=int, default=4, help="samples per prompt (GRPO group size)")
    rl.add_argument("--lr", type=float, default=1e-6)
    rl.add_argument("--kl-coef", type=float, default=0.0)
    rl.add_argument("--temperature", type=float, default=1.0)
    rl.add_argument("--max-new-tokens", type=int, default=256, help="per turn")
    rl.add_argument("--max-response-tokens", type=int, default=1024, help="model + tool tokens after the prompt")
    rl.add_argument("--max-turns", type=int, default=8)
    rl.add_argument("--sandbox", choices=("isolated", "naive"), default="isolated")
    rl.add_argument("--sandbox-allow-weaker", action="store_true",
                    help="start the isolated sandbox even where some kernel layer is missing (see `retool sandbox info`)")
    rl.add_argument("--save-every", type=int, default=None, help="checkpoint every N iterations")
    for p in (sft, rl):
        p.add_argument("--model", required=True, help="a local Hugging Face dir, or 'tiny'")
        p.add_argument("--out", required=True, metavar="DIR", help="checkpoints and metrics go here")
        p.add_argument("--metrics", default=None, metavar="PATH", help="metrics JSONL (default OUT/metrics.jsonl)")
        p.add_argument("--resume", default=None, metavar="DIR", help="resume from a checkpoint written by this command")
        p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda when present)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _metrics_path(args: argparse.Namespace) -> str:
    return args.metrics or str(Path(args.out) / "metrics.jsonl")


def _run_sft(args: argparse.Namespace) -> int:
    from retool.recipes.sft import run_sft
    from retool.train.sft import SFTConfig

    config = SFTConfig(
        epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, max_steps=args.max_steps,
        max_length_tokens=args.max_length, warmup_steps=args.warmup_steps, seed=args.seed, device=args.device,
        out_dir=args.out, save_every_steps=args.save_every, metrics_path=_metrics_path(args),
        progress=not args.no_progress, resume_from=args.resume,
    )
    result = run_sft(args.data, args.model, config)
    print(f"sft: {result.steps} steps, loss {result.first_loss:.4f} -> {result.last_loss:.4f}, "
          f"{result.tokens_trained} tokens, {result.wall_s:.1f} s\n-> {result.checkpoint}")
    return 0


def _run_rl(args: argparse.Namespace) -> int:
    import asyncio

    from retool.recipes.grpo import GRPORun, run_grpo
    from retool.rollout.config import RolloutConfig, SamplingParams
    from retool.train.grpo import RLConfig
    from retool.train.losses import GRPOConfig

    run = GRPORun(
        rl=RLConfig(
            grpo=GRPOConfig(n_samples_per_prompt=args.n_samples, kl_coef=args.kl_coef), lr=args.lr, device=args.device,
            iterations=args.iterations, prompts_per_iteration=args.prompts_per_iteration, seed=args.seed,
            out_dir=args.out, save_every_iterations=args.save_every, metrics_path=_metrics_path(args),
            progress=not args.no_progress, resume_from=args.resume,
        ),
        rollout=RolloutConfig(
            n_samples_per_prompt=args.n_samples, max_turns=args.max_turns,
            rollout_max_response_len=args.max_response_tokens, max_context_len=args.max_response_tokens + 2048,
            seed=args.seed, sampling=SamplingParams(temperature=args.temperature, max_new_tokens=args.max_new_tokens),
        ),
        ref_model=args.ref_model, sandbox=args.sandbox, sandbox_allow_weaker=args.sandbox_allow_weaker,
    )
    result = asyncio.run(run_grpo(args.prompts, args.model, run))
    print(f"rl: {result.steps} iterations, {result.tokens_trained} tokens trained, {result.wall_s:.1f} s\n-> {result.checkpoint}")
    return 0


def run(args: argparse.Namespace) -> int:
    from retool.data import DataError

    try:
        return _run_sft(args) if args.kind == "sft" else _run_rl(args)
    except (DataError, FileNotFoundError, ValueError) as err:
        print(f"retool train: {err}", file=sys.stderr)
        return 1
