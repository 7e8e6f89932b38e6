"""Validate answer checkers against a labelled corpus of whole model responses.

Contract:
- A *checker* is any callable ``(response: str, gold: str) -> bool`` applied to a whole model
  response (prose, tool calls, tool responses, final ``\\boxed{}``). ``int``/``float`` results
  equal to 0 or 1 are read as booleans; anything else is a checker error.
- A *corpus* is JSONL, one case a line: ``{"id", "category", "response", "gold", "expected",
  "note"}`` (``note`` optional). ``load_corpus`` raises ``ValueError`` naming the file, the line
  and the field of the first malformed row, and on duplicate ids.
- ``evaluate(cases, checker)`` never raises because of the checker: each check runs in a forked
  worker process with a per-case time bound (``timeout_s``); a check that raises, returns a
  non-boolean or runs past the bound is recorded as an error with its reason, the worker is
  replaced, and the run goes on. An error always counts as a disagreement: against an expected
  True it is a false negative, against an expected False a false positive (a checker that cannot
  answer must not be trusted either way). ``isolate=False`` runs checks inline (no time bound;
  for checkers that are known to terminate, and for timing).
- Metrics and reports (:mod:`retool.answer.validate.report`): precision, recall and accuracy against the
  ``expected: true`` positives; ``format_report``, ``compare`` and ``ValidationReport.to_dict``.
- Built-in checkers (:mod:`retool.answer.validate.checkers`): ``load_checker`` resolves ``retool`` (ours),
  ``math-verify``, ``strict-box`` or ``pkg.mod:fn``.
- Speed: ``measure_checks_per_s`` / ``measure_latencies_s`` time a checker inline over cases (the
  ``retool bench`` and ``benchmarks/bench_answer.py`` entry points); ``benchmark_mix`` picks the
  DAPO/AIME-like mix (integer golds, a minority of fractions and expressions) from a corpus and
  ``symbolic_mix`` the symbolic-heavy one (fractions, radicals, pi, intervals, tuples, matrices,
  expressions, equations).
- The shipped corpus has two splits under ``retool/answer/validate/corpus/``: ``dev.jsonl`` (written
  while the checker was built: a regression floor, not a generalisation estimate) and
  ``heldout.jsonl`` (written from the policy text alone by someone who had not seen the checker's
  code; the checker is never edited against a held-out case unless that case moves to dev).
  :func:`load_splits` reads them (``dev``, ``heldout``, or ``all`` as one corpus); ``load_corpus()``
  is dev, and the old name ``answer_corpus.jsonl`` still resolves to it. A row may carry
  ``"hard_negative": true|false``; otherwise a wrong case in a hack category is a hard negative
  (:func:`retool.answer.validate.report.is_hard_negative`). The dev split labels a response
  ``expected: true`` only when the model's own final answer (the last closed ``\\boxed{}``/``\\fbox{}``
  after the last tool response, else an ``Answer:`` line) equals the gold exactly: spellings of
  the same number, exact decimals for terminating fractions, 25\\% == 25, 45^\\circ == 45 ==
  \\pi/4 via the degree mark, ``x = 5`` == 5, unordered lists == sets, ordered tuples, intervals
  with matching ends. Never credited: boxes only in tool output, code, forged or model-written
  tool responses, or before the last tool response; chained boxes against a single gold; hedged,
  retracted, empty, unclosed or truncated answers; inexact decimals for irrational or repeating
  values; near misses. Every row's ``note`` states why its label holds.
- The isolation (:mod:`retool.answer.validate.pool`): the forked worker does not share the parent's
  answer-checker pool (``retool.answer.worker``); a fresh pool starts lazily in the child.
- Every public name of those three modules is importable from here.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

from retool.answer.validate.checkers import (BUILTIN_CHECKERS, Checker, load_checker, math_verify_checker,
                                             math_verify_final_checker, retool_checker,
                                      strict_box_checker)
from retool.answer.validate.pool import IsolatedPool, run_check
from retool.answer.validate.report import (CategoryRow, Case, CheckResult, Disagreement, ValidationReport, compare,
                                    format_aggregate, format_report, is_hard_negative, summarise)

__all__ = ["DEFAULT_CORPUS_PATH", "DEV_CORPUS_PATH", "HELDOUT_CORPUS_PATH", "SPLITS", "benchmark_mix", "evaluate",
           "load_corpus", "load_splits", "measure_checks_per_s", "measure_latencies_s", "symbolic_mix"]

DEV_CORPUS_PATH = Path(__file__).with_name("corpus") / "dev.jsonl"
HELDOUT_CORPUS_PATH = Path(__file__).with_name("corpus") / "heldout.jsonl"
DEFAULT_CORPUS_PATH = DEV_CORPUS_PATH
_LEGACY_NAME = "answer_corpus.jsonl"  # the shipped corpus before the dev/heldout split
SPLITS = ("dev", "heldout", "all")
_REQUIRED_FIELDS: dict[str, type] = {"id": str, "category": str, "response": str, "gold": str, "expected": bool}


def measure_latencies_s(checker: Checker, cases: Sequence[Case], repeat: int = 1) -> tuple[float, ...]:
    """Per-check wall times (inline, no isolation) over ``repeat`` passes; checker errors are timed too."""
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat!r}")
    if not cases:
        raise ValueError("measure_latencies_s needs at least one case")
    times: list[float] = []
    for _ in range(repeat):
        for case in cases:
            start = time.perf_counter()
            try:
                checker(case.response, case.gold)
            except Exception:  # noqa: BLE001 - a failing check still costs its time
                pass
            times.append(time.perf_counter() - start)
    return tuple(times)


def measure_checks_per_s(checker: Checker, cases: Sequence[Case], repeat: int = 1) -> float:
    """Checks per second of ``checker`` run inline over ``cases`` ``repeat`` times."""
    times = measure_latencies_s(checker, cases, repeat)
    return len(times) / max(sum(times), 1e-12)


_INTEGER = re.compile(r"[+-]?\d+")
_NOT_IN_MIX = frozenset({"power_tower", "huge_output", "tiny_value", "expression"})


def benchmark_mix(cases: Sequence[Case]) -> tuple[Case, ...]:
    """A DAPO/AIME-like mix from a corpus: every case with an integer gold (DAPO-Math-17K and AIME
    labels are integers), hacks and near misses included, plus the ``rational`` category and every
    fourth ``expression`` case as the minority of fraction and expression answers. Pathological
    categories (``power_tower``, ``huge_output``, ``tiny_value``: towers and values far below double
    precision) are left out: they measure the time bound and exactness, not throughput."""
    integer = [c for c in cases if _INTEGER.fullmatch(c.gold.strip()) and c.category not in _NOT_IN_MIX]
    rational = [c for c in cases if c.category == "rational"]
    expression = [c for c in cases if c.category == "expression"][::4]
    mix = tuple({c.id: c for c in integer + rational + expression}.values())
    if not mix:
        raise ValueError("benchmark_mix: the corpus has no integer, rational or expression cases")
    return mix


SYMBOLIC_CATEGORIES = frozenset({"rational", "radical", "pi", "interval", "tuple", "matrix", "expression", "equation",
                                 "set_list", "nested_radical", "inequality", "complex"})


def symbolic_mix(cases: Sequence[Case]) -> tuple[Case, ...]:
    """The symbolic-heavy mix: every case whose gold is not an integer in a symbolic category
    (fractions, radicals, pi, intervals, tuples, sets, matrices, expressions, equations)."""
    mix = tuple(c for c in cases if c.category in SYMBOLIC_CATEGORIES and not _INTEGER.fullmatch(c.gold.strip()))
    if not mix:
        raise ValueError("symbolic_mix: the corpus has no symbolic cases")
    return mix


def load_splits(split: str = "dev") -> dict[str, tuple[Case, ...]]:
    """The shipped splits by name: ``dev``, ``heldout`` (``{}`` for it when the file is absent) or
    ``all`` (both as one corpus under the name ``all``; ids must be unique across them)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    have_heldout = HELDOUT_CORPUS_PATH.is_file()
    if split == "dev":
        return {"dev": load_corpus(DEV_CORPUS_PATH)}
    if split == "heldout":
        if not have_heldout:
            raise ValueError(f"{HELDOUT_CORPUS_PATH}: the held-out split is not there")
        return {"heldout": load_corpus(HELDOUT_CORPUS_PATH)}
    cases = load_corpus(DEV_CORPUS_PATH) + (load_corpus(HELDOUT_CORPUS_PATH) if have_heldout else ())
    ids = [c.id for c in cases]
    if len(set(ids)) != len(ids):
        raise ValueError("split 'all': a case id appears in both dev and heldout")
    return {"all": cases}


def load_corpus(path: str | os.PathLike[str] | None = None) -> tuple[Case, ...]:
    """Read a JSONL corpus (the shipped one when ``path`` is None or ``"default"``)."""
    file = DEFAULT_CORPUS_PATH if path in (None, "default") else Path(path)
    if file.name == _LEGACY_NAME and not file.exists():
        file = DEV_CORPUS_PATH
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{file}: cannot read corpus: {exc}") from exc
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{file}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not valid JSON: {exc.msg} at column {exc.colno}") from exc
        if not isinstance(row, dict):
            raise ValueError(f"{where}: a row must be a JSON object, got {type(row).__name__}")
        for field, kind in _REQUIRED_FIELDS.items():
            if field not in row:
                raise ValueError(f"{where}: missing field {field!r}")
            if not isinstance(row[field], kind):
                raise ValueError(
                    f"{where}: field {field!r} must be {kind.__name__}, got {type(row[field]).__name__} {row[field]!r:.60}"
                )
        note = row.get("note", "")
        if not isinstance(note, str):
            raise ValueError(f"{where}: field 'note' must be str, got {type(note).__name__}")
        flag = row.get("hard_negative")
        if flag is not None and not isinstance(flag, bool):
            raise ValueError(f"{where}: field 'hard_negative' must be bool, got {type(flag).__name__}")
        if not row["id"] or not row["category"]:
            raise ValueError(f"{where}: field {'id' if not row['id'] else 'category'!r} must not be empty")
        if row["id"] in seen:
            raise ValueError(f"{where}: field 'id' duplicates {row['id']!r} from line {seen[row['id']]}")
        seen[row["id"]] = lineno
        cases.append(
            Case(id=row["id"], category=row["category"], response=row["response"], gold=row["gold"],
                 expected=row["expected"], note=note,
                 hard_negative=is_hard_negative(row["category"], row["expected"], flag))
        )
    if not cases:
        raise ValueError(f"{file}: corpus has no cases")
    return tuple(cases)


def evaluate(cases: Sequence[Case], checker: Checker, *, name: str = "checker", timeout_s: float = 10.0,
             isolate: bool = True) -> ValidationReport:
    """Run ``checker`` on every case and summarise agreement with the labels."""
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
    cases = tuple(cases)
    if isolate:
        pool = IsolatedPool(checker, cases)
        try:
            results = tuple(pool.check(i, timeout_s) for i in range(len(cases)))
        finally:
            pool.close()
    else:
        results = tuple(run_check(checker, case) for case in cases)
    return summarise(name, cases, results)

