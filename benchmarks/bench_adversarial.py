"""Worst case against typical: each text reader's time per KB of hostile text over typical text.

One case per (reader, hostile family), measured by :func:`retool.harness.bench.worstcase.measure_case`,
exactly what ``retool bench run --only adversarial`` measures and under its names
(``adversarial_<reader>_<family>``). Readers: ``parse_trace``, ``find_boxed``, ``extract_answer``,
``score`` (fast-path answers only), the rollout's per-turn parse, ``verify_loss_mask``,
``sft_record``, ``rl_record``, ``read_metrics`` (the watch's reader). Families and the typical
8k-token episode: :mod:`retool.harness.bench.adversarial`. The ratio is recorded for the gate,
lower is better; ``retool bench compare`` holds the group to its ceiling (150x: no super-linear reader;
the goal, 5x, is reported in the matrix). A case whose reader raises or overruns is recorded as an error result
(``extra_info["error"]``, the gate fails it); the test itself passes, so the run goes on.

With ``--benchmark-enable``: 32k-character texts, 5 rounds, 10 s per call at most. The plain CI
run (``--benchmark-disable``) uses 4k characters, one round, 2 s: it keeps every case running and
asserts no timing.
"""

from __future__ import annotations

from typing import Any

import pytest

from retool.harness.bench.adversarial import FAMILIES
from retool.harness.bench.worstcase import CEILING, GROUP, TARGETS, measure_case


@pytest.fixture(scope="module")
def qwen3() -> Any:
    from retool.embedded.tokenizer import load_qwen3_tokenizer

    return load_qwen3_tokenizer()


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("target", TARGETS)
def test_hostile_over_typical_per_kb(target: str, family: str, benchmark: Any, timing: bool, record_ratio: Any,
                                     request: pytest.FixtureRequest) -> None:
    size = dict(n_chars=32_768, rounds=5, timeout_s=10.0) if timing else dict(n_chars=4_096, rounds=1, timeout_s=2.0)
    tokenizer = request.getfixturevalue("qwen3") if target == "verify_loss_mask" else None
    result = benchmark.pedantic(measure_case, args=(target, family), kwargs=dict(size, tokenizer=tokenizer),
                                rounds=1, iterations=1)
    assert (result.name, result.group) == (f"{GROUP}_{target}_{family}", GROUP)
    assert not result.higher_is_better
    if result.error is not None:
        benchmark.extra_info.update(result.to_dict())
        if timing:
            print(f"\n{result.name}: ERROR {result.error}")
        return
    record_ratio(result)
    assert result.ratio > 0 and result.value > 0 and result.baseline > 0
    if timing and result.ratio > CEILING:
        print(f"  over the {CEILING:g}x ceiling (the gate fails it)")

