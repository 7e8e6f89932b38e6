"""The answer checker's frozen config and its verdict type (a leaf: imports nothing of the package).

Contract: :class:`AnswerConfig` holds the limits of one comparison (see its docstring);
:class:`Verdict` is ``(equal, reason, method)``, ``method`` one of identical, fast, symbolic,
rejected, timeout, error, undecided. :func:`config_as_dict` is the config as plain data (what the
worker process receives).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["AnswerConfig", "Verdict", "config_as_dict"]


@dataclass(frozen=True, kw_only=True)
class AnswerConfig:
    """Limits of one comparison. ``max_answer_chars``/``max_digits``/``max_depth``: inputs beyond
    them are rejected before parsing; ``max_bits``: largest exact power the fast path computes;
    ``max_nodes``: largest sympy expression tree; ``symbolic``: False decides with the fast path
    only (undecidable pairs are then unequal); ``timeout_s``: hard wall-clock bound of one symbolic
    check in the worker (the worker is killed past it)."""

    max_answer_chars: int = 1000
    max_digits: int = 400
    max_bits: int = 20_000
    max_depth: int = 40
    max_nodes: int = 400
    symbolic: bool = True
    timeout_s: float = 3.0


@dataclass(frozen=True)
class Verdict:
    equal: bool
    reason: str
    method: str  # identical | fast | symbolic | rejected | timeout | error | undecided (fast-only config)


def config_as_dict(config: AnswerConfig) -> dict[str, object]:
    return asdict(config)
