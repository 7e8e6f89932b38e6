"""``retool bench``: measure, save and gate; plus the workloads the ``benchmarks/`` suite shares.

Subcommands:
- ``retool bench run [--json PATH] [--quick] [--only GROUP,...]``: runs each measurement directly
  (parser vs a naive regex parser, masking vs per-segment re-tokenization, answer checking vs
  math-verify, sandbox vs spawn-per-call, rollout overlapped vs serial, train step vs a plain HF
  step), prints the table and writes a :mod:`retool.bench` results file. A measurement that cannot
  run here (math-verify missing, a part not installed) is reported as skipped with the reason.
- ``retool bench compare OLD NEW [--max-regression 10%] [--group-max-regression GROUP=F ...]
  [--allow-missing]``: the gate; exit 1 on a ratio regression (or a benchmark missing from NEW
  unless allowed), 2 on unreadable input. Either file may be a results file or
  ``pytest --benchmark-json`` output (compare files made the same way: the routes share names,
  but workload sizes differ). Wall-clock groups (``sandbox-wall``) move with the machine's load;
  on a shared runner give them their own threshold, e.g. ``--group-max-regression sandbox-wall=60%``.
- ``retool bench sandbox [--concurrency 1,8,32,128] [--snippet trivial|cpu|import] [--n N]``:
  executions/s and p50/p99 latency of our sandbox against the spawn-per-call baseline
  (delegates to :mod:`retool.sandbox_bench`).

Every ratio is ours over the baseline measured in the same process, interleaved round by round,
taking each side's best round of process CPU time (wall time for the sandbox, whose work runs in
other processes), so load on a shared machine hits both alike and mostly not at all. Workload builders and
measurement functions (:func:`parser_workload`, :func:`naive_parse`, :func:`masking_workload`,
:func:`naive_mask`, :func:`measure_parser`, :func:`measure_masking`, :func:`measure_train_step`)
are public so the pytest benchmarks time exactly what this command times.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from retool.bench import BenchResult, make_result

GROUPS = ("parser", "masking", "answer", "sandbox", "rollout", "train")


def best_seconds(sides: Sequence[Callable[[], Any] | Sequence[Callable[[], Any]]], rounds: int,
                 clock: Callable[[], float] = time.process_time) -> list[float]:
    """Each side's time: the sum over its chunks of each chunk's best over ``rounds`` rounds.

    A side is one callable or a list of chunk callables (all sides the same length); chunks are
    interleaved across sides (ours chunk k, baseline chunk k, ...), so both meet the same machine
    state at a fine grain, and each side is warmed up once first. The default clock is this
    process's CPU time: on a shared, loaded machine the time the scheduler gives other jobs does
    not enter. Use ``time.perf_counter`` for work spread over other processes."""
    chunked = [list(s) if isinstance(s, Sequence) else [s] for s in sides]
    if len({len(c) for c in chunked}) != 1 or not chunked[0]:
        raise ValueError(f"every side needs the same number (>= 1) of chunks, got {[len(c) for c in chunked]}")
    for chunks in chunked:
        for fn in chunks:
            fn()
    best = [[float("inf")] * len(chunked[0]) for _ in chunked]
    for _ in range(max(1, rounds)):
        for k in range(len(chunked[0])):
            for side, chunks in enumerate(chunked):
                start = clock()
                chunks[k]()
                best[side][k] = min(best[side][k], clock() - start)
    return [max(sum(b), 1e-9) for b in best]


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


# ---- parser ----------------------------------------------------------------------------------

_WORDS = ("the", "sum", "of", "roots", "we", "compute", "modulo", "so", "then", "check", "value", "integer",
          "polynomial", "therefore", "let", "consider", "case", "which", "gives", "count", "each", "term")


def _prose(rng: random.Random, n_chars: int) -> str:
    words: list[str] = []
    size = 0
    while size < n_chars:
        words.append(rng.choice(_WORDS) if rng.random() > 0.1 else f"${rng.randint(2, 999)}x^{rng.randint(2, 5)}$")
        size += len(words[-1]) + 1
    return " ".join(words)


def _code(rng: random.Random, n_lines: int) -> str:
    lines = ["from sympy import symbols, solve, Rational", "x = symbols('x')"]
    for i in range(n_lines):
        lines.append(f"v{i} = sum(k**{rng.randint(2, 4)} % {rng.randint(7, 97)} for k in range(1, {rng.randint(10, 10**4)}))")
    lines.append('print(f"result: {' + " + ".join(f"v{i}" for i in range(n_lines)) + '}")')
    return "\n".join(lines)


def parser_workload(n_transcripts: int, *, seed: int = 0) -> list[str]:
    """Multi-turn ReTool transcripts: 1-4 tool turns of prose (300-1200 chars), code (4-12 lines),
    tool output, then a boxed answer; rendered with the project's own grammar functions."""
    from retool.grammar import CODE_INTERPRETER, format_tool_call, tool_turn_text

    rng = random.Random(seed)
    out = []
    for _ in range(n_transcripts):
        parts = ["<think>\n" + _prose(rng, rng.randint(300, 1200)) + "\n"]
        for _turn in range(rng.randint(1, 4)):
            call = format_tool_call(CODE_INTERPRETER.name, {"code": _code(rng, rng.randint(4, 12))})
            parts.append(call + tool_turn_text([f"result: {rng.randint(0, 10**9)}"]))
            parts.append(_prose(rng, rng.randint(300, 1200)) + "\n")
        parts.append(f"</think>\nSo the answer is \\boxed{{{rng.randint(0, 999)}}}.")
        out.append("".join(parts))
    return out


_NAIVE_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.S)
_NAIVE_BOX = re.compile(r"\\boxed\{(.*?)\}")


def naive_parse(text: str) -> tuple[list[Any], str | None]:
    """The field's parser (regex + json.loads): the calls it decodes and the last ``\\boxed{...}``.
    Wrong on hazardous input: code holding ``</tool_call>`` or a brace inside the box."""
    calls = []
    for raw in _NAIVE_CALL.findall(text):
        try:
            calls.append(json.loads(raw))
        except json.JSONDecodeError:
            calls.append(None)
    boxes = _NAIVE_BOX.findall(text)
    return calls, (boxes[-1] if boxes else None)


def measure_parser(*, n_transcripts: int = 200, rounds: int = 5) -> BenchResult:
    from retool.grammar import parse_trace

    texts = parser_workload(n_transcripts)
    megabytes = sum(len(t.encode()) for t in texts) / 1e6
    groups = _chunks(texts, 5)
    ours = [lambda g=g: [parse_trace(t) for t in g] for g in groups]
    naive = [lambda g=g: [naive_parse(t) for t in g] for g in groups]
    ours_s, naive_s = best_seconds([ours, naive], rounds)
    return make_result(name="parser_mb_per_s", group="parser", value=megabytes / ours_s, baseline=megabytes / naive_s,
                       unit="MB/s")


# ---- masking ---------------------------------------------------------------------------------


def masking_workload(tokenizer: Any, n_trajectories: int, *, seed: int = 0) -> list[tuple[tuple[Any, ...], int, str]]:
    """Rollout-shaped trajectories as ``(token segments, prompt_len, response_text)``: a chat prompt,
    then 1-4 model turns (prose + a tool call) each followed by a tool turn, then a boxed answer."""
    from retool.grammar import CODE_INTERPRETER, format_tool_call, render_tools_system_prompt, tool_turn_text
    from retool.masking import TokenSegment

    def enc(text: str) -> tuple[int, ...]:
        return tuple(tokenizer.encode(text, add_special_tokens=False))

    rng = random.Random(seed)
    out = []
    for _ in range(n_trajectories):
        prompt = (f"<|im_start|>system\n{render_tools_system_prompt()}<|im_end|>\n<|im_start|>user\n"
                  f"{_prose(rng, 200)}<|im_end|>\n<|im_start|>assistant\n")
        segs = [TokenSegment("prompt", enc(prompt))]
        for _turn in range(rng.randint(1, 4)):
            code = format_tool_call(CODE_INTERPRETER.name, {"code": _code(rng, rng.randint(4, 10))})
            segs.append(TokenSegment("model", enc(_prose(rng, rng.randint(200, 800)) + "\n" + code)))
            segs.append(TokenSegment("tool", enc(tool_turn_text([f"result: {rng.randint(0, 10**9)}"]))))
        segs.append(TokenSegment("model", enc(_prose(rng, 300) + f" \\boxed{{{rng.randint(0, 999)}}}<|im_end|>")))
        response = tokenizer.decode([i for s in segs[1:] for i in s.ids], skip_special_tokens=False)
        out.append((tuple(segs), len(segs[0].ids), response))
    return out


_TOOL_TURN = re.compile(r"(<\|im_end\|>\n<\|im_start\|>user\n<tool_response>.*?</tool_response>"
                        r"<\|im_end\|>\n<\|im_start\|>assistant\n)", re.S)


def naive_mask(tokenizer: Any, prompt_ids: Sequence[int], response: str) -> tuple[list[int], list[int]]:
    """The field's way: split the decoded response at tool turns, re-tokenize each piece, mask tool
    pieces 0. Slower, and its ids can differ from what the model sampled (BPE merges at boundaries)."""
    ids, mask = list(prompt_ids), [0] * len(prompt_ids)
    for k, piece in enumerate(_TOOL_TURN.split(response)):
        if piece:
            piece_ids = tokenizer.encode(piece, add_special_tokens=False)
            ids += piece_ids
            mask += [k % 2 == 0] * len(piece_ids)
    return ids, [int(m) for m in mask]


def measure_masking(*, n_trajectories: int = 32, rounds: int = 5, tokenizer: Any = None) -> BenchResult:
    from retool.masking import build_ids_and_mask, verify_loss_mask

    if tokenizer is None:
        from retool.tokenizer import load_qwen3_tokenizer

        tokenizer = load_qwen3_tokenizer()
    work = masking_workload(tokenizer, n_trajectories)
    n_tokens = sum(len(s.ids) for segs, _, _ in work for s in segs)

    def ours(segs: Sequence[Any], prompt_len: int) -> None:
        ids, mask = build_ids_and_mask(segs)
        if not verify_loss_mask(ids, mask, tokenizer, prompt_len).ok:
            raise AssertionError("our mask failed its own check on a well-formed trajectory")

    ours_s, field_s = best_seconds([[lambda w=w: ours(w[0], w[1]) for w in work],
                                    [lambda w=w: naive_mask(tokenizer, w[0][0].ids, w[2]) for w in work]], rounds)
    return make_result(name="masking_tokens_per_s", group="masking", value=n_tokens / ours_s,
                       baseline=n_tokens / field_s, unit="tokens/s")


# ---- train step ------------------------------------------------------------------------------

# Dense bf16 tensor-core peak FLOP/s by card-name fragment (vendor datasheets, without sparsity);
# the first fragment found in torch.cuda.get_device_name() wins.
PEAK_BF16_FLOPS: tuple[tuple[str, float], ...] = (
    ("H200", 989e12), ("H100 PCIe", 756e12), ("H100 NVL", 835e12), ("H100", 989e12), ("A100", 312e12),
)
GPU_BENCH_MODEL = {"num_layers": 8, "hidden_size": 1024, "intermediate_size": 2816, "num_attention_heads": 16,
                   "num_key_value_heads": 8, "head_dim": 64}


def peak_bf16_flops(device_name: str) -> float | None:
    """The card's dense bf16 peak, or None for an unknown card (then no MFU is reported)."""
    return next((peak for fragment, peak in PEAK_BF16_FLOPS if fragment in device_name), None)


def train_step_fns(model: Any, vocab_size: int, *, batch: int, seq_len: int, bf16: bool = False
                   ) -> tuple[Callable[[], None], Callable[[], None]]:
    """``(ours, plain)`` one optimizer step each on the same random batch on the model's device.
    Ours: :func:`retool.trainer_sft.sft_batch_loss` (masked float32 CE) + backward + AdamW; plain:
    the Hugging Face ``labels=`` loss + backward + AdamW, the reference any trainer is held to."""
    import torch

    from retool.trainer import autocast
    from retool.trainer_sft import sft_batch_loss

    device = next(model.parameters()).device
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab_size, (batch, seq_len), generator=gen).to(device)  # (B, T)
    attn = torch.ones_like(ids)  # (B, T)
    loss_mask = (torch.arange(seq_len, device=device) >= seq_len // 4).expand(batch, seq_len).long()  # (B, T)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def ours() -> None:
        loss, _ = sft_batch_loss(model, ids, attn, loss_mask, bf16=bf16)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync()

    def plain() -> None:
        with autocast(device, bf16):
            loss = model(input_ids=ids, attention_mask=attn, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync()

    return ours, plain


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """One intra-op thread for the duration: more oversubscribe a small shared box and swamp a
    CPU ratio with scheduling noise."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def measure_train_step(*, batch: int = 4, seq_len: int = 256, rounds: int = 5) -> BenchResult:
    """Tokens/s of our SFT step on the tiny model on CPU (one intra-op thread) against the plain HF
    step on the same batch: a ratio near 1, what our loss path costs over the reference."""
    from retool.models import tiny_model

    with one_torch_thread():
        model, _ = tiny_model()
        ours_s, plain_s = best_seconds(train_step_fns(model, model.config.vocab_size, batch=batch, seq_len=seq_len), rounds)
    n = batch * seq_len
    return make_result(name="train_step_cpu_tokens_per_s", group="train", value=n / ours_s, baseline=n / plain_s,
                       unit="tokens/s")


def measure_train_step_gpu(*, batch: int = 8, seq_len: int = 1024, rounds: int = 10) -> list[BenchResult]:
    """On CUDA, a ~100M-parameter Qwen3-shaped model (:data:`GPU_BENCH_MODEL`, tiny vocabulary) in
    bf16 autocast: our step's tokens/s against the plain HF step, and MFU = 6 * params * tokens /
    step time / the card's bf16 peak (reported as value = achieved FLOP/s, baseline = peak)."""
    import torch

    from retool.models import TinyModelConfig, build_tiny_model
    from retool.tokenizer import tiny_tokenizer

    if not torch.cuda.is_available():
        raise RuntimeError("measure_train_step_gpu needs a CUDA device; none is available")
    name = torch.cuda.get_device_name(0)
    vocab = len(tiny_tokenizer())
    model = build_tiny_model(vocab, TinyModelConfig(**GPU_BENCH_MODEL)).to("cuda")
    n_params = sum(p.numel() for p in model.parameters())
    ours_s, plain_s = best_seconds(train_step_fns(model, vocab, batch=batch, seq_len=seq_len, bf16=True), rounds)
    n = batch * seq_len
    out = [make_result(name="train_step_gpu_tokens_per_s", group="train", value=n / ours_s, baseline=n / plain_s,
                       unit=f"tokens/s on {name}")]
    peak = peak_bf16_flops(name)
    if peak is not None:
        out.append(make_result(name="train_step_gpu_mfu", group="train", value=6 * n_params * n / ours_s,
                               baseline=peak, unit=f"FLOP/s of the bf16 peak on {name}"))
    return out


# ---- the other areas' measurements (their modules own the workloads) ---------------------------


def measure_answer(*, quick: bool) -> BenchResult:
    import importlib.util

    from retool import validate

    if importlib.util.find_spec("math_verify") is None:  # its checker would fail fast and look quick
        raise ImportError("math-verify is not installed (pip install math-verify), no baseline to measure against")

    mix = validate.benchmark_mix(validate.load_corpus())  # whole, even when quick: the ratio depends on the mix
    validate.measure_latencies_s(validate.retool_checker, mix)  # starts our symbolic worker
    validate.measure_latencies_s(validate.math_verify_checker, mix[:5])  # math-verify's imports
    groups = _chunks(mix, 4)
    # CPU time: on a loaded box the wall time of our checks is mostly waiting for the symbolic
    # worker process to be scheduled; the worker's own CPU time is added from its /proc counters.
    rounds = 2 if quick else 5
    worker_before = _answer_worker_cpu_s()
    ours_s, theirs_s = best_seconds(
        [[lambda g=g: validate.measure_latencies_s(validate.retool_checker, g) for g in groups],
         [lambda g=g: validate.measure_latencies_s(validate.math_verify_checker, g) for g in groups]], rounds)
    ours_s += (_answer_worker_cpu_s() - worker_before) / (rounds + 1)  # per pass (warm-up included)
    return make_result(name="answer_checks_per_s", group="answer", value=len(mix) / ours_s,
                       baseline=len(mix) / theirs_s, unit="checks/s (CPU time)")


def _answer_worker_cpu_s() -> float:
    import psutil

    from retool.answer_worker import default_checker

    total = 0.0
    for pid in default_checker().worker_pids():
        try:
            cpu = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += cpu.user + cpu.system
    return total


def _measure(group: str, quick: bool) -> list[BenchResult]:
    if group == "parser":
        return [measure_parser(n_transcripts=40 if quick else 200, rounds=3 if quick else 7)]
    if group == "masking":
        return [measure_masking(n_trajectories=8 if quick else 32, rounds=2 if quick else 5)]
    if group == "answer":
        return [measure_answer(quick=quick)]
    if group == "train":
        import torch

        gpu = measure_train_step_gpu(rounds=3 if quick else 10) if torch.cuda.is_available() else []
        return [measure_train_step(rounds=5 if quick else 20), *gpu]
    if group == "sandbox":
        return _sandbox_results(quick)
    if group == "rollout":
        return _rollout_results(quick)
    raise ValueError(f"unknown benchmark group {group!r}; choose from {', '.join(GROUPS)}")


# ---- the command -----------------------------------------------------------------------------


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 1,8,32, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected integers >= 1, got {text!r}")
    return values


def _groups(text: str) -> tuple[str, ...]:
    groups = tuple(g.strip() for g in text.split(",") if g.strip())
    bad = [g for g in groups if g not in GROUPS]
    if bad or not groups:
        raise argparse.ArgumentTypeError(f"unknown group(s) {bad or text!r}; choose from {', '.join(GROUPS)}")
    return groups


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench_command", required=True)
    run_p = sub.add_parser("run", help="run every measurement against its baseline, print and save the ratios")
    run_p.add_argument("--json", metavar="PATH", help="write the results file here")
    run_p.add_argument("--quick", action="store_true", help="small workloads (seconds, noisier)")
    run_p.add_argument("--only", type=_groups, default=GROUPS, metavar="GROUP,...",
                       help=f"run only these groups ({', '.join(GROUPS)})")
    cmp_p = sub.add_parser("compare", help="the regression gate on two results files")
    cmp_p.add_argument("old", help="baseline results (retool bench run --json, or pytest --benchmark-json)")
    cmp_p.add_argument("new", help="results to gate")
    cmp_p.add_argument("--max-regression", default="10%", metavar="FRACTION",
                       help="largest tolerated worsening of a ratio: '10%%' or '0.1' (default 10%%)")
    cmp_p.add_argument("--group-max-regression", action="append", default=[], metavar="GROUP=FRACTION",
                       help="a looser (or tighter) threshold for one group, e.g. sandbox=50%% (repeatable)")
    cmp_p.add_argument("--allow-missing", action="store_true",
                       help="do not fail when a benchmark in OLD is absent from NEW (e.g. GPU-only ones)")
    sb_p = sub.add_parser("sandbox", help="sandbox executions/s and p50/p99 against spawn-per-call")
    sb_p.add_argument("--concurrency", type=_int_list, default=(1, 8, 32, 128), metavar="N,...",
                      help="concurrency levels (default 1,8,32,128)")
    sb_p.add_argument("--snippet", choices=("trivial", "cpu", "import"), default="trivial",
                      help="what each execution runs (default trivial)")
    sb_p.add_argument("--n", type=int, default=None, metavar="N", help="executions per level (default: per level)")
    sb_p.add_argument("--json", metavar="PATH", help="also write the rows as JSON")


def run(args: argparse.Namespace) -> int:
    return {"run": _run_all, "compare": _compare, "sandbox": _sandbox}[args.bench_command](args)


def _compare(args: argparse.Namespace) -> int:
    from retool import bench

    try:
        max_regression = bench.parse_fraction(args.max_regression)
        per_group = {}
        for item in args.group_max_regression:
            group, sep, value = item.partition("=")
            if not sep or not group.strip():
                raise ValueError(f"--group-max-regression takes GROUP=FRACTION, got {item!r}")
            per_group[group.strip()] = bench.parse_fraction(value)
        old, new = bench.load_results(args.old), bench.load_results(args.new)
    except ValueError as exc:
        print(f"retool bench compare: {exc}", file=sys.stderr)
        return 2
    comparison = bench.compare(old, new, max_regression=max_regression, group_max_regression=per_group)
    print(bench.format_comparison(comparison))
    if comparison.missing and args.allow_missing and not comparison.regressions:
        print(f"(--allow-missing: {len(comparison.missing)} missing benchmark(s) tolerated)")
        return 0
    return 0 if comparison.ok else 1


def _run_all(args: argparse.Namespace) -> int:
    from retool import bench

    results: list[BenchResult] = []
    skipped: list[str] = []
    failed: list[str] = []
    for group in args.only:
        print(f"measuring {group} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            got = _measure(group, args.quick)
        except ImportError as exc:
            skipped.append(f"{group}: skipped, {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - one broken part must not hide the other figures
            failed.append(f"{group}: FAILED, {type(exc).__name__}: {exc}")
            continue
        results += got
        print(f"  {group}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    out = bench.make_results(results)
    print(bench.format_results(out))
    for line in skipped + failed:
        print(line)
    if args.json:
        print(f"wrote {bench.save_results(out, args.json)}")
    return 1 if failed else 0


def _sandbox_results(quick: bool) -> list[BenchResult]:
    """Trivial snippets, ours vs spawn-per-call: CPU-ms per execution (group ``sandbox``: stable on
    a loaded machine) and, in group ``sandbox-wall`` (wall clock: as noisy as the machine's load),
    executions/s per level, p99 at the top level, and the bare fork-server over ours (the layers)."""
    import asyncio

    from retool.sandbox_bench import bench_table

    levels = (1, 32) if quick else (1, 8, 32, 128)
    rows = asyncio.run(bench_table(levels, snippets=("trivial",), runs_per_level=48 if quick else None))
    by = {(r.runner, r.result.concurrency): r.result for r in rows}
    failed = [f"{r.runner}@{r.result.concurrency}" for r in rows if r.result.failures]
    if failed:
        raise RuntimeError(f"sandbox benchmark: wrong output from {', '.join(failed)}")
    out = []
    for level in levels:
        ours, base = by[("sandbox", level)], by[("spawn-per-call", level)]
        out.append(make_result(name=f"sandbox_trivial_spawn_over_ours_cpu_ms_c{level}", group="sandbox",
                               value=base.cpu_ms_per_exec, baseline=ours.cpu_ms_per_exec,
                               unit="spawn-per-call CPU-ms/exec vs ours"))
        out.append(make_result(name=f"sandbox_trivial_exec_per_s_c{level}", group="sandbox-wall", value=ours.exec_per_s,
                               baseline=base.exec_per_s, unit="executions/s vs spawn-per-call"))
    top = levels[-1]
    ours, base, bare = by[("sandbox", top)], by[("spawn-per-call", top)], by[("bare-fork-server", top)]
    out.append(make_result(name=f"sandbox_trivial_p99_ms_c{top}", group="sandbox-wall", value=ours.p99_s * 1e3,
                           baseline=base.p99_s * 1e3, unit="ms p99 vs spawn-per-call", higher_is_better=False))
    out.append(make_result(name=f"sandbox_trivial_bare_over_layers_exec_per_s_c{top}", group="sandbox-wall",
                           value=bare.exec_per_s, baseline=ours.exec_per_s, higher_is_better=False,
                           unit="bare fork-server executions/s vs ours with every layer"))
    return out


def _rollout_results(quick: bool) -> list[BenchResult]:
    from retool.rollout_bench import bench_results, measure_rollout

    size = dict(samples=4, tool_calls_per_sample=2, tool_latency_s=0.1) if quick else dict(
        samples=8, tool_calls_per_sample=3, tool_latency_s=0.2)
    return list(bench_results(measure_rollout(**size)))


def _sandbox(args: argparse.Namespace) -> int:
    import asyncio

    try:
        from retool.sandbox_bench import bench_table, format_table
    except ImportError as exc:
        print(f"retool bench sandbox: the sandbox is not available in this build ({exc})", file=sys.stderr)
        return 2
    if args.n is not None and args.n < 1:
        print(f"retool bench sandbox: --n must be >= 1, got {args.n}", file=sys.stderr)
        return 2
    print(f"measuring the {args.snippet!r} snippet at concurrency {','.join(map(str, args.concurrency))} "
          "(ours, the bare fork-server, spawn-per-call) ...", file=sys.stderr, flush=True)
    rows = asyncio.run(bench_table(args.concurrency, snippets=(args.snippet,), runs_per_level=args.n))
    print(format_table(rows))
    if args.json:
        from dataclasses import asdict
        from pathlib import Path

        Path(args.json).write_text(json.dumps([{"runner": r.runner, "snippet": r.snippet, **asdict(r.result)}
                                               for r in rows], indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    failed = [r for r in rows if r.result.failures]
    for r in failed:
        print(f"FAIL: {r.runner} gave wrong output on {r.result.failures}/{r.result.n} runs at concurrency "
              f"{r.result.concurrency}", file=sys.stderr)
    return 1 if failed else 0
