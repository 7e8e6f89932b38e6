"""Benchmark workloads and measurements for parsing, masking and answer checking, and the timer
they share; ``retool bench run`` and the ``benchmarks/`` suite both time exactly these.

Contract:
- :func:`best_seconds` is the timer: each ratio is ours over the baseline measured in the same
  process, interleaved chunk by chunk and round by round, taking each side's best round of process
  CPU time by default (``time.perf_counter`` for work spread over other processes), so load on a
  shared machine hits both alike and mostly not at all. :func:`deadline` bounds a block's wall
  time: :class:`Overran` (a ``BaseException``, so ``except Exception`` cannot swallow it) is raised
  in it by ``SIGALRM`` (main thread only; elsewhere it does nothing), and an alarm armed already
  (pytest-timeout's) still fires at its time, to its own handler.
- Workloads are deterministic for a seed: :func:`parser_workload` (multi-turn ReTool transcripts
  rendered with the project's own grammar functions), :func:`masking_workload` (rollout-shaped
  token segments). Baselines are the field's approaches: :func:`naive_parse` (regex +
  ``json.loads``), :func:`naive_mask` (split the decoded response, re-tokenize each piece).
- :func:`measure_parser`, :func:`measure_masking` and :func:`measure_answer` each return one
  :class:`retool.harness.bench.gate.BenchResult` (ours over the baseline). :func:`measure_answer` raises
  ``ImportError`` when math-verify (its baseline) is missing; the answer worker's CPU time (other
  processes) is added to ours from its ``/proc`` counters.
- The train-step measurements live in :mod:`retool.harness.bench.train`; every public name of both
  modules is importable from :mod:`retool.cli.bench`.
"""

from __future__ import annotations

import json
import random
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from retool.harness.bench.results import BenchResult, make_result


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


class Overran(BaseException):
    """Raised by the alarm; a BaseException so a reader's ``except Exception`` cannot swallow it."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`Overran` in the block after ``seconds`` (main thread only). An alarm already
    armed (pytest-timeout's) is kept: it still fires at its time, to its own handler."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return
    start = time.monotonic()
    outer_left, outer_interval = signal.getitimer(signal.ITIMER_REAL)

    def ring(sig: int, frame: Any) -> None:
        elapsed = time.monotonic() - start
        if elapsed < seconds - 1e-3:  # the outer alarm's time came first: its handler, then ours re-armed
            if callable(previous):
                previous(sig, frame)
            signal.setitimer(signal.ITIMER_REAL, max(seconds - elapsed, 1e-3))
            return
        raise Overran

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, min(seconds, outer_left) if outer_left > 0 else seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_left > 0 and time.monotonic() - start < outer_left:
            signal.setitimer(signal.ITIMER_REAL, max(outer_left - (time.monotonic() - start), 1e-3), outer_interval)


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
    from retool.text.grammar import CODE_INTERPRETER, format_tool_call, tool_turn_text

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
    from retool.text.grammar import parse_trace

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
    from retool.text.grammar import CODE_INTERPRETER, format_tool_call, render_tools_system_prompt, tool_turn_text
    from retool.text.masking import TokenSegment

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
    from retool.text.masking import build_ids_and_mask, verify_loss_mask

    if tokenizer is None:
        from retool.embedded.tokenizer import load_qwen3_tokenizer

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


# ---- answer checking (retool.answer.validate owns the workload) -------------------------------------


def measure_answer(*, quick: bool) -> BenchResult:
    import importlib.util

    from retool.answer import validate

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

    from retool.answer.worker import default_checker

    total = 0.0
    for pid in default_checker().worker_pids():
        try:
            cpu = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += cpu.user + cpu.system
    return total
