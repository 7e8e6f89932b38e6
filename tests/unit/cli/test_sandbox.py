"""``retool sandbox`` commands and the throughput measurement behind ``bench``."""

from __future__ import annotations

import argparse
import asyncio
import json

import pytest

from retool.cli import sandbox as sandbox_cli
from retool.sandbox import LAYERS
from retool.sandbox.bench import SpawnPerCallRunner, ThroughputResult, measure_throughput
from tests.capabilities import requires_isolation


def invoke(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="retool sandbox")
    sandbox_cli.add_arguments(parser)
    return sandbox_cli.run(parser.parse_args(argv))


def test_info_json_names_every_layer_and_the_exit_status_follows_them(capsys: pytest.CaptureFixture[str]) -> None:
    status = invoke(["info", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert set(report["layers"]) == set(LAYERS) and report["kernel"] and "61000" in report["slot_uids"]
    assert status == (0 if all(v == "available" for v in report["layers"].values()) else 1)


def test_info_text_has_one_line_per_layer(capsys: pytest.CaptureFixture[str]) -> None:
    invoke(["info"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[: len(LAYERS)]] == list(LAYERS)


@requires_isolation  # the bench measures ours with every default layer, and refuses a host without one
def test_bench_runs_ours_and_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert invoke(["bench", "--concurrency", "2", "--n", "3", "--no-baseline", "--no-bare", "--overhead-rounds", "0"]) == 0
    out = capsys.readouterr().out
    assert "exec/s" in out and any(line.startswith("sandbox") for line in out.splitlines())


@pytest.mark.parametrize("levels", ["", "0", "a,b"])
def test_bench_rejects_bad_concurrency_levels(levels: str) -> None:
    with pytest.raises(SystemExit, match="concurrency"):
        invoke(["bench", "--concurrency", levels])


def test_bench_rejects_unknown_snippets(capsys: pytest.CaptureFixture[str]) -> None:
    assert invoke(["bench", "--snippets", "huge"]) == 2
    assert "--snippets" in capsys.readouterr().err


def test_audit_subcommand_is_wired_to_the_battery(capsys: pytest.CaptureFixture[str]) -> None:
    assert invoke(["audit", "--list"]) == 0
    assert len(capsys.readouterr().out.splitlines()) >= 40


def test_serve_subcommand_is_wired_to_the_service(capsys: pytest.CaptureFixture[str]) -> None:
    assert invoke(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2  # beyond loopback without a token
    assert "needs a token" in capsys.readouterr().err


class EchoRunner:
    """A test double for the runner edge: returns the code, tracks calls in flight."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.peak = 0

    async def execute_code(self, code: str) -> str:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        return code


@pytest.mark.asyncio
async def test_measure_throughput_bounds_concurrency_and_counts_calls() -> None:
    runner = EchoRunner()
    result = await measure_throughput(runner, "print(1)", concurrency=3, n=12, expect="print")
    assert isinstance(result, ThroughputResult) and runner.peak == 3
    assert (result.n, result.concurrency, result.failures) == (12, 3, 0)
    assert result.exec_per_s > 0 and 0 < result.p50_s <= result.p99_s


@pytest.mark.asyncio
async def test_measure_throughput_counts_wrong_outputs_as_failures() -> None:
    result = await measure_throughput(EchoRunner(), "print(1)", concurrency=2, n=4, expect="42")
    assert result.failures == 4


@pytest.mark.asyncio
async def test_measure_throughput_rejects_non_positive_sizes() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        await measure_throughput(EchoRunner(), "1", concurrency=0, n=1)


@pytest.mark.asyncio
async def test_spawn_per_call_baseline_runs_a_fresh_interpreter_and_times_out() -> None:
    runner = SpawnPerCallRunner(timeout_s=2)
    assert await runner.execute_code("import os; print(os.getpid() > 0)") == "True\n"
    slow = SpawnPerCallRunner(timeout_s=0.3)
    assert (await slow.execute_code("import time; time.sleep(5)")).startswith("[timeout")


def test_info_names_the_module_presets(capsys: pytest.CaptureFixture[str]) -> None:
    invoke(["info", "--json"])
    presets = json.loads(capsys.readouterr().out)["module_presets"]
    assert {"default", "recipe"} <= set(presets) and {"numpy", "sympy", "mpmath"} <= set(presets["recipe"])


def test_bench_rejects_an_unknown_preset(capsys: pytest.CaptureFixture[str]) -> None:
    assert invoke(["bench", "--preset", "nope"]) == 2
    assert "--preset" in capsys.readouterr().err


def test_the_fork_floor_is_a_small_positive_cpu_cost() -> None:
    from retool.sandbox.bench import measure_fork_floor

    floor = measure_fork_floor(50)
    assert 0 < floor < 100  # CPU-ms per fork + exit + wait of a lean interpreter
