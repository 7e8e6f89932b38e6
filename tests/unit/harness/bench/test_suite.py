"""The suite behind ``retool bench run`` (retool.harness.bench.suite): its groups and dispatch."""

from __future__ import annotations

import pytest

from retool.harness.bench import results as bench_results
from retool.harness.bench.suite import GROUPS, measure_group


def test_groups_are_the_documented_seven() -> None:
    assert GROUPS == ("parser", "masking", "answer", "sandbox", "rollout", "train", "adversarial")


def test_an_unknown_group_raises_value_error_naming_it_and_every_choice() -> None:
    with pytest.raises(ValueError, match="unknown benchmark group 'gpu'") as exc:
        measure_group("gpu", quick=True)
    assert all(group in str(exc.value) for group in GROUPS)


def test_the_parser_group_returns_one_ratio_against_its_baseline() -> None:
    (result,) = measure_group("parser", quick=True)
    assert (result.name, result.group, result.unit) == ("parser_mb_per_s", "parser", "MB/s")
    assert result.ratio == pytest.approx(result.value / result.baseline)


def test_the_parser_group_result_is_a_valid_results_file_entry(tmp_path) -> None:
    saved = bench_results.save_results(bench_results.make_results(measure_group("parser", quick=True)), tmp_path / "r.json")
    assert [r.name for r in bench_results.load_results(saved).results] == ["parser_mb_per_s"]


@pytest.mark.parametrize(("quick", "size"), [(True, dict(n_chars=8_192, rounds=2, timeout_s=2.0)),
                                             (False, dict(n_chars=32_768, rounds=5, timeout_s=10.0))])
def test_the_adversarial_group_measures_every_case_at_its_size(monkeypatch, quick: bool, size: dict) -> None:
    from retool.harness.bench import worstcase

    seen: list[dict] = []
    monkeypatch.setattr(worstcase, "measure_adversarial", lambda **kw: seen.append(kw) or ["r"])
    assert measure_group("adversarial", quick=quick) == ["r"]
    assert seen == [size]  # every target and family (the defaults), 32k characters in the full run
