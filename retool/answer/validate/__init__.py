"""Answer-extractor validation: any ``(response, gold) -> bool`` checker against a labelled corpus.

- :mod:`~retool.answer.validate.corpus`: ``load_corpus()`` (the shipped dev split
  ``corpus/dev.jsonl``, ``load_splits`` for dev / heldout / all, or a user's file; a malformed row raises naming file and line), ``evaluate(cases, checker)``
  (each check isolated in a pool process with a timeout, so a hanging or crashing checker costs
  one case, never the run), throughput measures and the DAPO/AIME-like ``benchmark_mix``.
- :mod:`~retool.answer.validate.checkers`: ours, Math-Verify and the DAPO strict-box scorer by
  name, or a ``pkg.mod:fn`` spec.
- :mod:`~retool.answer.validate.pool`: the isolated worker pool.
- :mod:`~retool.answer.validate.report`: precision, recall, per-category rows, disagreements and
  the side-by-side comparison.
"""

from retool import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("DEFAULT_CORPUS_PATH", "DEV_CORPUS_PATH", "HELDOUT_CORPUS_PATH", "SPLITS", "benchmark_mix",
                     "evaluate", "load_corpus", "load_splits", "measure_checks_per_s", "measure_latencies_s",
                     "symbolic_mix"), ".corpus"),
    **dict.fromkeys(("BUILTIN_CHECKERS", "Checker", "load_checker", "math_verify_checker", "math_verify_final_checker",
                     "retool_checker", "strict_box_checker"), ".checkers"),
    **dict.fromkeys(("IsolatedPool", "run_check"), ".pool"),
    **dict.fromkeys(("Case", "CategoryRow", "CheckResult", "Disagreement", "HARD_NEGATIVE_MARKERS", "ValidationReport",
                     "compare", "format_aggregate", "format_report", "is_hard_negative", "summarise"), ".report"),
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
