"""Answer checking: is a model's final answer equal to the gold label? Exact, bounded, total.

Parse then verify (the split Math-Verify made standard):
- :func:`extract_answer` (:mod:`~retool.answer.extract`): only the model's own text after the last
  tool response; the last closed ``\\boxed{}``; chained boxes form one multi-valued answer; hedged,
  empty, unclosed or oversized answers get no credit.
- :func:`check_answer` / :func:`compare` (:mod:`~retool.answer.check`): exact equality under
  :class:`AnswerConfig` (:mod:`~retool.answer.config`), returning a :class:`Verdict` with the
  reason. The fast path (:mod:`~retool.answer.fast`, :mod:`~retool.answer.values`,
  :mod:`~retool.answer.normalize`, :mod:`~retool.answer.spelling`) decides most pairs in
  microseconds without sympy; the rest go to :mod:`~retool.answer.symbolic` inside a worker
  process (:mod:`~retool.answer.worker`) killed at its deadline. Model text never raises here.
- :mod:`retool.answer.validate`: measure any checker's precision and recall on a labelled corpus.
"""

from retool import lazy_exports

_EXPORTS = {
    "AnswerConfig": ".config", "Verdict": ".config", "config_as_dict": ".config",
    "Extraction": ".extract", "extract_answer": ".extract", "final_model_text": ".extract",
    "check_answer": ".check", "compare": ".check", "compare_local": ".local",
    "AnswerChecker": ".worker", "default_checker": ".worker",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
