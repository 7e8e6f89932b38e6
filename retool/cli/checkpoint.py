"""``retool checkpoint``: HF -> Megatron conversion, its check, the launch-flags check and the way back.

Contract:
- ``retool checkpoint convert HF_DIR OUT_DIR [--rotary-base N] [--force]``: converts and prints
  the stored args; exit 0. An override disagreeing with the config's rope_theta is refused (exit
  2, naming both values) unless ``--force``.
- ``retool checkpoint check HF_DIR MEGATRON_DIR [--atol X] [--json PATH] [--num-tokens N]
  [--args-only] [--device D]``: prints a table (field, Megatron value, HF value, status), the
  logits comparison and one line per failure; exit 0 when everything matches, 1 on any mismatch.
  ``--json`` also writes the full report.
  MEGATRON_DIR is the checkpoint root (``latest_checkpointed_iteration.txt`` + ``release/`` or
  ``iter_NNNNNNN/``), the iteration directory, or a flat torch_dist directory of older
  conversions; the table's first line says how miles/slime will read it.
- ``retool checkpoint check-args HF_DIR [--flags-file SCRIPT] [-- FLAG ...]``: the model a launch
  with these Megatron flags builds (a model script's ``MODEL_ARGS``, read without running it, then
  the flags after ``--``, the later winning) against the HF config, field by field; every
  mismatch names the flag, both values and the fix; exit 0 when all match, 1 on any mismatch.
- ``retool checkpoint export MEGATRON_DIR HF_DIR --like HF_CONFIG_DIR [--max-shard-gb G]``: the
  checkpoint's weights as safetensors next to the ``--like`` dir's config and tokenizer files;
  exit 0.
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
    flags = sub.add_parser("check-args", help="compare a launch's Megatron model flags with the HF config")
    flags.add_argument("hf_dir", metavar="HF_DIR")
    flags.add_argument("--flags-file", type=Path, default=None, metavar="SCRIPT",
                       help="a model script setting MODEL_ARGS=( ... ) (read, never run)")
    flags.add_argument("flags", nargs=argparse.REMAINDER, metavar="-- FLAG",
                       help="Megatron flags after --, e.g. -- --rotary-base 5000000 --num-layers 36")
    exp = sub.add_parser("export", help="write a Megatron checkpoint's weights as a Hugging Face model dir")
    exp.add_argument("megatron_dir", metavar="MEGATRON_DIR")
    exp.add_argument("out_dir", metavar="HF_DIR", help="must not exist or be empty")
    exp.add_argument("--like", required=True, metavar="HF_CONFIG_DIR",
                     help="the HF dir whose config, tokenizer and chat template the export takes")
    exp.add_argument("--max-shard-gb", type=float, default=5.0, metavar="G", help="largest safetensors file (default 5)")


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


def _table(fields: Any, header: str) -> list[str]:
    rows = [("field", header, "hf config", "status")]
    for f in fields:
        rows.append((f.field, _fmt(f.stored), f"{_fmt(f.expected)}  ({f.hf_name})", "ok" if f.ok else "MISMATCH"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def format_check_table(report: Any) -> str:
    lines = [f"layout: {report.layout} ({'ok' if report.layout_ok else 'MISMATCH'})", "",
             *_table(report.fields, "megatron (stored)")]
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


def _split_remainder(rest: list[str]) -> tuple[list[str], Path | None]:
    """``[--flags-file F] [--] FLAG ...`` after HF_DIR: (the Megatron flags, the flags file)."""
    head, sep, tail = (rest[:rest.index("--")], "--", rest[rest.index("--") + 1:]) if "--" in rest else (rest, "", [])
    flags_file = None
    while head[:1] == ["--flags-file"] or (head and head[0].startswith("--flags-file=")):
        option = head.pop(0)
        if "=" in option:
            value = option.partition("=")[2]
        elif head:
            value = head.pop(0)
        else:
            raise ValueError("--flags-file needs a path")
        flags_file = Path(value)
    return (head + tail if sep else head), flags_file


def _check_args(args: argparse.Namespace) -> int:
    from retool.checkpoint.args import megatron_args_from_hf
    from retool.checkpoint.conversion import read_hf_config
    from retool.checkpoint.launch import check_launch, parse_flags
    from retool.checkpoint.model_script import read_model_args

    cli_flags, flags_file = _split_remainder(list(args.flags))
    args.flags_file = flags_file or args.flags_file
    tokens, notes = [], []
    if args.flags_file is not None:
        script = read_model_args(args.flags_file.read_text(errors="replace"), source=str(args.flags_file))
        tokens, notes = list(script.tokens), list(script.notes)
    if not tokens and not cli_flags:
        raise ValueError("no flags to check: pass --flags-file SCRIPT and/or -- FLAG ...")
    flags = parse_flags([*tokens, *cli_flags])
    fields = check_launch(flags, megatron_args_from_hf(read_hf_config(args.hf_dir)))
    lines = [*_table(fields, "launch"), ""]
    lines += [f"note: {n}" for n in notes]
    if flags.ignored:
        lines.append(f"not model flags (not checked): {' '.join(sorted(set(flags.ignored)))}")
    bad = [f.message for f in fields if not f.ok]
    lines.append("PASS: the launch builds the HF model's architecture" if not bad
                 else f"FAIL: {len(bad)} mismatch(es)")
    lines.extend(f"  - {m}" for m in bad)
    print("\n".join(lines))
    return 1 if bad else 0


def _export(args: argparse.Namespace) -> int:
    from retool.checkpoint.hf_export import export

    if not args.max_shard_gb > 0:
        raise ValueError(f"--max-shard-gb must be positive, got {args.max_shard_gb}")
    report = export(args.megatron_dir, args.out_dir, like=args.like, max_shard_bytes=int(args.max_shard_gb * 1024**3))
    print(f"exported {report.megatron_dir} -> {report.hf_dir} ({report.num_tensors} tensors, "
          f"{report.num_bytes / 1e9:.2f} GB in {len(report.files)} file(s), {report.seconds:.1f} s; "
          f"config and tokenizer from {args.like})")
    return 0


_ACTIONS = {"convert": _convert, "check": _check, "check-args": _check_args, "export": _export}


def run(args: argparse.Namespace) -> int:
    _quiet_megatron()
    try:
        return _ACTIONS[args.action](args)
    except (ValueError, FileNotFoundError, FileExistsError, KeyError) as exc:
        print(f"retool checkpoint {args.action}: error: {exc}", file=sys.stderr)
        return 2
