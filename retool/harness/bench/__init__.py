"""Benchmarks and the regression gate: every figure a ratio against a baseline from the same run.

- :mod:`~retool.harness.bench.results`: the results file (one ``BenchResult`` per benchmark with
  machine info), its readers, and the ``pytest --benchmark-json`` conversion.
- :mod:`~retool.harness.bench.gate`: ``compare(old, new)`` gates on ratios only (relative change,
  plus a group ceiling such as ``adversarial`` <= 5x, and error results); tables.
- :mod:`~retool.harness.bench.suite`: the groups ``retool bench run`` measures.
- Workloads: :mod:`~retool.harness.bench.workloads` (parser, masking, answer checking),
  :mod:`~retool.harness.bench.worstcase` (the ``adversarial`` group: hostile vs typical text per KB,
  on the texts of :mod:`~retool.harness.bench.adversarial`, which the property tests reuse),
  :mod:`~retool.harness.bench.train` (a train step), :mod:`~retool.harness.bench.rollout`
  (overlapped vs serial rollout); the sandbox's own is :mod:`retool.sandbox.bench`.
"""

from retool import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("BenchResult", "Results", "from_pytest_benchmark", "load_results", "machine_info",
                     "make_error_result", "make_result", "make_results", "pair_ratios", "results_from_dict",
                     "save_results"), ".results"),
    **dict.fromkeys(("DEFAULT_CEILINGS", "Breach", "Change", "Comparison", "compare", "format_comparison",
                     "format_results", "parse_fraction"), ".gate"),
    **dict.fromkeys(("GROUPS", "measure_group"), ".suite"),
    **dict.fromkeys(("FAMILIES", "hostile_text", "typical_trajectory"), ".adversarial"),
    **dict.fromkeys(("TARGETS", "measure_adversarial", "measure_case"), ".worstcase"),
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
