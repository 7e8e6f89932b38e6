"""The harness that proves each part right before a GPU hour is spent.

- :mod:`~retool.harness.verify`: the check runner behind ``retool verify`` (``VerifyConfig``,
  ``CheckResult``, ``VerifyReport``, ``run_checks``, ``write_json``): one failing or raising check
  never hides the others.
- :mod:`~retool.harness.checks`: one check per part (grammar, masks, sandbox battery, answers,
  pipeline, conversion, sandbox throughput), each with a self-test where it matters: a check that
  cannot fail is itself a failure.
- :mod:`retool.harness.bench`: benchmarks as ratios against a baseline measured in the same run,
  and the regression gate.
"""

from retool import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("Check", "CheckResult", "CheckSpec", "VerifyConfig", "VerifyReport", "run_checks", "run_one",
                     "write_json"), ".verify"),
    "CHECKS": ".checks",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
