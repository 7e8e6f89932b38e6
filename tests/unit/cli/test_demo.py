"""``retool demo --quick``: every stage runs on the real sandbox, and the metrics, summary and plot are written."""

from __future__ import annotations

import json

import pytest

from retool.cli import main


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    status = main(["demo", "--quick", "--out", str(out)])
    return status, out


def test_quick_run_writes_one_metrics_row_per_grpo_iteration(quick_run) -> None:
    _, out = quick_run
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2]
    assert "eval/heldout_exact_match" in rows[0] and "eval/heldout_exact_match" in rows[-1]


def test_quick_run_plots_the_metrics(quick_run) -> None:
    _, out = quick_run
    assert (out / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_quick_run_is_too_short_to_reach_the_figures_and_says_so(quick_run, capsys) -> None:
    status, out = quick_run
    summary = json.loads((out / "summary.json").read_text())
    assert (status, summary["expectation_met"], summary["rl_iterations"]) == (1, False, 2)


def test_unknown_twin_is_refused() -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--twin", "no-such-twin"])
