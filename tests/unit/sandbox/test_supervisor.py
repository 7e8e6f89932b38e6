"""Contract tests of ``retool.sandbox``: statuses, model-facing texts, limits, concurrency,
event-loop friendliness, cleanup and zygote recovery. Real zygotes and children, no mocks."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import psutil
import pytest

from retool.sandbox import ExecutionResult, PythonSandbox, format_result
from tests.capabilities import requires_layer, sandbox_options


def make(**overrides: object) -> PythonSandbox:
    # On a host without every layer the contract tests still run, on the layers it has.
    options = {"timeout": 10, "concurrency": 2, "zygotes": 1, **sandbox_options(), **overrides}
    return PythonSandbox(**options)


async def run_one(code: str, **overrides: object) -> ExecutionResult:
    async with make(**overrides) as sandbox:
        return await sandbox.run(code)


async def text_of(code: str, **overrides: object) -> str:
    async with make(**overrides) as sandbox:
        return await sandbox.execute_code(code)


# --- statuses and texts ------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_printed_output_comes_back_with_ok_status() -> None:
    result = await run_one("print(6 * 7)")
    assert (result.status, result.stdout, result.exit_code) == ("ok", "42\n", 0)


@pytest.mark.asyncio
async def test_bare_last_expression_is_printed_like_jupyter() -> None:
    assert await text_of("x = 20\nx + 1") == "21"


@pytest.mark.asyncio
async def test_last_expression_printing_can_be_turned_off() -> None:
    assert (await run_one("x = 20\nx + 1", print_last_expression=False)).stdout == ""


@pytest.mark.asyncio
async def test_last_expression_of_none_prints_nothing() -> None:
    assert (await run_one("print('a')\nprint('b')")).stdout == "a\nb\n"


@pytest.mark.asyncio
async def test_empty_output_is_named_in_the_text() -> None:
    text = await text_of("x = 1")
    assert text.startswith("[no output")


@pytest.mark.asyncio
async def test_error_traceback_is_trimmed_to_user_code() -> None:
    async with make() as sandbox:
        result = await sandbox.run("def f(x):\n    return 1 / x\nprint('before')\nf(0)")
        text = format_result(result, sandbox.config)
    assert result.status == "error" and result.exception == "ZeroDivisionError"
    assert text.startswith("before\nTraceback (most recent call last):")
    assert 'File "<snippet>", line 4' in text and 'File "<snippet>", line 2, in f' in text
    assert "return 1 / x" in text and text.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "zygote" not in text and "retool" not in text


@pytest.mark.asyncio
async def test_syntax_error_is_an_error_with_the_offending_line() -> None:
    async with make() as sandbox:
        result = await sandbox.run("print(1\n")
    assert result.status == "error" and "SyntaxError" in result.stderr and "zygote" not in result.stderr


@pytest.mark.asyncio
@pytest.mark.parametrize("code", ["import os", "import math, os", "from subprocess import run", "import os.path"])
async def test_import_outside_the_allow_list_is_forbidden(code: str) -> None:
    async with make() as sandbox:
        result = await sandbox.run(code)
        text = format_result(result, sandbox.config)
    assert result.status == "forbidden"
    assert "[forbidden: only these modules can be imported here: math, random" in text


@pytest.mark.asyncio
async def test_allowed_modules_and_common_idioms_run() -> None:
    code = (
        "import math, random, collections\nfrom fractions import Fraction\n"
        "if __name__ == '__main__':\n    print(isinstance(Fraction(1, 3), Fraction), math.isqrt(17))"
    )
    assert await text_of(code) == "True 4"


@pytest.mark.asyncio
async def test_timeout_status_text_and_duration() -> None:
    async with make(timeout=0.5) as sandbox:
        await sandbox.start()
        started = time.monotonic()
        result = await sandbox.run("print('started')\nwhile True:\n    pass")
        elapsed = time.monotonic() - started
        text = format_result(result, sandbox.config)
    assert result.status == "timeout" and 0.5 <= elapsed < 3.0
    assert text == "started\n[timeout: execution stopped after 0.5 s]"


@pytest.mark.asyncio
async def test_catching_baseexception_does_not_dodge_the_timeout() -> None:
    code = "while True:\n    try:\n        sum(range(10**6))\n    except BaseException:\n        pass"
    assert (await run_one(code, timeout=0.5)).status == "timeout"


@pytest.mark.asyncio
async def test_memory_status_and_text() -> None:
    async with make(memory_limit="100MB") as sandbox:
        result = await sandbox.run("blob = bytearray(10**9)")
        text = format_result(result, sandbox.config)
    assert result.status == "memory"
    assert text.endswith("[memory limit: execution ran out of its 100 MB memory limit]")


@pytest.mark.asyncio
async def test_memory_limit_allows_allocations_below_it() -> None:
    assert (await run_one("blob = bytearray(50 * 10**6)\nprint(len(blob))", memory_limit="100MB")).stdout == "50000000\n"


@pytest.mark.asyncio
async def test_output_cap_truncates_with_a_visible_marker_and_stops_the_child() -> None:
    async with make(max_output_bytes=1000) as sandbox:
        await sandbox.start()
        started = time.monotonic()
        result = await sandbox.run("while True:\n    print('y' * 99)")
        text = format_result(result, sandbox.config)
    assert result.status == "output_limit" and time.monotonic() - started < 5
    assert len(result.stdout.encode()) + len(result.stderr.encode()) <= 1000
    assert text.endswith("[output truncated: more than 1000 bytes were printed; execution was stopped]")


@pytest.mark.asyncio
async def test_each_status_reads_differently_to_the_model() -> None:
    codes = {
        "ok": "x = 1",
        "error": "1 / 0",
        "forbidden": "import os",
        "timeout": "while True: pass",
        "memory": "b = bytearray(10**9)",
        "output_limit": "print('z' * 5000)",
    }
    async with make(timeout=0.5, memory_limit="100MB", max_output_bytes=1000) as sandbox:
        results = {name: await sandbox.run(code) for name, code in codes.items()}
        texts = {name: format_result(r, sandbox.config) for name, r in results.items()}
    assert {name: r.status for name, r in results.items()} == {name: name for name in codes}
    markers = ["[no output", "ZeroDivisionError", "[forbidden", "[timeout", "[memory limit", "[output truncated"]
    for (name, text), marker in zip(texts.items(), markers):
        assert marker in text and all(m not in text for m in markers if m != marker), name


@pytest.mark.asyncio
async def test_os_exit_zero_midway_is_not_reported_as_ok() -> None:
    result = await run_one("import os\nprint('half')\nos._exit(0)\nprint('rest')", allowed_modules=("os",))
    assert result.status == "error" and result.stdout == "half\n"
    assert "before the code finished" in result.detail


@pytest.mark.asyncio
async def test_sys_exit_zero_is_ok_and_nonzero_is_error() -> None:
    async with make(allowed_modules=("sys",)) as sandbox:
        ok = await sandbox.run("import sys\nprint('a')\nsys.exit(0)")
        bad = await sandbox.run("import sys\nsys.exit(3)")
    assert (ok.status, ok.stdout) == ("ok", "a\n")
    assert bad.status == "error" and "SystemExit: 3" in bad.stderr


@pytest.mark.asyncio
async def test_oversized_code_is_an_error_result_not_an_exception() -> None:
    result = await run_one("x = 1\n" * 200, max_code_bytes=100)
    assert result.status == "error" and "at most 100 bytes" in result.detail


@pytest.mark.asyncio
async def test_large_code_within_the_limit_runs() -> None:
    code = "total = 0\n" + "total += 1\n" * 30000 + "print(total)"
    assert (await run_one(code)).stdout == "30000\n"


@pytest.mark.asyncio
async def test_unicode_output_round_trips_and_bad_surrogates_do_not_raise() -> None:
    assert await text_of("print('π ≈ 3.14159')") == "π ≈ 3.14159"
    assert (await run_one("print('\\ud800')")).status == "ok"


@pytest.mark.asyncio
async def test_deep_recursion_is_an_error_not_a_crash() -> None:
    result = await run_one("def f(n):\n    return f(n + 1)\nf(0)")
    assert result.status == "error" and result.exception == "RecursionError"
    assert result.stderr.count("\n") < 40  # repeated frames are collapsed


@requires_layer("rlimits")
@pytest.mark.asyncio
async def test_a_segfault_in_the_child_is_reported_as_crashed_with_its_signal() -> None:
    async with make(allowed_modules=None) as sandbox:
        result = await sandbox.run("import ctypes\nctypes.string_at(0)")
        text = format_result(result, sandbox.config)
        after = await sandbox.run("print('still serving')")
    assert (result.status, result.term_signal) == ("crashed", signal.SIGSEGV)
    assert "[crashed: the interpreter died (SIGSEGV)" in text and after.stdout == "still serving\n"


@requires_layer("uid")
@pytest.mark.asyncio
async def test_threads_are_capped_per_slot() -> None:
    code = (
        "import threading, time\nstarted = 0\ntry:\n    for _ in range(50):\n"
        "        threading.Thread(target=time.sleep, args=(1,), daemon=True).start(); started += 1\n"
        "except RuntimeError:\n    pass\nprint(started)"
    )
    # its own uid range: RLIMIT_NPROC counts every process of a uid on the host
    result = await run_one(code, allowed_modules=("threading", "time"), max_threads=6, uid_base=63100)
    assert result.status == "ok" and int(result.stdout) == 5  # the main thread counts too


# --- freshness -----------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_no_state_survives_from_one_execution_to_the_next() -> None:
    async with make(concurrency=1, allowed_modules=("math", "os")) as sandbox:
        first = await sandbox.run("import math\nmath.tau = 1\nsecret = 42\nopen('left.txt', 'w').write('x')")
        second = await sandbox.run("import math, os\nprint(math.tau != 1, 'secret' in globals(), os.listdir('.'))")
    assert first.status == "ok" and second.stdout == "True False []\n"


@pytest.mark.asyncio
async def test_random_state_differs_between_executions() -> None:
    async with make(concurrency=1) as sandbox:
        draws = {(await sandbox.run("import random\nrandom.random()")).stdout for _ in range(3)}
    assert len(draws) == 3


@pytest.mark.asyncio
async def test_parent_environment_is_not_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETOOL_TEST_SECRET", "hunter2")
    result = await run_one("import os\nprint(dict(os.environ))", allowed_modules=("os",))
    assert result.stdout == "{}\n"


# --- concurrency, event loop, cleanup, recovery ------------------------------------------------
async def children_of(sandbox: PythonSandbox) -> tuple[list[psutil.Process], list[psutil.Process]]:
    """The zygotes and their children, once at least one child runs (polls up to 20 s)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        zygotes = [psutil.Process(pid) for pid in sandbox.zygote_pids()]
        children = [c for z in zygotes for c in z.children(recursive=True)]
        if children:
            return zygotes, children
        await asyncio.sleep(0.05)
    raise AssertionError("no sandbox child appeared within 20 s")



@pytest.mark.asyncio
async def test_concurrency_bound_is_honoured() -> None:
    code = "import time\nstart = time.time()\ntime.sleep(0.5)\nprint(start, time.time())"
    async with make(concurrency=3, allowed_modules=("time",)) as sandbox:
        results = await asyncio.gather(*(sandbox.run(code) for _ in range(9)))
    spans = [tuple(map(float, r.stdout.split())) for r in results]
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1]))
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert 2 <= peak <= 3


@pytest.mark.asyncio
async def test_event_loop_keeps_ticking_while_a_snippet_sleeps() -> None:
    ticks: list[float] = []

    async def heartbeat() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    async with make(allowed_modules=("time",)) as sandbox:
        await sandbox.run("1")
        beat = asyncio.create_task(heartbeat())
        result = await sandbox.run("import time\ntime.sleep(1.5)")
        beat.cancel()
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert result.status == "ok" and len(ticks) >= 10 and max(gaps) < 1.0  # blocked would be >= 1.5


@pytest.mark.asyncio
async def test_close_leaves_no_process_and_no_scratch_dir() -> None:
    sandbox = make(allowed_modules=("time",))
    task = asyncio.create_task(sandbox.run("import time\ntime.sleep(30)"))
    zygotes, children = await children_of(sandbox)
    scratch = sandbox._scratch
    assert zygotes and children and scratch and os.path.isdir(scratch)
    await sandbox.close()
    result = await task
    gone, alive = psutil.wait_procs(zygotes + children, timeout=5)
    assert not alive and result.status == "crashed" and not os.path.exists(scratch)


@pytest.mark.asyncio
async def test_zygote_death_gives_crashed_and_the_next_call_works() -> None:
    async with make(concurrency=1, allowed_modules=("time",)) as sandbox:
        task = asyncio.create_task(sandbox.run("import time\ntime.sleep(30)"))
        (zygote,), (child,) = await children_of(sandbox)
        old = zygote.pid
        os.kill(old, signal.SIGKILL)
        crashed = await asyncio.wait_for(task, 5)
        after = await sandbox.run("import time\nprint('back')")  # the killed zygote's tier (the one holding time)
        assert psutil.wait_procs([child], timeout=5)[1] == []
        assert old not in sandbox.zygote_pids() and len(sandbox.zygote_pids()) == 1
    assert crashed.status == "crashed" and "zygote" in crashed.detail
    assert (after.status, after.stdout) == ("ok", "back\n")


@pytest.mark.asyncio
async def test_run_after_close_is_a_caller_error() -> None:
    sandbox = make()
    await sandbox.close()
    with pytest.raises(RuntimeError, match="after close"):
        await sandbox.run("1")


# --- configuration -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "overrides",
    [{"memory_limit": "lots"}, {"timeout": 0}, {"concurrency": 0}, {"allowed_modules": ("no_such_module_xyz",)},
     {"layers": frozenset({"magic"})}, {"max_output_bytes": -1}, {"allowed_modules": "math"}, {"uid_base": 0}],
)
def test_bad_configuration_fails_at_construction(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        PythonSandbox(**overrides)


@pytest.mark.asyncio
async def test_a_child_killed_by_an_unnamed_signal_does_not_make_execute_code_raise() -> None:
    text = await text_of("import os\nos.kill(os.getpid(), 40)", allowed_modules=("os",))
    assert text.startswith("[crashed")


# --- totality: what a snippet leaves or writes never makes the supervisor raise ------------------
@pytest.mark.asyncio
async def test_a_deep_directory_tree_is_cleaned_and_close_removes_the_scratch() -> None:
    code = "import os\nfor _ in range(1200):\n    os.mkdir('d')\n    os.chdir('d')\nopen('leaf', 'w').write('x')"
    sandbox = make(concurrency=1, allowed_modules=("os",))
    first = await sandbox.run(code)
    second = await sandbox.run("import os\nprint(os.listdir('.'))")
    scratch = sandbox._scratch
    await sandbox.close()
    assert first.status == "ok" and second.stdout == "[]\n" and scratch and not os.path.exists(scratch)


@pytest.mark.asyncio
async def test_nested_json_on_the_record_pipe_is_an_error_result() -> None:
    code = "import os\nos.write(3, b'{\"status\": ' + b'[' * 100000 + b']' * 100000 + b'}')\nos._exit(0)"
    result = await run_one(code, allowed_modules=("os",))
    assert result.status == "error" and result.exception is None


@pytest.mark.asyncio
async def test_a_forged_record_cannot_put_an_object_into_the_exception() -> None:
    code = "import os\nos.write(3, b'{\"status\": \"error\", \"exception\": {\"x\": 1}}')\nos._exit(0)"
    result = await run_one(code, allowed_modules=("os",))
    assert result.status == "error" and result.exception is None


@pytest.mark.asyncio
async def test_a_flood_on_the_record_pipe_ends_quickly_without_costing_the_supervisor() -> None:
    code = "import os\nchunk = b' ' * (1 << 20)\nfor _ in range(4096):\n    os.write(3, chunk)"
    async with make(allowed_modules=("os",)) as sandbox:
        await sandbox.run("1")
        cpu = time.process_time()
        result = await sandbox.run(code)
        cpu = time.process_time() - cpu
    assert result.status in ("error", "crashed") and result.duration_s < 5 and cpu < 0.5


@pytest.mark.asyncio
@pytest.mark.parametrize("signum", [34, 40, 64])
async def test_any_signal_a_child_dies_of_becomes_crashed_text(signum: int) -> None:
    text = await text_of(f"import os\nos.kill(os.getpid(), {signum})", allowed_modules=("os",))
    assert text.startswith("[crashed: the interpreter died (SIGRTM")
