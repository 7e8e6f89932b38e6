"""The ReTool reward: correct answer + valid format + tool use, each term visible.

Contract:

- :func:`score` ``(response, label, config=RewardConfig(), *, checker=None) -> RewardBreakdown`` is
  pure (the only effect is borrowing a symbolic worker from the answer checker pool for answers the
  fast path cannot decide). It never raises on model text.

  ``r_ans = answer_weight`` iff the extracted answer (:func:`retool.answer.extract_answer`: the
  model's own text after the last tool response, last closed box, hedges/empty/unclosed/multiple
  boxes get nothing) equals ``label`` under :func:`retool.answer.check_answer`; ``label=None`` gives
  no answer credit (reason "no label").
  ``r_fmt = format_weight`` iff ``retool.grammar.parse_trace(response).has_valid_format`` (every tag
  closed, every call well-formed, no call after the last response, final answer in a closed box).
  ``r_use = tool_weight`` iff at least one *well-formed* tool call was made (a call that fails to
  parse or names an unknown tool does not count: malformed markup cannot farm the bonus); with
  ``tool_bonus_requires_correct=True`` it is paid only together with a correct answer.
  Trade-off of that option: on, a policy cannot farm the bonus by calling a tool and then guessing,
  but the early-training signal that rewards trying the tool before the policy is ever correct is
  lost (the ReTool recipe keeps it off, which is our default).
- :func:`reward_func` is the miles/slime ``--custom-rm-path`` entry point:
  ``async def _reward_one(sample: Any, config: RewardConfig) -> float:
    if is_aborted(sample):
        breakdown = RewardBreakdown(r_ans=0.0, r_fmt=0.0, r_use=0.0, total=0.0, answer=None, correct=False,
                                    format_valid=False, num_tool_calls=0, reason="aborted sample: no reward")
    else:
        response, label = getattr(sample, "response", ""), getattr(sample, "label", None)
        breakdown = await asyncio.to_thread(score, response, label, config)
    metadata = getattr(sample, "metadata", None)
    if isinstance(metadata, dict):
        metadata["reward_breakdown"] = asdict(breakdown)
    return breakdown.total


async def reward_func(args: Any, sample: Any, **kwargs: Any) -> float | list[float]:
    """miles/slime custom reward: ``--custom-rm-path retool.reward.reward_func``.

    Given one sample it returns its reward; given a list (``--group-rm``) it returns one reward per
    sample, in order, scored concurrently.
    """
    config = kwargs.get("reward_config") or RewardConfig()
    if isinstance(sample, (list, tuple)):
        return list(await asyncio.gather(*(_reward_one(s, config) for s in sample)))
    return await _reward_one(sample, config)
