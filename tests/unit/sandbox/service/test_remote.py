"""``RemoteSandbox`` against a real ``SandboxService`` on loopback: the same answers as in-process,
retries only where the run certainly did not happen, and the escape battery through it."""

from __future__ import annotations

import asyncio
import socket

import pytest

from retool.sandbox import PythonSandbox
from retool.sandbox.audit import TECHNIQUES, AuditReport, audit
from retool.sandbox.service.presets import preset_config
from retool.sandbox.service.remote import RemoteSandbox
from tests.capabilities import ESCAPE_LAYERS, sandbox_options, skip_unless_escape_layers
from tests.unit.sandbox.service.conftest import UID_BASE, Served, serve

SNIPPETS = [
    "import math\nmath.factorial(12)",
    "print('a')\nprint('b')",
    "x = 1",
    "def f(x):\n    return 1 / x\nf(0)",
    "import os",
    "b = bytearray(900_000_000)",
    "print('x' * 10_000)",
]


async def remote_texts(url: str, codes: list[str]) -> list[str]:
    async with RemoteSandbox(url) as remote:
        return [await remote.execute_code(code) for code in codes]


async def local_texts(codes: list[str]) -> list[str]:
    config = preset_config("retool", timeout_s=5.0, memory_limit_bytes=512 * 10**6, concurrency=4,
                           uid_base=UID_BASE + 40, **sandbox_options())
    async with PythonSandbox(config) as box:
        return [await box.execute_code(code) for code in codes]


def test_remote_text_is_the_in_process_text(retool_farm: Served) -> None:
    assert asyncio.run(remote_texts(retool_farm.url, SNIPPETS)) == asyncio.run(local_texts(SNIPPETS))


def test_start_reads_the_farms_limits(retool_farm: Served) -> None:
    async def go() -> object:
        async with RemoteSandbox(retool_farm.url) as remote:
            return remote.config

    config = asyncio.run(go())
    assert (config.timeout_s, config.memory_limit_bytes, config.concurrency) == (5.0, 512 * 10**6, 4)
    assert config.max_output_bytes == 8192 and config.print_last_expression
    assert config.allowed_modules == preset_config("retool").allowed_modules


def test_run_returns_the_execution_result(retool_farm: Served) -> None:
    async def go() -> object:
        async with RemoteSandbox(retool_farm.url) as remote:
            return await remote.run("raise KeyError('k')")

    result = asyncio.run(go())
    assert result.status == "error" and result.exception == "KeyError" and "KeyError" in result.stderr


def test_the_timeout_reads_as_in_process(retool_farm: Served) -> None:
    async def go() -> str:
        async with RemoteSandbox(retool_farm.url) as remote:
            return await remote.execute_code("while True: pass")

    assert asyncio.run(go()) == "[timeout: execution stopped after 5 s]"


def test_the_rollout_runs_its_tool_calls_through_the_farm(retool_farm: Served) -> None:
    from retool.embedded.models import tiny_model
    from retool.rollout import RolloutConfig, render_prompt_ids, run_sample
    from retool.rollout.config import SamplingParams
    from retool.rollout.engines import ForcedPolicyEngine, HFEngine, tool_heavy_turns

    hf = HFEngine(*tiny_model())
    config = RolloutConfig(n_samples_per_prompt=1, sampling=SamplingParams(max_new_tokens=256))
    prompt = render_prompt_ids(hf.tokenizer, [{"role": "user", "content": "What is 6*7?"}], config)

    async def go() -> object:
        async with RemoteSandbox(retool_farm.url) as remote:
            engine = ForcedPolicyEngine(hf, tool_heavy_turns(2, "import os"))
            return await run_sample(prompt, engine, remote, hf.tokenizer, config)

    run = asyncio.run(go())
    assert (run.status.value, run.tool_calls, run.tool_statuses) == ("completed", 2, ["forbidden", "forbidden"])
    assert "only these modules can be imported here" in hf.tokenizer.decode(run.trajectory.tokens)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_farm_is_a_crashed_result_after_the_retries() -> None:
    async def go() -> object:
        remote = RemoteSandbox(f"http://127.0.0.1:{_free_port()}", retries=2)
        try:
            return await remote.run("print(1)")
        finally:
            await remote.close()

    result = asyncio.run(go())
    assert result.status == "crashed" and "unreachable" in result.detail


def test_a_failure_after_sending_is_not_retried() -> None:
    seen: list[bytes] = []

    async def go() -> object:
        async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(await reader.readuntil(b"\r\n\r\n"))
            writer.close()  # the request arrived; no answer: the run may have happened

        server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        remote = RemoteSandbox(f"http://127.0.0.1:{port}", retries=5)
        try:
            return await remote.run("print(1)")
        finally:
            await remote.close()
            server.close()

    result = asyncio.run(go())
    assert result.status == "crashed" and "after sending" in result.detail
    assert len([head for head in seen if head.startswith(b"POST /run_code")]) == 1


def test_429_is_retried_until_the_queue_has_room() -> None:
    with serve("retool", uid_offset=48, concurrency=1, service={"max_queue": 1}) as served:
        async def go() -> list[str]:
            async with RemoteSandbox(served.url, retries=20) as remote:
                return await asyncio.gather(*(remote.execute_code("sum(range(10**6))") for _ in range(4)))

        assert asyncio.run(go()) == ["499999500000"] * 4
        assert served.service.metrics.rejected[429] >= 1  # some were refused, and came back
        assert served.service.metrics.statuses["ok"] == 4  # each ran exactly once


def test_a_token_goes_in_the_authorization_header() -> None:
    token = "k" * 32
    with serve("retool", uid_offset=50, concurrency=1, service={"token": token}) as served:
        async def go(with_token: bool) -> str:
            async with RemoteSandbox(served.url, token=token if with_token else None) as remote:
                return await remote.execute_code("print(3)")

        assert asyncio.run(go(True)) == "3"
        assert "HTTP 401" in asyncio.run(go(False))


def test_use_after_close_raises() -> None:
    async def go() -> None:
        remote = RemoteSandbox("http://127.0.0.1:1")
        await remote.close()
        await remote.run("1")

    with pytest.raises(RuntimeError, match="after close"):
        asyncio.run(go())


def test_a_non_http_url_is_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        RemoteSandbox("localhost:8080")


# --- the GRPO recipe selects it with sandbox_url ---------------------------------------------

def _grpo_run(**overrides: object) -> object:
    from retool.recipes.grpo import GRPORun
    from retool.rollout.config import RolloutConfig
    from retool.train.grpo import RLConfig
    from retool.train.losses import GRPOConfig

    rl = RLConfig(grpo=GRPOConfig(n_samples_per_prompt=2), iterations=1, prompts_per_iteration=1, device="cpu",
                  progress=False)
    return GRPORun(rl=rl, rollout=RolloutConfig(n_samples_per_prompt=2), **overrides)


def test_a_grpo_run_on_an_absent_farm_fails_before_training_naming_the_url() -> None:
    from retool.recipes.grpo import run_grpo

    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(ConnectionError, match=url):
        asyncio.run(run_grpo("sample", "tiny", _grpo_run(sandbox_url=url)))


def test_grpo_run_refuses_a_non_http_sandbox_url_and_a_token_without_url() -> None:
    with pytest.raises(ValueError, match="http"):
        _grpo_run(sandbox_url="localhost:8080")
    with pytest.raises(ValueError, match="needs sandbox_url"):
        _grpo_run(sandbox_token_file="/tmp/token")


# --- the escape battery, unchanged, through the remote farm ------------------------------------

@pytest.fixture(scope="module")
def remote_report() -> AuditReport:
    skip_unless_escape_layers()
    with serve("retool", uid_offset=56, timeout_s=2.0, memory_limit_bytes=256 * 10**6, concurrency=8) as served:
        assert {k for k, v in served.service.sandbox.layers().items() if v == "active"} >= set(ESCAPE_LAYERS)

        async def go() -> AuditReport:
            async with RemoteSandbox(served.url) as remote:
                return await audit(remote, timeout_slack_s=3.0)

        return asyncio.run(go())


@pytest.mark.slow
def test_the_escape_battery_is_blocked_through_remote_sandbox(remote_report: AuditReport) -> None:
    assert len(remote_report.findings) == len(TECHNIQUES)
    escaped = [(f.name, f.verdict, f.effects) for f in remote_report.findings if f.verdict != "blocked"]
    assert escaped == [] and remote_report.unattributed == () and remote_report.ok


def test_the_first_call_reads_the_farms_settings_when_start_was_not_called(retool_farm: Served) -> None:
    async def go() -> tuple[object, object]:
        remote = RemoteSandbox(retool_farm.url)
        try:
            before = remote.config
            await remote.execute_code("1")
            return before, remote.config
        finally:
            await remote.close()

    before, after = asyncio.run(go())
    assert before is None and after is not None and after.timeout_s == 5.0
