"""``retool verify``: every part of the pipeline checked in one run, each with its figure.

Contract:
- A check is a function ``(VerifyConfig) -> CheckResult``. It returns a result whatever happens:
  an exception inside a check becomes a failed result carrying the exception text, so one broken
  part never hides the others. Each result carries the figure behind the verdict and, for a
  failure, what to do.
- :data:`CHECKS` is the ordered registry; :func:`run_checks` runs a selection and reports progress
  through a callback. The console table and the JSON report are built from :class:`VerifyReport`.
- Pointed at the user's own parts through :class:`VerifyConfig` (built by the CLI only): a local
  HF model directory (its tokenizer and chat template are checked; the pipeline and conversion
  checks run on it), a sandbox factory, an answer checker, a Megatron checkpoint directory, and
  the dialect (``qwen3`` or ``retool-code``, :mod:`retool.text.dialect`) that the grammar, mask
  and pipeline checks speak.
- No check passes vacuously: zero cases is a failed result saying what was missing, and each check
  fails on its broken twin (see :mod:`retool.harness.checks`).
The checks themselves live in :mod:`retool.harness.checks`; this module is the
runner and the report.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from retool.text.dialect import DialectName


@dataclass(frozen=True, kw_only=True)
class VerifyConfig:
    model_dir: str | None = field(default=None, metadata={"help": "a local Hugging Face model directory (default: the embedded tiny model)"})
    sandbox_factory: str | None = field(default=None, metadata={"help": "a zero-argument factory of an object with async execute_code(code) -> str (default: PythonSandbox)"})
    sandbox_allow_weaker: bool = field(default=False, metadata={"help": "run our sandbox on the kernel layers this host has (a non-root host lacks per-slot uids; see `retool sandbox info`); the sandbox checks name what was missing"})
    checker: str | None = field(default=None, metadata={"help": "an answer checker (response, gold) -> bool to validate (default: ours)"})
    megatron_dir: str | None = field(default=None, metadata={"help": "a Megatron torch_dist checkpoint to check against the model"})
    bench_executions: int = field(default=64, metadata={"help": "executions per runner in the throughput check"})
    min_precision: float = field(default=0.99, metadata={"help": "the answers check fails below this precision"})
    min_recall: float = field(default=0.97, metadata={"help": "the answers check fails below this recall"})
    seed: int = field(default=0, metadata={"help": "seed of every check that samples"})
    dialect: DialectName = field(default="qwen3", metadata={"help": "the tool-call format every check speaks: qwen3 (<tool_call> JSON) or retool-code (<code>/<interpreter>)"})


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    name: str
    ok: bool
    figure: str
    detail: str = ""
    advice: str = ""
    duration_s: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class VerifyReport:
    results: tuple[CheckResult, ...]
    duration_s: float

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "duration_s": round(self.duration_s, 3), "checks": [asdict(r) for r in self.results]}


Check = Callable[[VerifyConfig], CheckResult]


@dataclass(frozen=True)
class CheckSpec:
    name: str
    title: str
    run: Check


def run_one(spec: CheckSpec, config: VerifyConfig) -> CheckResult:
    start = time.perf_counter()
    try:
        result = spec.run(config)
    except Exception as exc:  # a broken part is a failed check, never a crashed run
        tb = traceback.format_exception(exc)
        from retool.sandbox import SandboxUnavailableError

        unavailable = isinstance(exc, SandboxUnavailableError)
        return CheckResult(
            name=spec.name,
            ok=False,
            figure="error",
            detail=f"{type(exc).__name__}: {exc}",
            advice=("this host lacks a default sandbox layer (`retool sandbox info`): run as root, or pass "
                    "--sandbox-allow-weaker to check on the layers it has" if unavailable else
                    "the check itself raised; the traceback is in the JSON report"),
            duration_s=time.perf_counter() - start,
            data={"traceback": "".join(tb[-6:])},
        )
    return CheckResult(**{**asdict(result), "name": spec.name, "duration_s": time.perf_counter() - start})


def run_checks(
    specs: Sequence[CheckSpec],
    config: VerifyConfig,
    on_start: Callable[[CheckSpec], None] = lambda spec: None,
    on_done: Callable[[CheckResult], None] = lambda result: None,
) -> VerifyReport:
    start = time.perf_counter()
    results = []
    for spec in specs:
        on_start(spec)
        result = run_one(spec, config)
        on_done(result)
        results.append(result)
    return VerifyReport(results=tuple(results), duration_s=time.perf_counter() - start)


def write_json(report: VerifyReport, path: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(report.to_json(), fh, indent=2, default=str)
        fh.write("\n")
