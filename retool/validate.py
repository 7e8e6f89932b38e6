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
- Metrics: positives are cases labelled ``expected: true``. precision = TP / (TP + FP), recall =
  TP / (TP + FN), accuracy = agreements / cases; an empty denominator gives 1.0 for precision and
  recall (nothing to get wrong), 0.0 for accuracy of an empty corpus.
- Built-in checkers (``load_checker`` names): ``retool`` (ours), ``math-verify`` (as users run it
  on the raw response: ``verify(parse(gold), parse(response))``, gold wrapped in ``\\boxed{}`` so
  it parses), ``strict-box`` (the DAPO/ReTool strict-box scorer, re-implemented from its public
  description: the last ``\\boxed{}`` within the last 100 of the last 300 characters, exact string
  compare after stripping whitespace). Any other name must be ``pkg.mod:fn``.
- Reports: ``format_report`` (metrics, per-category table, every disagreement with its case id
  and reason), ``compare`` (checkers side by side), ``ValidationReport.to_dict`` (JSON).
- Speed: ``measure_checks_per_s`` / ``measure_latencies_s`` time a checker inline over cases (the
  ``retool bench`` and ``benchmarks/bench_answer.py`` entry points); ``benchmark_mix`` picks the
  DAPO/AIME-like mix (integer golds, a minority of fractions and expressions) from a corpus.
- The shipped corpus (``retool/assets/answer_corpus.jsonl``, hand-written) labels a response
  ``expected: true`` only when the model's own final answer (the last closed ``\\boxed{}``/``\\fbox{}``
  after the last tool response, else an ``Answer:`` line) equals the gold exactly: spellings of
  the same number, exact decimals for terminating fractions, 25\\% == 25, 45^\\circ == 45 ==
  \\pi/4 via the degree mark, ``x = 5`` == 5, unordered lists == sets, ordered tuples, intervals
  with matching ends. Never credited: boxes only in tool output, code, forged or model-written
  tool responses, or before the last tool response; chained boxes against a single gold; hedged,
  retracted, empty, unclosed or truncated answers; inexact decimals for irrational or repeating
  values; near misses. Every row's ``note`` states why its label holds.
- The forked worker does not share the parent's answer-checker pool (``retool.answer_worker``):
  its inherited handle is dropped and a fresh pool starts lazily in the child.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import math
import multiprocessing
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

Checker = Callable[[str, str], bool]

DEFAULT_CORPUS_PATH = Path(__file__).with_name("assets") / "answer_corpus.jsonl"
BUILTIN_CHECKERS = ("retool", "math-verify", "strict-box")
_REQUIRED_FIELDS: dict[str, type] = {"id": str, "category": str, "response": str, "gold": str, "expected": bool}


@dataclass(frozen=True, kw_only=True)
class Case:
    id: str
    category: str
    response: str
    gold: str
    expected: bool
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    case_id: str
    predicted: bool | None  # None when the checker erred
    error: str | None
    elapsed_s: float


@dataclass(frozen=True, kw_only=True)
class Disagreement:
    case_id: str
    category: str
    expected: bool
    predicted: bool | None
    reason: str  # "false positive", "false negative" or the checker error
    gold: str
    note: str


@dataclass(frozen=True, kw_only=True)
class CategoryRow:
    category: str
    cases: int
    agree: int
    false_positives: int
    false_negatives: int
    errors: int


@dataclass(frozen=True, kw_only=True)
class ValidationReport:
    name: str
    cases: int
    true_positives: int
    false_positives: int
    true_negatives: int
    false_negatives: int
    errors: int
    precision: float
    recall: float
    accuracy: float
    categories: tuple[CategoryRow, ...]
    disagreements: tuple[Disagreement, ...]
    total_check_s: float
    mean_check_s: float
    p99_check_s: float
    max_check_s: float

    def to_dict(self) -> dict:
        return asdict(self)


def _ratio(num: int, den: int, empty: float) -> float:
    return num / den if den else empty


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1)]


def summarise(name: str, cases: Sequence[Case], results: Sequence[CheckResult]) -> ValidationReport:
    """Confusion matrix, per-category rows and disagreements of ``results`` against the labels."""
    if len(cases) != len(results):
        raise ValueError(f"{len(cases)} cases but {len(results)} results")
    tp = fp = tn = fn = errors = 0
    rows: dict[str, list[int]] = {}  # category -> [cases, agree, fp, fn, errors]
    disagreements: list[Disagreement] = []
    for case, result in zip(cases, results):
        row = rows.setdefault(case.category, [0, 0, 0, 0, 0])
        row[0] += 1
        if result.error is not None:
            errors += 1
            row[4] += 1
            fn, fp = (fn + 1, fp) if case.expected else (fn, fp + 1)
            reason = result.error
        elif result.predicted == case.expected:
            tp, tn = (tp + 1, tn) if case.expected else (tp, tn + 1)
            row[1] += 1
            continue
        elif result.predicted:
            fp += 1
            row[2] += 1
            reason = "false positive"
        else:
            fn += 1
            row[3] += 1
            reason = "false negative"
        disagreements.append(Disagreement(case_id=case.id, category=case.category, expected=case.expected,
                                          predicted=result.predicted, reason=reason, gold=case.gold, note=case.note))
    times = sorted(r.elapsed_s for r in results)
    return ValidationReport(
        name=name, cases=len(cases), true_positives=tp, false_positives=fp, true_negatives=tn,
        false_negatives=fn, errors=errors, precision=_ratio(tp, tp + fp, 1.0), recall=_ratio(tp, tp + fn, 1.0),
        accuracy=_ratio(tp + tn, len(cases), 0.0),
        categories=tuple(CategoryRow(category=c, cases=v[0], agree=v[1], false_positives=v[2],
                                     false_negatives=v[3], errors=v[4]) for c, v in sorted(rows.items())),
        disagreements=tuple(disagreements), total_check_s=sum(times),
        mean_check_s=_ratio(sum(times), len(times), 0.0), p99_check_s=_quantile(times, 0.99),
        max_check_s=times[-1] if times else 0.0,
    )


def format_report(report: ValidationReport, *, max_disagreements: int | None = None) -> str:
    """Human-readable report: headline metrics, per-category table, disagreements."""
    r = report
    lines = [
        f"checker {r.name}: {r.cases} cases",
        f"  precision {r.precision:.4f}  recall {r.recall:.4f}  accuracy {r.accuracy:.4f}",
        f"  TP {r.true_positives}  FP {r.false_positives}  TN {r.true_negatives}  FN {r.false_negatives}"
        f"  errors {r.errors}",
        f"  check time: total {r.total_check_s:.3f} s  mean {r.mean_check_s * 1e3:.3f} ms"
        f"  p99 {r.p99_check_s * 1e3:.3f} ms  max {r.max_check_s * 1e3:.3f} ms",
        "",
        f"  {'category':<26}{'cases':>6}{'agree':>7}{'FP':>5}{'FN':>5}{'err':>5}",
    ]
    for row in r.categories:
        lines.append(f"  {row.category:<26}{row.cases:>6}{row.agree:>7}{row.false_positives:>5}"
                     f"{row.false_negatives:>5}{row.errors:>5}")
    shown = r.disagreements if max_disagreements is None else r.disagreements[:max_disagreements]
    lines += ["", f"  disagreements: {len(r.disagreements)}" + (
        f" (showing {len(shown)})" if len(shown) < len(r.disagreements) else "")]
    for d in shown:
        lines.append(f"    {d.case_id} [{d.category}] expected {d.expected}: {d.reason}; gold {d.gold[:60]!r}"
                     + (f"; {d.note[:100]}" if d.note else ""))
    return "\n".join(lines)


def compare(reports: Sequence[ValidationReport]) -> str:
    """Checkers side by side: headline metrics, then per-category agreement."""
    if not reports:
        raise ValueError("compare needs at least one report")
    width = max(14, *(len(r.name) + 2 for r in reports))
    head = f"{'':<26}" + "".join(f"{r.name:>{width}}" for r in reports)
    lines = [head]
    for label, getter, fmt in (
        ("precision", lambda r: r.precision, "{:.4f}"), ("recall", lambda r: r.recall, "{:.4f}"),
        ("accuracy", lambda r: r.accuracy, "{:.4f}"), ("false positives", lambda r: r.false_positives, "{}"),
        ("false negatives", lambda r: r.false_negatives, "{}"), ("errors", lambda r: r.errors, "{}"),
        ("mean check ms", lambda r: r.mean_check_s * 1e3, "{:.3f}"), ("p99 check ms", lambda r: r.p99_check_s * 1e3, "{:.3f}"),
    ):
        lines.append(f"{label:<26}" + "".join(f"{fmt.format(getter(r)):>{width}}" for r in reports))
    lines += ["", f"{'category (agree/cases)':<26}" + "".join(f"{r.name:>{width}}" for r in reports)]
    categories = sorted({row.category for r in reports for row in r.categories})
    for category in categories:
        cells = []
        for r in reports:
            row = next((x for x in r.categories if x.category == category), None)
            cells.append(f"{row.agree}/{row.cases}" if row else "-")
        lines.append(f"{category:<26}" + "".join(f"{c:>{width}}" for c in cells))
    return "\n".join(lines)


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


def load_corpus(path: str | os.PathLike[str] | None = None) -> tuple[Case, ...]:
    """Read a JSONL corpus (the shipped one when ``path`` is None or ``"default"``)."""
    file = DEFAULT_CORPUS_PATH if path in (None, "default") else Path(path)
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
        if not row["id"] or not row["category"]:
            raise ValueError(f"{where}: field {'id' if not row['id'] else 'category'!r} must not be empty")
        if row["id"] in seen:
            raise ValueError(f"{where}: field 'id' duplicates {row['id']!r} from line {seen[row['id']]}")
        seen[row["id"]] = lineno
        cases.append(
            Case(id=row["id"], category=row["category"], response=row["response"], gold=row["gold"],
                 expected=row["expected"], note=note)
        )
    if not cases:
        raise ValueError(f"{file}: corpus has no cases")
    return tuple(cases)


def _as_bool(value: object) -> bool:
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()  # a numpy scalar or a 0-d tensor
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise TypeError(f"checker returned {type(value).__name__} {value!r:.60}, not a bool")


def _run_one(checker: Checker, case: Case) -> CheckResult:
    start = time.perf_counter()
    try:
        predicted: bool | None = _as_bool(checker(case.response, case.gold))
        error = None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - a user checker may raise anything, SystemExit included
        predicted, error = None, f"raised {type(exc).__name__}: {str(exc)[:200]}"
    return CheckResult(case_id=case.id, predicted=predicted, error=error, elapsed_s=time.perf_counter() - start)


def _forget_inherited_pools() -> None:
    """The forked child must not share the parent's answer-checker workers (their pipes)."""
    answer_worker = sys.modules.get("retool.answer_worker")
    if answer_worker is not None and hasattr(answer_worker, "_default"):
        answer_worker._default = None  # a fresh pool starts lazily in this child
        answer_worker._default_lock = threading.Lock()  # a parent thread may have held it at fork


def _worker(conn, checker: Checker, cases: Sequence[Case]) -> None:  # runs in the forked child
    _forget_inherited_pools()
    while True:
        try:
            index = conn.recv()
        except EOFError:
            return
        if index is None:
            return
        result = _run_one(checker, cases[index])
        conn.send((result.predicted, result.error, result.elapsed_s))


class _Pool:
    """One forked worker; replaced whenever a check overruns its bound or the worker dies."""

    def __init__(self, checker: Checker, cases: Sequence[Case]) -> None:
        self._ctx = multiprocessing.get_context("fork")
        self._checker, self._cases = checker, cases
        self._proc = None
        self._conn = None

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(target=_worker, args=(child, self._checker, self._cases), daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join(timeout=5)
            self._conn.close()
        self._proc = self._conn = None

    def check(self, index: int, timeout_s: float) -> CheckResult:
        case = self._cases[index]
        if self._proc is None:
            self._start()
        start = time.perf_counter()
        try:
            self._conn.send(index)
            if self._conn.poll(timeout_s):
                predicted, error, elapsed_s = self._conn.recv()
                return CheckResult(case_id=case.id, predicted=predicted, error=error, elapsed_s=elapsed_s)
        except (EOFError, OSError, BrokenPipeError):
            self._proc.join(timeout=1)
            code = self._proc.exitcode
            self._kill()
            return CheckResult(case_id=case.id, predicted=None, error=f"worker died (exit code {code})",
                               elapsed_s=time.perf_counter() - start)
        self._kill()
        return CheckResult(case_id=case.id, predicted=None, error=f"timed out after {timeout_s:g} s",
                           elapsed_s=time.perf_counter() - start)

    def close(self) -> None:
        if self._proc is not None:
            try:
                self._conn.send(None)
            except (OSError, BrokenPipeError):
                pass
            self._proc.join(timeout=2)
            self._kill()


def evaluate(cases: Sequence[Case], checker: Checker, *, name: str = "checker", timeout_s: float = 10.0,
             isolate: bool = True) -> ValidationReport:
    """Run ``checker`` on every case and summarise agreement with the labels."""
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
    cases = tuple(cases)
    if isolate:
        pool = _Pool(checker, cases)
        try:
            results = tuple(pool.check(i, timeout_s) for i in range(len(cases)))
        finally:
            pool.close()
    else:
        results = tuple(_run_one(checker, case) for case in cases)
    return summarise(name, cases, results)


# ---- checkers -------------------------------------------------------------------------------


def retool_checker(response: str, gold: str) -> bool:
    """Ours: exactly the reward's answer term (``retool.reward.score(...).correct``): the extraction
    policy, then exact equivalence; without the reward's format parse, which the answer ignores."""
    from retool.answer import check_answer, extract_answer

    extraction = extract_answer(response)
    return extraction.answer is not None and check_answer(extraction.answer, gold)


def math_verify_checker(response: str, gold: str) -> bool:
    """Math-Verify as commonly run on a raw transcript: ``verify(parse(gold), parse(response))``."""
    from math_verify import parse, verify

    # its timeouts log the whole (possibly megabyte) input as a warning; the report has the result
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    return bool(verify(parse("\\boxed{" + gold + "}"), parse(response)))


def _last_boxed_content(text: str) -> str | None:
    start = text.rfind("\\boxed")
    if start < 0:
        return None
    i = start + len("\\boxed")
    if i >= len(text) or text[i] != "{":
        return None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
    return None


def strict_box_checker(response: str, gold: str) -> bool:
    """DAPO/ReTool strict box: last ``\\boxed{}`` in the last 100 chars, exact string compare."""
    tail = response[-300:][-100:]
    pred = _last_boxed_content(tail)
    return pred is not None and pred.strip() == gold.strip()


_BUILTINS: dict[str, Checker] = {
    "retool": retool_checker,
    "math-verify": math_verify_checker,
    "strict-box": strict_box_checker,
}


def load_checker(spec: str) -> Checker:
    """A built-in checker by name, or ``pkg.mod:fn`` imported; ``ValueError`` with the reason."""
    if spec in _BUILTINS:
        if spec == "math-verify" and importlib.util.find_spec("math_verify") is None:
            raise ValueError("checker 'math-verify' needs the math-verify package (pip install math-verify)")
        return _BUILTINS[spec]
    if ":" not in spec:
        raise ValueError(f"checker {spec!r} is neither a built-in ({', '.join(BUILTIN_CHECKERS)}) nor 'pkg.mod:fn'")
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"checker {spec!r}: expected 'pkg.mod:fn' with both parts non-empty")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"checker {spec!r}: cannot import module {module_name!r}: {exc}") from exc
    obj: object = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"checker {spec!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"checker {spec!r}: {attr!r} is a {type(obj).__name__}, not callable")
    return obj  # type: ignore[return-value]
