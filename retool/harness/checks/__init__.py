"""The checks behind ``retool verify``, one function per part, each returning a CheckResult.

Contract:
- Every check exercises the real part on the embedded default, or on the user's part named in the
  :class:`~retool.harness.verify.VerifyConfig` (a model directory, a sandbox factory, an answer
  checker, a Megatron checkpoint).
- No check can pass vacuously: zero cases (no conversation with a tool turn, no technique, no
  labelled case of either kind, no token to compare, no execution, a GRPO group whose rewards
  tie) is a failure whose ``detail`` says what was missing.
- Each check carries a self-test where it matters: it must also catch a known-bad input built
  from the same cases (a mask with tool tokens in the loss or the end of turn untrained, an
  always-true and an always-false checker, a checkpoint read under a wrong rotary base, with or
  without ``--megatron``), so a check that cannot fail is itself a failure.
- Each check also fails on its broken twin, injected through the config or a keyword-only
  parameter documented on the check (``tests/unit/harness/checks/`` holds one test per twin).
Heavy imports happen inside the checks, so listing them is instant. The modules:
:mod:`~retool.harness.checks.text` (grammar, masks), :mod:`~retool.harness.checks.sandbox`
(escape battery, throughput), :mod:`~retool.harness.checks.answers`,
:mod:`~retool.harness.checks.model` (pipeline, conversion).
"""

from __future__ import annotations

from retool.harness.checks.answers import check_answers
from retool.harness.checks.model import check_conversion, check_pipeline
from retool.harness.checks.sandbox import check_sandbox_battery, check_throughput
from retool.harness.checks.text import HAZARDOUS_CODES, check_grammar, check_masks
from retool.harness.verify import CheckSpec

__all__ = ["CHECKS", "HAZARDOUS_CODES", "check_answers", "check_conversion", "check_grammar", "check_masks",
           "check_pipeline", "check_sandbox_battery", "check_throughput"]

CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec("grammar", "tool-call grammar and chat template", check_grammar),
    CheckSpec("masks", "loss masks on real tokenizations", check_masks),
    CheckSpec("sandbox-battery", "sandbox escape and limits battery", check_sandbox_battery),
    CheckSpec("answers", "answer checker on the labelled corpus", check_answers),
    CheckSpec("pipeline", "tiny SFT -> rollout -> reward -> GRPO step", check_pipeline),
    CheckSpec("conversion", "HF -> Megatron conversion and rotary-base check", check_conversion),
    CheckSpec("sandbox-throughput", "sandbox executions/s against spawn-per-call", check_throughput),
)
