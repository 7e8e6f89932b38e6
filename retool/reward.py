"""The ReTool reward: correct answer + valid format + tool use, each term visible.

Contract:

- :func:`score` ``(response, label, config=RewardConfig(), *, checker=None) -> RewardBreakdown`` is
  pure (the only effect is borrowing a symbolic worker from the answer checker pool for answers the
  fast path cannot decide). It never raises on model text.

  ``r_ans = answer_weight`` iff the extracted answer (:func:`retool.answer.extract_answer`: the
  model's own text after the last tool response, last closed box, hedges/empty/unclosed/multiple
  boxes get nothing) equals ``label`` under :func:`retool.answer.check_answer`; ``label=None`` gives
  no answer credit (reason "no label").
  The response is read in ``config.dialect`` (:mod:`retool.text.dialect`: ``qwen3`` by default,
  ``retool-code`` for ``<code>``/``<interpreter>``): one parse serves every term.
  ``r_fmt = format_weight`` iff the extraction reads an answer (right or wrong: a box it refuses,
  hedged, retracted, oversized or chained with an empty one, earns no format credit either, so the
  two terms never disagree) and that parse's ``has_valid_format`` (every tag
  closed, every call well-formed, no call after the last response, final answer in a closed box).
  ``r_use = tool_weight`` iff at least one *well-formed* tool call was made (a call that fails to
  parse or names an unknown tool does not count: malformed markup cannot farm the bonus); with
  ``tool_bonus_requires_correct=True`` it is paid only together with a correct answer.
  Responses over ``max_response_chars`` score 0.0 in every term (refused before any parsing).
  Below that, the work is linear in the response's length whatever it holds (the grammar and the
  extraction policy are; nothing here scans the whole response a second time), so hostile text
  printed by a tool earlier in the response cannot change the score of a correct boxed answer.
  Trade-off of that option: on, a policy cannot farm the bonus by calling a tool and then guessing,
  but the early-training signal that rewards trying the tool before the policy is ever correct is
  lost (the ReTool recipe keeps it off, which is our default).
- :func:`reward_func` is the miles/slime ``--custom-rm-path`` entry point:
  ``async def reward_func(args, sample, **kwargs) -> float | dict``. It reads ``sample.response`` and
  ``sample.label``; an aborted sample (``status`` ABORTED / "aborted") is not scored and gets the
  zero reward. The value is the shaped total (a float) unless the launch sets ``--reward-key``
  (``args.reward_key``): then it is :func:`reward_dict`'s dict, whose key the framework selects
  (miles/slime index ``sample.reward[args.reward_key]``, and ``--eval-reward-key`` in eval):
  ``score`` (the shaped total), ``acc`` (1.0 iff the answer is correct, else 0.0: what miles's
  pass@k and zero-std metrics count as ``reward == 1``), ``format`` and ``tool_use`` (1.0 / 0.0),
  ``num_tool_calls`` and ``pred`` (the extracted answer, "" when none). The recipe's launch is
  ``--reward-key score --eval-reward-key acc``. A ``reward_key`` that is none of these raises
  ``ValueError`` naming the keys.
  Scoring runs in a thread (``asyncio.to_thread``), so the event loop never blocks on sympy. The
  breakdown is stored in ``sample.metadata["reward_breakdown"]`` when ``metadata`` is a dict, so
  reward hacking shows up in logs. ``kwargs["reward_config"]`` overrides the default config.
  With ``--group-rm`` (a list of samples) it returns the list of rewards. It never raises for a
  sample: should scoring one fail (a bug, never model text), that sample gets 0.0 and the
  breakdown's reason says ``scoring failed: <error>``; the others are scored as usual. The
  response is read in ``args.retool_dialect`` (the same setting the generate function reads;
  qwen3 when unset).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from retool.answer import AnswerConfig, compare, extract_answer
from retool.text.dialect import DialectName, get_dialect
from retool.text.trace import DEFAULT_TOOLS

if TYPE_CHECKING:
    from retool.answer.worker import AnswerChecker

_log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class RewardConfig:
    """Reward shaping. ``tool_bonus_requires_correct``: off (the recipe's default) pays the tool
    bonus for any well-formed call, which rewards trying the tool early but can be farmed; on pays
    it only with a correct answer (no farming, no early signal). ``answer``: the checker limits;
    ``max_response_chars``: longer responses score 0.0 unparsed."""

    answer_weight: float = 1.0
    format_weight: float = 0.1
    tool_weight: float = 0.05
    tool_bonus_requires_correct: bool = False
    answer: AnswerConfig = field(default_factory=AnswerConfig)
    max_response_chars: int = 1_000_000
    dialect: DialectName = "qwen3"  # which markup is a call and a tool response (retool.text.dialect)

    def __post_init__(self) -> None:
        get_dialect(self.dialect)  # an unknown name raises, naming the choices


@dataclass(frozen=True, kw_only=True)
class RewardBreakdown:
    """Each term and why: ``answer`` is the extracted answer (None when refused, with the reason),
    ``num_tool_calls`` counts well-formed calls only, ``total == r_ans + r_fmt + r_use``."""

    r_ans: float
    r_fmt: float
    r_use: float
    total: float
    answer: str | None
    correct: bool
    format_valid: bool
    num_tool_calls: int
    reason: str


def score(response: str, label: Any, config: RewardConfig = RewardConfig(), *,
          checker: AnswerChecker | None = None) -> RewardBreakdown:
    """Every reward term for one response (see the module docstring). Pure, total."""
    if not isinstance(response, str):
        response = "" if response is None else str(response)
    if len(response) > config.max_response_chars:
        return RewardBreakdown(r_ans=0.0, r_fmt=0.0, r_use=0.0, total=0.0, answer=None, correct=False,
                               format_valid=False, num_tool_calls=0,
                               reason=f"response of {len(response)} characters exceeds max_response_chars")
    trace = get_dialect(config.dialect).parse(response, DEFAULT_TOOLS)
    calls = sum(1 for call in trace.tool_calls if call.ok)
    extraction = extract_answer(response, max_answer_chars=config.answer.max_answer_chars,
                                max_response_chars=config.max_response_chars, trace=trace)
    if label is None:
        correct, reason = False, "no label"
    elif extraction.answer is None:
        correct, reason = False, f"no answer: {extraction.reason}"
    else:
        verdict = compare(extraction.answer, str(label), config.answer, checker=checker)
        correct = verdict.equal
        reason = f"{extraction.reason}; {verdict.method}: {verdict.reason}"
    r_ans = config.answer_weight if correct else 0.0
    # the format term pays for a well-formed response whose answer the answer term reads (right or
    # wrong): never for a box the extraction refuses (hedged, retracted, oversized, chained with an empty one)
    format_valid = trace.has_valid_format and extraction.answer is not None
    r_fmt = config.format_weight if format_valid else 0.0
    use_paid = calls >= 1 and (correct or not config.tool_bonus_requires_correct)
    r_use = config.tool_weight if use_paid else 0.0
    return RewardBreakdown(r_ans=r_ans, r_fmt=r_fmt, r_use=r_use, total=r_ans + r_fmt + r_use,
                           answer=extraction.answer, correct=correct, format_valid=format_valid,
                           num_tool_calls=calls, reason=reason)


REWARD_KEYS: tuple[str, ...] = ("score", "acc", "format", "tool_use", "num_tool_calls", "pred")
_NOT_SCORED = RewardBreakdown(r_ans=0.0, r_fmt=0.0, r_use=0.0, total=0.0, answer=None, correct=False,
                              format_valid=False, num_tool_calls=0, reason="aborted sample: no reward")


def reward_dict(breakdown: RewardBreakdown) -> dict[str, Any]:
    """The breakdown under the documented keys (see the module docstring)."""
    return {"score": breakdown.total, "acc": 1.0 if breakdown.correct else 0.0,
            "format": 1.0 if breakdown.format_valid else 0.0, "tool_use": 1.0 if breakdown.r_use > 0 else 0.0,
            "num_tool_calls": breakdown.num_tool_calls, "pred": breakdown.answer or ""}


def reward_value(breakdown: RewardBreakdown, args: Any = None) -> float | dict[str, Any]:
    """The float total, or the dict when ``args.reward_key`` is set (checked against :data:`REWARD_KEYS`)."""
    keys = [k for k in (getattr(args, "reward_key", None), getattr(args, "eval_reward_key", None)) if k]
    if not getattr(args, "reward_key", None):
        return breakdown.total
    unknown = [k for k in keys if k not in REWARD_KEYS]
    if unknown:
        raise ValueError(f"--reward-key/--eval-reward-key {unknown} is not a key of retool's reward; use one of {REWARD_KEYS}")
    return reward_dict(breakdown)


def aborted_reward(args: Any = None) -> float | dict[str, Any]:
    """The zero reward an aborted sample gets, unscored, in the launch's reward shape."""
    return reward_value(_NOT_SCORED, args)


def is_aborted(sample: Any) -> bool:
    """True for a sample whose status is ABORTED (enum member, its value, or the string)."""
    status = getattr(sample, "status", None)
    names = {str(getattr(status, "name", "")).lower(), str(getattr(status, "value", "")).lower(), str(status).lower()}
    return "aborted" in names or any(n.endswith(".aborted") for n in names)


async def _reward_one(sample: Any, config: RewardConfig, args: Any = None) -> float | dict[str, Any]:
    if is_aborted(sample):
        breakdown = _NOT_SCORED
    else:
        try:
            response, label = getattr(sample, "response", ""), getattr(sample, "label", None)
            breakdown = await asyncio.to_thread(score, response, label, config)
        except Exception as exc:  # a bug of ours must not take the group down: this sample gets 0.0, with why
            _log.exception("scoring a sample raised; it gets reward 0.0")
            breakdown = RewardBreakdown(r_ans=0.0, r_fmt=0.0, r_use=0.0, total=0.0, answer=None, correct=False,
                                        format_valid=False, num_tool_calls=0,
                                        reason=f"scoring failed: {type(exc).__name__}: {exc}"[:500])
    metadata = getattr(sample, "metadata", None)
    if isinstance(metadata, dict):
        metadata["reward_breakdown"] = asdict(breakdown)
    return reward_value(breakdown, args)


async def reward_func(args: Any, sample: Any, **kwargs: Any) -> float | dict[str, Any] | list[Any]:
    """miles/slime custom reward: ``--custom-rm-path retool.reward.reward_func``.

    Given one sample it returns its reward; given a list (``--group-rm``) it returns one reward per
    sample, in order, scored concurrently; an aborted sample in the list is not scored (the zero
    reward). The value's shape follows ``args.reward_key`` (see the module docstring).
    """
    config = kwargs.get("reward_config") or RewardConfig(dialect=getattr(args, "retool_dialect", None) or "qwen3")
    reward_value(_NOT_SCORED, args)  # a bad --reward-key is refused before any scoring
    if isinstance(sample, (list, tuple)):
        return list(await asyncio.gather(*(_reward_one(s, config, args) for s in sample)))
    return await _reward_one(sample, config, args)
