"""``retool checkpoint``: HF -> Megatron conversion and the rotary-base check.

Contract:
- ``retool checkpoint convert HF_DIR OUT_DIR [--rotary-base N] [--force]``: converts and prints
  the stored args; exit 0. An override disagreeing with the config's rope_theta is refused (exit
  2, naming both values) unless ``--force``.
- ``retool checkpoint check HF_DIR MEGATRON_DIR [--atol X] [--json PATH] [--num-tokens N]
  [--args-only] [--device D]``: prints a table (field, Megatron value, HF value, status), the
  logits comparison and one line per failure; exit 0 when everything matches, 1 on any mismatch.
  ``--json`` also writes the full report.
- Bad paths or arguments: a one-line error on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    conv = sub.add_parser("convert", help="convert a Hugging Face Qwen3 dir to a megatron-core torch_dist checkpoint")
    conv.add_argument("hf_dir", metavar="HF_DIR")
    conv.add_argument("out_dir", metavar="OUT_DIR", help="must not exist or be empty")
    conv.add_argument("--rotary-base", type=float, default=None, metavar="N",
                      help="RoPE base to store (default: the HF config's rope_theta)")
    conv.add_argument("--force", action="store_true",
                      help="store --rotary-base even where it disagrees with the HF config")
    chk = sub.add_parser("check", help="compare a converted checkpoint's args and logits to the HF original")
    chk.add_argument("hf_dir", metavar="HF_DIR")
    chk.add_argument("megatron_dir", metavar="MEGATRON_DIR")
    chk.add_argument("--atol", type=float, default=None, metavar="X", help="max |logit difference| allowed (default 1e-3)")
    chk.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the full report as JSON")
    chk.add_argument("--num-tokens", type=int, default=None, metavar="N", help="length of the probe sequence (default 64)")
    chk.add_argument("--args-only", action="store_true", help="compare the stored args only (no models built)")
    chk.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")


def _quiet_megatron() -> None:
    warnings.filterwarnings("ignore", module=r"megatron(\..*)?$")
    warnings.filterwarnings("ignore", message=r".*(Transformer Engine|Apex).*")
    warnings.filterwarnings("ignore", message=r".*DTensor.*", category=FutureWarning)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - transformers is a hard dependency
        pass


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e18:
        return str(int(value))
    return str(value)


def format_check_table(report: Any) -> str:
    rows = [("field", "megatron (stored)", "hf config", "status")]
    for f in report.fields:
        rows.append((f.field, _fmt(f.stored), f"{_fmt(f.expected)}  ({f.hf_name})", "ok" if f.ok else "MISMATCH"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if report.logits is not None:
        lines.append("")
        lines.append(f"logits ({report.logits.device}): {'ok' if report.logits.ok else 'MISMATCH'}: {report.logits.message}")
    lines.append("")
    if report.ok:
        lines.append("PASS: the megatron checkpoint matches its Hugging Face original")
    else:
        lines.append(f"FAIL: {len(report.failures)} problem(s)")
        lines.extend(f"  - {line}" for line in report.failures)
    return "\n".join(lines)


def _convert(args: argparse.Namespace) -> int:
    from retool.checkpoint import convert

    report = convert(args.hf_dir, args.out_dir, rotary_base=args.rotary_base, force=args.force)
    a = report.args
    print(f"converted {report.hf_dir} -> {report.out_dir} ({report.num_tensors} tensors, "
          f"{report.num_parameters:,} parameters, {report.seconds:.1f} s)")
    print(f"  rotary_base {_fmt(a.rotary_base)} (HF rope_theta {_fmt(report.config_rope_theta)})"
          + ("  ** forced override: generations will be garbled **" if report.forced_rotary_base else ""))
    print(f"  layers {a.num_layers}, hidden {a.hidden_size}, ffn {a.ffn_hidden_size}, heads {a.num_attention_heads}, "
          f"query groups {a.num_query_groups}, kv channels {a.kv_channels}, vocab {a.vocab_size} "
          f"(padded {a.padded_vocab_size}), norm eps {a.norm_epsilon:g}, tied embeddings {a.tie_embeddings}, "
          f"dtype {a.params_dtype}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from retool.checkpoint import DEFAULT_ATOL, check, default_tokens, load_stored_args

    tokens = None
    if args.num_tokens is not None:
        if args.num_tokens <= 0:
            raise ValueError(f"--num-tokens must be positive, got {args.num_tokens}")
        from retool.checkpoint.args import megatron_args_from_hf
        from retool.checkpoint.conversion import read_hf_config

        tokens = default_tokens(megatron_args_from_hf(read_hf_config(args.hf_dir)).vocab_size, args.num_tokens)
    load_stored_args(args.megatron_dir)  # a bad path fails here, before any model is built
    report = check(args.hf_dir, args.megatron_dir, tokens=tokens,
                   atol=DEFAULT_ATOL if args.atol is None else args.atol,
                   device=args.device, compare_logits=not args.args_only)
    print(format_check_table(report))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return 0 if report.ok else 1


def run(args: argparse.Namespace) -> int:
    _quiet_megatron()
    try:
        return _convert(args) if args.action == "convert" else _check(args)
    except (ValueError, FileNotFoundError, FileExistsError, KeyError) as exc:
        print(f"retool checkpoint {args.action}: error: {exc}", file=sys.stderr)
        return 2
